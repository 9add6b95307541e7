import { describe, expect, it } from 'vitest';

import type { Job, Product, Utilization } from '../../../shared/domain.js';
import { JOB_STATES } from '../../../shared/job-state-machine.js';
import { readGatewaySettings } from '../../config.js';
import { joinCommand, splitCommand } from './apolo-command.js';
import { createMarkerFilter, execLine } from './apolo-exec.js';
import { createApoloTokens } from './apolo-tokens.js';
import { apoloStatus, apoloStatusOf, capacityOf, CORE_STATES, creditsPerHour, jobView, presetOf } from './apolo-views.js';

const PRODUCT: Product = {
  id: 'gpu-small',
  category: 'gpu',
  name: 'GPU small',
  description: '',
  cpu: 4,
  memoryInGigs: 16,
  gpu: 1,
  pricePerUnit: 2,
  unitOfPrice: 'CREDITS_PER_MINUTE',
  freeToUse: false,
  priority: 0,
  support: {} as Product['support'],
};

function utilization(capacity: Utilization['capacity'], used: Utilization['usedCapacity'], byProduct: Record<string, number> = {}): Utilization {
  return { capacity, usedCapacity: used, queueStatus: { running: 0, pending: 0 }, observedAt: 0, capacityByProduct: byProduct };
}

function job(state: Job['state'], updates: Job['updates'] = [], extra: Partial<Job> = {}): Job {
  return {
    id: 'j1',
    owner: { createdBy: 'alice', project: null },
    specification: {
      product: { id: 'gpu-small', category: 'gpu', provider: 'hpc' },
      application: null,
      command: ['sh', '-c', 'echo hi'],
      image: 'ubuntu:22.04',
      env: null,
      workingDir: null,
      name: 'train',
      replicas: 1,
      allowDuplicateJob: true,
      parameters: null,
      resources: null,
      timeAllocationMs: 90 * 60_000,
      restartOnExit: false,
      sshEnabled: false,
      tags: ['a'],
      description: null,
      priority: null,
      scheduleTimeout: null,
    } as Job['specification'],
    state,
    startedAt: 1_000,
    expiresAt: null,
    exitCode: null,
    allowRestart: false,
    providerId: 'hpc',
    providerGeneratedId: null,
    createdAt: 0,
    updates,
    acl: [],
    creditsCharged: 0,
    specHash: '',
    ...extra,
  };
}

describe('Apolo statuses', () => {
  it('maps every Switchyard state, telling a terminated job (cancelled) from one that ended by itself', () => {
    expect(JOB_STATES.map((state) => [state, apoloStatusOf(state, false).status])).toEqual([
      ['IN_QUEUE', 'pending'],
      ['RUNNING', 'running'],
      ['CANCELING', 'cancelled'],
      ['SUCCESS', 'succeeded'],
      ['FAILURE', 'failed'],
      ['EXPIRED', 'failed'],
      ['SUSPENDED', 'suspended'],
    ]);
    expect(apoloStatusOf('SUCCESS', true)).toEqual({ status: 'cancelled', reason: 'UserRequested' });
    expect(apoloStatusOf('FAILURE', true)).toEqual({ status: 'cancelled', reason: 'UserRequested' });
    expect(apoloStatusOf('FAILURE', false)).toEqual({ status: 'failed', reason: 'Error' });
    expect(apoloStatusOf('EXPIRED', false)).toEqual({ status: 'failed', reason: 'LifeSpanEnded' });
    expect(apoloStatus(job('SUCCESS', [{ state: 'CANCELING', status: null, newTimeAllocation: null, timestamp: 5 }]))).toMatchObject({
      status: 'cancelled',
    });
  });

  it('lists, for each status, the states its jobs can be in', () => {
    for (const state of JOB_STATES) {
      for (const terminated of [false, true]) {
        const { status } = apoloStatusOf(state, terminated);
        expect(CORE_STATES[status], `${state} ${terminated}`).toContain(state);
      }
    }
  });

  it('writes the job as the SDK reads it: transitions once each, the exit code on the last, times in ISO', () => {
    const view = jobView(
      job(
        'FAILURE',
        [
          { state: 'RUNNING', status: null, newTimeAllocation: null, timestamp: 1_000 },
          { state: 'RUNNING', status: 'still going', newTimeAllocation: null, timestamp: 2_000 },
          { state: 'FAILURE', status: 'exited 2', newTimeAllocation: null, timestamp: 61_000 },
        ],
        { exitCode: 2 },
      ),
      { product: PRODUCT, charged: 1.5 },
    );
    expect(view).toMatchObject({
      id: 'j1',
      owner: 'alice',
      cluster_name: 'hpc',
      org_name: 'switchyard',
      project_name: 'alice',
      uri: 'job://hpc/switchyard/alice/j1',
      status: 'failed',
      history: {
        status: 'failed',
        reason: 'Error',
        description: 'exited 2',
        exit_code: 2,
        run_time_seconds: 60,
        finished_at: new Date(61_000).toISOString(),
      },
      container: { image: 'ubuntu:22.04', entrypoint: 'sh', command: "-c 'echo hi'", resources: { cpu: 4, memory: 16 * 1024 ** 3, nvidia_gpu: 1 } },
      max_run_time_minutes: 90,
      total_price_credits: '1.5',
      price_credits_per_hour: '120',
      preset_name: 'gpu-small',
    });
    expect(view.statuses.map((item) => [item.status, item.exit_code])).toEqual([
      ['pending', undefined],
      ['running', undefined],
      ['failed', 2],
    ]);
  });
});

describe('Apolo presets and capacity', () => {
  it('makes a preset of a product: memory in bytes, GPUs as NVIDIA count, credits per hour as a decimal string', () => {
    expect(presetOf(PRODUCT, 'hpc')).toEqual({
      name: 'gpu-small',
      credits_per_hour: '120',
      cpu: 4,
      memory: 16 * 1024 ** 3,
      nvidia_gpu: { count: 1 },
      scheduler_enabled: false,
      preemptible_node: false,
      resource_pool_names: ['hpc'],
      available_resource_pool_names: ['hpc'],
    });
    expect(presetOf({ ...PRODUCT, gpu: 0 }, null)).not.toHaveProperty('nvidia_gpu');
    expect(creditsPerHour({ pricePerUnit: 12, unitOfPrice: 'CREDITS_PER_DAY', freeToUse: false })).toBe('0.5');
    expect(creditsPerHour({ pricePerUnit: 3, unitOfPrice: 'CREDITS_PER_HOUR', freeToUse: false })).toBe('3');
    expect(creditsPerHour({ pricePerUnit: 3, unitOfPrice: 'CREDITS_PER_HOUR', freeToUse: true })).toBe('0');
  });

  it("counts the jobs of each preset that fit now: the provider's own count first, else its free resources", () => {
    const cpuOnly = { ...PRODUCT, id: 'cpu', gpu: 0, cpu: 2, memoryInGigs: 4 };
    const u = utilization({ cpu: 16, memoryInGigs: 64, gpu: 4 }, { cpu: 6, memoryInGigs: 60, gpu: 1 });
    // cpu: 10 free CPUs hold 5, 4 free GiB hold 1; gpu-small: 3 GPUs, but 4 GiB hold no 16 GiB job.
    expect(capacityOf([PRODUCT, cpuOnly], u)).toEqual({ 'gpu-small': 0, cpu: 1 });
    expect(capacityOf([PRODUCT, cpuOnly], { ...u, capacityByProduct: { 'gpu-small': 7 } })).toEqual({ 'gpu-small': 7, cpu: 1 });
    expect(capacityOf([PRODUCT], null)).toEqual({ 'gpu-small': 0 });
  });
});

describe('Apolo command lines', () => {
  it('splits as shlex does: quotes and escapes, no expansion, operators as words', () => {
    expect(splitCommand(`python train.py --name "my run" 'a b' \\"x`)).toEqual(['python', 'train.py', '--name', 'my run', 'a b', '"x']);
    expect(splitCommand('echo $HOME && ls *.txt')).toEqual(['echo', '$HOME', '&&', 'ls', '*.txt']);
    expect(splitCommand('   ')).toEqual([]);
    const argv = ['sh', '-c', "echo 'quoted' $X; exit 3"];
    expect(splitCommand(joinCommand(argv))).toEqual(argv);
  });
});

describe('Apolo exec', () => {
  const run = (chunks: (string | number[])[]) => {
    const filter = createMarkerFilter();
    return Buffer.concat(chunks.map((chunk) => filter(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk)))).toString();
  };

  it('passes on only what the command wrote, whatever the chunks split', () => {
    expect(run(['$ prompt echo', [0x1e, 0x1f], 'out\n', [0x1e, 0x1d], 'exit\n'])).toBe('out\n');
    // A marker split across chunks, and a lone 0x1E that is the command's own.
    expect(run(['junk', [0x1e], [0x1f, 0x61], [0x1e], [0x62], 'c', [0x1e], [0x1d], 'later'])).toBe('a\u001ebc');
    expect(run(['no marker yet'])).toBe('');
  });

  it("types a line whose echo holds no marker, quiet without a tty, exiting with the command's code", () => {
    const line = execLine(['echo', 'a b'], false);
    expect(line).toBe(` stty -echo -onlcr 2>/dev/null; printf '\\036\\037'; echo 'a b'; __sy_exit=$?; printf '\\036\\035'; exit $__sy_exit\n`);
    expect([...Buffer.from(line)].filter((byte) => byte >= 0x1d && byte <= 0x1f)).toEqual([]);
    expect(execLine(['bash'], true)).not.toContain('stty');
  });
});

describe('Apolo tokens', () => {
  const clock = { now: () => Date.now() };

  it('carries the identity claim, expires, and is refused under another key', async () => {
    const tokens = createApoloTokens({ key: 'k'.repeat(32), clock });
    const { token } = await tokens.issue('alice', 60);
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(claims).toMatchObject({ identity: 'alice', iss: 'switchyard/apolo', sub: 'alice' });
    expect(await tokens.verify(token)).toBe('alice');
    expect(tokens.claimsToBeOurs(token)).toBe(true);
    expect(tokens.claimsToBeOurs('not-a-jwt')).toBe(false);
    const later = createApoloTokens({ key: 'k'.repeat(32), clock: { now: () => Date.now() + 61_000 } });
    await expect(later.verify(token)).rejects.toThrow('The token has expired');
    await expect(createApoloTokens({ key: 'x'.repeat(32), clock }).verify(token)).rejects.toThrow('The token is not valid');
    await expect(tokens.issue('alice', 0)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('has settings for its key and its default life, checked at start', () => {
    const base = { NATS_URL: 'nats://x:4222', REDIS_URL: 'redis://x:6379', SWITCHYARD_ADMIN_TOKEN: 'a'.repeat(16) };
    expect(readGatewaySettings({ ...base, SWITCHYARD_DIALECTS: 'openpai,apolo' }).SWITCHYARD_DIALECTS).toEqual(['openpai', 'apolo']);
    expect(readGatewaySettings(base).SWITCHYARD_APOLO_TOKEN_TTL_SECONDS).toBe(604_800);
    expect(() => readGatewaySettings({ ...base, SWITCHYARD_APOLO_SIGNING_KEY: 'short' })).toThrow(/SWITCHYARD_APOLO_SIGNING_KEY/);
  });
});
