/**
 * What the wire costs without Switchyard: a bare NATS request/reply, a bare
 * Redis command, a bare JetStream publish → consume. Every Switchyard number
 * is reported as a ratio to one of these, measured in the same run on the
 * same servers, so the ratios hold from one machine to the next.
 */
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';

import { measure, sleep, summarize, type LatencySummary } from './stats.js';

/** About the size of a small protocol request. */
const PAYLOAD = new TextEncoder().encode(JSON.stringify({ v: 1, ids: ['0190c0de-0000-7000-8000-000000000000'] }));

/**
 * Round trip of a core NATS request to a trivial responder on its own
 * subject; requester and responder each on their own connection, as the
 * gateway and a provider are.
 */
export async function natsRoundTrip(natsUrl: string, subject: string, count = 1000): Promise<LatencySummary> {
  const responder = await connect({ servers: natsUrl, name: 'bench-echo' });
  const requester = await connect({ servers: natsUrl, name: 'bench-requester' });
  try {
    responder.subscribe(subject, { callback: (_error, msg) => void msg.respond(msg.data) });
    await responder.flush();
    return await measure(count, () => requester.request(subject, PAYLOAD, { timeout: 5_000 }), 100);
  } finally {
    await requester.close();
    await responder.close();
  }
}

/** Round trip of one Redis command, `count` times in sequence. */
export async function redisRoundTrip(
  redisUrl: string,
  command: (redis: Redis, i: number) => Promise<unknown>,
  count = 1000,
): Promise<LatencySummary> {
  const redis = new Redis(redisUrl);
  try {
    return await measure(count, (i) => command(redis, i), 100);
  } finally {
    await redis.quit();
  }
}

/**
 * From a JetStream publish (awaited for its ack, as the provider runtime
 * does) to a durable pull consumer on another connection receiving it, for
 * `count` messages spaced `spacingMs` apart: the floor under follow latency.
 */
export async function jetstreamLatency(
  natsUrl: string,
  options: { stream: string; subject: string; count?: number; spacingMs?: number },
): Promise<LatencySummary> {
  const count = options.count ?? 200;
  const spacingMs = options.spacingMs ?? 10;
  const publisherConnection = await connect({ servers: natsUrl, name: 'bench-js-publisher' });
  const consumerConnection = await connect({ servers: natsUrl, name: 'bench-js-consumer' });
  try {
    const jsm = await jetstreamManager(consumerConnection);
    await jsm.streams.add({ name: options.stream, subjects: [`${options.subject}.>`] });
    await jsm.consumers.add(options.stream, {
      durable_name: 'baseline',
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
    });
    const consumer = await jetstream(consumerConnection).consumers.get(options.stream, 'baseline');
    const messages = await consumer.consume({ max_messages: 100 });
    const samples: number[] = [];
    const received = (async () => {
      for await (const msg of messages) {
        const now = performance.now();
        const { sent } = msg.json<{ sent: number }>();
        msg.ack();
        if (sent >= 0) samples.push(now - sent);
        if (samples.length >= count) break;
      }
    })();
    const js = jetstream(publisherConnection);
    // Warm-up messages carry sent = -1 and are not counted.
    for (let i = 0; i < 20; i++) await js.publish(`${options.subject}.warmup`, JSON.stringify({ sent: -1 }));
    for (let i = 0; i < count; i++) {
      await js.publish(`${options.subject}.tick`, JSON.stringify({ sent: performance.now() }), { msgID: `tick-${i}` });
      await sleep(spacingMs);
    }
    await Promise.race([received, sleep(10_000)]);
    messages.stop();
    if (samples.length < count) throw new Error(`JetStream baseline: ${samples.length} of ${count} messages arrived`);
    return summarize(samples);
  } finally {
    await publisherConnection.close();
    await consumerConnection.close();
  }
}
