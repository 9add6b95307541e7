/**
 * The job book: what every driver keeps about its jobs, written once. It holds
 * each job's record (the fields the gateway observes, plus the driver's own),
 * makes create idempotent by the gateway's job id, applies changes to the
 * record, saves it (when the driver persists records) and emits the change,
 * in the order they were made; it answers lookups once a create under way has
 * settled, and observations for reconciliation.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

import { idSchema, jobStateSchema } from '../../shared/domain.js';
import { InvalidStateError, NotFoundError } from '../../shared/errors.js';
import { isFinalState, type JobState } from '../../shared/job-state-machine.js';
import type { JobObservation } from '../../shared/protocol.js';
import { createSingleFlight } from '../../shared/single-flight.js';
import type { DriverContext, DriverJobChange } from './driver.js';
import { createJobRecordFiles, type JobRecordFiles } from './job-records.js';

/** The fields of a job record that the gateway observes; a driver's record schema extends this. */
export const jobRecordBaseSchema = z.object({
  id: idSchema,
  state: jobStateSchema,
  status: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  startedAt: z.number().nullable(),
  /** When it reached its final state (records saved before this was kept have none). */
  endedAt: z.number().nullable().optional(),
  expiresAt: z.number().nullable(),
});
export type JobRecordBase = z.infer<typeof jobRecordBaseSchema>;

/** Status lines every driver uses, so users read the same words whatever runs their job. */
export const STATUS = {
  terminating: 'Terminating',
  terminated: (reason?: string | null) => (reason ? `Your job has been terminated (${reason})` : 'Your job has been terminated'),
  expired: 'The job reached the end of its time allocation',
  suspended: 'Job suspended',
  resumed: 'Job resumed',
  finished: (exitCode: number) => `Job finished with exit code ${exitCode}`,
} as const;

/** One job as the driver holds it: the record that is saved, beside whatever lives only in memory. */
export interface BookEntry<R extends JobRecordBase> {
  record: R;
}

export interface JobBookOptions<R extends JobRecordBase, E extends BookEntry<R>> {
  /** The driver's context once started (emit, clock, logger). */
  context: () => DriverContext;
  /** Save records as files in this folder, so the driver finds its jobs after a restart; omit to keep them in memory. */
  files?: { dir: () => string; schema: z.ZodType<R> };
  /** The backend's id of the job, or null until it has one. @default record.providerGeneratedId */
  providerGeneratedId?: (entry: E) => string | null;
  /** What an observation says beyond the record (a live queue position in the status, say). */
  observe?: (entry: E) => Partial<JobObservation>;
  /** What else a change writes into the record, in fields of the driver's own (a usage total, say). */
  apply?: (record: R, update: DriverJobChange) => void;
  /**
   * Whether a launch that threw left nothing at the backend, so that its entry goes and a
   * corrected retry may run. @default the job is IN_QUEUE and has no backend id
   */
  leftNothing?: (entry: E) => boolean;
}

export interface JobBook<R extends JobRecordBase, E extends BookEntry<R>> {
  get(jobId: string): E | undefined;
  /** Add or replace an entry (a record read back at start, say) without saving or emitting. */
  set(entry: E): void;
  delete(jobId: string): void;
  values(): IterableIterator<E>;
  readonly size: number;
  clear(): void;
  /**
   * Create a job once: a known id answers what the first create made, concurrent creates of one
   * id share one launch, and a launch that throws before the backend knows the job leaves
   * nothing behind, so that a corrected retry may run.
   */
  create(jobId: string, launch: () => Promise<E>): Promise<{ providerGeneratedId: string | null }>;
  /** The job, once any create of it under way has settled; NOT_FOUND when the backend does not know it. */
  lookup(jobId: string): Promise<E>;
  /** Resolves once any create of the job under way has settled, whatever its outcome. */
  createSettled(jobId: string): Promise<void>;
  /** Apply a change to the record, save the record and emit the change, in the order of the calls. */
  change(entry: E, update: DriverJobChange): void;
  /** Save the record as it is now, emitting nothing. */
  save(entry: E): Promise<void>;
  /** Resolves when the job's saves so far are on disk. */
  saved(jobId: string): Promise<void>;
  /** Resolves when every save and every create under way has settled. */
  flush(): Promise<void>;
  /** Every record saved in the folder (empty without files). */
  readAll(): Promise<R[]>;
  /** One job's saved record: null when there is none, `{ record: null }` when its file does not read as a record. */
  readSaved(jobId: string): Promise<{ record: R | null } | null>;
  /** Forget a job the backend never took: its entry, and its saved record once the saves under way are done. */
  discard(jobId: string): Promise<void>;
  /** What the driver knows of a job, for the gateway's reconciliation. */
  observe(jobId: string): JobObservation;
}

/** Throw INVALID_STATE unless the job is in `allowed`. */
export function requireState(record: JobRecordBase, allowed: JobState, action: string): void {
  if (record.state !== allowed) throw new InvalidStateError(record.id, `Cannot ${action} job ${record.id}: it is ${record.state}, not ${allowed}`);
}

/** Throw INVALID_STATE when the job has ended or is being stopped. */
export function requireActive(record: JobRecordBase, action: string): void {
  if (isFinalState(record.state) || record.state === 'CANCELING') {
    throw new InvalidStateError(record.id, `Cannot ${action} job ${record.id}: it is ${record.state}`);
  }
}

/** Throw INVALID_STATE when the job has ended. */
export function requireNotEnded(record: JobRecordBase): void {
  if (isFinalState(record.state)) throw new InvalidStateError(record.id, `Job ${record.id} has already ended (${record.state})`);
}

/** An observation of a job the driver has never heard of. */
export function unknownJob(jobId: string): JobObservation {
  return { id: jobId, state: null, status: null, exitCode: null, startedAt: null, expiresAt: null, providerGeneratedId: null };
}

export function createJobBook<R extends JobRecordBase, E extends BookEntry<R> = BookEntry<R>>(options: JobBookOptions<R, E>): JobBook<R, E> {
  const entries = new Map<string, E>();
  const creating = createSingleFlight<{ providerGeneratedId: string | null }>();
  const providerGeneratedId =
    options.providerGeneratedId ?? ((entry: E) => (entry.record as { providerGeneratedId?: string | null }).providerGeneratedId ?? null);
  const leftNothing = options.leftNothing ?? ((entry: E) => entry.record.state === 'IN_QUEUE' && providerGeneratedId(entry) === null);
  /** Where job-records.ts keeps a job's record. */
  const recordPath = (jobId: string) => join(options.files!.dir(), `${jobId}.json`);
  const files: JobRecordFiles<R> | null = options.files
    ? createJobRecordFiles({ dir: options.files.dir, schema: options.files.schema, logger: () => safeContext()?.logger })
    : null;

  function safeContext(): DriverContext | null {
    try {
      return options.context();
    } catch {
      return null;
    }
  }

  const save = (entry: E): Promise<void> => (files ? files.save(entry.record) : Promise.resolve());

  return {
    get: (jobId) => entries.get(jobId),
    set(entry) {
      entries.set(entry.record.id, entry);
    },
    delete(jobId) {
      entries.delete(jobId);
    },
    values: () => entries.values(),
    get size() {
      return entries.size;
    },
    clear() {
      entries.clear();
    },

    async create(jobId, launch) {
      const known = entries.get(jobId);
      if (known) return { providerGeneratedId: providerGeneratedId(known) };
      return creating.run(jobId, async () => {
        try {
          const entry = await launch();
          entries.set(jobId, entry);
          return { providerGeneratedId: providerGeneratedId(entry) };
        } catch (error) {
          const partial = entries.get(jobId);
          if (partial && leftNothing(partial)) entries.delete(jobId);
          throw error;
        }
      });
    },

    async lookup(jobId) {
      await creating.settled(jobId);
      const entry = entries.get(jobId);
      if (!entry) throw new NotFoundError('Job', jobId);
      return entry;
    },
    createSettled: (jobId) => creating.settled(jobId),

    change(entry, update) {
      const { record } = entry;
      if (update.state) record.state = update.state;
      // Reconciliation charges a job whose end only it saw up to this moment, not to when it looked.
      if (update.state && isFinalState(update.state)) record.endedAt ??= options.context().clock.now();
      if (update.status !== undefined) record.status = update.status;
      if (update.exitCode !== undefined) record.exitCode = update.exitCode;
      if (update.startedAt !== undefined) record.startedAt = update.startedAt;
      if (update.expiresAt !== undefined) record.expiresAt = update.expiresAt;
      options.apply?.(record, update);
      void save(entry);
      options.context().emit(record.id, update);
    },

    save,
    saved: (jobId) => files?.saved(jobId) ?? Promise.resolve(),
    async flush() {
      await creating.allSettled();
      await files?.flush();
    },
    readAll: () => files?.readAll() ?? Promise.resolve([]),
    async readSaved(jobId) {
      if (!options.files) return null;
      const text = await readFile(recordPath(jobId), 'utf8').catch(() => null);
      if (text === null) return null;
      let value: unknown = null;
      try {
        value = JSON.parse(text);
      } catch {
        // Not JSON: no record, though the file is there.
      }
      const parsed = options.files.schema.safeParse(value);
      return { record: parsed.success ? parsed.data : null };
    },
    async discard(jobId) {
      entries.delete(jobId);
      if (!files) return;
      await files.saved(jobId);
      await rm(recordPath(jobId), { force: true });
    },

    observe(jobId) {
      const entry = entries.get(jobId);
      if (!entry) return unknownJob(jobId);
      const { record } = entry;
      return {
        id: jobId,
        state: record.state,
        status: record.status,
        exitCode: record.exitCode,
        startedAt: record.startedAt,
        ...(record.endedAt != null ? { endedAt: record.endedAt } : {}),
        expiresAt: record.expiresAt,
        providerGeneratedId: providerGeneratedId(entry),
        ...options.observe?.(entry),
      };
    },
  };
}
