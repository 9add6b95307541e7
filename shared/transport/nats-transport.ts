/**
 * The production transport: core NATS request/reply and publish/subscribe,
 * a JetStream stream with a shared durable pull consumer for provider events,
 * and a KV bucket for provider announcements. Written for nats-server 2.9
 * (one filter subject per consumer, no per-message TTL).
 */
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { RequestError, TimeoutError, connect, nanos, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { assertSubjectToken, type Subjects } from '../subjects.js';
import {
  NoRespondersError,
  TransportTimeoutError,
  type AnnouncementHandler,
  type Closable,
  type DurableHandler,
  type MessageHandler,
  type RequestHandler,
  type RequestOptions,
  type Transport,
} from '../transport.js';
import { abortable, answerRequest, decodeBody, deferred, encodeBody } from './wire.js';

export interface NatsTransportOptions {
  /** NATS server URL, e.g. `nats://127.0.0.1:4222`. */
  url: string;
  subjects: Subjects;
  /** Connection name the server shows in its monitoring. */
  name?: string;
  /**
   * A repeat of a msgId within this window is dropped by JetStream (the
   * stream's `duplicate_window`).
   * @default 120000
   */
  dedupeWindowMs?: number;
  /**
   * How long the events stream keeps a message; a gateway down for longer
   * loses older events (providers reconcile on restart).
   * @default 604800000 (7 days)
   */
  eventRetentionMs?: number;
  /**
   * Unacked messages the durable consumer hands out across all processes
   * before it waits for acks (`max_ack_pending`). 1 gives one global order
   * across gateway replicas at the price of throughput.
   * @default 1000
   */
  maxAckPending?: number;
  /**
   * Redelivery after a process died mid-message (`ack_wait`); a live process
   * reports progress, so a slow handler is not redelivered.
   * @default 30000
   */
  ackWaitMs?: number;
  /**
   * Delay before a message whose handler threw is delivered again.
   * @default 1000
   */
  redeliveryDelayMs?: number;
  /**
   * On closing a durable consumer, how long a handler still running may take
   * to finish (and be acked) before its message is handed back for another
   * consumer.
   * @default 5000
   */
  closeGraceMs?: number;
  /** Errors that have no caller to go to: a throwing subscriber, a failing pull. */
  onError?: (error: unknown, where: string) => void;
}

/** Connects, ensures the events stream and the announcement bucket exist, and returns the transport. */
export async function createNatsTransport(options: NatsTransportOptions): Promise<Transport> {
  const {
    subjects,
    dedupeWindowMs = 120_000,
    eventRetentionMs = 7 * 24 * 3_600_000,
    maxAckPending = 1000,
    ackWaitMs = 30_000,
    redeliveryDelayMs = 1000,
    closeGraceMs = 5000,
    onError = () => {},
  } = options;

  // Reconnect forever: a NATS restart must not take the process down with it.
  const nc = await connect({ servers: options.url, name: options.name, maxReconnectAttempts: -1 });
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let kv: KV;
  try {
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    await ensureStream(jsm, {
      name: subjects.eventStream,
      subjects: subjects.streamSubjects(),
      duplicate_window: nanos(dedupeWindowMs),
      max_age: nanos(Math.max(eventRetentionMs, dedupeWindowMs)),
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
    });
    kv = await new Kvm(nc).create(subjects.providerBucket, { history: 1 });
  } catch (error) {
    await nc.close();
    throw error;
  }

  const open = new Set<Closable>();
  const track = (closable: Closable): Closable => {
    const wrapped: Closable = {
      async close() {
        open.delete(wrapped);
        await closable.close();
      },
    };
    open.add(wrapped);
    return wrapped;
  };

  let consumerReady: Promise<void> | null = null;
  const ensureConsumer = () => {
    consumerReady ??= ensureDurableConsumer(jsm, subjects.eventStream, {
      durable_name: subjects.eventConsumer,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(ackWaitMs),
      deliver_policy: DeliverPolicy.All,
      max_deliver: -1,
      max_ack_pending: maxAckPending,
    }).catch((error: unknown) => {
      consumerReady = null;
      throw error;
    });
    return consumerReady;
  };

  return {
    subjects,

    async request(subject: string, body: unknown, { timeoutMs, signal }: RequestOptions): Promise<unknown> {
      signal?.throwIfAborted();
      let reply: Msg;
      try {
        reply = await abortable(nc.request(subject, encodeBody(body), { timeout: timeoutMs }), signal);
      } catch (error) {
        if (error instanceof TimeoutError) throw new TransportTimeoutError(subject, timeoutMs, { cause: error });
        if (error instanceof RequestError && error.isNoResponders()) throw new NoRespondersError(subject, { cause: error });
        throw error;
      }
      return decodeBody(reply.string());
    },

    serve(subject: string, handler: RequestHandler, serveOptions?: { queue?: string }): Closable {
      const inFlight = new Set<Promise<void>>();
      const sub = nc.subscribe(subject, {
        queue: serveOptions?.queue,
        // A callback, not an iterator: each request runs at once, a slow one does not hold up the next.
        callback: (error, msg) => {
          if (error) return onError(error, `serve ${subject}`);
          const answering = answerRequest(handler, msg.string(), msg.subject, onError)
            .then((reply) => {
              try {
                msg.respond(reply);
              } catch (respondError) {
                onError(respondError, `serve ${subject}`);
              }
            })
            .finally(() => inFlight.delete(answering));
          inFlight.add(answering);
        },
      });
      return track({
        async close() {
          if (!sub.isClosed()) await sub.drain().catch(() => {});
          await Promise.all(inFlight);
        },
      });
    },

    async publishDurable(subject: string, body: unknown, msgId: string): Promise<{ duplicate: boolean }> {
      try {
        const ack = await js.publish(subject, encodeBody(body), { msgID: msgId });
        return { duplicate: ack.duplicate };
      } catch (error) {
        // nats.js reports "no stream takes this subject" as JetStreamNotEnabled, caused by no responders.
        const cause = (error as Error).cause;
        if (cause instanceof RequestError && cause.isNoResponders()) throw new NoRespondersError(subject, { cause: error });
        throw error;
      }
    },

    async consumeDurable(handler: DurableHandler): Promise<Closable> {
      await ensureConsumer();
      const consumer = await js.consumers.get(subjects.eventStream, subjects.eventConsumer);
      let closing = false;
      let fetching: ConsumerMessages | null = null;
      const closeRequested = deferred();
      const graceOver = deferred<'abandoned'>();

      const processOne = async (msg: JsMsg): Promise<void> => {
        if (closing) return msg.nak();
        let body: unknown;
        try {
          body = decodeBody(msg.string());
        } catch (error) {
          // Not JSON: no handler can ever take it, so stop its redelivery.
          onError(error, `consume ${msg.subject}`);
          return msg.term('not JSON');
        }
        // Tell the server we are alive and busy, so a slow handler is not redelivered elsewhere.
        const progress = setInterval(() => msg.working(), Math.max(ackWaitMs / 3, 100));
        const outcome = await Promise.race([
          handler(body, msg.subject).then(
            () => 'handled' as const,
            (error: unknown) => {
              onError(error, `consume ${msg.subject}`);
              return 'failed' as const;
            },
          ),
          graceOver.promise,
        ]);
        clearInterval(progress);
        if (outcome === 'handled') {
          // Wait for the server's confirmation, so the next message is not fetched before this one counts as done.
          await msg.ackAck().catch((error: unknown) => onError(error, `ack ${msg.subject}`));
        } else if (outcome === 'failed') {
          msg.nak(closing ? undefined : redeliveryDelayMs);
        } else {
          // Closed while the handler still runs: hand the message to another consumer now.
          msg.nak();
        }
      };

      const loop = (async () => {
        let failures = 0;
        while (!closing) {
          try {
            // One message per pull: nothing sits in this process's buffer that another consumer could take.
            fetching = await consumer.fetch({ max_messages: 1, expires: 5000 });
            if (closing) fetching.stop();
            for await (const msg of fetching) await processOne(msg);
            failures = 0;
          } catch (error) {
            if (closing) break;
            onError(error, 'consume');
            failures += 1;
            const backoff = new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** failures, 5000)));
            await Promise.race([backoff, closeRequested.promise]);
          } finally {
            fetching = null;
          }
        }
      })();

      return track({
        async close() {
          if (closing) return loop;
          closing = true;
          closeRequested.resolve();
          // Messages the stopped pull already received are yielded still, and nak'ed by processOne.
          fetching?.stop();
          const grace = setTimeout(() => graceOver.resolve('abandoned'), closeGraceMs);
          await loop;
          clearTimeout(grace);
        },
      });
    },

    publish(subject: string, body: unknown): void {
      nc.publish(subject, encodeBody(body));
    },

    subscribe(subject: string, handler: MessageHandler): Closable {
      const sub = nc.subscribe(subject, {
        callback: (error, msg) => {
          if (error) return onError(error, `subscribe ${subject}`);
          try {
            handler(decodeBody(msg.string()), msg.subject);
          } catch (handlerError) {
            onError(handlerError, `subscribe ${msg.subject}`);
          }
        },
      });
      return track({
        async close() {
          if (!sub.isClosed()) await sub.drain().catch(() => {});
        },
      });
    },

    async putAnnouncement(key: string, value: unknown): Promise<void> {
      await kv.put(assertSubjectToken(key, 'announcement key'), encodeBody(value));
    },

    async deleteAnnouncement(key: string): Promise<void> {
      await kv.delete(assertSubjectToken(key, 'announcement key'));
    },

    async watchAnnouncements(handler: AnnouncementHandler): Promise<Closable> {
      // The watcher marks the last entry of the initial snapshot as the first update; an empty
      // bucket has no such entry, so learn up front whether there is anything to wait for.
      let inSnapshot = (await kv.status()).values > 0;
      const iterator = await kv.watch();
      const initialDone = deferred();
      if (!inSnapshot) initialDone.resolve();
      const loop = (async () => {
        try {
          for await (const entry of iterator) {
            const deleted = entry.operation !== 'PUT';
            // A delete marker in the snapshot is a key that is gone, not a current entry.
            if (!(inSnapshot && deleted)) {
              try {
                handler(entry.key, deleted ? null : decodeBody(entry.string()));
              } catch (error) {
                onError(error, `watch ${entry.key}`);
              }
            }
            if (entry.isUpdate && inSnapshot) {
              inSnapshot = false;
              initialDone.resolve();
            }
          }
        } catch (error) {
          onError(error, 'watch announcements');
        } finally {
          initialDone.resolve();
        }
      })();
      await initialDone.promise;
      return track({
        async close() {
          iterator.stop();
          await loop;
        },
      });
    },

    async ping(): Promise<void> {
      await nc.flush();
    },

    async close(): Promise<void> {
      if (nc.isClosed()) return;
      await Promise.all([...open].map((closable) => closable.close().catch((error: unknown) => onError(error, 'close'))));
      if (!nc.isClosed() && !nc.isDraining()) await nc.drain();
      await nc.closed();
    },
  };
}

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

/** Creates the stream, or brings an existing one to this configuration. */
async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch (error) {
    if (!isApiError(error, JetStreamApiCodes.StreamNotFound)) throw error;
    await jsm.streams.add(config);
    return;
  }
  await jsm.streams.update(config.name, config);
}

/** Creates the durable consumer, or brings an existing one to this configuration. */
async function ensureDurableConsumer(
  jsm: JetStreamManager,
  stream: string,
  config: Partial<ConsumerConfig> & { durable_name: string },
): Promise<void> {
  try {
    const info = await jsm.consumers.info(stream, config.durable_name);
    const current = info.config;
    if (
      current.ack_wait !== config.ack_wait ||
      current.max_ack_pending !== config.max_ack_pending ||
      current.max_deliver !== config.max_deliver
    ) {
      await jsm.consumers.update(stream, config.durable_name, {
        ack_wait: config.ack_wait,
        max_ack_pending: config.max_ack_pending,
        max_deliver: config.max_deliver,
      });
    }
  } catch (error) {
    if (!isApiError(error, JetStreamApiCodes.ConsumerNotFound)) throw error;
    await jsm.consumers.add(stream, config);
  }
}
