/**
 * A driver that accepts every job at once and runs nothing: create emits
 * RUNNING and nothing else (or, with `finish`, RUNNING then SUCCESS). With it
 * the bench measures the gateway, NATS, JetStream and Redis, not a backend.
 */
import type { Driver, DriverContext, DriverJobChange } from '../providers/sdk/driver.js';
import { computeSupport, type Manifest, type Product, type Utilization } from '../shared/domain.js';
import { NotFoundError, UnsupportedError } from '../shared/errors.js';
import type { CreateJob, JobObservation } from '../shared/protocol.js';

/** The id the benches give the provider that runs this driver. */
export const INSTANT_PROVIDER_ID = 'instant';

/** Specification names of the jobs the replicas benchmark's provider holds until released (bench/replicas-provider.ts). */
export const HELD_NAME_PREFIX = 'held-';

export const INSTANT_PRODUCT: Product = {
  id: 'bench-instant',
  category: 'bench',
  name: 'Bench instant',
  description: 'Accepts every job at once and runs nothing; for benchmarks',
  cpu: 1,
  memoryInGigs: 1,
  gpu: 0,
  pricePerUnit: 0,
  unitOfPrice: 'CREDITS_PER_MINUTE',
  freeToUse: true,
  priority: 0,
  support: computeSupport({ backend: 'NATIVE', logs: false, utilization: false }),
};

/** The status line a released job reports between RUNNING and SUCCESS: one more change for its followers to see. */
export const HALFWAY_STATUS = 'Bench: halfway';

export interface InstantDriverOptions {
  /** End every job (SUCCESS, exit code 0) right after its RUNNING, so a job's whole life is two events. @default false */
  finish?: boolean;
  /** Jobs that stay IN_QUEUE, emitting nothing, until `release`: followers can attach before they move. @default none */
  hold?: (job: CreateJob) => boolean;
}

export interface InstantDriver extends Driver {
  /** Report a change of a job through the runtime, as a real driver would when its backend moves. */
  emit(jobId: string, change: DriverJobChange): void;
  /** A held job moves: RUNNING, the {@link HALFWAY_STATUS} line, SUCCESS. False if it is not held. */
  release(jobId: string): boolean;
  /** Jobs accepted so far. */
  readonly accepted: number;
}

interface InstantJob {
  state: 'IN_QUEUE' | 'RUNNING' | 'SUCCESS';
  startedAt: number | null;
}

export function createInstantDriver(options: InstantDriverOptions = {}): InstantDriver {
  let ctx: DriverContext | null = null;
  const jobs = new Map<string, InstantJob>();
  const context = (): DriverContext => {
    if (!ctx) throw new Error('the instant driver is not started');
    return ctx;
  };

  return {
    get accepted() {
      return jobs.size;
    },

    emit(jobId, change) {
      context().emit(jobId, change);
    },

    release(jobId) {
      const job = jobs.get(jobId);
      if (job?.state !== 'IN_QUEUE') return false;
      const startedAt = context().clock.now();
      Object.assign(job, { state: 'SUCCESS', startedAt });
      context().emit(jobId, { state: 'RUNNING', startedAt });
      context().emit(jobId, { status: HALFWAY_STATUS });
      context().emit(jobId, { state: 'SUCCESS', exitCode: 0 });
      return true;
    },

    async start(driverContext) {
      ctx = driverContext;
    },

    async manifest(): Promise<Manifest> {
      return { products: [INSTANT_PRODUCT] };
    },

    async utilization(): Promise<Utilization> {
      const zero = { cpu: 0, memoryInGigs: 0, gpu: 0 };
      return {
        capacity: zero,
        usedCapacity: zero,
        queueStatus: { running: 0, pending: 0 },
        observedAt: context().clock.now(),
        // Left out, not 0: "cannot start more" would steer routing away; the instant product has no limit.
        capacityByProduct: {},
      };
    },

    async create(job: CreateJob) {
      // A repeated create of the same id is answered again, never started twice.
      if (jobs.has(job.id)) return { providerGeneratedId: job.id };
      if (options.hold?.(job)) {
        jobs.set(job.id, { state: 'IN_QUEUE', startedAt: null });
        return { providerGeneratedId: job.id };
      }
      const startedAt = context().clock.now();
      jobs.set(job.id, { state: options.finish ? 'SUCCESS' : 'RUNNING', startedAt });
      context().emit(job.id, { state: 'RUNNING', startedAt });
      if (options.finish) context().emit(job.id, { state: 'SUCCESS', exitCode: 0 });
      return { providerGeneratedId: job.id };
    },

    async terminate(jobId) {
      const job = jobs.get(jobId);
      if (!job) throw new NotFoundError('job', jobId);
      if (job.state === 'SUCCESS') return;
      job.state = 'SUCCESS';
      context().emit(jobId, { state: 'SUCCESS', exitCode: 0 });
    },

    async extend() {
      throw new UnsupportedError('The instant provider does not extend jobs');
    },

    async suspend() {
      throw new UnsupportedError('The instant provider does not suspend jobs');
    },

    async unsuspend() {
      throw new UnsupportedError('The instant provider does not suspend jobs');
    },

    async observe(jobId): Promise<JobObservation> {
      const job = jobs.get(jobId);
      return {
        id: jobId,
        state: job?.state ?? null,
        status: null,
        exitCode: job?.state === 'SUCCESS' ? 0 : null,
        startedAt: job?.startedAt ?? null,
        expiresAt: null,
        providerGeneratedId: job ? jobId : null,
      };
    },

    async stop() {
      ctx = null;
    },
  };
}
