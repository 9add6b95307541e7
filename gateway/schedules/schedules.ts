/**
 * Schedules: a job specification made into a job at each time of a cron
 * expression in an IANA time zone, until paused or deleted. Every replica
 * sweeps the schedules due by the clock each second; a firing is claimed by
 * the one compare-and-set that moves the schedule to its next time (its
 * version), so of several replicas exactly one makes the job of a tick. A
 * replica that dies between the claim and the job loses that firing (at most
 * once). Missed firings: cron-schedule.ts.
 */
import type { Clock } from '../../shared/clock.js';
import { InvalidInputError, type ErrorBody } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { Viewer } from '../access/auth.js';
import { loadPermittedRecord, recordReads } from '../access/recurring-access.js';
import type { JobSpecificationInput } from '../jobs/job-specification.js';
import { checkTemplate, checkTemplateName, type TemplateJobMaker } from '../jobs/job-templates.js';
import { createDueSweep } from '../jobs/periodic-sweep.js';
import { createRecurring, updateRecurring } from '../store/recurring-update.js';
import type { RecurringRecord, RecurringRecords, Store } from '../store/store.js';
import { decideFiring, nextFireAfter, parseCron, type MissedFiringPolicy } from './cron-schedule.js';

/** One firing, as the schedule remembers it. */
export interface FiringRecord {
  /** The fire time (epoch ms). */
  fireAt: number;
  /** When the job was made. */
  firedAt: number;
  /** A missed firing caught up (RUN_ONCE). */
  catchUp: boolean;
  /** The job it made; null while being made, or when it made none (`error`). */
  jobId: string | null;
  error: ErrorBody | null;
}

export interface ScheduleDoc {
  name: string | null;
  cron: string;
  timeZone: string;
  missedFirings: MissedFiringPolicy;
  catchUpWindowMs: number;
  input: JobSpecificationInput;
  paused: boolean;
  /** Null: it never fires again. */
  nextFireAt: number | null;
  createdAt: number;
  /** Newest first, at most {@link KEPT_FIRINGS}. */
  firings: FiringRecord[];
  /** Fire times dropped as missed (policy SKIP, or beyond the catch-up window). */
  droppedFirings: number;
}

export type ScheduleRecord = RecurringRecord<ScheduleDoc>;

export interface ScheduleInput {
  name?: string | null;
  cron: string;
  timeZone?: string | null;
  missedFirings?: MissedFiringPolicy | null;
  catchUpWindowSeconds?: number | null;
  specification: JobSpecificationInput;
}

export const KEPT_FIRINGS = 20;
/** A firing found this late by a sweep is on time; later, it was missed. */
export const ON_TIME_GRACE_MS = 60_000;
const DEFAULT_CATCH_UP_S = 3_600;
const MAX_CATCH_UP_S = 7 * 86_400;

export interface Schedules {
  create(viewer: Viewer, input: ScheduleInput): Promise<ScheduleRecord>;
  get(viewer: Viewer, id: string): Promise<ScheduleRecord>;
  /** The schedules of a workspace (`project`, else the request's) the viewer may see, oldest first. */
  list(viewer: Viewer, project: string | null | undefined): Promise<ScheduleRecord[]>;
  /** No firing until resumed; a paused schedule stays paused when paused again. */
  pause(viewer: Viewer, id: string): Promise<ScheduleRecord>;
  /** Fires again from its next time after now: nothing is made for the times it was paused. */
  resume(viewer: Viewer, id: string): Promise<ScheduleRecord>;
  delete(viewer: Viewer, id: string): Promise<void>;
  /** The job specification its next firings make (ADMIN); its workspace stays the one it has. */
  updateSpecification(viewer: Viewer, id: string, specification: JobSpecificationInput): Promise<ScheduleRecord>;
  /** One pass over the schedules due (what the timer runs each second). */
  sweep(): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

export function createSchedules(options: {
  store: Store;
  clock: Clock;
  logger: Logger;
  jobs: TemplateJobMaker;
  /** @default 1000; 0: no timer (tests call sweep). */
  intervalMs?: number;
}): Schedules {
  const { store, clock, logger, jobs } = options;
  const records = store.schedules as RecurringRecords<ScheduleDoc>;
  const dueAtOf = (doc: ScheduleDoc) => (doc.paused ? null : doc.nextFireAt);
  const withDue = (record: ScheduleRecord): ScheduleRecord => ({ ...record, dueAt: dueAtOf(record.doc) });

  const changeOwned = async (viewer: Viewer, id: string, change: (record: ScheduleRecord) => ScheduleRecord | null) => {
    await loadPermittedRecord(records, viewer, 'schedule', id, 'ADMIN');
    const stored = await updateRecurring(records, id, (record) => {
      const next = change(record);
      return next && withDue(next);
    });
    if (!stored) throw new InvalidInputError(`Schedule ${id} changed while being changed, or is gone; try again`);
    return stored;
  };

  /** Store what its firing made, in the firing's entry (a pause or resume may have come in between). */
  const recordOutcome = (id: string, fireAt: number, jobId: string | null, error: ErrorBody | null) =>
    updateRecurring(records, id, (record) => ({
      ...record,
      doc: {
        ...record.doc,
        firings: record.doc.firings.map((f) => (f.fireAt === fireAt && f.jobId === null && f.error === null ? { ...f, jobId, error } : f)),
      },
    }));

  const fire = async (record: ScheduleRecord, now: number) => {
    const { doc } = record;
    if (doc.paused || doc.nextFireAt === null) return;
    const cron = parseCron(doc.cron, doc.timeZone, doc.nextFireAt - 1);
    const decision = decideFiring(cron, {
      nextFireAt: doc.nextFireAt,
      now,
      graceMs: ON_TIME_GRACE_MS,
      policy: doc.missedFirings,
      catchUpMs: doc.catchUpWindowMs,
    });
    const firing: FiringRecord | null =
      decision.fireAt === null ? null : { fireAt: decision.fireAt, firedAt: now, catchUp: decision.catchUp, jobId: null, error: null };
    const claimed = withDue({
      ...record,
      version: record.version + 1,
      doc: {
        ...doc,
        nextFireAt: decision.next,
        firings: firing ? [firing, ...doc.firings].slice(0, KEPT_FIRINGS) : doc.firings,
        droppedFirings: doc.droppedFirings + decision.dropped,
      },
    });
    // The claim: exactly one replica moves this version on.
    if (!(await records.put(claimed, record.version))) return;
    if (decision.dropped > 0) logger.info({ scheduleId: record.id, dropped: decision.dropped }, 'missed firings dropped');
    if (!firing) return;
    const outcome = await jobs.make(record.owner, doc.input, { kind: 'schedule', id: record.id });
    await recordOutcome(record.id, firing.fireAt, outcome.ok ? outcome.value.id : null, outcome.ok ? null : outcome.error);
    if (!outcome.ok) logger.info({ scheduleId: record.id, error: outcome.error }, 'a schedule firing made no job');
  };

  const sweeper = createDueSweep({ what: 'schedules', records, clock, logger, intervalMs: options.intervalMs ?? 1_000, limit: 500, step: fire });
  const reads = recordReads(records, 'schedule');

  return {
    async create(viewer, input) {
      const now = clock.now();
      const timeZone = input.timeZone ?? 'UTC';
      const cron = parseCron(input.cron, timeZone, now);
      const catchUpS = input.catchUpWindowSeconds ?? DEFAULT_CATCH_UP_S;
      if (!Number.isInteger(catchUpS) || catchUpS < 0 || catchUpS > MAX_CATCH_UP_S)
        throw new InvalidInputError(`catchUpWindowSeconds is a whole number from 0 to ${MAX_CATCH_UP_S}`);
      checkTemplateName(input.name, 'schedule');
      const { owner, input: specification } = await checkTemplate(store, viewer, input.specification);
      return createRecurring(records, owner, now, dueAtOf, {
        name: input.name ?? null,
        cron: input.cron.trim(),
        timeZone,
        missedFirings: input.missedFirings ?? 'RUN_ONCE',
        catchUpWindowMs: catchUpS * 1000,
        input: specification,
        paused: false,
        nextFireAt: nextFireAfter(cron, now),
        createdAt: now,
        firings: [],
        droppedFirings: 0,
      });
    },
    ...reads,
    pause: (viewer, id) => changeOwned(viewer, id, (record) => (record.doc.paused ? null : { ...record, doc: { ...record.doc, paused: true } })),
    resume: (viewer, id) =>
      changeOwned(viewer, id, (record) => {
        if (!record.doc.paused) return null;
        const now = clock.now();
        const nextFireAt = nextFireAfter(parseCron(record.doc.cron, record.doc.timeZone, now - 1), now);
        return { ...record, doc: { ...record.doc, paused: false, nextFireAt } };
      }),
    async delete(viewer, id) {
      for (;;) {
        const record = await loadPermittedRecord(records, viewer, 'schedule', id, 'ADMIN');
        if (await records.delete(id, record.version)) return;
      }
    },
    async updateSpecification(viewer, id, specification) {
      const current = await loadPermittedRecord(records, viewer, 'schedule', id, 'ADMIN');
      const checked = await checkTemplate(store, viewer, { ...specification, project: current.owner.project });
      return changeOwned(viewer, id, (record) => ({ ...record, doc: { ...record.doc, input: checked.input } }));
    },
    sweep: sweeper.sweep,
    start: sweeper.start,
    stop: sweeper.stop,
  };
}
