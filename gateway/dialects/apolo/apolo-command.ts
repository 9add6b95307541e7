/**
 * Apolo's command lines: `command`, `entrypoint` and exec's `cmd` are one
 * string each, which Apolo's servers split into argv as Python's shlex.split
 * does (quotes and backslashes; no variables, globs or operators: those are
 * words). shell-quote parses; what it reads as an operator, a glob or a
 * comment goes back to the words it was written as.
 */
import { parse, quote, type ParseEntry } from 'shell-quote';

/** The argv of one Apolo command line. */
export function splitCommand(line: string): string[] {
  // A variable stays as written: shlex does not expand it.
  const entries: ParseEntry[] = parse(line, (name: string) => `$${name}`);
  return entries.flatMap((entry): string[] => {
    if (typeof entry === 'string') return [entry];
    if ('comment' in entry) return `#${entry.comment}`.split(/\s+/).filter(Boolean);
    if (entry.op === 'glob') return [entry.pattern];
    return [entry.op];
  });
}

/** An argv as one line that splits back into it. */
export function joinCommand(argv: readonly string[]): string {
  return quote(argv);
}
