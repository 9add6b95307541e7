/**
 * What both transports do the same way: bodies travel as JSON text, and a
 * request that cannot be decoded or whose handler throws still gets a coded
 * reply. The in-process bus encodes too, so callers never share objects and a
 * value that would not survive NATS does not survive it either.
 */
import { PROTOCOL_VERSION } from '../protocol.js';
import type { RequestHandler } from '../transport.js';

/** NATS's default max_payload (1 MiB); the in-process bus refuses the same. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

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
