/**
 * The job layer on the gateway's side, composed from its concerns: submission
 * (validate, route, store as IN_QUEUE before answering, send), the waiting
 * room, user actions, provider events, reconciliation and the charges events
 * cause. Every change goes through one changer that fans it out to followers.
 */
import type { Clock } from '../../shared/clock.js';
import type { Job, JobOrigin } from '../../shared/domain.js';
import type { Logger } from '../../shared/logger.js';
import { BOOTSTRAP_ADMIN, viewerOf, type Viewer } from '../access/auth.js';
import type { Accounting } from '../accounting/accounting.js';
import type { GatewayMetrics } from '../metrics.js';
import type { ProviderRegistry } from '../registry/provider-registry.js';
import type { UtilizationCache } from '../registry/utilization-cache.js';
import type { PlacementContext } from '../routing/placement.js';
import { createQuotaGate, type QuotaGate } from '../routing/quota-gate.js';
import type { ChargeableJob, Store } from '../store/store.js';
import type { ItemOutcome } from './bulk.js';
import { createJobActions, type JobActions } from './job-actions.js';
import { createJobChanger } from './job-changes.js';
import { createJobCharges } from './job-charges.js';
import { createJobEvents, type JobEvents } from './job-events.js';
import type { JobFeed } from './job-feed.js';
import { createJobQueries, type JobQueries } from './job-queries.js';
import type { JobSpecificationInput } from './job-specification.js';
import { createJobSubmission } from './job-submission.js';
import { createReclaim } from './reclaim.js';
import { createReconciliation, type Reconciliation } from './reconciliation.js';
import { createWaitingRoom, type WaitingRoom } from './waiting-room.js';

export interface OrchestratorOptions {
  store: Store;
  registry: ProviderRegistry;
  utilization: UtilizationCache;
  feed: JobFeed;
  clock: Clock;
  logger: Logger;
  metrics: GatewayMetrics;
  /** Credits: required to create jobs, charged as they run. */
  accounting?: Accounting;
  /** How long one call to a provider may take (the registry's timeout), which bounds how long a replica holds a job it sends. @default 5000 */
  providerTimeoutMs?: number;
  /**
   * How often every provider that is up is asked for the jobs the gateway thinks are active there,
   * to catch what no event said (an event lost with a provider, a final state missed). 0: only when
   * a provider (re)appears. @default 15000
   */
  reconcileIntervalMs?: number;
}

export interface Orchestrator extends JobActions, JobQueries, JobEvents, Omit<Reconciliation, 'start' | 'stop'> {
  /** `origin`: the schedule or service the jobs are made for (absent: the viewer's own request). */
  createJobs(viewer: Viewer, inputs: JobSpecificationInput[], origin?: JobOrigin): Promise<ItemOutcome<Job>[]>;
  /** Starts periodic reconciliation (see {@link OrchestratorOptions.reconcileIntervalMs}). */
  start(): void;
  stop(): Promise<void>;
  /** Jobs waiting at the gateway for capacity. */
  readonly waitingRoom: WaitingRoom;
  /** Holds jobs to their workspace's quotas. */
  readonly quotas: QuotaGate;
  /**
   * Stop jobs whose wallet ran dry, as their backend allows: processes and
   * containers are terminated, virtual machines suspended (their disks survive).
   */
  stopForNoCredits(jobs: readonly ChargeableJob[]): Promise<void>;
}

export function createOrchestrator(options: OrchestratorOptions): Orchestrator {
  const { store, registry, feed, clock, logger, metrics, accounting } = options;
  const quotas = createQuotaGate(store, clock);
  const change = createJobChanger(store, feed, quotas);
  const requireFunds: PlacementContext['requireFunds'] =
    accounting && ((owner, product, providerId) => accounting.requireFunds(owner, product, providerId));
  // Reclaimed jobs end through the same terminate path as a user's, as an administrator.
  const reclaimer = viewerOf({ username: BOOTSTRAP_ADMIN, admin: true }, []);
  const reclaim = createReclaim({ store, clock, logger, terminate: (ids, reason) => actions.terminateJobs(reclaimer, ids, reason) });
  const submission = createJobSubmission({
    ...options,
    change,
    quotas,
    reclaim,
    requireFunds,
    canPay: accounting && ((owner, product, providerId) => accounting.canPay(owner, product, providerId)),
  });
  const waitingRoom = createWaitingRoom({ ...options, submission, change, quotas, reclaim });
  const charges = createJobCharges({ registry, accounting, change, clock, logger });
  const reconciliation = createReconciliation({ store, registry, change, charges, clock, logger, intervalMs: options.reconcileIntervalMs });
  const actions = createJobActions({ store, registry, waitingRoom, change, clock, requireFunds });
  const events = createJobEvents({ store, registry, feed, change, charges, clock, logger, metrics });
  const queries = createJobQueries(store);

  return {
    ...actions,
    ...queries,
    ...events,
    createJobs: (viewer, inputs, origin) => submission.createJobs(viewer, inputs, origin),
    reconcile: reconciliation.reconcile,
    providerLost: reconciliation.providerLost,
    start: () => reconciliation.start(),
    stop: async () => {
      await reconciliation.stop();
      await submission.settled();
    },
    waitingRoom,
    quotas,
    stopForNoCredits: charges.stopForNoCredits,
  };
}
