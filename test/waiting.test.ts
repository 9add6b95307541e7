/**
 * Jobs that wait at the gateway for capacity (scheduleTimeout): they say why
 * and where they stand, start when room frees up, fail when the timeout
 * passes, and can be terminated while they wait.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../shared/clock.js';
import { silentLogger } from '../shared/logger.js';
import { createSubjects } from '../shared/subjects.js';
import { createMemoryTransport } from '../shared/transport/memory-transport.js';
import { createGateway, type Gateway } from '../gateway/gateway.js';
import { createMemoryLedger } from '../gateway/accounting/memory-ledger.js';
import { createMemoryStore } from '../gateway/store/memory-store.js';
import { HPC_CONFIG } from '../providers/simulated/configs.js';
import { createSimulatedDriver } from '../providers/simulated/simulated-driver.js';
import { createProviderRuntime, type ProviderRuntime } from '../providers/sdk/runtime.js';
import { createClient, eventually, waitForState, type TestClient } from './support/graphql-client.js';
import { fund } from './support/credits.js';
import { uniquePrefix } from './support/services.js';

const transport = createMemoryTransport({ subjects: createSubjects(uniquePrefix()) });
const adminToken = randomBytes(24).toString('base64url');
let gateway: Gateway;
let runtime: ProviderRuntime;
let client: TestClient;

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { id } error { code message } } }`;
const STATUS = `query ($id: ID!) { job(id: $id) { status { state pendingReason queuePosition } updates { state status } } }`;

/** A job that needs the whole (one-node) cluster for `seconds`. */
function wholeCluster(name: string, seconds: number, scheduleTimeout?: number) {
  return {
    requirements: { cpu: 8, providers: ['tiny'] },
    command: ['true'],
    name,
    timeAllocation: { hours: 1 },
    parameters: { simulatedDurationMs: seconds * 1000 },
    ...(scheduleTimeout === undefined ? {} : { scheduleTimeout }),
  };
}

async function submit(spec: Record<string, unknown>) {
  const data = await client.ok(CREATE, { specs: [spec] });
  return data.createJobs[0] as { job: { id: string } | null; error: { code: string; message: string } | null };
}

beforeAll(async () => {
  const store = createMemoryStore();
  gateway = createGateway({ transport, store, ledger: createMemoryLedger(), clock: systemClock, logger: silentLogger(), adminToken, utilizationIntervalMs: 100 });
  // One node that fits one standard-8 job at a time.
  const config = { ...HPC_CONFIG, nodes: { count: 1, cpu: 8, memoryInGigs: 32, gpu: 0 }, products: HPC_CONFIG.products.slice(0, 1), startLatencyMs: 0 };
  runtime = createProviderRuntime({ transport, driver: createSimulatedDriver(config, { clock: systemClock }), id: 'tiny', kind: 'SIMULATED', version: 'test', heartbeatIntervalMs: 300, clock: systemClock });
  await runtime.start();
  const address = await gateway.start(0, '127.0.0.1');
  client = createClient(`http://127.0.0.1:${address.port}`, adminToken);
  await eventually(async () => gateway.utilization.capacity('tiny', 'standard-8') === 1, { what: 'tiny’s capacity' });
  await fund(client, 'admin', 'tiny');
});

afterAll(async () => {
  await gateway.stop();
  await runtime.stop();
  await transport.close();
});

describe('waiting at the gateway for capacity', () => {
  it('refuses a job with no room and no scheduleTimeout with NO_CAPACITY, and parks one with it', async () => {
    const first = await submit(wholeCluster('first', 2));
    expect(first.error).toBeNull();
    await waitForState(client, first.job!.id, ['RUNNING']);
    await eventually(async () => gateway.utilization.capacity('tiny', 'standard-8') === 0, { what: 'tiny to be full' });

    const refused = await submit(wholeCluster('refused', 1));
    expect(refused.error?.code).toBe('NO_CAPACITY');
    expect(refused.error?.message).toMatch(/tiny\/standard-8/);

    const waiting = await submit(wholeCluster('waiting', 1, 60));
    expect(waiting.error).toBeNull();
    const parked = await client.ok(STATUS, { id: waiting.job!.id });
    expect(parked.job.status).toEqual({ state: 'IN_QUEUE', pendingReason: expect.stringMatching(/^Waiting up to 60 s for capacity: 1 fitting product is full \(tiny\/standard-8\)/), queuePosition: 1 });

    // When the first job ends, the waiting one is sent and runs to the end.
    await waitForState(client, first.job!.id, ['SUCCESS']);
    const done = await waitForState(client, waiting.job!.id, ['SUCCESS', 'FAILURE'], 20_000);
    expect(done.state.state).toBe('SUCCESS');
    const story = (await client.ok(STATUS, { id: waiting.job!.id })).job.updates.map((u: any) => u.status).join('\n');
    expect(story).toMatch(/Room became free on tiny\/standard-8/);
  });

  it('fails a job whose schedule timeout passes, saying so', async () => {
    await eventually(async () => gateway.utilization.capacity('tiny', 'standard-8') === 1, { what: 'tiny to have room again' });
    const blocker = await submit(wholeCluster('blocker', 4));
    expect(blocker.error).toBeNull();
    await waitForState(client, blocker.job!.id, ['RUNNING']);
    await eventually(async () => gateway.utilization.capacity('tiny', 'standard-8') === 0, { what: 'tiny to be full' });
    const late = await submit(wholeCluster('late', 1, 1));
    const failed = await waitForState(client, late.job!.id, ['FAILURE'], 10_000);
    expect(failed.updates.at(-1).status).toMatch(/^No capacity became free within the schedule timeout of 1 s/);

    const cancelled = await submit(wholeCluster('cancelled', 1, 60));
    const term = await client.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok error { code } } }`, { id: cancelled.job!.id });
    expect(term.terminateJobs[0]).toEqual({ ok: true, error: null });
    const ended = await waitForState(client, cancelled.job!.id, ['SUCCESS']);
    expect(ended.updates.at(-1).status).toBe('Your job has been terminated before it started');
    await client.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: blocker.job!.id });
  });
});
