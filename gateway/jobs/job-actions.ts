/**
 * What a user does to jobs it may change: terminate, suspend, resume and
 * extend, in bulk. Each item is checked at the gateway (state, the product's
 * support, the time limit, credits to resume), then each provider is called once with its share;
 * a job still waiting at the gateway is ended here, as no provider has it.
 */
import type { Clock } from '../../shared/clock.js';
import type { Job } from '../../shared/domain.js';
import { InvalidInputError, InvalidStateError, must, UnsupportedError } from '../../shared/errors.js';
import { isFinalState } from '../../shared/job-state-machine.js';
import type { Viewer } from '../access/auth.js';
import { loadPermitted, type Permission } from '../access/job-access.js';
import { itemError } from '../registry/provider-client.js';
import type { ProviderRegistry } from '../registry/provider-registry.js';
import type { PlacementContext } from '../routing/placement.js';
import type { Store } from '../store/store.js';
import { checkBulk, failed, type ItemOutcome } from './bulk.js';
import type { ChangeJob } from './job-changes.js';
import { durationInputToMs, formatDuration, type DurationInput } from './job-specification.js';
import type { WaitingRoom } from './waiting-room.js';

export interface JobActions {
  /** `reason`: why, for the job's final status (a reclaim says so); none: the user's own. */
  terminateJobs(viewer: Viewer, ids: string[], reason?: string): Promise<ItemOutcome<true>[]>;
  extendJobs(viewer: Viewer, items: { jobId: string; requestedTime: DurationInput }[]): Promise<ItemOutcome<true>[]>;
  suspendJobs(viewer: Viewer, ids: string[]): Promise<ItemOutcome<true>[]>;
  unsuspendJobs(viewer: Viewer, ids: string[]): Promise<ItemOutcome<true>[]>;
}

const NOT_STARTED = 'Your job has been terminated before it started';

/**
 * Whether the job was terminated (by a user, or for want of credits) rather than left to end
 * by itself: it passed through CANCELING, or was ended while it still waited to start.
 */
export function wasTerminated(job: Job): boolean {
  return job.updates.some((update) => update.state === 'CANCELING' || update.status === NOT_STARTED);
}

export function createJobActions(options: {
  store: Store;
  registry: ProviderRegistry;
  waitingRoom: WaitingRoom;
  change: ChangeJob;
  clock: Clock;
  /** Throws INSUFFICIENT_FUNDS when the owner cannot pay for the product (no accounts: anyone can). */
  requireFunds?: PlacementContext['requireFunds'];
}): JobActions {
  const { store, registry, waitingRoom, change, clock, requireFunds } = options;
  const productOf = (job: Job) => registry.product(job.providerId, job.specification.product.id);

  /**
   * Run one bulk verb: load and check each job, call each provider once with
   * its share, and map the per-item replies back in order.
   */
  const bulkJobVerb = async (
    viewer: Viewer,
    ids: string[],
    verb: 'jobs.terminate' | 'jobs.suspend' | 'jobs.unsuspend',
    /** What the viewer must hold on each job (job-access.ts): terminating is ADMIN, the rest EDIT. */
    needed: Permission,
    check: (job: Job) => void | Promise<void>,
    /** Ends an item at the gateway when it answers true (no provider call for it). */
    handled?: (job: Job) => Promise<boolean>,
    /** Told to the provider with the terminate, for the job's final status. */
    reason?: string,
  ): Promise<ItemOutcome<true>[]> => {
    checkBulk(ids.length);
    const results: ItemOutcome<true>[] = new Array(ids.length);
    const byProvider = new Map<string, { index: number; job: Job }[]>();
    await Promise.all(
      ids.map(async (id, index) => {
        try {
          const job = await loadPermitted(store, viewer, id, needed);
          await check(job);
          if (handled && (await handled(job))) {
            results[index] = { ok: true, value: true };
            return;
          }
          const list = byProvider.get(job.providerId) ?? [];
          list.push({ index, job });
          byProvider.set(job.providerId, list);
        } catch (error) {
          results[index] = failed(error);
        }
      }),
    );
    await Promise.all(
      [...byProvider].map(async ([providerId, items]) => {
        try {
          const reply = await registry.require(providerId).client.call(verb, { ids: items.map((i) => i.job.id), ...(reason ? { reason } : {}) });
          items.forEach((item, k) => {
            const answer = reply.results[k];
            results[item.index] = answer?.ok ? { ok: true, value: true } : failed(itemError(providerId, answer));
          });
        } catch (error) {
          for (const item of items) results[item.index] = failed(error);
        }
      }),
    );
    return results;
  };

  return {
    async terminateJobs(viewer, ids, reason) {
      const notStarted = reason ? `${NOT_STARTED} (${reason})` : NOT_STARTED;
      const queued = new Map<number, Job>();
      const results = await bulkJobVerb(
        viewer,
        ids,
        'jobs.terminate',
        'ADMIN',
        (job) => {
          if (isFinalState(job.state)) throw new InvalidStateError(job.id, `Job ${job.id} has already ended (${job.state})`);
        },
        // A job still waiting at the gateway ends here: no provider has it.
        async (job) => {
          if (job.state !== 'IN_QUEUE') return false;
          if (await waitingRoom.cancel(job, notStarted)) return true;
          queued.set(ids.indexOf(job.id), job);
          return false;
        },
        reason,
      );
      // A queued job its provider does not have (its create is still on the way) ends here too: the
      // provider refuses a create of a job it was asked to terminate before it had it.
      await Promise.all(
        [...queued].map(async ([index, job]) => {
          const result = must(results[index], `the outcome of job ${job.id}`);
          if (result.ok || result.error.code !== 'NOT_FOUND') return;
          const outcome = await change(job.id, { state: 'SUCCESS', status: notStarted, expectStates: ['IN_QUEUE'], timestamp: clock.now() }, job);
          if (outcome.kind === 'applied') results[index] = { ok: true, value: true };
        }),
      );
      return results;
    },

    suspendJobs(viewer, ids) {
      return bulkJobVerb(viewer, ids, 'jobs.suspend', 'EDIT', (job) => {
        const product = productOf(job);
        if (product && !product.support.suspension) throw new UnsupportedError(`${job.providerId}/${product.id} does not support suspension`);
        if (job.state !== 'RUNNING' && job.state !== 'IN_QUEUE')
          throw new InvalidStateError(job.id, `Only a running or queued job can be suspended; job ${job.id} is ${job.state}`);
      });
    },

    unsuspendJobs(viewer, ids) {
      return bulkJobVerb(viewer, ids, 'jobs.unsuspend', 'EDIT', async (job) => {
        if (job.state !== 'SUSPENDED') throw new InvalidStateError(job.id, `Only a suspended job can be resumed; job ${job.id} is ${job.state}`);
        // A VM suspended for want of credits would be suspended again by the next charge: it waits for a top-up.
        const product = productOf(job);
        if (product) await requireFunds?.(job.owner, product, job.providerId);
      });
    },

    async extendJobs(viewer, items) {
      checkBulk(items.length);
      return Promise.all(
        items.map(async (item): Promise<ItemOutcome<true>> => {
          try {
            const addMs = durationInputToMs(item.requestedTime, 'requestedTime');
            const job = await loadPermitted(store, viewer, item.jobId, 'EDIT');
            if (isFinalState(job.state)) throw new InvalidStateError(job.id, `Job ${job.id} has already ended (${job.state})`);
            const product = productOf(job);
            if (product && !product.support.timeExtension)
              throw new UnsupportedError(`${job.providerId}/${product.id} does not support extending jobs`);
            const max = product?.support.maxTimeAllocationMs ?? null;
            const allocated = (job.specification.timeAllocationMs ?? 0) + job.updates.reduce((sum, u) => sum + (u.newTimeAllocation ?? 0), 0);
            if (max !== null && allocated + addMs > max) {
              throw new InvalidInputError(`Extending by ${formatDuration(addMs)} would exceed the maximum time allocation of ${formatDuration(max)}`);
            }
            const reply = await registry.require(job.providerId).client.call('jobs.extend', { items: [{ id: job.id, addMs }] });
            const answer = reply.results[0];
            if (!answer?.ok) throw itemError(job.providerId, answer);
            await change(
              job.id,
              {
                expiresAt: answer.expiresAt ?? undefined,
                newTimeAllocation: addMs,
                status: `Time allocation extended by ${formatDuration(addMs)}`,
                timestamp: clock.now(),
              },
              job,
            );
            return { ok: true, value: true };
          } catch (error) {
            return failed(error);
          }
        }),
      );
    },
  };
}
