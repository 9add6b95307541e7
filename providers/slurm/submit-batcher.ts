/**
 * Submit slots that gather what waits for them: at most `slots` submissions
 * run at once (sbatch processes), and the items that wait for a slot go
 * together when one frees, as one batch of the items that share the first
 * waiter's key (one Slurm job array, for the Slurm driver).
 *
 * An item may be announced before it is ready (`prepare`: the driver still
 * writes its record and script). When more items are ready or being
 * prepared than the free slots take, those that are ready wait for the
 * others, for at most `gatherMs` from the first to wait, so that a bulk
 * create whose jobs are prepared side by side goes as one batch, not as one
 * submission per job while slots happen to be free. Items that the free
 * slots take all go alone the moment they are ready, as without batching:
 * a lone create, a few at once, or creates one after another are never
 * held. Pure scheduling: what a batch does is the caller's `submit`.
 */

export interface SubmitBatcherOptions<T, R> {
  /** Submissions at once. */
  slots: number;
  /** Items in one batch at most (1: every item alone, and nothing is gathered). */
  maxBatch: number;
  /** The longest ready items wait for announced ones still being prepared (0: they never wait). @default 0 */
  gatherMs?: number;
  /** Items of one key may go together. */
  key(item: T): string;
  /** Submit a batch; answers one outcome per item, in order (an item's own error, or its result). */
  submit(items: T[]): Promise<Array<PromiseSettledResult<R>>>;
}

/** An item announced before it is ready: exactly one of its two methods is called. */
export interface PreparedSubmission<T, R> {
  /** It is ready: submit it in its turn. */
  submit(item: T): Promise<R>;
  /** It will not come (its preparation failed). */
  abandon(): void;
}

export interface SubmitBatcher<T, R> {
  /** Submit an item in its turn, alone or in a batch; resolves with its own outcome. */
  submit(item: T): Promise<R>;
  /** Announce an item that is still being prepared, so that ready ones gather with it. */
  prepare(): PreparedSubmission<T, R>;
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
  /** Announced and not yet submitted or abandoned. */
  let preparing = 0;
  /** Set while ready items wait for those being prepared: ends at the latest gatherMs after the first waited. */
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

  const stopGathering = () => {
    if (gathering === null) return;
    clearTimeout(gathering);
    gathering = null;
  };

  const pump = () => {
    if (gathering !== null) return;
    while (running < slots && queue.length > 0) void send(take());
  };

  /** Something arrived or was abandoned: go now, or gather while more is being prepared than the free slots take. */
  const settle = () => {
    if (preparing === 0 || gatherMs === 0 || queue.length + preparing <= slots - running) {
      stopGathering();
      return pump();
    }
    if (gathering !== null || queue.length === 0) return;
    gathering = setTimeout(() => {
      gathering = null;
      pump();
    }, gatherMs);
  };

  const enqueue = (item: T) =>
    new Promise<R>((resolve, reject) => {
      queue.push({ item, key: options.key(item), resolve, reject });
      settle();
    });

  return {
    submit: enqueue,
    prepare() {
      preparing += 1;
      let done = false;
      const finish = () => {
        if (done) throw new Error('a prepared submission is submitted or abandoned once');
        done = true;
        preparing -= 1;
      };
      return {
        submit(item) {
          finish();
          return enqueue(item);
        },
        abandon() {
          finish();
          settle();
        },
      };
    },
    get waiting() {
      return queue.length;
    },
  };
}
