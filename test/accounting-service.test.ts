/**
 * Accounting as the gateway calls it, over the Redis ledger on the suite's own
 * redis-server and a driven clock, so minutes of charging take milliseconds.
 */
import { Registry } from 'prom-client';
import { describe, expect, it, onTestFinished } from 'vitest';

import { createAccountingMetrics } from '../gateway/accounting/accounting-metrics.js';
import {
  createAccounting,
  toTransactionConnection,
  toWalletView,
  type AccountingViewer,
  type KnownProviderCategories,
} from '../gateway/accounting/accounting.js';
import type { Ledger } from '../gateway/accounting/ledger.js';
import { createMemoryLedger } from '../gateway/accounting/memory-ledger.js';
import { createRedisLedger } from '../gateway/accounting/redis-ledger.js';
import { createManualClock } from '../shared/clock.js';
import { computeSupport, type Job, type JobState, type Product } from '../shared/domain.js';
import { silentLogger } from '../shared/logger.js';
import { makeJob, makeSpecification } from './support/jobs.js';
import { deleteKeys, redisUrl, uniquePrefix } from './support/services.js';

const T0 = Date.now();
const MINUTE = 60_000;
const DAY = 86_400_000;

const admin: AccountingViewer = { username: 'root', admin: true, projects: [] };
const alice: AccountingViewer = { username: 'alice', admin: false, projects: ['physics'] };
const bob: AccountingViewer = { username: 'bob', admin: false, projects: [] };

const known: KnownProviderCategories = (provider) => (provider === 'local' ? ['cpu', 'gpu'] : provider === 'cluster' ? ['cpu'] : null);

function product(overrides: Partial<Product> = {}): Product {
  return {
    id: 'cpu-1',
    category: 'cpu',
    name: 'One core',
    description: '',
    cpu: 1,
    memoryInGigs: 1,
    gpu: 0,
    pricePerUnit: 10,
    unitOfPrice: 'CREDITS_PER_MINUTE',
    freeToUse: false,
    priority: 0,
    support: computeSupport({ backend: 'NATIVE', utilization: false, maxReplicas: 4 }),
    ...overrides,
  };
}

/** A job of `owner` that went RUNNING at `startedAt` (and, given `ended`, reached that final state). */
function runningJob(
  options: {
    createdBy?: string;
    project?: string | null;
    startedAt?: number;
    replicas?: number;
    providerId?: string;
    ended?: [JobState, number];
  } = {},
): Job {
  const startedAt = options.startedAt ?? T0;
  const providerId = options.providerId ?? 'local';
  const updates: Job['updates'] = [
    { state: 'IN_QUEUE', status: null, newTimeAllocation: null, timestamp: startedAt - 1000 },
    { state: 'RUNNING', status: null, newTimeAllocation: null, timestamp: startedAt },
  ];
  if (options.ended) updates.push({ state: options.ended[0], status: null, newTimeAllocation: null, timestamp: options.ended[1] });
  return makeJob({
    createdAt: startedAt - 1000,
    owner: { createdBy: options.createdBy ?? 'alice', project: options.project ?? null },
    providerId,
    state: options.ended?.[0] ?? 'RUNNING',
    startedAt,
    updates,
    specification: makeSpecification({ replicas: options.replicas ?? 1, product: { id: 'cpu-1', category: 'cpu', provider: providerId } }),
  });
}

async function redisLedger(): Promise<Ledger> {
  const prefix = uniquePrefix();
  const ledger = await createRedisLedger({ url: redisUrl(), keyPrefix: prefix });
  onTestFinished(async () => {
    await ledger.close();
    await deleteKeys(prefix);
  });
  return ledger;
}

async function setup(ledger?: Ledger) {
  const clock = createManualClock(T0);
  const registry = new Registry();
  const metrics = createAccountingMetrics(registry);
  const accounting = createAccounting({ ledger: ledger ?? (await redisLedger()), clock, logger: silentLogger(), metrics });
  const counter = async (name: string, provider = 'local') =>
    (await registry.getSingleMetric(name)!.get()).values.find((v) => v.labels.provider === provider)?.value ?? 0;
  return { clock, accounting, counter };
}

describe('charging jobs', () => {
  it('a job with credits for two minutes runs dry at the third, and its wallet stops at zero', async () => {
    const { clock, accounting, counter } = await setup();
    await accounting.grant(admin, { owner: 'alice', category: 'cpu', provider: 'local', amount: 20 }, known);
    const job = runningJob();
    const perMinute = product({ pricePerUnit: 10 });
    await accounting.requireFunds(job.owner, perMinute, 'local');

    clock.advance(MINUTE);
    expect(await accounting.chargeJob(job, perMinute)).toEqual({ debited: 10, shortfall: false, jobCharged: 10, units: 1, totalCredits: 10 });
    expect(await accounting.chargeJob(job, perMinute)).toMatchObject({ debited: 0, shortfall: false, jobCharged: 10 });
    clock.advance(MINUTE);
    expect(await accounting.chargeJob(job, perMinute)).toEqual({ debited: 10, shortfall: false, jobCharged: 20, units: 2, totalCredits: 20 });
    expect(await accounting.balanceFor(job.owner, perMinute, 'local')).toBe(0);
    clock.advance(MINUTE);
    expect(await accounting.chargeJob(job, perMinute)).toEqual({ debited: 0, shortfall: true, jobCharged: 20, units: 3, totalCredits: 30 });

    const [wallet] = await accounting.wallets(alice);
    expect(wallet?.balance).toBe(0);
    expect(wallet?.allocations).toEqual([expect.objectContaining({ initialBalance: 20, balance: 0 })]);
    expect(await accounting.jobCharged([job.id])).toEqual([20]);
    await expect(accounting.requireFunds(job.owner, perMinute, 'local')).rejects.toMatchObject({ code: 'INSUFFICIENT_FUNDS' });
    expect(await accounting.canPay(job.owner, perMinute, 'local')).toBe(false);

    expect(await counter('switchyard_credits_charged_total')).toBe(20);
    expect(await counter('switchyard_jobs_stopped_no_credits_total')).toBe(1);
  });

  it('a wallet short of a charge pays what it has, down to zero', async () => {
    const { clock, accounting } = await setup();
    await accounting.grant(admin, { owner: 'alice', category: 'cpu', provider: 'local', amount: 15 }, known);
    const job = runningJob({ replicas: 2 });
    clock.advance(30_000);
    expect(await accounting.chargeJob(job, product())).toMatchObject({ debited: 15, shortfall: true, jobCharged: 15, units: 2, totalCredits: 20 });
    expect((await accounting.wallets(alice))[0]?.balance).toBe(0);
  });

  it('a provider-reported total counts when it is ahead of the timeline', async () => {
    const { clock, accounting } = await setup();
    await accounting.grant(admin, { owner: 'alice', category: 'cpu', provider: 'local', amount: 1000 }, known);
    const job = runningJob();
    clock.advance(2 * MINUTE);
    expect(await accounting.chargeJob(job, product(), 5)).toMatchObject({ debited: 50, units: 5 });
    expect(await accounting.chargeJob(job, product(), 1)).toMatchObject({ debited: 0, units: 2, jobCharged: 50 });
    clock.advance(4 * MINUTE);
    expect(await accounting.chargeJob(job, product(), null)).toMatchObject({ debited: 10, units: 6, jobCharged: 60 });
  });

  it("a project's job pays from the project's wallet, not its creator's", async () => {
    const { clock, accounting } = await setup();
    await accounting.grant(admin, { owner: 'alice', category: 'cpu', provider: 'local', amount: 100 }, known);
    await accounting.grant(admin, { owner: 'physics', isProject: true, category: 'cpu', provider: 'local', amount: 100 }, known);
    const job = runningJob({ project: 'physics' });
    clock.advance(MINUTE);
    await accounting.chargeJob(job, product());
    expect((await accounting.wallets(alice))[0]?.balance).toBe(100);
    expect((await accounting.wallets(alice, 'physics'))[0]?.balance).toBe(90);
    expect(accounting.payerOf(job.owner)).toEqual({ owner: 'physics', isProject: true });
  });

  it('free products are never charged and need no credits', async () => {
    const { clock, accounting } = await setup();
    const free = product({ freeToUse: true, pricePerUnit: 10 });
    const job = runningJob();
    await accounting.requireFunds(job.owner, free, 'local');
    expect(await accounting.canPay(job.owner, free, 'local')).toBe(true);
    expect(await accounting.balanceFor(job.owner, free, 'local')).toBeNull();
    clock.advance(DAY);
    expect(await accounting.chargeJob(job, free)).toMatchObject({ debited: 0, shortfall: false, totalCredits: 0 });
    const round = await accounting.chargeRound([{ job, product: free }]);
    expect(round).toEqual({ dry: [], debited: 0, failed: 0, failedIds: [] });
    expect(await accounting.jobCharged([job.id])).toEqual([0]);
    expect((await accounting.transactions(admin, {})).totalCount).toBe(0);
  });

  it('a charging round charges every job once and names the running jobs whose wallet ran dry', async () => {
    const { clock, accounting, counter } = await setup();
    await accounting.grant(admin, { owner: 'alice', category: 'cpu', provider: 'local', amount: 1000 }, known);
    await accounting.grant(admin, { owner: 'bob', category: 'cpu', provider: 'local', amount: 25 }, known);
    await accounting.grant(admin, { owner: 'bob', category: 'cpu', provider: 'cluster', amount: 5 }, known);
    const aliceJobs = [runningJob(), runningJob({ replicas: 2 })];
    const bobRunning = runningJob({ createdBy: 'bob' });
    const bobEnded = runningJob({ createdBy: 'bob', ended: ['SUCCESS', T0 + 90_000] });
    const bobElsewhere = runningJob({ createdBy: 'bob', providerId: 'cluster' });
    const free = runningJob({ createdBy: 'carol' });
    const items = [
      ...aliceJobs.map((job) => ({ job, product: product() })),
      { job: bobEnded, product: product() },
      { job: bobRunning, product: product() },
      { job: bobElsewhere, product: product() },
      { job: free, product: product({ freeToUse: true }) },
    ];

    clock.advance(2 * MINUTE);
    const round = await accounting.chargeRound(items);
    // bob owes 20 + 20 at local from 25, and 20 at the cluster from 5. His
    // ended job paid in full first; it would not be one to stop anyway.
    expect(round.failed).toBe(0);
    expect(round.debited).toBe(20 + 40 + 25 + 5);
    expect(round.dry.map((job) => job.id)).toEqual([bobRunning.id, bobElsewhere.id]);
    expect(await accounting.jobCharged([...aliceJobs, bobEnded, bobRunning, bobElsewhere, free].map((job) => job.id))).toEqual([20, 40, 20, 5, 5, 0]);

    // The same round again (a second replica, a restart): nothing more.
    expect(await accounting.chargeRound(items)).toEqual({ dry: [], debited: 0, failed: 0, failedIds: [] });
    expect(await counter('switchyard_credits_charged_total')).toBe(85);
    expect(await counter('switchyard_jobs_stopped_no_credits_total')).toBe(1);
    expect(await counter('switchyard_credits_charged_total', 'cluster')).toBe(5);
    expect(await counter('switchyard_jobs_stopped_no_credits_total', 'cluster')).toBe(1);
  });

  it('a round with nothing due asks the ledger nothing; a total that grew, or one another replica charged past, is handled as before', async () => {
    const inner = await redisLedger();
    const asked: number[] = [];
    // The real ledger, counting the jobs each chargeMany call carries.
    const ledger: Ledger = Object.assign(Object.create(inner) as Ledger, {
      chargeMany: (requests: Parameters<Ledger['chargeMany']>[0]) => {
        asked.push(requests.length);
        return inner.chargeMany(requests);
      },
    });
    const { clock, accounting } = await setup(ledger);
    await accounting.grant(admin, { owner: 'alice', category: 'cpu', provider: 'local', amount: 1000 }, known);
    const jobs = [runningJob(), runningJob(), runningJob({ replicas: 2 })];
    const items = jobs.map((job) => ({ job, product: product() }));

    // A minute begun is a minute to pay.
    clock.advance(MINUTE / 4);
    expect(await accounting.chargeRound(items)).toEqual({ dry: [], debited: 40, failed: 0, failedIds: [] });
    expect(await accounting.chargeRound(items)).toEqual({ dry: [], debited: 0, failed: 0, failedIds: [] });
    clock.advance(MINUTE / 4);
    // Still in the first minute: no total has grown.
    expect(await accounting.chargeRound(items)).toEqual({ dry: [], debited: 0, failed: 0, failedIds: [] });
    expect(asked).toEqual([3]);

    // Another replica (here: a second accounting on the same ledger) charges one job further.
    const other = createAccounting({ ledger: inner, clock, logger: silentLogger() });
    clock.advance(MINUTE);
    expect(await other.chargeRound(items.slice(0, 1))).toEqual({ dry: [], debited: 10, failed: 0, failedIds: [] });
    // This one sends all three again: the ledger debits only the two the other did not.
    expect(await accounting.chargeRound(items)).toEqual({ dry: [], debited: 30, failed: 0, failedIds: [] });
    expect(asked).toEqual([3, 3]);
    expect(await accounting.jobCharged(jobs.map((job) => job.id))).toEqual([20, 20, 40]);
  });

  it('a charge that fails never stops a job: it is counted, and the next round makes it good', async () => {
    const prefix = uniquePrefix();
    onTestFinished(() => deleteKeys(prefix));
    const broken = await createRedisLedger({ url: redisUrl(), keyPrefix: prefix });
    const { clock, accounting, counter } = await setup(broken);
    await accounting.grant(admin, { owner: 'alice', category: 'cpu', provider: 'local', amount: 1000 }, known);
    await broken.close();
    const job = runningJob();
    clock.advance(3 * MINUTE);
    expect(await accounting.chargeRound([{ job, product: product() }])).toEqual({ dry: [], debited: 0, failed: 1, failedIds: [job.id] });
    expect(await counter('switchyard_charge_failures_total')).toBe(1);
    await expect(accounting.chargeJob(job, product())).rejects.toThrow();
    expect(await counter('switchyard_charge_failures_total')).toBe(2);

    const healed = await createRedisLedger({ url: redisUrl(), keyPrefix: prefix });
    onTestFinished(() => healed.close());
    const again = createAccounting({ ledger: healed, clock, logger: silentLogger() });
    expect(await again.chargeRound([{ job, product: product() }])).toEqual({ dry: [], debited: 30, failed: 0, failedIds: [] });
  });

  it('charges in real time with a short price unit', async () => {
    const ledger = createMemoryLedger();
    const accounting = createAccounting({ ledger, clock: { now: () => Date.now() }, logger: silentLogger(), unitMs: { CREDITS_PER_MINUTE: 50 } });
    await accounting.grant(admin, { owner: 'alice', category: 'cpu', provider: 'local', amount: 1000 }, known);
    const job = runningJob({ startedAt: Date.now() });
    await new Promise((resolve) => setTimeout(resolve, 120));
    const { units, debited } = await accounting.chargeJob(job, product({ pricePerUnit: 1 }));
    expect(units).toBeGreaterThanOrEqual(3);
    expect(debited).toBe(units);
  });
});

describe('grants', () => {
  it('administrators grant; the wallet comes back in the contract shape', async () => {
    const { clock, accounting } = await setup();
    const wallet = await accounting.grant(
      admin,
      { owner: 'physics', isProject: true, category: 'gpu', provider: 'local', amount: 500, endDate: T0 + DAY },
      known,
    );
    expect(toWalletView(wallet)).toEqual({
      owner: { createdBy: 'root', project: 'physics' },
      category: 'gpu',
      provider: 'local',
      allocations: [{ id: expect.any(String), initialBalance: 500, balance: 500, startDate: T0, endDate: T0 + DAY }],
      balance: 500,
    });
    const later = await accounting.grant(
      admin,
      { owner: 'alice', category: 'cpu', provider: 'local', amount: 7, startDate: T0 + DAY, endDate: null },
      known,
    );
    expect(toWalletView(later)).toMatchObject({ owner: { createdBy: 'alice', project: null }, balance: 0 });
    clock.advance(DAY);
    expect((await accounting.wallets(alice))[0]?.balance).toBe(7);
  });

  it('refuses non-administrators, bad amounts, bad dates and unknown providers or categories', async () => {
    const { accounting } = await setup();
    const ok = { owner: 'alice', category: 'cpu', provider: 'local', amount: 10 };
    await expect(accounting.grant(alice, ok, known)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const invalid = [
      { ...ok, amount: 0 },
      { ...ok, amount: -10 },
      { ...ok, amount: 2.5 },
      { ...ok, amount: Number.NaN },
      { ...ok, startDate: T0, endDate: T0 },
      { ...ok, startDate: T0, endDate: T0 - MINUTE },
      { ...ok, endDate: T0 - 1 },
      { ...ok, provider: 'nowhere' },
      { ...ok, category: 'quantum' },
      { ...ok, provider: 'cluster', category: 'gpu' },
      { ...ok, owner: '  ' },
    ];
    for (const input of invalid) {
      await expect(accounting.grant(admin, input, known), JSON.stringify(input)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    }
    expect(await accounting.wallets(alice)).toEqual([]);
  });
});

describe('who sees what', () => {
  it('wallets: your own, your projects, and any for administrators', async () => {
    const { accounting } = await setup();
    await accounting.grant(admin, { owner: 'alice', category: 'cpu', provider: 'local', amount: 1 }, known);
    await accounting.grant(admin, { owner: 'physics', isProject: true, category: 'cpu', provider: 'local', amount: 2 }, known);
    expect((await accounting.wallets(alice)).map((w) => w.balance)).toEqual([1]);
    expect((await accounting.wallets(alice, 'physics')).map((w) => w.balance)).toEqual([2]);
    expect(await accounting.wallets(bob)).toEqual([]);
    await expect(accounting.wallets(bob, 'physics')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect((await accounting.wallets(admin, 'physics')).map((w) => w.balance)).toEqual([2]);
  });

  it('transactions: your own, your projects, a user for administrators, everything for administrators', async () => {
    const { clock, accounting } = await setup();
    await accounting.grant(admin, { owner: 'alice', category: 'cpu', provider: 'local', amount: 100 }, known);
    await accounting.grant(admin, { owner: 'bob', category: 'cpu', provider: 'local', amount: 100 }, known);
    await accounting.grant(admin, { owner: 'physics', isProject: true, category: 'cpu', provider: 'local', amount: 100 }, known);
    const job = runningJob();
    clock.advance(MINUTE);
    await accounting.chargeJob(job, product());

    const own = await accounting.transactions(alice, {});
    expect(own.items.map((t) => [t.kind, t.amount, t.jobId, t.by])).toEqual([
      ['CHARGE', 10, job.id, 'alice'],
      ['GRANT', 100, null, 'root'],
    ]);
    expect(own.items[0]).toMatchObject({ timestamp: T0 + MINUTE, description: 'cpu-1: 1 minute used in all' });
    expect((await accounting.transactions(alice, { project: 'physics' })).items).toHaveLength(1);
    expect((await accounting.transactions(alice, { owner: 'alice' })).totalCount).toBe(2);
    await expect(accounting.transactions(alice, { owner: 'bob' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(accounting.transactions(bob, { project: 'physics' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(accounting.transactions(alice, { project: 'physics', owner: 'alice' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(accounting.transactions(alice, { first: 5000 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect((await accounting.transactions(bob, {})).items.map((t) => t.owner)).toEqual(['bob']);
    expect((await accounting.transactions(admin, { owner: 'bob' })).totalCount).toBe(1);

    const all = await accounting.transactions(admin, { first: 2 });
    expect(all.totalCount).toBe(4);
    const connection = toTransactionConnection(all);
    expect(connection.edges).toHaveLength(2);
    expect(connection.pageInfo).toEqual({ hasNextPage: true, endCursor: connection.edges[1]!.cursor });
    const rest = await accounting.transactions(admin, { first: 2, after: connection.pageInfo.endCursor });
    expect(rest.items.map((t) => t.owner)).toEqual(['bob', 'alice']);
    expect(rest.hasNextPage).toBe(false);
  });
});
