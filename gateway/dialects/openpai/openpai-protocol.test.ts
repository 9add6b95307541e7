import { describe, expect, it } from 'vitest';

import type { Job } from '../../../shared/domain.js';
import { readGatewaySettings } from '../../config.js';
import { PaiError } from './openpai-errors.js';
import { configOf, parseProtocol, toSpecification } from './openpai-protocol.js';
import { paiState } from './openpai-views.js';

const HELLO = `
protocolVersion: 2
name: hello
type: job
prerequisites:
  - type: dockerimage
    name: img
    uri: ubuntu:22.04
taskRoles:
  train:
    instances: 2
    dockerImage: img
    resourcePerInstance: { cpu: 2, memoryMB: 2048, gpu: 1 }
    commands:
      - echo one
      - '  python train.py  '
defaults:
  virtualCluster: hpc
extras:
  com.microsoft.pai.runtimeplugin: [{ plugin: ssh }]
`;

function refusal(run: () => unknown): { status: number; code: string; message: string } {
  try {
    run();
  } catch (error) {
    if (error instanceof PaiError) return { status: error.status, code: error.code, message: error.message };
    throw error;
  }
  throw new Error('not refused');
}

describe('OpenPAI protocol v2', () => {
  it('maps one task role onto a job: replicas, commands joined as OpenPAI runs them, requirements, the virtual cluster as provider', () => {
    const spec = toSpecification(parseProtocol(HELLO));
    expect(spec).toMatchObject({
      name: 'hello',
      command: ['sh', '-c', 'echo one && python train.py'],
      image: 'ubuntu:22.04',
      replicas: 2,
      requirements: { cpu: 2, memoryInGigs: 2, gpu: 1, providers: ['hpc'] },
      allowDuplicateJob: true,
    });
  });

  it('routes a job of the default virtual cluster anywhere', () => {
    const spec = toSpecification(parseProtocol(HELLO.replace('virtualCluster: hpc', 'virtualCluster: default')));
    expect(spec.requirements?.providers).toBeNull();
  });

  it('writes the job back as protocol v2 that reads as the same job', () => {
    const spec = toSpecification(parseProtocol(HELLO));
    const job = {
      id: 'j1',
      providerId: 'hpc',
      specification: { ...spec, tags: [], product: { id: 'p', category: 'c', provider: 'hpc' } },
    } as unknown as Job;
    const again = toSpecification(parseProtocol(configOf(job, undefined)));
    expect(again).toEqual({ ...spec, image: 'ubuntu:22.04', description: null, parameters: { openpai: { ...(spec.parameters as any).openpai } } });
  });

  it.each([
    ['malformed YAML', 'name: [unclosed', 'not valid YAML'],
    [
      'an alias bomb',
      `a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]`,
      'not valid YAML',
    ],
    ['a duplicate key', HELLO.replace('type: job', 'type: job\ntype: job'), 'not valid YAML'],
    ['a protocol version 1', HELLO.replace('protocolVersion: 2', 'protocolVersion: 1'), 'protocolVersion'],
    ['a bad job name', HELLO.replace('name: hello', 'name: "hello world"'), 'name'],
    ['a missing image prerequisite', HELLO.replace('dockerImage: img', 'dockerImage: other'), 'Prerequisite other does not exist.'],
    ['no commands', HELLO.replace(/commands:[\s\S]*?defaults/, 'commands: []\ndefaults'), 'commands'],
  ])('refuses %s with 400 InvalidProtocolError', (_what, text, message) => {
    const refused = refusal(() => toSpecification(parseProtocol(text)));
    expect(refused).toMatchObject({ status: 400, code: 'InvalidProtocolError' });
    expect(refused.message).toContain(message);
  });

  it.each([
    [
      'two task roles',
      HELLO.replace(
        'taskRoles:\n',
        'taskRoles:\n  ps: { instances: 1, dockerImage: img, resourcePerInstance: { cpu: 1, memoryMB: 512, gpu: 0 }, commands: [x] }\n',
      ),
      'one task role',
    ],
    ['retries', HELLO.replace('type: job', 'type: job\njobRetryCount: 2'), 'retry'],
    ['templates', HELLO.replace('echo one', 'echo <% $parameters.x %>'), 'templates'],
    ['deployments', HELLO.replace('type: job', 'type: job\ndeployments: [{ name: d, taskRoles: {} }]'), 'deployments'],
  ])('refuses what Switchyard cannot run (%s) with 400 InvalidProtocolError', (_what, text, message) => {
    expect(refusal(() => toSpecification(parseProtocol(text)))).toMatchObject({
      status: 400,
      code: 'InvalidProtocolError',
      message: expect.stringContaining(message),
    });
  });
});

describe('OpenPAI states', () => {
  const job = (state: Job['state'], updates: Partial<Job['updates'][number]>[] = []) =>
    ({ state, updates: updates.map((u) => ({ state: null, status: null, newTimeAllocation: null, timestamp: 1, ...u })) }) as Job;

  it.each([
    ['IN_QUEUE', [], 'WAITING'],
    ['SUSPENDED', [], 'WAITING'],
    ['RUNNING', [], 'RUNNING'],
    ['CANCELING', [{ state: 'CANCELING' }], 'STOPPING'],
    ['SUCCESS', [], 'SUCCEEDED'],
    ['SUCCESS', [{ state: 'CANCELING' }], 'STOPPED'],
    ['SUCCESS', [{ status: 'Your job has been terminated before it started' }], 'STOPPED'],
    ['FAILURE', [], 'FAILED'],
    ['FAILURE', [{ state: 'CANCELING' }], 'STOPPED'],
    ['EXPIRED', [], 'FAILED'],
  ] as const)('%s (after %j) is %s', (state, updates, expected) => {
    expect(paiState(job(state, [...updates]))).toBe(expected);
  });
});

describe('SWITCHYARD_DIALECTS', () => {
  const base = { NATS_URL: 'nats://127.0.0.1:4222', REDIS_URL: 'redis://127.0.0.1:6379', SWITCHYARD_ADMIN_TOKEN: 'x'.repeat(16) };

  it('names the dialects to serve, none by default', () => {
    expect(readGatewaySettings(base).SWITCHYARD_DIALECTS).toEqual([]);
    expect(readGatewaySettings({ ...base, SWITCHYARD_DIALECTS: ' openpai, ' }).SWITCHYARD_DIALECTS).toEqual(['openpai']);
  });

  it('refuses a dialect it does not know, naming the ones it does', () => {
    expect(() => readGatewaySettings({ ...base, SWITCHYARD_DIALECTS: 'openpai,slurmrest' })).toThrow(/SWITCHYARD_DIALECTS.*openpai/);
  });
});
