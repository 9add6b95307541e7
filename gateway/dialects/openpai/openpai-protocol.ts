/**
 * OpenPAI's job protocol v2 (YAML) read into a Switchyard job specification,
 * and the protocol of a Switchyard job written back out (GET .../config).
 * The schema follows OpenPAI's (src/rest-server/src/config/v2/protocol.js);
 * what Switchyard cannot run is refused here, before the core is called
 * (dialects/README.md lists it).
 */
import { parse, stringify } from 'yaml';
import { z } from 'zod';

import type { Job } from '../../../shared/domain.js';
import type { JobSpecificationInput } from '../../jobs/job-specification.js';
import { invalidProtocol } from './openpai-errors.js';

/** The virtual cluster every OpenPAI cluster has: here, the whole pool (routing picks the provider). */
export const DEFAULT_VC = 'default';

const JOB_NAME = /^[a-zA-Z0-9_-]+$/;
const TASK_ROLE_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Mustache with OpenPAI's tags: rendered by its server, not by Switchyard. */
const TEMPLATE = /<%.*%>/s;

const prerequisiteSchema = z.object({
  type: z.enum(['dockerimage', 'script', 'output', 'data']),
  name: z.string().min(1),
  uri: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  auth: z.record(z.string(), z.string()).optional(),
});

const taskRoleSchema = z.object({
  instances: z.number().int().min(1).default(1),
  dockerImage: z.string().min(1),
  resourcePerInstance: z.object({
    cpu: z.number().int().min(1),
    memoryMB: z.number().int().min(100),
    gpu: z.number().int().min(0),
    ports: z.record(z.string(), z.number().int().min(0)).optional(),
  }),
  commands: z.array(z.string()).min(1),
  taskRetryCount: z.number().int().min(0).default(0),
  completion: z
    .object({ minFailedInstances: z.number().int().nullable().optional(), minSucceedInstances: z.number().int().nullable().optional() })
    .optional(),
  data: z.string().optional(),
  output: z.string().optional(),
  script: z.string().optional(),
  extraContainerOptions: z.record(z.string(), z.unknown()).optional(),
});

export const protocolSchema = z.object({
  protocolVersion: z.union([z.literal(2), z.literal('2')]),
  name: z.string().min(1).max(200).regex(JOB_NAME, 'a job name uses letters, digits, "_" and "-" only'),
  type: z.literal('job'),
  version: z.union([z.string(), z.number()]).optional(),
  contributor: z.string().optional(),
  description: z.string().optional(),
  prerequisites: z.array(prerequisiteSchema).default([]),
  parameters: z.record(z.string(), z.unknown()).optional(),
  secrets: z.union([z.record(z.string(), z.unknown()), z.string()]).optional(),
  jobRetryCount: z.number().int().min(0).default(0),
  taskRoles: z.record(z.string().regex(TASK_ROLE_NAME, 'a task role name is a letter or "_", then letters, digits and "_"'), taskRoleSchema),
  deployments: z.array(z.unknown()).optional(),
  defaults: z.object({ virtualCluster: z.string().min(1).optional(), deployment: z.string().optional() }).optional(),
  extras: z.record(z.string(), z.unknown()).optional(),
});

export type Protocol = z.infer<typeof protocolSchema>;

/** What the dialect keeps of a job's OpenPAI shape, in its specification's parameters. */
export interface PaiParameters {
  openpai: { taskRole: string; virtualCluster: string; resourcePerInstance: { cpu: number; memoryMB: number; gpu: number } };
}

export function paiParameters(job: Job): PaiParameters['openpai'] | null {
  const value = (job.specification.parameters as Partial<PaiParameters> | null)?.openpai;
  return value && typeof value.taskRole === 'string' && typeof value.virtualCluster === 'string' ? value : null;
}

/** A job's virtual cluster: the one it was submitted to, or (made through another API) its provider. */
export function virtualClusterOf(job: Job): string {
  return paiParameters(job)?.virtualCluster ?? job.providerId;
}

function issuesText(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || '(document)'}: ${issue.message}`).join('; ');
}

/** The YAML text as a protocol; InvalidProtocolError for malformed YAML or a document outside the schema. */
export function parseProtocol(text: string): Protocol {
  let document: unknown;
  try {
    // An alias bomb stops at the library's alias limit; duplicate keys are an error, as in js-yaml.
    document = parse(text, { maxAliasCount: 100, uniqueKeys: true });
  } catch (error) {
    throw invalidProtocol(`The job protocol is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const result = protocolSchema.safeParse(document);
  if (!result.success) throw invalidProtocol(issuesText(result.error));
  return result.data;
}

/**
 * The protocol as a Switchyard job: one task role → one job of `instances` replicas running its
 * commands (joined with && as OpenPAI's runtime does) on a product routed by its resources, in the
 * virtual cluster's provider (the default one: anywhere).
 */
export function toSpecification(protocol: Protocol): JobSpecificationInput {
  const roles = Object.entries(protocol.taskRoles);
  if (roles.length !== 1) throw invalidProtocol(`Switchyard runs one task role per job; this job has ${roles.length}.`);
  const [taskRole, role] = roles[0]!;
  if (protocol.jobRetryCount > 0 || role.taskRetryCount > 0)
    throw invalidProtocol('Switchyard does not retry jobs or tasks: set jobRetryCount and taskRetryCount to 0.');
  if (protocol.deployments?.length || protocol.defaults?.deployment) throw invalidProtocol('Switchyard does not support deployments.');
  if (role.data || role.output || role.script) throw invalidProtocol('Switchyard does not support data, output or script prerequisites.');
  if (role.commands.some((command) => TEMPLATE.test(command)))
    throw invalidProtocol('Switchyard does not render <% %> templates in commands; write the values out.');
  const image = protocol.prerequisites.find((p) => p.type === 'dockerimage' && p.name === role.dockerImage);
  if (!image) throw invalidProtocol(`Prerequisite ${role.dockerImage} does not exist.`);
  const virtualCluster = protocol.defaults?.virtualCluster ?? DEFAULT_VC;
  const { cpu, memoryMB, gpu } = role.resourcePerInstance;
  const parameters: PaiParameters = { openpai: { taskRole, virtualCluster, resourcePerInstance: { cpu, memoryMB, gpu } } };
  return {
    name: protocol.name,
    description: protocol.description ?? null,
    command: ['sh', '-c', role.commands.map((command) => command.trim()).join(' && ')],
    image: [image.uri].flat()[0]!,
    replicas: role.instances,
    requirements: {
      cpu: role.resourcePerInstance.cpu,
      memoryInGigs: role.resourcePerInstance.memoryMB / 1024,
      gpu: role.resourcePerInstance.gpu,
      providers: virtualCluster === DEFAULT_VC ? null : [virtualCluster],
    },
    parameters,
    // OpenPAI tells jobs apart by name (a second job of the same name is a conflict), never by content.
    allowDuplicateJob: true,
  };
}

/** The job's commands: what toSpecification joined. */
function commandsOf(job: Job): string[] {
  const command = job.specification.command ?? [];
  if (command.length === 3 && command[0] === 'sh' && command[1] === '-c') return command[2]!.split(' && ');
  return [command.join(' ')];
}

/** A job as a protocol v2 document, written from what Switchyard stored (the submitted text is not kept). */
export function configOf(job: Job, product: { cpu: number; memoryInGigs: number; gpu: number } | undefined): string {
  const spec = job.specification;
  const pai = paiParameters(job);
  const taskRole = pai?.taskRole ?? 'taskrole';
  return stringify({
    protocolVersion: 2,
    name: spec.name ?? job.id,
    type: 'job',
    ...(spec.description ? { description: spec.description } : {}),
    prerequisites: spec.image ? [{ type: 'dockerimage', name: 'image', uri: spec.image }] : [],
    taskRoles: {
      [taskRole]: {
        instances: spec.replicas,
        ...(spec.image ? { dockerImage: 'image' } : {}),
        // As asked; a job made through another API asked for its product's.
        resourcePerInstance: pai?.resourcePerInstance ?? {
          cpu: Math.max(1, Math.round(product?.cpu ?? 1)),
          memoryMB: Math.round((product?.memoryInGigs ?? 1) * 1024),
          gpu: product?.gpu ?? 0,
        },
        commands: commandsOf(job),
      },
    },
    defaults: { virtualCluster: virtualClusterOf(job) },
  });
}
