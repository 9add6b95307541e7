import { describe, expect, it } from 'vitest';

import { createManualClock } from '../../shared/clock.js';
import type { Job } from '../../shared/domain.js';
import { silentLogger } from '../../shared/logger.js';
import type { JobObservation } from '../../shared/protocol.js';
import { makeJob } from '../../test/support/jobs.js';
import { runningMs } from '../accounting/usage.js';
import type { ProviderRegistry } from '../registry/provider-registry.js';
import { createMemoryStore } from '../store/memory-store.js';
import type { JobChange } from '../store/store.js';
import type { JobCharges } from './job-charges.js';
import { createReconciliation } from './reconciliation.js';

/**
 * A store holding one job, and a provider that answers reconciliation with `observed`.
 * `meanwhile`: the job's own events, applied after reconciliation read it and before it writes.
 */
async function reconciled(job: Job, observed: Omit<JobObservation, 'id'>, meanwhile: JobChange[] = []) {
  const clock = createManualClock();
  const store = createMemoryStore();
  await store.createJob(job, { exclusive: false });
  const charged: Job[] = [];
  const charges: JobCharges = {
    enabled: true,
    chargeNow: async (charging) => void charged.push(charging),
    stopForNoCredits: async () => {},
  };
  const provider = { instanceId: 'i1', client: { call: async () => ({ jobs: [{ id: job.id, ...observed }] }) } };
  const registry = { get: (id: string) => (id === job.providerId ? provider : undefined) } as unknown as ProviderRegistry;
  const reconciliation = createReconciliation({
    store,
    registry,
    change: async (id, change) => {
      for (const event of meanwhile.splice(0)) await store.changeJob(id, event);
      return store.changeJob(id, change);
    },
    charges,
    clock,
    logger: silentLogger(),
  });
  await reconciliation.reconcile(job.providerId);
  return { stored: (await store.getJob(job.id))!, charged };
}

describe('reconciliation', () => {
  it('gives a job that ran and ended unseen its RUNNING, with its start, before its end, and charges it once', async () => {
    const createdAt = Date.now() - 120_000;
    const startedAt = createdAt + 5_000;
    const { stored, charged } = await reconciled(makeJob({ createdAt }), {
      state: 'SUCCESS',
      status: 'exited 0',
      exitCode: 0,
      startedAt,
      expiresAt: null,
      providerGeneratedId: null,
    });
    expect(stored).toMatchObject({ state: 'SUCCESS', startedAt, exitCode: 0 });
    expect(stored.updates.map((u) => u.state)).toEqual(['RUNNING', 'SUCCESS']);
    expect(charged.map((j) => j.state)).toEqual(['SUCCESS']);
  });

  it("times the RUNNING and the end it adds at the provider's start and end, so the job is charged for the time it ran", async () => {
    const createdAt = Date.now() - 120_000;
    const startedAt = createdAt + 5_000;
    // Its provider was lost meanwhile: that status line, at now, is no change of state.
    const updates = [
      { state: 'IN_QUEUE' as const, status: 'Job submitted', newTimeAllocation: null, timestamp: createdAt },
      { state: null, status: 'Lost contact with local', newTimeAllocation: null, timestamp: Date.now() },
    ];
    const { stored, charged } = await reconciled(makeJob({ createdAt, updates }), {
      state: 'SUCCESS',
      status: 'exited 0',
      exitCode: 0,
      startedAt,
      endedAt: startedAt + 65_000,
      expiresAt: null,
      providerGeneratedId: null,
    });
    expect(stored.updates.slice(2).map((u) => [u.state, u.timestamp])).toEqual([
      ['RUNNING', startedAt],
      ['SUCCESS', startedAt + 65_000],
    ]);
    expect(runningMs(charged[0]!, Date.now())).toBe(65_000);
  });

  it("keeps the provider's times between the job's creation and now, and ends at now when the provider does not say when", async () => {
    const createdAt = Date.now() - 120_000;
    const before = Date.now();
    const { stored, charged } = await reconciled(makeJob({ createdAt }), {
      state: 'SUCCESS',
      status: 'exited 0',
      exitCode: 0,
      startedAt: createdAt - 3_600_000,
      expiresAt: null,
      providerGeneratedId: null,
    });
    const [running, ended] = stored.updates;
    expect(running).toMatchObject({ state: 'RUNNING', timestamp: createdAt });
    expect(ended!.state).toBe('SUCCESS');
    expect(ended!.timestamp).toBeGreaterThanOrEqual(before);
    expect(runningMs(charged[0]!, Date.now())).toBe(ended!.timestamp - createdAt);
  });

  it('adds no RUNNING for a job that ended without starting', async () => {
    const { stored } = await reconciled(makeJob({ createdAt: Date.now() - 120_000 }), {
      state: 'FAILURE',
      status: 'could not start',
      exitCode: null,
      startedAt: null,
      expiresAt: null,
      providerGeneratedId: null,
    });
    expect(stored.updates.map((u) => u.state)).toEqual(['FAILURE']);
  });

  it('leaves a job that its own events ended while it looked with their story, and no line after the end', async () => {
    const createdAt = Date.now() - 120_000;
    const startedAt = createdAt + 5_000;
    const job = makeJob({ createdAt });
    const { stored } = await reconciled(job, { state: 'SUCCESS', status: null, exitCode: 0, startedAt, expiresAt: null, providerGeneratedId: null }, [
      { eventId: 'p:1', state: 'RUNNING', startedAt, timestamp: startedAt },
      { eventId: 'p:2', state: 'SUCCESS', exitCode: 0, timestamp: startedAt + 1 },
    ]);
    expect(stored.updates.map((u) => [u.state, u.status])).toEqual([
      ['RUNNING', null],
      ['SUCCESS', null],
    ]);
  });
});
