/**
 * Capacity and utilization from what the scheduler also looks at: each
 * node's allocatable resources, less the requests of the pods bound to it.
 * A product's capacity is how many more of its pods would fit, node by node,
 * on the nodes it may run on (node selector, taints it tolerates, nodes that
 * are ready and schedulable). Pure.
 */
import type { V1Node, V1Pod, V1Taint } from '@kubernetes/client-node';
// The client's own quantity parser ("500m", "8Gi"); its package index does not re-export it.
import { quantityToScalar } from '@kubernetes/client-node/dist/util.js';

import type { Utilization } from '../sdk/index.js';
import type { KubernetesProduct, Toleration } from './kubernetes-products.js';

const GIB = 1024 ** 3;

/** A quantity as a number of base units (cores, bytes, devices); 0 for one that does not parse. */
export function quantity(value: string | undefined): number {
  if (value === undefined) return 0;
  try {
    return Number(quantityToScalar(value));
  } catch {
    return 0;
  }
}

interface NodeRoom {
  node: V1Node;
  free: Record<string, number>;
  allocatable: Record<string, number>;
}

function usable(node: V1Node): boolean {
  if (node.spec?.unschedulable) return false;
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function tolerates(tolerations: readonly Toleration[], taint: V1Taint): boolean {
  if (taint.effect === 'PreferNoSchedule') return true;
  return tolerations.some(
    (t) =>
      (t.effect === undefined || t.effect === taint.effect) &&
      (t.key === undefined ? t.operator === 'Exists' : t.key === taint.key && (t.operator === 'Exists' || (t.value ?? '') === (taint.value ?? ''))),
  );
}

/** Requests of a pod that holds resources (bound, not finished). */
function podRequests(pod: V1Pod): Record<string, number> | null {
  const phase = pod.status?.phase;
  if (!pod.spec?.nodeName || phase === 'Succeeded' || phase === 'Failed') return null;
  const sum: Record<string, number> = {};
  for (const container of pod.spec.containers) {
    for (const [name, value] of Object.entries(container.resources?.requests ?? {})) sum[name] = (sum[name] ?? 0) + quantity(value);
  }
  return sum;
}

/** Each usable node with what is left of it. */
export function nodeRoom(nodes: readonly V1Node[], pods: readonly V1Pod[]): NodeRoom[] {
  const used = new Map<string, Record<string, number>>();
  for (const pod of pods) {
    const requests = podRequests(pod);
    if (!requests) continue;
    const sum = used.get(pod.spec!.nodeName!) ?? {};
    for (const [name, n] of Object.entries(requests)) sum[name] = (sum[name] ?? 0) + n;
    used.set(pod.spec!.nodeName!, sum);
  }
  return nodes.map((node) => {
    const allocatable = Object.fromEntries(Object.entries(node.status?.allocatable ?? {}).map(([name, value]) => [name, quantity(value)]));
    const taken = used.get(node.metadata?.name ?? '') ?? {};
    const free = Object.fromEntries(Object.entries(allocatable).map(([name, n]) => [name, n - (taken[name] ?? 0)]));
    return { node, free, allocatable };
  });
}

/** Taints the node controller puts on and takes off by itself (not ready yet, unreachable, cordoned): they pass. */
const passing = (taint: V1Taint) => taint.key?.startsWith('node.kubernetes.io/') ?? false;

/**
 * How many more pods of the product would fit now (`free`), or on the nodes empty and as they
 * will be (`allocatable`: every node, ready or not, with only the taints an operator set).
 */
export function productCapacity(product: KubernetesProduct, room: readonly NodeRoom[], of: 'free' | 'allocatable' = 'free'): number {
  const asks: Record<string, number> = {
    cpu: quantity(product.resources.cpu),
    memory: quantity(product.resources.memory),
    pods: 1,
    ...Object.fromEntries(Object.entries(product.resources.extended).map(([name, value]) => [name, quantity(value)])),
  };
  let fits = 0;
  for (const entry of room) {
    const { node } = entry;
    const free = entry[of];
    const now = of === 'free';
    if (now && !usable(node)) continue;
    const labels = node.metadata?.labels ?? {};
    if (!Object.entries(product.spec.nodeSelector).every(([key, value]) => labels[key] === value)) continue;
    if (!(node.spec?.taints ?? []).every((taint) => (!now && passing(taint)) || tolerates(product.spec.tolerations, taint))) continue;
    const perNode = Math.min(...Object.entries(asks).map(([name, n]) => (n > 0 ? Math.floor((free[name] ?? 0) / n) : Number.POSITIVE_INFINITY)));
    fits += Math.max(0, Number.isFinite(perNode) ? perNode : 0);
  }
  return fits;
}

/** The cluster's usable nodes, what the provider's own pods use of them, and each product's capacity. */
export function kubernetesUtilization(
  products: readonly KubernetesProduct[],
  room: readonly NodeRoom[],
  queue: { running: number; pending: number },
  gpuResources: readonly string[],
  observedAt: number,
): Utilization {
  const total = { cpu: 0, memoryInGigs: 0, gpu: 0 };
  const used = { cpu: 0, memoryInGigs: 0, gpu: 0 };
  for (const { node, free, allocatable } of room) {
    if (!usable(node)) continue;
    const gpus = (record: Record<string, number>) => gpuResources.reduce((sum, name) => sum + (record[name] ?? 0), 0);
    total.cpu += allocatable.cpu ?? 0;
    total.memoryInGigs += (allocatable.memory ?? 0) / GIB;
    total.gpu += gpus(allocatable);
    used.cpu += (allocatable.cpu ?? 0) - (free.cpu ?? 0);
    used.memoryInGigs += ((allocatable.memory ?? 0) - (free.memory ?? 0)) / GIB;
    used.gpu += gpus(allocatable) - gpus(free);
  }
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return {
    capacity: { cpu: round(total.cpu), memoryInGigs: round(total.memoryInGigs), gpu: total.gpu },
    usedCapacity: { cpu: round(used.cpu), memoryInGigs: round(used.memoryInGigs), gpu: used.gpu },
    queueStatus: queue,
    observedAt,
    capacityByProduct: Object.fromEntries(products.map((p) => [p.product.id, productCapacity(p, room)])),
  };
}

/** The products no node could hold a pod of even empty, ready and uncordoned: nothing a wait would cure. */
export function unfitProducts(products: readonly KubernetesProduct[], room: readonly NodeRoom[]): Set<string> {
  return new Set(products.filter((p) => productCapacity(p, room, 'allocatable') === 0).map((p) => p.product.id));
}
