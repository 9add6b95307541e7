/**
 * Consumes provider events and log lines from JetStream through the durable
 * consumer all gateway replicas share, and applies them. A message is acked
 * only after the store write, so a gateway that dies mid-way loses nothing.
 * A job's events are applied in the order its provider published them: one
 * that comes before the event it follows is handed back (event-order.ts).
 */
import type { Logger } from '../../shared/logger.js';
import { jobEventSchema, logEventSchema } from '../../shared/protocol.js';
import type { Closable, Transport } from '../../shared/transport.js';
import type { GatewayMetrics } from '../metrics.js';
import type { Store } from '../store/store.js';
import { createEventOrder, PredecessorPendingError, type OrderedEvent } from './event-order.js';
import type { Orchestrator } from './orchestrator.js';

export async function startEventConsumer(options: {
  transport: Transport;
  orchestrator: Orchestrator;
  store: Pick<Store, 'hasEvent'>;
  metrics: GatewayMetrics;
  logger: Logger;
  /** How long an event waits for the one before it (see event-order.ts). */
  maxOrderWaitMs?: number;
}): Promise<Closable> {
  const { transport, orchestrator, store, metrics, logger } = options;
  const logsRoot = `${transport.subjects.prefix}.v1.logs.`;
  const order = createEventOrder({ applied: (jobId, eventId) => store.hasEvent(jobId, eventId), maxWaitMs: options.maxOrderWaitMs });
  const admit = async (kind: 'job' | 'log', event: OrderedEvent) => {
    try {
      if ((await order.admit(event)) === 'overdue') {
        logger.warn({ jobId: event.jobId, eventId: event.eventId, after: event.after }, 'applied an event whose predecessor never came');
      }
    } catch (error) {
      if (error instanceof PredecessorPendingError) metrics.eventsApplied.inc({ kind, outcome: 'held' });
      throw error;
    }
  };
  const handled = (eventId: string, outcome: string) => {
    order.handled(eventId);
    return outcome;
  };
  return transport.consumeDurable(async (body, subject) => {
    if (subject.startsWith(logsRoot)) {
      const parsed = logEventSchema.safeParse(body);
      if (!parsed.success) {
        // Garbage is dropped (acked), never redelivered forever.
        metrics.eventsApplied.inc({ kind: 'log', outcome: 'invalid' });
        logger.warn({ subject, issues: parsed.error.issues.slice(0, 3) }, 'dropped a log event that does not follow the protocol');
        return;
      }
      await admit('log', parsed.data);
      metrics.eventsApplied.inc({ kind: 'log', outcome: handled(parsed.data.eventId, await orchestrator.applyLogEvent(parsed.data)) });
      return;
    }
    const parsed = jobEventSchema.safeParse(body);
    if (!parsed.success) {
      metrics.eventsApplied.inc({ kind: 'job', outcome: 'invalid' });
      logger.warn({ subject, issues: parsed.error.issues.slice(0, 3) }, 'dropped a job event that does not follow the protocol');
      return;
    }
    await admit('job', parsed.data);
    metrics.eventsApplied.inc({ kind: 'job', outcome: handled(parsed.data.eventId, await orchestrator.applyJobEvent(parsed.data)) });
  });
}
