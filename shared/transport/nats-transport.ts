/**
 * The production transport: core NATS request/reply and publish/subscribe,
 * a JetStream stream with a shared durable pull consumer for provider events,
 * and a KV bucket for provider announcements. Written for nats-server 2.9
 * (one filter subject per consumer, no per-message TTL).
 *
 * The durable consumer pulls as many messages as it has room for (up to
 * `maxInFlight`), handles one job's messages in order and different jobs'
 * concurrently, and acks each with a plain ack once its handler resolved.
 *
 * A NATS restart is waited out: the connection comes back on its own (every
 * quarter second, forever), subscriptions with it, and the stream, consumer
 * and bucket are made again should the server have lost them (a JetStream
 * store that did not survive).
 */
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  jetstream,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, nanos, RequestError, TimeoutError, type Msg } from '@nats-io/transport-node';

import { assertSubjectToken, type Subjects } from '../subjects.js';
import {
  DeliverLaterError,
  NoRespondersError,
  TransportTimeoutError,
  type AnnouncementHandler,
  type BytesHandler,
  type Closable,
  type DurableHandler,
  type MessageHandler,
  type RequestHandler,
  type RequestOptions,
  type Transport,
} from '../transport.js';
import { abortable, answerRequest, createLanes, decodeBody, DEFAULT_MAX_IN_FLIGHT, deferred, encodeBody, jobOrderingKey } from './wire.js';

/** Tries at setting up JetStream at start, a second apart, before the process gives up. */
const STARTUP_ATTEMPTS = 30;
const STARTUP_RETRY_MS = 1_000;

/** How much later each message a closing consumer hands back comes due than the one before it. */
const HAND_BACK_SPACING_MS = 50;

export interface NatsTransportOptions {
  /** NATS server URL, e.g. `nats://127.0.0.1:4222`, or a cluster's seed URLs separated by commas. */
  url: string;
  /**
   * Copies JetStream keeps of the events stream, its consumer and the announcement bucket:
   * 3 in a three-server cluster, so one server may die with nothing lost.
   * @default 1
   */
  replicas?: number;
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
   * reports progress, so a slow handler is not redelivered. Short, because a
   * gateway killed holding a job's messages holds up that job's story: its
   * later messages may reach another replica first, and these only after this.
   * Below the gateway's charge lag (5 s), so an end held so is applied before a
   * charging round could charge past it.
   * @default 4000
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
   * consumer. Another consumer gets what is handed back once this one's last
   * pull has expired at the server, within 2 s of the close.
   * @default 5000
   */
  closeGraceMs?: number;
  /**
   * Durable messages one consumer holds at once: handlers running, and
   * messages waiting behind an earlier one of their ordering key. It pulls
   * only for the room it has, so no more than this of the consumer's
   * `maxAckPending` sit in one process.
   * @default 64
   */
  maxInFlight?: number;
  /**
   * Durable messages with the same key are handled one at a time, in stream
   * order; messages of different keys concurrently.
   * @default one job's events and log lines share a key (`<provider>.<job>`); any other subject is its own
   */
  orderingKey?: (subject: string) => string;
  /** Errors that have no caller to go to: a throwing subscriber, a failing pull. */
  onError?: (error: unknown, where: string) => void;
}

/**
 * How long a pull for durable messages waits at the server. Short, as a
 * closing consumer's hand-over waits for it (see consumeDurable); an idle
 * consumer pulls again this often.
 */
const PULL_EXPIRES_MS = 2000;
/** Slack for the pull to reach the server and for its clock. */
const PULL_EXPIRY_MARGIN_MS = 100;

/** A pull for durable messages under way. */
interface Pull {
  /** performance.now() after which the server has surely let it expire. */
  readonly until: number;
  /** Null until the pull request is sent. */
  messages: ConsumerMessages | null;
}

/** Connects, ensures the events stream and the announcement bucket exist, and returns the transport. */
export async function createNatsTransport(options: NatsTransportOptions): Promise<Transport> {
  const {
    subjects,
    replicas = 1,
    dedupeWindowMs = 120_000,
    eventRetentionMs = 7 * 24 * 3_600_000,
    maxAckPending = 1000,
    ackWaitMs = 4_000,
    redeliveryDelayMs = 1000,
    closeGraceMs = 5000,
    maxInFlight = DEFAULT_MAX_IN_FLIGHT,
    orderingKey = jobOrderingKey(subjects),
    onError = () => {},
  } = options;
  if (!Number.isInteger(replicas) || replicas < 1) throw new RangeError(`replicas must be a positive integer, not ${replicas}`);
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new RangeError(`maxInFlight must be a positive integer, not ${maxInFlight}`);

  // Reconnect forever: a NATS restart must not take the process down with it.
  // noAsyncTraces: nats.js otherwise builds error objects on every request for async stacks,
  // more than half the CPU of a publish; our errors name the subject and the verb anyway.
  // waitOnFirstConnect: a process started while NATS is away waits for it rather than exiting.
  const nc = await connect({
    servers: options.url.split(','),
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 250,
    waitOnFirstConnect: true,
    noAsyncTraces: true,
  });
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let kv: KV;
  const streamConfig: Partial<StreamConfig> & { name: string } = {
    name: subjects.eventStream,
    subjects: subjects.streamSubjects(),
    duplicate_window: nanos(dedupeWindowMs),
    max_age: nanos(Math.max(eventRetentionMs, dedupeWindowMs)),
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    num_replicas: replicas,
  };
  const openBucket = async () => {
    const bucket = await new Kvm(nc).create(subjects.providerBucket, { history: 1, replicas });
    // create() takes an existing bucket as it is: one made with fewer replicas is brought to this count.
    const info = await jsm.streams.info(`KV_${subjects.providerBucket}`);
    if (info.config.num_replicas !== replicas) await jsm.streams.update(info.config.name, { ...info.config, num_replicas: replicas });
    return bucket;
  };
  try {
    js = jetstream(nc);
    // A cluster that is still electing its JetStream leaders times out or says JetStream is not
    // there: a process started meanwhile waits for it (as for a first connection), within a bound.
    for (let attempt = 1; ; attempt++) {
      try {
        jsm = await jetstreamManager(nc);
        await ensureStream(jsm, streamConfig);
        kv = await openBucket();
        // Replicated streams just made elect their leaders after the create answered: until then
        // a publish finds nobody (JetStreamNotEnabled), and a provider's first announcement fails.
        if (replicas > 1) await Promise.all([streamConfig.name, `KV_${subjects.providerBucket}`].map((name) => assertLeader(jsm, name)));
        break;
      } catch (error) {
        if (attempt >= STARTUP_ATTEMPTS) throw error;
        onError(error, 'set up the events stream and the announcement bucket (trying again)');
        await new Promise((resolve) => setTimeout(resolve, STARTUP_RETRY_MS));
      }
    }
  } catch (error) {
    await nc.close();
    throw error;
  }

  /**
   * The stream and the bucket made again after the server lost them; one attempt at a time, and
   * not more than once a second, as every failing publish asks for it.
   */
  let recovering: Promise<void> | null = null;
  let lastRecovery = 0;
  /** Told when the stream or the bucket had to be made again: watches and consumers start over. */
  const remade = new Set<() => void>();
  const recoverJetStream = (): Promise<void> => {
    if (recovering) return recovering;
    if (performance.now() - lastRecovery < 1_000) return Promise.resolve();
    lastRecovery = performance.now();
    recovering = (async () => {
      try {
        const streamMade = await ensureStream(jsm, streamConfig);
        const bucketMade = await jsm.streams.info(`KV_${subjects.providerBucket}`).then(
          () => false,
          (error: unknown) => {
            if (isApiError(error, JetStreamApiCodes.StreamNotFound)) return true;
            throw error;
          },
        );
        kv = await openBucket();
        if (streamMade || bucketMade) for (const listener of [...remade]) listener();
      } catch (error) {
        onError(error, 'recreate the events stream and the announcement bucket');
      } finally {
        recovering = null;
      }
    })();
    return recovering;
  };

  const reconnectListeners = new Set<() => void>();
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type !== 'reconnect') continue;
      for (const listener of [...reconnectListeners]) {
        try {
          listener();
        } catch (error) {
          onError(error, 'reconnect listener');
        }
      }
    }
  })().catch((error: unknown) => onError(error, 'connection status'));

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

  /** A plain subscription; what its handler throws goes to onError. */
  const subscribeMessages = (subject: string, handle: (msg: Msg) => void): Closable => {
    const sub = nc.subscribe(subject, {
      callback: (error, msg) => {
        if (error) return onError(error, `subscribe ${subject}`);
        try {
          handle(msg);
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
        if (cause instanceof RequestError && cause.isNoResponders()) {
          // Ours may have gone with a server that lost its store: made again for the caller's next try.
          if (subjects.streamSubjects().some((pattern) => matchesSubject(pattern, subject))) await recoverJetStream();
          throw new NoRespondersError(subject, { cause: error });
        }
        throw error;
      }
    },

    async consumeDurable(handler: DurableHandler): Promise<Closable> {
      await ensureConsumer();
      let consumer = await js.consumers.get(subjects.eventStream, subjects.eventConsumer);
      /** After pulls kept failing: the consumer (and its stream) made again if the server lost them. */
      const recoverConsumer = async () => {
        try {
          await recoverJetStream();
          consumerReady = null;
          await ensureConsumer();
          consumer = await js.consumers.get(subjects.eventStream, subjects.eventConsumer);
        } catch (error) {
          onError(error, 'recreate the durable consumer');
        }
      };
      let closing = false;
      /** Pulls under way: each asks the server for a batch until it is delivered or expires. */
      const pulls = new Set<Pull>();
      /** Asked for in the pulls under way and not yet received. */
      let requested = 0;
      /** Received from the pulls and not yet in a lane (see dispatch). */
      let incoming: JsMsg[] = [];
      /** Until when (performance.now()) a pull that failed or that we stopped may still wait at the server. */
      let stalePullUntil = 0;
      let failures = 0;
      /** Wakes the loop: room was freed, a pull ended, or we are closing. */
      let wake: (() => void) | null = null;
      /** Taken from a pull and not yet acked or nak'ed. */
      const held = new Set<JsMsg>();
      /** Ends the wait for a running handler; called for all of them once the close grace is over. */
      const abandon = new Set<() => void>();

      const send = (what: string, msg: JsMsg, reply: () => void) => {
        try {
          reply();
        } catch (error) {
          onError(error, `${what} ${msg.subject}`);
        }
      };

      /**
       * Gives a message back on closing. nats-server 2.9 hands a redelivery to a pull that is still
       * waiting although its subscriber is gone, and there it is lost until ack_wait (and the last
       * delivered message comes twice); so the message comes again only once our stopped pull has
       * expired, and at once when none is left.
       */
      let handedBack = 0;
      const handBack = (msg: JsMsg) => {
        const wait = Math.ceil(stalePullUntil - performance.now());
        // Each later hand-back comes due a little later: the server redelivers what is due at one
        // check in stream order, but naks that travel and are timed apart could come due out of order.
        const delay = wait > 0 ? wait + HAND_BACK_SPACING_MS * handedBack++ : undefined;
        send('nak', msg, () => msg.nak(delay));
      };

      const processOne = async (msg: JsMsg): Promise<void> => {
        try {
          // Closing: hand it back, after its key's earlier messages, so another consumer keeps their order.
          if (closing) return handBack(msg);
          let body: unknown;
          try {
            body = decodeBody(msg.string());
          } catch (error) {
            // Not JSON: no handler can ever take it, so stop its redelivery.
            onError(error, `consume ${msg.subject}`);
            return send('term', msg, () => msg.term('not JSON'));
          }
          // Not a Promise.race with a shared "grace over" promise: every race would stay attached to it.
          let delay = redeliveryDelayMs;
          const outcome = await new Promise<'handled' | 'failed' | 'abandoned'>((resolve) => {
            const abandoned = () => resolve('abandoned');
            abandon.add(abandoned);
            Promise.resolve()
              .then(() => handler(body, msg.subject))
              .then(
                () => resolve('handled'),
                (error: unknown) => {
                  if (error instanceof DeliverLaterError) delay = error.delayMs;
                  else onError(error, `consume ${msg.subject}`);
                  resolve('failed');
                },
              )
              .finally(() => abandon.delete(abandoned));
          });
          if (outcome === 'handled') {
            // A plain ack, not ackAck: if it is lost the message comes again, and the store ignores a
            // replayed event id, so a confirmation round trip per message would buy nothing.
            send('ack', msg, () => msg.ack());
          } else if (outcome === 'failed' && !closing) {
            send('nak', msg, () => msg.nak(delay));
          } else {
            // Failed while closing, or closed while the handler still runs: another consumer takes it.
            handBack(msg);
          }
        } finally {
          held.delete(msg);
        }
      };

      /** Pull when this many can be taken, so a busy consumer pulls in batches and not one by one. */
      const minPullBatch = Math.max(1, Math.floor(maxInFlight / 4));
      const room = () => maxInFlight - lanes.held - incoming.length - requested;
      const lanes = createLanes<JsMsg>(
        processOne,
        () => {
          if (room() >= minPullBatch) wake?.();
        },
        (error) => onError(error, 'consume'),
      );

      // One timer for everything held, not one per message: a slow handler, and the messages of its
      // key waiting behind it, must not be redelivered elsewhere while this process is alive.
      const progress = setInterval(
        () => {
          for (const msg of held) send('working', msg, () => msg.working());
        },
        Math.max(ackWaitMs / 3, 100),
      );
      // unref: an idle consumer alone must not keep the process alive.
      progress.unref();

      /**
       * Hands what the pulls received to the lanes, in the order the server delivered it. Each pull
       * yields its messages through its own iterator, and with two pulls under way message n of a
       * job can come out of one after n+1 came out of the other; but the messages of one read from
       * the socket are all yielded within its microtasks, before this runs, and the server numbers
       * its deliveries (`deliverySequence`) in the order it sends them.
       */
      const dispatch = () => {
        const received = incoming;
        incoming = [];
        received.sort((a, b) => a.info.deliverySequence - b.info.deliverySequence);
        for (const msg of received) lanes.add(orderingKey(msg.subject), msg);
      };

      /**
       * One pull for `batch` messages, each passed on to dispatch as it arrives. Several run at once, so
       * the next batch is on its way while the last is handled; together they never ask for more
       * than there is room for, so nothing waits in this process unhandled (where another consumer
       * could have taken it), however slow the handlers. Not consume(): its buffer refills on its
       * own, and after a wait on busy handlers it holds several times its size.
       */
      const pull = async (batch: number): Promise<void> => {
        const current: Pull = { until: performance.now() + PULL_EXPIRES_MS + PULL_EXPIRY_MARGIN_MS, messages: null };
        pulls.add(current);
        requested += batch;
        let received = 0;
        try {
          current.messages = await consumer.fetch({ max_messages: batch, expires: PULL_EXPIRES_MS });
          if (closing) current.messages.stop();
          for await (const msg of current.messages) {
            received += 1;
            requested -= 1;
            held.add(msg);
            if (incoming.push(msg) === 1) setImmediate(dispatch);
          }
          // Ended by the server (all delivered, or expired), not stopped by us: nothing waits there.
          if (!closing) failures = 0;
        } catch (error) {
          stalePullUntil = Math.max(stalePullUntil, current.until);
          if (!closing) {
            onError(error, 'consume');
            failures += 1;
          }
        } finally {
          requested -= batch - received;
          pulls.delete(current);
          wake?.();
        }
      };

      const loop = (async () => {
        while (!closing) {
          if (failures > 0) {
            // The last pull failed: wait before the next, longer each time.
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, Math.min(100 * 2 ** failures, 5000));
              wake = () => {
                clearTimeout(timer);
                resolve();
              };
            });
            wake = null;
            if (closing) break;
            if (failures >= 2) await recoverConsumer();
          }
          if (room() < minPullBatch || (failures > 0 && pulls.size > 0)) {
            await new Promise<void>((resolve) => (wake = resolve));
            wake = null;
            continue;
          }
          void pull(room());
        }
        while (pulls.size > 0) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = null;
        }
        dispatch();
        await lanes.drained();
      })();

      return track({
        async close() {
          if (closing) return loop;
          closing = true;
          // Messages a stopped pull already received are yielded still, and handed back by processOne.
          for (const current of pulls) {
            stalePullUntil = Math.max(stalePullUntil, current.until);
            current.messages?.stop();
          }
          wake?.();
          const grace = setTimeout(() => {
            for (const abandoned of [...abandon]) abandoned();
          }, closeGraceMs);
          await loop;
          clearTimeout(grace);
          clearInterval(progress);
        },
      });
    },

    publish(subject: string, body: unknown): void {
      nc.publish(subject, encodeBody(body));
    },

    subscribe(subject: string, handler: MessageHandler): Closable {
      return subscribeMessages(subject, (msg) => handler(decodeBody(msg.string()), msg.subject));
    },

    publishBytes(subject: string, payload: Uint8Array): void {
      nc.publish(subject, payload);
    },

    subscribeBytes(subject: string, handler: BytesHandler): Closable {
      return subscribeMessages(subject, (msg) => handler(msg.data, msg.subject));
    },

    async putAnnouncement(key: string, value: unknown): Promise<void> {
      const token = assertSubjectToken(key, 'announcement key');
      try {
        await kv.put(token, encodeBody(value));
      } catch (error) {
        // The bucket may have gone with a server that lost its store: made again for the next beat.
        await recoverJetStream();
        throw error;
      }
    },

    async deleteAnnouncement(key: string): Promise<void> {
      await kv.delete(assertSubjectToken(key, 'announcement key'));
    },

    async watchAnnouncements(handler: AnnouncementHandler): Promise<Closable> {
      // The watcher marks the last entry of the initial snapshot as the first update; an empty
      // bucket has no such entry, so learn up front whether there is anything to wait for.
      let inSnapshot = (await kv.status()).values > 0;
      const initialDone = deferred();
      if (!inSnapshot) initialDone.resolve();
      let stopped = false;
      let iterator = await kv.watch();
      let retry: { timer: NodeJS.Timeout; resolve: () => void } | null = null;
      const follow = async (): Promise<void> => {
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
      };
      // A bucket made again is a new one: this watch would wait on the old one forever.
      const restart = () => iterator.stop();
      remade.add(restart);
      /** A watch that ended without being closed (the server lost the bucket) is started again. */
      const loop = (async () => {
        for (;;) {
          await follow();
          if (stopped) return;
          await new Promise<void>((resolve) => {
            retry = { timer: setTimeout(resolve, 1_000), resolve };
            retry.timer.unref();
          });
          retry = null;
          if (stopped) return;
          try {
            await recoverJetStream();
            iterator = await kv.watch();
          } catch (error) {
            onError(error, 'watch announcements again');
          }
        }
      })();
      await initialDone.promise;
      return track({
        async close() {
          stopped = true;
          remade.delete(restart);
          const pending = retry as { timer: NodeJS.Timeout; resolve: () => void } | null;
          if (pending) {
            clearTimeout(pending.timer);
            pending.resolve();
          }
          iterator.stop();
          await loop;
        },
      });
    },

    async ping(): Promise<void> {
      await nc.flush();
    },

    onReconnect(listener: () => void): Closable {
      reconnectListeners.add(listener);
      return {
        async close() {
          reconnectListeners.delete(listener);
        },
      };
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

/** Creates the stream, or brings an existing one to this configuration; true when it had to be created. */
async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<boolean> {
  let current: StreamConfig;
  try {
    current = (await jsm.streams.info(config.name)).config;
  } catch (error) {
    if (!isApiError(error, JetStreamApiCodes.StreamNotFound)) throw error;
    await jsm.streams.add(config);
    return true;
  }
  // Only when it differs: an update of a replicated stream still electing its leader can time out.
  const differs = (Object.keys(config) as (keyof StreamConfig)[]).some((key) => JSON.stringify(current[key]) !== JSON.stringify(config[key]));
  if (differs) await jsm.streams.update(config.name, config);
  return false;
}

/** Throws unless the stream's replicas have elected a leader. */
async function assertLeader(jsm: JetStreamManager, stream: string): Promise<void> {
  const info = await jsm.streams.info(stream);
  if (!info.cluster?.leader) throw new Error(`stream ${stream} has not elected a leader yet`);
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
    if (current.ack_wait !== config.ack_wait || current.max_ack_pending !== config.max_ack_pending || current.max_deliver !== config.max_deliver) {
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

/** Whether a concrete subject matches a NATS subject pattern (`*` one token, `>` the rest). */
function matchesSubject(pattern: string, subject: string): boolean {
  const want = pattern.split('.');
  const have = subject.split('.');
  for (let i = 0; i < want.length; i++) {
    if (want[i] === '>') return have.length > i;
    if (i >= have.length || (want[i] !== '*' && want[i] !== have[i])) return false;
  }
  return want.length === have.length;
}
