/**
 * Credits through the gateway: grants, refusals, charging running jobs by
 * (driven) time, suspended time excluded, the final partial unit, running out
 * ("No more credits"), records that add up; and one test over real time with
 * a short price unit. Real Redis for the ledger; a real local provider.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Ledger } from '../gateway/accounting/ledger.js';
import { createRedisLedger } from '../gateway/accounting/redis-ledger.js';
import { createGateway, type Gateway, type GatewayOptions } from '../gateway/gateway.js';
import { createMemoryStore } from '../gateway/store/memory-store.js';
import { createLocalDriver } from '../providers/local/local-driver.js';
import { createProviderRuntime, type ProviderRuntime } from '../providers/sdk/runtime.js';
import { createManualClock, systemClock, type Clock } from '../shared/clock.js';
import { silentLogger } from '../shared/logger.js';
import { createSubjects } from '../shared/subjects.js';
import { createMemoryTransport } from '../shared/transport/memory-transport.js';
import { createClient, eventually, waitForState, type TestClient } from './support/graphql-client.js';
import { redisUrl, uniquePrefix } from './support/services.js';

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { id } error { code message } } }`;
const GRANT = `mutation ($g: GrantInput!) { grantCredits(grant: $g) { balance allocations { initialBalance balance } } }`;

interface Env {
  gateway: Gateway;
  admin: TestClient;
  url: string;
  ledger: Ledger;
  user(name: string): Promise<TestClient>;
  stop(): Promise<void>;
}

async function startEnv(clock: Clock, extra: Partial<GatewayOptions> = {}): Promise<Env> {
  const transport = createMemoryTransport({ subjects: createSubjects(uniquePrefix()) });
  const ledger = await createRedisLedger({ url: redisUrl(), keyPrefix: uniquePrefix() });
  const adminToken = randomBytes(24).toString('base64url');
  const stateDir = mkdtempSync(join(tmpdir(), 'sy-acct-'));
  const gateway = createGateway({ transport, store: createMemoryStore(), ledger, clock, logger: silentLogger(), adminToken, ...extra });
  const runtime: ProviderRuntime = createProviderRuntime({
    transport,
    driver: createLocalDriver({ stateDir, terminateGraceMs: 200 }),
    id: 'local',
    kind: 'LOCAL',
    version: 'test',
    clock,
    logger: silentLogger(),
  });
  await runtime.start();
  const address = await gateway.start(0, '127.0.0.1');
  const url = `http://127.0.0.1:${address.port}`;
  const admin = createClient(url, adminToken);
  await eventually(async () => gateway.registry.get('local')?.manifest, { what: 'the local manifest' });
  return {
    gateway,
    admin,
    url,
    ledger,
    async user(name) {
      await admin.ok(`mutation ($u: String!) { createUser(username: $u, password: "a-long-password") { username } }`, { u: name });
      const res = await fetch(`${url}/api/v1/token`, { method: 'POST', body: JSON.stringify({ username: name, password: 'a-long-password' }) });
      return createClient(url, ((await res.json()) as { token: string }).token);
    },
    async stop() {
      await gateway.stop();
      await runtime.stop();
      await transport.close();
      await ledger.close();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

const grant = (owner: string, amount: number, extra: Record<string, unknown> = {}) => ({
  g: { owner, provider: 'local', category: 'local-cpu', amount, ...extra },
});

async function balanceOf(client: TestClient): Promise<number> {
  const data = await client.ok(`{ wallets { provider category balance } }`);
  return data.wallets.find((w: any) => w.provider === 'local' && w.category === 'local-cpu')?.balance ?? 0;
}

async function startSleep(client: TestClient, name: string) {
  const data = await client.ok(CREATE, { specs: [{ product: { id: 'local-small', provider: 'local' }, command: ['sleep', '600'], name }] });
  expect(data.createJobs[0].error).toBeNull();
  const id = data.createJobs[0].job.id as string;
  await waitForState(client, id, ['RUNNING']);
  return id;
}

describe('credits with a driven clock', () => {
  const clock = createManualClock();
  let env: Env;
  beforeAll(async () => {
    env = await startEnv(clock, { chargeIntervalMs: 3_600_000, chargeLagAllowanceMs: 0 });
  });
  afterAll(async () => env?.stop());

  it('refuses bad grants with their codes and changes nothing', async () => {
    const mallory = await env.user('mallory');
    expect((await mallory.gql(GRANT, grant('mallory', 100))).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    for (const [amount, code] of [
      [0, 'INVALID_INPUT'],
      [-5, 'INVALID_INPUT'],
      [1.5, 'INVALID_INPUT'],
    ] as const) {
      expect((await env.admin.gql(GRANT, grant('mallory', amount))).errors?.[0]?.extensions?.code).toBe(code);
    }
    const start = new Date(clock.now()).toISOString();
    const before = new Date(clock.now() - 60_000).toISOString();
    expect((await env.admin.gql(GRANT, grant('mallory', 5, { startDate: start, endDate: before }))).errors?.[0]?.extensions?.code).toBe(
      'INVALID_INPUT',
    );
    expect(
      (await env.admin.gql(GRANT, { g: { owner: 'mallory', provider: 'nowhere', category: 'local-cpu', amount: 5 } })).errors?.[0]?.extensions?.code,
    ).toBe('INVALID_INPUT');
    expect(
      (await env.admin.gql(GRANT, { g: { owner: 'mallory', provider: 'local', category: 'gpu-gold', amount: 5 } })).errors?.[0]?.extensions?.code,
    ).toBe('INVALID_INPUT');
    expect((await mallory.gql(`{ wallets(project: "not-mine") { balance } }`)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await balanceOf(mallory)).toBe(0);
  });

  it('refuses a job without credits with INSUFFICIENT_FUNDS', async () => {
    const bob = await env.user('bob');
    const data = await bob.ok(CREATE, { specs: [{ product: { id: 'local-small', provider: 'local' }, command: ['true'] }] });
    expect(data.createJobs[0].error.code).toBe('INSUFFICIENT_FUNDS');
    const routed = await bob.ok(CREATE, { specs: [{ requirements: { cpu: 1 }, command: ['true'] }] });
    expect(routed.createJobs[0].error.code).toBe('INSUFFICIENT_FUNDS');
    expect(routed.createJobs[0].error.message).toMatch(/local\/local-small \(no credits\)/);
    expect((await bob.ok(`{ jobs { totalCount } }`)).jobs.totalCount).toBe(0);
  });

  it('stops a job whose credits last two minutes with "No more credits", its wallet at zero, not below', async () => {
    const alice = await env.user('alice');
    await env.admin.ok(GRANT, grant('alice', 2));
    const product = await alice.ok(`{ product(ref: { id: "local-small", provider: "local" }) { balance pricePerUnit unitOfPrice } }`);
    expect(product.product).toEqual({ balance: 2, pricePerUnit: 1, unitOfPrice: 'CREDITS_PER_MINUTE' });
    const id = await startSleep(alice, 'two-minutes');

    clock.advance(61_000); // two started minutes: paid in full
    await env.gateway.charger.round();
    expect(await balanceOf(alice)).toBe(0);
    expect((await alice.ok(`query ($id: ID!) { job(id: $id) { status { state } creditsCharged } }`, { id })).job).toEqual({
      status: { state: 'RUNNING' },
      creditsCharged: 2,
    });

    clock.advance(60_000); // a third minute the wallet cannot pay
    await env.gateway.charger.round();
    const done = await waitForState(alice, id, ['SUCCESS', 'FAILURE']);
    expect(done.updates.at(-1).status).toBe('Your job has been terminated (No more credits)');
    expect(await balanceOf(alice)).toBe(0);
    const records = await alice.ok(`{ transactions { edges { node { kind amount jobId } } totalCount } }`);
    const charges = records.transactions.edges.filter((e: any) => e.node.kind === 'CHARGE');
    expect(charges.reduce((sum: number, e: any) => sum + e.node.amount, 0)).toBe(2);
    expect(charges.every((e: any) => e.node.jobId === id)).toBe(true);
  });

  it('charges the final partial unit when a job ends, and leaves suspended time out', async () => {
    const carol = await env.user('carol');
    await env.admin.ok(GRANT, grant('carol', 100));
    const ended = await startSleep(carol, 'partial');
    clock.advance(30_000);
    await carol.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: ended });
    await waitForState(carol, ended, ['SUCCESS']);
    await eventually(async () => (await carol.ok(`query ($id: ID!) { job(id: $id) { creditsCharged } }`, { id: ended })).job.creditsCharged === 1, {
      what: 'the final minute charged',
    });

    const paused = await startSleep(carol, 'paused');
    clock.advance(30_000);
    await carol.ok(`mutation ($id: ID!) { suspendJobs(ids: [$id]) { ok } }`, { id: paused });
    await waitForState(carol, paused, ['SUSPENDED']);
    clock.advance(3_600_000);
    await env.gateway.charger.round();
    await carol.ok(`mutation ($id: ID!) { unsuspendJobs(ids: [$id]) { ok } }`, { id: paused });
    await waitForState(carol, paused, ['RUNNING']);
    clock.advance(20_000);
    await env.gateway.charger.round();
    // A repeated round finds nothing due: it reads no job and charges nothing more.
    expect(await env.gateway.charger.round()).toEqual({ jobs: 0, debited: 0, stopped: 0, failed: 0 });
    expect((await carol.ok(`query ($id: ID!) { job(id: $id) { creditsCharged } }`, { id: paused })).job.creditsCharged).toBe(1);
    expect(await balanceOf(carol)).toBe(98);
    await carol.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: paused });
    await waitForState(carol, paused, ['SUCCESS']);
  });

  it('counts jobs by state over a time frame', async () => {
    const stats = await env.admin.ok(
      `{ all: jobStat(stat: COUNT_ALL) success: jobStat(stat: COUNT_SUCCESS) canceled: jobStat(stat: COUNT_CANCELED) running: jobStat(stat: COUNT_RUNNING, timeFrame: T_10M) }`,
    );
    expect(stats).toEqual({ all: 3, success: 3, canceled: 3, running: 0 });
    clock.advance(11 * 60_000);
    expect((await env.admin.ok(`{ jobStat(stat: COUNT_ALL, timeFrame: T_10M) }`)).jobStat).toBe(0);
    expect((await env.admin.ok(`{ jobStat(stat: COUNT_ALL, timeFrame: T_24H) }`)).jobStat).toBe(3);
  });

  it('resumes a suspended job only while its wallet has credits', async () => {
    const dave = await env.user('dave');
    await env.admin.ok(GRANT, grant('dave', 1));
    const id = await startSleep(dave, 'resumed-on-credit');
    clock.advance(30_000);
    await dave.ok(`mutation ($id: ID!) { suspendJobs(ids: [$id]) { ok } }`, { id });
    await waitForState(dave, id, ['SUSPENDED']);
    await env.gateway.charger.round();
    expect(await balanceOf(dave)).toBe(0);
    const UNSUSPEND = `mutation ($id: ID!) { unsuspendJobs(ids: [$id]) { ok error { code } } }`;
    expect((await dave.ok(UNSUSPEND, { id })).unsuspendJobs[0]).toEqual({ ok: false, error: { code: 'INSUFFICIENT_FUNDS' } });
    expect((await dave.ok(`query ($id: ID!) { job(id: $id) { status { state } } }`, { id })).job.status.state).toBe('SUSPENDED');
    await env.admin.ok(GRANT, grant('dave', 5));
    expect((await dave.ok(UNSUSPEND, { id })).unsuspendJobs[0]).toEqual({ ok: true, error: null });
    await waitForState(dave, id, ['RUNNING']);
    await dave.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id });
    await waitForState(dave, id, ['SUCCESS']);
  });
});

describe('credits over real time', () => {
  it('stops a job when a short price unit runs its wallet dry', async () => {
    // One "minute" lasts 100 ms here, and rounds run every 100 ms.
    const env = await startEnv(systemClock, { chargeIntervalMs: 100, chargeLagAllowanceMs: 50, unitMs: { CREDITS_PER_MINUTE: 100 } });
    try {
      const erin = await env.user('erin');
      await env.admin.ok(GRANT, grant('erin', 5));
      const id = await startSleep(erin, 'real-time');
      const done = await waitForState(erin, id, ['SUCCESS', 'FAILURE'], 10_000);
      expect(done.updates.at(-1).status).toBe('Your job has been terminated (No more credits)');
      expect(await balanceOf(erin)).toBe(0);
      expect((await erin.ok(`query ($id: ID!) { job(id: $id) { creditsCharged } }`, { id })).job.creditsCharged).toBe(5);
    } finally {
      await env.stop();
    }
  });
});
