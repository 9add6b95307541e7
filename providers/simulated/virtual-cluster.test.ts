import { describe, expect, it } from 'vitest';

import type { Product } from '../sdk/index.js';
import { HPC_CONFIG } from './configs.js';
import { createVirtualCluster } from './virtual-cluster.js';

const product = (cpu: number, memoryInGigs: number, gpu = 0): Product => ({ ...HPC_CONFIG.products[0]!, cpu, memoryInGigs, gpu });

describe('the virtual cluster', () => {
  it('places one replica per node and takes it back', () => {
    const cluster = createVirtualCluster({ count: 3, cpu: 4, memoryInGigs: 8, gpu: 0 });
    const half = product(2, 4);
    expect(cluster.roomFor(half)).toBe(6);
    const nodes = cluster.findNodes(half, 3)!;
    expect(nodes).toEqual([0, 1, 2]);
    cluster.allocate(half, nodes);
    expect(cluster.totalFree()).toEqual({ cpu: 6, memoryInGigs: 12, gpu: 0 });
    expect(cluster.roomFor(half)).toBe(3);
    cluster.release(half, nodes);
    expect(cluster.totalFree()).toEqual({ cpu: 12, memoryInGigs: 24, gpu: 0 });
  });

  it('finds no nodes when fewer than the replicas have room', () => {
    const cluster = createVirtualCluster({ count: 2, cpu: 4, memoryInGigs: 8, gpu: 1 });
    const gpu = product(1, 1, 1);
    cluster.allocate(gpu, [0]);
    expect(cluster.findNodes(gpu, 2)).toBeNull();
    expect(cluster.findNodes(gpu, 1)).toEqual([1]);
    expect(cluster.roomFor(gpu)).toBe(1);
  });

  it('never loses a slot to rounding of fractional sizes', () => {
    const cluster = createVirtualCluster({ count: 1, cpu: 1, memoryInGigs: 1, gpu: 0 });
    const tenth = product(0.1, 0.1);
    for (let i = 0; i < 10; i++) cluster.allocate(tenth, cluster.findNodes(tenth, 1)!);
    expect(cluster.findNodes(tenth, 1)).toBeNull();
    cluster.release(tenth, [0]);
    expect(cluster.roomFor(tenth)).toBe(1);
  });

  it('names nodes from one', () => {
    expect(createVirtualCluster({ count: 2, cpu: 1, memoryInGigs: 1, gpu: 0 }).nodeName(0)).toBe('node-1');
  });
});
