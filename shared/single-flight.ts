/**
 * At most one run per key at a time: a caller for a key already in flight
 * shares its promise instead of starting the work again (a repeated create,
 * a poll or charging round that is still going).
 */
export interface SingleFlight<T> {
  run(key: string, work: () => Promise<T>): Promise<T>;
  /** Resolves once the key's run, if any, has settled, whatever its outcome. */
  settled(key: string): Promise<void>;
  /** Resolves once every run has settled. */
  allSettled(): Promise<void>;
}

export function createSingleFlight<T>(): SingleFlight<T> {
  const inFlight = new Map<string, Promise<T>>();
  return {
    run(key, work) {
      const running = inFlight.get(key);
      if (running) return running;
      const started = work().finally(() => inFlight.delete(key));
      inFlight.set(key, started);
      return started;
    },
    async settled(key) {
      await inFlight.get(key)?.catch(() => undefined);
    },
    async allSettled() {
      await Promise.all([...inFlight.values()].map((p) => p.catch(() => undefined)));
    },
  };
}
