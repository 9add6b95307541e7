import type { Writable } from 'node:stream';
import type { Log } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';

import { followPodLog } from './kubernetes-logs.js';

/** A pod log endpoint that answers each open with the next batch of lines, then ends the stream (as a node agent that ends streams early). */
function endpoint(batches: string[][]) {
  const opens: { sinceTime?: string; at: number }[] = [];
  const logs = {
    async log(_ns: string, _pod: string, _container: string, stream: Writable, options: { sinceTime?: string }) {
      opens.push({ sinceTime: options.sinceTime, at: Date.now() });
      const batch = batches[opens.length - 1] ?? [];
      setImmediate(() => {
        for (const line of batch) stream.write(`${line}\n`);
        stream.end();
      });
      return new AbortController();
    },
  } as unknown as Log;
  return { logs, opens };
}

/** A follower of pod p's container "main" in namespace ns, collecting its lines. */
function follow(logs: Log, options: { ended: boolean; retryMs?: number; maxRetryMs?: number }) {
  const lines: string[] = [];
  const follower = followPodLog({
    logs,
    namespace: 'ns',
    pod: 'p',
    container: 'main',
    onLine: (text) => lines.push(text),
    ended: () => options.ended,
    wanted: () => true,
    retryMs: options.retryMs,
    maxRetryMs: options.maxRetryMs,
  });
  return { lines, follower };
}

describe('following a pod’s log', () => {
  it('delivers each line once across reopened streams, and opens a stream that brings nothing ever less often', async () => {
    const { logs, opens } = endpoint([
      ['2026-12-01T10:00:00.100000000Z one', '2026-12-01T10:00:00.200000000Z two'],
      // Reopened from the last line's second: the API repeats what it already sent.
      ['2026-12-01T10:00:00.100000000Z one', '2026-12-01T10:00:00.200000000Z two', '2026-12-01T10:00:01.000000000Z three'],
    ]);
    const { lines, follower } = follow(logs, { ended: false, retryMs: 10, maxRetryMs: 80 });
    await new Promise((r) => setTimeout(r, 600));
    follower.stop();
    await follower.done;
    expect(lines).toEqual(['one', 'two', 'three']);
    expect(opens[1]?.sinceTime).toBe('2026-12-01T10:00:00Z');
    // Without the backoff a 10 ms pause would open about 60 streams in 600 ms; with it, the pauses grow to 80 ms.
    expect(opens.length).toBeLessThan(15);
    const gaps = opens.slice(1).map((open, i) => open.at - opens[i]!.at);
    expect(gaps.at(-1)).toBeGreaterThanOrEqual(70);
  });

  it('stops after the stream read once the container ended', async () => {
    const { logs, opens } = endpoint([['2026-12-01T10:00:00.000000000Z last words']]);
    const { lines, follower } = follow(logs, { ended: true });
    await follower.done;
    expect(lines).toEqual(['last words']);
    expect(opens).toHaveLength(1);
  });
});
