/**
 * A command typed on one line as the argv the API takes: words split at spaces, kept together
 * by single or double quotes or a backslash, as a shell would, but with no expansion at all
 * (the job gets exactly what was typed). An unclosed quote is an error, not a guess.
 */
export function splitCommand(line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && (line[i + 1] === '"' || line[i + 1] === '\\')) word += line[++i]!;
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (c === '\\' && i + 1 < line.length) {
      word = (word ?? '') + line[++i]!;
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote) throw new Error(`the command has an unclosed ${quote === '"' ? 'double' : 'single'} quote`);
  if (word !== null) words.push(word);
  return words;
}
