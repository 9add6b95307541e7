/**
 * The Ledger contract: one suite, run against the in-memory ledger and against
 * the Redis ledger on the suite's own redis-server. Each Redis test owns a key
 * prefix and deletes its keys afterwards.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';

import type { ChargeRequest, Ledger, Transaction, WalletKey } from '../gateway/accounting/ledger.js';
import { createMemoryLedger } from '../gateway/accounting/memory-ledger.js';
import { createRedisLedger } from '../gateway/accounting/redis-ledger.js';
import { deleteClusterKeys, useRedisCluster } from './support/redis-cluster.js';
import { deleteKeys, redisUrl, uniquePrefix } from './support/services.js';

interface Opened {
  ledger: Ledger;
  /** Another ledger on the same data, as a second gateway replica would have. */
  replica(): Promise<Ledger>;
}

interface Implementation {
  name: string;
  /** A fresh, empty ledger, closed and cleaned up when the test ends. */
  open(): Promise<Opened>;
}

const redisCluster = useRedisCluster();

const implementations: Implementation[] = [
  {
    name: 'memory',
    async open() {
      const ledger = createMemoryLedger();
      // One process, one memory: a "replica" is the same ledger.
      return { ledger, replica: async () => ledger };
    },
  },
  {
    name: 'redis',
    async open() {
      const prefix = uniquePrefix();
      const opened: Ledger[] = [];
      const open = async () => {
        const ledger = await createRedisLedger({ url: redisUrl(), keyPrefix: prefix });
        opened.push(ledger);
        return ledger;
      };
      onTestFinished(async () => {
        await Promise.all(opened.map((ledger) => ledger.close()));
        await deleteKeys(prefix);
      });
      return { ledger: await open(), replica: open };
    },
  },
  {
    name: 'redis cluster',
    async open() {
      const prefix = uniquePrefix();
      const clusterNodes = await redisCluster.seeds();
      const opened: Ledger[] = [];
      const open = async () => {
        const ledger = await createRedisLedger({ clusterNodes, keyPrefix: prefix, waitReplicas: 1 });
        opened.push(ledger);
        return ledger;
      };
      onTestFinished(async () => {
        await Promise.all(opened.map((ledger) => ledger.close()));
        await deleteClusterKeys(clusterNodes, prefix);
      });
      return { ledger: await open(), replica: open };
    },
  },
];

const T0 = Date.now();
const MINUTE = 60_000;
const DAY = 86_400_000;

const alice: WalletKey = { owner: 'alice', isProject: false, provider: 'local', category: 'cpu' };

function grantOf(key: WalletKey, amount: number, dates: { startDate?: number; endDate?: number | null } = {}) {
  return { ...key, amount, startDate: dates.startDate ?? T0, endDate: dates.endDate ?? null, grantedBy: 'admin', now: T0 };
}

function chargeOf(jobId: string, totalCredits: number, options: { wallet?: WalletKey; now?: number } = {}): ChargeRequest {
  return { jobId, wallet: options.wallet ?? alice, totalCredits, now: options.now ?? T0, description: `usage of ${jobId}`, by: 'alice' };
}

/** Every transaction of the query, through every page. */
async function allTransactions(ledger: Ledger, owner?: { owner: string; isProject: boolean }): Promise<Transaction[]> {
  const all: Transaction[] = [];
  let after: string | null = null;
  for (;;) {
    const page = await ledger.transactions({ owner, first: 7, after });
    all.push(...page.items);
    if (!page.hasNextPage) return all;
    after = page.endCursor;
  }
}

async function expectInvariant(ledger: Ledger, wallets: WalletKey[]): Promise<void> {
  const transactions = await allTransactions(ledger);
  for (const key of wallets) {
    const wallet = await ledger.wallet(key, T0);
    const initial = wallet?.allocations.reduce((sum, a) => sum + a.initialBalance, 0) ?? 0;
    const left = wallet?.allocations.reduce((sum, a) => sum + a.balance, 0) ?? 0;
    const charged = transactions
      .filter(
        (t) =>
          t.kind === 'CHARGE' && t.owner === key.owner && t.isProject === key.isProject && t.provider === key.provider && t.category === key.category,
      )
      .reduce((sum, t) => sum + t.amount, 0);
    expect(charged, `charges of ${JSON.stringify(key)}`).toBe(initial - left);
  }
}

describe.each(implementations)('the $name ledger', ({ open }) => {
  describe('grants and wallets', () => {
    it('a grant opens a wallet holding one allocation, and is recorded', async () => {
      const { ledger } = await open();
      expect(await ledger.wallets({ owner: 'alice', isProject: false }, T0)).toEqual([]);
      expect(await ledger.balance(alice, T0)).toBe(0);

      const wallet = await ledger.grant({ ...grantOf(alice, 1000, { endDate: T0 + DAY }), description: 'welcome credits' });
      expect(wallet).toMatchObject({ owner: 'alice', isProject: false, provider: 'local', category: 'cpu', createdBy: 'admin', balance: 1000 });
      expect(wallet.allocations).toEqual([{ id: expect.any(String), initialBalance: 1000, balance: 1000, startDate: T0, endDate: T0 + DAY }]);

      const again = await ledger.grant(grantOf(alice, 500));
      expect(again.balance).toBe(1500);
      expect(again.allocations.map((a) => a.initialBalance)).toEqual([1000, 500]);
      expect(await ledger.balance(alice, T0)).toBe(1500);
      expect(await ledger.wallet(alice, T0)).toEqual(again);

      const { items } = await ledger.transactions({ first: 10 });
      expect(items).toEqual([
        {
          id: expect.any(String),
          kind: 'GRANT',
          owner: 'alice',
          isProject: false,
          provider: 'local',
          category: 'cpu',
          amount: 500,
          jobId: null,
          allocationIds: [again.allocations[1]!.id],
          by: 'admin',
          timestamp: T0,
          description: 'Granted 500 credits',
        },
        expect.objectContaining({ kind: 'GRANT', amount: 1000, allocationIds: [wallet.allocations[0]!.id], description: 'welcome credits' }),
      ]);
    });

    it("a user's wallets and a project of the same name are different wallets", async () => {
      const { ledger } = await open();
      await ledger.grant(grantOf(alice, 10));
      await ledger.grant(grantOf({ ...alice, category: 'gpu' }, 20));
      await ledger.grant(grantOf({ ...alice, provider: 'a-cluster' }, 30));
      await ledger.grant(grantOf({ ...alice, isProject: true }, 40));
      const own = await ledger.wallets({ owner: 'alice', isProject: false }, T0);
      expect(own.map((w) => [w.provider, w.category, w.balance])).toEqual([
        ['a-cluster', 'cpu', 30],
        ['local', 'cpu', 10],
        ['local', 'gpu', 20],
      ]);
      const project = await ledger.wallets({ owner: 'alice', isProject: true }, T0);
      expect(project.map((w) => [w.isProject, w.balance])).toEqual([[true, 40]]);
    });

    it('names with separators and non-ASCII characters stay apart', async () => {
      const { ledger } = await open();
      const odd: WalletKey = { owner: 'team:ops/α|x', isProject: false, provider: 'p:1', category: 'c:2|y' };
      await ledger.grant(grantOf(odd, 7));
      await ledger.grant(grantOf({ ...odd, owner: 'team' }, 9));
      expect(await ledger.wallets({ owner: 'team:ops/α|x', isProject: false }, T0)).toEqual([
        expect.objectContaining({ owner: 'team:ops/α|x', provider: 'p:1', category: 'c:2|y', balance: 7 }),
      ]);
      const charged = await ledger.charge(chargeOf('job:1', 3, { wallet: odd }));
      expect(charged.debited).toBe(3);
      expect(await ledger.jobCharged(['job:1'])).toEqual([3]);
    });

    it('refuses grants it cannot store: zero, negative or fractional amounts, end not after start', async () => {
      const { ledger } = await open();
      for (const bad of [
        grantOf(alice, 0),
        grantOf(alice, -5),
        grantOf(alice, 1.5),
        grantOf(alice, 10, { startDate: T0, endDate: T0 }),
        grantOf(alice, 10, { startDate: T0, endDate: T0 - 1 }),
        grantOf({ ...alice, owner: '' }, 10),
      ]) {
        await expect(ledger.grant(bad)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      }
      expect(await ledger.wallets({ owner: 'alice', isProject: false }, T0)).toEqual([]);
      expect((await ledger.transactions({ first: 10 })).totalCount).toBe(0);
    });

    it('balances far beyond 32 bits stay exact', async () => {
      const { ledger } = await open();
      const big = 2 ** 52 + 1;
      await ledger.grant(grantOf(alice, big));
      const result = await ledger.charge(chargeOf('job-big', 2 ** 51 + 3));
      expect(result).toEqual({ debited: 2 ** 51 + 3, shortfall: false, jobCharged: 2 ** 51 + 3, accountedTotal: 2 ** 51 + 3 });
      expect(await ledger.balance(alice, T0)).toBe(big - (2 ** 51 + 3));
      expect((await ledger.transactions({ first: 1 })).items[0]?.amount).toBe(2 ** 51 + 3);
    });
  });

  describe('charging', () => {
    it('spends the allocation that expires first, then the next (EXPIRE_FIRST)', async () => {
      const { ledger } = await open();
      const never = (await ledger.grant(grantOf(alice, 100))).allocations[0]!;
      const tenDays = (await ledger.grant(grantOf(alice, 100, { endDate: T0 + 10 * DAY }))).allocations.find((a) => a.endDate === T0 + 10 * DAY)!;
      const fiveDaysLate = (await ledger.grant(grantOf(alice, 100, { startDate: T0 - DAY, endDate: T0 + 5 * DAY }))).allocations.find(
        (a) => a.startDate === T0 - DAY,
      )!;
      const fiveDaysEarly = (await ledger.grant(grantOf(alice, 100, { startDate: T0 - 2 * DAY, endDate: T0 + 5 * DAY }))).allocations.find(
        (a) => a.startDate === T0 - 2 * DAY,
      )!;

      const wallet = await ledger.wallet(alice, T0);
      // Same end: the earlier start goes first; never-expiring last.
      expect(wallet!.allocations.map((a) => a.id)).toEqual([fiveDaysEarly.id, fiveDaysLate.id, tenDays.id, never.id]);

      const first = await ledger.charge(chargeOf('job-1', 150));
      expect(first).toEqual({ debited: 150, shortfall: false, jobCharged: 150, accountedTotal: 150 });
      const second = await ledger.charge(chargeOf('job-2', 100));
      expect(second.debited).toBe(100);

      const after = await ledger.wallet(alice, T0);
      expect(after!.allocations.map((a) => a.balance)).toEqual([0, 0, 50, 100]);
      expect(after!.balance).toBe(150);

      const charges = (await ledger.transactions({ first: 10 })).items.filter((t) => t.kind === 'CHARGE');
      expect(charges.map((t) => [t.jobId, t.amount, t.allocationIds])).toEqual([
        ['job-2', 100, [fiveDaysLate.id, tenDays.id]],
        ['job-1', 150, [fiveDaysEarly.id, fiveDaysLate.id]],
      ]);
      await expectInvariant(ledger, [alice]);
    });

    it('allocations outside [start, end) do not pay', async () => {
      const { ledger } = await open();
      await ledger.grant(grantOf(alice, 100, { startDate: T0 - 2 * DAY, endDate: T0 - DAY })); // expired
      await ledger.grant(grantOf(alice, 100, { startDate: T0 - DAY, endDate: T0 })); // ends exactly now
      await ledger.grant(grantOf(alice, 100, { startDate: T0 + 1 })); // not yet
      expect(await ledger.balance(alice, T0)).toBe(0);

      const nothing = await ledger.charge(chargeOf('job-1', 10));
      expect(nothing).toEqual({ debited: 0, shortfall: true, jobCharged: 0, accountedTotal: 10 });

      const startsNow = (await ledger.grant(grantOf(alice, 5, { startDate: T0, endDate: T0 + 1 }))).allocations.find((a) => a.initialBalance === 5)!;
      expect(await ledger.balance(alice, T0)).toBe(5);
      const some = await ledger.charge(chargeOf('job-1', 13));
      expect(some).toEqual({ debited: 3, shortfall: false, jobCharged: 3, accountedTotal: 13 });

      const wallet = await ledger.wallet(alice, T0);
      expect(wallet!.allocations.filter((a) => a.id !== startsNow.id).map((a) => a.balance)).toEqual([100, 100, 100]);
      // The future allocation pays once it has started.
      expect(await ledger.balance(alice, T0 + 1)).toBe(100);
      expect((await ledger.charge(chargeOf('job-1', 20, { now: T0 + 1 }))).debited).toBe(7);
      await expectInvariant(ledger, [alice]);
    });

    it('a wallet that cannot pay in full is debited to zero, never below, and says so', async () => {
      const { ledger } = await open();
      await ledger.grant(grantOf(alice, 30, { endDate: T0 + DAY }));
      await ledger.grant(grantOf(alice, 20));
      expect(await ledger.charge(chargeOf('job-1', 45))).toEqual({ debited: 45, shortfall: false, jobCharged: 45, accountedTotal: 45 });
      expect(await ledger.charge(chargeOf('job-1', 60))).toEqual({ debited: 5, shortfall: true, jobCharged: 50, accountedTotal: 60 });
      expect(await ledger.balance(alice, T0)).toBe(0);
      expect((await ledger.wallet(alice, T0))!.allocations.map((a) => a.balance)).toEqual([0, 0]);

      // The unpaid part is not retried; a larger total finds the wallet still empty.
      expect(await ledger.charge(chargeOf('job-1', 60))).toEqual({ debited: 0, shortfall: false, jobCharged: 50, accountedTotal: 60 });
      expect(await ledger.charge(chargeOf('job-1', 70))).toEqual({ debited: 0, shortfall: true, jobCharged: 50, accountedTotal: 70 });
      expect(await ledger.jobCharged(['job-1', 'never-charged'])).toEqual([50, 0]);

      // Nothing debited, nothing recorded.
      const charges = (await allTransactions(ledger)).filter((t) => t.kind === 'CHARGE');
      expect(charges.map((t) => t.amount)).toEqual([5, 45]);
      await expectInvariant(ledger, [alice]);
    });

    it('a job charged from a wallet that never existed pays nothing and is told so', async () => {
      const { ledger } = await open();
      expect(await ledger.charge(chargeOf('job-1', 10))).toEqual({ debited: 0, shortfall: true, jobCharged: 0, accountedTotal: 10 });
      expect(await ledger.charge(chargeOf('job-2', 0))).toEqual({ debited: 0, shortfall: false, jobCharged: 0, accountedTotal: 0 });
      expect(await ledger.wallets({ owner: 'alice', isProject: false }, T0)).toEqual([]);
    });

    it('the same total reported again charges nothing, and a lower one never refunds', async () => {
      const { ledger } = await open();
      await ledger.grant(grantOf(alice, 1000));
      expect((await ledger.charge(chargeOf('job-1', 100))).debited).toBe(100);
      for (let i = 0; i < 3; i++) {
        expect(await ledger.charge(chargeOf('job-1', 100))).toEqual({ debited: 0, shortfall: false, jobCharged: 100, accountedTotal: 100 });
      }
      expect(await ledger.charge(chargeOf('job-1', 40))).toEqual({ debited: 0, shortfall: false, jobCharged: 100, accountedTotal: 100 });
      expect(await ledger.charge(chargeOf('job-1', 130))).toEqual({ debited: 30, shortfall: false, jobCharged: 130, accountedTotal: 130 });
      expect(await ledger.balance(alice, T0)).toBe(870);
      expect((await allTransactions(ledger)).filter((t) => t.kind === 'CHARGE')).toHaveLength(2);
    });

    it('refuses charges it cannot process, without charging', async () => {
      const { ledger } = await open();
      await ledger.grant(grantOf(alice, 100));
      for (const bad of [chargeOf('job-1', -1), chargeOf('job-1', 1.5), chargeOf('', 5)]) {
        await expect(ledger.charge(bad)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      }
      const outcomes = await ledger.chargeMany([chargeOf('job-1', 10), chargeOf('job-2', -1), chargeOf('job-3', 5)]);
      expect(outcomes).toEqual([
        { ok: true, debited: 10, shortfall: false, jobCharged: 10, accountedTotal: 10 },
        { ok: false, error: expect.objectContaining({ code: 'INVALID_INPUT' }) },
        { ok: true, debited: 5, shortfall: false, jobCharged: 5, accountedTotal: 5 },
      ]);
      expect(await ledger.balance(alice, T0)).toBe(85);
    });

    it('chargeMany answers per item, in order, across batches', async () => {
      const { ledger } = await open();
      await ledger.grant(grantOf(alice, 10_000));
      const requests = Array.from({ length: 5000 }, (_, i) => chargeOf(`job-${i}`, 2));
      const outcomes = await ledger.chargeMany(requests);
      expect(outcomes.filter((o) => o.ok && o.debited === 2)).toHaveLength(5000);
      expect(await ledger.balance(alice, T0)).toBe(0);
      const again = await ledger.chargeMany([...requests.slice(0, 10), chargeOf('job-extra', 1)]);
      expect(again.map((o) => (o.ok ? [o.debited, o.shortfall] : null))).toEqual([...Array(10).fill([0, false]), [0, true]]);
      expect(await ledger.jobCharged(['job-0', 'job-4999', 'job-extra'])).toEqual([2, 2, 0]);
    });

    it("a round charges each wallet's jobs in the order given, so its last credits go to the first in line", async () => {
      const { ledger } = await open();
      const bob: WalletKey = { ...alice, owner: 'bob' };
      await ledger.grant(grantOf(alice, 10));
      await ledger.grant(grantOf(bob, 100));
      const outcomes = await ledger.chargeMany([
        chargeOf('b-1', 6, { wallet: bob }),
        chargeOf('a-3', 6),
        chargeOf('b-2', 6, { wallet: bob, now: T0 + 1 }),
        chargeOf('a-1', 6),
        chargeOf('a-2', 6),
      ]);
      expect(outcomes.map((o) => (o.ok ? [o.debited, o.shortfall] : null))).toEqual([
        [6, false],
        [6, false],
        [6, false],
        [4, true],
        [0, true],
      ]);
    });

    it('20 concurrent reports of the same total charge once', async () => {
      const { ledger, replica } = await open();
      const ledgers = [ledger, await replica(), await replica(), await replica()];
      await ledger.grant(grantOf(alice, 1000));
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => ledgers[i % ledgers.length]!.charge(chargeOf('job-1', 300))));
      expect(results.map((r) => r.debited).sort((a, b) => b - a)).toEqual([300, ...Array(19).fill(0)]);
      expect(results.every((r) => r.jobCharged === 300 && !r.shortfall)).toBe(true);
      expect(await ledger.balance(alice, T0)).toBe(700);
      expect((await allTransactions(ledger)).filter((t) => t.kind === 'CHARGE')).toHaveLength(1);
    });

    it('two gateways charging the same jobs with interleaved growing totals end where one gateway would', async () => {
      const jobs = Array.from({ length: 200 }, (_, i) => `job-${i}`);
      const wallets: WalletKey[] = [alice, { ...alice, owner: 'physics', isProject: true }, { ...alice, category: 'gpu' }];
      const walletOfJob = (i: number) => wallets[i % wallets.length];
      /** Round r: job i has reached total 7·r + (i mod 5); the wallets run dry part way. */
      const round = (r: number) => jobs.map((jobId, i) => chargeOf(jobId, 7 * r + (i % 5), { wallet: walletOfJob(i), now: T0 + r * MINUTE }));
      const ROUNDS = 12;
      const fund = async (ledger: Ledger) => {
        for (const [n, wallet] of wallets.entries()) {
          await ledger.grant(grantOf(wallet, 3000 + 1000 * n, { endDate: T0 + 6 * MINUTE }));
          await ledger.grant(grantOf(wallet, 2000));
        }
      };

      const single = await open();
      await fund(single.ledger);
      for (let r = 1; r <= ROUNDS; r++) await single.ledger.chargeMany(round(r));

      const pair = await open();
      const gatewayA = pair.ledger;
      const gatewayB = await pair.replica();
      await fund(gatewayA);
      for (let r = 1; r <= ROUNDS; r++) {
        // Both gateways charge every job each round, in different orders, at
        // once; B sometimes lags a round behind, as a slow replica would.
        const lagging = r % 3 === 0 ? round(r - 1) : round(r);
        await Promise.all([
          gatewayA.chargeMany(round(r)),
          gatewayB.chargeMany([...lagging].reverse()),
          ...jobs.slice(0, 20).map((_, i) => gatewayB.charge(round(r)[i]!)),
        ]);
      }

      for (const wallet of wallets) {
        const one = await single.ledger.wallet(wallet, T0);
        const two = await gatewayB.wallet(wallet, T0);
        expect(two!.allocations.map((a) => a.balance)).toEqual(one!.allocations.map((a) => a.balance));
      }
      // Which job a wallet's last credits went to depends on the order charges
      // arrive in; what each wallet paid in all does not.
      const paidPerWallet = async (ledger: Ledger) => {
        const charged = await ledger.jobCharged(jobs);
        return wallets.map((_, w) => charged.filter((_, i) => i % wallets.length === w).reduce((a, b) => a + b, 0));
      };
      expect(await paidPerWallet(gatewayA)).toEqual(await paidPerWallet(single.ledger));
      // Some wallets ran dry: the test covers shortfalls too.
      expect((await single.ledger.jobCharged(jobs)).reduce((a, b) => a + b, 0)).toBeLessThan(
        jobs.reduce((sum, _, i) => sum + 7 * ROUNDS + (i % 5), 0),
      );
      await expectInvariant(gatewayA, wallets);
      await expectInvariant(single.ledger, wallets);
    });

    it('a batch sent again, as after a timeout, or by two replicas at once, debits once', async () => {
      const { ledger, replica } = await open();
      const other = await replica();
      const bob: WalletKey = { ...alice, owner: 'bob' };
      await ledger.grant(grantOf(alice, 1000));
      await ledger.grant(grantOf(bob, 1000));
      const batch = Array.from({ length: 30 }, (_, i) => chargeOf(`job-${i}`, 10 + i, { wallet: i % 2 === 0 ? alice : bob }));
      const [first, racing] = await Promise.all([ledger.chargeMany(batch), other.chargeMany(batch)]);
      const again = await ledger.chargeMany(batch);
      const debited = (outcomes: typeof first) => outcomes.reduce((sum, o) => sum + (o.ok ? o.debited : 0), 0);
      const expected = batch.reduce((sum, r) => sum + r.totalCredits, 0);
      expect(debited(first) + debited(racing)).toBe(expected);
      expect(debited(again)).toBe(0);
      expect((await ledger.balance(alice, T0)) + (await ledger.balance(bob, T0))).toBe(2000 - expected);
      expect(await ledger.jobCharged(batch.map((r) => r.jobId))).toEqual(batch.map((r) => r.totalCredits));
      expect((await allTransactions(ledger)).filter((t) => t.kind === 'CHARGE')).toHaveLength(30);
      await expectInvariant(ledger, [alice, bob]);
    });

    it('one batch over many wallets, ids that need escaping, and descriptions and creators of their own, records each charge as sent', async () => {
      const { ledger } = await open();
      const wallets: WalletKey[] = Array.from({ length: 7 }, (_, n) => ({ ...alice, owner: `owner-${n}`, isProject: n % 3 === 0 }));
      for (const wallet of wallets) await ledger.grant(grantOf(wallet, 100));
      const ids = ['job-1', 'job 1', 'job:1', 'jöb/1', 'job,1;2', '0', 'job%201'];
      const requests: ChargeRequest[] = Array.from({ length: 70 }, (_, i) => ({
        jobId: `${ids[i % ids.length]}-${i}`,
        wallet: wallets[(i * 3) % wallets.length]!,
        totalCredits: 1 + (i % 4),
        now: T0,
        // Shared by some jobs, unique to others; a creator that is absent is recorded as none.
        description: i % 5 === 0 ? `only ${i}` : `shared ${i % 3}`,
        by: i % 4 === 0 ? null : `user-${i % 6}`,
      }));
      const firstSeen = (r: ChargeRequest) => requests.findIndex((other) => other.wallet === r.wallet);
      const outcomes = await ledger.chargeMany(requests);
      expect(outcomes.map((o) => o.ok && o.debited)).toEqual(requests.map((r) => r.totalCredits));
      const charges = (await allTransactions(ledger)).filter((t) => t.kind === 'CHARGE').reverse();
      expect(charges.map(({ jobId, owner, isProject, amount, description, by }) => ({ jobId, owner, isProject, amount, description, by }))).toEqual(
        [...requests]
          // Committed wallet by wallet, in the order the wallets first appear (chargeOrder).
          .sort((a, b) => firstSeen(a) - firstSeen(b))
          .map((r) => ({
            jobId: r.jobId,
            owner: r.wallet.owner,
            isProject: r.wallet.isProject,
            amount: r.totalCredits,
            description: r.description,
            by: r.by,
          })),
      );
      for (const wallet of wallets) {
        const paid = requests.filter((r) => r.wallet === wallet).reduce((sum, r) => sum + r.totalCredits, 0);
        expect(await ledger.balance(wallet, T0)).toBe(100 - paid);
      }
      expect(await ledger.jobCharged(requests.map((r) => r.jobId))).toEqual(requests.map((r) => r.totalCredits));
      await expectInvariant(ledger, wallets);
    });

    it('for every wallet, the charges recorded equal the fall in its balances', async () => {
      const { ledger } = await open();
      const wallets: WalletKey[] = [
        alice,
        { ...alice, owner: 'bob' },
        { ...alice, owner: 'physics', isProject: true },
        { ...alice, provider: 'other' },
      ];
      let seed = 42;
      const random = (n: number) => {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        return seed % n;
      };
      for (const [n, wallet] of wallets.entries()) {
        await ledger.grant(grantOf(wallet, 500 + 100 * n, { endDate: T0 + 30 * MINUTE }));
        await ledger.grant(grantOf(wallet, 300, { startDate: T0 + 10 * MINUTE }));
        await ledger.grant(grantOf(wallet, 200));
      }
      const totals = new Map<string, number>();
      for (let step = 0; step < 60; step++) {
        const requests = Array.from({ length: 20 }, () => {
          const job = random(40);
          const total = (totals.get(`job-${job}`) ?? 0) + random(30) - 5; // sometimes lower: never refunds
          totals.set(`job-${job}`, Math.max(total, totals.get(`job-${job}`) ?? 0));
          return chargeOf(`job-${job}`, Math.max(0, total), { wallet: wallets[job % wallets.length], now: T0 + step * MINUTE });
        });
        await ledger.chargeMany(requests);
      }
      await expectInvariant(ledger, wallets);
      const charged = await ledger.jobCharged([...totals.keys()]);
      const recorded = (await allTransactions(ledger)).filter((t) => t.kind === 'CHARGE');
      expect(recorded.reduce((sum, t) => sum + t.amount, 0)).toBe(charged.reduce((a, b) => a + b, 0));
    });
  });

  describe('transactions', () => {
    it('lists newest first, a page at a time, by owner or all', async () => {
      const { ledger } = await open();
      const bob: WalletKey = { ...alice, owner: 'bob' };
      const physics: WalletKey = { ...alice, owner: 'physics', isProject: true };
      await ledger.grant(grantOf(alice, 100));
      await ledger.grant(grantOf(bob, 100));
      await ledger.grant(grantOf(physics, 100));
      for (let i = 1; i <= 10; i++) {
        await ledger.charge(chargeOf(`a-${i}`, i, { now: T0 + i }));
        await ledger.charge(chargeOf(`b-${i}`, i, { wallet: bob, now: T0 + i }));
      }
      await ledger.charge(chargeOf('p-1', 5, { wallet: physics }));

      const all = await allTransactions(ledger);
      expect(all).toHaveLength(24);
      expect(all[0]).toMatchObject({ kind: 'CHARGE', jobId: 'p-1', owner: 'physics', isProject: true, amount: 5, by: 'alice' });
      expect(all.at(-1)).toMatchObject({ kind: 'GRANT', owner: 'alice' });
      expect(new Set(all.map((t) => t.id)).size).toBe(24);

      const mine = await allTransactions(ledger, { owner: 'alice', isProject: false });
      expect(mine.map((t) => t.jobId)).toEqual([...Array.from({ length: 10 }, (_, i) => `a-${10 - i}`), null]);
      expect(mine.map((t) => t.timestamp)).toEqual([...Array.from({ length: 10 }, (_, i) => T0 + 10 - i), T0]);
      expect(await allTransactions(ledger, { owner: 'physics', isProject: true })).toHaveLength(2);
      expect(await allTransactions(ledger, { owner: 'physics', isProject: false })).toEqual([]);

      const page1 = await ledger.transactions({ owner: { owner: 'bob', isProject: false }, first: 4 });
      expect(page1).toMatchObject({ hasNextPage: true, totalCount: 11 });
      expect(page1.items.map((t) => t.jobId)).toEqual(['b-10', 'b-9', 'b-8', 'b-7']);
      const page2 = await ledger.transactions({ owner: { owner: 'bob', isProject: false }, first: 4, after: page1.endCursor });
      expect(page2.items.map((t) => t.jobId)).toEqual(['b-6', 'b-5', 'b-4', 'b-3']);
      const page3 = await ledger.transactions({ owner: { owner: 'bob', isProject: false }, first: 4, after: page2.endCursor });
      expect(page3.items.map((t) => t.jobId)).toEqual(['b-2', 'b-1', null]);
      expect(page3.hasNextPage).toBe(false);

      const empty = await ledger.transactions({ first: 0 });
      expect(empty).toEqual({ items: [], endCursor: null, hasNextPage: true, totalCount: 24 });
      await expect(ledger.transactions({ first: 5, after: 'not a cursor' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      await expect(ledger.transactions({ first: -1 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    });
  });
});

describe('the Redis ledger', () => {
  it('adopts an existing connection and leaves it open on close', async () => {
    const prefix = uniquePrefix();
    const redis = new Redis(redisUrl());
    onTestFinished(async () => {
      await deleteKeys(prefix);
      await redis.quit();
    });
    const ledger = await createRedisLedger({ redis, keyPrefix: prefix });
    await ledger.grant(grantOf(alice, 10));
    expect(await ledger.charge(chargeOf('job-1', 4))).toMatchObject({ debited: 4 });
    await ledger.close();
    expect(await redis.ping()).toBe('PONG');
    await expect(createRedisLedger({ keyPrefix: prefix })).rejects.toThrow(/exactly one of url, clusterNodes and redis/);
  });

  it('records the job ids of a charge under a key prefix of non-ASCII characters', async () => {
    // The script cuts a job's id from its key by the prefix's length in bytes, not in characters.
    const prefix = `${uniquePrefix()}-ünï`;
    const ledger = await createRedisLedger({ url: redisUrl(), keyPrefix: prefix });
    onTestFinished(async () => {
      await ledger.close();
      await deleteKeys(prefix);
    });
    await ledger.grant(grantOf(alice, 10));
    await ledger.chargeMany([chargeOf('job-1', 2), chargeOf('jöb 2', 3)]);
    expect((await ledger.transactions({ first: 10 })).items.map((t) => t.jobId)).toEqual(['jöb 2', 'job-1', null]);
  });

  it('charge-n.lua refuses a batch whose jobs do not match its keys, and writes nothing', async () => {
    const prefix = uniquePrefix();
    const redis = new Redis(redisUrl());
    onTestFinished(async () => {
      await deleteKeys(prefix);
      await redis.quit();
    });
    const script = readFileSync(new URL('../gateway/accounting/lua/charge-n.lua', import.meta.url), 'utf8');
    const keys = [`${prefix}:transactions`, `${prefix}:charge:a`, `${prefix}:charge:b`];
    const from = String(`${prefix}:charge:`.length);
    for (const jobs of ['5,1,1,1,0;', '5,1,1,1,0;6,1,1,1,0;7,1,1,1,0;', '5,1,1,1,0;x6,1,1,1,0;']) {
      await expect(redis.eval(script, keys.length, ...keys, '0', '0', from, jobs, 'desc')).rejects.toThrow(/jobs for 2 job keys/);
    }
    expect(await redis.exists(...keys)).toBe(0);
  });

  it('keeps its keys under its prefix, apart from the job store', async () => {
    const prefix = uniquePrefix();
    const ledger = await createRedisLedger({ url: redisUrl(), keyPrefix: prefix });
    const redis = new Redis(redisUrl());
    onTestFinished(async () => {
      await ledger.close();
      await deleteKeys(prefix);
      await redis.quit();
    });
    await ledger.grant(grantOf(alice, 10));
    await ledger.charge(chargeOf('job-1', 4));
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      keys.push(...found);
      cursor = next;
    } while (cursor !== '0');
    expect(keys.sort()).toEqual(
      [
        `${prefix}:charge:job-1`,
        `${prefix}:transactions`,
        `${prefix}:transactions:u:alice`,
        `${prefix}:wallet:u:alice:local:cpu`,
        `${prefix}:wallet:u:alice:local:cpu:order`,
        `${prefix}:wallets:u:alice`,
      ].sort(),
    );
  });
});
