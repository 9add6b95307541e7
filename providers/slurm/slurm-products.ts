/**
 * Products from partitions: what the Slurm provider sells (one product per
 * partition, or as configured), the time limit a job gets in its partition,
 * how many more jobs of each product fit on the nodes now, and the
 * partitions as the subschema shows them. Pure: the driver reads the cluster
 * (scontrol show partition, sinfo, squeue) and hands its answers in.
 */
import { z } from 'zod';

import {
  computeSupport,
  idSchema,
  InvalidInputError,
  priceUnitSchema,
  type ComputeSupport,
  type Product,
  type ProductPriceUnit,
  type Utilization,
} from '../sdk/index.js';
import { formatSlurmDuration, type SinfoNode, type SlurmPartitionInfo } from './slurm-cli.js';

/** How one Slurm partition is sold: one product per entry. */
export const slurmPartitionProductSchema = z
  .object({
    /** The Slurm partition jobs of this product go to. */
    partition: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'a Slurm partition name'),
    /** @default `slurm-<partition>` */
    productId: idSchema.optional(),
    /** @default 'slurm-cpu' */
    category: idSchema.optional(),
    name: z.string().min(1).optional(),
    description: z.string().optional(),
    /** CPUs per replica (`--cpus-per-task`). @default 1 */
    cpu: z.number().int().positive().optional(),
    /** Memory per replica. @default the partition's memory per CPU × cpu, rounded down to 128 MiB */
    memoryInGigs: z.number().nonnegative().optional(),
    /** @default cpu (credits per CPU-hour: 1) */
    pricePerUnit: z.number().int().nonnegative().optional(),
    /** @default 'CREDITS_PER_HOUR' */
    unitOfPrice: priceUnitSchema.optional(),
    freeToUse: z.boolean().optional(),
    priority: z.number().int().optional(),
  })
  .strict();
export type SlurmPartitionProduct = z.infer<typeof slurmPartitionProductSchema>;

/** A product as sold, with the partition it runs in and what sbatch asks for per replica. */
export interface PartitionProduct {
  product: Product;
  partition: SlurmPartitionInfo;
  cpusPerTask: number;
  memoryMb: number;
}

/** Seconds in one price unit. */
export const UNIT_SECONDS: Record<ProductPriceUnit, number> = {
  CREDITS_PER_MINUTE: 60,
  CREDITS_PER_HOUR: 3600,
  CREDITS_PER_DAY: 86_400,
};

/** The configured partition products, checked (undefined: sell every partition); throws INVALID_INPUT naming what is wrong. */
export function checkPartitionConfig(partitions: SlurmPartitionProduct[] | undefined): SlurmPartitionProduct[] | undefined {
  if (partitions === undefined) return undefined;
  const configured = z.array(slurmPartitionProductSchema).min(1).safeParse(partitions);
  if (!configured.success) {
    throw new InvalidInputError(
      `Invalid Slurm partition configuration: ${configured.error.issues.map((i) => `${i.path.join('.') || '(partitions)'}: ${i.message}`).join('; ')}`,
    );
  }
  const ids = configured.data.map((p) => p.productId ?? `slurm-${p.partition}`);
  const duplicate = ids.find((id, k) => ids.indexOf(id) !== k);
  if (duplicate) throw new InvalidInputError(`Invalid Slurm partition configuration: product id ${duplicate} is used twice`);
  return configured.data;
}

function support(partition: SlurmPartitionInfo, cpusPerTask: number, suspension: boolean): ComputeSupport {
  return computeSupport({
    backend: 'NATIVE',
    // A shell is a step in the job's allocation (srun --jobid --overlap --pty).
    terminal: true,
    // A web app in the job is reached on its node's address (NodeAddr), where the provider connects.
    web: true,
    timeExtension: true,
    suspension,
    maxReplicas: Math.max(1, Math.floor((partition.totalCpus ?? cpusPerTask) / cpusPerTask)),
    maxTimeAllocationMs: partition.maxTimeSeconds !== null && Number.isFinite(partition.maxTimeSeconds) ? partition.maxTimeSeconds * 1000 : null,
  });
}

/**
 * The products sold: one per configured entry, or one per partition of the cluster when none
 * is configured. Throws INVALID_INPUT for a configured partition the cluster does not have.
 */
export function buildProducts(
  config: SlurmPartitionProduct[] | undefined,
  partitions: SlurmPartitionInfo[],
  nodes: SinfoNode[],
  options: { suspension: boolean },
): PartitionProduct[] {
  const entries = config ?? partitions.map((p) => ({ partition: p.name }) as SlurmPartitionProduct);
  const unknown = entries.filter((entry) => !partitions.some((p) => p.name === entry.partition)).map((e) => e.partition);
  if (unknown.length > 0) {
    throw new InvalidInputError(
      `Slurm partition${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u}"`).join(', ')} ${unknown.length > 1 ? 'do' : 'does'} not exist in this cluster (it has: ${partitions.map((p) => p.name).join(', ') || 'none'})`,
    );
  }
  return entries.map((entry) => {
    const partition = partitions.find((p) => p.name === entry.partition)!;
    const cpusPerTask = entry.cpu ?? 1;
    let memoryMb: number;
    if (entry.memoryInGigs !== undefined) {
      memoryMb = Math.ceil(entry.memoryInGigs * 1024);
    } else {
      const perCpu = nodes.filter((n) => n.partition === partition.name && n.totalCpus > 0).map((n) => n.memoryMb / n.totalCpus);
      const smallest = perCpu.length > 0 ? Math.min(...perCpu) : 1024;
      memoryMb = Math.max(128, Math.floor(Math.min(1024, smallest) / 128) * 128) * cpusPerTask;
    }
    const memoryInGigs = entry.memoryInGigs ?? memoryMb / 1024;
    const product: Product = {
      id: entry.productId ?? `slurm-${partition.name.replace(/[^A-Za-z0-9_-]/g, '-')}`,
      category: entry.category ?? 'slurm-cpu',
      name: entry.name ?? `Slurm ${partition.name}`,
      description:
        entry.description ??
        `${cpusPerTask} CPU${cpusPerTask > 1 ? 's' : ''} and ${memoryInGigs} GiB per replica in Slurm partition ${partition.name}`,
      cpu: cpusPerTask,
      memoryInGigs,
      gpu: 0,
      pricePerUnit: entry.pricePerUnit ?? cpusPerTask,
      unitOfPrice: entry.unitOfPrice ?? 'CREDITS_PER_HOUR',
      freeToUse: entry.freeToUse ?? false,
      priority: entry.priority ?? 0,
      support: support(partition, cpusPerTask, options.suspension),
    };
    return { product, partition, cpusPerTask, memoryMb };
  });
}

/**
 * The time limit a job gets, in whole minutes: its time allocation, else the partition's
 * default, else its maximum, else `fallbackMinutes`. Throws INVALID_INPUT past the partition's maximum.
 */
export function timeLimitMinutes(partition: SlurmPartitionInfo, timeAllocationMs: number | null, fallbackMinutes: number): number {
  let minutes: number;
  if (timeAllocationMs !== null) minutes = Math.ceil(timeAllocationMs / 60_000);
  else if (partition.defaultTimeSeconds !== null && Number.isFinite(partition.defaultTimeSeconds))
    minutes = Math.ceil(partition.defaultTimeSeconds / 60);
  else if (partition.maxTimeSeconds !== null && Number.isFinite(partition.maxTimeSeconds)) minutes = Math.ceil(partition.maxTimeSeconds / 60);
  else minutes = fallbackMinutes;
  if (partition.maxTimeSeconds !== null && minutes * 60 > partition.maxTimeSeconds) {
    throw new InvalidInputError(
      `The time allocation (${minutes} min) exceeds the longest partition ${partition.name} allows (${formatSlurmDuration(partition.maxTimeSeconds)})`,
    );
  }
  return minutes;
}

/**
 * Utilization of the sold partitions' nodes: capacity and use (each node once), jobs running and
 * waiting there (from `squeue -O State:|,Partition:|`), and how many one-replica jobs of each
 * product fit on idle or mixed nodes now.
 */
export function slurmUtilization(products: readonly PartitionProduct[], nodes: readonly SinfoNode[], queue: string, observedAt: number): Utilization {
  const sold = new Set(products.map((p) => p.partition.name));
  const seen = new Map<string, SinfoNode>();
  for (const node of nodes) if (sold.has(node.partition) && !seen.has(node.node)) seen.set(node.node, node);
  const unique = [...seen.values()];
  const gib = (mb: number) => mb / 1024;
  let running = 0;
  let pending = 0;
  for (const line of queue.split('\n')) {
    const [state, partition] = line.split('|').map((f) => f.trim());
    if (!state || !partition || !partition.split(',').some((p) => sold.has(p))) continue;
    if (state === 'PENDING' || state === 'CONFIGURING') pending += 1;
    else running += 1;
  }
  const usable = (node: SinfoNode) => /^(idle|mixed)$/.test(node.state);
  const capacityByProduct: Record<string, number> = {};
  for (const { product, partition, cpusPerTask, memoryMb } of products) {
    let fits = 0;
    if (partition.state === 'UP') {
      for (const node of nodes) {
        if (node.partition !== partition.name || !usable(node)) continue;
        const byCpu = Math.floor(node.idleCpus / cpusPerTask);
        const byMemory = memoryMb > 0 ? Math.floor(Math.max(0, node.memoryMb - node.allocatedMemoryMb) / memoryMb) : byCpu;
        fits += Math.max(0, Math.min(byCpu, byMemory));
      }
    }
    capacityByProduct[product.id] = fits;
  }
  return {
    capacity: { cpu: unique.reduce((t, n) => t + n.totalCpus, 0), memoryInGigs: gib(unique.reduce((t, n) => t + n.memoryMb, 0)), gpu: 0 },
    usedCapacity: {
      cpu: unique.reduce((t, n) => t + n.allocatedCpus, 0),
      memoryInGigs: gib(unique.reduce((t, n) => t + n.allocatedMemoryMb, 0)),
      gpu: 0,
    },
    queueStatus: { running, pending },
    observedAt,
    capacityByProduct,
  };
}
