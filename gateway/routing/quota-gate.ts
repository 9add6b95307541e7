/**
 * Holds jobs to their workspace's quotas: a job takes its hold on the usage
 * counters as it is sent (atomically in the store, whatever number of gateway
 * replicas submit at once) and gives it back when it ends or waits at the
 * gateway again. The waiting room decides on a snapshot of the counters (read
 * once per sweep, grown by each job it sends) and the store checks again as
 * the job takes its hold. What the answers mean for a job is placement.ts's.
 */
import type { Clock } from '../../shared/clock.js';
import type { Job, Product } from '../../shared/domain.js';
import { isFinalState } from '../../shared/job-state-machine.js';
import type { QuotaRecord, Store, UsageCheck, UsageLease, VirtualClusterRecord } from '../store/store.js';
import { decayedValue, expectedCost, FAIR_SHARE_HALF_LIFE_MS, weightOf } from './fair-share.js';
import { lendingClusters, lendingView, lendingWorkspaces, type LendingView } from './lending.js';
import {
  amountsOf,
  cellsOf,
  checksFor,
  counterField,
  firstExceeded,
  QUOTA_RESOURCES,
  quotaReason,
  workspaceOf,
  type ResourceAmounts,
} from './quota-rules.js';
import { borrowingChecks, projectWorkspace } from './virtual-clusters.js';

/** What quotas need to know of a job. */
export interface QuotaSubject {
  jobId: string;
  owner: Job['owner'];
  replicas: number;
  timeAllocationMs: number | null;
}

export function quotaSubjectOf(job: Pick<Job, 'id' | 'owner' | 'specification'>): QuotaSubject {
  return { jobId: job.id, owner: job.owner, replicas: job.specification.replicas, timeAllocationMs: job.specification.timeAllocationMs };
}

export interface QuotaGate {
  /**
   * Take the job's hold on `product` at `providerId` if its quotas allow: null, else the sentence
   * naming the first limit it would pass. `unchecked`: held whatever the limits (a job that may
   * be at that provider already).
   */
  admit(subject: QuotaSubject, providerId: string, product: Product, unchecked?: boolean): Promise<string | null>;
  /** Give the job's hold back (it ended, or waits at the gateway again); nothing when it held none. */
  release(owner: Job['owner'], jobId: string): Promise<void>;
  /** The quotas and counters of these workspaces now, for decisions on many jobs at once. */
  snapshot(workspaces: string[]): Promise<QuotaSnapshot>;
  /**
   * Give back the holds of these workspaces whose job has ended, or was never stored (its replica
   * died between taking the hold and storing the job, or between ending it and giving it back);
   * each workspace at most once per {@link REPAIR_INTERVAL_MS} on this replica. How many were given back.
   */
  repair(workspaces: string[]): Promise<number>;
  /** The virtual clusters' lending limits and what their projects use (routing/lending.ts); null when none lends less than all. */
  lending(): Promise<LendingView | null>;
}

/** How often one replica looks for lost holds of one workspace. */
export const REPAIR_INTERVAL_MS = 10_000;
/** A hold whose job is not stored this long after it was taken was lost with its replica. */
const LOST_AFTER_MS = 60_000;

/** Quotas and counters per workspace, as read once; {@link refusalIn} and {@link takeIn} read and grow it. */
export type QuotaSnapshot = Map<
  string,
  {
    quotas: QuotaRecord[];
    counters: Record<string, number>;
    /** Jobs that hold usage already (counted in `counters`). */
    held: Set<string>;
    /** Decayed fair-share usage now. */
    fairShare: number;
    /** Every virtual cluster (their borrowing limits hold like quotas); none: no borrowing limits. */
    clusters?: VirtualClusterRecord[];
  }
>;

/** Every limit a job must stay within: its workspace's quotas, then its project's borrowing limit on the provider. */
function limitChecks(
  quotas: QuotaRecord[],
  clusters: VirtualClusterRecord[],
  owner: Job['owner'],
  providerId: string,
  category: string,
  amounts: ResourceAmounts,
): { check: UsageCheck; reason: (inUse: number) => string }[] {
  return [
    ...checksFor(quotas, owner, providerId, category, amounts).map(({ check, quota, resource }) => ({
      check,
      reason: (inUse: number) => quotaReason(quota, resource, inUse),
    })),
    ...borrowingChecks(clusters, owner, providerId, amounts),
  ];
}

function leaseOf(subject: QuotaSubject, providerId: string, product: Product, now: number): UsageLease {
  const amounts = amountsOf(product, subject.replicas);
  const weight = weightOf(amounts);
  return {
    jobId: subject.jobId,
    cells: cellsOf(subject.owner, providerId, product.category),
    amounts,
    at: now,
    weight,
    cost: expectedCost(weight, subject.timeAllocationMs),
  };
}

/** Why the snapshot says the job may not go to `product` at `providerId`; null when it may. */
export function refusalIn(snapshot: QuotaSnapshot, subject: QuotaSubject, providerId: string, product: Product): string | null {
  const entry = snapshot.get(workspaceOf(subject.owner));
  if (!entry || entry.held.has(subject.jobId)) return null;
  const checks = limitChecks(entry.quotas, entry.clusters ?? [], subject.owner, providerId, product.category, amountsOf(product, subject.replicas));
  const exceeded = firstExceeded(
    checks.map((c) => c.check),
    entry.counters,
  );
  if (exceeded < 0) return null;
  const { reason, check } = checks[exceeded]!;
  return reason(entry.counters[check.field] ?? 0);
}

/** Count the job in the snapshot, as its hold will in the store. */
export function takeIn(snapshot: QuotaSnapshot, subject: QuotaSubject, providerId: string, product: Product): void {
  const entry = snapshot.get(workspaceOf(subject.owner));
  if (!entry || entry.held.has(subject.jobId)) return;
  entry.held.add(subject.jobId);
  const amounts = amountsOf(product, subject.replicas);
  for (const cell of cellsOf(subject.owner, providerId, product.category)) {
    for (const resource of QUOTA_RESOURCES) {
      const field = counterField(cell, resource);
      entry.counters[field] = (entry.counters[field] ?? 0) + amounts[resource];
    }
  }
}

export function createQuotaGate(
  store: Pick<Store, 'listQuotas' | 'listVirtualClusters' | 'acquireUsage' | 'releaseUsage' | 'readUsage' | 'getJobs'>,
  clock: Clock,
): QuotaGate {
  const repairedAt = new Map<string, number>();
  return {
    async admit(subject, providerId, product, unchecked = false) {
      const workspace = workspaceOf(subject.owner);
      const lease = leaseOf(subject, providerId, product, clock.now());
      const [quotas, clusters] = unchecked ? [[], []] : await Promise.all([store.listQuotas(workspace), store.listVirtualClusters()]);
      const checks = limitChecks(quotas, clusters, subject.owner, providerId, product.category, lease.amounts);
      const outcome = await store.acquireUsage(
        workspace,
        lease,
        checks.map((c) => c.check),
        FAIR_SHARE_HALF_LIFE_MS,
      );
      if (outcome.acquired) return null;
      return checks[outcome.check]!.reason(outcome.inUse);
    },

    async release(owner, jobId) {
      await store.releaseUsage(workspaceOf(owner), jobId, clock.now(), FAIR_SHARE_HALF_LIFE_MS);
    },

    async lending() {
      const clusters = lendingClusters(await store.listVirtualClusters());
      if (clusters.length === 0) return null;
      const workspaces = lendingWorkspaces(clusters);
      const usages = await store.readUsage(workspaces);
      const counters = new Map(workspaces.map((workspace, k) => [workspace, usages[k]!.counters]));
      return lendingView(
        clusters,
        clusters.map((c) => counters.get(projectWorkspace(c.project))!),
      );
    },

    async repair(workspaces) {
      const now = clock.now();
      const due = [...new Set(workspaces)].filter((workspace) => now - (repairedAt.get(workspace) ?? -Infinity) >= REPAIR_INTERVAL_MS);
      if (due.length === 0) return 0;
      for (const workspace of due) repairedAt.set(workspace, now);
      const usages = await store.readUsage(due);
      const holds = usages.flatMap((usage, k) => usage.leases.map((lease) => ({ workspace: due[k]!, lease })));
      const jobs = await store.getJobs(holds.map(({ lease }) => lease.jobId));
      const released = await Promise.all(
        holds.map(({ workspace, lease }, k) => {
          const job = jobs[k];
          const lost = job ? isFinalState(job.state) : now - lease.at > LOST_AFTER_MS;
          return lost ? store.releaseUsage(workspace, lease.jobId, now, FAIR_SHARE_HALF_LIFE_MS) : false;
        }),
      );
      return released.filter(Boolean).length;
    },

    async snapshot(workspaces) {
      const unique = [...new Set(workspaces)];
      const [usages, quotas, clusters] = await Promise.all([
        store.readUsage(unique),
        Promise.all(unique.map((w) => store.listQuotas(w))),
        store.listVirtualClusters(),
      ]);
      const now = clock.now();
      return new Map(
        unique.map((workspace, k) => {
          const usage = usages[k]!;
          const held = new Set(usage.leases.map((lease) => lease.jobId));
          return [workspace, { quotas: quotas[k]!, counters: usage.counters, held, fairShare: decayedValue(usage.fairShare, now), clusters }];
        }),
      );
    },
  };
}
