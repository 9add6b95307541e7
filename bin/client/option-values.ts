/** Parsers of option values: a bad one is commander's usage error (exit 2), never a NaN sent to the gateway. */
import { InvalidArgumentError } from 'commander';

/** Repeatable and comma-separated: `--tag a --tag b,c` is [a, b, c]. */
export function collect(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean),
  ];
}

/** Repeatable NAME=VALUE. */
export function keyValue(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = value.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError(`"${value}" is not NAME=VALUE`);
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}

function number(value: string, accept: (n: number) => boolean, what: string): number {
  const n = value.trim() === '' ? Number.NaN : Number(value);
  if (!accept(n)) throw new InvalidArgumentError(what);
  return n;
}

export const integer = (value: string) => number(value, Number.isInteger, 'a whole number');
export const nonNegativeInteger = (value: string) => number(value, (n) => Number.isInteger(n) && n >= 0, 'a whole number of at least 0');
export const positiveInteger = (value: string) => number(value, (n) => Number.isInteger(n) && n >= 1, 'a whole number of at least 1');
export const positiveNumber = (value: string) => number(value, (n) => Number.isFinite(n) && n > 0, 'a number above 0');
