/**
 * Switchyard jobs and providers as OpenPAI shows them: job states derived from
 * ours, job summaries (list) and details (get), and virtual clusters from the
 * providers' utilization. Field names are OpenPAI's (frameworkConverter.js,
 * virtual-cluster model); what has no Switchyard counterpart is null or zero.
 */
import type { Job, Product, Utilization } from '../../../shared/domain.js';
import { isFinalState, type JobState } from '../../../shared/job-state-machine.js';
import { wasTerminated } from '../../jobs/job-actions.js';
import type { ProviderRegistry } from '../../registry/provider-registry.js';
import type { UtilizationCache } from '../../registry/utilization-cache.js';
import { DEFAULT_VC, paiParameters, virtualClusterOf } from './openpai-protocol.js';

export const PAI_STATES = ['WAITING', 'RUNNING', 'STOPPING', 'SUCCEEDED', 'STOPPED', 'FAILED'] as const;
export type PaiState = (typeof PAI_STATES)[number];

/** The Switchyard states each OpenPAI state comes from (SUCCEEDED and STOPPED both end in SUCCESS or FAILURE: terminated or not). */
export const CORE_STATES: Record<PaiState, JobState[]> = {
  WAITING: ['IN_QUEUE', 'SUSPENDED'],
  RUNNING: ['RUNNING'],
  STOPPING: ['CANCELING'],
  SUCCEEDED: ['SUCCESS'],
  STOPPED: ['SUCCESS', 'FAILURE'],
  FAILED: ['FAILURE', 'EXPIRED'],
};

export function paiState(job: Job): PaiState {
  switch (job.state) {
    case 'IN_QUEUE':
    case 'SUSPENDED':
      return 'WAITING';
    case 'RUNNING':
      return 'RUNNING';
    case 'CANCELING':
      return 'STOPPING';
    case 'SUCCESS':
      return wasTerminated(job) ? 'STOPPED' : 'SUCCEEDED';
    case 'FAILURE':
      return wasTerminated(job) ? 'STOPPED' : 'FAILED';
    case 'EXPIRED':
      return 'FAILED';
  }
}

/** "STOP" once someone asked the job to stop, as OpenPAI's executionType says. */
function executionType(job: Job): 'START' | 'STOP' {
  return job.state === 'CANCELING' || wasTerminated(job) ? 'STOP' : 'START';
}

function completedTime(job: Job): number | null {
  if (!isFinalState(job.state)) return null;
  return job.updates.findLast((update) => update.state === job.state)?.timestamp ?? null;
}

export function frameworkName(job: Job): string {
  return `${job.owner.createdBy}~${job.specification.name ?? job.id}`;
}

type ProductOf = (job: Job) => Product | undefined;

/** One item of GET /api/v2/jobs. */
export function jobSummary(job: Job, productOf: ProductOf) {
  const gpu = paiParameters(job)?.resourcePerInstance.gpu ?? productOf(job)?.gpu ?? 0;
  return {
    debugId: job.id,
    name: job.specification.name ?? job.id,
    username: job.owner.createdBy,
    state: paiState(job),
    subState: job.state,
    executionType: executionType(job),
    tags: job.specification.tags,
    retries: 0,
    retryDetails: { user: 0, platform: 0, resource: 0 },
    retryDelayTime: null,
    submissionTime: job.createdAt,
    createdTime: job.createdAt,
    launchedTime: job.startedAt,
    completedTime: completedTime(job),
    appExitCode: job.exitCode,
    virtualCluster: virtualClusterOf(job),
    totalGpuNumber: gpu * job.specification.replicas,
    totalTaskNumber: job.specification.replicas,
    totalTaskRoleNumber: 1,
    jobPriority: job.specification.priority ?? 'default',
  };
}

/** GET /api/v2/jobs/<user>~<name>: the job, and its one task role with a task per replica. */
export function jobDetail(job: Job, productOf: ProductOf) {
  const summary = jobSummary(job, productOf);
  const lastStatus = job.updates.findLast((update) => update.status)?.status ?? null;
  const taskRole = paiParameters(job)?.taskRole ?? 'taskrole';
  return {
    debugId: job.id,
    name: summary.name,
    tags: summary.tags,
    jobPriority: summary.jobPriority,
    jobStatus: {
      username: summary.username,
      state: summary.state,
      subState: summary.subState,
      executionType: summary.executionType,
      retries: 0,
      retryDetails: summary.retryDetails,
      retryDelayTime: null,
      createdTime: job.createdAt,
      launchedTime: job.startedAt,
      completedTime: summary.completedTime,
      attemptId: 0,
      attemptState: summary.state,
      appId: job.id,
      appProgress: null,
      appTrackingUrl: null,
      appCreatedTime: job.createdAt,
      appLaunchedTime: job.startedAt,
      appCompletedTime: summary.completedTime,
      appExitCode: job.exitCode,
      appExitSpec: null,
      appExitDiagnostics: lastStatus,
      appExitMessages: null,
      appExitTriggerMessage: null,
      appExitTriggerTaskRoleName: null,
      appExitTriggerTaskIndex: null,
      appExitType: null,
      virtualCluster: summary.virtualCluster,
    },
    taskRoles: {
      [taskRole]: {
        taskRoleStatus: { name: taskRole },
        taskStatuses: Array.from({ length: job.specification.replicas }, (_, taskIndex) => ({
          taskIndex,
          taskUid: `${job.id}-${taskIndex}`,
          taskState: summary.state,
          containerId: job.providerGeneratedId,
          containerIp: null,
          containerNodeName: job.providerId,
          containerPorts: null,
          containerGpus: null,
          containerLog: null,
          containerExitCode: job.exitCode,
          containerExitSpec: null,
          containerExitDiagnostics: null,
          retries: 0,
          accountableRetries: 0,
          createdTime: job.createdAt,
          launchedTime: job.startedAt,
          completedTime: summary.completedTime,
          attemptId: 0,
          attemptState: summary.state,
        })),
      },
    },
  };
}

interface Resources {
  cpu: number;
  memory: number;
  gpu: number;
}

const resources = (cpu: number, memoryInGigs: number, gpu: number): Resources => ({ cpu, memory: Math.round(memoryInGigs * 1024), gpu });

function percent(part: number, whole: number): number {
  return whole > 0 ? Math.round((part / whole) * 10_000) / 100 : 0;
}

/** One virtual cluster of GET /api/v2/virtual-clusters, from a capacity and its share of the pool. */
function virtualCluster(total: Resources, used: Resources, pool: Resources, queue: { running: number; pending: number }) {
  // OpenPAI measures capacity in GPUs; a pool without GPUs is measured in CPUs.
  const unit: keyof Resources = pool.gpu > 0 ? 'gpu' : 'cpu';
  return {
    capacity: percent(total[unit], pool[unit]),
    maxCapacity: percent(total[unit], pool[unit]),
    usedCapacity: percent(used[unit], pool[unit]),
    numActiveJobs: queue.running,
    numPendingJobs: queue.pending,
    numJobs: queue.running + queue.pending,
    dedicated: false,
    nodeList: [] as string[],
    status: 'RUNNING',
    resourcesUsed: { ...used, vCores: used.cpu, GPUs: used.gpu },
    resourcesGuaranteed: { ...total, vCores: total.cpu, GPUs: total.gpu },
    resourcesTotal: { ...total, vCores: total.cpu, GPUs: total.gpu },
  };
}

export type VirtualCluster = ReturnType<typeof virtualCluster>;

/** Every provider that has told its capacity is a virtual cluster; "default" is all of them. */
export function virtualClusters(registry: ProviderRegistry, utilization: UtilizationCache): Record<string, VirtualCluster> {
  const known = registry
    .list()
    .filter((entry) => entry.manifest)
    .map((entry) => ({ id: entry.id, utilization: utilization.get(entry.id) }))
    .filter((entry): entry is { id: string; utilization: Utilization } => entry.utilization !== null);
  const sum = (pick: (u: Utilization) => { cpu: number; memoryInGigs: number; gpu: number }) =>
    known.reduce(
      (acc, entry) => {
        const r = pick(entry.utilization);
        return resources(acc.cpu + r.cpu, acc.memory / 1024 + r.memoryInGigs, acc.gpu + r.gpu);
      },
      resources(0, 0, 0),
    );
  const pool = sum((u) => u.capacity);
  const queue = known.reduce(
    (acc, { utilization: u }) => ({ running: acc.running + u.queueStatus.running, pending: acc.pending + u.queueStatus.pending }),
    {
      running: 0,
      pending: 0,
    },
  );
  const clusters: Record<string, VirtualCluster> = {
    [DEFAULT_VC]: virtualCluster(
      pool,
      sum((u) => u.usedCapacity),
      pool,
      queue,
    ),
  };
  for (const { id, utilization: u } of known) {
    const total = resources(u.capacity.cpu, u.capacity.memoryInGigs, u.capacity.gpu);
    clusters[id] = virtualCluster(total, resources(u.usedCapacity.cpu, u.usedCapacity.memoryInGigs, u.usedCapacity.gpu), pool, u.queueStatus);
  }
  return clusters;
}

/** GET /api/v2/virtual-clusters/<vc>/sku-types: the products of the provider (every provider's for "default"). */
export function skuTypes(registry: ProviderRegistry, vc: string): Record<string, Resources> {
  const entries = registry.list().filter((entry) => vc === DEFAULT_VC || entry.id === vc);
  return Object.fromEntries(
    entries.flatMap((entry) =>
      (entry.manifest?.products ?? []).map((product) => [
        vc === DEFAULT_VC ? `${entry.id}/${product.id}` : product.id,
        resources(product.cpu, product.memoryInGigs, product.gpu),
      ]),
    ),
  );
}
