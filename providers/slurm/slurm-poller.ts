/**
 * The poller: one look at Slurm for all of the provider's jobs — squeue, then
 * sacct (and scontrol) for those that ended or that squeue no longer lists —
 * applied to their records in order, and the output of what runs passed on.
 * Looks run one at a time (a caller during one joins it), one poll interval
 * after the last while jobs are active. An outage of squeue leaves the jobs as
 * they were and tells them so once it lasts. An array task that waited and
 * is gone without a trace was cancelled before it started (slurm-states.ts).
 *
 * A job that starts on its own is seen at once rather than at the next
 * interval: Slurm creates its output files in its directory as it launches
 * it, and the directories of waiting jobs are watched (inotify). For a job
 * of its own (not an array task), an output file that was not there when the
 * watch began is Slurm launching it: the job is RUNNING then, without asking
 * Slurm, whatever else is active (launchedChange in slurm-states.ts; its
 * nodes and usage come with the next look at all jobs, at its usual time).
 * When the job is the provider's only active one and no submission is under
 * way, output there before (an earlier run's, or a start before the watch),
 * or an array task's (whose own numeric id only squeue gives), brings a look
 * at that job alone (`squeue --jobs=<id>`, which Slurm answers without
 * listing the others), once per job, in place of the next look: the interval
 * runs from it. So Slurm is asked no more often than before, only sooner,
 * and more cheaply. Otherwise the looks one an interval see the starts, as
 * before. Where the directory is on a file system that does not report
 * changes made on other hosts (NFS), the interval alone decides.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readdir } from 'node:fs/promises';

import { isFinalState, type DriverContext, type JobBook } from '../sdk/index.js';
import { parseSlurmExitCode, type SacctJob, type SqueueJob, type SqueueLine } from './slurm-cli.js';
import { OUTPUT_FILE } from './slurm-output.js';
import type { SlurmQueue } from './slurm-queue.js';
import { numericJobId, type SlurmJob, type SlurmJobRecord } from './slurm-records.js';
import {
  endOf,
  FINAL_SLURM_STATES,
  launchedChange,
  meaningOfRow,
  unstartedTask,
  vanishedTaskEnd,
  viewOf,
  WAITING_SLURM_STATES,
} from './slurm-states.js';

/** Polls a job may be missing from squeue and sacct before it is given up. */
const MISSING_POLLS = 5;
/** Polls that fail in a row before the jobs get a status line about it. */
const OUTAGE_POLLS = 3;
/** Waiting jobs whose directories are watched at most; beyond, the interval alone finds their start. */
const MAX_WATCHED = 1024;

export interface SlurmPollerOptions {
  jobs: JobBook<SlurmJobRecord, SlurmJob>;
  queue: SlurmQueue;
  /** The driver's context; null once it stopped (a look then does nothing). */
  context(): DriverContext | null;
  /** Pass on the job's new output; `final` sends a last partial line too. Answers whether anything was read. */
  tail(job: SlurmJob, final: boolean): Promise<boolean>;
  /** How often squeue is asked while jobs are active. */
  intervalMs: number;
  /** Submissions under way: a job is starting on its own only when there are none. @default none */
  submitting?: () => number;
}

export interface SlurmPoller {
  /** Look now, or join the look under way; `force` looks even with no active job (to see jobs that ended meanwhile). */
  poll(force?: boolean): Promise<void>;
  /** Bring the view up to date for an answer: join a look under way, or look when the last one is older than an interval. */
  refresh(): Promise<void>;
  /** Slurm's jobs of ours by name, as the last look saw them; null before the first. */
  byName(name: string): SqueueJob | undefined;
  /** Look at once (forced), then every interval, until stop(). */
  start(): Promise<void>;
  /**
   * Watch a waiting job's directory, so that its start is seen as it happens; resolves once the watch is set.
   * `newDirectory`: made for the submission just made, so output already in it is that submission's launch.
   */
  watch(job: SlurmJob, options?: { newDirectory?: boolean }): Promise<void>;
  /** No more looks; resolves when the one under way has ended. */
  stop(): Promise<void>;
}

/** Whether Slurm wrote an output file in the job's directory (it does as the job starts); true when the directory cannot be read. */
async function wroteOutput(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).some((name) => OUTPUT_FILE.test(name));
  } catch {
    return true;
  }
}

/** Whether squeue's row of an ended job gives its exit code. */
const knownExit = (row: SqueueJob): boolean => row.exitCode !== null && parseSlurmExitCode(row.exitCode) !== null;

export function createSlurmPoller(options: SlurmPollerOptions): SlurmPoller {
  const { jobs, queue, intervalMs } = options;
  /** Between start() and stop(): looks are scheduled. */
  let running = false;
  let pollTimer: NodeJS.Timeout | null = null;
  /** When the timer fires (performance.now()). */
  let dueAt = Number.POSITIVE_INFINITY;
  let polling: Promise<void> | null = null;
  /** When the next look at all jobs is due: an interval after the last ended. */
  let fullDueAt = Number.NEGATIVE_INFINITY;
  /** Waiting jobs whose files appeared since the last look at all jobs: they are starting (the next look at all jobs sees them). */
  const starting = new Set<string>();
  /** Waiting jobs that had their look alone: one each. */
  const lookedAlone = new Set<string>();
  /** Watched waiting jobs whose directory held no output file when the watch began: a new one there is Slurm launching the job. */
  const fresh = new Set<string>();
  /** Waiting jobs a new output file showed launched: RUNNING without asking Slurm (launchedChange). */
  const launched = new Set<string>();
  let lastSnapshot: { at: number; byName: Map<string, SqueueJob> } | null = null;
  let failedPolls = 0;
  const watchers = new Map<string, FSWatcher>();

  const context = (): DriverContext => {
    const ctx = options.context();
    if (!ctx) throw new Error('the Slurm driver is not started');
    return ctx;
  };
  const logger = () => context().logger;
  const change = jobs.change;

  const noteProblem = (job: SlurmJob, problem: string, raw: string) => {
    if (job.problem === problem) return;
    job.problem = problem;
    logger().warn({ jobId: job.record.id, slurmJobId: job.record.slurmJobId, problem, raw }, 'did not understand what Slurm said about a job');
    change(job, { status: `Switchyard could not read Slurm's answer about this job (${problem}); it keeps its last known state` });
  };

  /** Apply a live squeue row; true when Slurm says the job has ended. */
  const applyRow = (job: SlurmJob, row: SqueueJob): boolean => {
    const { record } = job;
    const previousReason = record.slurm.reason;
    record.slurm = viewOf(row);
    // An array task gets a numeric id of its own as it starts (a waiting one shows its array's).
    if (record.array && !WAITING_SLURM_STATES.has(row.state) && record.taskJobId !== row.rawJobId) {
      record.taskJobId = row.rawJobId;
      void jobs.save(job);
    }
    job.missingPolls = 0;
    job.toldOutage = false;
    const meaning = meaningOfRow(record, previousReason, row, context().clock.now());
    switch (meaning.kind) {
      case 'ended':
        return true;
      case 'settled':
        return false;
      case 'live':
        job.problem = null;
        if (meaning.change?.state)
          logger().debug({ jobId: record.id, slurmJobId: record.slurmJobId, state: meaning.change.state }, 'Slurm’s row moves the job on');
        if (meaning.change) change(job, meaning.change);
        return false;
      case 'unknown':
        noteProblem(job, meaning.problem, JSON.stringify(row));
        return false;
    }
  };

  /** End a job: its last output, then its final change with exit code and usage. */
  const finish = async (job: SlurmJob, row: SqueueJob | null, accounted: SacctJob | null) => {
    const { record } = job;
    if (isFinalState(record.state)) return;
    let shownExitCode: string | null = null;
    if ((accounted?.exitCode ?? null) === null && record.slurmJobId !== null && row !== null && !knownExit(row)) {
      const shown = await queue.shown(record.slurmJobId);
      if (shown?.ExitCode && parseSlurmExitCode(shown.ExitCode)) shownExitCode = shown.ExitCode;
    }
    const end = endOf(record, row, accounted, shownExitCode);
    record.slurm = end.view;
    await options.tail(job, true);
    change(job, end.change);
    job.files.clear();
  };

  /** One look at Slurm: squeue for all our jobs, sacct/scontrol for those that ended, output of the running ones. */
  const pollOnce = async (force: boolean): Promise<void> => {
    if (!options.context()) return;
    starting.clear();
    const active = [...jobs.values()].filter((job) => !isFinalState(job.record.state) && job.record.slurmJobId !== null);
    if (active.length === 0 && !force) return;
    const startedAt = performance.now();
    let lines: SqueueLine[];
    try {
      lines = await queue.list();
    } catch (error) {
      failedPolls += 1;
      if (failedPolls === 1) logger().warn({ err: error }, 'squeue failed; jobs keep their last known state');
      if (failedPolls >= OUTAGE_POLLS) {
        for (const job of active) {
          if (job.toldOutage) continue;
          job.toldOutage = true;
          change(job, {
            status: `Slurm is not answering (${error instanceof Error ? error.message : String(error)}); the job keeps its last known state`,
          });
        }
      }
      return;
    }
    if (failedPolls > 0) logger().info({ failedPolls }, 'squeue answers again');
    failedPolls = 0;
    const bySlurmId = new Map<string, SqueueLine>();
    const byName = new Map<string, SqueueJob>();
    for (const line of lines) {
      bySlurmId.set(line.slurmJobId, line);
      if (line.job) byName.set(line.job.name, line.job);
    }
    lastSnapshot = { at: performance.now(), byName };

    const ended: Array<{ job: SlurmJob; row: SqueueJob }> = [];
    const missing: SlurmJob[] = [];
    /** Array tasks cancelled while they waited: Slurm keeps no trace of them, so sacct is not asked. */
    const vanished: SlurmJob[] = [];
    for (const job of active) {
      // An operation under way reports its own change first; the next poll sees the job.
      if (job.busy > 0) continue;
      const line = bySlurmId.get(job.record.slurmJobId!);
      if (!line) {
        // A job submitted after squeue ran cannot be in its answer.
        if (job.knownSince >= startedAt) continue;
        if (unstartedTask(job.record) && !(await wroteOutput(job.dir))) vanished.push(job);
        else missing.push(job);
        continue;
      }
      if (!line.job) {
        noteProblem(job, line.problem ?? 'unreadable line', line.raw);
        continue;
      }
      try {
        if (applyRow(job, line.job)) ended.push({ job, row: line.job });
      } catch (error) {
        logger().error({ err: error, jobId: job.record.id }, 'applying Slurm state failed');
      }
    }

    // A job squeue still lists has its end there, exit code included (the one slurmctld holds, as
    // `scontrol show job` shows it): sacct only for the others. `sacct -c` reads the whole jobcomp
    // file, which grows with the cluster's history (60 MB: half a second of CPU a call).
    // sacct knows an array task by its own numeric id only.
    const unsure = ended.filter(({ row }) => !knownExit(row)).map((e) => numericJobId(e.job.record)!);
    const accounted = await queue.accounted([...unsure, ...missing.map((j) => numericJobId(j.record)!)]);
    for (const { job, row } of ended) await finish(job, row, accounted.get(numericJobId(job.record)!) ?? null);
    for (const job of vanished) {
      // An operation that began meanwhile (its directory was read) reports first.
      if (job.busy > 0 || isFinalState(job.record.state)) continue;
      const end = vanishedTaskEnd(job.record);
      logger().info(
        { jobId: job.record.id, slurmJobId: job.record.slurmJobId, ending: job.record.ending },
        'an array task was cancelled before it started',
      );
      job.record.slurm = end.view;
      change(job, end.change);
    }
    for (const job of missing) {
      const record = accounted.get(numericJobId(job.record)!);
      if (record && FINAL_SLURM_STATES.has(record.state)) {
        await finish(job, null, record);
        continue;
      }
      job.missingPolls += 1;
      if (job.missingPolls >= MISSING_POLLS) {
        logger().warn({ jobId: job.record.id, slurmJobId: job.record.slurmJobId }, 'Slurm has no record of the job');
        await options.tail(job, true);
        change(job, { state: 'FAILURE', status: `Slurm has no record of job ${job.record.slurmJobId} any more; its end is unknown` });
      }
    }
    // Output of what runs (and of jobs stopped mid-way) goes out on every poll.
    const writing = active.filter((job) => !isFinalState(job.record.state) && job.record.state !== 'IN_QUEUE');
    await Promise.all(
      writing.map(async (job) => {
        if (await options.tail(job, false)) void jobs.save(job);
      }),
    );
  };

  /** A look at one job that is starting on its own: its start and its first output; the next look is an interval after it. */
  const lookAtStart = async (jobId: string): Promise<void> => {
    starting.delete(jobId);
    const job = jobs.get(jobId);
    if (!options.context() || !job || job.record.state !== 'IN_QUEUE' || job.record.slurmJobId === null || job.busy > 0) return;
    // It takes the place of the next look at all jobs (it is the only active one).
    fullDueAt = performance.now() + intervalMs;
    const row = await queue.row(job.record.slurmJobId);
    logger().debug({ jobId, slurmJobId: job.record.slurmJobId, state: row?.state ?? null }, 'looked at a starting job alone');
    if (!row || job.busy > 0 || isFinalState(job.record.state)) return;
    try {
      // Ended already (a short job): its end, with sacct's exit code, is a look at all jobs'.
      if (applyRow(job, row)) fullDueAt = Number.NEGATIVE_INFINITY;
    } catch (error) {
      logger().error({ err: error, jobId }, 'applying Slurm state failed');
      return;
    }
    // applyRow may have moved it on: read the state afresh.
    if ((job.record.state as string) === 'RUNNING' && (await options.tail(job, false))) void jobs.save(job);
  };

  /**
   * A lone waiting job that Slurm launched (a new output file in its directory): RUNNING now,
   * without asking Slurm; the next look at all jobs, at its usual time, gives its nodes and usage.
   * A job this cannot tell about (an array task) gets its look alone instead.
   */
  const applyLaunch = async (jobId: string): Promise<void> => {
    const job = jobs.get(jobId);
    if (!options.context() || !job || job.record.state !== 'IN_QUEUE' || job.busy > 0) return;
    const launch = launchedChange(job.record, context().clock.now());
    if (!launch) return lookAtStart(jobId);
    starting.delete(jobId);
    logger().debug({ jobId, slurmJobId: job.record.slurmJobId }, 'Slurm launched a waiting job (its first output file): RUNNING');
    change(job, launch);
    if (await options.tail(job, false)) void jobs.save(job);
  };

  /** Set the timer for the next look, `delayMs` from now. */
  const arm = (delayMs: number) => {
    if (pollTimer) clearTimeout(pollTimer);
    pollTimer = null;
    dueAt = Number.POSITIVE_INFINITY;
    if (!running || !options.context()) return;
    const delay = Math.max(0, delayMs);
    dueAt = performance.now() + delay;
    pollTimer = setTimeout(() => {
      pollTimer = null;
      dueAt = Number.POSITIVE_INFINITY;
      // Early, for lone jobs whose launch their output showed (it asks Slurm nothing, whatever else is
      // active), and for a job starting on its own: a look at it alone; otherwise at all jobs.
      const launches = launchedLone();
      const alone = startingAlone();
      if (launches.length > 0) {
        void look(async () => {
          for (const id of launches) await applyLaunch(id);
        });
      } else if (alone) {
        lookedAlone.add(alone);
        void look(() => (launched.has(alone) ? applyLaunch(alone) : lookAtStart(alone)));
      } else void poll();
    }, delay);
    // unref: polling alone must not keep the provider alive.
    pollTimer.unref();
  };

  /** The job that is starting, when it is the only active job, no submission is under way, and it has not had its look yet. */
  const startingAlone = (): string | null => {
    if (starting.size !== 1) return null;
    const [id] = starting;
    if (lookedAlone.has(id!) || (options.submitting?.() ?? 0) > 0) return null;
    let active = 0;
    for (const job of jobs.values()) {
      if (!isFinalState(job.record.state) && job.record.slurmJobId !== null && ++active > 1) return null;
    }
    return id!;
  };

  /** Waiting jobs of their own (not array tasks) that a new output file showed launched: RUNNING without asking Slurm. */
  const launchedLone = (): string[] =>
    [...launched].filter((id) => {
      const record = jobs.get(id)?.record;
      return record !== undefined && record.state === 'IN_QUEUE' && record.array === null && record.slurmJobId !== null;
    });

  /** When the next look is: at once for launched lone jobs and a job starting alone, else when the next look at all jobs is due. */
  const nextLookAt = () => (launchedLone().length > 0 || startingAlone() ? Number.NEGATIVE_INFINITY : fullDueAt);

  /** A waiting job's files appeared: it is starting, so look now if it is alone. */
  const soon = (jobId: string, file: string | null = null) => {
    if (!running || jobs.get(jobId)?.record.state !== 'IN_QUEUE') return;
    // Only a file that was not there when the watch began: what was there may be an earlier run's (a requeued job).
    if (file !== null && OUTPUT_FILE.test(file) && fresh.has(jobId)) launched.add(jobId);
    if (!starting.has(jobId)) logger().debug({ jobId, file, launched: launched.has(jobId) }, 'a waiting job’s directory changed');
    starting.add(jobId);
    if (polling) return;
    const at = nextLookAt();
    if (at < dueAt) arm(at - performance.now());
  };

  /** Watch the directories of the jobs that wait, and only theirs. */
  const watchWaiting = () => {
    for (const id of lookedAlone) if (jobs.get(id)?.record.state !== 'IN_QUEUE') lookedAlone.delete(id);
    for (const [id, watcher] of watchers) {
      const job = jobs.get(id);
      if (job && job.record.state === 'IN_QUEUE') continue;
      watcher.close();
      watchers.delete(id);
      fresh.delete(id);
      launched.delete(id);
    }
    for (const job of jobs.values()) if (job.record.state === 'IN_QUEUE' && job.record.slurmJobId !== null) void watchJob(job);
  };

  /** Jobs whose watch is being set up, until it is. */
  const settingUp = new Map<string, Promise<void>>();

  /**
   * Watch a waiting job's directory. Read before the watch is set and after: output there before
   * is an earlier run's, or a start the watch missed (Slurm is asked); a file that appears after
   * the first read, or any in a directory made for the submission just made, is Slurm launching
   * the job now. Resolves once the watch is set (joining a setup under way).
   */
  const watchJob = (job: SlurmJob, { newDirectory = false }: { newDirectory?: boolean } = {}): Promise<void> => {
    const id = job.record.id;
    const under = settingUp.get(id);
    if (under) return under;
    if (!running || watchers.has(id) || watchers.size + settingUp.size >= MAX_WATCHED) return Promise.resolve();
    const setUp = setUpWatch(job, newDirectory).finally(() => settingUp.delete(id));
    settingUp.set(id, setUp);
    return setUp;
  };

  const setUpWatch = async (job: SlurmJob, newDirectory: boolean): Promise<void> => {
    const id = job.record.id;
    const outputIn = async () => (await readdir(job.dir).catch(() => [] as string[])).find((name) => OUTPUT_FILE.test(name)) ?? null;
    // In a directory made for this submission, output already there is its launch (Slurm was quicker than the watch).
    const before = newDirectory ? null : await outputIn();
    if (!running || jobs.get(id)?.record.state !== 'IN_QUEUE') return;
    try {
      // persistent: false: a watch alone must not keep the provider alive.
      const watcher = watch(job.dir, { persistent: false }, (_event, file) => soon(id, file));
      watcher.on('error', () => {
        watcher.close();
        if (watchers.get(id) !== watcher) return;
        watchers.delete(id);
        fresh.delete(id);
        launched.delete(id);
      });
      watchers.set(id, watcher);
    } catch {
      // No directory (yet), or no watches left: the interval finds its start.
      return;
    }
    if (before === null) fresh.add(id);
    // It may have started before the watch was set.
    const after = before ?? (await outputIn());
    if (after !== null) soon(id, before === null ? after : null);
  };

  /** Run a look unless one is under way (then join it); afterwards, set the timer for the next. */
  const look = (work: () => Promise<void>): Promise<void> => {
    if (polling) return polling;
    polling = work()
      .catch((error: unknown) => options.context()?.logger.error({ err: error }, 'poll failed'))
      .finally(() => {
        polling = null;
        if (!running) return;
        watchWaiting();
        arm(nextLookAt() - performance.now());
      });
    return polling;
  };

  /** A look at all jobs; the next is due an interval after it. */
  const poll = (force = false): Promise<void> =>
    look(async () => {
      try {
        await pollOnce(force);
      } finally {
        fullDueAt = performance.now() + intervalMs;
      }
    });

  return {
    poll,
    async refresh() {
      if (polling) return polling;
      if (lastSnapshot && performance.now() - lastSnapshot.at < Math.min(intervalMs, 1_000)) return;
      await poll(true);
    },
    byName: (name) => lastSnapshot?.byName.get(name),
    async start() {
      lastSnapshot = null;
      failedPolls = 0;
      fullDueAt = Number.NEGATIVE_INFINITY;
      starting.clear();
      lookedAlone.clear();
      fresh.clear();
      launched.clear();
      running = true;
      // Jobs that ended while the provider was down reach their final state now.
      await poll(true);
    },
    watch: watchJob,
    async stop() {
      running = false;
      arm(0);
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
      fresh.clear();
      launched.clear();
      await polling;
    },
  };
}
