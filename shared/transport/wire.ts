/**
 * What both transports do the same way: bodies travel as JSON text, and a
 * request that cannot be decoded or whose handler throws still gets a coded
 * reply. The in-process bus encodes too, so callers never share objects and a
 * value that would not survive NATS does not survive it either.
 */
import { PROTOCOL_VERSION } from '../protocol.js';
import type { Subjects } from '../subjects.js';
import type { RequestHandler } from '../transport.js';

/** NATS's default max_payload (1 MiB); the in-process bus refuses the same. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

/** Durable messages one consumer handles at once, across ordering keys. */
export const DEFAULT_MAX_IN_FLIGHT = 64;

/** JSON text of a body; `undefined` travels as `null`, as JSON has no undefined. */
export function encodeBody(body: unknown): string {
  return JSON.stringify(body ?? null);
}

/** The body of a JSON payload; an empty payload is `null`. Throws SyntaxError on anything else. */
export function decodeBody(text: string): unknown {
  return text.length === 0 ? null : (JSON.parse(text) as unknown);
}

export function invalidInputReply(message: string): unknown {
  return { v: PROTOCOL_VERSION, ok: false, error: { code: 'INVALID_INPUT', message } };
}

/** What a caller sees when a handler throws: nothing of the error leaks. */
export const INTERNAL_REPLY = { v: PROTOCOL_VERSION, ok: false, error: { code: 'INTERNAL', message: 'Internal error' } };

/**
 * Decodes a request, runs the handler and encodes its reply. Never throws: bad
 * JSON becomes INVALID_INPUT, a throwing handler or an unencodable result
 * becomes INTERNAL (and is passed to `onError`).
 */
export async function answerRequest(
  handler: RequestHandler,
  payload: string,
  subject: string,
  onError: (error: unknown, where: string) => void,
): Promise<string> {
  let body: unknown;
  try {
    body = decodeBody(payload);
  } catch (error) {
    return encodeBody(invalidInputReply(`request on ${subject} is not valid JSON: ${(error as Error).message}`));
  }
  try {
    return encodeBody(await handler(body, subject));
  } catch (error) {
    onError(error, `serve ${subject}`);
    return encodeBody(INTERNAL_REPLY);
  }
}

/** Rejects with the signal's reason as soon as it aborts; the underlying work is left to finish or time out. */
export function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** A promise with its resolve exposed. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * The default ordering key of durable messages: what follows the stream
 * subject's root, `<provider>.<job>`, so one job's events and its log lines
 * share a key. They must: a follower stops at the final event, and the
 * provider publishes a job's last output before that event, so handling the
 * event first would cut the output off. Any other subject is its own key.
 */
export function jobOrderingKey(subjects: Subjects): (subject: string) => string {
  // `sy.v1.events.>` → `sy.v1.events.`
  const roots = subjects.streamSubjects().map((pattern) => pattern.replace(/>$/, ''));
  return (subject) => {
    for (const root of roots) if (subject.startsWith(root)) return subject.slice(root.length);
    return subject;
  };
}

export interface Lanes<T> {
  /** Items added and not yet settled: running, or waiting behind an earlier item of their key. */
  readonly held: number;
  /** Settles the item after every earlier item of its key; items of other keys run meanwhile. */
  add(key: string, item: T): void;
  /** Resolves once every item added so far has settled. */
  drained(): Promise<void>;
}

/**
 * Settles items one at a time and in order within a key, and keys
 * concurrently. Bounding how many are held is the caller's part: it stops
 * adding at its limit and is told by `onSettled` when there is room again.
 */
export function createLanes<T>(settle: (item: T) => Promise<void>, onSettled: () => void, onError: (error: unknown) => void): Lanes<T> {
  const lanes = new Map<string, T[]>();
  const draining = new Set<Promise<void>>();
  let held = 0;

  const drain = async (key: string, lane: T[]): Promise<void> => {
    // The item stays at the head while it settles, so `add` sees the lane busy.
    while (lane.length > 0) {
      try {
        await settle(lane[0]!);
      } catch (error) {
        onError(error);
      }
      lane.shift();
      held -= 1;
      onSettled();
    }
    // Synchronously after the emptiness check: an item added from here on opens a new lane.
    lanes.delete(key);
  };

  return {
    get held() {
      return held;
    },
    add(key, item) {
      held += 1;
      const busy = lanes.get(key);
      if (busy) {
        busy.push(item);
        return;
      }
      const lane = [item];
      lanes.set(key, lane);
      const running = drain(key, lane).finally(() => draining.delete(running));
      draining.add(running);
    },
    async drained() {
      while (draining.size > 0) await Promise.all(draining);
    },
  };
}
