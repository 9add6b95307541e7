/**
 * Virtual clusters as data, after Kueue's cohorts: a project's guaranteed
 * share of one provider (nominal quota), how far beyond it the project may
 * borrow idle capacity (borrowingLimit), and which borrowed jobs give room
 * back when the owner needs its guarantee (reclaim). Pure: the quota gate
 * enforces the borrowing limit with the quotas, gateway/jobs/reclaim.ts stops
 * the jobs. The policy is written down in docs/TENANCY.md.
 */
import type { Job } from '../../shared/domain.js';
import type { UsageCheck, VirtualClusterRecord } from '../store/store.js';
import { cellOfQuota, counterField, workspaceOfQuota, type ResourceAmounts } from './quota-rules.js';

export type { VirtualClusterRecord } from '../store/store.js';

/** What a virtual cluster guarantees; jobs are not guaranteed (a share of capacity is). */
export const GUARANTEED_RESOURCES = ['cpu', 'memoryInGigs', 'gpu'] as const;
export type GuaranteedResource = (typeof GUARANTEED_RESOURCES)[number];

const EPSILON = 1e-9;

const NOUNS: Record<GuaranteedResource, string> = { cpu: 'CPUs', memoryInGigs: 'GB of memory', gpu: 'GPUs' };

/** The counter cell of everything a workspace (any) holds on one provider. */
export function providerCell(providerId: string): string {
  return cellOfQuota({ project: null, user: null, provider: providerId, category: null });
}

/** The usage key of a project (virtual clusters are projects'). */
export function projectWorkspace(project: string): string {
  return workspaceOfQuota({ project, user: null });
}

/** The virtual cluster of `owner`'s project on `providerId`, if it has one. */
export function clusterOf(clusters: readonly VirtualClusterRecord[], owner: Job['owner'], providerId: string): VirtualClusterRecord | null {
  if (!owner.project) return null;
  return clusters.find((c) => c.project === owner.project && c.provider === providerId) ?? null;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** "the guarantee of project genomics on hpc" as a status line names it. */
export function guaranteeName(cluster: Pick<VirtualClusterRecord, 'project' | 'provider'>): string {
  return `project ${cluster.project}'s guarantee on ${cluster.provider}`;
}

/** The status a reclaimed job ends with (inside the provider's "terminated (…)"). */
export function reclaimReason(cluster: Pick<VirtualClusterRecord, 'project' | 'provider'>): string {
  return `preempted: reclaimed by ${guaranteeName(cluster)}`;
}

/**
 * The borrowing limits a job of `owner` must stay within on `providerId`: one check per limited
 * resource the job holds, on the project's whole use of that provider (guarantee + limit at most).
 */
export function borrowingChecks(
  clusters: readonly VirtualClusterRecord[],
  owner: Job['owner'],
  providerId: string,
  amounts: ResourceAmounts,
): { check: UsageCheck; reason: (inUse: number) => string }[] {
  const cluster = clusterOf(clusters, owner, providerId);
  if (!cluster) return [];
  const cell = providerCell(providerId);
  return GUARANTEED_RESOURCES.filter((r) => cluster.borrowingLimit[r] !== undefined && amounts[r] > 0).map((resource) => {
    const guaranteed = cluster.guaranteed[resource] ?? 0;
    const limit = guaranteed + cluster.borrowingLimit[resource]!;
    return {
      check: { field: counterField(cell, resource), delta: amounts[resource], limit },
      reason: (inUse: number) =>
        `project ${cluster.project}: borrowing limit on ${providerId}: ${round(inUse)} of ${round(limit)} ${NOUNS[resource]} in use ` +
        `(${round(guaranteed)} guaranteed, ${round(cluster.borrowingLimit[resource]!)} borrowable)`,
    };
  });
}

/** One job that holds usage on the provider reclaim looks at. */
export interface Holder {
  jobId: string;
  workspace: string;
  /** When its hold was taken (it was sent): newest are reclaimed first. */
  at: number;
  amounts: ResourceAmounts;
  /** Holds room at the provider (it started); a job queued there frees no room but would take the next. */
  started: boolean;
}

export interface ReclaimQuestion {
  cluster: VirtualClusterRecord;
  /** What the owner's new job needs. */
  need: ResourceAmounts;
  /** Everything each workspace holds on the provider now (the owner's too), by usage key. */
  inUse: ReadonlyMap<string, ResourceAmounts>;
  /** Every job holding usage on the provider, of any workspace. */
  holders: readonly Holder[];
  /** Every virtual cluster on the provider: what each other workspace is guaranteed. */
  clusters: readonly VirtualClusterRecord[];
  /** Jobs stopped by an earlier reclaim and not ended yet: they free room without being stopped again. */
  stopping: ReadonlySet<string>;
  /**
   * What the project's other jobs, waiting for room reclaimed for them on the provider, need there:
   * part of the guarantee is theirs already (the reclaim ledger's claims). None: nothing.
   */
  owed?: ResourceAmounts;
}

export type ReclaimAnswer =
  | { kind: 'none'; why: string }
  /** Stop `victims` (newest first); `pending` more were stopped before and still end. */
  | { kind: 'reclaim'; victims: Holder[]; pending: number };

/**
 * Whether the owner's job is owed room on the provider, and which borrowed jobs give it back:
 * the job must fit in what is left of its project's guarantee (for every guaranteed resource it
 * needs, beside what the project uses there and what its other jobs are reclaiming); the others' jobs are taken newest first, each only while its workspace holds more than
 * its own guarantee of a resource the job needs, until the started ones among them free what the
 * job needs. When all of them would not free enough, nothing is stopped.
 */
export function chooseReclaim(question: ReclaimQuestion): ReclaimAnswer {
  const { cluster, need } = question;
  const owner = projectWorkspace(cluster.project);
  const needed = GUARANTEED_RESOURCES.filter((r) => cluster.guaranteed[r] !== undefined && need[r] > 0);
  if (needed.length === 0) return { kind: 'none', why: 'it needs nothing the guarantee covers' };
  const own = question.inUse.get(owner);
  const beyond = needed.find((r) => (own?.[r] ?? 0) + (question.owed?.[r] ?? 0) + need[r] > cluster.guaranteed[r]! + EPSILON);
  if (beyond) return { kind: 'none', why: `it would pass ${guaranteeName(cluster)} of ${cluster.guaranteed[beyond]} ${NOUNS[beyond]}` };

  const guarantees = new Map(question.clusters.filter((c) => c.provider === cluster.provider).map((c) => [projectWorkspace(c.project), c]));
  const remaining = new Map([...question.inUse].map(([workspace, amounts]) => [workspace, { ...amounts }]));
  const freed: Record<GuaranteedResource, number> = { cpu: 0, memoryInGigs: 0, gpu: 0 };
  const enough = () => needed.every((r) => freed[r] + EPSILON >= need[r]);
  const newestFirst = [...question.holders].sort((a, b) => b.at - a.at || (a.jobId < b.jobId ? 1 : -1));
  const victims: Holder[] = [];
  let pending = 0;
  for (const holder of newestFirst) {
    if (enough()) break;
    if (holder.workspace === owner) continue;
    const use = remaining.get(holder.workspace);
    const guaranteed = guarantees.get(holder.workspace)?.guaranteed ?? {};
    const borrowing = needed.some((r) => holder.amounts[r] > 0 && (use?.[r] ?? 0) > (guaranteed[r] ?? 0) + EPSILON);
    if (!borrowing || !use) continue;
    for (const r of GUARANTEED_RESOURCES) use[r] -= holder.amounts[r];
    if (holder.started) for (const r of GUARANTEED_RESOURCES) freed[r] += holder.amounts[r];
    if (question.stopping.has(holder.jobId)) pending += 1;
    else victims.push(holder);
  }
  if (!enough()) return { kind: 'none', why: 'the borrowed jobs there would not free enough' };
  return { kind: 'reclaim', victims, pending };
}
