/**
 * What a simulated provider is made of: its nodes, the products it sells, how
 * it queues, how long a job takes to start and how often one fails. Checked at
 * once, so an inconsistent configuration never starts.
 */
import { z } from 'zod';

import { productSchema, type Product } from '../sdk/index.js';

/** Identical nodes the simulated cluster is made of; each product must fit on one. */
export interface SimulatedNodes {
  count: number;
  cpu: number;
  memoryInGigs: number;
  gpu: number;
}

export interface SimulatedConfig {
  /** What the simulation stands for, in statuses and logs ("HPC", "cloud"). */
  name: string;
  nodes: SimulatedNodes;
  /** What is sold; each product is the size of one replica, and a job's replicas go on distinct nodes. */
  products: Product[];
  /**
   * FIFO: a job that does not fit waits behind the ones before it (no backfill).
   * NONE: a job that does not fit now is refused with NO_CAPACITY.
   */
  queueing: 'FIFO' | 'NONE';
  /** Virtual time between placement on nodes and RUNNING (a cloud's boot, a scheduler's prolog). */
  startLatencyMs: number;
  /** Probability in [0, 1] that a job ends FAILURE "Simulated node failure" part-way through its run. */
  failureRate: number;
  /** Virtual running time of a job whose `parameters.simulatedDurationMs` is absent. */
  defaultDurationMs: number;
}

const simulatedConfigSchema = z
  .object({
    name: z.string().min(1),
    nodes: z.object({
      count: z.number().int().positive(),
      cpu: z.number().positive(),
      memoryInGigs: z.number().nonnegative(),
      gpu: z.number().int().nonnegative(),
    }),
    products: z.array(productSchema).min(1),
    queueing: z.enum(['FIFO', 'NONE']),
    startLatencyMs: z.number().int().nonnegative(),
    failureRate: z.number().min(0).max(1),
    defaultDurationMs: z.number().int().nonnegative(),
  })
  .superRefine((config, issues) => {
    const seen = new Set<string>();
    for (const [index, product] of config.products.entries()) {
      if (seen.has(product.id)) issues.addIssue({ code: 'custom', path: ['products', index, 'id'], message: `duplicate product id ${product.id}` });
      seen.add(product.id);
      const { cpu, memoryInGigs, gpu } = config.nodes;
      if (product.cpu > cpu || product.memoryInGigs > memoryInGigs || product.gpu > gpu) {
        issues.addIssue({ code: 'custom', path: ['products', index], message: `${product.id} does not fit on one node, so it could never run` });
      }
    }
  });

/** The configuration, checked; throws naming every inconsistency. */
export function checkSimulatedConfig(config: SimulatedConfig): SimulatedConfig {
  const parsed = simulatedConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new Error(
      `invalid simulated configuration: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`).join('; ')}`,
    );
  }
  return config;
}
