/** Timing helpers: samples of durations in milliseconds and their percentiles. */

/** Summary of a latency sample, in milliseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

/** Nearest-rank percentile of an ascending sample. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** The nearest-rank median of a sample in any order. */
export const median = (values: readonly number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );

export function summarize(samplesMs: readonly number[]): LatencySummary {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const sum = sorted.reduce((total, x) => total + x, 0);
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    mean: sorted.length ? sum / sorted.length : Number.NaN,
    min: sorted[0] ?? Number.NaN,
    max: sorted.at(-1) ?? Number.NaN,
  };
}

/**
 * Runs `fn` `warmup` times untimed, then `count` times one after another,
 * timing each call. Sequential on purpose: these are latencies, not throughput.
 */
export async function measure(
  count: number,
  fn: (i: number) => Promise<unknown>,
  warmup = Math.min(50, Math.ceil(count / 10)),
): Promise<LatencySummary> {
  for (let i = 0; i < warmup; i++) await fn(-1 - i);
  const samples: number[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await fn(i);
    samples[i] = performance.now() - started;
  }
  return summarize(samples);
}

/**
 * Like {@link measure} for several calls compared with each other: round after round, each
 * call once (in turns, starting with a different one each round), so that whatever else loads the
 * machine meanwhile falls on all of them alike.
 */
export async function measureAlternating(count: number, fns: readonly (() => Promise<unknown>)[], warmup = 20): Promise<LatencySummary[]> {
  const samples = fns.map(() => [] as number[]);
  for (let round = -warmup; round < count; round++) {
    for (let k = 0; k < fns.length; k++) {
      const i = (k + Math.max(round, 0)) % fns.length;
      const started = performance.now();
      await fns[i]!();
      if (round >= 0) samples[i]!.push(performance.now() - started);
    }
  }
  return samples.map(summarize);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it is truthy, or fails naming `what`. */
export async function waitFor<T>(
  check: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** `promise`, or a rejection naming `what` after `ms`; the timer never outlives it. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
