/** Running one benchmark file on its own: `npx tsx bench/<name>.ts [--<option>=<n> ...] [--out=<file.json>]`. */
import { existsSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** A number given as `--name=<n>`, else the fallback. */
export function numberOption(argv: readonly string[], name: string, fallback: number): number {
  const value = argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
  return value === undefined ? fallback : Number(value);
}

/** Writes the result as JSON to the file `--out=` names, if any. */
export function writeOut(argv: readonly string[], result: unknown): void {
  const out = argv.find((arg) => arg.startsWith('--out='))?.slice('--out='.length);
  if (out) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
}

/** Runs `run` with the command line when the module at `moduleUrl` is the script node started, and exits. */
export function runWhenMain(moduleUrl: string, run: (argv: readonly string[]) => Promise<void>): void {
  const script = process.argv[1];
  if (!script || !existsSync(script) || moduleUrl !== pathToFileURL(script).href) return;
  run(process.argv.slice(2)).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error('bench failed:', error);
      process.exit(1);
    },
  );
}
