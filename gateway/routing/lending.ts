/**
 * Lending limits, after Kueue's lendingLimit: of a project's guarantee on a
 * provider that it does not use, at most `lendingLimit` may be lent to other
 * workspaces; the rest is kept free for the project's own next jobs, so they
 * start without waiting for a reclaim. A job of another workspace may go to
 * the provider only while the room left after it still holds every other
 * project's kept share. Pure: placement.ts applies it to new and waiting jobs
 * alike; the view is read by the quota gate. The policy: docs/TENANCY.md.
 */
import type { Job, Product, Utilization } from '../../shared/domain.js';
import type { VirtualClusterRecord } from '../store/store.js';
import { amountsOf, counterField } from './quota-rules.js';
import { GUARANTEED_RESOURCES, projectWorkspace, providerCell, type GuaranteedResource } from './virtual-clusters.js';

const EPSILON = 1e-9;
const NOUNS: Record<GuaranteedResource, string> = { cpu: 'CPUs', memoryInGigs: 'GB of memory', gpu: 'GPUs' };

type Amounts = Record<GuaranteedResource, number>;

/** The virtual clusters with a lending limit, what their projects use on their providers, and what was placed since it was read. */
export interface LendingView {
  clusters: VirtualClusterRecord[];
  /** By `<provider>\t<project>`: what the project holds on the provider. */
  inUse: Map<string, Amounts>;
  /** By provider: what was placed there since the provider's room was last read (grown by {@link takeLent}). */
  placed: Map<string, Amounts>;
}

const zero = (): Amounts => ({ cpu: 0, memoryInGigs: 0, gpu: 0 });
const useKey = (provider: string, project: string) => `${provider}\t${project}`;

/** The clusters that lend less than all of their guarantee, and the usage keys whose counters the view needs. */
export function lendingClusters(clusters: readonly VirtualClusterRecord[]): VirtualClusterRecord[] {
  return clusters.filter((c) => Object.keys(c.lendingLimit ?? {}).length > 0);
}

/** A view from the lending clusters and their projects' counters (one entry per cluster, in order). */
export function lendingView(clusters: VirtualClusterRecord[], counters: Record<string, number>[]): LendingView {
  const inUse = new Map<string, Amounts>();
  clusters.forEach((cluster, k) => {
    const cell = providerCell(cluster.provider);
    const amounts = zero();
    for (const r of GUARANTEED_RESOURCES) amounts[r] = counters[k]?.[counterField(cell, r)] ?? 0;
    inUse.set(useKey(cluster.provider, cluster.project), amounts);
  });
  return { clusters, inUse, placed: new Map() };
}

/** The usage keys a view of these clusters reads. */
export function lendingWorkspaces(clusters: readonly VirtualClusterRecord[]): string[] {
  return [...new Set(clusters.map((c) => projectWorkspace(c.project)))];
}

/** What a project keeps of its guarantee on the provider for itself: its guarantee less what it lends and what it uses. */
function keptBy(view: LendingView, cluster: VirtualClusterRecord, resource: GuaranteedResource): number {
  const limit = cluster.lendingLimit?.[resource];
  const guaranteed = cluster.guaranteed[resource];
  if (limit === undefined || guaranteed === undefined) return 0;
  const used = view.inUse.get(useKey(cluster.provider, cluster.project))?.[resource] ?? 0;
  return Math.max(0, guaranteed - limit - used);
}

/**
 * Why a job of `owner` may not take `product` on `providerId` now: the room left after it would
 * not hold what other projects keep of their guarantees there. Null when it may, or when the
 * provider's room is not known.
 */
export function lendingRefusal(
  view: LendingView | null,
  owner: Job['owner'],
  providerId: string,
  product: Pick<Product, 'cpu' | 'memoryInGigs' | 'gpu'>,
  replicas: number,
  utilization: Pick<Utilization, 'capacity' | 'usedCapacity'> | null,
): string | null {
  if (!view || !utilization) return null;
  const others = view.clusters.filter((c) => c.provider === providerId && c.project !== owner.project);
  if (others.length === 0) return null;
  const need = amountsOf(product, replicas);
  const placed = view.placed.get(providerId) ?? zero();
  for (const resource of GUARANTEED_RESOURCES) {
    if (need[resource] <= 0) continue;
    const kept = others.map((cluster) => ({ cluster, kept: keptBy(view, cluster, resource) })).filter((entry) => entry.kept > EPSILON);
    const total = kept.reduce((sum, entry) => sum + entry.kept, 0);
    if (total <= EPSILON) continue;
    const free = utilization.capacity[resource] - utilization.usedCapacity[resource] - placed[resource];
    if (free - need[resource] + EPSILON >= total) continue;
    const named = kept.map(
      ({ cluster, kept: amount }) =>
        `${round(amount)} for project ${cluster.project} (it lends ${round(cluster.lendingLimit![resource]!)} of its ${round(cluster.guaranteed[resource]!)})`,
    );
    return `${providerId} keeps ${round(total)} of its ${round(Math.max(0, free))} free ${NOUNS[resource]} for guarantees it does not lend: ${named.join(', ')}`;
  }
  return null;
}

/** Count a job placed on the provider in the view, as the next decision of the same sweep must see it. */
export function takeLent(
  view: LendingView | null,
  owner: Job['owner'],
  providerId: string,
  product: Pick<Product, 'cpu' | 'memoryInGigs' | 'gpu'>,
  replicas: number,
) {
  if (!view) return;
  const need = amountsOf(product, replicas);
  const placed = view.placed.get(providerId) ?? zero();
  for (const r of GUARANTEED_RESOURCES) placed[r] += need[r];
  view.placed.set(providerId, placed);
  const own = owner.project ? view.inUse.get(useKey(providerId, owner.project)) : undefined;
  if (own) for (const r of GUARANTEED_RESOURCES) own[r] += need[r];
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
