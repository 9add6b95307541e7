/**
 * The operations of Shakudo's GraphQL documentation (shared/reference/shakudo-graphql.txt),
 * read from the file itself: each operation text verbatim, with the JSON blocks that follow it
 * before the next operation (its sample variables, and its sample responses, those with `data`).
 * The documentation's JSON is written by hand: comments (`# From ...`), missing commas and
 * placeholders (`<getUserServicePodSpec field result>`) are repaired here, nothing else.
 */
import { readFileSync } from 'node:fs';
import { parse, type OperationDefinitionNode } from 'graphql';

export interface DocumentedOperation {
  /** Position among the documented operations. */
  index: number;
  text: string;
  name: string | null;
  rootField: string;
  /** Variable sets, with the heading above each ("Default Drive", "Sample Variables", ...). */
  variables: { heading: string; value: Record<string, unknown> }[];
  responses: Record<string, unknown>[];
}

// A copy kept in the repository (of shared/reference/, outside it): a clone alone must run the suite.
export const REFERENCE_PATH = new URL('../reference/shakudo-graphql.txt', import.meta.url);

/** A placeholder's text as the documentation writes it: `<...>`, kept as a string to substitute. */
export const isPlaceholder = (value: unknown): value is string => typeof value === 'string' && /^<.*>$/.test(value);

/** Hand-written JSON made parseable: comments dropped, placeholders quoted, missing commas added, stray asterisks removed. */
export function repairJson(block: string): unknown {
  const lines = block
    .split('\n')
    .map((line) => line.replace(/\*{2,}/g, '').replace(/\s#.*$/, ''))
    .map((line) => line.replace(/:\s*(<[^>]*>)/, (_m, placeholder: string) => `: ${JSON.stringify(placeholder)}`))
    .filter((line) => line.trim() !== '');
  const joined = lines
    .map((line, i) => {
      const next = lines[i + 1]?.trim() ?? '';
      const ends = /["\d\]}el]\s*$/.test(line) && !/[,{[]\s*$/.test(line);
      return ends && next.startsWith('"') ? `${line},` : line;
    })
    .join('\n');
  return JSON.parse(joined) as unknown;
}

/** Lines from `start` while braces stay open (the first line opens them). */
function balanced(lines: string[], start: number): { text: string; end: number } {
  let depth = 0;
  let opened = false;
  for (let i = start; i < lines.length; i++) {
    for (const char of lines[i]!.replace(/"(?:[^"\\]|\\.)*"/g, '""')) {
      if (char === '{') {
        depth++;
        opened = true;
      } else if (char === '}') depth--;
    }
    if (opened && depth <= 0) return { text: lines.slice(start, i + 1).join('\n'), end: i };
  }
  throw new Error(`unbalanced block from line ${start + 1}`);
}

export function documentedOperations(path: URL = REFERENCE_PATH): DocumentedOperation[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  const operations: DocumentedOperation[] = [];
  let heading = '';
  // The "Types" section's examples are objects, not operations' variables; "Operations" starts operations again.
  let inTypes = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^(query|mutation)\b/.test(line)) {
      const { text, end } = balanced(lines, i);
      const definition = parse(text).definitions[0] as OperationDefinitionNode;
      const root = definition.selectionSet.selections[0] as { name: { value: string } };
      operations.push({
        index: operations.length,
        text,
        name: definition.name?.value ?? null,
        rootField: root.name.value,
        variables: [],
        responses: [],
      });
      i = end;
    } else if (line.startsWith('{') && operations.length > 0) {
      const { text, end } = balanced(lines, i);
      i = end;
      if (inTypes) continue;
      const value = repairJson(text) as Record<string, unknown>;
      const current = operations.at(-1)!;
      if (/response/i.test(heading)) current.responses.push(value);
      else current.variables.push({ heading, value });
    } else if (line.trim() !== '') {
      heading = line.trim();
      if (heading === 'Types') inTypes = true;
      if (heading === 'Operations') inTypes = false;
    }
  }
  return operations;
}
