/**
 * Schedules and services through the core API: two gateway replicas on one real
 * Redis and real NATS, a real local provider, one driven clock for all of them.
 * The sweeps' timers are off; the tests move the clock and sweep both replicas
 * at once, as their timers would.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createRedisLedger } from '../gateway/accounting/redis-ledger.js';
import { createGateway, type Gateway } from '../gateway/gateway.js';
import { createRedisStore } from '../gateway/store/redis-store.js';
import type { Store } from '../gateway/store/store.js';
import { createManualClock } from '../shared/clock.js';
import { silentLogger } from '../shared/logger.js';
import { createSubjects } from '../shared/subjects.js';
import { createNatsTransport } from '../shared/transport/nats-transport.js';
import { fund } from './support/credits.js';
import { createClient, eventually, waitForState, type TestClient } from './support/graphql-client.js';
import { deleteKeys, natsUrl, redisUrl, uniquePrefix } from './support/services.js';
import { localProviderRuntime } from './support/tenancy-gateway.js';
import { createUserClient } from './support/users.js';

const prefix = uniquePrefix();
const adminToken = randomBytes(24).toString('base64url');
const stateDir = mkdtempSync(join(tmpdir(), 'sy-schedules-'));
const clock = createManualClock();
const closers: (() => Promise<void>)[] = [];
const gateways: Gateway[] = [];
const stores: Store[] = [];
let admin: TestClient;
let bob: TestClient;
let mallory: TestClient;

const SPEC = { product: { id: 'local-small', provider: 'local' }, command: ['true'], allowDuplicateJob: true };
const SCHEDULE_FIELDS = `id owner { createdBy project } name cron timeZone missedFirings catchUpWindowSeconds paused nextFireTime droppedFirings
  firings { fireTime firedAt catchUp jobId error { code message } job { id scheduleId } }`;
const CREATE_SCHEDULE = `mutation ($s: ScheduleInput!) { createSchedule(schedule: $s) { ${SCHEDULE_FIELDS} } }`;
const SERVICE_FIELDS = `id state stoppedReason restarts nextStartTime currentJob { id serviceId status { state } }
  runs { jobId createdAt delaySeconds endedAt state exitCode error { code } job { id serviceId } }`;

/** Both replicas sweep at the same moment, as their timers would. */
const sweepSchedules = () => Promise.all(gateways.map((g) => g.schedules.sweep()));
const sweepServices = () => Promise.all(gateways.map((g) => g.services.sweep()));

async function schedule(client: TestClient, id: string) {
  return (await client.ok(`query ($id: ID!) { schedule(id: $id) { ${SCHEDULE_FIELDS} } }`, { id })).schedule;
}

async function service(client: TestClient, id: string) {
  return (await client.ok(`query ($id: ID!) { service(id: $id) { ${SERVICE_FIELDS} } }`, { id })).service;
}

/** The jobs a schedule (or service) made, from the jobs list. */
async function jobsOf(client: TestClient, field: 'scheduleId' | 'serviceId', id: string): Promise<string[]> {
  const data = await client.ok(`{ jobs(first: 500) { edges { node { id scheduleId serviceId } } } }`);
  return data.jobs.edges
    .map((e: any) => e.node)
    .filter((job: any) => job[field] === id)
    .map((job: any) => job.id);
}

/** The wall time of `iso` in `timeZone`, as "HH:MM". */
function localTime(iso: string, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(iso));
}

beforeAll(async () => {
  const subjects = createSubjects(prefix);
  for (let i = 0; i < 2; i++) {
    const transport = await createNatsTransport({ url: natsUrl(), subjects });
    const store = await createRedisStore({ url: redisUrl(), keyPrefix: prefix });
    const ledger = await createRedisLedger({ url: redisUrl(), keyPrefix: prefix });
    const gateway = createGateway({
      transport,
      store,
      ledger,
      clock,
      logger: silentLogger(),
      adminToken,
      // The clock moves by days here: tokens outlive it, no charging round runs meanwhile.
      tokenTtlSeconds: 365 * 86_400,
      chargeIntervalMs: 24 * 3_600_000,
      recurringIntervalMs: 0,
    });
    const address = await gateway.start(0, '127.0.0.1');
    gateways.push(gateway);
    stores.push(store);
    if (i === 0) admin = createClient(`http://127.0.0.1:${address.port}`, adminToken);
    closers.push(async () => {
      await gateway.stop();
      await transport.close();
      await store.close();
      await ledger.close();
    });
  }
  const providerTransport = await createNatsTransport({ url: natsUrl(), subjects });
  const runtime = localProviderRuntime({ transport: providerTransport, stateDir, clock });
  await runtime.start();
  closers.unshift(async () => {
    await runtime.stop();
    await providerTransport.close();
  });
  for (const gateway of gateways) await eventually(async () => gateway.registry.get('local')?.manifest, { what: 'local on every replica' });
  bob = await createUserClient(admin, 'bob');
  mallory = await createUserClient(admin, 'mallory');
  await fund(admin, 'bob', 'local');
  await fund(admin, 'mallory', 'local');
});

afterAll(async () => {
  for (const close of closers) await close();
  await deleteKeys(prefix);
  rmSync(stateDir, { recursive: true, force: true });
});

describe('schedules', () => {
  it('fire at the cron times of their time zone, one job per tick across two replicas, each job naming its schedule', async () => {
    const created = (await bob.ok(CREATE_SCHEDULE, { s: { name: 'nightly', cron: '30 9 * * *', timeZone: 'America/New_York', specification: SPEC } }))
      .createSchedule;
    expect(created).toMatchObject({ owner: { createdBy: 'bob', project: null }, paused: false, missedFirings: 'RUN_ONCE', firings: [] });
    const first = Date.parse(created.nextFireTime);
    expect(first).toBeGreaterThan(clock.now());
    expect(first - clock.now()).toBeLessThanOrEqual(86_400_000 + 3_600_000);
    expect(localTime(created.nextFireTime, 'America/New_York')).toBe('09:30');

    // A second before its time: nothing.
    clock.set(first - 1_000);
    await sweepSchedules();
    expect(await jobsOf(bob, 'scheduleId', created.id)).toEqual([]);

    const fireTimes: string[] = [];
    for (let tick = 0; tick < 3; tick++) {
      const current = await schedule(bob, created.id);
      const at = Date.parse(current.nextFireTime);
      expect(localTime(current.nextFireTime, 'America/New_York')).toBe('09:30');
      clock.set(at + 2_000);
      await sweepSchedules();
      // Again, as a late timer of either replica would: the tick has fired already.
      await sweepSchedules();
      fireTimes.push(current.nextFireTime);
      expect(await jobsOf(bob, 'scheduleId', created.id)).toHaveLength(tick + 1);
    }
    const after = await schedule(bob, created.id);
    expect(after.firings.map((f: any) => f.fireTime)).toEqual([...fireTimes].reverse());
    for (const firing of after.firings) {
      expect(firing).toMatchObject({ catchUp: false, error: null, job: { id: firing.jobId, scheduleId: created.id } });
      await waitForState(bob, firing.jobId, ['SUCCESS']);
    }
    // Consecutive days at 09:30 New York time: 24 h apart, except across a daylight-saving change (23 or 25 h).
    const gaps = fireTimes.slice(1).map((t, i) => (Date.parse(t) - Date.parse(fireTimes[i]!)) / 3_600_000);
    for (const gap of gaps) expect([23, 24, 25]).toContain(gap);
  });

  it('pause, resume and delete: nothing fires while paused or once deleted; resuming fires from the next time after now', async () => {
    const s = (await bob.ok(CREATE_SCHEDULE, { s: { cron: '0 * * * *', specification: SPEC } })).createSchedule;
    const paused = (await bob.ok(`mutation ($id: ID!) { pauseSchedule(id: $id) { paused nextFireTime } }`, { id: s.id })).pauseSchedule;
    expect(paused).toEqual({ paused: true, nextFireTime: null });
    clock.set(Date.parse(s.nextFireTime) + 10 * 60_000);
    await sweepSchedules();
    expect(await jobsOf(bob, 'scheduleId', s.id)).toEqual([]);

    const resumed = (await bob.ok(`mutation ($id: ID!) { resumeSchedule(id: $id) { paused nextFireTime } }`, { id: s.id })).resumeSchedule;
    expect(resumed.paused).toBe(false);
    // The hour it was paused over is not made up for.
    expect(Date.parse(resumed.nextFireTime)).toBe(Date.parse(s.nextFireTime) + 3_600_000);
    await sweepSchedules();
    expect(await jobsOf(bob, 'scheduleId', s.id)).toEqual([]);
    clock.set(Date.parse(resumed.nextFireTime) + 1_000);
    await sweepSchedules();
    expect(await jobsOf(bob, 'scheduleId', s.id)).toHaveLength(1);

    expect((await bob.ok(`mutation ($id: ID!) { deleteSchedule(id: $id) }`, { id: s.id })).deleteSchedule).toBe(true);
    expect((await bob.gql(`query ($id: ID!) { schedule(id: $id) { id } }`, { id: s.id })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    clock.advance(3 * 3_600_000);
    await sweepSchedules();
    expect(await jobsOf(bob, 'scheduleId', s.id)).toHaveLength(1);
    expect((await bob.ok(`{ schedules { id } }`)).schedules.map((x: any) => x.id)).not.toContain(s.id);
  });

  it('missed firings while no replica swept: RUN_ONCE makes one catch-up job for the latest, SKIP drops them', async () => {
    const input = (policy: string) => ({ s: { cron: '*/10 * * * *', missedFirings: policy, catchUpWindowSeconds: 3_600, specification: SPEC } });
    const once = (await bob.ok(CREATE_SCHEDULE, input('RUN_ONCE'))).createSchedule;
    const skip = (await bob.ok(CREATE_SCHEDULE, input('SKIP'))).createSchedule;
    const due = Date.parse(once.nextFireTime);
    expect(Date.parse(skip.nextFireTime)).toBe(due);
    // No sweep for 35 minutes past the first time: four fire times go by (as with every gateway down).
    clock.set(due + 35 * 60_000);
    await sweepSchedules();
    const caughtUp = await schedule(bob, once.id);
    expect(caughtUp.firings).toHaveLength(1);
    expect(caughtUp.firings[0]).toMatchObject({ catchUp: true, fireTime: new Date(due + 30 * 60_000).toISOString(), error: null });
    expect(caughtUp.droppedFirings).toBe(3);
    expect(Date.parse(caughtUp.nextFireTime)).toBe(due + 40 * 60_000);
    const skipped = await schedule(bob, skip.id);
    expect(skipped).toMatchObject({ firings: [], droppedFirings: 4, nextFireTime: new Date(due + 40 * 60_000).toISOString() });
    expect(await jobsOf(bob, 'scheduleId', once.id)).toHaveLength(1);
    expect(await jobsOf(bob, 'scheduleId', skip.id)).toEqual([]);
    for (const id of [once.id, skip.id]) await bob.ok(`mutation ($id: ID!) { deleteSchedule(id: $id) }`, { id });
  });

  it('refuses a bad cron expression, time zone or catch-up window with INVALID_INPUT and stores nothing', async () => {
    const before = (await bob.ok(`{ schedules { id } }`)).schedules;
    for (const s of [
      { cron: '61 * * * *', specification: SPEC },
      { cron: 'every day', specification: SPEC },
      { cron: '0 9 * * *', timeZone: 'Mars/Olympus', specification: SPEC },
      { cron: '0 9 * * *', catchUpWindowSeconds: -1, specification: SPEC },
      { cron: '0 9 * * *', specification: { ...SPEC, replicas: 0 } },
    ]) {
      const res = await bob.gql(CREATE_SCHEDULE, { s });
      expect(res.errors?.[0]?.extensions?.code, JSON.stringify(s)).toBe('INVALID_INPUT');
    }
    expect((await bob.ok(`{ schedules { id } }`)).schedules).toEqual(before);
    expect(await stores[0]!.schedules.list({ createdBy: 'bob', project: null })).toHaveLength(before.length);
  });

  it('hides one user’s schedule from another: NOT_FOUND to read, pause, resume or delete, absent from their list', async () => {
    const s = (await bob.ok(CREATE_SCHEDULE, { s: { cron: '0 0 * * *', specification: SPEC } })).createSchedule;
    expect((await mallory.gql(`query ($id: ID!) { schedule(id: $id) { id } }`, { id: s.id })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    for (const verb of ['pauseSchedule', 'resumeSchedule']) {
      const res = await mallory.gql(`mutation ($id: ID!) { ${verb}(id: $id) { id } }`, { id: s.id });
      expect(res.errors?.[0]?.extensions?.code, verb).toBe('NOT_FOUND');
    }
    expect((await mallory.gql(`mutation ($id: ID!) { deleteSchedule(id: $id) }`, { id: s.id })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await mallory.ok(`{ schedules { id } }`)).schedules).toEqual([]);
    expect((await schedule(bob, s.id)).paused).toBe(false);
    // The administrator sees it.
    expect((await admin.ok(`query ($id: ID!) { schedule(id: $id) { owner { createdBy } } }`, { id: s.id })).schedule.owner.createdBy).toBe('bob');
    await bob.ok(`mutation ($id: ID!) { deleteSchedule(id: $id) }`, { id: s.id });
  });
});

describe('services', () => {
  const CREATE_SERVICE = `mutation ($s: ServiceInput!) { createService(service: $s) { ${SERVICE_FIELDS} } }`;

  /** Wait for the current run's job to end, then sweep: the service sees it. */
  async function runEnds(id: string) {
    const current = await service(bob, id);
    await waitForState(bob, current.currentJob.id, ['SUCCESS', 'FAILURE']);
    await sweepServices();
    return service(bob, id);
  }

  it('restarts a job that exits, with a growing delay, and stopping it ends it without another run', async () => {
    const s = (
      await bob.ok(CREATE_SERVICE, {
        s: {
          name: 'flaky',
          specification: { ...SPEC, command: ['sh', '-c', 'exit 3'] },
          backoff: { initialDelaySeconds: 10, maxDelaySeconds: 30, factor: 2, resetAfterSeconds: 3_600 },
        },
      })
    ).createService;
    expect(s).toMatchObject({ state: 'RUNNING', restarts: 0, runs: [{ delaySeconds: 0 }] });
    expect(s.currentJob.serviceId).toBe(s.id);

    const delays: number[] = [];
    for (let restart = 1; restart <= 3; restart++) {
      const ended = await runEnds(s.id);
      expect(ended.currentJob).toBeNull();
      expect(ended.runs[0]).toMatchObject({ state: 'SUCCESS', exitCode: 3 });
      const wait = Date.parse(ended.nextStartTime) - clock.now();
      delays.push(wait / 1000);
      // Not before its time, on either replica.
      clock.advance(wait - 1_000);
      await sweepServices();
      expect((await service(bob, s.id)).restarts).toBe(restart - 1);
      clock.advance(1_000);
      await sweepServices();
      const restarted = await service(bob, s.id);
      expect(restarted.restarts).toBe(restart);
      expect(restarted.runs[0]).toMatchObject({ delaySeconds: wait / 1000, endedAt: null });
      expect(restarted.runs).toHaveLength(restart + 1);
    }
    expect(delays).toEqual([10, 20, 30]);

    const stopped = (await bob.ok(`mutation ($id: ID!) { stopService(id: $id) { state stoppedReason nextStartTime } }`, { id: s.id })).stopService;
    expect(stopped).toMatchObject({ state: 'STOPPED', nextStartTime: null });
    const last = (await service(bob, s.id)).runs[0].jobId;
    await waitForState(bob, last, ['SUCCESS', 'FAILURE']);
    clock.advance(3_600_000);
    await sweepServices();
    const after = await service(bob, s.id);
    expect(after).toMatchObject({ state: 'STOPPED', restarts: 3 });
    expect(await jobsOf(bob, 'serviceId', s.id)).toHaveLength(4);
  });

  it('stopping a service terminates its running job and makes no further run; strangers cannot see or stop it', async () => {
    const s = (await bob.ok(CREATE_SERVICE, { s: { specification: { ...SPEC, command: ['sleep', '600'] } } })).createService;
    await waitForState(bob, s.currentJob.id, ['RUNNING']);
    expect((await mallory.gql(`query ($id: ID!) { service(id: $id) { id } }`, { id: s.id })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await mallory.gql(`mutation ($id: ID!) { stopService(id: $id) { id } }`, { id: s.id })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await mallory.ok(`{ services { id } }`)).services).toEqual([]);

    await bob.ok(`mutation ($id: ID!) { stopService(id: $id) { state } }`, { id: s.id });
    await waitForState(bob, s.currentJob.id, ['SUCCESS', 'FAILURE']);
    clock.advance(3_600_000);
    await sweepServices();
    expect(await service(bob, s.id)).toMatchObject({ state: 'STOPPED', restarts: 0 });
    expect(await jobsOf(bob, 'serviceId', s.id)).toHaveLength(1);
  });

  it('a run terminated through terminateJobs stops the service', async () => {
    const s = (await bob.ok(CREATE_SERVICE, { s: { specification: { ...SPEC, command: ['sleep', '600'] } } })).createService;
    await waitForState(bob, s.currentJob.id, ['RUNNING']);
    await bob.ok(`mutation ($ids: [ID!]!) { terminateJobs(ids: $ids) { ok } }`, { ids: [s.currentJob.id] });
    const ended = await runEnds(s.id);
    expect(ended.state).toBe('STOPPED');
    expect(ended.stoppedReason).toContain('terminated');
    clock.advance(3_600_000);
    await sweepServices();
    expect(await jobsOf(bob, 'serviceId', s.id)).toHaveLength(1);
  });
});
