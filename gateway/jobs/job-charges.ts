/**
 * Charging a job when its own events say so (it ended, or it reported its
 * usage), and stopping jobs whose wallet ran dry as their backend allows:
 * processes and containers are terminated, virtual machines suspended (their
 * disks survive). The periodic rounds over running jobs are accounting/charging.ts.
 */
import type { Clock } from '../../shared/clock.js';
import type { Job } from '../../shared/domain.js';
import { InternalError } from '../../shared/errors.js';
import { isFinalState } from '../../shared/job-state-machine.js';
import type { Logger } from '../../shared/logger.js';
import type { Accounting } from '../accounting/accounting.js';
import type { ProviderRegistry } from '../registry/provider-registry.js';
import type { ChargeableJob } from '../store/store.js';
import type { ChangeJob } from './job-changes.js';

export interface JobCharges {
  /** Whether the gateway keeps accounts (embedded gateways in some tests do not). */
  readonly enabled: boolean;
  /**
   * Charge a job up to `at` (a provider's event time: never past what the provider has seen).
   * `final`: the job has ended, and no charging round will charge it again, so a charge that could
   * not be made throws, for the caller to try again (the ledger charges a repeat once).
   */
  chargeNow(job: Job, reportedUnits: number | null, at: number, final?: boolean): Promise<void>;
  /** Stop jobs whose wallet ran dry, as their backend allows. */
  stopForNoCredits(jobs: readonly ChargeableJob[]): Promise<void>;
}

/** When a final job ended: its first final update (what its usage runs up to). */
export function endOf(job: Job, fallback: number): number {
  return job.updates.find((u) => u.state !== null && isFinalState(u.state))?.timestamp ?? fallback;
}

export function createJobCharges(options: {
  registry: ProviderRegistry;
  accounting: Accounting | undefined;
  change: ChangeJob;
  clock: Clock;
  logger: Logger;
}): JobCharges {
  const { registry, accounting, change, clock, logger } = options;

  const stopForNoCredits = async (jobs: readonly ChargeableJob[]) => {
    const byProvider = new Map<string, { terminate: string[]; suspend: string[] }>();
    for (const job of jobs) {
      const product = registry.product(job.providerId, job.specification.product.id);
      const plan = byProvider.get(job.providerId) ?? { terminate: [], suspend: [] };
      if (product?.support.backend === 'VIRTUAL_MACHINE' && product.support.suspension) {
        if (job.state !== 'SUSPENDED') plan.suspend.push(job.id);
      } else if (job.state !== 'CANCELING') {
        plan.terminate.push(job.id);
      }
      byProvider.set(job.providerId, plan);
    }
    await Promise.all(
      [...byProvider].map(async ([providerId, plan]) => {
        const client = registry.get(providerId)?.client;
        if (!client) return;
        if (plan.terminate.length) {
          await client
            .call('jobs.terminate', { ids: plan.terminate, reason: 'No more credits' }, { background: true })
            .catch((err: unknown) => logger.warn({ providerId, err }, 'could not stop jobs out of credits'));
        }
        if (plan.suspend.length) {
          for (const id of plan.suspend)
            await change(id, { status: 'No more credits: suspending the virtual machine (its disk is kept)', timestamp: clock.now() });
          await client
            .call('jobs.suspend', { ids: plan.suspend }, { background: true })
            .catch((err: unknown) => logger.warn({ providerId, err }, 'could not suspend jobs out of credits'));
        }
      }),
    );
  };

  return {
    enabled: accounting !== undefined,
    stopForNoCredits,
    async chargeNow(job, reportedUnits, at, final = false) {
      if (!accounting) return;
      const product = registry.product(job.providerId, job.specification.product.id);
      if (!product) {
        // A provider announced but whose manifest this replica has not loaded yet (it just started): its price comes soon.
        if (final && registry.get(job.providerId) && !registry.get(job.providerId)!.manifest) {
          throw new InternalError(`the price of ${job.providerId}/${job.specification.product.id} is not known yet`);
        }
        return;
      }
      try {
        const charge = await accounting.chargeJob(job, product, reportedUnits, at);
        if (charge.shortfall && !isFinalState(job.state)) await stopForNoCredits([job]);
      } catch (error) {
        if (final) throw error;
        // A failed charge never stops a job: the next round charges the same total.
        logger.warn({ jobId: job.id, err: error }, 'charging a job failed; the next round makes it good');
      }
    },
  };
}
