/**
 * Applying what providers report: a job event goes through the store's
 * compare-and-set (which also checks that it comes from the job's provider),
 * then charges a job that ended; log lines are appended once per event id.
 * An event the state machine refuses may reveal a job running where it should
 * not (a create that arrived after the gateway ended or moved the job): that
 * provider is told to stop it.
 */
import type { Clock } from '../../shared/clock.js';
import { isFinalState, JOB_STATES } from '../../shared/job-state-machine.js';
import type { Logger } from '../../shared/logger.js';
import type { JobEvent, LogEvent } from '../../shared/protocol.js';
import type { GatewayMetrics } from '../metrics.js';
import type { ProviderRegistry } from '../registry/provider-registry.js';
import type { ChangeOutcome, Store } from '../store/store.js';
import type { ChangeJob } from './job-changes.js';
import { endOf, type JobCharges } from './job-charges.js';
import type { JobFeed } from './job-feed.js';

const ACTIVE_STATES = JOB_STATES.filter((state) => !isFinalState(state));

export interface JobEvents {
  applyJobEvent(event: JobEvent): Promise<ChangeOutcome['kind']>;
  applyLogEvent(event: LogEvent): Promise<'applied' | 'missing' | 'refused'>;
}

export function createJobEvents(options: {
  store: Store;
  registry: ProviderRegistry;
  feed: JobFeed;
  change: ChangeJob;
  charges: JobCharges;
  clock: Clock;
  logger: Logger;
  metrics: GatewayMetrics;
}): JobEvents {
  const { store, registry, feed, change, charges, clock, logger, metrics } = options;
  const stopAt = (providerId: string, jobId: string, reason: string) => registry.get(providerId)?.client.terminateInBackground([jobId], reason);

  return {
    async applyJobEvent(event) {
      // One round trip: the store checks the provider with the rest of the compare-and-set.
      const outcome = await change(event.jobId, {
        eventId: event.eventId,
        expectProvider: event.providerId,
        // A status line or an end that comes after the job ended (reconciliation told its end first) is
        // stale: its followers are gone, the story ends with the final state, and its charge is made.
        expectStates: event.state === null || isFinalState(event.state) ? ACTIVE_STATES : undefined,
        state: event.state ?? undefined,
        status: event.status ?? undefined,
        exitCode: event.exitCode ?? undefined,
        startedAt: event.startedAt ?? undefined,
        expiresAt: event.expiresAt ?? undefined,
        providerGeneratedId: event.providerGeneratedId ?? undefined,
        newTimeAllocation: event.newTimeAllocation ?? undefined,
        timestamp: event.timestamp,
      });
      const active = !!event.state && !isFinalState(event.state);
      if (outcome.kind === 'refused' && outcome.job.providerId === event.providerId && isFinalState(outcome.job.state) && active) {
        // The gateway ended the job (it could not be placed, or was cancelled while it waited) and the
        // provider has it after all: a create that timed out had reached it. Stop it there.
        stopAt(event.providerId, event.jobId, `the job had already ended (${outcome.job.state})`);
      }
      if (outcome.kind === 'refused' && outcome.job.providerId !== event.providerId) {
        logger.warn({ jobId: event.jobId, providerId: event.providerId }, 'refused an event for a job of another provider');
        // A provider that answered a create too late (after failover) runs a job that is not its own: stop it.
        if (active) stopAt(event.providerId, event.jobId, `the job runs on ${outcome.job.providerId}`);
        return 'refused';
      }
      if (outcome.kind === 'applied') metrics.eventLag.observe(Math.max(0, clock.now() - event.timestamp) / 1000);
      if ((outcome.kind === 'applied' || outcome.kind === 'duplicate') && charges.enabled) {
        // A job that ended is charged to its final total now (the last partial unit too), and again
        // on a redelivery: a gateway killed between the store write and the charge, or a charge that
        // failed (it throws, and the event comes again), still charges it once. One that reports its
        // own usage is charged to it. Other running jobs wait for the charging round.
        const job = outcome.job;
        if (isFinalState(job.state)) await charges.chargeNow(job, event.usageUnits, Math.max(event.timestamp, endOf(job, event.timestamp)), true);
        else if (outcome.kind === 'applied' && event.usageUnits !== null) await charges.chargeNow(job, event.usageUnits, event.timestamp);
      }
      if (outcome.kind === 'refused') logger.debug({ jobId: event.jobId, reason: outcome.reason }, 'provider event refused by the state machine');
      return outcome.kind;
    },

    async applyLogEvent(event) {
      const job = await store.getJob(event.jobId);
      if (!job) return 'missing';
      if (job.providerId !== event.providerId) return 'refused';
      await store.appendLogs(job.id, event.lines, event.eventId);
      feed.publish({ jobId: job.id, updates: [], logs: event.lines, status: null });
      return 'applied';
    },
  };
}
