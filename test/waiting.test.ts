/**
 * Jobs that wait at the gateway (scheduleTimeout): for capacity, or for a
 * provider that cannot be reached. They say why and where they stand, start
 * when room frees up or the provider is back, fail when the timeout passes,
 * and can be terminated while they wait. A job a replica was killed sending
 * is sent again by another, only where it may have gone.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createMemoryLedger } from '../gateway/accounting/memory-ledger.js';
import { createGateway, type Gateway } from '../gateway/gateway.js';
import { createMemoryStore } from '../gateway/store/memory-store.js';
import type { Store } from '../gateway/store/store.js';
import { createProviderRuntime, type ProviderRuntime } from '../providers/sdk/runtime.js';
import { HPC_CONFIG } from '../providers/simulated/configs.js';
import { createSimulatedDriver } from '../providers/simulated/simulated-driver.js';
import { systemClock } from '../shared/clock.js';
import { silentLogger } from '../shared/logger.js';
import { createSubjects } from '../shared/subjects.js';
import { createMemoryTransport } from '../shared/transport/memory-transport.js';
import { fund } from './support/credits.js';
import { createClient, eventually, waitForState, type TestClient } from './support/graphql-client.js';
import { makeJob, makeSpecification } from './support/jobs.js';
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
  gateway = createGateway({
    transport,
    store,
    ledger: createMemoryLedger(),
    clock: systemClock,
    logger: silentLogger(),
    adminToken,
    utilizationIntervalMs: 100,
  });
  // One node that fits one standard-8 job at a time.
  const config = {
    ...HPC_CONFIG,
    nodes: { count: 1, cpu: 8, memoryInGigs: 32, gpu: 0 },
    products: HPC_CONFIG.products.slice(0, 1),
    startLatencyMs: 0,
  };
  runtime = createProviderRuntime({
    transport,
    driver: createSimulatedDriver(config, { clock: systemClock }),
    id: 'tiny',
    kind: 'SIMULATED',
    version: 'test',
    heartbeatIntervalMs: 300,
    clock: systemClock,
  });
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
    expect(parked.job.status).toEqual({
      state: 'IN_QUEUE',
      pendingReason: expect.stringMatching(/^Waiting up to 60 s for capacity: 1 fitting product is full \(tiny\/standard-8\)/),
      queuePosition: 1,
    });

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

describe('waiting at the gateway for a provider that cannot be reached', () => {
  // A gateway of its own that waits 300 ms for a provider, and one-node simulated providers:
  // "slow" answers a create only after 700 ms (it is slow, not broken), "gone" is stopped and
  // started again, "quick" takes jobs a dead replica left behind.
  const own = createMemoryTransport({ subjects: createSubjects(uniquePrefix()) });
  const store: Store = createMemoryStore();
  const runtimes = new Map<string, ProviderRuntime>();
  let gw: Gateway;
  let admin: TestClient;
  const config = {
    ...HPC_CONFIG,
    nodes: { count: 1, cpu: 8, memoryInGigs: 32, gpu: 0 },
    products: HPC_CONFIG.products.slice(0, 1),
    startLatencyMs: 0,
  };
  const startProvider = async (id: string, createDelayMs = 0) => {
    const runtime = createProviderRuntime({
      transport: own,
      driver: createSimulatedDriver(config, { clock: systemClock, createDelayMs }),
      id,
      kind: 'SIMULATED',
      version: 'test',
      heartbeatIntervalMs: 200,
      clock: systemClock,
    });
    await runtime.start();
    runtimes.set(id, runtime);
  };
  const job = (provider: string, name: string, scheduleTimeout?: number) => ({
    product: { id: 'standard-8', provider },
    command: ['true'],
    name,
    timeAllocation: { hours: 1 },
    parameters: { simulatedDurationMs: 300 },
    ...(scheduleTimeout === undefined ? {} : { scheduleTimeout }),
  });
  const status = (id: string, of: string) =>
    eventually(async () => ((await gw.registry.get(id)) && gw.registry.status(gw.registry.get(id)!) === of ? true : null), {
      what: `${id} to be ${of}`,
    });
  const story = async (id: string) => (await admin.ok(STATUS, { id })).job.updates as { state: string | null; status: string }[];

  beforeAll(async () => {
    gw = createGateway({
      transport: own,
      store,
      ledger: createMemoryLedger(),
      clock: systemClock,
      logger: silentLogger(),
      adminToken,
      providerTimeoutMs: 300,
      utilizationIntervalMs: 100,
    });
    for (const [id, delay] of [
      ['slow', 700],
      ['gone', 0],
      ['quick', 0],
    ] as const)
      await startProvider(id, delay);
    const address = await gw.start(0, '127.0.0.1');
    admin = createClient(`http://127.0.0.1:${address.port}`, adminToken);
    for (const id of runtimes.keys()) {
      await eventually(async () => gw.registry.get(id)?.manifest, { what: `${id}’s manifest` });
      await fund(admin, 'admin', id);
    }
  });

  afterAll(async () => {
    await gw.stop();
    for (const runtime of runtimes.values()) await runtime.stop();
    await own.close();
  });

  it('waits for a provider that is down, saying so, and runs the job once it is back; without a timeout it is refused', async () => {
    await runtimes.get('gone')!.stop();
    await status('gone', 'DOWN');
    const refused = (await admin.ok(CREATE, { specs: [job('gone', 'no-timeout')] })).createJobs[0];
    expect(refused.error).toEqual({ code: 'PROVIDER_UNAVAILABLE', message: 'gone: is down (no heartbeat)' });

    const waiting = (await admin.ok(CREATE, { specs: [job('gone', 'waits', 60)] })).createJobs[0];
    expect(waiting.error).toBeNull();
    const parked = await admin.ok(STATUS, { id: waiting.job.id });
    expect(parked.job.status).toEqual({
      state: 'IN_QUEUE',
      pendingReason: 'Waiting up to 60 s for gone to take the job: gone is down (no heartbeat)',
      queuePosition: 1,
    });

    await startProvider('gone');
    const done = await waitForState(admin, waiting.job.id, ['SUCCESS', 'FAILURE'], 15_000);
    expect(done.state.state).toBe('SUCCESS');
    expect((await story(waiting.job.id)).map((u) => u.status)).toContain('gone can take the job now: sending it');
  });

  it('keeps a job whose create went unanswered for that provider, which runs it once', async () => {
    // The create reached slow but was answered too late: the job may be there, so it waits for slow
    // alone (sent anywhere else it could run twice) and goes on there.
    const created = (await admin.ok(CREATE, { specs: [job('slow', 'unanswered', 60)] })).createJobs[0];
    expect(created.error).toBeNull();
    const done = await waitForState(admin, created.job.id, ['SUCCESS', 'FAILURE'], 15_000);
    expect(done.state.state).toBe('SUCCESS');
    const updates = await story(created.job.id);
    expect(updates.map((u) => u.status)).toContain('Waiting up to 60 s for slow to take the job: slow: did not answer jobs.create within 300 ms');
    // One start: the create sent again (the waiting room's, or the late one) found the job there.
    expect(updates.filter((u) => u.state === 'RUNNING')).toHaveLength(1);
    expect(done.provider.id).toBe('slow');
  });

  /** A job stored IN_QUEUE for quick/standard-8 as a replica accepting it would leave it. */
  const quickJob = (now: number, parameters: Record<string, unknown> | null = null) =>
    makeJob({
      providerId: 'quick',
      owner: { createdBy: 'admin', project: null },
      specification: makeSpecification({
        product: { id: 'standard-8', category: gw.registry.product('quick', 'standard-8')!.category, provider: 'quick' },
        command: ['true'],
        timeAllocationMs: 3_600_000,
        parameters,
      }),
      updates: [{ state: 'IN_QUEUE', status: 'Job submitted to quick/standard-8', newTimeAllocation: null, timestamp: now }],
    });

  it('sends a job a replica was killed sending again, only to where it may have gone, and drops what it never stored', async () => {
    // What a replica killed mid-send leaves: its held record, past its hold, and the job still IN_QUEUE.
    // And one killed between writing the record and the job: a record without a job.
    const now = Date.now();
    const orphan = quickJob(now, { simulatedDurationMs: 300 });
    const input = { product: { id: 'standard-8', provider: 'quick' }, command: ['true'], timeAllocation: { hours: 1 } };
    await store.putWaiting({ jobId: orphan.id, deadline: now, input, pinned: true, heldUntil: now - 1, claim: 'killed-replica' });
    await store.createJob(orphan, { exclusive: false });
    const never = makeJob().id;
    await store.putWaiting({ jobId: never, deadline: now, input, pinned: true, heldUntil: now - 1, claim: 'killed-before-the-job' });

    const done = await waitForState(admin, orphan.id, ['SUCCESS', 'FAILURE'], 15_000);
    expect(done.state.state).toBe('SUCCESS');
    expect(done.provider.id).toBe('quick');
    expect((await story(orphan.id)).map((u) => u.status)).toContain(
      'Sending the job to quick again: the gateway replica that accepted it stopped before quick confirmed it',
    );
    await eventually(async () => (await store.listWaiting()).length === 0, { what: 'both records to be gone' });
  });

  it('leaves alone a job another replica holds while it sends it', async () => {
    const now = Date.now();
    const held = quickJob(now);
    await store.putWaiting({
      jobId: held.id,
      deadline: now,
      input: { product: { id: 'standard-8', provider: 'quick' } },
      pinned: true,
      heldUntil: now + 60_000,
      claim: 'live-replica',
    });
    await store.createJob(held, { exclusive: false });
    // Several sweeps later it is still the other replica's: not sent, not failed, its record untouched.
    for (let i = 0; i < 3; i++) await gw.orchestrator.waitingRoom.sweep();
    expect((await store.getJob(held.id))!.updates).toHaveLength(1);
    expect((await store.listWaiting()).find((r) => r.jobId === held.id)?.claim).toBe('live-replica');
    // Terminated meanwhile: its provider does not have it yet, and will not take it now.
    const term = await admin.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok error { code message } } }`, { id: held.id });
    expect(term.terminateJobs[0]).toEqual({ ok: true, error: null });
    expect((await store.getJob(held.id))!).toMatchObject({
      state: 'SUCCESS',
      updates: [expect.anything(), expect.objectContaining({ status: 'Your job has been terminated before it started' })],
    });
    const late = await own.request(
      own.subjects.providerCall('quick', 'jobs.create'),
      {
        v: 1,
        jobs: [
          {
            id: held.id,
            owner: held.owner,
            specification: held.specification,
            product: gw.registry.product('quick', 'standard-8')!,
            createdAt: held.createdAt,
          },
        ],
      },
      { timeoutMs: 2_000 },
    );
    expect(late).toMatchObject({ ok: true, result: { results: [{ ok: false, error: { code: 'INVALID_STATE' } }] } });
  });
});
