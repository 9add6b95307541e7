/**
 * Switchyard as Apolo shows it: job statuses and their reasons derived from
 * our states, presets from products, capacity per preset, and the job JSON
 * the SDK reads (apolo_sdk/_jobs.py `_job_description_from_api`). Each
 * provider is an Apolo cluster and its products are that cluster's presets;
 * there is one organization, and a user's projects are its own workspace
 * (named by the user) and the Switchyard projects it is a member of.
 */
import { quote } from 'shell-quote';

import type { Job, Product, Utilization } from '../../../shared/domain.js';
import { isFinalState, type JobState } from '../../../shared/job-state-machine.js';
import { wasTerminated } from '../../jobs/job-actions.js';

/** The one organization every cluster has (the SDK needs one to select a project). */
export const APOLO_ORG = 'switchyard';

export const APOLO_STATUSES = ['pending', 'suspended', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type ApoloStatus = (typeof APOLO_STATUSES)[number];

/** The Switchyard states each Apolo status comes from (cancelled: terminated, so the states a stop passes and ends in). */
export const CORE_STATES: Record<ApoloStatus, JobState[]> = {
  pending: ['IN_QUEUE'],
  suspended: ['SUSPENDED'],
  running: ['RUNNING'],
  succeeded: ['SUCCESS'],
  failed: ['FAILURE', 'EXPIRED'],
  cancelled: ['CANCELING', 'SUCCESS', 'FAILURE'],
};

/** A status with Apolo's reason for it (platform-api's JobStatusReason names). */
export interface ApoloStatusItem {
  status: ApoloStatus;
  reason: string;
}

/**
 * The Apolo status of a job in `state`; `terminated` when someone stopped it. As Apolo's API
 * does, a job is cancelled as soon as it is asked to stop (CANCELING), not once it has.
 */
export function apoloStatusOf(state: JobState, terminated: boolean): ApoloStatusItem {
  switch (state) {
    case 'IN_QUEUE':
      return { status: 'pending', reason: 'Scheduling' };
    case 'SUSPENDED':
      return { status: 'suspended', reason: 'Suspended' };
    case 'RUNNING':
      return { status: 'running', reason: '' };
    case 'CANCELING':
      return { status: 'cancelled', reason: 'UserRequested' };
    case 'SUCCESS':
      return terminated ? { status: 'cancelled', reason: 'UserRequested' } : { status: 'succeeded', reason: '' };
    case 'FAILURE':
      return terminated ? { status: 'cancelled', reason: 'UserRequested' } : { status: 'failed', reason: 'Error' };
    case 'EXPIRED':
      return { status: 'failed', reason: 'LifeSpanEnded' };
  }
}

export function apoloStatus(job: Job): ApoloStatusItem {
  return apoloStatusOf(job.state, wasTerminated(job));
}

const GIB = 1024 ** 3;
/** Credits of a product's price unit in an hour. */
const UNITS_PER_HOUR = { CREDITS_PER_MINUTE: 60, CREDITS_PER_HOUR: 1, CREDITS_PER_DAY: 1 / 24 } as const;

/** A decimal string, as Apolo sends credits (the SDK reads them with Decimal). */
function decimal(value: number): string {
  return String(Math.round(value * 10_000) / 10_000);
}

export function creditsPerHour(product: Pick<Product, 'pricePerUnit' | 'unitOfPrice' | 'freeToUse'>): string {
  return product.freeToUse ? '0' : decimal(product.pricePerUnit * UNITS_PER_HOUR[product.unitOfPrice]);
}

/** One of a cluster's `resource_presets`: a product, memory in bytes, GPUs as NVIDIA's (products name no GPU model). */
export function presetOf(product: Product, pool: string | null) {
  return {
    name: product.id,
    credits_per_hour: creditsPerHour(product),
    cpu: product.cpu,
    memory: Math.round(product.memoryInGigs * GIB),
    ...(product.gpu > 0 ? { nvidia_gpu: { count: product.gpu } } : {}),
    scheduler_enabled: false,
    preemptible_node: false,
    resource_pool_names: pool ? [pool] : [],
    available_resource_pool_names: pool ? [pool] : [],
  };
}

/** The provider's capacity as one resource pool (Apolo's node pool); none while its capacity is unknown. */
export function resourcePoolOf(providerId: string, utilization: Utilization | null) {
  if (!utilization) return null;
  const { cpu, memoryInGigs, gpu } = utilization.capacity;
  return {
    name: providerId,
    min_size: 1,
    max_size: 1,
    cpu,
    memory: Math.round(memoryInGigs * GIB),
    disk_size: 0,
    ...(gpu > 0 ? { nvidia_gpu: { count: gpu, model: 'unknown' } } : {}),
    is_preemptible: false,
  };
}

/**
 * How many more jobs of each product could start now (get_capacity): the provider's own count
 * where it gives one, else what its free CPU, memory and GPUs hold; zero while its capacity is unknown.
 */
export function capacityOf(products: readonly Product[], utilization: Utilization | null): Record<string, number> {
  const result: Record<string, number> = {};
  for (const product of products) {
    if (!utilization) {
      result[product.id] = 0;
      continue;
    }
    const told = utilization.capacityByProduct[product.id];
    if (told !== undefined) {
      result[product.id] = told;
      continue;
    }
    const free = (key: 'cpu' | 'memoryInGigs' | 'gpu') => Math.max(0, utilization.capacity[key] - utilization.usedCapacity[key]);
    const fits = (key: 'cpu' | 'memoryInGigs' | 'gpu') => (product[key] > 0 ? Math.floor(free(key) / product[key]) : Number.POSITIVE_INFINITY);
    const count = Math.min(fits('cpu'), fits('memoryInGigs'), fits('gpu'));
    result[product.id] = Number.isFinite(count) ? count : 0;
  }
  return result;
}

const iso = (ms: number | null) => (ms === null ? undefined : new Date(ms).toISOString());

/** The job's status changes, each once, as Apolo's `statuses` lists them. */
function transitions(job: Job) {
  const items: { status: ApoloStatus; transition_time: string; reason: string; description?: string; exit_code?: number }[] = [];
  let terminated = false;
  const push = (state: JobState, at: number, description: string | null) => {
    const { status, reason } = apoloStatusOf(state, terminated || (isFinalState(state) && wasTerminated(job)));
    if (items.at(-1)?.status === status) return;
    items.push({ status, transition_time: new Date(at).toISOString(), reason, ...(description ? { description } : {}) });
  };
  push('IN_QUEUE', job.createdAt, null);
  for (const update of job.updates) {
    if (!update.state) continue;
    if (update.state === 'CANCELING') terminated = true;
    push(update.state, update.timestamp, update.status);
  }
  const last = items.at(-1);
  if (last && isFinalState(job.state) && job.exitCode !== null) last.exit_code = job.exitCode;
  return items;
}

export interface JobContext {
  product: Product | undefined;
  /** Credits charged so far. */
  charged: number;
}

/** The job as Apolo's API answers it (GET /jobs/{id}, and each line of a listing). */
export function jobView(job: Job, { product, charged }: JobContext) {
  const spec = job.specification;
  const { status, reason } = apoloStatus(job);
  const project = job.owner.project ?? job.owner.createdBy;
  const finishedAt = isFinalState(job.state) ? (job.updates.findLast((update) => update.state === job.state)?.timestamp ?? null) : null;
  const description = job.updates.findLast((update) => update.status)?.status ?? '';
  const runTime = job.startedAt !== null ? Math.max(0, Math.round(((finishedAt ?? Date.now()) - job.startedAt) / 1000)) : 0;
  const [first, ...rest] = spec.command ?? [];
  return {
    id: job.id,
    owner: job.owner.createdBy,
    cluster_name: job.providerId,
    org_name: APOLO_ORG,
    project_name: project,
    namespace: '',
    uri: `job://${job.providerId}/${APOLO_ORG}/${project}/${job.id}`,
    status,
    statuses: transitions(job),
    history: {
      status,
      reason,
      description,
      restarts: 0,
      created_at: iso(job.createdAt),
      started_at: iso(job.startedAt),
      finished_at: iso(finishedAt),
      run_time_seconds: runTime,
      ...(job.exitCode !== null ? { exit_code: job.exitCode } : {}),
    },
    container: {
      image: spec.image ?? 'ubuntu:latest',
      ...(first !== undefined ? { entrypoint: quote([first]), ...(rest.length ? { command: quote(rest) } : {}) } : {}),
      ...(spec.workingDir ? { working_dir: spec.workingDir } : {}),
      env: (spec.env as Record<string, string> | null) ?? {},
      resources: {
        cpu: product?.cpu ?? 0,
        memory: Math.round((product?.memoryInGigs ?? 0) * GIB),
        ...(product && product.gpu > 0 ? { nvidia_gpu: product.gpu } : {}),
        shm: true,
      },
    },
    scheduler_enabled: false,
    preemptible_node: false,
    privileged: false,
    pass_config: false,
    ...(spec.name ? { name: spec.name } : {}),
    tags: spec.tags,
    ...(spec.description ? { description: spec.description } : {}),
    preset_name: spec.product.id,
    restart_policy: spec.restartOnExit ? 'always' : 'never',
    ...(spec.timeAllocationMs !== null ? { max_run_time_minutes: Math.ceil(spec.timeAllocationMs / 60_000) } : {}),
    ...(spec.scheduleTimeout !== null && spec.scheduleTimeout !== undefined ? { schedule_timeout: spec.scheduleTimeout } : {}),
    priority: 'normal',
    total_price_credits: decimal(charged),
    price_credits_per_hour: product ? creditsPerHour(product) : '0',
    materialized: true,
    being_dropped: false,
    logs_removed: false,
  };
}
