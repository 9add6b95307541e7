/** Backend.AI sessions on jobs: create requests read into specifications (and refused before the core), statuses from job states. */
import { describe, expect, it } from 'vitest';

import type { Job } from '../../../shared/domain.js';
import { BaiError } from './backendai-errors.js';
import {
  CORE_STATES,
  createSchema,
  parseBinarySize,
  sessionResult,
  sessionStatus,
  statusInfo,
  toSessionRequest,
  type SessionStatus,
} from './backendai-sessions.js';

const request = (body: Record<string, unknown>) => toSessionRequest(createSchema.parse(body), 'AKIAOWN');

function refused(body: Record<string, unknown>): string {
  try {
    request(body);
  } catch (error) {
    if (error instanceof BaiError && error.status === 400) return error.msg ?? '';
    throw error;
  }
  throw new Error('not refused');
}

function job(state: Job['state'], extra: Partial<Job> = {}, type: 'batch' | 'interactive' = 'batch'): Job {
  return {
    id: 'j1',
    owner: { createdBy: 'alice', project: null },
    specification: {
      product: { id: 'p', category: 'c', provider: 'local' },
      application: null,
      command: ['sh', '-c', 'true'],
      image: 'python:3.11',
      env: null,
      workingDir: null,
      name: 's1',
      replicas: 1,
      allowDuplicateJob: true,
      parameters: { backendai: { type, startupCommand: 'true', architecture: 'x86_64', tag: null } },
      resources: null,
      timeAllocationMs: null,
      restartOnExit: false,
      sshEnabled: false,
      tags: [],
      description: null,
      priority: null,
      scheduleTimeout: null,
    },
    state,
    startedAt: null,
    expiresAt: null,
    exitCode: null,
    allowRestart: false,
    providerId: 'local',
    providerGeneratedId: null,
    createdAt: 1,
    updates: [],
    acl: [],
    creditsCharged: 0,
    specHash: 'h',
    ...extra,
  };
}

describe('Backend.AI create requests', () => {
  it("reads the Python SDK's body: name, image, batch command, resources, scaling group, group, cluster size", () => {
    const read = request({
      name: 'train-1',
      image: 'python:3.11',
      type: 'batch',
      startupCommand: 'python train.py',
      config: { resources: { cpu: '2', mem: '1.5g', 'cuda.device': 1 }, environ: { A: 'b' }, scalingGroup: 'slurm', mounts: [] },
      clusterSize: 2,
      group: 'team-a',
      batch_timeout: 600,
      enqueueOnly: true,
    });
    expect(read).toMatchObject({ name: 'train-1', image: 'python:3.11', enqueueOnly: true, reuseIfExists: true });
    expect(read.specification).toMatchObject({
      command: ['sh', '-c', 'python train.py'],
      env: { A: 'b' },
      replicas: 2,
      requirements: { cpu: 2, memoryInGigs: 1.5, gpu: 1, providers: ['slurm'] },
      timeAllocation: { seconds: 600 },
      project: 'team-a',
      allowDuplicateJob: true,
    });
  });

  it("reads the JS SDK's legacy aliases (lang, clientSessionToken) and keeps an interactive session up", () => {
    const read = request({ lang: 'python:3.9', clientSessionToken: 'js-sess', config: { resources: { cpu: 1, mem: '1g' } } });
    expect(read).toMatchObject({ name: 'js-sess', image: 'python:3.9', enqueueOnly: false });
    expect(read.specification).toMatchObject({
      command: ['sh', '-c', 'while :; do sleep 60; done'],
      project: null,
      requirements: { providers: null },
    });
    expect(request({ lang: 'x', clientSessionToken: 'abcd', startupCommand: 'echo hi' }).specification.command).toEqual([
      'sh',
      '-c',
      'echo hi\nwhile :; do sleep 60; done',
    ]);
  });

  it('refuses what Switchyard cannot run, before the core is called', () => {
    expect(refused({ image: 'x', name: 'ab' })).toMatch(/^name/);
    expect(refused({ image: 'x', name: '-bad-name' })).toMatch(/^name/);
    expect(refused({ name: 'good' })).toMatch(/^image/);
    expect(refused({ image: 'x', name: 'good', type: 'batch' })).toBe('Batch sessions require a non-empty startup command.');
    expect(refused({ image: 'x', name: 'good', config: { mounts: ['data'] } })).toMatch(/^mounts/);
    expect(refused({ image: 'x', name: 'good', config: { resources: { 'cuda.shares': 0.5 } } })).toMatch(/whole GPUs/);
    expect(refused({ image: 'x', name: 'good', config: { resources: { mem: 'lots' } } })).toMatch(/not a size/);
    expect(refused({ image: 'x', name: 'good', starts_at: '1h' })).toMatch(/^starts_at/);
    expect(refused({ image: 'x', name: 'good', owner_access_key: 'AKIAOTHER' })).toMatch(/^owner_access_key/);
    expect(refused({ image: 'x', name: 'good', dependencies: ['a'] })).toMatch(/^dependencies/);
    expect(parseBinarySize('512m')).toBe(512 * 2 ** 20);
    expect(parseBinarySize('2GiB')).toBe(2 * 2 ** 30);
    expect(parseBinarySize('1073741824')).toBe(2 ** 30);
  });
});

describe('Backend.AI session statuses', () => {
  const terminated = { updates: [{ state: 'CANCELING' as const, status: null, newTimeAllocation: null, timestamp: 5 }] };

  it('derives each status from the job, and each status is among its CORE_STATES', () => {
    const cases: [Job, SessionStatus, string | null][] = [
      [job('IN_QUEUE'), 'PENDING', null],
      [job('SUSPENDED', { startedAt: 2 }), 'PENDING', 'suspended'],
      [job('RUNNING', { startedAt: 2 }), 'RUNNING', null],
      [job('CANCELING', { startedAt: 2, ...terminated }), 'TERMINATING', 'user-requested'],
      [job('SUCCESS', { startedAt: 2, exitCode: 0 }), 'TERMINATED', 'task-finished'],
      [job('SUCCESS', { startedAt: 2, exitCode: 3 }), 'TERMINATED', 'task-failed'],
      [job('FAILURE', { startedAt: 2, ...terminated }), 'TERMINATED', 'user-requested'],
      [job('EXPIRED', { startedAt: 2 }), 'TERMINATED', 'session-lifetime'],
      [job('FAILURE', terminated), 'CANCELLED', 'user-requested'],
      [job('FAILURE'), 'ERROR', 'failed-to-start'],
    ];
    for (const [j, status, info] of cases) {
      expect([sessionStatus(j), statusInfo(j)], j.state).toEqual([status, info]);
      expect(CORE_STATES[status]).toContain(j.state);
    }
  });

  it('sets result for batch sessions only, by their exit', () => {
    expect(sessionResult(job('RUNNING'))).toBe('UNDEFINED');
    expect(sessionResult(job('SUCCESS', { exitCode: 0 }))).toBe('SUCCESS');
    expect(sessionResult(job('SUCCESS', { exitCode: 1 }))).toBe('FAILURE');
    expect(sessionResult(job('SUCCESS', { exitCode: 0 }, 'interactive'))).toBe('UNDEFINED');
  });
});
