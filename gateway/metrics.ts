/**
 * The gateway's Prometheus metrics, all on one Registry. Labels are bounded:
 * provider, state, verb, outcome, operation type — never a job id or a user.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Why the gateway's edge refused a request before doing its work: a GraphQL limit, the body size, or login throttling. */
export const REFUSAL_REASONS = ['aliases', 'depth', 'tokens', 'directives', 'cost', 'body_size', 'login_throttled'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export interface GatewayMetrics {
  readonly registry: Registry;
  readonly jobs: Gauge<'provider' | 'state'>;
  readonly graphqlDuration: Histogram<'operation_type' | 'outcome'>;
  readonly natsRequestDuration: Histogram<'verb' | 'outcome'>;
  readonly submissions: Counter<'provider' | 'outcome'>;
  readonly routingDecisions: Counter<'provider' | 'outcome'>;
  readonly eventsApplied: Counter<'kind' | 'outcome'>;
  readonly eventLag: Histogram;
  readonly providerUp: Gauge<'provider'>;
  readonly providerCircuitOpen: Gauge<'provider'>;
  readonly requestsRefused: Counter<'reason'>;
  /** Interactive sessions relayed by this replica. */
  readonly sessionsOpen: Gauge<'type'>;
  readonly sessionBytes: Counter<'type' | 'direction'>;
  readonly sessionDuration: Histogram<'type' | 'outcome'>;
  /** Bytes from providers held for clients that have not taken them yet; at most one window per session. */
  readonly sessionBufferedBytes: Gauge;
  /** Sessions whose provider waits for room: their client is behind, so their producer is paused. */
  readonly sessionsWaitingForClient: Gauge;
}

export function createGatewayMetrics(options: { defaultMetrics?: boolean } = {}): GatewayMetrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'switchyard_' });
  return {
    registry,
    jobs: new Gauge({
      name: 'switchyard_jobs',
      help: 'Jobs by provider and state',
      labelNames: ['provider', 'state'],
      registers: [registry],
    }),
    graphqlDuration: new Histogram({
      name: 'switchyard_graphql_operation_duration_seconds',
      help: 'GraphQL operation duration',
      labelNames: ['operation_type', 'outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    natsRequestDuration: new Histogram({
      name: 'switchyard_nats_request_duration_seconds',
      help: 'Duration of requests from the gateway to providers over NATS',
      labelNames: ['verb', 'outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: [registry],
    }),
    submissions: new Counter({
      name: 'switchyard_job_submissions_total',
      help: 'Job submissions by provider and outcome (accepted or an error code)',
      labelNames: ['provider', 'outcome'],
      registers: [registry],
    }),
    routingDecisions: new Counter({
      name: 'switchyard_routing_decisions_total',
      help: 'Routing decisions for jobs given by requirements: routed, failover (moved to the next candidate) or no_capacity',
      labelNames: ['provider', 'outcome'],
      registers: [registry],
    }),
    eventsApplied: new Counter({
      name: 'switchyard_provider_events_total',
      help: 'Provider events consumed, by kind (job, log) and outcome (applied, duplicate, refused, missing, invalid, held: handed back to wait for the event before it)',
      labelNames: ['kind', 'outcome'],
      registers: [registry],
    }),
    eventLag: new Histogram({
      name: 'switchyard_event_lag_seconds',
      help: 'Time from a provider stamping a job event to the gateway applying it',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30],
      registers: [registry],
    }),
    providerUp: new Gauge({
      name: 'switchyard_provider_up',
      help: '1 when the provider heartbeats, 0 when it is down',
      labelNames: ['provider'],
      registers: [registry],
    }),
    providerCircuitOpen: new Gauge({
      name: 'switchyard_provider_circuit_open',
      help: '1 when the provider circuit breaker is open, 0.5 half-open, 0 closed',
      labelNames: ['provider'],
      registers: [registry],
    }),
    requestsRefused: (() => {
      const counter = new Counter({
        name: 'switchyard_requests_refused_total',
        help: `Requests refused at the edge before any work, by reason (${REFUSAL_REASONS.join(', ')})`,
        labelNames: ['reason'],
        registers: [registry],
      });
      // Every reason shows as 0 from the start, so a rate() over it never starts from a missing series.
      for (const reason of REFUSAL_REASONS) counter.inc({ reason }, 0);
      return counter;
    })(),
    sessionsOpen: new Gauge({
      name: 'switchyard_sessions_open',
      help: 'Interactive sessions this gateway relays now, by type',
      labelNames: ['type'],
      registers: [registry],
    }),
    sessionBytes: new Counter({
      name: 'switchyard_session_relayed_bytes_total',
      help: 'Bytes relayed in interactive sessions, by type and direction (to_client, from_client)',
      labelNames: ['type', 'direction'],
      registers: [registry],
    }),
    sessionDuration: new Histogram({
      name: 'switchyard_session_duration_seconds',
      help: 'How long interactive sessions lasted, by type and how they ended',
      labelNames: ['type', 'outcome'],
      buckets: [1, 10, 60, 300, 900, 1800, 3600, 7200, 14_400, 28_800],
      registers: [registry],
    }),
    sessionBufferedBytes: new Gauge({
      name: 'switchyard_session_buffered_bytes',
      help: 'Bytes of interactive sessions received from providers and not yet taken by the clients’ sockets',
      registers: [registry],
    }),
    sessionsWaitingForClient: new Gauge({
      name: 'switchyard_sessions_waiting_for_client',
      help: 'Interactive sessions whose client is a whole window behind: their provider is paused',
      registers: [registry],
    }),
  };
}
