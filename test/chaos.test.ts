/**
 * Faults under load: two gateway replicas, a local provider, and a NATS and a
 * Redis of the test's own (JetStream file store, append-only file), all real
 * processes. 200 short jobs that may wait (scheduleTimeout: 600) are submitted
 * over 20 s while a gateway, NATS (and the other gateway while NATS is away, as
 * it waits on creates), the provider and then Redis are SIGKILLed and started
 * again. None may be refused for an unreachable provider, every
 * accepted job ends within the bound, every line a job printed is kept once,
 * nothing runs twice, and every credit is charged once (test/support/chaos.ts
 * says how each is counted).
 */
import { describe, expect, it } from 'vitest';

import { describeChaos, runChaos } from './support/chaos.js';

describe('faults under load', () => {
  it('loses no job, line or credit and runs nothing twice while a gateway, NATS, the provider and Redis are killed and restarted', async () => {
    const report = await runChaos({ jobs: 200, submitMs: 20_000, settleMs: 45_000, progress: (message) => console.log(`[chaos] ${message}`) });
    console.log(describeChaos(report));

    // The faults happened, one after another, and met the load.
    expect(report.faults.map((fault) => fault.what)).toEqual(['gateway a', 'NATS, and gateway b while NATS was away', 'the provider', 'Redis']);
    expect(report.submitted).toBe(205);
    expect(report.waitedForProvider).toBeGreaterThan(0);
    // The batch gateway b was killed sending (it used to stay IN_QUEUE for good): sent by gateway a.
    expect(report.resentForDeadReplica).toBeGreaterThanOrEqual(5);

    // Nothing refused: every job could wait, so an unreachable provider is waited for.
    expect(report.refused).toEqual({});
    expect(report.refusedUnavailable).toBe(0);
    expect(report.specsWithoutJob).toBe(0);

    // Every accepted job ended, with every line it printed, once.
    expect(report.notFinal).toEqual([]);
    expect(report.lostExamples).toEqual([]);
    expect(report.lostLines).toBe(0);
    expect(report.duplicatedLines).toBe(0);
    expect(report.doubleRuns).toEqual([]);

    // Charged exactly for what ran: per job, and in the ledger's records and the wallet.
    expect(report.charges.examples).toEqual([]);
    expect(report.charges.jobsCharged).toBe(report.charges.expected);
    expect(report.charges.walletFall).toBe(report.charges.jobsCharged);
    expect(report.charges.chargeRecords).toBe(report.charges.jobsCharged);
    expect(report.charges.expected).toBeGreaterThan(0);
  }, 180_000);
});
