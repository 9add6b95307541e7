import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { systemClock } from '../../shared/clock.js';
import type { JobSpecification } from '../../shared/domain.js';
import { InvalidInputError, InvalidStateError, NotFoundError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import type { CreateJob } from '../../shared/protocol.js';
import { makeCreateJob } from '../../test/support/jobs.js';
import type { Driver, DriverContext, DriverJobChange, DriverLogLine } from '../sdk/driver.js';
import { removeCgroup } from './cgroups.js';
import { createLocalDriver, LOCAL_PRODUCTS } from './local-driver.js';

const GRACE_MS = 200;

/** A driver context that records what the driver reports; the runtime's part is tested in runtime.test.ts. */
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
    events,
    logs,
    eventsOf: (jobId: string) => events.filter((e) => e.jobId === jobId).map((e) => e.change),
    stdoutOf: (jobId: string, rank = 0) =>
      logs.filter((l) => l.jobId === jobId && l.line.rank === rank && l.line.stdout !== undefined).map((l) => l.line.stdout),
    stderrOf: (jobId: string, rank = 0) =>
      logs.filter((l) => l.jobId === jobId && l.line.rank === rank && l.line.stderr !== undefined).map((l) => l.line.stderr),
  };
}

async function waitFor<T>(probe: () => T | undefined | null | false, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The state letter of /proc/<pid>/stat (R, S, T, Z...), or null once the process is gone. */
function processState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!;
  } catch {
    return null;
  }
}

const gone = (pid: number) => {
  const state = processState(pid);
  return state === null || state === 'Z';
};

function job(spec: Partial<JobSpecification>, productIndex: 0 | 1 = 0): CreateJob {
  return makeCreateJob(LOCAL_PRODUCTS[productIndex], 'local', spec);
}

describe('local driver', () => {
  let stateDir: string;
  let rec: ReturnType<typeof recordingContext>;
  let driver: Driver;
  const drivers: Driver[] = [];
  const pids: number[] = [];
  const cgroups: string[] = [];

  const startDriver = async () => {
    const next = createLocalDriver({ stateDir, terminateGraceMs: GRACE_MS });
    await next.start(rec.context);
    drivers.push(next);
    return next;
  };

  /** Create and wait for RUNNING; remembers the pid so afterEach can clean up. */
  const run = async (spec: Partial<JobSpecification>, on = driver) => {
    const created = job(spec);
    const { providerGeneratedId } = await on.create(created);
    expect(providerGeneratedId).toMatch(/^\d+$/);
    const pid = Number(providerGeneratedId);
    pids.push(pid);
    return { id: created.id, pid };
  };

  const finalOf = (jobId: string) =>
    waitFor(() => rec.eventsOf(jobId).find((c) => c.state === 'SUCCESS' || c.state === 'FAILURE' || c.state === 'EXPIRED'), `job ${jobId} to end`);

  beforeEach(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'sy-local-'));
    rec = recordingContext();
    driver = await startDriver();
  });

  afterEach(async () => {
    for (const d of drivers.splice(0)) await d.stop();
    // Every rank's process group, from the records, in case a test left one running.
    for (const name of await readdir(join(stateDir, 'jobs')).catch(() => [])) {
      if (!name.endsWith('.json')) continue;
      const record = JSON.parse(readFileSync(join(stateDir, 'jobs', name), 'utf8')) as { ranks: Array<{ pgid: number; cgroups?: string[] }> };
      pids.push(...record.ranks.map((rank) => rank.pgid));
      cgroups.push(...record.ranks.flatMap((rank) => rank.cgroups ?? []));
    }
    for (const pid of pids.splice(0)) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Already gone, as it should be.
      }
    }
    // The cgroups of ranks left running: no later start of a driver removes them here.
    await removeCgroup(cgroups.splice(0));
    await rm(stateDir, { recursive: true, force: true });
  });

  it('runs a command: RUNNING, then SUCCESS with exit code 0 and its output as log lines', async () => {
    const { id, pid } = await run({ command: ['sh', '-c', 'echo hello; echo world'] });
    const final = await finalOf(id);
    const events = rec.eventsOf(id);
    expect(events[0]).toMatchObject({ state: 'RUNNING', providerGeneratedId: String(pid) });
    expect(events[0]?.status).toMatch(/^Job started on .+ \(1 process\)$/);
    expect(events[0]?.startedAt).toBeGreaterThan(0);
    expect(events[0]!.expiresAt).toBeUndefined();
    expect(final).toMatchObject({ state: 'SUCCESS', exitCode: 0, status: 'Job finished with exit code 0' });
    expect(rec.stdoutOf(id)).toEqual(['hello', 'world']);
    expect(await driver.observe(id)).toMatchObject({ id, state: 'SUCCESS', exitCode: 0, providerGeneratedId: String(pid) });
  });

  it('a job that exits non-zero ends SUCCESS with its exit code', async () => {
    const { id } = await run({ command: ['sh', '-c', 'exit 3'] });
    expect(await finalOf(id)).toMatchObject({ state: 'SUCCESS', exitCode: 3, status: 'Job finished with exit code 3' });
  });

  it('runs one process per replica, each with its rank, and streams stderr and a last line without newline', async () => {
    const script = 'echo "rank $SWITCHYARD_RANK of $SWITCHYARD_REPLICAS job $SWITCHYARD_JOB_ID $GREETING"; echo oops >&2; printf tail';
    const { id } = await run({ command: ['sh', '-c', script], replicas: 2, env: { GREETING: 'hi' } });
    const final = await finalOf(id);
    expect(final).toMatchObject({ state: 'SUCCESS', exitCode: 0 });
    expect(rec.eventsOf(id)[0]?.status).toMatch(/\(2 processes\)$/);
    expect(rec.stdoutOf(id, 0)).toEqual([`rank 0 of 2 job ${id} hi`, 'tail']);
    expect(rec.stdoutOf(id, 1)).toEqual([`rank 1 of 2 job ${id} hi`, 'tail']);
    expect(rec.stderrOf(id, 0)).toEqual(['oops']);
    expect(rec.stderrOf(id, 1)).toEqual(['oops']);
  });

  it('the first non-zero rank exit code is the job exit code', async () => {
    const { id } = await run({ command: ['sh', '-c', 'exit $((SWITCHYARD_RANK + 4))'], replicas: 3 });
    expect(await finalOf(id)).toMatchObject({ state: 'SUCCESS', exitCode: 4 });
  });

  it('runs in the given working directory, or a directory of its own, with only PATH and HOME from the provider', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sy-wd-'));
    process.env.SWITCHYARD_TEST_SECRET = 'leak';
    try {
      const a = await run({ command: ['sh', '-c', 'pwd; echo "secret=$SWITCHYARD_TEST_SECRET"'], workingDir: dir });
      const b = await run({ command: ['pwd'] });
      await finalOf(a.id);
      await finalOf(b.id);
      expect(rec.stdoutOf(a.id)).toEqual([dir, 'secret=']);
      expect(rec.stdoutOf(b.id)).toEqual([join(stateDir, 'work', b.id)]);
    } finally {
      delete process.env.SWITCHYARD_TEST_SECRET;
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a job without a command, or with a working directory that does not exist', async () => {
    await expect(driver.create(job({ command: null }))).rejects.toBeInstanceOf(InvalidInputError);
    await expect(driver.create(job({ command: [] }))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(driver.create(job({ command: ['true'], workingDir: join(stateDir, 'nope') }))).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringContaining('does not exist'),
    });
    await expect(driver.create(job({ command: ['true'], replicas: 9 }))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(rec.events).toEqual([]);
  });

  it('a command that cannot be started ends FAILURE, naming the command and the reason', async () => {
    const missing = job({ command: ['/no/such/program', '--flag'] });
    expect(await driver.create(missing)).toEqual({ providerGeneratedId: null });
    expect(await finalOf(missing.id)).toMatchObject({ state: 'FAILURE' });
    const status = rec.eventsOf(missing.id)[0]!.status!;
    expect(status).toContain('/no/such/program');
    expect(status).toContain('ENOENT');
    expect(rec.eventsOf(missing.id)).toHaveLength(1);

    const notExecutable = job({ command: [stateDir] });
    await driver.create(notExecutable);
    expect((await finalOf(notExecutable.id)).status).toContain('EACCES');
  });

  it('a repeated create of the same job starts it once', async () => {
    const created = job({ command: ['sleep', '60'] });
    const [first, second] = await Promise.all([driver.create(created), driver.create(created)]);
    const third = await driver.create(created);
    pids.push(Number(first.providerGeneratedId));
    expect(second).toEqual(first);
    expect(third).toEqual(first);
    expect(rec.eventsOf(created.id).filter((c) => c.state === 'RUNNING')).toHaveLength(1);
  });

  it('suspends with SIGSTOP, pausing the deadline, and resumes with SIGCONT and a later deadline', async () => {
    const { id, pid } = await run({ command: ['sleep', '60'], timeAllocationMs: 60_000 });
    const running = await driver.observe(id);
    await driver.suspend(id);
    await waitFor(() => processState(pid) === 'T', 'the process to stop');
    expect(rec.eventsOf(id).at(-1)).toMatchObject({ state: 'SUSPENDED', status: 'Job suspended' });
    await expect(driver.suspend(id)).rejects.toBeInstanceOf(InvalidStateError);

    await new Promise((r) => setTimeout(r, 300));
    await driver.unsuspend(id);
    await waitFor(() => processState(pid) === 'S', 'the process to run again');
    const resumed = rec.eventsOf(id).at(-1)!;
    expect(resumed).toMatchObject({ state: 'RUNNING', status: 'Job resumed' });
    expect(resumed.expiresAt! - running.expiresAt!).toBeGreaterThanOrEqual(300);
    expect((await driver.observe(id)).expiresAt).toBe(resumed.expiresAt);
    await expect(driver.unsuspend(id)).rejects.toBeInstanceOf(InvalidStateError);
  });

  it('extending moves the deadline, or sets one from now, without an event', async () => {
    const timed = await run({ command: ['sleep', '60'], timeAllocationMs: 60_000 });
    const before = (await driver.observe(timed.id)).expiresAt!;
    expect(await driver.extend(timed.id, 30_000)).toEqual({ expiresAt: before + 30_000 });
    expect((await driver.observe(timed.id)).expiresAt).toBe(before + 30_000);

    const open = await run({ command: ['sleep', '60'] });
    const now = Date.now();
    const { expiresAt } = await driver.extend(open.id, 45_000);
    expect(expiresAt).toBeGreaterThanOrEqual(now + 45_000);
    expect(expiresAt).toBeLessThan(now + 50_000);
    expect(rec.eventsOf(timed.id)).toHaveLength(1);
    expect(rec.eventsOf(open.id)).toHaveLength(1);
  });

  it('a job past its time allocation ends EXPIRED', async () => {
    const started = Date.now();
    const { id, pid } = await run({ command: ['sleep', '60'], timeAllocationMs: 1_000 });
    const final = await finalOf(id);
    expect(final).toMatchObject({ state: 'EXPIRED', status: 'The job reached the end of its time allocation' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(Date.now() - started).toBeLessThan(5_000);
    await waitFor(() => gone(pid), 'the process to be gone');
  });

  it('an extension keeps a job from expiring at its original deadline', async () => {
    const { id } = await run({ command: ['sleep', '60'], timeAllocationMs: 500 });
    await driver.extend(id, 1_000);
    await new Promise((r) => setTimeout(r, 800));
    expect((await driver.observe(id)).state).toBe('RUNNING');
    expect(await finalOf(id)).toMatchObject({ state: 'EXPIRED' });
  });

  it('terminating a job stops its process and ends it SUCCESS, "terminated"', async () => {
    const { id, pid } = await run({ command: ['sleep', '60'] });
    await driver.terminate(id);
    expect(rec.eventsOf(id)[1]).toMatchObject({ state: 'CANCELING', status: 'Terminating' });
    const final = await finalOf(id);
    expect(final).toMatchObject({ state: 'SUCCESS', status: 'Your job has been terminated', exitCode: 143 });
    await waitFor(() => gone(pid), 'the process to be gone');
    await expect(driver.terminate(id)).rejects.toBeInstanceOf(InvalidStateError);
    await expect(driver.extend(id, 1_000)).rejects.toBeInstanceOf(InvalidStateError);
  });

  it('a process that ignores TERM is killed after the grace period', async () => {
    const { id, pid } = await run({ command: ['sh', '-c', 'trap "" TERM; echo ready; while :; do sleep 1; done'] });
    await waitFor(() => rec.stdoutOf(id).includes('ready'), 'the trap to be set');
    const started = Date.now();
    await driver.terminate(id);
    const final = await finalOf(id);
    expect(Date.now() - started).toBeGreaterThanOrEqual(GRACE_MS);
    expect(final).toMatchObject({ state: 'SUCCESS', exitCode: 137 });
    await waitFor(() => gone(pid), 'the process to be gone');
  });

  it('terminating a suspended job still stops it', async () => {
    const { id, pid } = await run({ command: ['sleep', '60'] });
    await driver.suspend(id);
    await driver.terminate(id);
    expect(await finalOf(id)).toMatchObject({ state: 'SUCCESS', status: 'Your job has been terminated' });
    await waitFor(() => gone(pid), 'the process to be gone');
  });

  it('unknown jobs are NOT_FOUND, and observed with state null', async () => {
    await expect(driver.terminate('nope')).rejects.toBeInstanceOf(NotFoundError);
    await expect(driver.suspend('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(driver.unsuspend('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(driver.extend('nope', 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await driver.observe('nope')).toEqual({
      id: 'nope',
      state: null,
      status: null,
      exitCode: null,
      startedAt: null,
      expiresAt: null,
      providerGeneratedId: null,
    });
  });

  it('sells two sizes of local CPU and counts running jobs in its utilization', async () => {
    const manifest = await driver.manifest();
    expect(manifest.products.map((p) => [p.id, p.category, p.cpu, p.pricePerUnit])).toEqual([
      ['local-small', 'local-cpu', 1, 1],
      ['local-large', 'local-cpu', 2, 3],
    ]);
    expect(manifest.products[0]?.support).toMatchObject({ backend: 'NATIVE', suspension: true, timeExtension: true, maxReplicas: 8 });
    const idle = await driver.utilization();
    expect(idle.capacity.cpu).toBeGreaterThan(0);
    expect(idle.usedCapacity).toEqual({ cpu: 0, memoryInGigs: 0, gpu: 0 });
    const created = job({ command: ['sleep', '60'], replicas: 2 }, 1);
    pids.push(Number((await driver.create(created)).providerGeneratedId));
    const busy = await driver.utilization();
    expect(busy.usedCapacity).toEqual({ cpu: 4, memoryInGigs: 8, gpu: 0 });
    expect(busy.queueStatus).toEqual({ running: 1, pending: 0 });
  });

  it('after a restart, a job whose provider went away ends FAILURE and its processes are stopped', async () => {
    const { id, pid } = await run({ command: ['sleep', '60'] });
    const finished = await run({ command: ['sh', '-c', 'exit 5'] });
    await finalOf(finished.id);
    await driver.stop();
    drivers.splice(drivers.indexOf(driver), 1);
    // Stopping the provider leaves the job's process running.
    await new Promise((r) => setTimeout(r, 100));
    expect(gone(pid)).toBe(false);
    expect(existsSync(join(stateDir, 'jobs', `${id}.json`))).toBe(true);

    const second = recordingContext();
    rec = second;
    const restarted = createLocalDriver({ stateDir, terminateGraceMs: GRACE_MS });
    drivers.push(restarted);
    await restarted.start(second.context);
    expect(second.eventsOf(id)).toEqual([{ state: 'FAILURE', status: 'The local provider restarted while the job ran; its processes were stopped' }]);
    await waitFor(() => gone(pid), 'the orphaned process to be stopped');
    expect(await restarted.observe(id)).toMatchObject({ state: 'FAILURE', status: expect.stringContaining('restarted') });
    // A job that ended before the restart keeps its final state, with no new event.
    expect(await restarted.observe(finished.id)).toMatchObject({ state: 'SUCCESS', exitCode: 5 });
    expect(second.eventsOf(finished.id)).toEqual([]);

    // The failure is on disk: a third start reports it without a second event.
    await restarted.stop();
    drivers.pop();
    const third = recordingContext();
    const again = createLocalDriver({ stateDir });
    drivers.push(again);
    await again.start(third.context);
    expect(await again.observe(id)).toMatchObject({ state: 'FAILURE' });
    expect(third.events).toEqual([]);
  });
});
