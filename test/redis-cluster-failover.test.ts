/**
 * A Redis Cluster master killed under load: the job store and the ledger on a
 * real 3-master + 3-replica cluster (test/support/redis-cluster.ts), their
 * scripts waiting for one replica (waitReplicas: 1). Workers create jobs,
 * append their log lines and charge them while the master of the store's slot
 * and then the master of the ledger's slot are SIGKILLed and their replicas
 * promoted. Every job, line and charge whose call was answered must be there
 * afterwards, read by fresh clients.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Ledger, WalletKey } from '../gateway/accounting/ledger.js';
import { createRedisLedger } from '../gateway/accounting/redis-ledger.js';
import { createRedisStore } from '../gateway/store/redis-store.js';
import type { Store } from '../gateway/store/store.js';
import type { JobLog } from '../shared/domain.js';
import { eventually } from './support/graphql-client.js';
import { makeJob } from './support/jobs.js';
import { startRedisCluster, type RedisCluster } from './support/redis-cluster.js';
import { uniquePrefix } from './support/services.js';

const WORKERS = 8;
const LOAD_MS = 9_000;
const T0 = Date.UTC(2026, 0, 1);
const wallet: WalletKey = { owner: 'alice', isProject: false, provider: 'local', category: 'cpu' };

let cluster: RedisCluster;
let prefix: string;

beforeAll(async () => {
  cluster = await startRedisCluster();
  prefix = uniquePrefix();
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

const open = (waitReplicas: number) =>
  Promise.all([
    createRedisStore({ clusterNodes: cluster.seeds, keyPrefix: prefix, waitReplicas }),
    createRedisLedger({ clusterNodes: cluster.seeds, keyPrefix: prefix, waitReplicas }),
  ]);

const lineOf = (jobId: string, n: number): JobLog => ({ rank: 0, stdout: `${jobId} line ${n}`, stderr: null, timestamp: T0 + n });

describe('a Redis Cluster master killed under load', () => {
  it('loses no accepted job, log line or charge when its replica takes over', async () => {
    const [store, ledger]: [Store, Ledger] = await open(1);
    await ledger.grant({ ...wallet, amount: 1_000_000_000, startDate: T0, endDate: null, grantedBy: 'admin', now: T0 });

    const accepted = { jobs: [] as string[], lines: new Map<string, number>(), charges: new Map<string, number>() };
    const failed: string[] = [];
    let stop = false;
    let acceptedAfterFaults = 0;
    let faultsOver = false;
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const job = makeJob({ createdAt: T0 + w * 1_000_000 + i });
        try {
          const outcome = await store.createJob(job, { exclusive: false });
          if (!outcome.created) throw new Error(`not created: ${JSON.stringify(outcome)}`);
          accepted.jobs.push(job.id);
          for (let n = 1; n <= 2; n++) {
            await store.appendLogs(job.id, [lineOf(job.id, n)], `${job.id}-log-${n}`);
            accepted.lines.set(job.id, n);
          }
          const result = await ledger.charge({ jobId: job.id, wallet, totalCredits: 3, now: T0 + 1, description: `usage of ${job.id}`, by: 'alice' });
          accepted.charges.set(job.id, result.jobCharged);
          if (faultsOver) acceptedAfterFaults += 1;
        } catch (error) {
          failed.push((error as Error).message);
        }
      }
    };
    const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));

    const faults: string[] = [];
    const kill = async (what: string, key: string) => {
      const master = await cluster.masterOf(key);
      if (!master.running()) return;
      const killed = performance.now();
      await master.kill('SIGKILL');
      await eventually(async () => (await cluster.masterOf(key)) !== master, {
        timeoutMs: 20_000,
        intervalMs: 100,
        what: `a replica to take over from ${master.name}`,
      });
      const promoted = performance.now();
      // Started again it rejoins as the new master's replica: until then writes wait for a replica in vain.
      await master.start();
      await cluster.ready();
      faults.push(`${what}: ${master.name} at ${accepted.jobs.length} jobs, replica promoted after ${Math.round(promoted - killed)} ms`);
    };
    await eventually(async () => accepted.jobs.length >= 200, { timeoutMs: LOAD_MS, intervalMs: 20, what: '200 jobs accepted' });
    await kill('the store’s master', `{${prefix}}:jobs`);
    const beforeSecond = accepted.jobs.length;
    await eventually(async () => accepted.jobs.length >= beforeSecond + 200, { timeoutMs: LOAD_MS, intervalMs: 20, what: '200 more jobs accepted' });
    await kill('the ledger’s master', `{${prefix}:ledger}:transactions`);
    faultsOver = true;
    await eventually(async () => acceptedAfterFaults >= 100, {
      timeoutMs: LOAD_MS,
      intervalMs: 20,
      what: `100 jobs charged after the faults (${faults.join('; ')}; ${acceptedAfterFaults} so far; failures: ${[...new Set(failed)].slice(-3).join('; ')})`,
    });
    stop = true;
    await Promise.all(workers);
    await Promise.all([store.close(), ledger.close()]);
    console.log(
      `[redis-cluster] ${faults.join('; ')}; accepted ${accepted.jobs.length} jobs, ${failed.length} calls failed${failed.length ? ` (${[...new Set(failed)].slice(0, 3).join('; ')})` : ''}`,
    );

    // Read back through fresh clients, from the promoted replicas.
    const [reader, readerLedger] = await open(0);
    try {
      const jobs = await reader.getJobs(accepted.jobs);
      expect(accepted.jobs.filter((_, i) => jobs[i] === null)).toEqual([]);
      const lostLines: string[] = [];
      for (const [jobId, count] of accepted.lines) {
        const lines = await reader.readLogs(jobId, {});
        for (let n = 1; n <= count; n++) if (!lines.some((line) => line.stdout === lineOf(jobId, n).stdout)) lostLines.push(`${jobId} ${n}`);
      }
      expect(lostLines).toEqual([]);
      const charged = [...accepted.charges.keys()];
      const totals = await readerLedger.jobCharged(charged);
      expect(charged.filter((jobId, i) => totals[i]! < accepted.charges.get(jobId)!)).toEqual([]);
      expect(faults).toHaveLength(2);
      expect(accepted.charges.size).toBeGreaterThan(400);
    } finally {
      await Promise.all([reader.close(), readerLedger.close()]);
    }
  }, 90_000);
});
