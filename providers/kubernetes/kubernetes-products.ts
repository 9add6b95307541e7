/**
 * What the Kubernetes provider sells: instance-type-like sizes, each mapped to
 * a pod's resource requests and limits (equal, so pods get Guaranteed QoS and
 * an extended resource such as a GPU is allowed at all), the nodes it may run
 * on (node selector, tolerations) and its price. From configuration; pure.
 */
import { z } from 'zod';

import { computeSupport, idSchema, InvalidInputError, priceUnitSchema, type Product } from '../sdk/index.js';

/** Label keys and values, taint keys: what Kubernetes accepts (a qualified name, a label value). */
const labelKey = z
  .string()
  .regex(/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/, 'must be a Kubernetes label key');
const labelValue = z.string().regex(/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/, 'must be a Kubernetes label value');

export const tolerationSchema = z.object({
  key: labelKey.optional(),
  operator: z.enum(['Equal', 'Exists']).default('Equal'),
  value: labelValue.optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
});
export type Toleration = z.infer<typeof tolerationSchema>;

export const kubernetesProductSchema = z.object({
  id: idSchema,
  /** Products of one category share a wallet. @default the id */
  category: idSchema.optional(),
  name: z.string().min(1).optional(),
  description: z.string().default(''),
  cpu: z.number().positive(),
  memoryInGigs: z.number().positive(),
  gpu: z.number().int().nonnegative().default(0),
  /** The extended resource a GPU is requested as. */
  gpuResource: labelKey.default('nvidia.com/gpu'),
  pricePerUnit: z.number().nonnegative(),
  unitOfPrice: priceUnitSchema.default('CREDITS_PER_HOUR'),
  freeToUse: z.boolean().default(false),
  nodeSelector: z.record(labelKey, labelValue).default({}),
  tolerations: z.array(tolerationSchema).default([]),
  /** Pods share their node's network (no pod network needed; ranks reach each other at the nodes' addresses). */
  hostNetwork: z.boolean().default(false),
  /** When the node pulls the job's image; `Never` for images loaded on the nodes beforehand (an air-gapped cluster). @default Kubernetes' own */
  imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
  /** Most ranks one job of the product may have (one pod each). */
  maxReplicas: z.number().int().positive().default(64),
  /** Longest time allocation, in hours; none: jobs may run without a deadline. */
  maxHours: z.number().positive().optional(),
});
export type KubernetesProductConfig = z.input<typeof kubernetesProductSchema>;
export type KubernetesProductSpec = z.infer<typeof kubernetesProductSchema>;

/** A product with what a pod of it asks of Kubernetes. */
export interface KubernetesProduct {
  product: Product;
  spec: KubernetesProductSpec;
  /** Requests and limits of the job's container. */
  resources: { cpu: string; memory: string; extended: Record<string, string> };
}

/** Sizes modelled on common cloud instance types, for a provider given no products. */
export const DEFAULT_PRODUCTS: KubernetesProductConfig[] = [
  { id: 'k8s-small', name: 'Small (1 vCPU, 2 GiB)', cpu: 1, memoryInGigs: 2, pricePerUnit: 30 },
  { id: 'k8s-medium', name: 'Medium (2 vCPU, 8 GiB)', cpu: 2, memoryInGigs: 8, pricePerUnit: 90 },
  { id: 'k8s-large', name: 'Large (8 vCPU, 32 GiB)', cpu: 8, memoryInGigs: 32, pricePerUnit: 360 },
  { id: 'k8s-gpu', name: 'GPU (8 vCPU, 61 GiB, 1 GPU)', cpu: 8, memoryInGigs: 61, gpu: 1, pricePerUnit: 1_800 },
];

/** CPUs as Kubernetes writes them: whole cores, else millicores. */
export function cpuQuantity(cpu: number): string {
  return Number.isInteger(cpu) ? String(cpu) : `${Math.round(cpu * 1000)}m`;
}

/** Memory as Kubernetes writes it: GiB when whole, else MiB. */
export function memoryQuantity(gigs: number): string {
  return Number.isInteger(gigs) ? `${gigs}Gi` : `${Math.round(gigs * 1024)}Mi`;
}

/** The products, checked; INVALID_INPUT naming every problem of a bad configuration. */
export function buildProducts(configs: readonly KubernetesProductConfig[]): KubernetesProduct[] {
  const parsed = z.array(kubernetesProductSchema).min(1).safeParse(configs);
  if (!parsed.success) {
    throw new InvalidInputError(
      `Invalid Kubernetes product configuration: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(products)'}: ${i.message}`).join('; ')}`,
    );
  }
  const seen = new Set<string>();
  return parsed.data.map((spec) => {
    if (seen.has(spec.id)) throw new InvalidInputError(`Invalid Kubernetes product configuration: product ${spec.id} is listed twice`);
    seen.add(spec.id);
    const product: Product = {
      id: spec.id,
      category: spec.category ?? spec.id,
      name: spec.name ?? spec.id,
      description: spec.description,
      cpu: spec.cpu,
      memoryInGigs: spec.memoryInGigs,
      gpu: spec.gpu,
      pricePerUnit: spec.pricePerUnit,
      unitOfPrice: spec.unitOfPrice,
      freeToUse: spec.freeToUse,
      priority: 0,
      support: computeSupport({
        backend: 'DOCKER',
        // A shell is an exec in the rank's container, through the API server.
        terminal: true,
        // A web app is a port-forward to the rank's pod through the API server.
        web: true,
        timeExtension: true,
        // The Job controller deletes a suspended Job's pods and makes new ones on resume: the processes start over.
        suspension: true,
        maxReplicas: spec.maxReplicas,
        maxTimeAllocationMs: spec.maxHours === undefined ? null : Math.round(spec.maxHours * 3_600_000),
      }),
    };
    const extended: Record<string, string> = spec.gpu > 0 ? { [spec.gpuResource]: String(spec.gpu) } : {};
    return { product, spec, resources: { cpu: cpuQuantity(spec.cpu), memory: memoryQuantity(spec.memoryInGigs), extended } };
  });
}
