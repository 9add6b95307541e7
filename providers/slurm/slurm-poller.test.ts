/**
 * When the poller asks Slurm: a waiting job's start is seen as its output
 * files appear. A new output file is Slurm launching it (RUNNING without
 * asking Slurm, whatever else is active; its nodes at the next look at all
 * jobs, at its usual time). Output there before the watch began brings a
 * look at that job alone (in place of the next look at all jobs) when it is
 * the only active job and nothing is being submitted; else the next look, an
 * interval after the last, so Slurm is not asked more often than before. A fake of
 * Slurm's queue (the one thing replaced here, to count what is asked of it)
 * answers from rows set by the test; the directories and their watches are
 * real.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { systemClock } from '../../shared/clock.js';
import { silentLogger } from '../../shared/logger.js';
import { createJobBook, type DriverContext, type DriverJobChange } from '../sdk/index.js';
import type { SacctJob, SqueueJob, SqueueLine } from './slurm-cli.js';
import { createSlurmPoller, type SlurmPoller } from './slurm-poller.js';
import type { SlurmQueue } from './slurm-queue.js';
import { slurmJob, type SlurmJob, type SlurmJobRecord } from './slurm-records.js';
import { pendingRecord } from './test-records.js';

function row(slurmJobId: string, state: string): SqueueJob {
  const running = state === 'RUNNING';
  return {
    slurmJobId,
    rawJobId: slurmJobId,
    name: `sy-job-${slurmJobId}`,
    state,
    reason: 'None',
    elapsedSeconds: running ? 1 : 0,
    timeLimitSeconds: 3600,
    startTime: running ? Date.now() - 1_000 : null,
    endTime: running ? Date.now() + 3_599_000 : null,
    partition: 'debug',
    nodeList: running ? 'sy1' : null,
    exitCode: '0:0',
    tasks: 1,
    cpus: 1,
    command: null,
    comment: null,
  };
}

const record = (id: string, slurmJobId: string): SlurmJobRecord => pendingRecord({ id, slurmJobId });

async function waitFor<T>(probe: () => T | undefined | null | false, what: string, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('the Slurm poller', () => {
  let dir: string;
  let poller: SlurmPoller | null = null;

  afterEach(async () => {
    await poller?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Jobs waiting in directories of their own, a fake queue that counts its calls, and the poller over them. */
  function setUp(count: number, intervalMs: number, submitting = 0) {
    dir = mkdtempSync(join(tmpdir(), 'sy-slurm-poller-'));
    const events: Array<{ jobId: string; change: DriverJobChange; at: number }> = [];
    const ctx: DriverContext = {
      providerId: 'slurm',
      clock: systemClock,
      logger: silentLogger(),
      emit: (jobId, change) => events.push({ jobId, change, at: performance.now() }),
      log: () => undefined,
    };
    const jobs = createJobBook<SlurmJobRecord, SlurmJob>({ context: () => ctx, providerGeneratedId: (job) => job.record.slurmJobId });
    const rows = new Map<string, SqueueJob>();
    const calls = { list: 0, row: 0 };
    /** Who was asked about jobs that ended: sacct (by Slurm id) and scontrol show job. */
    const ends = { accounted: [] as string[], shown: 0 };
    const sacct = new Map<string, SacctJob>();
    const entries: SlurmJob[] = [];
    for (let k = 1; k <= count; k++) {
      const jobDir = join(dir, `job-${k}`);
      mkdirSync(jobDir);
      const entry = slurmJob(record(`job-${k}`, String(k)), jobDir);
      jobs.set(entry);
      entries.push(entry);
      rows.set(String(k), row(String(k), 'PENDING'));
    }
    const line = (job: SqueueJob): SqueueLine => ({ slurmJobId: job.slurmJobId, job, problem: null, raw: '' });
    const queue: SlurmQueue = {
      list: async () => {
        calls.list += 1;
        return [...rows.values()].map(line);
      },
      row: async (id) => {
        calls.row += 1;
        return rows.get(id) ?? null;
      },
      findByName: async () => null,
      findArray: async () => [],
      ours: () => true,
      accounted: async (ids) => {
        ends.accounted.push(...ids);
        return new Map(ids.filter((id) => sacct.has(id)).map((id) => [id, sacct.get(id)!]));
      },
      shown: async () => {
        ends.shown += 1;
        return null;
      },
      reset: () => undefined,
    };
    poller = createSlurmPoller({ jobs, queue, context: () => ctx, tail: async () => false, intervalMs, submitting: () => submitting });
    /** Slurm starts the job: squeue says RUNNING, and its output file appears. */
    const start = (k: number) => {
      rows.set(String(k), row(String(k), 'RUNNING'));
      writeFileSync(join(dir, `job-${k}`, 'batch.out'), '');
    };
    const runningAt = (k: number) => events.find((e) => e.jobId === `job-${k}` && e.change.state === 'RUNNING')?.at;
    /** A job sbatch has just taken, whose output Slurm wrote before its watch began (it launched at once). */
    const launchedBeforeWatch = (k: number) => {
      const jobDir = join(dir, `job-${k}`);
      mkdirSync(jobDir);
      const entry = slurmJob(record(`job-${k}`, String(k)), jobDir);
      jobs.set(entry);
      rows.set(String(k), row(String(k), 'RUNNING'));
      writeFileSync(join(jobDir, 'batch.out'), '');
      return entry;
    };
    return { poller, calls, start, runningAt, entries, rows, events, ends, sacct, launchedBeforeWatch };
  }

  it('sees a lone job start as a new output file appears: RUNNING without asking Slurm, its nodes from the next look at all jobs at its usual time', async () => {
    const { poller, calls, start, runningAt, entries, events } = setUp(1, 1_500);
    await poller.start();
    const lookedAt = performance.now();
    for (const entry of entries) await poller.watch(entry);
    expect(calls).toEqual({ list: 1, row: 0 });
    const started = performance.now();
    start(1);
    const seen = await waitFor(() => runningAt(1), 'the RUNNING change');
    expect(seen - started).toBeLessThan(1_000);
    expect(calls).toEqual({ list: 1, row: 0 });
    expect(events.find((e) => e.change.state === 'RUNNING')?.change).toMatchObject({
      status: 'Running (Slurm launched job 1)',
      startedAt: expect.any(Number),
    });
    // The next look at all jobs when it was due anyway, and its nodes from there.
    const named = await waitFor(() => events.find((e) => e.change.status === 'Running on sy1 (Slurm job 1)'), 'the nodes');
    expect(calls).toEqual({ list: 2, row: 0 });
    expect(named.at - lookedAt).toBeGreaterThanOrEqual(1_400);
    expect(named.change).toMatchObject({ usageUnits: 1 });
  });

  it('asks Slurm about a lone job whose directory held output before the watch began (an earlier run’s), in place of the next look', async () => {
    const { poller, calls, runningAt, entries, rows } = setUp(1, 1_500);
    // Requeued: the job waits again, its earlier output in its directory; then Slurm starts it again.
    writeFileSync(join(entries[0]!.dir, 'batch.out'), 'an earlier run\n');
    await poller.start();
    await poller.watch(entries[0]!);
    expect(calls).toEqual({ list: 1, row: 0 });
    rows.set('1', row('1', 'RUNNING'));
    writeFileSync(join(entries[0]!.dir, 'batch.out'), 'an earlier run\nand this one\n');
    const seen = await waitFor(() => runningAt(1), 'the RUNNING change');
    expect(calls).toEqual({ list: 1, row: 1 });
    // The next look at all jobs an interval after the look alone, not sooner.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(calls).toEqual({ list: 1, row: 1 });
    await waitFor(() => calls.list === 2, 'the next look at all jobs');
    expect(performance.now() - seen).toBeGreaterThanOrEqual(1_400);
  });

  it('sees several lone jobs start as their output files appear, without asking Slurm, and their nodes at the next look at its usual time', async () => {
    const { poller, calls, start, runningAt, entries, events } = setUp(3, 1_500);
    await poller.start();
    for (const entry of entries) await poller.watch(entry);
    const lookedAt = performance.now();
    start(1);
    start(2);
    const seen = await waitFor(() => runningAt(1) && runningAt(2), 'both RUNNING changes');
    expect(seen - lookedAt).toBeLessThan(1_000);
    expect(calls).toEqual({ list: 1, row: 0 });
    await waitFor(() => events.find((e) => e.change.status === 'Running on sy1 (Slurm job 2)'), 'the nodes');
    expect(performance.now() - lookedAt).toBeGreaterThanOrEqual(1_400);
    expect(calls).toEqual({ list: 2, row: 0 });
  });

  /** Output in a job's directory before its watch began (a requeued job's earlier run): it tells nothing of a start. */
  const earlierRun = (dir: string) => writeFileSync(join(dir, 'batch.out'), 'an earlier run\n');

  it('asks no sooner than an interval after the last look when several jobs whose directories held output before start', async () => {
    const { poller, calls, start, runningAt, entries } = setUp(3, 1_500);
    for (const entry of entries) earlierRun(entry.dir);
    await poller.start();
    for (const entry of entries) await poller.watch(entry);
    const lookedAt = performance.now();
    start(1);
    start(2);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(calls).toEqual({ list: 1, row: 0 });
    expect(runningAt(1)).toBeUndefined();
    const seen = await waitFor(() => runningAt(1) && runningAt(2), 'both RUNNING changes');
    expect(seen - lookedAt).toBeGreaterThanOrEqual(1_400);
    // One look at all jobs saw both starts.
    expect(calls).toEqual({ list: 2, row: 0 });
  });

  it('waits for the next look when a submission is under way, for a job whose directory held output before, though it is the only active one', async () => {
    const { poller, calls, start, runningAt, entries } = setUp(1, 1_500, 1);
    earlierRun(entries[0]!.dir);
    await poller.start();
    const lookedAt = performance.now();
    start(1);
    const seen = await waitFor(() => runningAt(1), 'the RUNNING change');
    expect(seen - lookedAt).toBeGreaterThanOrEqual(1_400);
    expect(calls).toEqual({ list: 2, row: 0 });
  });

  it('sees a lone job launch by its new output file while a submission is under way', async () => {
    const { poller, calls, start, runningAt, entries } = setUp(1, 1_500, 1);
    await poller.start();
    await poller.watch(entries[0]!);
    const lookedAt = performance.now();
    start(1);
    const seen = await waitFor(() => runningAt(1), 'the RUNNING change');
    expect(seen - lookedAt).toBeLessThan(1_000);
    expect(calls).toEqual({ list: 1, row: 0 });
  });

  it('takes output already in a directory made for the submission as its launch, though another job is active', async () => {
    const { poller, calls, runningAt, launchedBeforeWatch } = setUp(1, 1_500);
    await poller.start();
    const lookedAt = performance.now();
    await poller.watch(launchedBeforeWatch(2), { newDirectory: true });
    await waitFor(() => runningAt(2), 'the RUNNING change');
    expect(performance.now() - lookedAt).toBeLessThan(1_000);
    expect(calls).toEqual({ list: 1, row: 0 });
    // The same in a directory of an earlier submission tells nothing: the job's start waits for the next look.
    await poller.watch(launchedBeforeWatch(3));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(runningAt(3)).toBeUndefined();
    await waitFor(() => runningAt(3), 'the next look');
    expect(performance.now() - lookedAt).toBeGreaterThanOrEqual(1_400);
    expect(calls).toEqual({ list: 2, row: 0 });
  });

  it('takes the end of a job squeue still lists from squeue, and asks sacct only about the ones it no longer lists', async () => {
    const { poller, rows, events, ends, sacct } = setUp(2, 200);
    await poller.start();
    rows.set('1', { ...row('1', 'FAILED'), reason: 'NonZeroExitCode', exitCode: '3:0', nodeList: 'sy1', elapsedSeconds: 2 });
    rows.delete('2');
    sacct.set('2', {
      slurmJobId: '2',
      name: 'sy-job-2',
      state: 'COMPLETED',
      exitCode: '0:0',
      elapsedSeconds: 2,
      startTime: Date.now() - 2_000,
      endTime: Date.now(),
      partition: 'debug',
      nodeList: 'sy1',
    });
    const endOf = (jobId: string) => events.find((e) => e.jobId === jobId && e.change.state && e.change.state !== 'IN_QUEUE')?.change;
    await waitFor(() => endOf('job-1') && endOf('job-2'), 'both ends');
    expect(endOf('job-1')).toMatchObject({ state: 'SUCCESS', exitCode: 3 });
    expect(endOf('job-2')).toMatchObject({ state: 'SUCCESS', exitCode: 0 });
    expect(ends).toEqual({ accounted: ['2'], shown: 0 });
  });

  it('ends a waiting array task gone from squeue at once, without sacct: terminated when we cancelled it, else cancelled outside; one that wrote output waits for sacct', async () => {
    const { poller, rows, events, ends, entries } = setUp(3, 200);
    for (const [k, entry] of entries.entries()) Object.assign(entry.record, { slurmJobId: `900_${k}`, array: { name: 'sya-x', task: k } });
    for (const [k] of entries.entries()) rows.set(`900_${k}`, row(`900_${k}`, 'PENDING'));
    for (const k of ['1', '2', '3']) rows.delete(k);
    await poller.start();
    expect(events.filter((e) => e.change.state)).toEqual([]);
    // Task 0 cancelled by us, task 1 by someone else; task 2 started (its output file) and ended, and squeue forgot it.
    Object.assign(entries[0]!.record, { state: 'CANCELING', ending: 'TERMINATE', endingReason: 'Not needed' });
    writeFileSync(join(entries[2]!.dir, 'batch.out'), '');
    rows.clear();
    const endOf = (jobId: string) => events.find((e) => e.jobId === jobId && e.change.state)?.change;
    await poller.poll();
    expect(endOf('job-1')).toEqual({ state: 'SUCCESS', status: 'Your job has been terminated (Not needed)', usageUnits: 0 });
    expect(endOf('job-2')).toMatchObject({ state: 'FAILURE', status: expect.stringMatching(/^Cancelled outside Switchyard while it waited/) });
    expect(endOf('job-3')).toBeUndefined();
    // sacct is asked about the one that ran only (by its task id: it never had its own here).
    expect(ends.accounted).toEqual(['900_2']);
  });
});
