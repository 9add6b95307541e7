/**
 * Backend.AI compute sessions on Switchyard jobs: the create request (the
 * Python SDK's `POST /session` body and the JS SDK's legacy aliases) read into
 * a job specification, session statuses derived from job states, and the
 * session as `GET /session/<name>` shows it. A session is a job whose name is
 * the session name; what the dialect keeps of the request sits in the
 * specification's parameters (`backendai`). dialects/README.md says what is
 * mapped and what is refused.
 */
import { z } from 'zod';

import type { Job, Product } from '../../../shared/domain.js';
import { isFinalState, type JobState } from '../../../shared/job-state-machine.js';
import { wasTerminated } from '../../jobs/job-actions.js';
import type { JobSpecificationInput } from '../../jobs/job-specification.js';
import { invalidApiParameters } from './backendai-errors.js';

export const SESSION_STATUSES = [
  'PENDING',
  'SCHEDULED',
  'PREPARING',
  'PULLING',
  'PREPARED',
  'CREATING',
  'RUNNING',
  'RESTARTING',
  'RUNNING_DEGRADED',
  'TERMINATING',
  'TERMINATED',
  'ERROR',
  'CANCELLED',
] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

/** The Switchyard states each status can come from; the statuses of Backend.AI's scheduler between PENDING and RUNNING never show. */
export const CORE_STATES: Record<SessionStatus, JobState[]> = {
  PENDING: ['IN_QUEUE', 'SUSPENDED'],
  SCHEDULED: [],
  PREPARING: [],
  PULLING: [],
  PREPARED: [],
  CREATING: [],
  RUNNING: ['RUNNING'],
  RESTARTING: [],
  RUNNING_DEGRADED: [],
  TERMINATING: ['CANCELING'],
  TERMINATED: ['SUCCESS', 'FAILURE', 'EXPIRED'],
  ERROR: ['FAILURE'],
  CANCELLED: ['SUCCESS', 'FAILURE'],
};

/** The SSE and status names of sessions that have ended: nothing more will happen to them. */
export const isEnded = (status: SessionStatus) => status === 'TERMINATED' || status === 'ERROR' || status === 'CANCELLED';

export function sessionStatus(job: Job): SessionStatus {
  switch (job.state) {
    case 'IN_QUEUE':
    case 'SUSPENDED':
      return 'PENDING';
    case 'RUNNING':
      return 'RUNNING';
    case 'CANCELING':
      return 'TERMINATING';
    case 'SUCCESS':
    case 'FAILURE':
    case 'EXPIRED':
      // Stopped before it ever ran: the manager cancels a pending session. Failed before it ran
      // without being stopped: it could not be started (no room, the provider refused it).
      if (job.startedAt === null && job.state !== 'EXPIRED')
        return wasTerminated(job) ? 'CANCELLED' : job.state === 'FAILURE' ? 'ERROR' : 'TERMINATED';
      return 'TERMINATED';
  }
}

/** `status_info`, in the words the manager uses for the same reasons. */
export function statusInfo(job: Job): string | null {
  const status = sessionStatus(job);
  if (status === 'PENDING') return job.state === 'SUSPENDED' ? 'suspended' : null;
  if (status === 'RUNNING') return null;
  if (status === 'TERMINATING' || status === 'CANCELLED') return 'user-requested';
  if (status === 'ERROR') return 'failed-to-start';
  if (wasTerminated(job)) return 'user-requested';
  if (job.state === 'EXPIRED') return 'session-lifetime';
  return succeeded(job) ? 'task-finished' : 'task-failed';
}

/** Ended by itself with exit code 0 (Switchyard's SUCCESS is any exit; its exit code tells). */
export const succeeded = (job: Job) => job.state === 'SUCCESS' && (job.exitCode ?? 0) === 0;

/** `result`, as the manager sets it for batch sessions only: UNDEFINED until the task ends, then SUCCESS or FAILURE by its exit. */
export function sessionResult(job: Job): 'UNDEFINED' | 'SUCCESS' | 'FAILURE' {
  if (baiParameters(job).type !== 'batch' || !isFinalState(job.state)) return 'UNDEFINED';
  return succeeded(job) ? 'SUCCESS' : 'FAILURE';
}

/** What the dialect keeps of a session's request. */
export interface BaiParameters {
  backendai: { type: 'interactive' | 'batch'; startupCommand: string | null; architecture: string; tag: string | null };
}

export function baiParameters(job: Job): BaiParameters['backendai'] {
  const value = (job.specification.parameters as Partial<BaiParameters> | null)?.backendai;
  if (value && (value.type === 'interactive' || value.type === 'batch')) return value;
  // A job made through another API is a batch session of its command.
  return { type: 'batch', startupCommand: job.specification.command?.join(' ') ?? null, architecture: 'x86_64', tag: null };
}

/** A session's name: its job's name, or the id of a job made elsewhere without one. */
export const sessionName = (job: Job) => job.specification.name ?? job.id;

/** Backend.AI's session names: 4 to 64 characters, word characters with "." and "-" inside (manager's session_name validator). */
export const SESSION_NAME = /^(?=.{4,64}$)\w[\w.-]*\w$/;

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50, e: 2 ** 60 };

/** Backend.AI's BinarySize: "1g", "512m", "1.5GiB", "1073741824" (bytes). */
export function parseBinarySize(value: string | number): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : null;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgtpe]?)(?:i?b)?\s*$/i.exec(value);
  if (!match) return null;
  return Number(match[1]) * UNITS[match[2]!.toLowerCase()]!;
}

const numberish = z.union([
  z.number(),
  z
    .string()
    .regex(/^\s*\d+(\.\d+)?\s*$/)
    .transform(Number),
]);
const text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((value) => !/\p{Cs}/u.test(value), 'must be valid Unicode text');

const resourcesSchema = z
  .object({
    cpu: numberish.optional(),
    mem: z.union([z.number(), z.string()]).optional(),
    'cuda.device': numberish.optional(),
    'cuda.shares': numberish.optional(),
  })
  .catchall(z.unknown());

const configSchema = z
  .object({
    resources: resourcesSchema.nullish(),
    environ: z.record(z.string(), z.string()).nullish(),
    mounts: z.array(z.unknown()).nullish(),
    mount_ids: z.array(z.unknown()).nullish(),
    scalingGroup: z.string().nullish(),
    scaling_group: z.string().nullish(),
    clusterSize: z.number().int().min(1).nullish(),
  })
  .catchall(z.unknown());

/** The manager's create parameters (manager/api/session.py create_from_params), with its aliases. */
export const createSchema = z
  .object({
    name: text(64).optional(),
    clientSessionToken: text(64).optional(),
    session_name: text(64).optional(),
    image: text(512).optional(),
    lang: text(512).optional(),
    type: z.enum(['interactive', 'batch', 'inference']).nullish(),
    tag: text(256).nullish(),
    config: configSchema.nullish(),
    startupCommand: text(64 * 1024).nullish(),
    enqueueOnly: z.boolean().nullish(),
    maxWaitSeconds: z.number().int().min(0).nullish(),
    reuseIfExists: z.boolean().nullish(),
    batch_timeout: z.number().int().min(0).nullish(),
    priority: z.number().int().min(0).max(100).nullish(),
    starts_at: z.string().nullish(),
    bootstrap_script: z.string().nullish(),
    bootstrapScript: z.string().nullish(),
    dependencies: z.array(z.unknown()).nullish(),
    callback_url: z.string().nullish(),
    clusterSize: z.number().int().min(1).nullish(),
    cluster_size: z.number().int().min(1).nullish(),
    clusterMode: z.enum(['single-node', 'multi-node']).nullish(),
    cluster_mode: z.enum(['single-node', 'multi-node']).nullish(),
    architecture: text(64).nullish(),
    owner_access_key: z.string().nullish(),
    domain: z.string().nullish(),
    group: z.string().nullish(),
    group_name: z.string().nullish(),
  })
  .catchall(z.unknown());

export type CreateRequest = z.infer<typeof createSchema>;

/** The workspace a Backend.AI group is: "default" the user's own, any other a Switchyard project of that id. */
export const projectOfGroup = (group: string | null | undefined) => (!group || group === 'default' ? null : group);

export interface SessionRequest {
  name: string;
  image: string;
  enqueueOnly: boolean;
  maxWaitSeconds: number;
  reuseIfExists: boolean;
  specification: JobSpecificationInput;
}

/** An interactive session stays up until it is destroyed, as a Backend.AI kernel does. */
const KEEP_ALIVE = 'while :; do sleep 60; done';

/** The request as a job; InvalidAPIParameters for what Switchyard cannot run (refused before the core is called). */
export function toSessionRequest(body: CreateRequest, ownAccessKey: string): SessionRequest {
  const name = body.name ?? body.clientSessionToken ?? body.session_name;
  if (!name || !SESSION_NAME.test(name))
    throw invalidApiParameters('name: 4 to 64 letters, digits, "_", "." and "-", not starting or ending with "." or "-"');
  const image = body.image ?? body.lang;
  if (!image) throw invalidApiParameters('image: the image of the session is required');
  const type = body.type ?? 'interactive';
  if (type === 'inference') throw invalidApiParameters('Switchyard runs interactive and batch sessions; inference sessions are model services');
  if (type === 'batch' && !body.startupCommand) throw invalidApiParameters('Batch sessions require a non-empty startup command.');
  if (body.starts_at)
    throw invalidApiParameters('starts_at: Switchyard does not start sessions at a set time; a schedule does that through the core API');
  if (body.bootstrap_script || body.bootstrapScript) throw invalidApiParameters('bootstrap_script: not supported; put it in the startup command');
  if (body.dependencies?.length) throw invalidApiParameters('dependencies: Switchyard does not order sessions after others');
  if (body.callback_url) throw invalidApiParameters('callback_url: not supported; follow /events/session');
  if (body.owner_access_key && body.owner_access_key !== ownAccessKey)
    throw invalidApiParameters('owner_access_key: sessions are created for the caller only');
  const config = body.config ?? {};
  if (config.mounts?.length || config.mount_ids?.length) throw invalidApiParameters('mounts: Switchyard has no virtual folders to mount');
  const resources = config.resources ?? {};
  const memory = resources.mem === undefined ? null : parseBinarySize(resources.mem);
  if (memory === null && resources.mem !== undefined) throw invalidApiParameters(`config.resources.mem: "${String(resources.mem)}" is not a size`);
  const gpu = resources['cuda.device'] ?? resources['cuda.shares'];
  if (gpu !== undefined && !Number.isInteger(gpu)) throw invalidApiParameters('config.resources: Switchyard allocates whole GPUs (cuda.device)');
  const scalingGroup = config.scalingGroup ?? config.scaling_group ?? null;
  const command = body.startupCommand ?? null;
  const parameters: BaiParameters = {
    backendai: { type, startupCommand: command, architecture: body.architecture ?? 'x86_64', tag: body.tag ?? null },
  };
  return {
    name,
    image,
    enqueueOnly: body.enqueueOnly ?? false,
    maxWaitSeconds: body.maxWaitSeconds ?? 0,
    reuseIfExists: body.reuseIfExists ?? true,
    specification: {
      name,
      image,
      command: ['sh', '-c', type === 'batch' ? command! : command ? `${command}\n${KEEP_ALIVE}` : KEEP_ALIVE],
      env: config.environ ?? null,
      replicas: body.clusterSize ?? body.cluster_size ?? config.clusterSize ?? 1,
      requirements: {
        cpu: resources.cpu ?? null,
        memoryInGigs: memory === null ? null : memory / 2 ** 30,
        gpu: gpu ?? null,
        providers: !scalingGroup || scalingGroup === 'default' ? null : [scalingGroup],
      },
      timeAllocation: body.batch_timeout ? { seconds: body.batch_timeout } : null,
      priority: body.priority ?? null,
      tags: body.tag ? [body.tag] : [],
      project: projectOfGroup(body.group ?? body.group_name),
      parameters,
      // Backend.AI tells sessions apart by name, never by content.
      allowDuplicateJob: true,
    },
  };
}

/** Resource slots as Backend.AI writes them: decimal strings, memory in bytes. */
export function slotsOf(product: Pick<Product, 'cpu' | 'memoryInGigs' | 'gpu'> | undefined, replicas = 1): Record<string, string> {
  if (!product) return {};
  const slots: Record<string, string> = {
    cpu: String(product.cpu * replicas),
    mem: String(Math.round(product.memoryInGigs * 2 ** 30) * replicas),
  };
  if (product.gpu > 0) slots['cuda.device'] = String(product.gpu * replicas);
  return slots;
}

export const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** When the session reached the status it has (its last state change). */
export const statusChanged = (job: Job) => job.updates.findLast((update) => update.state !== null)?.timestamp ?? job.createdAt;

export function terminatedAt(job: Job): number | null {
  return isFinalState(job.state) ? statusChanged(job) : null;
}

/** Each status the session went through, and when (Backend.AI's status_history). */
export function statusHistory(job: Job): Record<string, string> {
  const history: Record<string, string> = { PENDING: new Date(job.createdAt).toISOString() };
  let seen: Job = { ...job, state: 'IN_QUEUE', startedAt: null, updates: [] };
  for (const update of job.updates) {
    seen = { ...seen, updates: [...seen.updates, update] };
    if (update.state === null) continue;
    seen = { ...seen, state: update.state, startedAt: update.state === 'RUNNING' ? update.timestamp : seen.startedAt };
    history[sessionStatus(seen)] ??= new Date(update.timestamp).toISOString();
  }
  return history;
}

type ProductOf = (job: Job) => Product | undefined;

/** GET /session/<name>: the manager's session info (six of its fields are str() of a dict, as it sends them). */
export function sessionInfo(job: Job, productOf: ProductOf, now: number) {
  const bai = baiParameters(job);
  const slots = slotsOf(productOf(job), job.specification.replicas);
  const pyDict = (value: Record<string, string>) =>
    `{${Object.entries(value)
      .map(([k, v]) => `'${k}': '${v}'`)
      .join(', ')}}`;
  const [registry, tag] = splitImage(job.specification.image ?? '');
  return {
    age: Math.max(0, (terminatedAt(job) ?? now) - job.createdAt),
    domainName: 'default',
    groupId: job.owner.project ?? 'default',
    userId: job.owner.createdBy,
    lang: job.specification.image,
    image: job.specification.image,
    architecture: bai.architecture,
    registry,
    tag,
    containerId: job.providerGeneratedId,
    occupiedSlots: pyDict(isFinalState(job.state) || job.state === 'IN_QUEUE' ? {} : slots),
    occupyingSlots: pyDict(slots),
    requestedSlots: pyDict(slots),
    occupiedShares: '{}',
    environ: pyDict(job.specification.env ?? {}),
    resourceOpts: '{}',
    status: sessionStatus(job),
    statusInfo: statusInfo(job),
    statusData: { exitCode: job.exitCode, provider: job.providerId, state: job.state },
    creationTime: iso(job.createdAt),
    terminationTime: iso(terminatedAt(job)),
    numQueriesExecuted: 0,
    lastStat: {},
    idleChecks: {},
  };
}

/** "registry/name:tag" → [registry, tag], as Backend.AI splits an image reference. */
function splitImage(image: string): [string | null, string | null] {
  const slash = image.indexOf('/');
  const registry = slash > 0 && /[.:]/.test(image.slice(0, slash)) ? image.slice(0, slash) : null;
  const colon = image.lastIndexOf(':');
  return [registry, colon > image.lastIndexOf('/') ? image.slice(colon + 1) : null];
}
