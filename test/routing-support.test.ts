/**
 * Routing applies every rule of a product's support manifest before it chooses, and a
 * specification that is invalid is INVALID_INPUT before routing looks at anyone's money.
 * A gateway on the in-process bus with two simulated providers: an HPC-like one whose
 * partitions need a time allocation of at most 48 h, and a cloud-like one that needs none.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CLOUD_CONFIG, HPC_CONFIG } from '../providers/simulated/configs.js';
import { createSimulatedDriver } from '../providers/simulated/simulated-driver.js';
import { startEmbeddedGateway, type EmbeddedGateway } from './support/embedded-gateway.js';
import type { TestClient } from './support/graphql-client.js';

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) {
  createJobs(specifications: $specs) { job { id specification { product { id provider } } updates { status } } error { code message } }
}`;

let env: EmbeddedGateway;
let funded: TestClient;
let broke: TestClient;

async function jobCount(client: TestClient): Promise<number> {
  return (await client.ok(`{ jobs { totalCount } }`)).jobs.totalCount as number;
}

async function createOne(client: TestClient, spec: Record<string, unknown>) {
  const data = await client.ok(CREATE, { specs: [{ command: ['true'], ...spec }] });
  return data.createJobs[0] as {
    job: { id: string; specification: { product: { id: string; provider: string } }; updates: { status: string }[] } | null;
    error: { code: string; message: string } | null;
  };
}

beforeAll(async () => {
  env = await startEmbeddedGateway({
    providers: [
      { id: 'sim-hpc', kind: 'SIMULATED', driver: createSimulatedDriver(HPC_CONFIG, { random: () => 0.5 }) },
      { id: 'sim-cloud', kind: 'SIMULATED', driver: createSimulatedDriver({ ...CLOUD_CONFIG, failureRate: 0 }, { random: () => 0.5 }) },
    ],
  });
  funded = await env.user('funded', { fund: ['sim-hpc', 'sim-cloud'] });
  broke = await env.user('broke', { fund: [] });
});

afterAll(async () => {
  await env?.stop();
});

describe('routing by requirements', () => {
  it('passes over a product that needs a time allocation when none is given, and says why', async () => {
    // standard-8 on sim-hpc is the cheapest fit (8 credits/h) but needs a time allocation.
    const result = await createOne(funded, { requirements: { cpu: 2 } });
    expect(result.error).toBeNull();
    expect(result.job!.specification.product).toEqual({ id: 'c5-large', provider: 'sim-cloud' });
    expect(result.job!.updates[0]?.status).toMatch(/passed over: .*sim-hpc\/standard-8 \(needs a time allocation of at most 48h\)/);
  });

  it('chooses the cheapest product once the time allocation fits its maximum', async () => {
    const within = await createOne(funded, { requirements: { cpu: 2 }, timeAllocation: { hours: 1 } });
    expect(within.job!.specification.product).toEqual({ id: 'standard-8', provider: 'sim-hpc' });
    const beyond = await createOne(funded, { requirements: { cpu: 2 }, timeAllocation: { hours: 50 } });
    expect(beyond.job!.specification.product).toEqual({ id: 'c5-large', provider: 'sim-cloud' });
    expect(beyond.job!.updates[0]?.status).toMatch(/sim-hpc\/standard-8 \(time allocation above its maximum of 48h\)/);
  });

  it('passes over products that run fewer replicas than asked', async () => {
    // sim-cloud runs at most 20 replicas, sim-hpc 32.
    const result = await createOne(funded, { requirements: { cpu: 2 }, replicas: 25, timeAllocation: { hours: 1 } });
    expect(result.job!.specification.product.provider).toBe('sim-hpc');
    const none = await createOne(funded, { requirements: { cpu: 2 }, replicas: 40, timeAllocation: { hours: 1 } });
    expect(none.error?.code).toBe('INVALID_INPUT');
    expect(none.error?.message).toMatch(/at most 32 replicas/);
  });

  it('refuses with INVALID_INPUT, naming the rule, when every fitting product refuses the job', async () => {
    const before = await jobCount(funded);
    const result = await createOne(funded, { requirements: { cpu: 2, providers: ['sim-hpc'] } });
    expect(result.error?.code).toBe('INVALID_INPUT');
    expect(result.error?.message).toMatch(/No product meets the requirements: .*needs a time allocation/);
    const ssh = await createOne(funded, { requirements: { cpu: 2 }, timeAllocation: { hours: 1 }, sshEnabled: true });
    expect(ssh.error?.code).toBe('INVALID_INPUT');
    expect(ssh.error?.message).toMatch(/no terminals/);
    expect(await jobCount(funded)).toBe(before);
  });
});

describe('validation before money', () => {
  const invalid: [string, Record<string, unknown>][] = [
    ['zero replicas', { replicas: 0 }],
    ['a negative duration', { timeAllocation: { minutes: -1 } }],
    ['a zero duration', { timeAllocation: { seconds: 0 } }],
    ['an empty command', { command: [] }],
    ['a bad environment variable name', { env: { 'NOT-A-NAME': 'x' } }],
    ['a negative schedule timeout', { scheduleTimeout: -5 }],
  ];

  it.each(invalid)('refuses %s with INVALID_INPUT for a caller without credits, by product or by requirements', async (_what, spec) => {
    const named = await createOne(broke, { product: { id: 'c5-large', provider: 'sim-cloud' }, ...spec });
    expect(named.error?.code).toBe('INVALID_INPUT');
    const routed = await createOne(broke, { requirements: { cpu: 2 }, ...spec });
    expect(routed.error?.code).toBe('INVALID_INPUT');
    expect(await jobCount(broke)).toBe(0);
  });

  it('refuses a product whose own rules the job breaks with INVALID_INPUT, not INSUFFICIENT_FUNDS', async () => {
    const result = await createOne(broke, { product: { id: 'standard-8', provider: 'sim-hpc' } });
    expect(result.error?.code).toBe('INVALID_INPUT');
    expect(result.error?.message).toMatch(/timeAllocation is required on sim-hpc\/standard-8/);
  });

  it('refuses unknown fields with INVALID_INPUT before anything runs', async () => {
    const res = await broke.gql(CREATE, { specs: [{ requirements: { cpu: 2 }, command: ['true'], colour: 'blue' }] });
    expect(res.errors?.[0]?.extensions?.code).toBe('INVALID_INPUT');
    expect(await jobCount(broke)).toBe(0);
  });

  it('still answers INSUFFICIENT_FUNDS for a valid job the caller cannot pay for', async () => {
    expect((await createOne(broke, { product: { id: 'c5-large', provider: 'sim-cloud' } })).error?.code).toBe('INSUFFICIENT_FUNDS');
    expect((await createOne(broke, { requirements: { cpu: 2 }, timeAllocation: { hours: 1 } })).error?.code).toBe('INSUFFICIENT_FUNDS');
    expect(await jobCount(broke)).toBe(0);
  });
});
