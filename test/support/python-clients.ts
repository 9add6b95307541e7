/**
 * Python clients of the platforms the dialects serve (the Backend.AI and Apolo
 * SDKs from PyPI), each in its own virtual environment under the test cache.
 * The environment is named by a hash of its pinned requirements, so it is made
 * once per machine and made again when a pin changes; a file lock keeps two
 * test files from building the same one at once. Their code is installed, never
 * copied into the repository.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where environments are kept: outside the repository, rebuilt when absent. */
export const PYTHON_CACHE_DIR = process.env.SWITCHYARD_PYTHON_CACHE ?? '/var/cache/switchyard/python-clients';

/** Installing a client with its dependencies from PyPI takes a minute or two on a cold machine. */
export const PYTHON_INSTALL_TIMEOUT_MS = 10 * 60_000;

/**
 * The python binary of an environment that has `requirements` installed
 * (pinned specifiers, `pkg==1.2.3`), building it first if this machine has none.
 */
export async function pythonWith(name: string, requirements: readonly string[]): Promise<string> {
  const hash = createHash('sha256')
    .update(JSON.stringify([...requirements].sort()))
    .digest('hex')
    .slice(0, 12);
  const dir = join(PYTHON_CACHE_DIR, `${name}-${hash}`);
  const python = join(dir, 'bin', 'python');
  const done = join(dir, '.installed');
  if (existsSync(done)) return python;
  mkdirSync(PYTHON_CACHE_DIR, { recursive: true });
  // One shell under flock: build into a fresh directory, mark it done last, so an
  // interrupted install is not mistaken for a finished one.
  const script = [
    // Another file may have built it while this one waited for the lock.
    `{ [ ! -f '${done}' ] || exit 0; }`,
    `rm -rf '${dir}'`,
    `python3 -m venv '${dir}'`,
    `'${python}' -m pip install --quiet --disable-pip-version-check ${requirements.map((r) => `'${r}'`).join(' ')}`,
    `touch '${done}'`,
  ].join(' && ');
  await run('flock', [join(PYTHON_CACHE_DIR, `${name}.lock`), 'sh', '-c', script], {
    timeout: PYTHON_INSTALL_TIMEOUT_MS,
    maxBuffer: 16 * 1024 * 1024,
  });
  return python;
}

/** Runs a Python script in the environment; its stdout, or an error with its stderr. */
export async function runPython(python: string, script: string, options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  try {
    const { stdout } = await run(python, ['-c', script], {
      env: { ...process.env, ...options.env },
      timeout: options.timeoutMs ?? 120_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new Error(`python failed: ${(error as Error).message}\n${stderr ?? ''}`, { cause: error });
  }
}
