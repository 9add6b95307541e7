/**
 * The in-process bus of the embedded default: gateway and providers in one
 * process share one instance, and separate instances never see each other.
 * It keeps the NATS transport's semantics — NATS wildcards, queue groups,
 * no-responders and timeouts, a deduplicating event stream with one shared
 * durable consumer (one job's messages in order, different jobs'
 * concurrently), a watched announcement bucket — and bodies travel as JSON
 * text, so no caller ever holds another's object. Where the two differ, NATS
 * is right and this is the one to fix.
 */
import { systemClock, type Clock } from '../clock.js';
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
import {
  answerRequest,
  createLanes,
  decodeBody,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_PAYLOAD_BYTES,
  encodeBody,
  jobOrderingKey,
  type Lanes,
} from './wire.js';

export interface MemoryTransportOptions {
  subjects: Subjects;
  /**
   * A repeat of a msgId within this window is dropped, as JetStream's `duplicate_window` does.
   * @default 120000
   */
  dedupeWindowMs?: number;
  /** Time for the dedupe window; timeouts and redelivery delays use real timers. */
  clock?: Clock;
  /**
   * Messages delivered but not yet acked, above which no new message is handed out (`max_ack_pending`).
   * @default 1000
   */
  maxAckPending?: number;
  /**
   * Delay before a message whose handler threw is delivered again.
   * @default 1000
   */
  redeliveryDelayMs?: number;
  /**
   * On closing a durable consumer, how long a handler still running may take
   * to finish (and be acked) before its message goes to another consumer.
   * @default 5000
   */
  closeGraceMs?: number;
  /**
   * Durable messages one consumer holds at once: handlers running, and
   * messages waiting behind an earlier one of their ordering key.
   * @default 64
   */
  maxInFlight?: number;
  /**
   * Durable messages with the same key are handled one at a time, in stream
   * order; messages of different keys concurrently.
   * @default one job's events and log lines share a key (`<provider>.<job>`); any other subject is its own
   */
  orderingKey?: (subject: string) => string;
  /**
   * Largest encoded body accepted, as NATS's `max_payload`.
   * @default 1048576
   */
  maxPayloadBytes?: number;
  /** Errors that have no caller to go to, such as a throwing subscriber. */
  onError?: (error: unknown, where: string) => void;
}

export interface MemoryTransport extends Transport {
  /**
   * Sends a request payload as it is, undecoded — what a foreign client on
   * the wire could send; for testing the INVALID_INPUT reply.
   */
  requestRaw(subject: string, payload: string, options: RequestOptions): Promise<unknown>;
}

type Reply = (payload: string) => void;

interface CoreSubscription {
  readonly tokens: string[];
  /** Queue members of one pattern and queue name split the messages; NATS groups them the same way. */
  readonly group: string | null;
  /** A payload as it was published: JSON text, or bytes (publishBytes). */
  deliver(subject: string, payload: string | Buffer, reply: Reply | null): void;
}

interface StoredMessage {
  readonly seq: number;
  readonly subject: string;
  readonly payload: string;
  delivered: boolean;
  inFlight: boolean;
  /** performance.now() after which it may be delivered (again). */
  availableAt: number;
}

interface Worker {
  closing: boolean;
  /** The messages this consumer holds, by ordering key. */
  readonly lanes: Lanes<StoredMessage>;
  /** Ends the wait for a running handler; called for all of them once the close grace is over. */
  readonly abandon: Set<() => void>;
}

/** Whether a subject matches a subscription pattern with NATS wildcards: `*` one token, `>` one or more. */
export function subjectMatches(patternTokens: readonly string[], subject: string): boolean {
  const tokens = subject.split('.');
  for (let i = 0; i < patternTokens.length; i++) {
    const pattern = patternTokens[i];
    if (pattern === '>') return tokens.length > i;
    if (i >= tokens.length) return false;
    if (pattern !== '*' && pattern !== tokens[i]) return false;
  }
  return tokens.length === patternTokens.length;
}

const WHITESPACE = /\s/;

function checkSubject(subject: string): void {
  // The same check nats.js makes before anything goes on the wire.
  if (subject.length === 0 || WHITESPACE.test(subject)) throw new Error(`invalid subject "${subject}"`);
}

/** A payload as text, as NATS's msg.string() decodes it. */
const textOf = (payload: string | Buffer): string => (typeof payload === 'string' ? payload : payload.toString('utf8'));

/** Creates an in-process bus; everything that should talk to each other must share this one instance. */
export function createMemoryTransport(options: MemoryTransportOptions): MemoryTransport {
  const {
    subjects,
    dedupeWindowMs = 120_000,
    clock = systemClock,
    maxAckPending = 1000,
    redeliveryDelayMs = 1000,
    closeGraceMs = 5000,
    maxInFlight = DEFAULT_MAX_IN_FLIGHT,
    orderingKey = jobOrderingKey(subjects),
    maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES,
    onError = () => {},
  } = options;
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new RangeError(`maxInFlight must be a positive integer, not ${maxInFlight}`);

  let closed = false;
  const open = new Set<Closable>();
  const track = (close: () => Promise<void>): Closable => {
    let closing: Promise<void> | null = null;
    const closable: Closable = {
      close() {
        open.delete(closable);
        closing ??= close();
        return closing;
      },
    };
    open.add(closable);
    return closable;
  };
  const checkOpen = () => {
    if (closed) throw new Error('transport closed');
  };
  const encode = (body: unknown): string => {
    const payload = encodeBody(body);
    if (Buffer.byteLength(payload) > maxPayloadBytes) throw new Error('max_payload size exceeded');
    return payload;
  };

  // Core messaging.
  const coreSubscriptions = new Set<CoreSubscription>();
  const pendingRequests = new Set<(error: Error) => void>();

  /** Hands a message to every plain subscriber and one member of each queue group; returns how many. */
  const route = (subject: string, payload: string | Buffer, reply: Reply | null): number => {
    const targets: CoreSubscription[] = [];
    const groups = new Map<string, CoreSubscription[]>();
    for (const subscription of coreSubscriptions) {
      if (!subjectMatches(subscription.tokens, subject)) continue;
      if (subscription.group === null) targets.push(subscription);
      else groups.set(subscription.group, [...(groups.get(subscription.group) ?? []), subscription]);
    }
    // NATS picks a queue member at random.
    for (const members of groups.values()) targets.push(members[Math.floor(Math.random() * members.length)]!);
    for (const target of targets) {
      // Never synchronously: over NATS the publisher always returns before anyone receives.
      setImmediate(() => {
        if (coreSubscriptions.has(target)) target.deliver(subject, payload, reply);
      });
    }
    return targets.length;
  };

  const addSubscription = (pattern: string, group: string | null, deliver: CoreSubscription['deliver']) => {
    checkOpen();
    checkSubject(pattern);
    const subscription: CoreSubscription = { tokens: pattern.split('.'), group, deliver };
    coreSubscriptions.add(subscription);
    return subscription;
  };

  /** A plain subscription; what its handler throws goes to onError. */
  const subscribeMessages = (pattern: string, handle: (subject: string, payload: string | Buffer) => void): Closable => {
    const subscription = addSubscription(pattern, null, (received, payload) => {
      try {
        handle(received, payload);
      } catch (error) {
        onError(error, `subscribe ${received}`);
      }
    });
    return track(async () => {
      coreSubscriptions.delete(subscription);
    });
  };

  const requestPayload = (subject: string, payload: string, { timeoutMs, signal }: RequestOptions): Promise<unknown> => {
    checkOpen();
    checkSubject(subject);
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (settle: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        pendingRequests.delete(onClose);
        settle();
      };
      const timer = setTimeout(() => finish(() => reject(new TransportTimeoutError(subject, timeoutMs))), timeoutMs);
      const onAbort = () => finish(() => reject(signal?.reason));
      const onClose = (error: Error) => finish(() => reject(error));
      signal?.addEventListener('abort', onAbort, { once: true });
      pendingRequests.add(onClose);
      const reply: Reply = (text) =>
        finish(() => {
          try {
            resolve(decodeBody(text));
          } catch (error) {
            reject(error);
          }
        });
      // The server answers "no responders" after a round trip, not before the call returns.
      if (route(subject, payload, reply) === 0) setImmediate(() => finish(() => reject(new NoRespondersError(subject))));
    });
  };

  // The events stream and its one durable consumer.
  const streamTokens = subjects.streamSubjects().map((pattern) => pattern.split('.'));
  const stream: StoredMessage[] = [];
  const dedupe = new Map<string, number>();
  let lastSeq = 0;
  const workers: Worker[] = [];
  let nextWorker = 0;
  /** Messages delivered at least once and not yet acked, as JetStream counts against max_ack_pending. */
  let unacked = 0;

  const nextAvailable = (): StoredMessage | null => {
    const now = performance.now();
    const mayDeliverNew = unacked < maxAckPending;
    for (const message of stream) {
      if (message.inFlight || message.availableAt > now) continue;
      if (message.delivered || mayDeliverNew) return message;
    }
    return null;
  };

  let wake: { at: number; timer: NodeJS.Timeout } | null = null;
  /** Pumps again when the earliest delayed redelivery is due (timers may fire a little early). */
  const scheduleWake = () => {
    let at = Infinity;
    for (const message of stream) if (!message.inFlight && message.availableAt < at) at = message.availableAt;
    if (at === Infinity || (wake && wake.at <= at)) return;
    if (wake) clearTimeout(wake.timer);
    const timer = setTimeout(
      () => {
        wake = null;
        pump();
      },
      Math.max(at - performance.now(), 0) + 1,
    );
    // unref: a pending redelivery alone must not keep the process alive.
    timer.unref();
    wake = { at, timer };
  };

  const pump = (): void => {
    while (!closed) {
      const withRoom = workers.filter((worker) => !worker.closing && worker.lanes.held < maxInFlight);
      if (withRoom.length === 0) return;
      const message = nextAvailable();
      if (!message) return scheduleWake();
      // Round robin over consumers with room, as the server spreads messages over waiting pulls.
      const worker = withRoom[nextWorker++ % withRoom.length]!;
      if (!message.delivered) unacked += 1;
      message.inFlight = true;
      message.delivered = true;
      worker.lanes.add(orderingKey(message.subject), message);
    }
  };

  const makeAvailable = (message: StoredMessage, delayMs: number) => {
    message.inFlight = false;
    message.availableAt = performance.now() + delayMs;
    setImmediate(pump);
  };

  /** Handles one message of a consumer's lane and acks it (removes it) or hands it back. */
  const processOne = async (worker: Worker, handler: DurableHandler, message: StoredMessage): Promise<void> => {
    // Never synchronously: over NATS a message reaches the consumer after the publisher returned.
    await new Promise((resolve) => setImmediate(resolve));
    // Closing: hand it back, after its key's earlier messages, so another consumer keeps their order.
    if (worker.closing) return makeAvailable(message, 0);
    // Not a Promise.race with a shared "grace over" promise: every race would stay attached to it.
    let delay = redeliveryDelayMs;
    const outcome = await new Promise<'handled' | 'failed' | 'abandoned'>((resolve) => {
      const abandoned = () => resolve('abandoned');
      worker.abandon.add(abandoned);
      Promise.resolve()
        .then(() => handler(decodeBody(message.payload), message.subject))
        .then(
          () => resolve('handled'),
          (error: unknown) => {
            if (error instanceof DeliverLaterError) delay = error.delayMs;
            else onError(error, `consume ${message.subject}`);
            resolve('failed');
          },
        )
        .finally(() => worker.abandon.delete(abandoned));
    });
    if (outcome === 'handled') {
      stream.splice(stream.indexOf(message), 1);
      unacked -= 1;
      setImmediate(pump);
    } else if (outcome === 'failed') {
      makeAvailable(message, worker.closing ? 0 : delay);
    } else {
      // Closed while the handler still runs: another consumer takes the message now.
      makeAvailable(message, 0);
    }
  };

  // Announcements.
  const announcements = new Map<string, string>();
  const watchers = new Set<AnnouncementHandler>();
  const notifyWatchers = (key: string, payload: string | null) => {
    for (const watcher of watchers) {
      setImmediate(() => {
        if (!watchers.has(watcher)) return;
        try {
          watcher(key, payload === null ? null : decodeBody(payload));
        } catch (error) {
          onError(error, `watch ${key}`);
        }
      });
    }
  };

  return {
    subjects,

    request(subject: string, body: unknown, requestOptions: RequestOptions): Promise<unknown> {
      try {
        return requestPayload(subject, encode(body), requestOptions);
      } catch (error) {
        return Promise.reject(error);
      }
    },

    requestRaw(subject: string, payload: string, requestOptions: RequestOptions): Promise<unknown> {
      try {
        return requestPayload(subject, payload, requestOptions);
      } catch (error) {
        return Promise.reject(error);
      }
    },

    serve(subject: string, handler: RequestHandler, serveOptions?: { queue?: string }): Closable {
      const inFlight = new Set<Promise<void>>();
      const queue = serveOptions?.queue;
      const subscription = addSubscription(subject, queue ? `${subject}\u0000${queue}` : null, (received, payload, reply) => {
        const answering = answerRequest(handler, textOf(payload), received, onError)
          .then((answer) => {
            if (!reply) return;
            if (Buffer.byteLength(answer) > maxPayloadBytes) {
              onError(new Error('max_payload size exceeded'), `serve ${subject}`);
              return;
            }
            reply(answer);
          })
          .finally(() => inFlight.delete(answering));
        inFlight.add(answering);
      });
      return track(async () => {
        coreSubscriptions.delete(subscription);
        await Promise.all(inFlight);
      });
    },

    async publishDurable(subject: string, body: unknown, msgId: string): Promise<{ duplicate: boolean }> {
      checkOpen();
      checkSubject(subject);
      const payload = encode(body);
      if (!streamTokens.some((tokens) => subjectMatches(tokens, subject))) throw new NoRespondersError(subject);
      const now = clock.now();
      // Entries are in insertion (time) order: drop the expired head.
      for (const [id, at] of dedupe) {
        if (now - at < dedupeWindowMs) break;
        dedupe.delete(id);
      }
      if (dedupe.has(msgId)) return { duplicate: true };
      dedupe.set(msgId, now);
      stream.push({ seq: ++lastSeq, subject, payload, delivered: false, inFlight: false, availableAt: 0 });
      setImmediate(pump);
      return { duplicate: false };
    },

    async consumeDurable(handler: DurableHandler): Promise<Closable> {
      checkOpen();
      const worker: Worker = {
        closing: false,
        lanes: createLanes<StoredMessage>(
          (message) => processOne(worker, handler, message),
          () => {
            if (!worker.closing) pump();
          },
          (error) => onError(error, 'consume'),
        ),
        abandon: new Set(),
      };
      workers.push(worker);
      setImmediate(pump);
      return track(async () => {
        worker.closing = true;
        workers.splice(workers.indexOf(worker), 1);
        const grace = setTimeout(() => {
          for (const abandoned of [...worker.abandon]) abandoned();
        }, closeGraceMs);
        await worker.lanes.drained();
        clearTimeout(grace);
      });
    },

    publish(subject: string, body: unknown): void {
      checkOpen();
      checkSubject(subject);
      route(subject, encode(body), null);
    },

    subscribe(subject: string, handler: MessageHandler): Closable {
      return subscribeMessages(subject, (received, payload) => handler(decodeBody(textOf(payload)), received));
    },

    publishBytes(subject: string, payload: Uint8Array): void {
      checkOpen();
      checkSubject(subject);
      if (payload.byteLength > maxPayloadBytes) throw new Error('max_payload size exceeded');
      // A copy, so no subscriber shares the publisher's buffer.
      route(subject, Buffer.from(payload), null);
    },

    subscribeBytes(subject: string, handler: BytesHandler): Closable {
      // Each subscriber its own copy, so none sees another's changes.
      return subscribeMessages(subject, (received, payload) => handler(Buffer.from(payload), received));
    },

    async putAnnouncement(key: string, value: unknown): Promise<void> {
      checkOpen();
      assertSubjectToken(key, 'announcement key');
      const payload = encode(value);
      // Delete first so iteration follows the latest revision, as a KV watch does.
      announcements.delete(key);
      announcements.set(key, payload);
      notifyWatchers(key, payload);
    },

    async deleteAnnouncement(key: string): Promise<void> {
      checkOpen();
      assertSubjectToken(key, 'announcement key');
      announcements.delete(key);
      // KV writes a delete marker even for a key that never existed, and watchers see it.
      notifyWatchers(key, null);
    },

    async watchAnnouncements(handler: AnnouncementHandler): Promise<Closable> {
      checkOpen();
      const watcher: AnnouncementHandler = (key, value) => handler(key, value);
      for (const [key, payload] of [...announcements]) {
        try {
          handler(key, decodeBody(payload));
        } catch (error) {
          onError(error, `watch ${key}`);
        }
      }
      watchers.add(watcher);
      return track(async () => {
        watchers.delete(watcher);
      });
    },

    async ping(): Promise<void> {
      checkOpen();
    },

    async close(): Promise<void> {
      if (closed) return;
      await Promise.all([...open].map((closable) => closable.close().catch((error: unknown) => onError(error, 'close'))));
      closed = true;
      if (wake) clearTimeout(wake.timer);
      for (const reject of pendingRequests) reject(new Error('transport closed'));
    },
  };
}
