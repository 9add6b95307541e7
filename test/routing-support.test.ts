/**
 * Routing applies every rule of a product's support manifest before it chooses, and a
 * specification that is invalid is INVALID_INPUT before routing looks at anyone's money.
 * A gateway on the in-process bus with two simulated providers: an HPC-like one whose
 * partitions need a time allocation of at most 48 h, and a cloud-like one that needs none.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createMemoryLedger } from '../gateway/accounting/memory-ledger.js';
import { createGateway, type Gateway } from '../gateway/gateway.js';
import { createMemoryStore } from '../gateway/store/memory-store.js';
import { createProviderRuntime, type ProviderRuntime } from '../providers/sdk/runtime.js';
import { CLOUD_CONFIG, HPC_CONFIG } from '../providers/simulated/configs.js';
import { createSimulatedDriver } from '../providers/simulated/simulated-driver.js';
import { systemClock } from '../shared/clock.js';
import { silentLogger } from '../shared/logger.js';
import { createSubjects } from '../shared/subjects.js';
import { createMemoryTransport } from '../shared/transport/memory-transport.js';
import { fund } from './support/credits.js';
import { createClient, eventually, type TestClient } from './support/graphql-client.js';
import { uniquePrefix } from './support/services.js';

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) {
  createJobs(specifications: $specs) { job { id specification { product { id provider } } updates { status } } error { code message } }
}`;

let gateway: Gateway;
let runtimes: ProviderRuntime[] = [];
let admin: TestClient;
let funded: TestClient;
let broke: TestClient;
let url: string;

async function login(name: string): Promise<TestClient> {
  await admin.ok(`mutation ($u: String!) { createUser(username: $u, password: "a-long-password") { username } }`, { u: name });
  const res = await fetch(`${url}/api/v1/token`, { method: 'POST', body: JSON.stringify({ username: name, password: 'a-long-password' }) });
  return createClient(url, ((await res.json()) as { token: string }).token);
}

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
  const transport = createMemoryTransport({ subjects: createSubjects(uniquePrefix()) });
  const adminToken = randomBytes(24).toString('base64url');
  gateway = createGateway({
    transport,
    store: createMemoryStore(),
    ledger: createMemoryLedger(),
    clock: systemClock,
    logger: silentLogger(),
    adminToken,
  });
  runtimes = [
    ['sim-hpc', HPC_CONFIG],
    ['sim-cloud', { ...CLOUD_CONFIG, failureRate: 0 }],
  ].map(([id, config]) =>
    createProviderRuntime({
      transport,
      driver: createSimulatedDriver(config as typeof HPC_CONFIG, { random: () => 0.5 }),
      id: id as string,
      kind: 'SIMULATED',
      version: 'test',
      clock: systemClock,
      logger: silentLogger(),
    }),
  );
  for (const runtime of runtimes) await runtime.start();
  const address = await gateway.start(0, '127.0.0.1');
  url = `http://127.0.0.1:${address.port}`;
  admin = createClient(url, adminToken);
  await eventually(async () => gateway.registry.get('sim-hpc')?.manifest && gateway.registry.get('sim-cloud')?.manifest, { what: 'both manifests' });
  funded = await login('funded');
  for (const provider of ['sim-hpc', 'sim-cloud']) await fund(admin, 'funded', provider);
  broke = await login('broke');
});

afterAll(async () => {
  await gateway?.stop();
  for (const runtime of runtimes) await runtime.stop();
});

describe('routing by requirements', () => {
  it('passes over a product that needs a time allocation when none is given, and says why', async () => {
    // standard-8 on sim-hpc is the cheapest fit (8 credits/h) but needs a time allocation.
    const result = await createOne(funded, { requirements: { cpu: 2 } });
    expect(result.error).toBeNull();
    expect(result.job!.specification.product).toEqual({ id: 'c5-large', provider: 'sim-cloud' });
    expect(result.job!.updates[0].status).toMatch(/passed over: .*sim-hpc\/standard-8 \(needs a time allocation of at most 48h\)/);
  });

  it('chooses the cheapest product once the time allocation fits its maximum', async () => {
    const within = await createOne(funded, { requirements: { cpu: 2 }, timeAllocation: { hours: 1 } });
    expect(within.job!.specification.product).toEqual({ id: 'standard-8', provider: 'sim-hpc' });
    const beyond = await createOne(funded, { requirements: { cpu: 2 }, timeAllocation: { hours: 50 } });
    expect(beyond.job!.specification.product).toEqual({ id: 'c5-large', provider: 'sim-cloud' });
    expect(beyond.job!.updates[0].status).toMatch(/sim-hpc\/standard-8 \(time allocation above its maximum of 48h\)/);
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
    expect(res.errors?.[0].extensions?.code).toBe('INVALID_INPUT');
    expect(await jobCount(broke)).toBe(0);
  });

  it('still answers INSUFFICIENT_FUNDS for a valid job the caller cannot pay for', async () => {
    expect((await createOne(broke, { product: { id: 'c5-large', provider: 'sim-cloud' } })).error?.code).toBe('INSUFFICIENT_FUNDS');
    expect((await createOne(broke, { requirements: { cpu: 2 }, timeAllocation: { hours: 1 } })).error?.code).toBe('INSUFFICIENT_FUNDS');
    expect(await jobCount(broke)).toBe(0);
  });
});
