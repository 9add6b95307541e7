/**
 * Services: a job specification kept running. Each run is a job made through
 * the normal submission path; when it ends in any way but being terminated,
 * the next run is made after a delay that grows with the runs that ended soon
 * in a row (restart-backoff.ts), until the service is stopped. A run whose job
 * was terminated (it passed through CANCELING: terminateJobs, or no credits)
 * stops the service. Every replica sweeps the services each second; each step
 * (a run ended, a run is being made, a run was made) is one compare-and-set on
 * the service's version, so one replica takes it. A replica that dies while
 * making a run holds it only until `startingUntil`; then another makes it.
 */
import type { Clock } from '../../shared/clock.js';
import type { Job, JobState } from '../../shared/domain.js';
import { InvalidInputError, type ErrorBody } from '../../shared/errors.js';
import { isFinalState } from '../../shared/job-state-machine.js';
import type { Logger } from '../../shared/logger.js';
import type { Viewer } from '../access/auth.js';
import { loadPermittedRecord, recordReads } from '../access/recurring-access.js';
import type { ItemOutcome } from '../jobs/bulk.js';
import type { JobSpecificationInput } from '../jobs/job-specification.js';
import { checkTemplate, checkTemplateName, type TemplateJobMaker } from '../jobs/job-templates.js';
import { createDueSweep } from '../jobs/periodic-sweep.js';
import { createRecurring, updateRecurring } from '../store/recurring-update.js';
import type { RecurringRecord, RecurringRecords, Store } from '../store/store.js';
import { failuresAfter, restartDelay, type RestartBackoff } from './restart-backoff.js';

/** One run: a job of the service, or the attempt that made none. */
export interface ServiceRun {
  jobId: string | null;
  /** When it was made. */
  createdAt: number;
  /** The wait before it (0 for the first run). */
  delayMs: number;
  /** When the gateway saw its job end; null while it runs. */
  endedAt: number | null;
  state: JobState | null;
  exitCode: number | null;
  error: ErrorBody | null;
}

export interface ServiceDoc {
  name: string | null;
  input: JobSpecificationInput;
  state: 'RUNNING' | 'STOPPED';
  stoppedReason: string | null;
  backoff: RestartBackoff;
  currentJobId: string | null;
  /** Runs in a row that ended soon (within backoff.resetAfterMs): the exponent of the next delay. */
  failures: number;
  /** Runs made after the first. */
  restarts: number;
  /** When the next run is made; null while one runs. */
  nextStartAt: number | null;
  /** A replica is making a run until then (epoch ms); past it, that replica is taken to have died. */
  startingUntil: number | null;
  createdAt: number;
  /** Newest first, at most {@link KEPT_RUNS}. */
  runs: ServiceRun[];
}

export type ServiceRecord = RecurringRecord<ServiceDoc>;

export interface ServiceInput {
  name?: string | null;
  specification: JobSpecificationInput;
  backoff?: {
    initialDelaySeconds?: number | null;
    maxDelaySeconds?: number | null;
    factor?: number | null;
    resetAfterSeconds?: number | null;
  } | null;
}

export const KEPT_RUNS = 20;
const DEFAULT_BACKOFF = { initialDelaySeconds: 10, maxDelaySeconds: 300, factor: 2, resetAfterSeconds: 600 };
const MAX_DELAY_S = 86_400;
/** How long a replica holds a service while it makes a run (a create and its failover). */
const STARTING_HOLD_MS = 60_000;

export interface Services {
  /** Makes its first run at once. */
  create(viewer: Viewer, input: ServiceInput): Promise<ServiceRecord>;
  get(viewer: Viewer, id: string): Promise<ServiceRecord>;
  list(viewer: Viewer, project: string | null | undefined): Promise<ServiceRecord[]>;
  /** No run after this; its current run's job is terminated. Stopping a stopped service changes nothing. */
  stopService(viewer: Viewer, id: string): Promise<ServiceRecord>;
  /** The job specification its next runs make (ADMIN); the run going on keeps its own. Its workspace stays the one it has. */
  updateSpecification(viewer: Viewer, id: string, specification: JobSpecificationInput): Promise<ServiceRecord>;
  sweep(): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

function checkBackoff(input: ServiceInput['backoff']): RestartBackoff {
  const given = { ...DEFAULT_BACKOFF, ...Object.fromEntries(Object.entries(input ?? {}).filter(([, v]) => v != null)) };
  const { initialDelaySeconds, maxDelaySeconds, factor, resetAfterSeconds } = given;
  for (const [name, value] of Object.entries({ initialDelaySeconds, maxDelaySeconds, resetAfterSeconds })) {
    if (!Number.isInteger(value) || value < 0 || value > MAX_DELAY_S)
      throw new InvalidInputError(`backoff.${name} is a whole number from 0 to ${MAX_DELAY_S}`);
  }
  if (maxDelaySeconds < initialDelaySeconds) throw new InvalidInputError('backoff.maxDelaySeconds is at least initialDelaySeconds');
  if (!Number.isFinite(factor) || factor < 1 || factor > 10) throw new InvalidInputError('backoff.factor is from 1 to 10');
  return { initialMs: initialDelaySeconds * 1000, maxMs: maxDelaySeconds * 1000, factor, resetAfterMs: resetAfterSeconds * 1000 };
}

/** When a sweep has to look at the service: while a run is on, every sweep (to see it end). */
function dueAtOf(doc: ServiceDoc): number | null {
  if (doc.state === 'STOPPED') return null;
  if (doc.startingUntil !== null) return doc.startingUntil;
  return doc.nextStartAt ?? doc.runs[0]?.createdAt ?? doc.createdAt;
}

const withDue = (record: ServiceRecord): ServiceRecord => ({ ...record, dueAt: dueAtOf(record.doc) });

export function createServices(options: {
  store: Store;
  clock: Clock;
  logger: Logger;
  jobs: TemplateJobMaker;
  terminateJobs(viewer: Viewer, ids: string[]): Promise<ItemOutcome<true>[]>;
  viewerByName(username: string): Promise<Viewer | null>;
  /** @default 1000; 0: no timer (tests call sweep). */
  intervalMs?: number;
}): Services {
  const { store, clock, logger, jobs } = options;
  const records = store.services as RecurringRecords<ServiceDoc>;

  /** Compare-and-set from `record`; false when another replica changed it first. */
  const swap = (record: ServiceRecord, doc: ServiceDoc) => records.put(withDue({ ...record, version: record.version + 1, doc }), record.version);

  const terminateFor = async (owner: Job['owner'], jobId: string, viewer?: Viewer) => {
    const actor = viewer ?? (await options.viewerByName(owner.createdBy));
    if (actor) await options.terminateJobs(actor, [jobId]);
  };

  /** Make the next run: claimed first, so only one replica makes it. */
  const makeRun = async (record: ServiceRecord, now: number) => {
    const claim = { ...record.doc, startingUntil: now + STARTING_HOLD_MS };
    if (!(await swap(record, claim))) return;
    const first = record.doc.runs.length === 0;
    const delayMs = first ? 0 : Math.max(0, (record.doc.nextStartAt ?? now) - (record.doc.runs[0]?.endedAt ?? now));
    const outcome = await jobs.make(record.owner, record.doc.input, { kind: 'service', id: record.id });
    const run: ServiceRun = {
      jobId: outcome.ok ? outcome.value.id : null,
      createdAt: now,
      delayMs,
      endedAt: outcome.ok ? null : now,
      state: null,
      exitCode: null,
      error: outcome.ok ? null : outcome.error,
    };
    let stoppedMeanwhile = false;
    await updateRecurring(records, record.id, (current) => {
      const { doc } = current;
      stoppedMeanwhile = doc.state === 'STOPPED';
      const failures = outcome.ok ? doc.failures : doc.failures + 1;
      return withDue({
        ...current,
        doc: {
          ...doc,
          runs: [run, ...doc.runs].slice(0, KEPT_RUNS),
          restarts: first ? doc.restarts : doc.restarts + 1,
          startingUntil: null,
          currentJobId: outcome.ok && !stoppedMeanwhile ? outcome.value.id : null,
          failures,
          // A run that could not be made is tried again after the delay its failure earns.
          nextStartAt: outcome.ok || stoppedMeanwhile ? null : now + restartDelay(doc.failures, doc.backoff),
        },
      });
    });
    // Stopped while this run was being made: it ends at once.
    if (stoppedMeanwhile && outcome.ok) await terminateFor(record.owner, outcome.value.id);
    if (!outcome.ok) logger.info({ serviceId: record.id, error: outcome.error }, 'a service run could not be made');
  };

  /** The current run's job ended: the service stops (terminated) or waits for its next run. */
  const runEnded = async (record: ServiceRecord, job: Job, now: number) => {
    const { doc } = record;
    const terminated = job.updates.some((update) => update.state === 'CANCELING');
    const ranMs = now - (job.startedAt ?? job.createdAt);
    const failures = terminated ? doc.failures : failuresAfter(doc.failures, ranMs, doc.backoff);
    const runs = doc.runs.map((run) => (run.jobId === job.id ? { ...run, endedAt: now, state: job.state, exitCode: job.exitCode } : run));
    await swap(record, {
      ...doc,
      runs,
      currentJobId: null,
      failures,
      ...(terminated
        ? { state: 'STOPPED', stoppedReason: `Its job ${job.id} was terminated`, nextStartAt: null }
        : { nextStartAt: now + restartDelay(Math.max(0, failures - 1), doc.backoff) }),
    });
  };

  const look = async (record: ServiceRecord, now: number) => {
    const { doc } = record;
    if (doc.state !== 'RUNNING') return;
    if (doc.startingUntil !== null && doc.startingUntil > now) return;
    if (doc.currentJobId !== null) {
      const job = await store.getJob(doc.currentJobId);
      if (job && !isFinalState(job.state)) return;
      if (job) await runEnded(record, job, now);
      else await swap(record, { ...doc, currentJobId: null, nextStartAt: now });
      return;
    }
    if ((doc.nextStartAt ?? now) <= now) await makeRun(record, now);
  };

  const sweeper = createDueSweep({ what: 'services', records, clock, logger, intervalMs: options.intervalMs ?? 1_000, limit: 1_000, step: look });
  const reads = recordReads(records, 'service');

  return {
    async create(viewer, input) {
      const now = clock.now();
      const backoff = checkBackoff(input.backoff);
      checkTemplateName(input.name, 'service');
      const { owner, input: specification } = await checkTemplate(store, viewer, input.specification);
      const record = await createRecurring(records, owner, now, dueAtOf, {
        name: input.name ?? null,
        input: specification,
        state: 'RUNNING',
        stoppedReason: null,
        backoff,
        currentJobId: null,
        failures: 0,
        restarts: 0,
        nextStartAt: now,
        startingUntil: null,
        createdAt: now,
        runs: [],
      });
      await makeRun(record, now);
      return (await records.get(record.id)) ?? record;
    },
    ...reads,
    async stopService(viewer, id) {
      await loadPermittedRecord(records, viewer, 'service', id, 'ADMIN');
      let running: string | null = null;
      const stored = await updateRecurring(records, id, (record) => {
        if (record.doc.state === 'STOPPED') return null;
        running = record.doc.currentJobId;
        const doc: ServiceDoc = { ...record.doc, state: 'STOPPED', stoppedReason: `Stopped by ${viewer.username}`, nextStartAt: null };
        return withDue({ ...record, doc });
      });
      if (!stored) throw new InvalidInputError(`Service ${id} changed while being stopped, or is gone; try again`);
      // After the stop is stored, so no sweep takes the job's end for a reason to restart.
      if (running !== null) await terminateFor(stored.owner, running, viewer);
      return stored;
    },
    async updateSpecification(viewer, id, specification) {
      const current = await loadPermittedRecord(records, viewer, 'service', id, 'ADMIN');
      const checked = await checkTemplate(store, viewer, { ...specification, project: current.owner.project });
      const stored = await updateRecurring(records, id, (record) => withDue({ ...record, doc: { ...record.doc, input: checked.input } }));
      if (!stored) throw new InvalidInputError(`Service ${id} changed while being changed, or is gone; try again`);
      return stored;
    },
    sweep: sweeper.sweep,
    start: sweeper.start,
    stop: sweeper.stop,
  };
}
