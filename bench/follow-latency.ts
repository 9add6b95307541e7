/**
 * Benchmark 3: from a provider emitting a job change to a followJob
 * subscriber (SSE over real HTTP) receiving it. The path: driver emit →
 * runtime outbox → JetStream → the gateway's durable consumer → Redis →
 * fan-out over core NATS → the subscription → SSE.
 */
import { readEventStream } from '../test/support/event-stream.js';
import { INSTANT_PRODUCT } from './instant-driver.js';
import { INSTANT_PROVIDER_ID, type Rig } from './rig.js';
import { sleep, summarize, waitFor, withTimeout, type LatencySummary } from './stats.js';

const FOLLOW = `subscription ($id: ID!) { followJob(id: $id) { jobId updates { state status timestamp } newStatus { state } } }`;
/** The send time travels in the status text: both ends are this process, so one monotonic clock. */
const TICK = /^(tick|warmup) (\d+) sent=([\d.]+)$/;

export interface FollowLatencyResult {
  events: number;
  received: number;
  latency: LatencySummary;
}

interface Subscriber {
  /** Resolves with the first (snapshot) event; rejects when the stream ends or fails first. */
  ready: Promise<void>;
  /** Receive time minus send time of every tick, in arrival order. */
  latencies: number[];
  close(): void;
  /** Resolves when the stream ended; rejects on a stream error. */
  done: Promise<void>;
  ended(): boolean;
}

function subscribe(baseUrl: string, token: string, jobId: string): Subscriber {
  const controller = new AbortController();
  const latencies: number[] = [];
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  const done = (async () => {
    const res = await fetch(`${baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: FOLLOW, variables: { id: jobId } }),
      signal: controller.signal,
    });
    if (!res.ok || !res.body) throw new Error(`followJob answered HTTP ${res.status}`);
    try {
      // receivedAt: the time the bytes reached this process, before any parsing.
      await readEventStream(res.body as unknown as AsyncIterable<Uint8Array>, (data, receivedAt) => {
        const payload = JSON.parse(data) as { data?: { followJob?: { updates: { status: string | null }[] } }; errors?: unknown };
        if (payload.errors) throw new Error(`followJob error: ${JSON.stringify(payload.errors)}`);
        const event = payload.data?.followJob;
        if (!event) return;
        markReady();
        for (const update of event.updates) {
          const match = TICK.exec(update.status ?? '');
          if (match?.[1] === 'tick') latencies.push(receivedAt - Number(match[3]));
        }
      });
    } catch (error) {
      if ((error as Error).name !== 'AbortError') throw error;
    }
  })();
  let ended = false;
  // The caller awaits `done` only at the end; meanwhile an early end or failure shows through `ready` and `ended`.
  done.then(
    () => (ended = true),
    () => (ended = true),
  );
  const snapshotOrEnd = Promise.race([
    ready,
    done.then(() => {
      throw new Error('followJob ended before its first event');
    }),
  ]);
  return { ready: snapshotOrEnd, latencies, close: () => controller.abort(), done, ended: () => ended };
}

export async function benchFollowLatency(
  rig: Rig,
  options: { events?: number; spacingMs?: number; warmup?: number } = {},
): Promise<FollowLatencyResult> {
  const events = options.events ?? 200;
  const spacingMs = options.spacingMs ?? 10;
  const warmup = options.warmup ?? 10;
  const driver = rig.driver;
  if (!driver || !rig.admin.token) throw new Error('the follow benchmark needs the rig with the instant provider');

  const created = await rig.admin.ok<{ createJobs: { job: { id: string } | null; error: unknown }[] }>(
    `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { id } error { code message } } }`,
    { specs: [{ product: { id: INSTANT_PRODUCT.id, provider: INSTANT_PROVIDER_ID }, command: ['true'], name: 'followed', allowDuplicateJob: true }] },
  );
  const [outcome] = created.createJobs;
  const jobId = outcome?.job?.id;
  if (!jobId) throw new Error(`could not create the followed job: ${JSON.stringify(outcome?.error)}`);
  await waitFor(async () => (await rig.store.getJob(jobId))?.state === 'RUNNING', `job ${jobId} to be RUNNING`);

  const subscriber = subscribe(rig.url, rig.admin.token, jobId);
  try {
    await withTimeout(subscriber.ready, 10_000, 'the followJob snapshot');
    const emit = (kind: 'tick' | 'warmup', i: number) => driver.emit(jobId, { status: `${kind} ${i} sent=${performance.now().toFixed(3)}` });
    for (let i = 0; i < warmup; i++) {
      emit('warmup', i);
      await sleep(spacingMs);
    }
    for (let i = 0; i < events; i++) {
      emit('tick', i);
      await sleep(spacingMs);
    }
    const deadline = Date.now() + 15_000;
    while (subscriber.latencies.length < events && !subscriber.ended() && Date.now() < deadline) await sleep(20);
  } finally {
    subscriber.close();
  }
  await subscriber.done;
  return { events, received: subscriber.latencies.length, latency: summarize(subscriber.latencies) };
}
