/**
 * At most `max` runs at a time; the others wait their turn, first come first
 * served. Slurm's commands run through these (command-runner.ts), so that a
 * burst of submissions reaches slurmctld as many at once as a person would
 * send it (`xargs -P 16 sbatch`), however many creates are under way. Node
 * built-ins only: the command runner process runs this too.
 */
export interface ConcurrencyLimit {
  /** Run `work` in its turn; `waiting` is called first when it has to wait for one. */
  run<T>(work: () => Promise<T>, waiting?: () => void): Promise<T>;
}

export function createConcurrencyLimit(max: number): ConcurrencyLimit {
  const limit = Math.max(1, max);
  let running = 0;
  const queue: Array<() => void> = [];
  return {
    async run(work, waiting) {
      if (running >= limit) {
        waiting?.();
        await new Promise<void>((resolve) => queue.push(resolve));
      } else running += 1;
      try {
        return await work();
      } finally {
        // The turn passes to the next in line as it is; only with nobody waiting is it given up.
        const next = queue.shift();
        if (next) next();
        else running -= 1;
      }
    },
  };
}
