/**
 * The simulated cluster's nodes and what is free on each. One replica of a job
 * takes one node; products are the size of one replica. Fractional CPUs and
 * memory are compared with a little slack, so rounding never loses a slot.
 */
import type { Product } from '../sdk/index.js';
import type { SimulatedNodes } from './simulated-config.js';

/** Rounding slack when free capacity is compared with fractional needs. */
const EPSILON = 1e-9;

export interface VirtualCluster {
  readonly nodes: SimulatedNodes;
  nodeName(index: number): string;
  /** The first `replicas` nodes with room for one replica each, or null. */
  findNodes(product: Product, replicas: number): number[] | null;
  /** Take one replica's worth of the product on each node. */
  allocate(product: Product, nodes: readonly number[]): void;
  /** Give back what allocate took. */
  release(product: Product, nodes: readonly number[]): void;
  /** Free CPU, memory and GPUs over all nodes. */
  totalFree(): { cpu: number; memoryInGigs: number; gpu: number };
  /** How many one-replica jobs of the product fit on the free nodes now. */
  roomFor(product: Product): number;
}

export function createVirtualCluster(nodes: SimulatedNodes): VirtualCluster {
  const freeCpu = new Array<number>(nodes.count).fill(nodes.cpu);
  const freeMemory = new Array<number>(nodes.count).fill(nodes.memoryInGigs);
  const freeGpu = new Array<number>(nodes.count).fill(nodes.gpu);

  const fitsOn = (index: number, product: Product) =>
    freeCpu[index]! + EPSILON >= product.cpu && freeMemory[index]! + EPSILON >= product.memoryInGigs && freeGpu[index]! >= product.gpu;

  const take = (product: Product, on: readonly number[], sign: 1 | -1) => {
    for (const index of on) {
      freeCpu[index]! -= sign * product.cpu;
      freeMemory[index]! -= sign * product.memoryInGigs;
      freeGpu[index]! -= sign * product.gpu;
    }
  };

  return {
    nodes,
    nodeName: (index) => `node-${index + 1}`,
    findNodes(product, replicas) {
      const found: number[] = [];
      for (let index = 0; index < nodes.count && found.length < replicas; index++) {
        if (fitsOn(index, product)) found.push(index);
      }
      return found.length === replicas ? found : null;
    },
    allocate: (product, on) => take(product, on, 1),
    release: (product, on) => take(product, on, -1),
    totalFree() {
      let cpu = 0;
      let memoryInGigs = 0;
      let gpu = 0;
      for (let index = 0; index < nodes.count; index++) {
        cpu += freeCpu[index]!;
        memoryInGigs += freeMemory[index]!;
        gpu += freeGpu[index]!;
      }
      return { cpu, memoryInGigs, gpu };
    },
    roomFor(product) {
      let count = 0;
      for (let index = 0; index < nodes.count; index++) {
        const fits = Math.min(
          product.cpu > 0 ? Math.floor((freeCpu[index]! + EPSILON) / product.cpu) : Number.POSITIVE_INFINITY,
          product.memoryInGigs > 0 ? Math.floor((freeMemory[index]! + EPSILON) / product.memoryInGigs) : Number.POSITIVE_INFINITY,
          product.gpu > 0 ? Math.floor(freeGpu[index]! / product.gpu) : Number.POSITIVE_INFINITY,
        );
        if (!Number.isFinite(fits)) return Number.MAX_SAFE_INTEGER;
        count += fits;
      }
      return count;
    },
  };
}
