/**
 * The one interface gateway and providers talk through. Two implementations:
 * NATS (JetStream, KV) for production and an in-process bus for the embedded
 * default. Both pass test/transport-contract.test.ts; where they differ, NATS
 * is right.
 */
import type { Subjects } from './subjects.js';

export interface Closable {
  close(): Promise<void>;
}

export interface RequestOptions {
  /** Give up after this long; the call rejects with TransportTimeoutError. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Answers a request; a thrown error becomes the caller's rejection, so handlers return coded replies instead. */
export type RequestHandler = (body: unknown, subject: string) => Promise<unknown>;
export type MessageHandler = (body: unknown, subject: string) => void;
/** A message's payload as it travelled, undecoded; the handler's to keep. */
export type BytesHandler = (payload: Uint8Array, subject: string) => void;
/**
 * Handles one durable message; resolving acks it, throwing has it redelivered.
 * Runs concurrently with the handlers of other jobs' messages (see consumeDurable).
 */
export type DurableHandler = (body: unknown, subject: string) => Promise<void>;
/** value null: the key was deleted or purged. */
export type AnnouncementHandler = (key: string, value: unknown | null) => void;

export interface Transport {
  readonly subjects: Subjects;
  /** Request/reply. Rejects with TransportTimeoutError or NoRespondersError. */
  request(subject: string, body: unknown, options: RequestOptions): Promise<unknown>;
  /** Serve requests on a subject (wildcards allowed); members of one queue group split the load. */
  serve(subject: string, handler: RequestHandler, options?: { queue?: string }): Closable;
  /** Store a message in the events stream; a repeat of msgId within the dedupe window is dropped. */
  publishDurable(subject: string, body: unknown, msgId: string): Promise<{ duplicate: boolean }>;
  /**
   * Consume the events stream through the shared durable consumer: each message
   * goes to one consumer among all that share it, is acked when the handler
   * resolves and redelivered when it throws or the process dies first.
   *
   * Order: within one consumer, the messages of one job — its events and its
   * log lines together — are handled one at a time, in stream order; other
   * jobs' messages are handled meanwhile, a bounded number at once. There is
   * no order beyond that: with several gateway replicas on the one durable
   * consumer, message n of a job may go to one and n+1 to another; a message
   * whose handler threw comes again after the ones behind it (after the
   * redelivery delay, or the DeliverLaterError's delay); and an ack lost
   * on the way makes a message come twice. Handlers must take that, as the
   * store does: its compare-and-set never changes a final state, and a
   * replayed event id is ignored.
   */
  consumeDurable(handler: DurableHandler): Promise<Closable>;
  /** Fire-and-forget publish to every subscriber (follower fan-out). */
  publish(subject: string, body: unknown): void;
  subscribe(subject: string, handler: MessageHandler): Closable;
  /**
   * publish and subscribe for payloads that are not JSON (a session's bytes): sent and received as
   * they are. A JSON publish reaches a bytes subscriber as its UTF-8 text, and bytes that are not
   * JSON reach a JSON subscriber as the error NATS would give (onError), as on the wire. A
   * published payload is the transport's: nats.js writes it out later, so it must not change.
   */
  publishBytes(subject: string, payload: Uint8Array): void;
  subscribeBytes(subject: string, handler: BytesHandler): Closable;
  putAnnouncement(key: string, value: unknown): Promise<void>;
  deleteAnnouncement(key: string): Promise<void>;
  /** Calls the handler with every current entry, then with every change until closed. */
  watchAnnouncements(handler: AnnouncementHandler): Promise<Closable>;
  /** Resolves when the server answers; for readiness checks. */
  ping(): Promise<void>;
  /**
   * Calls the listener each time the connection to the server is back after it was lost, so
   * work that waits out an outage (a publish backing off) may go at once. Absent: never lost.
   */
  onReconnect?(listener: () => void): Closable;
  close(): Promise<void>;
}

/**
 * Thrown by a durable handler for a message it cannot handle yet (it waits for another one): the
 * message comes again after `delayMs`, sooner than after a failure, and nothing is reported.
 */
export class DeliverLaterError extends Error {
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
    this.name = 'DeliverLaterError';
  }
}

export class TransportTimeoutError extends Error {
  constructor(
    readonly subject: string,
    readonly timeoutMs: number,
    options?: ErrorOptions,
  ) {
    super(`no reply on ${subject} within ${timeoutMs} ms`, options);
    this.name = 'TransportTimeoutError';
  }
}

export class NoRespondersError extends Error {
  constructor(
    readonly subject: string,
    options?: ErrorOptions,
  ) {
    super(`nobody serves ${subject}`, options);
    this.name = 'NoRespondersError';
  }
}
