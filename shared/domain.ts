/**
 * Domain types shared by gateway and providers, defined once as zod schemas so
 * every message is validated with the same definition it is typed by.
 * Times travel as epoch milliseconds; the GraphQL layer renders them ISO-8601.
 */
import { z } from 'zod';

import { JOB_STATES } from './job-state-machine.js';

export const idSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_-]+$/, 'ids use letters, digits, "-" and "_" only');

export const backendSchema = z.enum(['DOCKER', 'NATIVE', 'VIRTUAL_MACHINE']);
export type Backend = z.infer<typeof backendSchema>;

export const priceUnitSchema = z.enum(['CREDITS_PER_MINUTE', 'CREDITS_PER_HOUR', 'CREDITS_PER_DAY']);
export type ProductPriceUnit = z.infer<typeof priceUnitSchema>;

export const providerKindSchema = z.enum(['LOCAL', 'SLURM', 'KUBERNETES', 'CLOUD_VM', 'SIMULATED']);
export type ProviderKind = z.infer<typeof providerKindSchema>;

/** LOCAL → local, CLOUD_VM → cloudVm: the prefix of a kind's fields in the subschema providers of the kind share. */
export function kindFieldPrefix(kind: ProviderKind): string {
  return kind.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

export const jobStateSchema = z.enum(JOB_STATES);

/** Milliseconds in a SimpleDuration-like value. */
export const durationMsSchema = z.number().int().positive();

export const computeSupportSchema = z.object({
  backend: backendSchema,
  logs: z.boolean(),
  terminal: z.boolean(),
  web: z.boolean(),
  vnc: z.boolean(),
  peers: z.boolean(),
  timeExtension: z.boolean(),
  suspension: z.boolean(),
  utilization: z.boolean(),
  maxReplicas: z.number().int().positive(),
  /** Null: jobs may run without a deadline. */
  maxTimeAllocationMs: durationMsSchema.nullable(),
});
export type ComputeSupport = z.infer<typeof computeSupportSchema>;

/**
 * A support manifest from what differs: logs and utilization on, nothing
 * interactive, no extension or suspension, one replica, no time limit.
 */
export function computeSupport(support: Pick<ComputeSupport, 'backend'> & Partial<ComputeSupport>): ComputeSupport {
  // Keys in the schema's order, so a support built here serialises like one written out.
  const { backend, ...rest } = support;
  return {
    backend,
    logs: true,
    terminal: false,
    web: false,
    vnc: false,
    peers: false,
    timeExtension: false,
    suspension: false,
    utilization: true,
    maxReplicas: 1,
    maxTimeAllocationMs: null,
    ...rest,
  };
}

/** The kinds of interactive session (the contract's InteractiveSessionType). */
export const interactiveSessionTypeSchema = z.enum(['SHELL', 'WEB', 'VNC']);
export type InteractiveSessionType = z.infer<typeof interactiveSessionTypeSchema>;

/** Which support flag offers each session type: the contract's terminal, web and vnc. */
const SESSION_SUPPORT = { SHELL: 'terminal', WEB: 'web', VNC: 'vnc' } as const satisfies Record<InteractiveSessionType, keyof ComputeSupport>;
type SessionSupport = Pick<ComputeSupport, (typeof SESSION_SUPPORT)[InteractiveSessionType]>;

/** Whether a product's support manifest offers a session type. */
export function supportsSession(support: SessionSupport, type: InteractiveSessionType): boolean {
  return support[SESSION_SUPPORT[type]];
}

/** The session types a support manifest offers, in the contract's order. */
export function sessionTypesOf(support: SessionSupport): InteractiveSessionType[] {
  return interactiveSessionTypeSchema.options.filter((type) => supportsSession(support, type));
}

export const productSchema = z.object({
  id: idSchema,
  category: idSchema,
  name: z.string().min(1),
  description: z.string(),
  cpu: z.number().nonnegative(),
  memoryInGigs: z.number().nonnegative(),
  gpu: z.number().int().nonnegative(),
  pricePerUnit: z.number().int().nonnegative(),
  unitOfPrice: priceUnitSchema,
  freeToUse: z.boolean(),
  priority: z.number().int(),
  support: computeSupportSchema,
});
export type Product = z.infer<typeof productSchema>;

export const manifestSchema = z.object({
  products: z.array(productSchema),
});
export type Manifest = z.infer<typeof manifestSchema>;

export const cpuAndMemorySchema = z.object({
  cpu: z.number().nonnegative(),
  memoryInGigs: z.number().nonnegative(),
  gpu: z.number().int().nonnegative(),
});

export const utilizationSchema = z.object({
  capacity: cpuAndMemorySchema,
  usedCapacity: cpuAndMemorySchema,
  queueStatus: z.object({ running: z.number().int().nonnegative(), pending: z.number().int().nonnegative() }),
  observedAt: z.number(),
  /**
   * Per product id: how many more jobs of it could start now (Apolo's
   * get_capacity). A product left out has unknown capacity.
   */
  capacityByProduct: z.record(z.string(), z.number().int().nonnegative()).default({}),
});
export type Utilization = z.infer<typeof utilizationSchema>;

export const productRefSchema = z.object({ id: idSchema, category: idSchema, provider: idSchema });
export type ProductRef = z.infer<typeof productRefSchema>;

/** What a job should run: the validated, resolved form of JobSpecificationInput. */
export const jobSpecificationSchema = z.object({
  product: productRefSchema,
  application: z.object({ name: z.string(), version: z.string() }).nullable(),
  command: z.array(z.string()).nullable(),
  image: z.string().nullable(),
  env: z.record(z.string(), z.string()).nullable(),
  workingDir: z.string().nullable(),
  name: z.string().nullable(),
  replicas: z.number().int().positive(),
  allowDuplicateJob: z.boolean(),
  parameters: z.unknown().nullable(),
  resources: z.array(z.unknown()).nullable(),
  timeAllocationMs: durationMsSchema.nullable(),
  restartOnExit: z.boolean(),
  sshEnabled: z.boolean(),
  tags: z.array(z.string()),
  description: z.string().nullable(),
  priority: z.number().int().nullable(),
  scheduleTimeout: z.number().int().nullable(),
});
export type JobSpecification = z.infer<typeof jobSpecificationSchema>;

export const jobUpdateSchema = z.object({
  state: jobStateSchema.nullable(),
  status: z.string().nullable(),
  /** Milliseconds added by an extension. */
  newTimeAllocation: z.number().int().nullable(),
  timestamp: z.number(),
});
export type JobUpdate = z.infer<typeof jobUpdateSchema>;

export const jobLogSchema = z.object({
  rank: z.number().int().nonnegative(),
  stdout: z.string().nullable(),
  stderr: z.string().nullable(),
  timestamp: z.number(),
});
export type JobLog = z.infer<typeof jobLogSchema>;

export const aclEntrySchema = z.object({
  entity: z.string(),
  permissions: z.array(z.enum(['READ', 'EDIT', 'ADMIN'])),
});
export type AclEntry = z.infer<typeof aclEntrySchema>;

/** A job as the gateway stores it. */
export interface Job {
  id: string;
  owner: { createdBy: string; project: string | null };
  specification: JobSpecification;
  state: JobState;
  startedAt: number | null;
  expiresAt: number | null;
  exitCode: number | null;
  allowRestart: boolean;
  providerId: string;
  providerGeneratedId: string | null;
  createdAt: number;
  updates: JobUpdate[];
  acl: AclEntry[];
  creditsCharged: number;
  /** Hash of the specification, for allowDuplicateJob=false. */
  specHash: string;
  /** What made it, when not a request of its owner: a schedule's firing or a service's run. Absent: a request. */
  origin?: JobOrigin;
}

/** The schedule or service (gateway/schedules/, gateway/services/) whose job this is. */
export interface JobOrigin {
  kind: 'schedule' | 'service';
  id: string;
}

export type JobState = z.infer<typeof jobStateSchema>;

export function msToDuration(ms: number): { hours: number; minutes: number; seconds: number } {
  const total = Math.floor(ms / 1000);
  return { hours: Math.floor(total / 3600), minutes: Math.floor((total % 3600) / 60), seconds: total % 60 };
}
