/**
 * Jobs that wait at the gateway for capacity (a scheduleTimeout was given and
 * no fitting product had room). Every gateway replica looks at them each
 * second: a job whose deadline passed fails saying so; a job that now fits
 * somewhere is claimed by exactly one replica and sent there. The waiting
 * list lives in the store, so a gateway restart loses none of them.
 */
import type { Clock } from '../shared/clock.js';
import type { Job } from '../shared/domain.js';
import { SwitchyardError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { createSingleFlight } from '../shared/single-flight.js';
import type { ChangeJob } from './job-changes.js';
import { supportRefusal, type JobSpecificationInput } from './job-specification.js';
import { waitingStatus, type createJobSubmission } from './job-submission.js';
import type { ProviderRegistry } from './provider-registry.js';
import { explainNoRoom, hasRoom, planRoute } from './router.js';
import type { Store } from './store/store.js';
import type { UtilizationCache } from './utilization-cache.js';

export interface WaitingRoom {
  start(): void;
  stop(): Promise<void>;
  /** One pass over the waiting jobs (also what the timer runs). */
  sweep(): Promise<void>;
  /** A waiting job the user terminates ends without ever reaching a provider; false when it was not waiting. */
  cancel(job: Job, reason: string): Promise<boolean>;
}

export function createWaitingRoom(options: {
  store: Store;
  registry: ProviderRegistry;
  utilization: UtilizationCache;
  submission: ReturnType<typeof createJobSubmission>;
  change: ChangeJob;
  clock: Clock;
  logger: Logger;
  /** @default 1000 */
  intervalMs?: number;
}): WaitingRoom {
  const { store, registry, utilization, submission, change, clock, logger } = options;
  let timer: NodeJS.Timeout | null = null;
  const sweeps = createSingleFlight<void>();

  const sweepOnce = async () => {
    const waiting = await store.listWaiting();
    for (const record of waiting) {
      const job = await store.getJob(record.jobId);
      if (!job || job.state !== 'IN_QUEUE') {
        await store.takeWaiting(record.jobId);
        continue;
      }
      const input = record.input as JobSpecificationInput;
      const timeout = input.scheduleTimeout ?? 0;
      let plan;
      try {
        plan = planRoute(input.requirements ?? {}, { registry, utilization, refusal: (product, providerId) => supportRefusal(input, product, providerId)?.reason ?? null });
      } catch (error) {
        plan = null;
        if (!(error instanceof SwitchyardError)) throw error;
      }
      const now = clock.now();
      if (now >= record.deadline) {
        if (await store.takeWaiting(job.id)) {
          const why = plan ? explainNoRoom(plan) : 'no product fits any more';
          await change(job.id, { state: 'FAILURE', status: `No capacity became free within the schedule timeout of ${timeout} s: ${why}`, timestamp: now }, job);
        }
        continue;
      }
      if (!plan) continue;
      const roomy = plan.candidates.filter(hasRoom);
      if (roomy.length === 0) {
        const status = waitingStatus(timeout, plan);
        if (job.updates.at(-1)?.status !== status) await change(job.id, { status, timestamp: now }, job);
        continue;
      }
      // Claimed by exactly one replica; the others see it gone.
      if (!(await store.takeWaiting(job.id))) continue;
      const outcome = await submission.placeWaiting(job, input, roomy);
      if (!outcome.ok) logger.info({ jobId: job.id, error: outcome.error }, 'a waiting job could not be placed');
    }
  };

  const sweep = () => sweeps.run('sweep', () => sweepOnce().catch((error: unknown) => logger.warn({ err: error }, 'waiting-room sweep failed')));

  return {
    start() {
      timer = setInterval(() => void sweep(), options.intervalMs ?? 1_000);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await sweeps.allSettled();
    },
    sweep,
    async cancel(job, reason) {
      if (!(await store.takeWaiting(job.id))) return false;
      await change(job.id, { state: 'SUCCESS', status: reason, timestamp: clock.now() }, job);
      return true;
    },
  };
}
