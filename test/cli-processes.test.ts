/**
 * The command line (bin/client) as people and scripts use it: the real
 * `switchyard` binary, run as its own process against a running `switchyard
 * dev`, with a config file of its own. Exit codes, --json and --quiet are what
 * scripts rely on; `shell` runs under a real pty (node-pty), as on a terminal.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawn as spawnPty } from '@lydell/node-pty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fund } from './support/credits.js';
import { createClient, eventually, waitForState, type TestClient } from './support/graphql-client.js';
import { freePort, startSwitchyard, waitReady, type Proc } from './support/processes.js';

const BIN = resolve(import.meta.dirname, '../bin/switchyard.js');
const USER = 'cli-user';
const PASSWORD = 'a-long-cli-password';

let dev: Proc;
let admin: TestClient;
let baseUrl: string;
let configFile: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `switchyard <args>` with this test's gateway and config file; resolves with its exit code and output. */
function cli(args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolvePromise) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      {
        env: { ...process.env, SWITCHYARD_URL: baseUrl, SWITCHYARD_CONFIG: configFile, NO_COLOR: '1', SWITCHYARD_TOKEN: '', ...options.env },
        timeout: 60_000,
      },
      (error, stdout, stderr) => resolvePromise({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(options.input ?? '');
  });
}

async function cliOk(args: string[], options?: Parameters<typeof cli>[1]): Promise<string> {
  const run = await cli(args, options);
  expect(run, `switchyard ${args.join(' ')}`).toMatchObject({ code: 0 });
  return run.stdout;
}

beforeAll(async () => {
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  configFile = join(mkdtempSync(join(tmpdir(), 'switchyard-cli-')), 'config.json');
  const token = randomBytes(24).toString('base64url');
  dev = startSwitchyard(['dev', '--port', String(port)], { SWITCHYARD_ADMIN_TOKEN: token });
  await waitReady(baseUrl, dev);
  admin = createClient(baseUrl, token);
  await admin.ok(`mutation { createUser(username: "${USER}", password: "${PASSWORD}") { username } }`);
  await fund(admin, USER, 'local', 100_000);
}, 60_000);

afterAll(async () => {
  await dev?.kill('SIGTERM');
});

describe('switchyard login, whoami, logout', () => {
  it('refuses a wrong password with exit code 3 and saves nothing', async () => {
    const run = await cli(['login', '-u', USER, '--password-stdin'], { input: 'wrong-password\n' });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('UNAUTHENTICATED');
    expect(() => statSync(configFile)).toThrow();
  });

  it('without a login, a command says so and exits 3', async () => {
    const run = await cli(['ps']);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('not logged in');
  });

  it('logs in from a script, keeps the token in a file only its owner reads, and knows who it is', async () => {
    expect(await cliOk(['login', '-u', USER, '--password-stdin'], { input: `${PASSWORD}\n` })).toContain(`as ${USER}`);
    expect(statSync(configFile).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(configFile, 'utf8'))).toMatchObject({ url: baseUrl, username: USER });
    expect((await cliOk(['whoami'])).trim()).toBe(USER);
    expect(JSON.parse(await cliOk(['--json', 'whoami']))).toEqual({ createdBy: USER, project: null });
  });
});

describe('switchyard products, providers, wallets', () => {
  it('lists products with price, room and balance, as a table and as JSON', async () => {
    const table = await cliOk(['products', '--provider', 'local']);
    expect(table.split('\n')[0]).toMatch(/^PROVIDER\s+PRODUCT\s+CATEGORY\s+CPU/);
    expect(table).toMatch(/local\s+local-small\s+local-cpu\s+1\s+1\s+0\s+1\/min/);
    const products = JSON.parse(await cliOk(['--json', 'products'])) as { id: string; provider: string; balance: number | null }[];
    expect(products.find((p) => p.id === 'local-small')?.balance).toBe(100_000);
    expect(new Set(products.map((p) => p.provider))).toEqual(new Set(['local', 'sim-hpc', 'sim-cloud']));
    expect(
      (await cliOk(['-q', 'products', '--provider', 'sim-hpc']))
        .trim()
        .split('\n')
        .every((l) => l.startsWith('sim-hpc/')),
    ).toBe(true);
  });

  it('shows providers with their status and utilization', async () => {
    expect(await cliOk(['providers'])).toMatch(/local\s+LOCAL\s+UP\s+CLOSED\s+\d+(\.\d+)?\/2/);
  });
});

describe('switchyard run, ps, status, logs, kill, suspend, resume, extend', () => {
  it("run --follow streams the logs and exits with the job's exit code", async () => {
    const run = await cli([
      'run',
      '--product',
      'local-small',
      '--provider',
      'local',
      '-t',
      '5m',
      '--follow',
      '--',
      'sh',
      '-c',
      'echo out-line; echo err-line >&2; exit 3',
    ]);
    expect(run.code).toBe(3);
    expect(run.stdout).toBe('out-line\n');
    expect(run.stderr).toContain('err-line');
    expect(run.stderr).toMatch(/» SUCCESS: .*exit code 3/);
  });

  it('run -q prints the id; ps, status and logs find the job; filters apply', async () => {
    const id = (
      await cliOk([
        '-q',
        'run',
        '--cpu',
        '1',
        '--provider',
        'local',
        '-t',
        '2m',
        '--tag',
        'cli-test',
        '--name',
        'greeter',
        '--',
        'sh',
        '-c',
        'echo hello from $SWITCHYARD_JOB_ID',
      ])
    ).trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await cliOk(['status', '--wait', id])).toMatch(/State:\s+(IN_QUEUE|RUNNING|SUCCESS)/);
    expect((await cliOk(['logs', id])).trim()).toBe(`hello from ${id}`);
    const listed = JSON.parse(await cliOk(['--json', 'ps', '--tag', 'cli-test'])) as {
      totalCount: number;
      jobs: { id: string; status: { state: string } }[];
    };
    expect(listed.jobs.map((j) => j.id)).toEqual([id]);
    expect(listed.jobs[0]?.status.state).toBe('SUCCESS');
    expect((await cliOk(['-q', 'ps', '--state', 'running', '--tag', 'cli-test'])).trim()).toBe('');
    expect(await cliOk(['ps', '--tag', 'cli-test'])).toMatch(new RegExp(`${id}\\s+greeter\\s+SUCCESS\\s+local/local-small\\s+${USER}`));
    const status = JSON.parse(await cliOk(['--json', 'status', id])) as { updates: { state: string | null }[] };
    expect(status.updates.map((u) => u.state)).toEqual(['IN_QUEUE', 'RUNNING', 'SUCCESS']);
  });

  it('pages through ps with --limit and --after', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1)
      ids.push((await cliOk(['-q', 'run', '--product', 'local-small', '--provider', 'local', '--tag', 'paged', '--', 'true'])).trim());
    const first = await cli(['-q', 'ps', '--tag', 'paged', '--limit', '2']);
    expect(first.stdout.trim().split('\n')).toEqual([ids[2], ids[1]]);
    const cursor = /--after (\S+)/.exec(first.stderr)?.[1];
    expect(cursor).toBeDefined();
    expect((await cliOk(['-q', 'ps', '--tag', 'paged', '--limit', '2', '--after', cursor!])).trim()).toBe(ids[0]);
    expect((await cliOk(['-q', 'ps', '--tag', 'paged', '--limit', '1', '--all'])).trim().split('\n')).toEqual([ids[2], ids[1], ids[0]]);
  });

  it('suspends, resumes, extends and kills a running job; refusals exit 1 and name the code', async () => {
    const id = (await cliOk(['-q', 'run', '--product', 'local-small', '--provider', 'local', '-t', '5m', '--', 'sleep', '120'])).trim();
    const alice = createClient(baseUrl, (JSON.parse(readFileSync(configFile, 'utf8')) as { token: string }).token);
    await waitForState(alice, id, ['RUNNING']);
    expect(await cliOk(['suspend', id])).toContain(`${id}: suspending`);
    await waitForState(alice, id, ['SUSPENDED']);
    expect(await cliOk(['resume', id])).toContain(`${id}: resuming`);
    await waitForState(alice, id, ['RUNNING']);
    const expiresAt = async () =>
      Date.parse((JSON.parse(await cliOk(['--json', 'status', id])) as { status: { expiresAt: string } }).status.expiresAt);
    const before = await expiresAt();
    expect(await cliOk(['extend', id, '-t', '30m'])).toContain('extended by 30m');
    await eventually(async () => (await expiresAt()) - before >= 30 * 60_000 - 1_000, { what: 'the deadline 30 minutes later' });
    const kill = await cli(['kill', id, 'no-such-job']);
    expect(kill.code).toBe(1);
    expect(kill.stdout).toContain(`${id}: stopping`);
    expect(kill.stderr).toContain('no-such-job: NOT_FOUND');
    await waitForState(alice, id, ['SUCCESS', 'FAILURE']);
    const again = await cli(['suspend', id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('INVALID_STATE');
  });

  it("a refused submission exits 1 with the contract's code, and bad usage exits 2", async () => {
    const refused = await cli(['run', '--product', 'no-such-product', '--provider', 'local', '--', 'true']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/switchyard: (NOT_FOUND|INVALID_INPUT): /);
    for (const args of [
      ['run', '-t', '10', '--cpu', '1', '--', 'true'],
      ['ps', '--no-such-option'],
      ['run', '--product', 'x', '--cpu', '1', '--', 'true'],
      ['transactions', '--limit', 'many'],
      ['shell', 'some-job', '--rank', 'first'],
    ]) {
      const run = await cli(args);
      expect(run.code, args.join(' ')).toBe(2);
    }
  });

  it('wallets and transactions show the charges of the jobs above', async () => {
    const wallets = JSON.parse(await cliOk(['--json', 'wallets'])) as { provider: string; balance: number }[];
    const local = wallets.find((w) => w.provider === 'local');
    expect(local?.balance).toBeLessThan(100_000);
    const transactions = await cliOk(['transactions']);
    expect(transactions).toMatch(/GRANT\s+100000\s+local\s+local-cpu/);
    expect(transactions).toMatch(/CHARGE\s+-\d+\s+local\s+local-cpu/);
  });
});

describe('switchyard stat and top', () => {
  it('counts the jobs above by state, and shows utilization with the live jobs', async () => {
    const counts = JSON.parse(await cliOk(['--json', 'stat'])) as Record<string, number>;
    expect(counts.COUNT_ALL).toBeGreaterThanOrEqual(6);
    expect(counts.COUNT_ALL).toBe(
      Object.entries(counts)
        .filter(([k]) => !['COUNT_ALL', 'COUNT_CANCELED'].includes(k))
        .reduce((sum, [, n]) => sum + n, 0),
    );
    const top = await cliOk(['top']);
    expect(top).toMatch(/^All providers: CPU [\d.]+\/[\d.]+/);
    expect(top).toMatch(/local\s+UP\s+[\d.]+\/2/);
    expect(top).toContain('Your live jobs (');
  });
});

describe('switchyard shell', () => {
  it("opens a terminal in a running job under a pty: its environment, resize, and the shell's exit code", async () => {
    const id = (
      await cliOk(['-q', 'run', '--product', 'local-small', '--provider', 'local', '-t', '5m', '-e', 'CLI_MARK=inside-the-job', '--', 'sleep', '120'])
    ).trim();
    const alice = createClient(baseUrl, (JSON.parse(readFileSync(configFile, 'utf8')) as { token: string }).token);
    await waitForState(alice, id, ['RUNNING']);
    const term = spawnPty(process.execPath, [BIN, 'shell', id], {
      cols: 100,
      rows: 30,
      env: { ...process.env, SWITCHYARD_URL: baseUrl, SWITCHYARD_CONFIG: configFile, SWITCHYARD_TOKEN: '', TERM: 'xterm' } as Record<string, string>,
    });
    let screen = '';
    term.onData((data) => (screen += data));
    const exited = new Promise<number>((resolveExit) => term.onExit(({ exitCode }) => resolveExit(exitCode)));
    const waitScreen = (pattern: RegExp) => eventually(async () => pattern.test(screen), { timeoutMs: 20_000, what: `${pattern} on the terminal` });
    await waitScreen(/\$ $/m);
    term.write('echo $((6*7)) $CLI_MARK\r');
    await waitScreen(/42 inside-the-job/);
    term.write('stty size\r');
    await waitScreen(/30 100/);
    term.resize(132, 40);
    // The resize reaches the remote pty through the session; a new `stty size` shows it.
    await eventually(
      async () => {
        term.write('stty size\r');
        await new Promise((r) => setTimeout(r, 300));
        return /40 132/.test(screen);
      },
      { timeoutMs: 20_000, what: "the new size in the job's shell" },
    );
    term.write('exit 7\r');
    expect(await exited).toBe(7);
    await cliOk(['kill', id]);
  });

  it('logout revokes the token at the gateway: a copy of it stops working', async () => {
    const token = (JSON.parse(readFileSync(configFile, 'utf8')) as { token: string }).token;
    expect(await cliOk(['logout'])).toContain('Logged out');
    expect(() => statSync(configFile)).toThrow();
    const run = await cli(['whoami'], { env: { SWITCHYARD_TOKEN: token } });
    expect(run.code).toBe(3);
  });
});
