/**
 * Reconciliation: the gateway asks a provider for the state of every job it
 * thinks is active there, to catch what no event said (an event lost with a
 * provider, a final state missed). It runs when a provider (re)appears and
 * periodically for every provider that is up. A provider that stops answering
 * leaves its jobs in their state, with a status line that says so.
 */
import type { Clock } from '../../shared/clock.js';
import type { Job } from '../../shared/domain.js';
import { isFinalState } from '../../shared/job-state-machine.js';
import type { Logger } from '../../shared/logger.js';
import type { JobObservation } from '../../shared/protocol.js';
import { createSingleFlight } from '../../shared/single-flight.js';
import type { ProviderRegistry } from '../registry/provider-registry.js';
import type { Store } from '../store/store.js';
import { chunks, MAX_BULK_ITEMS } from './bulk.js';
import type { ChangeJob } from './job-changes.js';
import { endOf, type JobCharges } from './job-charges.js';

/** A job this young may not have reached its provider yet; reconciliation leaves it alone. */
const RECONCILE_GRACE_MS = 30_000;
/**
 * Periodic reconciliation leaves a job alone this long after its last update: its provider's
 * events are likely on their way, and they tell the story better than an observation.
 */
const RECONCILE_QUIET_MS = 10_000;

export interface Reconciliation {
  /**
   * Ask a provider for the state of every job the gateway thinks is active there. `quietMs`: leave
   * alone jobs whose last update is younger (their events are likely on their way).
   */
  reconcile(providerId: string, options?: { quietMs?: number }): Promise<void>;
  /** A provider stopped answering: its jobs keep their state and get a status line. */
  providerLost(providerId: string): Promise<void>;
  /** Starts periodic reconciliation every `intervalMs` (0: only when a provider (re)appears). */
  start(): void;
  stop(): Promise<void>;
}

export function createReconciliation(options: {
  store: Store;
  registry: ProviderRegistry;
  change: ChangeJob;
  charges: JobCharges;
  clock: Clock;
  logger: Logger;
  /** @default 15000 */
  intervalMs?: number;
}): Reconciliation {
  const { store, registry, change, charges, clock, logger } = options;

  /** Active jobs of a provider that it has confirmed (a job with a waiting record may rightly be unknown to it). */
  const confirmedActive = async (providerId: string) => {
    const waiting = new Set((await store.listWaiting()).map((r) => r.jobId));
    return (await store.activeJobIds(providerId)).filter((id) => !waiting.has(id));
  };

  /** Bring one job in line with what its provider observed; true when that changed it. */
  const settle = async (
    providerId: string,
    instanceId: string,
    observation: JobObservation,
    job: Job | null,
    quietMs: number | undefined,
  ): Promise<boolean> => {
    if (!job || job.providerId !== providerId || isFinalState(job.state)) return false;
    const now = clock.now();
    if (quietMs && now - (job.updates.at(-1)?.timestamp ?? job.createdAt) < quietMs) return false;
    const key = `reconcile:${instanceId}:${job.id}`;
    // Compare-and-set on the state it read: a job its own events moved meanwhile (a backlog
    // draining) keeps their story, and gets no line after its end.
    const expectStates = [job.state];
    let outcome;
    if (observation.state === null) {
      if (now - job.createdAt < RECONCILE_GRACE_MS) return false;
      outcome = await change(
        job.id,
        {
          eventId: key,
          expectStates,
          state: 'FAILURE',
          status: `${providerId} has no record of this job; it was lost while the provider was unavailable`,
          timestamp: now,
        },
        job,
      );
    } else {
      if (observation.state === job.state && observation.exitCode === job.exitCode) return false;
      // The provider's times, kept between what the gateway already knows and now: the job is
      // charged for the time it ran, not for none (both at now) nor past its end.
      // Since its last change of state: a status line (such as "Lost contact") says nothing of when it ran.
      const lastState = job.updates.findLast((update) => update.state !== null);
      const since = Math.max(job.createdAt, lastState?.timestamp ?? job.createdAt);
      const within = (at: number | null | undefined, from: number) => Math.min(now, Math.max(from, at ?? now));
      let endFrom = since;
      // A job that ran and ended while its events were held up (JetStream electing a leader) ran all the
      // same: its story says so before it says how it ended, as its own events would have.
      if (isFinalState(observation.state) && observation.startedAt && job.state === 'IN_QUEUE') {
        const runningAt = within(observation.startedAt, since);
        const started = await change(
          job.id,
          {
            eventId: `${key}:RUNNING`,
            expectStates,
            state: 'RUNNING',
            status: `Started (reconciled with ${providerId})`,
            startedAt: observation.startedAt,
            timestamp: runningAt,
          },
          job,
        );
        if (started.kind === 'missing' || started.kind === 'refused') return false;
        [job, endFrom] = [started.job, runningAt];
      }
      outcome = await change(
        job.id,
        {
          eventId: `${key}:${observation.state}`,
          expectStates: [job.state],
          state: observation.state,
          status: observation.status ?? `State reconciled with ${providerId}`,
          exitCode: observation.exitCode ?? undefined,
          startedAt: observation.startedAt ?? undefined,
          expiresAt: observation.expiresAt ?? undefined,
          providerGeneratedId: observation.providerGeneratedId ?? undefined,
          timestamp: isFinalState(observation.state) ? within(observation.endedAt, endFrom) : now,
        },
        job,
      );
    }
    // No event will charge a job whose end only reconciliation saw: charge it to its end now.
    if (outcome.kind === 'applied' && isFinalState(outcome.job.state)) {
      await charges
        .chargeNow(outcome.job, null, Math.max(now, endOf(outcome.job, now)), true)
        .catch((error: unknown) => logger.warn({ jobId: job.id, err: error }, 'could not charge a job that reconciliation ended'));
    }
    return true;
  };

  const reconcile = async (providerId: string, { quietMs }: { quietMs?: number } = {}): Promise<void> => {
    const entry = registry.get(providerId);
    if (!entry) return;
    const ids = await confirmedActive(providerId);
    let changed = 0;
    for (const part of chunks(ids, MAX_BULK_ITEMS)) {
      let observed;
      try {
        observed = await entry.client.call('jobs.reconcile', { ids: part });
      } catch (error) {
        logger.warn({ providerId, err: error }, 'reconciliation failed; the next pass, or the provider’s return, tries again');
        return;
      }
      const jobs = await store.getJobs(observed.jobs.map((o) => o.id));
      const settled = await Promise.all(
        observed.jobs.map((observation, k) => settle(providerId, entry.instanceId, observation, jobs[k] ?? null, quietMs)),
      );
      changed += settled.filter(Boolean).length;
    }
    logger.info({ providerId, jobs: ids.length, changed }, 'reconciled provider jobs');
  };

  let timer: NodeJS.Timeout | null = null;
  const rounds = createSingleFlight<void>();
  /** One pass over every provider that is up; a provider that is down or failing is reconciled when it returns. */
  const reconcileAll = () =>
    rounds.run('all', async () => {
      for (const entry of registry.list()) {
        if (registry.status(entry) !== 'UP' || !entry.manifest) continue;
        await reconcile(entry.id, { quietMs: RECONCILE_QUIET_MS }).catch((error: unknown) =>
          logger.warn({ providerId: entry.id, err: error }, 'periodic reconciliation failed'),
        );
      }
    });

  return {
    reconcile,
    start() {
      const interval = options.intervalMs ?? 15_000;
      if (interval <= 0) return;
      timer = setInterval(() => void reconcileAll(), interval);
      // unref: reconciliation alone must not keep the process alive.
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      await rounds.allSettled();
    },
    async providerLost(providerId) {
      const ids = await confirmedActive(providerId);
      const now = clock.now();
      await Promise.all(
        ids.map((id) =>
          change(id, {
            eventId: `lost:${providerId}:${now}`,
            status: `Lost contact with ${providerId}; the job keeps its state until the provider is reachable again`,
            timestamp: now,
          }),
        ),
      );
    },
  };
}
