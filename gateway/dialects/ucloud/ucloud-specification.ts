/**
 * UCloud's JobSpecification (jobs.create) as a Switchyard job specification.
 * UCloud runs applications from its app store; Switchyard has no app store, so
 * what runs comes from the parameters: a text parameter `command` is run with
 * `sh -c`, `image` is the container image (else `<application>:<version>` on a
 * container product), and every other plain value (text, textarea, integer,
 * floating_point, boolean, enumeration) is an environment variable of its name.
 * The application is kept as the job's application. Files, peers, licences,
 * ingresses, IPs and other resources have no counterpart and are refused.
 */
import { z } from 'zod';

import type { JobSpecificationInput } from '../../jobs/job-specification.js';

const MAX_PARAMETERS = 200;
const MAX_VALUE_LENGTH = 100_000;

const text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((value) => !/\p{Cs}/u.test(value), 'must be valid Unicode text');
const id = text(200).pipe(z.string().min(1));

export const simpleDurationSchema = z.object({
  hours: z.number().int().min(0),
  minutes: z.number().int().min(0),
  seconds: z.number().int().min(0),
});
export type SimpleDuration = z.infer<typeof simpleDurationSchema>;

export const productReferenceSchema = z.object({ id, category: id, provider: id });

/** The parameter values that are one plain value, and so an environment variable. */
const plainValueSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text'), value: text(MAX_VALUE_LENGTH) }),
  z.object({ type: z.literal('textarea'), value: text(MAX_VALUE_LENGTH) }),
  z.object({ type: z.literal('integer'), value: z.number().int() }),
  z.object({ type: z.literal('floating_point'), value: z.number() }),
  z.object({ type: z.literal('boolean'), value: z.boolean() }),
  z.object({ type: z.literal('enumeration'), value: text(MAX_VALUE_LENGTH) }),
]);
/** UCloud's other kinds of value: each names a UCloud resource Switchyard does not have. */
const UNMAPPED_VALUE_TYPES = ['file', 'peer', 'license_server', 'network', 'block_storage', 'ingress', 'workflow'] as const;
const parameterValueSchema = z.object({ type: z.string() }).passthrough();

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const jobSpecificationSchema = z.object({
  application: z.object({ name: id, version: id }),
  product: productReferenceSchema,
  name: text(200).nullish(),
  replicas: z.number().int().min(1).default(1),
  allowDuplicateJob: z.boolean().nullish(),
  parameters: z.record(z.string(), parameterValueSchema).nullish(),
  resources: z.array(parameterValueSchema).nullish(),
  timeAllocation: simpleDurationSchema.nullish(),
  openedFile: z.string().nullish(),
  restartOnExit: z.boolean().nullish(),
  sshEnabled: z.boolean().nullish(),
  labels: z.record(z.string(), text(200)).nullish(),
});
export type UcloudJobSpecification = z.infer<typeof jobSpecificationSchema>;

/** Why a specification cannot run here, said as UCloud's 400 says it. */
export class SpecificationError extends Error {}

/**
 * The Switchyard specification of a UCloud one; `backend` is the product's (a container product
 * runs the application's image). The UCloud parameters are kept as the job's parameters.
 */
export function toSpecification(spec: UcloudJobSpecification, backend: string | null): JobSpecificationInput {
  if (spec.openedFile) throw new SpecificationError('openedFile: Switchyard has no UCloud file system to open a file from');
  if (spec.resources?.length) {
    throw new SpecificationError(`resources: ${spec.resources[0]!.type} resources (files, peers, ingresses, IPs) are not available on Switchyard`);
  }
  const parameters = spec.parameters ?? {};
  if (Object.keys(parameters).length > MAX_PARAMETERS) throw new SpecificationError(`parameters: at most ${MAX_PARAMETERS}`);
  const env: Record<string, string> = {};
  let command: string[] | null = null;
  let image: string | null = null;
  for (const [name, raw] of Object.entries(parameters)) {
    if ((UNMAPPED_VALUE_TYPES as readonly string[]).includes(raw.type)) {
      throw new SpecificationError(`parameters.${name}: ${raw.type} values are not available on Switchyard (no UCloud ${raw.type}s here)`);
    }
    const parsed = plainValueSchema.safeParse(raw);
    if (!parsed.success) throw new SpecificationError(`parameters.${name}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
    const value = parsed.data.value;
    if (name === 'command' || name === 'image') {
      if (typeof value !== 'string' || value.trim() === '') throw new SpecificationError(`parameters.${name} must be a text value`);
      if (name === 'command') command = ['sh', '-c', value];
      else image = value;
      continue;
    }
    if (!ENV_NAME.test(name)) throw new SpecificationError(`parameters: "${name}" is not a valid environment variable name`);
    env[name] = String(value);
  }
  if (image === null && backend === 'DOCKER') image = `${spec.application.name}:${spec.application.version}`;
  return {
    product: spec.product,
    application: spec.application,
    command,
    image,
    env: Object.keys(env).length ? env : null,
    name: spec.name ?? null,
    replicas: spec.replicas,
    allowDuplicateJob: spec.allowDuplicateJob ?? false,
    parameters: spec.parameters ?? null,
    timeAllocation: spec.timeAllocation ?? null,
    restartOnExit: spec.restartOnExit ?? null,
    sshEnabled: spec.sshEnabled ?? null,
    tags: spec.labels ? Object.entries(spec.labels).map(([key, value]) => `${key}=${value}`) : null,
  };
}
