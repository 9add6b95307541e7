/**
 * The simulation's agenda: wake-ups ordered by virtual time, then by the order
 * they were put on it, in a binary min-heap. A wake-up carries its job's
 * generation, so one made stale by a later reschedule is recognised and skipped.
 */

export interface Wakeup {
  /** Virtual time it falls due. */
  at: number;
  /** Insertion order: of two wake-ups at one time, the first put on the agenda runs first. */
  seq: number;
  jobId: string;
  generation: number;
}

export interface Agenda {
  readonly size: number;
  /** The earliest wake-up, left on the agenda. */
  peek(): Wakeup | undefined;
  push(item: Wakeup): void;
  /** Take the earliest wake-up off the agenda. */
  pop(): Wakeup | undefined;
}

function earlier(a: Wakeup, b: Wakeup): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

export function createAgenda(): Agenda {
  const heap: Wakeup[] = [];
  const swap = (i: number, j: number) => {
    const item = heap[i]!;
    heap[i] = heap[j]!;
    heap[j] = item;
  };
  return {
    get size() {
      return heap.length;
    },
    peek: () => heap[0],
    push(item) {
      heap.push(item);
      let i = heap.length - 1;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!earlier(heap[i]!, heap[parent]!)) break;
        swap(i, parent);
        i = parent;
      }
    },
    pop() {
      const top = heap[0];
      const last = heap.pop();
      if (heap.length > 0 && last) {
        heap[0] = last;
        let i = 0;
        for (;;) {
          const left = 2 * i + 1;
          const right = left + 1;
          let smallest = i;
          if (left < heap.length && earlier(heap[left]!, heap[smallest]!)) smallest = left;
          if (right < heap.length && earlier(heap[right]!, heap[smallest]!)) smallest = right;
          if (smallest === i) break;
          swap(i, smallest);
          i = smallest;
        }
      }
      return top;
    },
  };
}
