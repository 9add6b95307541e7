/**
 * Following one rank's output: the pod's log through the API server, with
 * timestamps, until its container has ended and the stream has drained. A
 * stream that breaks while the container runs (an API server restart, a
 * network blip) is opened again from the last line's second — the API's
 * `sinceTime` has second precision — and the lines already delivered are
 * skipped by their nanosecond timestamps, so no line comes twice or is lost.
 * A stream that keeps ending with nothing new (a node agent that ends streams
 * early, as kwok does once out of inotify instances) is opened ever less often,
 * up to `maxRetryMs`, and at once again after one that brought lines.
 */
import { createInterface } from 'node:readline';
import { PassThrough } from 'node:stream';
import type { Log } from '@kubernetes/client-node';

export interface LogFollowerOptions {
  logs: Log;
  namespace: string;
  pod: string;
  container: string;
  /** A delivered line: its text and its time (ms). */
  onLine: (text: string, timestamp: number) => void;
  /** Whether the container has ended (its last lines are then all there is). */
  ended: () => boolean;
  /** Whether to keep following at all (the pod still exists, the provider still runs). */
  wanted: () => boolean;
  onError?: (error: unknown) => void;
  /** Pause before opening a broken stream again. @default 1000 */
  retryMs?: number;
  /** Longest pause, after streams that brought nothing new (the pause doubles each time). @default 10000 */
  maxRetryMs?: number;
}

export interface LogFollower {
  /** Resolves when the rank's output is all delivered, or following was given up. */
  readonly done: Promise<void>;
  stop(): void;
}

/** "2026-12-01T14:37:51.123456789Z" → a key that sorts in time order, and the time in ms. */
export function parseLogTimestamp(stamp: string): { key: string; ms: number } | null {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(stamp);
  if (!match) return null;
  const ms = Date.parse(`${match[1]}Z`);
  if (Number.isNaN(ms)) return null;
  const fraction = (match[2] ?? '').padEnd(9, '0');
  return { key: `${match[1]}.${fraction}`, ms: ms + Number(fraction.slice(0, 3)) };
}

export function followPodLog(options: LogFollowerOptions): LogFollower {
  const retryMs = options.retryMs ?? 1_000;
  const maxRetryMs = options.maxRetryMs ?? 10_000;
  let pause = retryMs;
  let delivered = 0;
  let stopped = false;
  let abort: AbortController | null = null;
  /** The last delivered line's timestamp key, and how many lines carried it (lines may share a timestamp). */
  let lastKey: string | null = null;
  let atLastKey = 0;
  let wake: (() => void) | null = null;

  const deliver = (line: string, skipping: { key: string; left: number } | null) => {
    const space = line.indexOf(' ');
    const stamp = space > 0 ? parseLogTimestamp(line.slice(0, space)) : null;
    if (!stamp) return skipping;
    const text = line.slice(space + 1);
    if (lastKey !== null && stamp.key < lastKey) return skipping;
    if (skipping && stamp.key === skipping.key && skipping.left > 0) return { key: skipping.key, left: skipping.left - 1 };
    if (stamp.key === lastKey) atLastKey += 1;
    else {
      lastKey = stamp.key;
      atLastKey = 1;
    }
    options.onLine(text, stamp.ms);
    delivered += 1;
    return null;
  };

  const readOnce = async (): Promise<void> => {
    const stream = new PassThrough();
    const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
    // Lines at the second we start from that were delivered before this stream.
    let skipping = lastKey === null ? null : { key: lastKey, left: atLastKey };
    const sinceTime = lastKey === null ? undefined : `${lastKey.slice(0, 19)}Z`;
    abort = await options.logs.log(options.namespace, options.pod, options.container, stream, { follow: true, timestamps: true, sinceTime });
    for await (const line of lines) {
      if (stopped) break;
      skipping = deliver(line, skipping);
    }
  };

  const done = (async () => {
    while (!stopped && options.wanted()) {
      const endedBefore = options.ended();
      const before = delivered;
      try {
        await readOnce();
      } catch (error) {
        options.onError?.(error);
      }
      // A stream read to its end after the container ended holds everything.
      if (endedBefore || stopped || !options.wanted()) return;
      pause = delivered > before ? retryMs : Math.min(maxRetryMs, pause * 2);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pause);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  })();

  return {
    done,
    stop() {
      stopped = true;
      abort?.abort();
      wake?.();
    },
  };
}
