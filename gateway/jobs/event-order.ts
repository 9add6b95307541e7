/**
 * A job's provider events applied in the order its provider published them.
 * Each event names the one the provider published before it (`after`, see
 * shared/protocol.ts). The stream holds them in that order, but a delivery
 * lost with a dying NATS server comes again only after the ack wait, so the
 * consumer can be handed event n+1 before n. Then n+1 waits: the consumer
 * hands it back (the handler throws PredecessorPendingError, a
 * DeliverLaterError) and it comes again a moment later, once n may be in.
 * The wait is bounded, since a predecessor that is never applied (one
 * refused by another replica, or expired from the stream) must not hold the
 * job's story forever.
 */
import { DeliverLaterError } from '../../shared/transport.js';

/** Thrown to have an event delivered again later, after the event it follows. */
export class PredecessorPendingError extends DeliverLaterError {
  constructor(
    readonly eventId: string,
    readonly after: string,
    delayMs: number,
  ) {
    super(`event ${eventId} waits for ${after}, the event before it`, delayMs);
    this.name = 'PredecessorPendingError';
  }
}

/**
 * When a held event comes again: soon at first, since its predecessor is most often being applied
 * by another replica that moment, then as long as it has waited (up to a second), for one that
 * comes only after an ack wait. An end held long would let charging rounds charge past it.
 */
function retryDelay(waitedMs: number): number {
  return Math.min(1_000, Math.max(20, Math.round(waitedMs)));
}

export interface OrderedEvent {
  eventId: string;
  jobId: string;
  after: string | null;
}

export interface EventOrder {
  /**
   * Resolves when the event may be applied: 'ready' when the event before it was handled, 'overdue'
   * when it waited `maxWaitMs` for that in vain. Throws PredecessorPendingError while it must wait.
   */
  admit(event: OrderedEvent): Promise<'ready' | 'overdue'>;
  /**
   * The event was handled here, applied or not (refused, missing): its successor need not wait,
   * nor ask the store (which records only what it applied).
   */
  handled(eventId: string): void;
}

/** Events remembered at most (waiting ones, and handled ones), the oldest forgotten first. */
const REMEMBERED = 10_000;

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > REMEMBERED) map.delete(map.keys().next().value!);
}

export function createEventOrder(options: {
  /** Whether the store applied this event to the job (shared by every gateway replica). */
  applied: (jobId: string, eventId: string) => Promise<boolean>;
  /**
   * How long an event waits for the one before it. Longer than the ack wait plus a JetStream
   * leader election, the time a lost delivery takes to come again.
   * @default 30000
   */
  maxWaitMs?: number;
  /** Milliseconds, monotonic. @default performance.now */
  now?: () => number;
}): EventOrder {
  const { applied, maxWaitMs = 30_000, now = () => performance.now() } = options;
  /** Event id → when it was first found waiting here. */
  const waitingSince = new Map<string, number>();
  /** Handled here: most events follow one this process handled, and need no round trip to the store. */
  const handled = new Map<string, true>();

  return {
    async admit({ eventId, jobId, after }) {
      if (after === null || handled.has(after) || (await applied(jobId, after))) {
        waitingSince.delete(eventId);
        return 'ready';
      }
      const since = waitingSince.get(eventId);
      if (since === undefined) remember(waitingSince, eventId, now());
      else if (now() - since >= maxWaitMs) {
        waitingSince.delete(eventId);
        return 'overdue';
      }
      throw new PredecessorPendingError(eventId, after, retryDelay(since === undefined ? 0 : now() - since));
    },
    handled(eventId) {
      remember(handled, eventId, true);
    },
  };
}
