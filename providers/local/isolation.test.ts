/**
 * What a local job can and cannot reach (DESIGN "Isolation"), tried from
 * inside real jobs: real bubblewrap, real setpriv, the host's real cgroups.
 * These tests need root (as CI runs them) and bubblewrap (.ci/run installs it);
 * the memory, process and CPU limit tests need writable cgroups, which the
 * project's machines have, and fail saying so where they are missing.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { chown, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { systemClock } from '../../shared/clock.js';
import type { JobSpecification, Product } from '../../shared/domain.js';
import { silentLogger } from '../../shared/logger.js';
import type { CreateJob } from '../../shared/protocol.js';
import { makeCreateJob } from '../../test/support/jobs.js';
import type { Driver, DriverContext, DriverJobChange, DriverLogLine } from '../sdk/driver.js';
import { removeCgroup } from './cgroups.js';
import { createLocalDriver, LOCAL_PRODUCTS, type LocalDriverOptions } from './local-driver.js';

const GRACE_MS = 200;
const NOBODY = 65534;

/** A product of 64 MiB, small enough to exceed quickly. */
const TINY: Product = { ...LOCAL_PRODUCTS[0], id: 'local-tiny', name: 'Local tiny', memoryInGigs: 0.0625 };

function recordingContext() {
  const events: Array<{ jobId: string; change: DriverJobChange }> = [];
  const logs: Array<{ jobId: string; line: DriverLogLine }> = [];
  const context: DriverContext = {
    providerId: 'local',
    clock: systemClock,
    logger: silentLogger(),
    emit: (jobId, change) => events.push({ jobId, change }),
    log: (jobId, line) => logs.push({ jobId, line }),
  };
  return {
    context,
    eventsOf: (jobId: string) => events.filter((e) => e.jobId === jobId).map((e) => e.change),
    stdoutOf: (jobId: string, rank = 0) =>
      logs.filter((l) => l.jobId === jobId && l.line.rank === rank && l.line.stdout !== undefined).map((l) => l.line.stdout!),
    stderrOf: (jobId: string, rank = 0) =>
      logs.filter((l) => l.jobId === jobId && l.line.rank === rank && l.line.stderr !== undefined).map((l) => l.line.stderr!),
  };
}

async function waitFor<T>(probe: () => T | undefined | null | false, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Host pids of a process group and their state letters (R, S, T, Z...), from the host's /proc. */
function groupStates(pgid: number): Map<number, string> {
  const states = new Map<number, string>();
  for (const name of readdirSyncSafe('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid) states.set(Number(name), fields[0]!);
    } catch {
      // Gone meanwhile.
    }
  }
  return states;
}

function readdirSyncSafe(dir: string): string[] {
  try {
    return execFileSync('ls', ['-1', dir], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** The account's uid, as the host names it. */
function uidOf(name: string): number {
  return Number(execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).split(':')[2]);
}

describe('local jobs in their sandbox', () => {
  let stateDir: string;
  let rec: ReturnType<typeof recordingContext>;
  const drivers: Driver[] = [];
  const cleanups: Array<() => Promise<void> | void> = [];

  const startDriver = async (options: Partial<LocalDriverOptions> = {}) => {
    const driver = createLocalDriver({ stateDir, terminateGraceMs: GRACE_MS, products: [...LOCAL_PRODUCTS, TINY], ...options });
    await driver.start(rec.context);
    drivers.push(driver);
    return driver;
  };

  const job = (spec: Partial<JobSpecification>, product: Product = LOCAL_PRODUCTS[0], owner = 'alice'): CreateJob => ({
    ...makeCreateJob(product, 'local', spec),
    owner: { createdBy: owner, project: null },
  });

  const run = async (driver: Driver, created: CreateJob) => {
    const { providerGeneratedId } = await driver.create(created);
    expect(providerGeneratedId, JSON.stringify(rec.eventsOf(created.id))).toMatch(/^\d+$/);
    return { id: created.id, pid: Number(providerGeneratedId) };
  };

  const finalOf = (jobId: string, timeoutMs?: number) =>
    waitFor(
      () => rec.eventsOf(jobId).find((c) => c.state === 'SUCCESS' || c.state === 'FAILURE' || c.state === 'EXPIRED'),
      `job ${jobId} to end`,
      timeoutMs,
    );

  /** Run a command to its end; answers its final change and its output. */
  const runToEnd = async (driver: Driver, created: CreateJob) => {
    const { id } = await run(driver, created);
    const final = await finalOf(id);
    return { id, final, stdout: rec.stdoutOf(id), stderr: rec.stderrOf(id) };
  };

  const isolation = async (driver: Driver) => {
    const { resolvers } = driver.subschema!();
    const [provider] = (resolvers as any).Query._localProviders(null, { ids: ['local'] });
    return provider.localHost.isolation as { sandbox: string; limits: string; network: string; switchesUser: boolean };
  };

  /** The limit tests need cgroups; say so plainly where the machine has none. */
  const requireCgroups = async (driver: Driver) => {
    const { limits } = await isolation(driver);
    expect(limits, 'this machine has no writable cgroups (memory, cpu, pids); the project’s CI machines do').toMatch(/^cgroup-v[12]$/);
    return limits as 'cgroup-v1' | 'cgroup-v2';
  };

  const recordOf = (jobId: string) =>
    JSON.parse(readFileSync(join(stateDir, 'jobs', `${jobId}.json`), 'utf8')) as { ranks: Array<{ pgid: number; cgroups: string[] }> };

  beforeEach(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'sy-local-iso-'));
    rec = recordingContext();
  });

  afterEach(async () => {
    for (const d of drivers.splice(0)) await d.stop();
    for (const name of await readdir(join(stateDir, 'jobs')).catch(() => [])) {
      if (!name.endsWith('.json')) continue;
      const record = JSON.parse(readFileSync(join(stateDir, 'jobs', name), 'utf8')) as { ranks: Array<{ pgid: number; cgroups: string[] }> };
      for (const rank of record.ranks) {
        try {
          process.kill(-rank.pgid, 'SIGKILL');
        } catch {
          // Already gone, as it should be.
        }
        // No later start of a driver removes the cgroups of ranks left running here.
        await removeCgroup(rank.cgroups);
      }
    }
    for (const cleanup of cleanups.splice(0)) await cleanup();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('runs a job as an unprivileged account: nobody by default, the mapped account for a mapped user, never root', async () => {
    const daemon = uidOf('daemon');
    const driver = await startDriver({ userAccounts: { bob: 'daemon' } });
    expect(await isolation(driver)).toEqual({ sandbox: 'bwrap', limits: expect.any(String), network: 'none', switchesUser: true });

    const alice = await runToEnd(driver, job({ command: ['sh', '-c', 'id -u; id -g; touch mine && echo wrote'] }));
    expect(alice.final).toMatchObject({ state: 'SUCCESS', exitCode: 0 });
    expect(alice.stdout).toEqual([String(NOBODY), String(NOBODY), 'wrote']);
    // Its work directory is its account's alone.
    const dir = statSync(join(stateDir, 'work', alice.id));
    expect([dir.uid, dir.mode & 0o777]).toEqual([NOBODY, 0o700]);

    const bob = await runToEnd(driver, job({ command: ['id', '-u'] }, LOCAL_PRODUCTS[0], 'bob'));
    expect(bob.stdout).toEqual([String(daemon)]);
    expect(statSync(join(stateDir, 'work', bob.id)).uid).toBe(daemon);
    const { resolvers } = driver.subschema!();
    const [details] = (resolvers as any).Query._localJobs(null, { ids: [bob.id] });
    expect(details.local).toMatchObject({ uid: daemon, user: 'daemon' });

    // Setuid programs cannot give it root back (no_new_privs).
    const su = await runToEnd(driver, job({ command: ['sh', '-c', 'grep -E "^(NoNewPrivs|CapEff|CapBnd)" /proc/self/status'] }));
    expect(su.stdout).toEqual(['CapEff:\t0000000000000000', 'CapBnd:\t0000000000000000', 'NoNewPrivs:\t1']);

    // Root is refused as an account, at start.
    await expect(createLocalDriver({ stateDir, jobAccount: 'root' }).start(rec.context)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringContaining('jobs never run as root'),
    });
    await expect(createLocalDriver({ stateDir, userAccounts: { mallory: '0' } }).start(rec.context)).rejects.toThrow(/mallory.*root/);
  });

  it('runs a job as a numeric account without a passwd entry, with no supplementary groups', async () => {
    const driver = await startDriver({ jobAccount: '4242' });
    const { stdout, id } = await runToEnd(driver, job({ command: ['sh', '-c', 'id -u; id -G'] }));
    expect(stdout).toEqual(['4242', '4242']);
    expect(statSync(join(stateDir, 'work', id)).uid).toBe(4242);
  });

  it('a job sees only its own processes: /proc holds the sandbox, not the provider, the gateway or other jobs', async () => {
    const driver = await startDriver();
    const other = await run(driver, job({ command: ['sleep', '30'] }));
    const { stdout, final } = await runToEnd(
      driver,
      job({
        command: [
          'sh',
          '-c',
          `ls /proc | grep -E '^[0-9]+$' | sort -n | tr '\\n' ' '; echo; kill -0 ${process.pid} 2>&1 || echo no-such-process; kill -0 ${other.pid} 2>&1 || echo no-such-process`,
        ],
      }),
    );
    expect(final).toMatchObject({ state: 'SUCCESS' });
    const pids = stdout[0]!.trim().split(' ').map(Number);
    // bwrap's init (1), the shell (2) and what the shell runs: a handful of small numbers of its own namespace.
    expect(pids[0]).toBe(1);
    expect(pids.length).toBeLessThanOrEqual(6);
    expect(Math.max(...pids)).toBeLessThan(10);
    // The provider's pid and the other job's are not processes it can reach.
    expect(stdout.slice(1).filter((line) => line === 'no-such-process')).toHaveLength(2);
  });

  it('a job cannot read the provider’s environment or any secret in it', async () => {
    const secret = `sy-secret-${randomUUID()}`;
    process.env.SWITCHYARD_ADMIN_TOKEN = secret;
    try {
      const driver = await startDriver();
      const { stdout, stderr, final } = await runToEnd(
        driver,
        job({
          command: [
            'sh',
            '-c',
            `env; for f in /proc/[0-9]*/environ /proc/${process.pid}/environ /proc/${process.ppid}/environ; do tr '\\0' '\\n' < "$f"; done; echo done`,
          ],
        }),
      );
      expect(final).toMatchObject({ state: 'SUCCESS' });
      expect(stdout.at(-1)).toBe('done');
      expect([...stdout, ...stderr].join('\n')).not.toContain(secret);
      expect(stdout.join('\n')).not.toContain('SWITCHYARD_ADMIN_TOKEN');
    } finally {
      delete process.env.SWITCHYARD_ADMIN_TOKEN;
    }
  });

  it('a job’s environment is a fixed PATH, HOME, what its specification sets and the SWITCHYARD_ variables, nothing else', async () => {
    process.env.SWITCHYARD_TEST_LEAK = 'leak';
    try {
      const driver = await startDriver();
      const created = job({ command: ['env'], env: { GREETING: 'hello world', EQUALS: 'a=b' } });
      const { stdout } = await runToEnd(driver, created);
      expect(stdout.sort()).toEqual(
        [
          'EQUALS=a=b',
          'GREETING=hello world',
          `HOME=${join(stateDir, 'work', created.id)}`,
          'PATH=/usr/local/bin:/usr/bin:/bin',
          `SWITCHYARD_JOB_ID=${created.id}`,
          'SWITCHYARD_RANK=0',
          'SWITCHYARD_REPLICAS=1',
        ].sort(),
      );
      // The specification may set PATH and HOME itself; names that cannot be variables are refused.
      const own = await runToEnd(driver, job({ command: ['sh', '-c', 'echo "$PATH $HOME"'], env: { PATH: '/bin', HOME: '/nowhere' } }));
      expect(own.stdout).toEqual(['/bin /nowhere']);
      await expect(driver.create(job({ command: ['env'], env: { 'A=B': 'x' } }))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      await expect(driver.create(job({ command: ['env'], env: { A: 'x\0y' } }))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    } finally {
      delete process.env.SWITCHYARD_TEST_LEAK;
    }
  });

  it('a job cannot see the state directory, the job records or another job’s work directory', async () => {
    const driver = await startDriver();
    const first = await run(driver, job({ command: ['sh', '-c', 'echo private > secret.txt; sleep 30'] }));
    await waitFor(() => existsSync(join(stateDir, 'work', first.id, 'secret.txt')), 'the first job to write its file');
    const second = job({
      command: [
        'sh',
        '-c',
        [
          `echo "state: $(ls -A ${stateDir} | tr '\\n' ' ')"`,
          `echo "work: $(ls -A ${stateDir}/work | tr '\\n' ' ')"`,
          `ls ${stateDir}/jobs || echo no-records`,
          `cat ${stateDir}/work/${first.id}/secret.txt || echo no-secret`,
          // Its own directory it reaches by path, as HOME.
          'touch "$HOME/mine" && echo home-writable',
        ].join('; '),
      ],
    });
    const { stdout } = await runToEnd(driver, second);
    expect(stdout).toEqual(['state: work ', `work: ${second.id} `, 'no-records', 'no-secret', 'home-writable']);
    // On the host, the records and the other job's file are there.
    expect(existsSync(join(stateDir, 'jobs', `${first.id}.json`))).toBe(true);

    // A working directory in the state directory, holding it, or in /proc is refused.
    for (const workingDir of [join(stateDir, 'work'), join(stateDir, 'work', first.id), stateDir, tmpdir(), '/', '/proc']) {
      await expect(driver.create(job({ command: ['true'], workingDir }))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    }
  });

  it('a job’s /tmp, /var/tmp and /dev/shm are its own: empty, writable, and not shared with another job', async () => {
    const driver = await startDriver();
    const first = await run(driver, job({ command: ['sh', '-c', 'echo one > /tmp/mark; echo one > /dev/shm/mark; echo ready; sleep 30'] }));
    await waitFor(() => rec.stdoutOf(first.id).includes('ready'), 'the first job to write');
    const { stdout } = await runToEnd(
      driver,
      job({
        command: [
          'sh',
          '-c',
          'echo "tmp: $(ls -A /tmp)"; echo "var: $(ls -A /var/tmp)"; echo "shm: $(ls -A /dev/shm)"; echo two > /tmp/mine && cat /tmp/mine',
        ],
      }),
    );
    // /tmp holds only the empty mount point of the hidden state directory (which lives under the host's /tmp here).
    expect(stdout).toEqual([`tmp: ${basename(stateDir)}`, 'var: ', 'shm: ', 'two']);
    expect(existsSync('/tmp/mark')).toBe(false);
  });

  it('a job over its product’s memory is killed and ends FAILURE, saying it ran out of memory and what the limit is', async () => {
    const driver = await startDriver();
    await requireCgroups(driver);
    // dd reads 256 MiB into one buffer: four times the product's 64 MiB.
    const over = await runToEnd(driver, job({ command: ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=256M', 'count=1'] }, TINY));
    expect(over.final).toMatchObject({
      state: 'FAILURE',
      exitCode: 137,
      status: 'The job ran out of memory: it exceeded its limit of 64 MiB per rank and was killed',
    });
    // Within the limit, the same program is fine.
    const within = await runToEnd(driver, job({ command: ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=16M', 'count=1'] }, TINY));
    expect(within.final).toMatchObject({ state: 'SUCCESS', exitCode: 0 });
    // Files in its private /tmp count as its memory too.
    const tmp = await runToEnd(driver, job({ command: ['sh', '-c', 'head -c 200000000 /dev/zero > /tmp/fill; echo "exit $?"'] }, TINY));
    // Whichever comes first: the cgroup's limit (the kernel kills it) or the tmpfs's, which is the product's memory too.
    if (tmp.final.state === 'FAILURE') expect(tmp.final.status).toContain('ran out of memory');
    else expect([tmp.stdout.at(-1), tmp.stderr.join('\n')]).toEqual(['exit 1', expect.stringContaining('No space left on device')]);
  });

  it('a job may start only as many processes as the limit allows', async () => {
    const driver = await startDriver({ pidsLimit: 32 });
    const version = await requireCgroups(driver);
    const file = version === 'cgroup-v1' ? '/sys/fs/cgroup/pids/pids.max' : '/sys/fs/cgroup/pids.max';
    const { id, final, stdout, stderr } = await runToEnd(
      driver,
      job({ command: ['sh', '-c', `cat ${file}; i=0; while [ $i -lt 100 ]; do sleep 5 & i=$((i+1)); echo $i > count; done`] }),
    );
    expect(stdout[0]).toBe('32');
    expect(final).toMatchObject({ state: 'SUCCESS', exitCode: 2 });
    expect(stderr.join('\n')).toContain('Cannot fork');
    // Some started before the limit stopped it; bwrap, its init and the shell count too.
    const started = Number(readFileSync(join(stateDir, 'work', id, 'count'), 'utf8'));
    expect(started).toBeGreaterThan(10);
    expect(started).toBeLessThan(32);
  });

  it('a job gets its product’s CPUs as a quota, and two busy processes share one CPU’s worth', async () => {
    const driver = await startDriver();
    const version = await requireCgroups(driver);
    const dir = version === 'cgroup-v1' ? '/sys/fs/cgroup/cpu' : '/sys/fs/cgroup';
    const quota = version === 'cgroup-v1' ? `cat ${dir}/cpu.cfs_quota_us ${dir}/cpu.cfs_period_us | tr '\\n' ' '` : `cat ${dir}/cpu.max`;
    const small = await runToEnd(driver, job({ command: ['sh', '-c', quota] }, LOCAL_PRODUCTS[0]));
    const large = await runToEnd(driver, job({ command: ['sh', '-c', quota] }, LOCAL_PRODUCTS[1]));
    expect(small.stdout[0]?.trim()).toBe('100000 100000');
    expect(large.stdout[0]?.trim()).toBe('200000 100000');
    // Two busy loops on one CPU's quota use one CPU between them, however idle the host (a loaded host gives them less).
    const busy = await runToEnd(
      driver,
      job(
        {
          command: [
            'sh',
            '-c',
            '(while :; do :; done) & a=$!; (while :; do :; done) & b=$!; sleep 2; getconf CLK_TCK; cut -d" " -f1 /proc/uptime; cat /proc/$a/stat /proc/$b/stat; kill $a $b',
          ],
        },
        LOCAL_PRODUCTS[0],
      ),
    );
    const [tick, uptime, ...stats] = busy.stdout;
    const loops = stats.map((line) =>
      line
        .slice(line.lastIndexOf(')') + 2)
        .split(' ')
        .map(Number),
    );
    // After the comm field: utime and stime are fields 14 and 15, starttime 22 (indices 11, 12, 19 here).
    const cpuSeconds = loops.reduce((sum, f) => sum + (f[11]! + f[12]!) / Number(tick), 0);
    const wallSeconds = Math.min(...loops.map((f) => Number(uptime) - f[19]! / Number(tick)));
    expect(loops).toHaveLength(2);
    expect(wallSeconds).toBeGreaterThan(1.5);
    expect(cpuSeconds / wallSeconds).toBeLessThan(1.2);
  });

  it('the rank’s cgroup holds its processes while it runs and is removed when it ends', async () => {
    const driver = await startDriver();
    await requireCgroups(driver);
    const { id, pid } = await run(driver, job({ command: ['sleep', '30'] }));
    const rank = recordOf(id).ranks[0]!;
    expect(rank.cgroups.length).toBeGreaterThan(0);
    for (const dir of rank.cgroups) expect(readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(pid));
    await driver.terminate(id);
    await finalOf(id);
    for (const dir of rank.cgroups) expect(existsSync(dir)).toBe(false);
  });

  it('suspend stops every process of the job inside its sandbox, resume continues them, terminate ends them', async () => {
    const driver = await startDriver();
    const { id, pid } = await run(driver, job({ command: ['sh', '-c', 'sleep 30 & sleep 30 & while :; do sleep 0.1; done'] }));
    await waitFor(() => groupStates(pid).size >= 5, 'bwrap, its init, the shell and its children');
    await driver.suspend(id);
    await waitFor(() => [...groupStates(pid).values()].every((state) => state === 'T'), 'every process to stop');
    await driver.unsuspend(id);
    await waitFor(() => [...groupStates(pid).values()].every((state) => state !== 'T'), 'every process to run again');
    await driver.terminate(id);
    expect(await finalOf(id)).toMatchObject({ state: 'SUCCESS', status: 'Your job has been terminated', exitCode: 143 });
    await waitFor(() => groupStates(pid).size === 0, 'every process to be gone');
  });

  it('after a restart, an orphaned job’s processes and cgroups are gone', async () => {
    const driver = await startDriver();
    const { id, pid } = await run(driver, job({ command: ['sh', '-c', 'sleep 30 & sleep 30'] }));
    const rank = recordOf(id).ranks[0]!;
    await driver.stop();
    drivers.splice(drivers.indexOf(driver), 1);
    expect(groupStates(pid).size).toBeGreaterThan(0);
    await startDriver();
    expect(rec.eventsOf(id).at(-1)).toMatchObject({ state: 'FAILURE' });
    await waitFor(() => groupStates(pid).size === 0, 'the orphan’s processes to be gone');
    for (const dir of rank.cgroups) expect(existsSync(dir)).toBe(false);
  });

  it('network none: a job cannot connect to a service on the host’s loopback; network host: it can', async () => {
    let connections = 0;
    const server: Server = createServer((socket) => {
      connections += 1;
      // The probe hangs up at once.
      socket.on('error', () => undefined);
      socket.end('hello\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as { port: number }).port;
    const probe = ['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${port} && echo connected || echo refused`];

    const isolated = await startDriver();
    const none = await runToEnd(isolated, job({ command: probe }));
    expect(none.stdout).toEqual(['refused']);
    expect(connections).toBe(0);
    await isolated.stop();
    drivers.splice(drivers.indexOf(isolated), 1);

    const open = await startDriver({ network: 'host' });
    expect((await isolation(open)).network).toBe('host');
    const host = await runToEnd(open, job({ command: probe }));
    expect(host.stdout).toEqual(['connected']);
    expect(connections).toBe(1);
  });

  it('without cgroups the limits are rlimits: address space of the product’s memory, processes of the limit', async () => {
    const driver = await startDriver({ limits: 'rlimit', pidsLimit: 500 });
    expect((await isolation(driver)).limits).toBe('rlimit');
    const { stdout } = await runToEnd(driver, job({ command: ['sh', '-c', 'grep -E "^Max (address space|processes)" /proc/self/limits'] }, TINY));
    expect(stdout.map((line) => line.replace(/\s+/g, ' ').trim())).toEqual([
      'Max processes 500 500 processes',
      `Max address space ${2 ** 26} ${2 ** 26} bytes`,
    ]);
    // An allocation past the limit fails: the program ends with its own error (SUCCESS, its exit code), not killed.
    const over = await runToEnd(driver, job({ command: ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=256M', 'count=1'] }, TINY));
    expect(over.final).toMatchObject({ state: 'SUCCESS', exitCode: 1 });
    expect(over.stderr.join('\n')).toContain('memory exhausted');
    // Without a cgroup, files in its private /tmp are bounded by the tmpfs's size: the product's memory.
    const tmp = await runToEnd(
      driver,
      job({ command: ['sh', '-c', 'head -c 100000000 /dev/zero > /tmp/fill; echo "exit $?"; du -m /tmp/fill'] }, TINY),
    );
    expect(tmp.stdout).toEqual(['exit 1', expect.stringMatching(/^6[34]\t\/tmp\/fill$/)]);
    expect(tmp.stderr.join('\n')).toContain('No space left on device');
  });

  it('SWITCHYARD_LOCAL_SANDBOX=none still runs jobs as the unprivileged account; a missing bwrap stops the provider at start', async () => {
    const driver = await startDriver({ sandbox: 'none' });
    expect((await isolation(driver)).sandbox).toBe('none');
    const { stdout } = await runToEnd(driver, job({ command: ['id', '-u'] }));
    expect(stdout).toEqual([String(NOBODY)]);
    await expect(createLocalDriver({ stateDir, bwrapPath: '/no/such/bwrap' }).start(recordingContext().context)).rejects.toMatchObject({
      code: 'UNSUPPORTED',
      message: expect.stringMatching(/bubblewrap.*\/no\/such\/bwrap does not exist.*apt-get install bubblewrap.*SWITCHYARD_LOCAL_SANDBOX=none/),
    });
  });

  it('a provider that is not root runs jobs as its own account, still sandboxed', async () => {
    // The provider itself as nobody, in a process of its own: it cannot switch accounts, so it must not try.
    const dir = await mkdtemp(join(tmpdir(), 'sy-local-nonroot-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await chown(dir, NOBODY, NOBODY);
    const script = join(dir, 'provider.mjs');
    const driverUrl = new URL('./local-driver.ts', import.meta.url).href;
    await writeFile(
      script,
      `const { createLocalDriver } = await import(${JSON.stringify(driverUrl)});
const lines = [];
const events = [];
const context = { providerId: 'local', clock: { now: () => Date.now() }, logger: { info() {}, warn() {}, error() {}, debug() {}, child() { return this; } },
  emit: (jobId, change) => events.push(change), log: (jobId, line) => line.stdout !== undefined && lines.push(line.stdout) };
const driver = createLocalDriver({ stateDir: ${JSON.stringify(join(dir, 'state'))} });
await driver.start(context);
const job = { id: 'nonroot-1', owner: { createdBy: 'alice', project: null }, createdAt: Date.now(),
  product: (await driver.manifest()).products[0],
  specification: { product: { id: 'local-small', category: 'local-cpu', provider: 'local' }, application: null, image: null, env: null, workingDir: null, name: null,
    replicas: 1, allowDuplicateJob: true, parameters: null, resources: null, timeAllocationMs: null, restartOnExit: false, sshEnabled: false, tags: [],
    description: null, priority: null, scheduleTimeout: null,
    command: ['sh', '-c', "id -u; ls /proc | grep -cE '^[0-9]+$'"] } };
await driver.create(job);
const deadline = Date.now() + 10000;
while (!events.some((e) => e.state === 'SUCCESS' || e.state === 'FAILURE') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
const { resolvers } = driver.subschema();
console.log(JSON.stringify({ uid: process.getuid(), lines, final: events.at(-1), isolation: resolvers.Query._localProviders(null, { ids: ['local'] })[0].localHost.isolation }));
await driver.stop();
`,
    );
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', process.execPath, '--import', 'tsx', script], {
        cwd: join(import.meta.dirname, '..', '..'),
        env: { PATH: process.env.PATH, HOME: dir },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`the non-root provider exited with ${code}: ${err}`))));
    });
    const result = JSON.parse(output.trim().split('\n').at(-1)!);
    expect(result.uid).toBe(NOBODY);
    expect(result.isolation).toMatchObject({ sandbox: 'bwrap', switchesUser: false, network: 'none' });
    expect(result.final).toMatchObject({ state: 'SUCCESS', exitCode: 0 });
    expect(result.lines[0]).toBe(String(NOBODY));
    // Its own PID namespace: a handful of processes, not the host's.
    expect(Number(result.lines[1])).toBeLessThanOrEqual(5);
  });
});
