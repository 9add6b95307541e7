/**
 * Consumes provider events and log lines from JetStream through the durable
 * consumer all gateway replicas share, and applies them. A message is acked
 * only after the store write, so a gateway that dies mid-way loses nothing.
 */
import type { Logger } from '../../shared/logger.js';
import { jobEventSchema, logEventSchema } from '../../shared/protocol.js';
import type { Closable, Transport } from '../../shared/transport.js';
import type { GatewayMetrics } from '../metrics.js';
import type { Orchestrator } from './orchestrator.js';

export async function startEventConsumer(options: {
  transport: Transport;
  orchestrator: Orchestrator;
  metrics: GatewayMetrics;
  logger: Logger;
}): Promise<Closable> {
  const { transport, orchestrator, metrics, logger } = options;
  const logsRoot = `${transport.subjects.prefix}.v1.logs.`;
  return transport.consumeDurable(async (body, subject) => {
    if (subject.startsWith(logsRoot)) {
      const parsed = logEventSchema.safeParse(body);
      if (!parsed.success) {
        // Garbage is dropped (acked), never redelivered forever.
        metrics.eventsApplied.inc({ kind: 'log', outcome: 'invalid' });
        logger.warn({ subject, issues: parsed.error.issues.slice(0, 3) }, 'dropped a log event that does not follow the protocol');
        return;
      }
      metrics.eventsApplied.inc({ kind: 'log', outcome: await orchestrator.applyLogEvent(parsed.data) });
      return;
    }
    const parsed = jobEventSchema.safeParse(body);
    if (!parsed.success) {
      metrics.eventsApplied.inc({ kind: 'job', outcome: 'invalid' });
      logger.warn({ subject, issues: parsed.error.issues.slice(0, 3) }, 'dropped a job event that does not follow the protocol');
      return;
    }
    metrics.eventsApplied.inc({ kind: 'job', outcome: await orchestrator.applyJobEvent(parsed.data) });
  });
}
