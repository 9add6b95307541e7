/**
 * How the command line prints: aligned tables and relative times for people,
 * colour only on a terminal (and never with NO_COLOR), `--json` for scripts
 * (the API's own data, one document), `--quiet` for ids only.
 */
import Table from 'cli-table3';
import { createColors } from 'picocolors';

export interface OutputOptions {
  json?: boolean;
  quiet?: boolean;
}

export interface Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly color: ReturnType<typeof createColors>;
  /** Prints rows as an aligned table with a header (people), or nothing (json and quiet print otherwise). */
  table(header: string[], rows: (string | number | null | undefined)[][]): void;
  /** One line on stdout. */
  line(text: string): void;
  /** A document on stdout, for --json. */
  document(value: unknown): void;
  /** Progress and notes for people, on stderr (never mixed into what a script reads). */
  note(text: string): void;
}

export function createOutput(options: OutputOptions, stdout: NodeJS.WriteStream = process.stdout): Output {
  const colorful = Boolean(stdout.isTTY) && !options.json && !('NO_COLOR' in process.env) && process.env.TERM !== 'dumb';
  const color = createColors(colorful);
  return {
    json: Boolean(options.json),
    quiet: Boolean(options.quiet),
    color,
    table(header, rows) {
      const table = new Table({
        head: header.map((h) => color.bold(h)),
        chars: {
          top: '',
          'top-mid': '',
          'top-left': '',
          'top-right': '',
          bottom: '',
          'bottom-mid': '',
          'bottom-left': '',
          'bottom-right': '',
          left: '',
          'left-mid': '',
          mid: '',
          'mid-mid': '',
          right: '',
          'right-mid': '',
          middle: '  ',
        },
        style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
      });
      for (const row of rows) table.push(row.map((cell) => (cell === null || cell === undefined ? '-' : String(cell))));
      stdout.write(
        `${table
          .toString()
          .split('\n')
          .map((l) => l.trimEnd())
          .join('\n')}\n`,
      );
    },
    line: (text) => void stdout.write(`${text}\n`),
    document: (value) => void stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    note: (text) => void process.stderr.write(`${text}\n`),
  };
}

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto', style: 'narrow' });
const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
  ['second', 1_000],
];

/** "3 min. ago", "in 2 hr." — the nearest whole unit; `now` is the reader's clock. */
export function relativeTime(iso: string | null | undefined, now = Date.now()): string | null {
  if (!iso) return null;
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const delta = at - now;
  for (const [unit, ms] of UNITS) if (Math.abs(delta) >= ms || unit === 'second') return relative.format(Math.round(delta / ms), unit);
  return iso;
}

const STATE_COLORS: Record<string, keyof ReturnType<typeof createColors>> = {
  RUNNING: 'green',
  SUCCESS: 'green',
  IN_QUEUE: 'yellow',
  SUSPENDED: 'yellow',
  CANCELING: 'yellow',
  FAILURE: 'red',
  EXPIRED: 'red',
};

export function stateText(output: Output, state: string): string {
  const paint = output.color[STATE_COLORS[state] ?? 'reset'] as (text: string) => string;
  return paint(state);
}
