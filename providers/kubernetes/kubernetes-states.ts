/**
 * What a Kubernetes Job and its pods mean in the contract's states. Pure: the
 * driver feeds it what the watches cached. Kubernetes' own words become the
 * job's status: the scheduler's reason for a pending pod ("0/3 nodes are
 * available: 3 Insufficient cpu."), the Job controller's for its end.
 */
import type { V1Job, V1JobCondition, V1Pod } from '@kubernetes/client-node';

import { STATUS, type JobState } from '../sdk/index.js';
import { COMPLETION_INDEX_LABEL } from './kubernetes-manifests.js';

export interface KubernetesView {
  state: JobState;
  status: string;
  exitCode: number | null;
  /** When every rank's container was running (ms). */
  startedAt: number | null;
  /** The pods should go: the job cannot run (an image that cannot be pulled, say). */
  doomed: boolean;
  /**
   * The Job ended but the pods as cached do not say how yet (the pods' watch is behind the Jobs',
   * after a reconnection): wait for them rather than report an exit code they do not show.
   */
  podsBehind?: true;
}

/** Waiting reasons of a container that will not start by waiting longer. */
const HOPELESS_WAITING = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);

function condition(job: V1Job, type: string): V1JobCondition | undefined {
  return job.status?.conditions?.find((c) => c.type === type && c.status === 'True');
}

function time(value: Date | string | undefined | null): number | null {
  if (value === undefined || value === null) return null;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

/** The Job failed at or after the end of its activeDeadlineSeconds (whole seconds, as the API server keeps times). */
function endedPastDeadline(job: V1Job, failed: V1JobCondition): boolean {
  const start = time(job.status?.startTime);
  const end = time(failed.lastTransitionTime);
  const deadline = job.spec?.activeDeadlineSeconds;
  return start !== null && end !== null && deadline !== undefined && end >= start + deadline * 1000;
}

/** A rank's index (the Job controller labels each pod of an Indexed Job); 0 for a pod without one. */
export function rankOf(pod: V1Pod): number {
  const index = Number(pod.metadata?.labels?.[COMPLETION_INDEX_LABEL] ?? 0);
  return Number.isInteger(index) && index >= 0 ? index : 0;
}

/** The job's container's terminated state in a pod, if it ended. */
function terminated(pod: V1Pod) {
  return pod.status?.containerStatuses?.[0]?.state?.terminated;
}

/** Why a failed pod failed, when it was not the application: an eviction, a node lost, memory. */
function podTrouble(pod: V1Pod): string | null {
  const status = pod.status;
  if (status?.reason === 'Evicted') return `Kubernetes evicted rank ${rankOf(pod)} from its node: ${status.message ?? 'no reason given'}`;
  const disruption = status?.conditions?.find((c) => c.type === 'DisruptionTarget' && c.status === 'True');
  if (disruption)
    return `Rank ${rankOf(pod)} was stopped by Kubernetes (${disruption.reason ?? 'disruption'}): ${disruption.message ?? 'no reason given'}`;
  const ended = terminated(pod);
  if (ended?.reason === 'OOMKilled') return `The job ran out of memory: rank ${rankOf(pod)} exceeded its memory limit and was killed`;
  if (status?.phase === 'Failed' && !ended)
    return `Rank ${rankOf(pod)} failed: ${status.reason ?? 'unknown reason'}${status.message ? `: ${status.message}` : ''}`;
  return null;
}

/** The exit code that speaks for the job: the first rank that failed; null when no pod shows one. */
function exitCodeOf(pods: readonly V1Pod[]): number | null {
  const failed = [...pods].sort((a, b) => rankOf(a) - rankOf(b)).map((pod) => terminated(pod)?.exitCode ?? 0);
  return failed.find((code) => code !== 0) ?? null;
}

/**
 * The job's state from its Kubernetes Job and its pods. `replicas`: how many ranks the job has.
 * A final state is the Job controller's verdict; before it, the pods say whether the job runs.
 */
export function viewOfJob(job: V1Job, pods: readonly V1Pod[], replicas: number): KubernetesView {
  const base = { exitCode: null, startedAt: null, doomed: false };
  if (condition(job, 'Complete')) return { ...base, state: 'SUCCESS', status: STATUS.finished(0), exitCode: 0 };
  const failed = condition(job, 'Failed');
  if (failed) {
    // Past its deadline, whatever the reason: the Job controller may delete the pods for the deadline and
    // count them failed before it writes DeadlineExceeded, and then names the backoff limit.
    if (failed.reason === 'DeadlineExceeded' || endedPastDeadline(job, failed)) return { ...base, state: 'EXPIRED', status: STATUS.expired };
    const trouble = pods.map(podTrouble).find((why) => why !== null);
    if (trouble) return { ...base, state: 'FAILURE', status: trouble };
    if (failed.reason === 'BackoffLimitExceeded' || failed.reason === 'FailedIndexes') {
      // The application's failure: the job ran and exited non-zero.
      const exitCode = exitCodeOf(pods);
      if (exitCode === null && pods.length > 0) return { ...base, state: 'RUNNING', status: 'The job has ended', podsBehind: true };
      if (exitCode === null)
        return { ...base, state: 'SUCCESS', status: `The job failed (${failed.reason}); its pods are gone, so its exit code is unknown` };
      return { ...base, state: 'SUCCESS', status: STATUS.finished(exitCode), exitCode };
    }
    return { ...base, state: 'FAILURE', status: `Kubernetes failed the job (${failed.reason ?? 'no reason'}): ${failed.message ?? ''}`.trim() };
  }
  for (const pod of pods) {
    const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
    if (waiting?.reason && HOPELESS_WAITING.has(waiting.reason)) {
      return {
        ...base,
        state: 'FAILURE',
        status: `Cannot start the job's container: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`,
        doomed: true,
      };
    }
  }
  if (job.spec?.suspend) {
    const active = pods.filter((pod) => !pod.metadata?.deletionTimestamp && (pod.status?.phase === 'Running' || pod.status?.phase === 'Pending'));
    if (condition(job, 'Suspended') || active.length === 0) return { ...base, state: 'SUSPENDED', status: STATUS.suspended };
  }
  const live = pods.filter((pod) => !pod.metadata?.deletionTimestamp);
  const running = live.filter((pod) => pod.status?.phase === 'Running' || pod.status?.phase === 'Succeeded');
  const ranks = new Set(running.map(rankOf));
  if (ranks.size >= replicas && !job.spec?.suspend) {
    const starts = running.map((pod) => time(pod.status?.containerStatuses?.[0]?.state?.running?.startedAt ?? pod.status?.startTime) ?? 0);
    return {
      ...base,
      state: 'RUNNING',
      status: replicas === 1 ? 'The job is running' : `All ${replicas} ranks are running`,
      startedAt: Math.max(...starts),
    };
  }
  for (const pod of live) {
    const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
      return { ...base, state: 'IN_QUEUE', status: `Waiting for room in the cluster: ${scheduled.message ?? 'no node can take the job yet'}` };
    }
  }
  if (job.spec?.suspend) return { ...base, state: 'SUSPENDED', status: STATUS.suspended };
  return {
    ...base,
    state: 'IN_QUEUE',
    status:
      live.length === 0
        ? 'Waiting for Kubernetes to create the pods'
        : `Waiting for Kubernetes to start the pods (${ranks.size} of ${replicas} running)`,
  };
}
