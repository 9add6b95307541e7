/**
 * Products from partitions, time limits and room, on partitions and nodes as
 * `scontrol show partition` and sinfo describe them. No cluster needed.
 */
import { describe, expect, it } from 'vitest';

import type { SinfoNode, SlurmPartitionInfo } from './slurm-cli.js';
import { buildProducts, checkPartitionConfig, slurmUtilization, timeLimitMinutes } from './slurm-products.js';

const partition = (overrides: Partial<SlurmPartitionInfo> = {}): SlurmPartitionInfo => ({
  name: 'debug',
  state: 'UP',
  isDefault: true,
  maxTimeSeconds: 86_400,
  defaultTimeSeconds: 3600,
  nodes: 'n[1-2]',
  totalCpus: 8,
  totalNodes: 2,
  ...overrides,
});

const node = (overrides: Partial<SinfoNode> = {}): SinfoNode => ({
  node: 'n1',
  partition: 'debug',
  state: 'idle',
  allocatedCpus: 0,
  idleCpus: 4,
  otherCpus: 0,
  totalCpus: 4,
  memoryMb: 4000,
  allocatedMemoryMb: 0,
  ...overrides,
});

const cluster = {
  partitions: [partition(), partition({ name: 'long', isDefault: false, maxTimeSeconds: 7 * 86_400, defaultTimeSeconds: 4 * 3600, totalCpus: 4 })],
  nodes: [node(), node({ node: 'n2', memoryMb: 2000 }), node({ partition: 'long' })],
};

describe('products from partitions', () => {
  it('sells every partition by default: 1 CPU, the smallest memory per CPU rounded down to 128 MiB, 1 credit per CPU-hour', () => {
    const [debug, long] = buildProducts(undefined, cluster.partitions, cluster.nodes, { suspension: true });
    expect(debug!.product).toEqual({
      id: 'slurm-debug',
      category: 'slurm-cpu',
      name: 'Slurm debug',
      description: '1 CPU and 0.375 GiB per replica in Slurm partition debug',
      cpu: 1,
      memoryInGigs: 0.375,
      gpu: 0,
      pricePerUnit: 1,
      unitOfPrice: 'CREDITS_PER_HOUR',
      freeToUse: false,
      priority: 0,
      support: expect.objectContaining({ backend: 'NATIVE', timeExtension: true, suspension: true, maxReplicas: 8, maxTimeAllocationMs: 86_400_000 }),
    });
    expect(debug!.memoryMb).toBe(384);
    // n2's 500 MB per CPU decides for debug; long has only n1 (1000 MB per CPU, rounded down to 896).
    expect(long!.memoryMb).toBe(896);
    expect(long!.product.support).toMatchObject({ maxReplicas: 4, maxTimeAllocationMs: 7 * 86_400_000 });
  });

  it('sells only the configured partitions, sized and priced as told', () => {
    const [only, ...rest] = buildProducts(
      [{ partition: 'long', productId: 'hpc-long', cpu: 2, memoryInGigs: 3, pricePerUnit: 5, unitOfPrice: 'CREDITS_PER_MINUTE', freeToUse: true }],
      cluster.partitions,
      cluster.nodes,
      { suspension: false },
    );
    expect(rest).toEqual([]);
    expect(only!.product).toMatchObject({
      id: 'hpc-long',
      cpu: 2,
      memoryInGigs: 3,
      pricePerUnit: 5,
      unitOfPrice: 'CREDITS_PER_MINUTE',
      freeToUse: true,
      support: { suspension: false, maxReplicas: 2 },
    });
    expect(only!).toMatchObject({ cpusPerTask: 2, memoryMb: 3072 });
  });

  it('refuses partitions the cluster does not have, and configurations that do not make sense, naming them', () => {
    expect(() => buildProducts([{ partition: 'gpu' }, { partition: 'big' }], cluster.partitions, cluster.nodes, { suspension: true })).toThrow(
      'Slurm partitions "gpu", "big" do not exist in this cluster (it has: debug, long)',
    );
    expect(() => checkPartitionConfig([{ partition: 'debug', cpu: 0 }])).toThrow(/Invalid Slurm partition configuration: 0\.cpu/);
    expect(() => checkPartitionConfig([])).toThrow(/Invalid Slurm partition configuration/);
    expect(() => checkPartitionConfig([{ partition: 'debug' }, { partition: 'long', productId: 'slurm-debug' }])).toThrow(
      'product id slurm-debug is used twice',
    );
    expect(checkPartitionConfig(undefined)).toBeUndefined();
  });
});

describe('time limits', () => {
  it('are the time allocation in whole minutes, else the partition’s default, its maximum, or the fallback', () => {
    expect(timeLimitMinutes(partition(), 90_000, 60)).toBe(2);
    expect(timeLimitMinutes(partition(), null, 60)).toBe(60);
    expect(timeLimitMinutes(partition({ defaultTimeSeconds: null, maxTimeSeconds: 7200 }), null, 60)).toBe(120);
    expect(timeLimitMinutes(partition({ defaultTimeSeconds: null, maxTimeSeconds: Number.POSITIVE_INFINITY }), null, 45)).toBe(45);
  });

  it('may not pass the partition’s maximum', () => {
    expect(() => timeLimitMinutes(partition(), 2 * 86_400_000, 60)).toThrow(
      'The time allocation (2880 min) exceeds the longest partition debug allows (1-00:00:00)',
    );
  });
});

describe('utilization', () => {
  it('counts each node once, the jobs of sold partitions, and how many more jobs of each product fit now', () => {
    const products = buildProducts(undefined, cluster.partitions, cluster.nodes, { suspension: true });
    const busy = [
      node({ idleCpus: 1, allocatedCpus: 3, memoryMb: 4000, allocatedMemoryMb: 3000, state: 'mixed' }),
      node({ node: 'n2', state: 'drained', idleCpus: 4 }),
      node({ partition: 'long', idleCpus: 1, allocatedCpus: 3, allocatedMemoryMb: 3000, state: 'mixed' }),
    ];
    const queue = ['RUNNING|debug', 'PENDING|debug', 'PENDING|long,debug', 'RUNNING|other', 'COMPLETING|long', ''].join('\n');
    const utilization = slurmUtilization(products, busy, queue, 1234);
    expect(utilization).toEqual({
      capacity: { cpu: 8, memoryInGigs: 8000 / 1024, gpu: 0 },
      usedCapacity: { cpu: 3, memoryInGigs: 3000 / 1024, gpu: 0 },
      queueStatus: { running: 2, pending: 2 },
      observedAt: 1234,
      // debug: n1 has 1 idle CPU (n2 is drained); long: n1 has 1 CPU, and 1000 MB for 896 MB a replica.
      capacityByProduct: { 'slurm-debug': 1, 'slurm-long': 1 },
    });
    const down = slurmUtilization(
      buildProducts(undefined, [partition({ state: 'DOWN' })], cluster.nodes, { suspension: true }),
      cluster.nodes,
      '',
      0,
    );
    expect(down.capacityByProduct).toEqual({ 'slurm-debug': 0 });
  });
});
