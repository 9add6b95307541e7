/**
 * The one contract both transports keep: the same tests run against real NATS
 * (JetStream, KV) and against the in-process bus. Over NATS each test owns a
 * subject prefix, stream and bucket, and deletes them afterwards.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { createManualClock } from '../shared/clock.js';
import { InvalidInputError } from '../shared/errors.js';
import { createSubjects, type Subjects } from '../shared/subjects.js';
import { DeliverLaterError, NoRespondersError, TransportTimeoutError, type Transport } from '../shared/transport.js';
import { createMemoryTransport } from '../shared/transport/memory-transport.js';
import { createNatsTransport } from '../shared/transport/nats-transport.js';
import { startNatsServer } from './support/local-servers.js';
import { natsUrl, uniquePrefix } from './support/services.js';

/** Handlers one consumer runs at once: small, so tests reach the bound. */
const MAX_IN_FLIGHT = 8;
/** Short enough that redelivery and hand-over happen within a test. */
const TIMINGS = { redeliveryDelayMs: 50, closeGraceMs: 150, maxInFlight: MAX_IN_FLIGHT };

interface Backend {
  readonly subjects: Subjects;
  /** A process's transport: over NATS its own connection, in memory the one shared bus. */
  connect(): Promise<Transport>;
  /** Sends a request payload as raw text, as a foreign client could. */
  sendRaw(subject: string, payload: string, timeoutMs: number): Promise<unknown>;
  dispose(): Promise<void>;
}

async function natsBackend(): Promise<Backend> {
  const subjects = createSubjects(uniquePrefix());
  const transports: Transport[] = [];
  let raw: NatsConnection | null = null;
  const rawConnection = async () => (raw ??= await connect({ servers: natsUrl() }));
  return {
    subjects,
    async connect() {
      const transport = await createNatsTransport({ url: natsUrl(), subjects, name: 'contract-test', ...TIMINGS });
      transports.push(transport);
      return transport;
    },
    async sendRaw(subject, payload, timeoutMs) {
      const reply = await (await rawConnection()).request(subject, payload, { timeout: timeoutMs });
      return reply.json();
    },
    async dispose() {
      await Promise.all(transports.map((transport) => transport.close()));
      const nc = await rawConnection();
      const jsm = await jetstreamManager(nc);
      for (const stream of [subjects.eventStream, `KV_${subjects.providerBucket}`]) {
        await jsm.streams.delete(stream).catch(() => {});
      }
      await nc.close();
    },
  };
}

async function memoryBackend(): Promise<Backend> {
  const subjects = createSubjects(uniquePrefix());
  const bus = createMemoryTransport({ subjects, ...TIMINGS });
  return {
    subjects,
    connect: async () => bus,
    sendRaw: (subject, payload, timeoutMs) => bus.requestRaw(subject, payload, { timeoutMs }),
    dispose: () => bus.close(),
  };
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise a test opens when it wants; every gate still shut is opened after the test. */
function gates() {
  const opened: Array<() => void> = [];
  return {
    gate() {
      let open!: () => void;
      const promise = new Promise<void>((resolve) => (open = resolve));
      opened.push(open);
      return { promise, open };
    },
    openAll() {
      for (const open of opened) open();
    },
  };
}

describe.each([
  { name: 'NATS', createBackend: natsBackend },
  { name: 'in-process', createBackend: memoryBackend },
])('the $name transport', ({ createBackend }) => {
  let backend: Backend;
  let subjects: Subjects;
  let t: Transport;
  const shut = gates();

  beforeEach(async () => {
    backend = await createBackend();
    subjects = backend.subjects;
    t = await backend.connect();
  });

  afterEach(async () => {
    shut.openAll();
    await backend.dispose();
  });

  describe('request/reply', () => {
    it('answers a request, and the two sides never share the body object', async () => {
      const subject = subjects.providerCall('p1', 'manifest');
      t.serve(subject, async (body, received) => {
        (body as { touched?: boolean }).touched = true;
        return { v: 1, ok: true, result: { body, received } };
      });
      const sent = { v: 1, items: [1, 2] };
      const reply = await t.request(subject, sent, { timeoutMs: 1000 });
      expect(reply).toEqual({ v: 1, ok: true, result: { body: { v: 1, items: [1, 2], touched: true }, received: subject } });
      expect(sent).toEqual({ v: 1, items: [1, 2] });
    });

    it('rejects with TransportTimeoutError when a listener never answers', async () => {
      const subject = subjects.providerCall('p1', 'utilization');
      t.subscribe(subject, () => {});
      const started = Date.now();
      const error = await t.request(subject, { v: 1 }, { timeoutMs: 200 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransportTimeoutError);
      expect(error).toMatchObject({ subject, timeoutMs: 200 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(180);
    });

    it('rejects at once with NoRespondersError when nobody serves the subject', async () => {
      const subject = subjects.providerCall('nobody', 'manifest');
      const started = Date.now();
      const error = await t.request(subject, { v: 1 }, { timeoutMs: 2000 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NoRespondersError);
      expect(error).toMatchObject({ subject });
      expect(Date.now() - started).toBeLessThan(1000);
    });

    it('gives up when the caller aborts', async () => {
      const subject = subjects.providerCall('p1', 'jobs.retrieve');
      const never = shut.gate();
      t.serve(subject, async () => {
        await never.promise;
        return { v: 1, ok: true, result: null };
      });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const started = Date.now();
      const error = await t.request(subject, { v: 1 }, { timeoutMs: 2000, signal: controller.signal }).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'AbortError' });
      expect(Date.now() - started).toBeLessThan(1000);
    });

    it('splits requests between the members of a queue group, each request answered once', async () => {
      const subject = subjects.providerCall('p1', 'jobs.create');
      const other = await backend.connect();
      const handled: string[] = [];
      for (const [name, transport] of [
        ['a', t],
        ['b', other],
      ] as const) {
        transport.serve(
          subject,
          async (body) => {
            handled.push(name);
            return { v: 1, ok: true, result: { server: name, n: (body as { n: number }).n } };
          },
          { queue: 'provider-p1' },
        );
        // Over NATS a subscription is in effect once the server has read it: a round trip.
        await transport.ping();
      }
      const replies = await Promise.all(
        Array.from({ length: 30 }, (_, n) => t.request(subject, { n }, { timeoutMs: 2000 }) as Promise<{ result: { n: number } }>),
      );
      expect(replies.map((reply) => reply.result.n)).toEqual(Array.from({ length: 30 }, (_, n) => n));
      expect(handled).toHaveLength(30);
      expect(handled.filter((name) => name === 'a').length).toBeGreaterThan(0);
      expect(handled.filter((name) => name === 'b').length).toBeGreaterThan(0);
    });

    it('serves a wildcard subject and tells the handler which subject was called', async () => {
      t.serve(subjects.providerAll('p1'), async (_body, subject) => ({ v: 1, ok: true, result: subject }));
      t.serve(`${subjects.prefix}.v1.provider.*.utilization`, async (_body, subject) => ({ v: 1, ok: true, result: `star ${subject}` }));
      const create = subjects.providerCall('p1', 'jobs.create');
      expect(await t.request(create, { v: 1 }, { timeoutMs: 1000 })).toEqual({ v: 1, ok: true, result: create });
      const utilization = subjects.providerCall('p2', 'utilization');
      expect(await t.request(utilization, { v: 1 }, { timeoutMs: 1000 })).toEqual({ v: 1, ok: true, result: `star ${utilization}` });
      await expect(t.request(subjects.providerCall('p2', 'manifest'), { v: 1 }, { timeoutMs: 1000 })).rejects.toBeInstanceOf(NoRespondersError);
    });

    it('does not make a request wait for a slow one before it', async () => {
      const subject = subjects.providerCall('p1', 'jobs.session');
      const secondStarted = shut.gate();
      t.serve(subject, async (body) => {
        // The first request can only finish once the second has started: serialised handling would deadlock.
        if ((body as { n: number }).n === 1) await secondStarted.promise;
        else secondStarted.open();
        return { v: 1, ok: true, result: (body as { n: number }).n };
      });
      const replies = await Promise.all([1, 2].map((n) => t.request(subject, { n }, { timeoutMs: 1000 })));
      expect(replies).toEqual([
        { v: 1, ok: true, result: 1 },
        { v: 1, ok: true, result: 2 },
      ]);
    });

    it('answers INTERNAL, without details, when a handler throws', async () => {
      const subject = subjects.providerCall('p1', 'jobs.extend');
      t.serve(subject, async () => {
        throw new Error('secret stack');
      });
      expect(await t.request(subject, { v: 1 }, { timeoutMs: 1000 })).toEqual({
        v: 1,
        ok: false,
        error: { code: 'INTERNAL', message: 'Internal error' },
      });
    });

    it('answers INVALID_INPUT to a request that is not JSON, without calling the handler', async () => {
      const subject = subjects.providerCall('p1', 'jobs.terminate');
      let called = false;
      t.serve(subject, async () => {
        called = true;
        return { v: 1, ok: true, result: null };
      });
      const reply = await backend.sendRaw(subject, '{"v":1,', 1000);
      expect(reply).toMatchObject({ v: 1, ok: false, error: { code: 'INVALID_INPUT' } });
      expect(called).toBe(false);
    });

    it('refuses a body larger than the 1 MiB payload limit', () => {
      expect(() => t.publish(subjects.fanout('j1'), { text: 'x'.repeat(1_100_000) })).toThrow(/max_payload/);
    });
  });

  describe('publish/subscribe', () => {
    it('fans a message out to every matching subscriber, in publish order', async () => {
      const other = await backend.connect();
      const all1: unknown[] = [];
      const all2: unknown[] = [];
      const onlyJ1: unknown[] = [];
      t.subscribe(subjects.fanoutAll(), (body) => all1.push(body));
      other.subscribe(subjects.fanoutAll(), (body) => all2.push(body));
      other.subscribe(subjects.fanout('j1'), (body, subject) => onlyJ1.push([subject, body]));
      await t.ping();
      await other.ping();
      t.publish(subjects.fanout('j2'), { job: 'j2' });
      t.publish(subjects.fanout('j1'), { job: 'j1' });
      await waitFor(() => all1.length === 2 && all2.length === 2 && onlyJ1.length === 1, 'fan-out');
      expect(all1).toEqual([{ job: 'j2' }, { job: 'j1' }]);
      expect(all2).toEqual([{ job: 'j2' }, { job: 'j1' }]);
      expect(onlyJ1).toEqual([[subjects.fanout('j1'), { job: 'j1' }]]);
    });
  });

  describe('publish/subscribe of bytes', () => {
    it('carries bytes as they are, and JSON both ways as its UTF-8 text', async () => {
      const other = await backend.connect();
      const bytes: [string, Buffer][] = [];
      const bodies: unknown[] = [];
      other.subscribeBytes(subjects.sessionToGateway('p1', 's1'), (payload, subject) => bytes.push([subject, Buffer.from(payload)]));
      other.subscribe(subjects.sessionToProvider('p1', 's1'), (body) => bodies.push(body));
      await other.ping();
      const payload = Buffer.from([0x01, 0x00, 0xff, 0xfe, 0x7b, 0x0a, 0x80]);
      t.publishBytes(subjects.sessionToGateway('p1', 's1'), payload);
      t.publish(subjects.sessionToGateway('p1', 's1'), { type: 'ping' });
      t.publishBytes(subjects.sessionToProvider('p1', 's1'), Buffer.from('{"type":"grant","upTo":5}'));
      await waitFor(() => bytes.length === 2 && bodies.length === 1, 'bytes and bodies');
      expect(bytes[0]).toEqual([subjects.sessionToGateway('p1', 's1'), Buffer.from([0x01, 0x00, 0xff, 0xfe, 0x7b, 0x0a, 0x80])]);
      expect(bytes[1]![1].toString('utf8')).toBe('{"type":"ping"}');
      expect(bodies).toEqual([{ type: 'grant', upTo: 5 }]);
    });

    it('refuses bytes larger than the 1 MiB payload limit', () => {
      expect(() => t.publishBytes(subjects.sessionToGateway('p1', 's1'), Buffer.alloc(1_100_000))).toThrow(/max_payload/);
    });
  });

  describe('durable events', () => {
    it('delivers published events to the consumer in order, with their subjects', async () => {
      for (let n = 0; n < 5; n++) {
        const subject = n % 2 === 0 ? subjects.jobEvent('p1', 'j1') : subjects.jobLog('p1', 'j1');
        expect(await t.publishDurable(subject, { n }, `e${n}`)).toEqual({ duplicate: false });
      }
      const received: Array<[string, unknown]> = [];
      await t.consumeDurable(async (body, subject) => {
        received.push([subject, body]);
      });
      await waitFor(() => received.length === 5, 'five events');
      expect(received).toEqual([
        [subjects.jobEvent('p1', 'j1'), { n: 0 }],
        [subjects.jobLog('p1', 'j1'), { n: 1 }],
        [subjects.jobEvent('p1', 'j1'), { n: 2 }],
        [subjects.jobLog('p1', 'j1'), { n: 3 }],
        [subjects.jobEvent('p1', 'j1'), { n: 4 }],
      ]);
    });

    it('drops a repeat of a message id within the dedupe window', async () => {
      const subject = subjects.jobEvent('p1', 'j1');
      expect(await t.publishDurable(subject, { n: 1 }, 'same')).toEqual({ duplicate: false });
      expect(await t.publishDurable(subject, { n: 1, again: true }, 'same')).toEqual({ duplicate: true });
      expect(await t.publishDurable(subject, { n: 2 }, 'other')).toEqual({ duplicate: false });
      const received: unknown[] = [];
      await t.consumeDurable(async (body) => {
        received.push(body);
      });
      await waitFor(() => received.some((body) => (body as { n: number }).n === 2), 'the second event');
      expect(received).toEqual([{ n: 1 }, { n: 2 }]);
    });

    it('refuses a durable publish on a subject outside the events stream', async () => {
      await expect(t.publishDurable(`${subjects.prefix}.v1.elsewhere.x`, {}, 'x')).rejects.toBeInstanceOf(NoRespondersError);
    });

    it('redelivers a message whose handler threw', async () => {
      const subject = subjects.jobEvent('p1', 'j1');
      await t.publishDurable(subject, { n: 'a' }, 'a');
      await t.publishDurable(subject, { n: 'b' }, 'b');
      const deliveries: string[] = [];
      const handled: string[] = [];
      await t.consumeDurable(async (body) => {
        const { n } = body as { n: string };
        deliveries.push(n);
        if (n === 'a' && deliveries.filter((d) => d === 'a').length === 1) throw new Error('store down');
        handled.push(n);
      });
      await waitFor(() => handled.length === 2, 'both events handled');
      expect(deliveries.filter((d) => d === 'a')).toHaveLength(2);
      expect(deliveries.filter((d) => d === 'b')).toHaveLength(1);
      expect([...handled].sort()).toEqual(['a', 'b']);
    });

    it('delivers a message again after the delay its handler asked for with DeliverLaterError', async () => {
      const subject = subjects.jobEvent('p1', 'j1');
      await t.publishDurable(subject, { n: 'a' }, 'a');
      const deliveredAt: number[] = [];
      await t.consumeDurable(async () => {
        deliveredAt.push(performance.now());
        if (deliveredAt.length === 1) throw new DeliverLaterError('waits for another message', 400);
      });
      await waitFor(() => deliveredAt.length === 2, 'the second delivery');
      // Not the 50 ms redelivery delay of a failure: the one asked for.
      expect(deliveredAt[1]! - deliveredAt[0]!).toBeGreaterThanOrEqual(390);
    });

    it('splits the events between consumers sharing the durable consumer, each handled once', async () => {
      const other = await backend.connect();
      const byConsumer: Record<'a' | 'b', number[]> = { a: [], b: [] };
      for (const [name, transport] of [
        ['a', t],
        ['b', other],
      ] as const) {
        await transport.consumeDurable(async (body) => {
          byConsumer[name].push((body as { n: number }).n);
          await sleep(10);
        });
      }
      for (let n = 0; n < 20; n++) await t.publishDurable(subjects.jobEvent('p1', `j${n}`), { n }, `e${n}`);
      await waitFor(() => byConsumer.a.length + byConsumer.b.length >= 20, 'twenty events');
      await sleep(100);
      const all = [...byConsumer.a, ...byConsumer.b].sort((x, y) => x - y);
      expect(all).toEqual(Array.from({ length: 20 }, (_, n) => n));
      expect(byConsumer.a.length).toBeGreaterThan(0);
      expect(byConsumer.b.length).toBeGreaterThan(0);
    });

    it('keeps events published while no consumer runs until one starts', async () => {
      const consumer = await t.consumeDurable(async () => {});
      await consumer.close();
      for (let n = 0; n < 3; n++) await t.publishDurable(subjects.jobEvent('p1', 'j1'), { n }, `late${n}`);
      await sleep(50);
      const later = await backend.connect();
      const received: unknown[] = [];
      await later.consumeDurable(async (body) => {
        received.push(body);
      });
      await waitFor(() => received.length === 3, 'the three events');
      expect(received).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
    });

    it('hands an unacked message to another consumer when its consumer closes', async () => {
      const stuck = shut.gate();
      const firstGot: unknown[] = [];
      const first = await t.consumeDurable(async (body) => {
        firstGot.push(body);
        await stuck.promise;
      });
      await t.publishDurable(subjects.jobEvent('p1', 'j1'), { n: 1 }, 'stuck');
      await waitFor(() => firstGot.length === 1, 'the first consumer to take the message');
      await first.close();
      const other = await backend.connect();
      const secondGot: unknown[] = [];
      await other.consumeDurable(async (body) => {
        secondGot.push(body);
      });
      // Over NATS not before the closed consumer's last pull has expired at the server (2 s).
      await waitFor(() => secondGot.length === 1, 'the second consumer to get the message', 6000);
      expect(secondGot).toEqual([{ n: 1 }]);
      // The first handler finishing late acks nothing and delivers nothing again.
      stuck.open();
      await sleep(100);
      expect(firstGot).toHaveLength(1);
      expect(secondGot).toHaveLength(1);
    });

    it('lets a handler running at close finish and acks its message', async () => {
      const firstGot: unknown[] = [];
      const first = await t.consumeDurable(async (body) => {
        firstGot.push(body);
        await sleep(50);
      });
      await t.publishDurable(subjects.jobEvent('p1', 'j1'), { n: 1 }, 'slow');
      await waitFor(() => firstGot.length === 1, 'the first consumer to take the message');
      await first.close();
      const other = await backend.connect();
      const secondGot: unknown[] = [];
      await other.consumeDurable(async (body) => {
        secondGot.push(body);
      });
      await t.publishDurable(subjects.jobEvent('p1', 'j1'), { n: 2 }, 'marker');
      await waitFor(() => secondGot.length >= 1, 'the marker');
      await sleep(50);
      expect(secondGot).toEqual([{ n: 2 }]);
    });
  });

  describe('durable events handled concurrently', () => {
    /** Counts handlers running at once, overall and per key, around an async body. */
    function concurrency() {
      let running = 0;
      let peak = 0;
      const perKey = new Map<string, number>();
      let keyOverlaps = 0;
      return {
        async run<T>(key: string, body: () => Promise<T>): Promise<T> {
          running += 1;
          peak = Math.max(peak, running);
          perKey.set(key, (perKey.get(key) ?? 0) + 1);
          if (perKey.get(key)! > 1) keyOverlaps += 1;
          try {
            return await body();
          } finally {
            running -= 1;
            perKey.set(key, perKey.get(key)! - 1);
          }
        },
        get peak() {
          return peak;
        },
        get keyOverlaps() {
          return keyOverlaps;
        },
      };
    }

    it("handles each job's events and logs in stream order, one at a time, while jobs run side by side", async () => {
      const jobs = 20;
      const perJob = 50;
      // One publisher per job, all at once: the stream interleaves the jobs, each job's messages in order.
      await Promise.all(
        Array.from({ length: jobs }, async (_, j) => {
          for (let n = 0; n < perJob; n++) {
            const subject = n % 3 === 2 ? subjects.jobLog('p1', `j${j}`) : subjects.jobEvent('p1', `j${j}`);
            await t.publishDurable(subject, { j, n }, `j${j}-${n}`);
          }
        }),
      );
      const seen = new Map<number, number[]>();
      let handled = 0;
      const gauge = concurrency();
      await t.consumeDurable(async (body) => {
        const { j, n } = body as { j: number; n: number };
        await gauge.run(`j${j}`, async () => {
          seen.set(j, [...(seen.get(j) ?? []), n]);
          await sleep(Math.random() * 4);
          handled += 1;
        });
      });
      await waitFor(() => handled === jobs * perJob, 'every message', 15_000);
      await sleep(50);
      const inOrder = Array.from({ length: perJob }, (_, n) => n);
      for (let j = 0; j < jobs; j++) expect(seen.get(j), `job j${j}`).toEqual(inOrder);
      expect(handled).toBe(jobs * perJob);
      expect(gauge.keyOverlaps).toBe(0);
      expect(gauge.peak).toBeGreaterThan(1);
      expect(gauge.peak).toBeLessThanOrEqual(MAX_IN_FLIGHT);
    }, 30_000);

    it("keeps a busy job's messages in order however they are pulled", async () => {
      // Few jobs, many messages each: a job's next message is often the next in the stream, so it
      // can arrive in another pull batch than the one before it.
      const perJob = 400;
      await Promise.all(
        ['a', 'b'].map(async (job) => {
          for (let n = 0; n < perJob; n++) {
            const subject = n % 5 === 4 ? subjects.jobEvent('p1', job) : subjects.jobLog('p1', job);
            await t.publishDurable(subject, { job, n }, `${job}-${n}`);
          }
        }),
      );
      const seen: Record<'a' | 'b', number[]> = { a: [], b: [] };
      await t.consumeDurable(async (body) => {
        const { job, n } = body as { job: string; n: number };
        if (job !== 'a' && job !== 'b') throw new Error(`a message of job ${job}, not a or b`);
        seen[job].push(n);
        if (n % 7 === 0) await sleep(1);
      });
      await waitFor(() => seen.a.length + seen.b.length === 2 * perJob, 'every message', 15_000);
      const inOrder = Array.from({ length: perJob }, (_, n) => n);
      expect(seen.a).toEqual(inOrder);
      expect(seen.b).toEqual(inOrder);
    }, 30_000);

    it('keeps handling other jobs while the handler of one job keeps failing', async () => {
      const storeBack = shut.gate();
      let storeUp = false;
      void storeBack.promise.then(() => (storeUp = true));
      const failures: number[] = [];
      const handled: string[] = [];
      await t.publishDurable(subjects.jobEvent('p1', 'broken'), { job: 'broken' }, 'broken');
      for (let n = 0; n < 10; n++) await t.publishDurable(subjects.jobEvent('p1', `ok${n}`), { job: `ok${n}` }, `ok${n}`);
      await t.consumeDurable(async (body) => {
        const { job } = body as { job: string };
        if (job === 'broken' && !storeUp) {
          failures.push(Date.now());
          throw new Error('this job cannot be stored yet');
        }
        await sleep(5);
        handled.push(job);
      });
      await waitFor(() => handled.length === 10 && failures.length >= 2, 'the other jobs, and the broken one retried');
      expect(handled).not.toContain('broken');
      storeBack.open();
      await waitFor(() => handled.includes('broken'), 'the broken job once its store is back');
      expect([...handled].sort()).toEqual(['broken', ...Array.from({ length: 10 }, (_, n) => `ok${n}`)].sort());
    });

    it("hands a closing consumer's messages to another one in order, the waiting ones included", async () => {
      const stuck = shut.gate();
      const firstGot: number[] = [];
      const first = await t.consumeDurable(async (body) => {
        firstGot.push((body as { n: number }).n);
        await stuck.promise;
      });
      for (let n = 0; n < 3; n++) await t.publishDurable(subjects.jobEvent('p1', 'j1'), { n }, `held${n}`);
      await waitFor(() => firstGot.length === 1, 'the first consumer to start on the job');
      // The two after it wait behind the running one.
      await sleep(50);
      expect(firstGot).toEqual([0]);
      await first.close();
      const other = await backend.connect();
      const secondGot: number[] = [];
      await other.consumeDurable(async (body) => {
        secondGot.push((body as { n: number }).n);
      });
      await waitFor(() => secondGot.length === 3, 'the second consumer to get all three', 6000);
      expect(secondGot).toEqual([0, 1, 2]);
      stuck.open();
      await sleep(100);
      expect(firstGot).toEqual([0]);
      expect(secondGot).toEqual([0, 1, 2]);
    });
  });

  describe('announcements', () => {
    it('shows current entries first, then updates and deletes (as null)', async () => {
      await t.putAnnouncement('p1', { v: 1, n: 1 });
      await t.putAnnouncement('p2', { v: 1, n: 2 });
      await t.putAnnouncement('gone', { v: 1 });
      await t.deleteAnnouncement('gone');
      const watcher = await backend.connect();
      const seen: Array<[string, unknown]> = [];
      const watch = await watcher.watchAnnouncements((key, value) => seen.push([key, value]));
      // Resolved only once every current entry was handed over; a deleted key is not one.
      expect(seen).toEqual([
        ['p1', { v: 1, n: 1 }],
        ['p2', { v: 1, n: 2 }],
      ]);
      await t.putAnnouncement('p1', { v: 1, n: 3 });
      await waitFor(() => seen.length === 3, 'the update');
      expect(seen[2]).toEqual(['p1', { v: 1, n: 3 }]);
      await t.deleteAnnouncement('p2');
      await waitFor(() => seen.length === 4, 'the delete');
      expect(seen[3]).toEqual(['p2', null]);
      await watch.close();
      await t.putAnnouncement('p3', { v: 1 });
      await sleep(100);
      expect(seen).toHaveLength(4);
    });

    it('watches an empty bucket and sees the first announcement', async () => {
      const seen: Array<[string, unknown]> = [];
      await t.watchAnnouncements((key, value) => seen.push([key, value]));
      expect(seen).toEqual([]);
      await t.putAnnouncement('p1', { v: 1 });
      await waitFor(() => seen.length === 1, 'the announcement');
      expect(seen).toEqual([['p1', { v: 1 }]]);
    });

    it('refuses a key that is not a subject token', async () => {
      await expect(t.putAnnouncement('p1.x', { v: 1 })).rejects.toBeInstanceOf(InvalidInputError);
      await expect(t.deleteAnnouncement('*')).rejects.toBeInstanceOf(InvalidInputError);
    });
  });

  it('answers a ping while open', async () => {
    await expect(t.ping()).resolves.toBeUndefined();
  });
});

describe('the in-process transport', () => {
  it('keeps separate instances apart, even with the same prefix', async () => {
    const subjects = createSubjects('sy');
    const one = createMemoryTransport({ subjects });
    const two = createMemoryTransport({ subjects });
    try {
      one.serve(subjects.providerCall('p1', 'manifest'), async () => ({ v: 1, ok: true, result: 'one' }));
      await expect(two.request(subjects.providerCall('p1', 'manifest'), { v: 1 }, { timeoutMs: 200 })).rejects.toBeInstanceOf(NoRespondersError);
      await one.putAnnouncement('p1', { v: 1 });
      const seen: unknown[] = [];
      await two.watchAnnouncements((key) => seen.push(key));
      await one.publishDurable(subjects.jobEvent('p1', 'j1'), { n: 1 }, 'e1');
      const received: unknown[] = [];
      await two.consumeDurable(async (body) => {
        received.push(body);
      });
      await sleep(50);
      expect(seen).toEqual([]);
      expect(received).toEqual([]);
    } finally {
      await one.close();
      await two.close();
    }
  });

  it('accepts a message id again once the dedupe window has passed on its clock', async () => {
    const subjects = createSubjects('sy');
    const clock = createManualClock();
    const bus = createMemoryTransport({ subjects, clock, dedupeWindowMs: 60_000 });
    try {
      const subject = subjects.jobEvent('p1', 'j1');
      expect(await bus.publishDurable(subject, { n: 1 }, 'e1')).toEqual({ duplicate: false });
      clock.advance(59_999);
      expect(await bus.publishDurable(subject, { n: 1 }, 'e1')).toEqual({ duplicate: true });
      clock.advance(1);
      expect(await bus.publishDurable(subject, { n: 1 }, 'e1')).toEqual({ duplicate: false });
    } finally {
      await bus.close();
    }
  });
});

describe('the NATS transport across a restart of its server', () => {
  it('carries on by itself after a SIGKILL and a restart, even one that lost the JetStream store', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sy-nats-restart-'));
    const server = await startNatsServer({ dataDir });
    const subjects = createSubjects(uniquePrefix());
    const errors: string[] = [];
    const options = {
      url: server.url,
      subjects,
      ...TIMINGS,
      onError: (error: unknown, where: string) => void errors.push(`${where}: ${(error as Error).message}`),
    };
    const gateway = await createNatsTransport(options);
    const provider = await createNatsTransport(options);
    try {
      const announced: unknown[] = [];
      const consumed: unknown[] = [];
      await gateway.watchAnnouncements((_key, value) => void announced.push(value));
      await gateway.consumeDurable(async (body) => void consumed.push(body));
      provider.serve(subjects.providerCall('p1', 'manifest'), async () => ({ v: 1, ok: true, result: 'here' }));
      /** Publish and announce until it works, as a provider's heartbeat and outbox do. */
      const keepTrying = async (n: number) => {
        const deadline = Date.now() + 30_000;
        for (const step of [
          () => provider.putAnnouncement('p1', { n }),
          () => provider.publishDurable(subjects.jobEvent('p1', 'j1'), { n }, `event-${n}`),
        ]) {
          for (;;) {
            try {
              await step();
              break;
            } catch (error) {
              if (Date.now() > deadline) throw error;
              await sleep(100);
            }
          }
        }
      };
      // An ack the server had not yet written when it was killed makes a message come again (the store
      // ignores a replayed event id); what matters is that every one comes.
      const arrived = (n: number) =>
        consumed.some((body) => (body as { n: number }).n === n) && announced.some((value) => (value as { n: number } | null)?.n === n);
      const seen = () => `consumed ${JSON.stringify(consumed)}, announced ${JSON.stringify(announced)}; ${errors.slice(0, 5).join(' | ')}`;
      await keepTrying(1);
      await waitFor(() => arrived(1), 'the first event and announcement', 10_000);

      // Killed and back with its store: everything resumes where it was.
      await server.kill('SIGKILL');
      await server.start();
      await keepTrying(2);
      await waitFor(() => arrived(2), `the event and announcement after a restart (${seen()})`, 20_000);

      // Killed and back without its store: stream, consumer, bucket and watch are made again.
      await server.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
      await server.start();
      await keepTrying(3);
      await waitFor(() => arrived(3), `the event and announcement after a restart that lost the store (${seen()})`, 30_000);
      expect([...new Set(consumed.map((body) => (body as { n: number }).n))]).toEqual([1, 2, 3]);
      expect(announced.at(-1)).toEqual({ n: 3 });
      // Calls are answered again too: the provider's subscription came back with the connection.
      expect(await gateway.request(subjects.providerCall('p1', 'manifest'), { v: 1 }, { timeoutMs: 5_000 })).toEqual({
        v: 1,
        ok: true,
        result: 'here',
      });
    } finally {
      await gateway.close();
      await provider.close();
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
});
