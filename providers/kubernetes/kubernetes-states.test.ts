import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';

import { COMPLETION_INDEX_LABEL } from './kubernetes-manifests.js';
import { rankOf, viewOfJob } from './kubernetes-states.js';

const at = '2026-01-01T00:00:00Z';

function job(extra: { suspend?: boolean; conditions?: { type: string; reason?: string; message?: string }[] } = {}): V1Job {
  return {
    metadata: { name: 'sy-1' },
    spec: { suspend: extra.suspend, template: {} },
    status: { conditions: extra.conditions?.map((c) => ({ ...c, status: 'True' })) },
  };
}

function pod(rank: number, status: V1Pod['status'], deleting = false): V1Pod {
  return {
    metadata: { name: `sy-1-${rank}-x`, labels: { [COMPLETION_INDEX_LABEL]: String(rank) }, deletionTimestamp: deleting ? new Date(at) : undefined },
    status,
  };
}

const running = (rank: number, startedAt = at) =>
  pod(rank, {
    phase: 'Running',
    containerStatuses: [
      { name: 'job', image: 'x', imageID: '', ready: true, restartCount: 0, state: { running: { startedAt: new Date(startedAt) } } },
    ],
  });
const exited = (rank: number, exitCode: number, reason = exitCode === 0 ? 'Completed' : 'Error') =>
  pod(rank, {
    phase: exitCode === 0 ? 'Succeeded' : 'Failed',
    containerStatuses: [{ name: 'job', image: 'x', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode, reason } } }],
  });
const unschedulable = (rank: number, message: string) =>
  pod(rank, { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message }] });

describe('a Kubernetes Job and its pods in the contract’s states', () => {
  it('is IN_QUEUE with the scheduler’s own reason while a rank cannot be placed', () => {
    const view = viewOfJob(job(), [running(0), unschedulable(1, '0/4 nodes are available: 4 Insufficient cpu.')], 2);
    expect(view).toMatchObject({ state: 'IN_QUEUE', status: 'Waiting for room in the cluster: 0/4 nodes are available: 4 Insufficient cpu.' });
    expect(viewOfJob(job(), [], 1)).toMatchObject({ state: 'IN_QUEUE', status: 'Waiting for Kubernetes to create the pods' });
  });

  it('is RUNNING once every rank runs, started when the last one started', () => {
    expect(viewOfJob(job(), [running(0)], 2).state).toBe('IN_QUEUE');
    const view = viewOfJob(job(), [running(0, '2026-01-01T00:00:01Z'), running(1, '2026-01-01T00:00:03Z')], 2);
    expect(view).toMatchObject({ state: 'RUNNING', status: 'All 2 ranks are running', startedAt: Date.parse('2026-01-01T00:00:03Z') });
    // A rank that already finished still counts as having run.
    expect(viewOfJob(job(), [exited(0, 0), running(1)], 2).state).toBe('RUNNING');
  });

  it('ends SUCCESS with exit code 0 when the Job completes', () => {
    expect(viewOfJob(job({ conditions: [{ type: 'Complete' }] }), [exited(0, 0)], 1)).toMatchObject({
      state: 'SUCCESS',
      exitCode: 0,
      status: 'Job finished with exit code 0',
    });
  });

  it('ends SUCCESS with the first failing rank’s exit code when the backoff limit is exceeded (the application failed)', () => {
    const view = viewOfJob(job({ conditions: [{ type: 'Failed', reason: 'BackoffLimitExceeded' }] }), [exited(0, 0), exited(2, 9), exited(1, 3)], 3);
    expect(view).toMatchObject({ state: 'SUCCESS', exitCode: 3, status: 'Job finished with exit code 3' });
  });

  it('waits for the pods to show how the job ended rather than report an exit code they do not show', () => {
    const failed = job({ conditions: [{ type: 'Failed', reason: 'BackoffLimitExceeded' }] });
    // The pods' watch is behind the Jobs' (both just reconnected): the pod is still cached as running.
    expect(viewOfJob(failed, [running(0)], 1)).toMatchObject({ podsBehind: true });
    // No pod left to ask: the end, without an exit code.
    expect(viewOfJob(failed, [], 1)).toMatchObject({ state: 'SUCCESS', exitCode: null, status: expect.stringContaining('exit code is unknown') });
  });

  it('ends EXPIRED when the deadline passes, FAILURE when Kubernetes stopped a rank for its own reasons', () => {
    expect(viewOfJob(job({ conditions: [{ type: 'Failed', reason: 'DeadlineExceeded' }] }), [], 1)).toMatchObject({ state: 'EXPIRED' });
    // The Job controller deleted the pod for the deadline and counted it failed first: it names the backoff limit.
    const failedAfter = (seconds: number): V1Job => ({
      metadata: { name: 'sy-1' },
      spec: { template: {}, activeDeadlineSeconds: 6 },
      status: {
        startTime: new Date(at),
        conditions: [
          { type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', lastTransitionTime: new Date(Date.parse(at) + seconds * 1000) },
        ],
      },
    });
    expect(viewOfJob(failedAfter(7), [exited(0, 143)], 1)).toMatchObject({ state: 'EXPIRED' });
    expect(viewOfJob(failedAfter(5), [exited(0, 143)], 1)).toMatchObject({ state: 'SUCCESS', exitCode: 143 });
    const evicted = pod(0, { phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' });
    expect(viewOfJob(job({ conditions: [{ type: 'Failed', reason: 'BackoffLimitExceeded' }] }), [evicted], 1)).toMatchObject({
      state: 'FAILURE',
      status: 'Kubernetes evicted rank 0 from its node: The node was low on resource: memory.',
    });
    expect(viewOfJob(job({ conditions: [{ type: 'Failed', reason: 'BackoffLimitExceeded' }] }), [exited(0, 137, 'OOMKilled')], 1).state).toBe(
      'FAILURE',
    );
    expect(viewOfJob(job({ conditions: [{ type: 'Failed', reason: 'PodFailurePolicy', message: 'rule 0' }] }), [], 1)).toMatchObject({
      state: 'FAILURE',
      status: 'Kubernetes failed the job (PodFailurePolicy): rule 0',
    });
  });

  it('fails a job whose image cannot be pulled, and says the pods should go', () => {
    const stuck = pod(0, {
      phase: 'Pending',
      containerStatuses: [
        {
          name: 'job',
          image: 'x',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "nope"' } },
        },
      ],
    });
    expect(viewOfJob(job(), [stuck], 1)).toMatchObject({
      state: 'FAILURE',
      doomed: true,
      status: 'Cannot start the job\'s container: ImagePullBackOff: Back-off pulling image "nope"',
    });
  });

  it('is SUSPENDED once a suspended Job’s pods are gone, and not RUNNING while they are being deleted', () => {
    expect(viewOfJob(job({ suspend: true }), [running(0)], 1).state).not.toBe('RUNNING');
    expect(viewOfJob(job({ suspend: true, conditions: [{ type: 'Suspended' }] }), [], 1)).toMatchObject({ state: 'SUSPENDED' });
    expect(viewOfJob(job({ suspend: true }), [pod(0, { phase: 'Running' }, true)], 1)).toMatchObject({ state: 'SUSPENDED' });
  });

  it('reads a rank from the completion index label', () => {
    expect(rankOf(running(3))).toBe(3);
    expect(rankOf({ metadata: {} })).toBe(0);
  });
});
