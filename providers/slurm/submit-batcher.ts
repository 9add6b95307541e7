/**
 * Submit slots that gather what waits for them: at most `slots` submissions
 * run at once (sbatch processes), and the items that wait for a slot while
 * they are all taken go together when one frees, as one batch of the items
 * that share the first waiter's key (one Slurm job array, for the Slurm
 * driver). An item that finds a slot free goes alone at once, as it would
 * without batching: batching never delays a submission, it only fills a
 * slot it had to wait for anyway. Pure scheduling: what a batch does is the
 * caller's `submit`.
 */

export interface SubmitBatcherOptions<T, R> {
  /** Submissions at once. */
  slots: number;
  /** Items in one batch at most (1: every item alone, and nothing is gathered). */
  maxBatch: number;
  /** How long the items of a burst gather before they go (0: they go as soon as a slot is free). @default 0 */
  gatherMs?: number;
  /** Items of one key may go together. */
  key(item: T): string;
  /** Submit a batch; answers one outcome per item, in order (an item's own error, or its result). */
  submit(items: T[]): Promise<Array<PromiseSettledResult<R>>>;
}

export interface SubmitBatcher<T, R> {
  /** Submit an item in its turn, alone or in a batch; resolves with its own outcome. */
  submit(item: T): Promise<R>;
  /** Items waiting for a slot now. */
  readonly waiting: number;
}

interface Waiter<T, R> {
  item: T;
  key: string;
  resolve(value: R): void;
  reject(error: unknown): void;
}

export function createSubmitBatcher<T, R>(options: SubmitBatcherOptions<T, R>): SubmitBatcher<T, R> {
  const slots = Math.max(1, Math.floor(options.slots));
  const maxBatch = Math.max(1, Math.floor(options.maxBatch));
  const gatherMs = maxBatch > 1 ? Math.max(0, options.gatherMs ?? 0) : 0;
  let running = 0;
  /** performance.now() of the last item to arrive; a monotonic reading, for an interval only. */
  let lastArrival = -Infinity;
  /** Set while a burst gathers: nothing goes until it fires. */
  let gathering: ReturnType<typeof setTimeout> | null = null;
  /** First come first served; a batch takes the first waiter and those after it with its key. */
  let queue: Array<Waiter<T, R>> = [];

  const take = (): Array<Waiter<T, R>> => {
    const first = queue[0]!;
    const batch: Array<Waiter<T, R>> = [];
    const rest: Array<Waiter<T, R>> = [];
    for (const waiter of queue) {
      if (batch.length < maxBatch && waiter.key === first.key) batch.push(waiter);
      else rest.push(waiter);
    }
    queue = rest;
    return batch;
  };

  const send = async (batch: Array<Waiter<T, R>>) => {
    running += 1;
    try {
      const outcomes = await options
        .submit(batch.map((w) => w.item))
        .catch((error: unknown) => batch.map((): PromiseSettledResult<R> => ({ status: 'rejected', reason: error })));
      batch.forEach((waiter, index) => {
        const outcome = outcomes[index];
        if (outcome?.status === 'fulfilled') waiter.resolve(outcome.value);
        else waiter.reject(outcome ? outcome.reason : new Error('the submission answered no outcome for this item'));
      });
    } finally {
      running -= 1;
      pump();
    }
  };

  const pump = () => {
    if (gathering !== null) return;
    while (running < slots && queue.length > 0) void send(take());
  };

  const arrive = () => {
    const now = performance.now();
    const inBurst = now - lastArrival < gatherMs;
    lastArrival = now;
    if (!inBurst || gathering !== null) return pump();
    gathering = setTimeout(() => {
      gathering = null;
      pump();
    }, gatherMs);
  };

  return {
    submit(item) {
      return new Promise<R>((resolve, reject) => {
        queue.push({ item, key: options.key(item), resolve, reject });
        arrive();
      });
    },
    get waiting() {
      return queue.length;
    },
  };
}
