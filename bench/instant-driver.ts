/**
 * A driver that accepts every job at once and runs nothing: create emits
 * RUNNING and nothing else. With it the bench measures the gateway, NATS,
 * JetStream and Redis, not a backend.
 */
import type { Driver, DriverContext, DriverJobChange } from '../providers/sdk/driver.js';
import { computeSupport, type Manifest, type Product, type Utilization } from '../shared/domain.js';
import { NotFoundError, UnsupportedError } from '../shared/errors.js';
import type { CreateJob, JobObservation } from '../shared/protocol.js';

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

export interface InstantDriver extends Driver {
  /** Report a change of a job through the runtime, as a real driver would when its backend moves. */
  emit(jobId: string, change: DriverJobChange): void;
  /** Jobs accepted so far. */
  readonly accepted: number;
}

interface InstantJob {
  state: 'RUNNING' | 'SUCCESS';
  startedAt: number;
}

export function createInstantDriver(): InstantDriver {
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
      const startedAt = context().clock.now();
      jobs.set(job.id, { state: 'RUNNING', startedAt });
      context().emit(job.id, { state: 'RUNNING', startedAt });
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
