/**
 * Two ready-made simulated providers: an HPC-like cluster (partitions as
 * products, a FIFO queue, a required time allocation) and a cloud-like one
 * (instance types, a boot delay, occasional failures). Both are id-agnostic:
 * the provider id is given when the process starts. Every product says in its
 * name and description that it is a simulation.
 */
import { computeSupport, type ComputeSupport, type Product } from '../sdk/index.js';
import type { SimulatedConfig } from './simulated-config.js';

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

// Like many Slurm sites: running jobs are never suspended, so routing sends such jobs elsewhere.
const HPC_SUPPORT = computeSupport({ backend: 'NATIVE', timeExtension: true, maxReplicas: 32, maxTimeAllocationMs: 48 * HOUR_MS });
const CLOUD_SUPPORT = computeSupport({ backend: 'VIRTUAL_MACHINE', timeExtension: true, suspension: true, maxReplicas: 20 });

/** One simulated product, priced per hour; its name and description say it is a simulation. */
function simulatedProduct(
  kind: { label: string; unit: string; cpuWord: string; gpuWord: string; where: string; nothing: string; support: ComputeSupport },
  id: string,
  category: string,
  cpu: number,
  memoryInGigs: number,
  gpu: number,
  pricePerUnit: number,
): Product {
  const gpus = gpu > 0 ? `, ${gpu} ${kind.gpuWord}` : '';
  return {
    id,
    category,
    name: `Simulated ${kind.label} ${id}`,
    description: `Simulated ${kind.label} ${kind.unit} ${id}: ${cpu} ${kind.cpuWord}, ${memoryInGigs} GiB${gpus}${kind.where}. A simulation: ${kind.nothing}.`,
    cpu,
    memoryInGigs,
    gpu,
    pricePerUnit,
    unitOfPrice: 'CREDITS_PER_HOUR',
    freeToUse: false,
    priority: 0,
    support: kind.support,
  };
}

const hpcPartition = simulatedProduct.bind(null, {
  label: 'HPC',
  unit: 'partition',
  cpuWord: 'CPUs',
  gpuWord: 'GPUs',
  where: ' per node',
  nothing: 'nothing runs',
  support: HPC_SUPPORT,
});
const instanceType = simulatedProduct.bind(null, {
  label: 'cloud',
  unit: 'instance type',
  cpuWord: 'vCPUs',
  gpuWord: 'GPU',
  where: '',
  nothing: 'no virtual machine is booted',
  support: CLOUD_SUPPORT,
});

/** An HPC-like cluster: 64 nodes of 32 CPUs, 256 GiB and 4 GPUs; partitions as products; 48 h at most. */
export const HPC_CONFIG: SimulatedConfig = {
  name: 'HPC',
  nodes: { count: 64, cpu: 32, memoryInGigs: 256, gpu: 4 },
  products: [
    hpcPartition('standard-8', 'sim-hpc-cpu', 8, 32, 0, 8),
    hpcPartition('standard-32', 'sim-hpc-cpu', 32, 128, 0, 32),
    hpcPartition('highmem-16', 'sim-hpc-cpu', 16, 192, 0, 24),
    hpcPartition('gpu-4', 'sim-hpc-gpu', 16, 128, 4, 120),
  ],
  queueing: 'FIFO',
  startLatencyMs: 200,
  failureRate: 0,
  defaultDurationMs: 30 * MINUTE_MS,
};

/** A cloud-like region: 200 hosts, instance types priced per hour, a 2 s boot and 1 % failures. */
export const CLOUD_CONFIG: SimulatedConfig = {
  name: 'cloud',
  nodes: { count: 200, cpu: 96, memoryInGigs: 384, gpu: 8 },
  products: [
    instanceType('c5-large', 'sim-cloud-cpu', 2, 4, 0, 9),
    instanceType('c5-xlarge', 'sim-cloud-cpu', 4, 8, 0, 17),
    instanceType('m5-2xlarge', 'sim-cloud-cpu', 8, 32, 0, 38),
    instanceType('p3-2xlarge', 'sim-cloud-gpu', 8, 61, 1, 306),
  ],
  queueing: 'FIFO',
  startLatencyMs: 2_000,
  failureRate: 0.01,
  defaultDurationMs: 15 * MINUTE_MS,
};

/** The configurations by the name SWITCHYARD_SIM_CONFIG takes. */
export const SIMULATED_CONFIGS = { hpc: HPC_CONFIG, cloud: CLOUD_CONFIG } as const satisfies Record<string, SimulatedConfig>;
export type SimulatedConfigName = keyof typeof SIMULATED_CONFIGS;
