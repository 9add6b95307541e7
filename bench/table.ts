/** The benchmarks' table: one row a figure, beside its baseline and aim, as `npm run bench` prints it. */

/** One line of the table. `ratio` is value / baseline value; `meetsAim` is informative only. A null value: not measured (the baseline column says why). */
export interface Row {
  benchmark: string;
  metric: string;
  value: number | null;
  unit: string;
  baseline?: string;
  ratio?: number;
  aim?: string;
  meetsAim?: boolean;
}

/** A duration with the precision it deserves: whole from 100, one decimal from 10, else two. */
export const ms = (value: number) => (value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2));

/** ms and µs with the precision of ms(); fractional small counts with two decimals; the rest whole. */
const formatValue = ({ value, unit }: Row) =>
  value === null
    ? '—'
    : unit === 'ms' || unit === 'µs'
      ? ms(value)
      : !Number.isInteger(value) && Math.abs(value) < 100
        ? value.toFixed(2)
        : value.toFixed(0);

export function printTable(rows: Row[]): void {
  const header = ['benchmark', 'metric', 'value', 'baseline', '× baseline', 'aim', 'meets aim'];
  const cells = rows.map((row): [string, ...string[]] => [
    row.benchmark,
    row.metric,
    `${formatValue(row)} ${row.unit}`.trimEnd(),
    row.baseline ?? '',
    row.ratio === undefined ? '' : `${row.ratio.toFixed(2)}×`,
    row.aim ?? '',
    row.meetsAim === undefined ? '' : row.meetsAim ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === 2 || i === 4 ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  let previous = '';
  for (const [benchmark, ...rest] of cells) {
    console.log(line([benchmark === previous ? '' : benchmark, ...rest]));
    previous = benchmark;
  }
}
