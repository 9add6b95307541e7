import { describe, expect, it } from 'vitest';

import { createManualClock } from '../../shared/clock.js';
import { silentLogger } from '../../shared/logger.js';
import { PROTOCOL_VERSION, type JobEvent } from '../../shared/protocol.js';
import { createSubjects } from '../../shared/subjects.js';
import { createMemoryTransport } from '../../shared/transport/memory-transport.js';
import { makeJob } from '../../test/support/jobs.js';
import { createGatewayMetrics } from '../metrics.js';
import type { ProviderRegistry } from '../registry/provider-registry.js';
import { createMemoryStore } from '../store/memory-store.js';
import { createJobChanger } from './job-changes.js';
import { createJobEvents } from './job-events.js';
import { createJobFeed } from './job-feed.js';

const event = (jobId: string, n: number, change: Partial<JobEvent>): JobEvent => ({
  v: PROTOCOL_VERSION,
  eventId: `p:${n}`,
  jobId,
  providerId: 'local',
  state: null,
  status: null,
  exitCode: null,
  startedAt: null,
  expiresAt: null,
  newTimeAllocation: null,
  providerGeneratedId: null,
  usageUnits: null,
  timestamp: Date.now() + n,
  after: n > 1 ? `p:${n - 1}` : null,
  ...change,
});

/** The gateway's handling of provider events over a memory store holding one IN_QUEUE job. */
async function withJob() {
  const store = createMemoryStore();
  const job = makeJob();
  await store.createJob(job, { exclusive: false });
  const feed = createJobFeed(createMemoryTransport({ subjects: createSubjects('test') }));
  const events = createJobEvents({
    store,
    registry: { get: () => undefined } as unknown as ProviderRegistry,
    feed,
    change: createJobChanger(store, feed),
    charges: { enabled: false, chargeNow: async () => {}, stopForNoCredits: async () => {} },
    clock: createManualClock(),
    logger: silentLogger(),
    metrics: createGatewayMetrics({ defaultMetrics: false }),
  });
  return { store, job, events };
}

describe('provider job events', () => {
  it('drop a status line that comes after the job ended, so its story ends with its final state', async () => {
    const { store, job, events } = await withJob();
    // Reconciliation ended the job while the provider's own events were still on their way.
    await store.changeJob(job.id, { eventId: 'reconcile', state: 'SUCCESS', exitCode: 0, status: 'State reconciled', timestamp: Date.now() });

    expect(await events.applyJobEvent(event(job.id, 1, { status: 'halfway' }))).toBe('refused');
    const stored = (await store.getJob(job.id))!;
    expect(stored.updates.map((u) => u.status)).toEqual(['State reconciled']);
  });

  it('drop an end that comes after reconciliation ended the job, and still know its own end when it comes again', async () => {
    const { store, job, events } = await withJob();
    await store.changeJob(job.id, { eventId: 'reconcile', state: 'SUCCESS', exitCode: 0, status: 'State reconciled', timestamp: Date.now() });
    expect(await events.applyJobEvent(event(job.id, 1, { state: 'SUCCESS', exitCode: 0, status: 'Job finished with exit code 0' }))).toBe('refused');
    expect((await store.getJob(job.id))!.updates.map((u) => u.status)).toEqual(['State reconciled']);

    const other = await withJob();
    const end = event(other.job.id, 2, { state: 'SUCCESS', exitCode: 0, status: 'Job finished with exit code 0' });
    expect(await other.events.applyJobEvent(event(other.job.id, 1, { state: 'RUNNING', startedAt: Date.now() }))).toBe('applied');
    expect(await other.events.applyJobEvent(end)).toBe('applied');
    // A redelivery (the gateway died before its ack) is the same end: charged again, once.
    expect(await other.events.applyJobEvent(end)).toBe('duplicate');
  });

  it('record a status line of a job that runs', async () => {
    const { store, job, events } = await withJob();
    expect(await events.applyJobEvent(event(job.id, 1, { state: 'RUNNING', startedAt: Date.now() }))).toBe('applied');
    expect(await events.applyJobEvent(event(job.id, 2, { status: 'halfway' }))).toBe('applied');
    expect((await store.getJob(job.id))!.updates.map((u) => u.status ?? u.state)).toEqual(['RUNNING', 'halfway']);
  });
});
