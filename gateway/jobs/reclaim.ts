/**
 * Reclaim: a project's job that finds no room on a provider where the project
 * has a virtual cluster gets its guarantee back from the workspaces borrowing
 * it — their newest borrowed jobs are terminated through the normal terminate
 * path, saying why, and the job waits at the gateway for the room they free
 * (the waiting room sends it once the provider reports room). Which jobs is
 * routing/virtual-clusters.ts's decision; the policy is docs/TENANCY.md's.
 *
 * Reclaims run one at a time on a replica, and a job stopped for one waiting
 * job is not counted again for another, so two jobs owed room do not both
 * count the same victims; replicas do not share this, so two replicas may
 * stop a little more than needed.
 */
import type { Clock } from '../../shared/clock.js';
import type { Job, Product } from '../../shared/domain.js';
import { isFinalState } from '../../shared/job-state-machine.js';
import type { Logger } from '../../shared/logger.js';
import type { QuotaSubject } from '../routing/quota-gate.js';
import { amountsOf, counterField, QUOTA_RESOURCES, workspaceOf, type ResourceAmounts } from '../routing/quota-rules.js';
import {
  chooseReclaim,
  clusterOf,
  guaranteeName,
  providerCell,
  reclaimReason,
  type Holder,
  type VirtualClusterRecord,
} from '../routing/virtual-clusters.js';
import type { Store } from '../store/store.js';
import type { ItemOutcome } from './bulk.js';

/** How long a job owed its guarantee waits at the gateway for reclaimed room, at least (its scheduleTimeout if longer). */
export const RECLAIM_WAIT_S = 300;
/**
 * A stopped job that ended this recently freed room its provider may not have reported yet:
 * the job it was stopped for waits for that report rather than stop more.
 */
const SETTLE_MS = 10_000;

export interface Reclaim {
  /**
   * The job found no room for `product` on `providerId`. When that room is its project's
   * guarantee and others borrow it, stop enough of their newest borrowed jobs and answer the
   * status the job waits with; null when reclaim does not apply (nothing is stopped).
   */
  forJob(subject: Pick<QuotaSubject, 'jobId' | 'owner' | 'replicas'>, providerId: string, product: Product): Promise<string | null>;
  /** The providers where the owner's project has a virtual cluster (where a job of it may reclaim). */
  guaranteedOn(owner: Job['owner']): Promise<Set<string>>;
}

function waitingFor(cluster: VirtualClusterRecord, providerId: string, count: number): string {
  return `Waiting for room on ${providerId}: reclaiming ${guaranteeName(cluster)} from borrowers (${count} ${count === 1 ? 'job' : 'jobs'} stopped)`;
}

export function createReclaim(options: {
  store: Pick<Store, 'listVirtualClusters' | 'activeJobIds' | 'getJobs' | 'readUsage'>;
  clock: Clock;
  logger: Logger;
  /** The normal terminate path, as an administrator, with the reason for the jobs' final status. */
  terminate: (ids: string[], reason: string) => Promise<ItemOutcome<true>[]>;
}): Reclaim {
  const { store, clock, logger, terminate } = options;
  /** Jobs stopped by a reclaim, the job each was stopped for, and when it was seen ended. */
  const stopping = new Map<string, { forJob: string; endedAt: number | null }>();
  let last: Promise<unknown> = Promise.resolve();

  const reclaimOnce = async (subject: Pick<QuotaSubject, 'jobId' | 'owner' | 'replicas'>, providerId: string, product: Product) => {
    const clusters = await store.listVirtualClusters();
    const cluster = clusterOf(clusters, subject.owner, providerId);
    if (!cluster) return null;
    const active = await store.activeJobIds(providerId);
    const jobs = new Map((await store.getJobs(active)).flatMap((job): [string, Job][] => (job && !isFinalState(job.state) ? [[job.id, job]] : [])));
    const now = clock.now();
    for (const [id, entry] of stopping) {
      if (!jobs.has(id)) entry.endedAt ??= now;
      if (entry.endedAt !== null && now - entry.endedAt > SETTLE_MS) stopping.delete(id);
    }
    const settling = [...stopping.values()].filter((entry) => entry.forJob === subject.jobId && entry.endedAt !== null).length;
    if (settling > 0) return waitingFor(cluster, providerId, settling);
    const owner = workspaceOf(subject.owner);
    const workspaces = [...new Set([owner, ...[...jobs.values()].map((job) => workspaceOf(job.owner))])];
    const usages = await store.readUsage(workspaces);
    const cell = providerCell(providerId);
    const inUse = new Map<string, ResourceAmounts>();
    const holders: Holder[] = [];
    usages.forEach((usage, k) => {
      const workspace = workspaces[k]!;
      const amounts = Object.fromEntries(QUOTA_RESOURCES.map((r) => [r, usage.counters[counterField(cell, r)] ?? 0])) as ResourceAmounts;
      for (const lease of usage.leases) {
        if (!lease.cells.includes(cell)) continue;
        // The job's own hold (a new job holds one as it is placed) is what it needs, not what it has.
        if (lease.jobId === subject.jobId) {
          for (const r of QUOTA_RESOURCES) amounts[r] -= lease.amounts[r];
          continue;
        }
        const job = jobs.get(lease.jobId);
        const forOther = stopping.has(lease.jobId) && stopping.get(lease.jobId)!.forJob !== subject.jobId;
        if (job && !forOther) holders.push({ jobId: job.id, workspace, at: lease.at, amounts: lease.amounts, started: job.state !== 'IN_QUEUE' });
      }
      inUse.set(workspace, amounts);
    });
    const mine = new Set([...stopping].filter(([, entry]) => entry.forJob === subject.jobId).map(([id]) => id));
    const answer = chooseReclaim({ cluster, need: amountsOf(product, subject.replicas), inUse, holders, clusters, stopping: mine });
    if (answer.kind === 'none') {
      logger.debug({ jobId: subject.jobId, providerId, why: answer.why }, 'no reclaim');
      return null;
    }
    const ids = answer.victims.map((victim) => victim.jobId);
    for (const id of ids) stopping.set(id, { forJob: subject.jobId, endedAt: null });
    if (ids.length > 0) {
      const outcomes = await terminate(ids, reclaimReason(cluster));
      outcomes.forEach((outcome, k) => {
        if (!outcome.ok) logger.warn({ jobId: ids[k], error: outcome.error }, 'a reclaimed job could not be stopped');
      });
      logger.info({ jobId: subject.jobId, providerId, stopped: ids }, 'reclaimed a guarantee');
    }
    return waitingFor(cluster, providerId, ids.length + answer.pending);
  };

  return {
    forJob(subject, providerId, product) {
      if (!subject.owner.project) return Promise.resolve(null);
      const run = last.then(() => reclaimOnce(subject, providerId, product));
      last = run.catch(() => undefined);
      return run;
    },
    async guaranteedOn(owner) {
      if (!owner.project) return new Set();
      const clusters = await store.listVirtualClusters();
      return new Set(clusters.filter((c) => c.project === owner.project).map((c) => c.provider));
    },
  };
}
