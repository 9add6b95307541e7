/**
 * The local provider's utilization: this host's CPUs and memory, what its
 * running jobs hold (a product is the size of one replica), and how many more
 * jobs of each product fit without oversubscribing the host.
 */
import { cpus, totalmem } from 'node:os';

import type { Product, Utilization } from '../sdk/index.js';
import type { LocalJobRecord } from './local-records.js';

/** The host's size: its CPUs and memory. */
export interface HostSize {
  cpu: number;
  memoryInGigs: number;
}

export function hostSize(): HostSize {
  return { cpu: cpus().length, memoryInGigs: totalmem() / 2 ** 30 };
}

export function localUtilization(
  products: readonly Product[],
  records: Iterable<Pick<LocalJobRecord, 'state' | 'cpu' | 'memoryInGigs' | 'replicas'>>,
  observedAt: number,
  host: HostSize = hostSize(),
): Utilization {
  let cpu = 0;
  let memoryInGigs = 0;
  let running = 0;
  let pending = 0;
  for (const record of records) {
    if (record.state === 'RUNNING') {
      running += 1;
      cpu += record.cpu * record.replicas;
      memoryInGigs += record.memoryInGigs * record.replicas;
    } else if (record.state === 'IN_QUEUE') {
      pending += 1;
    }
  }
  const capacity = { cpu: host.cpu, memoryInGigs: host.memoryInGigs, gpu: 0 };
  // Jobs start at once here; capacity says how many more fit without oversubscribing the host.
  const capacityByProduct: Record<string, number> = {};
  for (const product of products) {
    const byCpu = product.cpu > 0 ? Math.floor(Math.max(0, capacity.cpu - cpu) / product.cpu) : Number.MAX_SAFE_INTEGER;
    const byMemory = product.memoryInGigs > 0 ? Math.floor(Math.max(0, capacity.memoryInGigs - memoryInGigs) / product.memoryInGigs) : byCpu;
    capacityByProduct[product.id] = Math.min(byCpu, byMemory);
  }
  return {
    capacity,
    usedCapacity: { cpu, memoryInGigs, gpu: 0 },
    queueStatus: { running, pending },
    observedAt,
    capacityByProduct,
  };
}
