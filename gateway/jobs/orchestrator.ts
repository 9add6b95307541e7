/**
 * The job lifecycle on the gateway's side: validate, store as IN_QUEUE before
 * answering, call the provider through its breaker, apply provider events and
 * reconcile, and fan every change out to followers.
 */
import type { Clock } from '../../shared/clock.js';
import type { Job, Product } from '../../shared/domain.js';
import {
  ForbiddenError,
  InvalidInputError,
  InvalidStateError,
  NotFoundError,
  SwitchyardError,
  toErrorBody,
  UnsupportedError,
  type ErrorBody,
} from '../../shared/errors.js';
import { isFinalState, type JobState } from '../../shared/job-state-machine.js';
import type { Logger } from '../../shared/logger.js';
import { extendResultSchema, itemResultsSchema, observationsResultSchema, type JobEvent, type LogEvent } from '../../shared/protocol.js';
import { createSingleFlight } from '../../shared/single-flight.js';
import type { ProviderVerb } from '../../shared/subjects.js';
import type { Viewer } from '../access/auth.js';
import type { Accounting } from '../accounting/accounting.js';
import type { GatewayMetrics } from '../metrics.js';
import type { ProviderRegistry } from '../registry/provider-registry.js';
import type { UtilizationCache } from '../registry/utilization-cache.js';
import type { ChangeOutcome, JobPage, JobQuery, Store } from '../store/store.js';
import { createJobChanger } from './job-changes.js';
import type { JobFeed } from './job-feed.js';
import { durationInputToMs, formatDuration, type DurationInput, type JobSpecificationInput } from './job-specification.js';
import { chunks, createJobSubmission, MAX_BULK_ITEMS, type ItemOutcome } from './job-submission.js';
import { createWaitingRoom, type WaitingRoom } from './waiting-room.js';

export const MAX_PAGE_SIZE = 500;
/** A job this young may not have reached its provider yet; reconciliation leaves it alone. */
const RECONCILE_GRACE_MS = 30_000;
/**
 * Periodic reconciliation leaves a job alone this long after its last update: its provider's
 * events are likely on their way, and they tell the story better than an observation.
 */
const RECONCILE_QUIET_MS = 10_000;

export { MAX_BULK_ITEMS, type ItemOutcome };

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

export interface JobListInput {
  createdBy?: string[] | null;
  states?: JobState[] | null;
  providers?: string[] | null;
  productIds?: string[] | null;
  productCategories?: string[] | null;
  application?: string | null;
  name?: string | null;
  tags?: string[] | null;
  project?: string | null;
  createdAfter?: number | null;
  createdBefore?: number | null;
  ids?: string[] | null;
}

export interface Orchestrator {
  createJobs(viewer: Viewer, inputs: JobSpecificationInput[]): Promise<ItemOutcome<Job>[]>;
  terminateJobs(viewer: Viewer, ids: string[]): Promise<ItemOutcome<true>[]>;
  extendJobs(viewer: Viewer, items: { jobId: string; requestedTime: DurationInput }[]): Promise<ItemOutcome<true>[]>;
  suspendJobs(viewer: Viewer, ids: string[]): Promise<ItemOutcome<true>[]>;
  unsuspendJobs(viewer: Viewer, ids: string[]): Promise<ItemOutcome<true>[]>;
  /** The job or NOT_FOUND, also for another user's job. */
  getJob(viewer: Viewer, id: string): Promise<Job>;
  listJobs(
    viewer: Viewer,
    filter: JobListInput,
    page: { first: number; after?: string | null; order: 'ASC' | 'DESC' },
    extra?: (job: Job) => boolean,
  ): Promise<JobPage>;
  applyJobEvent(event: JobEvent): Promise<ChangeOutcome['kind']>;
  applyLogEvent(event: LogEvent): Promise<'applied' | 'missing' | 'refused'>;
  /**
   * Ask a provider for the state of every job the gateway thinks is active there. `quietMs`: leave
   * alone jobs whose last update is younger (their events are likely on their way).
   */
  reconcile(providerId: string, options?: { quietMs?: number }): Promise<void>;
  /** Starts periodic reconciliation (see {@link OrchestratorOptions.reconcileIntervalMs}). */
  start(): void;
  stop(): Promise<void>;
  /** A provider stopped answering: its jobs keep their state and get a status line. */
  providerLost(providerId: string): Promise<void>;
  /** Jobs waiting at the gateway for capacity. */
  readonly waitingRoom: WaitingRoom;
  /**
   * Stop jobs whose wallet ran dry, as their backend allows: processes and
   * containers are terminated, virtual machines suspended (their disks survive).
   */
  stopForNoCredits(jobs: Job[]): Promise<void>;
}

export function canSee(viewer: Viewer, job: Job): boolean {
  if (viewer.admin || job.owner.createdBy === viewer.username) return true;
  if (job.owner.project && viewer.projects.includes(job.owner.project)) return true;
  return job.acl.some((entry) => entry.entity === viewer.username);
}

export function canEdit(viewer: Viewer, job: Job): boolean {
  if (viewer.admin || job.owner.createdBy === viewer.username) return true;
  if (job.owner.project && viewer.projects.includes(job.owner.project)) return true;
  return job.acl.some((entry) => entry.entity === viewer.username && entry.permissions.some((p) => p === 'EDIT' || p === 'ADMIN'));
}

function checkBulk(count: number): void {
  if (count > MAX_BULK_ITEMS) throw new InvalidInputError(`at most ${MAX_BULK_ITEMS} items in one call, ${count} given`);
}

function fail(error: unknown): { ok: false; error: ErrorBody } {
  return { ok: false, error: toErrorBody(error) };
}

export function createOrchestrator(options: OrchestratorOptions): Orchestrator {
  const { store, registry, feed, clock, logger, metrics } = options;

  const change = createJobChanger(store, feed);
  const { accounting } = options;
  const submission = createJobSubmission({
    ...options,
    change,
    requireFunds: accounting && ((owner, product, providerId) => accounting.requireFunds(owner, product, providerId)),
    canPay: accounting && ((owner, product, providerId) => accounting.canPay(owner, product, providerId)),
  });
  const waitingRoom = createWaitingRoom({ ...options, submission, change });

  /**
   * Charge a job up to `at` (a provider's event time: never past what the provider has seen).
   * `final`: the job has ended, and no charging round will charge it again, so a charge that could
   * not be made throws, for the caller to try again (the ledger charges a repeat once).
   */
  const chargeNow = async (job: Job, reportedUnits: number | null, at: number, final = false) => {
    if (!accounting) return;
    const product = registry.product(job.providerId, job.specification.product.id);
    if (!product) {
      // A provider announced but whose manifest this replica has not loaded yet (it just started): its price comes soon.
      if (final && registry.get(job.providerId) && !registry.get(job.providerId)!.manifest) {
        throw new SwitchyardError('INTERNAL', `the price of ${job.providerId}/${job.specification.product.id} is not known yet`);
      }
      return;
    }
    try {
      const charge = await accounting.chargeJob(job, product, reportedUnits, at);
      if (charge.shortfall && !isFinalState(job.state)) await stopForNoCredits([job]);
    } catch (error) {
      if (final) throw error;
      // A failed charge never stops a job: the next round charges the same total.
      logger.warn({ jobId: job.id, err: error }, 'charging a job failed; the next round makes it good');
    }
  };

  /** When a final job ended: its first final update (what its usage runs up to). */
  const endOf = (job: Job, fallback: number) => job.updates.find((u) => u.state !== null && isFinalState(u.state))?.timestamp ?? fallback;

  const stopForNoCredits = async (jobs: Job[]) => {
    const byProvider = new Map<string, { terminate: string[]; suspend: string[] }>();
    for (const job of jobs) {
      const product = productOf(job);
      const plan = byProvider.get(job.providerId) ?? { terminate: [], suspend: [] };
      if (product?.support.backend === 'VIRTUAL_MACHINE' && product.support.suspension) {
        if (job.state !== 'SUSPENDED') plan.suspend.push(job.id);
      } else if (job.state !== 'CANCELING') {
        plan.terminate.push(job.id);
      }
      byProvider.set(job.providerId, plan);
    }
    await Promise.all(
      [...byProvider].map(async ([providerId, plan]) => {
        const client = registry.get(providerId)?.client;
        if (!client) return;
        if (plan.terminate.length) {
          await client
            .call('jobs.terminate', { ids: plan.terminate, reason: 'No more credits' }, itemResultsSchema, { background: true })
            .catch((err: unknown) => logger.warn({ providerId, err }, 'could not stop jobs out of credits'));
        }
        if (plan.suspend.length) {
          for (const id of plan.suspend)
            await change(id, { status: 'No more credits: suspending the virtual machine (its disk is kept)', timestamp: clock.now() });
          await client
            .call('jobs.suspend', { ids: plan.suspend }, itemResultsSchema, { background: true })
            .catch((err: unknown) => logger.warn({ providerId, err }, 'could not suspend jobs out of credits'));
        }
      }),
    );
  };

  const loadEditable = async (viewer: Viewer, id: string): Promise<Job> => {
    const job = await store.getJob(id);
    if (!job || !canSee(viewer, job)) throw new NotFoundError('job', id);
    if (!canEdit(viewer, job)) throw new ForbiddenError(`You may read job ${id} but not change it`);
    return job;
  };

  const productOf = (job: Job): Product | undefined => registry.product(job.providerId, job.specification.product.id);

  /**
   * Run one bulk verb: load and check each job, call each provider once with
   * its share, and map the per-item replies back in order.
   */
  const bulkJobVerb = async (
    viewer: Viewer,
    ids: string[],
    verb: ProviderVerb,
    check: (job: Job) => void,
    /** Ends an item at the gateway when it answers true (no provider call for it). */
    handled?: (job: Job) => Promise<boolean>,
  ): Promise<ItemOutcome<true>[]> => {
    checkBulk(ids.length);
    const results: ItemOutcome<true>[] = new Array(ids.length);
    const byProvider = new Map<string, { index: number; job: Job }[]>();
    await Promise.all(
      ids.map(async (id, index) => {
        try {
          const job = await loadEditable(viewer, id);
          check(job);
          if (handled && (await handled(job))) {
            results[index] = { ok: true, value: true };
            return;
          }
          const list = byProvider.get(job.providerId) ?? [];
          list.push({ index, job });
          byProvider.set(job.providerId, list);
        } catch (error) {
          results[index] = fail(error);
        }
      }),
    );
    await Promise.all(
      [...byProvider].map(async ([providerId, items]) => {
        try {
          const entry = registry.require(providerId);
          const reply = await entry.client.call(verb, { ids: items.map((i) => i.job.id) }, itemResultsSchema);
          if (!reply.ok) throw reply.error;
          items.forEach((item, k) => {
            const r = reply.result.results[k];
            results[item.index] = r?.ok
              ? { ok: true, value: true }
              : fail(new SwitchyardError(r?.error?.code ?? 'INTERNAL', r?.error?.message ?? `${providerId} gave no result for this job`));
          });
        } catch (error) {
          for (const item of items) results[item.index] = fail(error);
        }
      }),
    );
    return results;
  };

  const reconcile = async (providerId: string, options: { quietMs?: number } = {}): Promise<void> => {
    const entry = registry.get(providerId);
    if (!entry) return;
    // Jobs with a record at the gateway are not confirmed by the provider yet (waiting, or being sent):
    // the provider may rightly not know them, and the waiting room sends them (again) if need be.
    const waiting = new Set((await store.listWaiting()).map((r) => r.jobId));
    const ids = (await store.activeJobIds(providerId)).filter((id) => !waiting.has(id));
    let changed = 0;
    for (const part of chunks(ids, MAX_BULK_ITEMS)) {
      const reply = await entry.client.call('jobs.reconcile', { ids: part }, observationsResultSchema).catch((error: unknown) => {
        logger.warn({ providerId, err: error }, 'reconciliation failed; the next pass, or the provider’s return, tries again');
        return null;
      });
      if (!reply) return;
      if (!reply.ok) {
        logger.warn({ providerId, error: reply.error.message }, 'provider refused reconciliation');
        return;
      }
      const jobs = await store.getJobs(reply.result.jobs.map((o) => o.id));
      await Promise.all(
        reply.result.jobs.map(async (observation, k) => {
          const job = jobs[k];
          if (!job || job.providerId !== providerId || isFinalState(job.state)) return;
          const now = clock.now();
          if (options.quietMs && now - (job.updates.at(-1)?.timestamp ?? job.createdAt) < options.quietMs) return;
          const key = `reconcile:${entry.instanceId}:${job.id}`;
          let outcome;
          if (observation.state === null) {
            if (now - job.createdAt < RECONCILE_GRACE_MS) return;
            changed += 1;
            outcome = await change(
              job.id,
              {
                eventId: key,
                state: 'FAILURE',
                status: `${providerId} has no record of this job; it was lost while the provider was unavailable`,
                timestamp: now,
              },
              job,
            );
          } else {
            if (observation.state === job.state && observation.exitCode === job.exitCode) return;
            changed += 1;
            outcome = await change(
              job.id,
              {
                eventId: `${key}:${observation.state}`,
                state: observation.state,
                status: observation.status ?? `State reconciled with ${providerId}`,
                exitCode: observation.exitCode ?? undefined,
                startedAt: observation.startedAt ?? undefined,
                expiresAt: observation.expiresAt ?? undefined,
                providerGeneratedId: observation.providerGeneratedId ?? undefined,
                timestamp: now,
              },
              job,
            );
          }
          // No event will charge a job whose end only reconciliation saw: charge it to its end now.
          if (outcome.kind === 'applied' && isFinalState(outcome.job.state)) {
            await chargeNow(outcome.job, null, Math.max(now, endOf(outcome.job, now)), true).catch((error: unknown) =>
              logger.warn({ jobId: job.id, err: error }, 'could not charge a job that reconciliation ended'),
            );
          }
        }),
      );
    }
    logger.info({ providerId, jobs: ids.length, changed }, 'reconciled provider jobs');
  };

  let reconcileTimer: NodeJS.Timeout | null = null;
  const reconcileRounds = createSingleFlight<void>();
  /** One pass over every provider that is up; a provider that is down or failing is reconciled when it returns. */
  const reconcileAll = () =>
    reconcileRounds.run('all', async () => {
      for (const entry of registry.list()) {
        if (registry.status(entry) !== 'UP' || !entry.manifest) continue;
        await reconcile(entry.id, { quietMs: RECONCILE_QUIET_MS }).catch((error: unknown) =>
          logger.warn({ providerId: entry.id, err: error }, 'periodic reconciliation failed'),
        );
      }
    });

  return {
    createJobs: (viewer, inputs) => submission.createJobs(viewer, inputs),
    start() {
      const interval = options.reconcileIntervalMs ?? 15_000;
      if (interval <= 0) return;
      reconcileTimer = setInterval(() => void reconcileAll(), interval);
      // unref: reconciliation alone must not keep the process alive.
      reconcileTimer.unref();
    },
    async stop() {
      if (reconcileTimer) clearInterval(reconcileTimer);
      reconcileTimer = null;
      await reconcileRounds.allSettled();
    },
    waitingRoom,
    stopForNoCredits,

    async terminateJobs(viewer, ids) {
      const notStarted = 'Your job has been terminated before it started';
      const queued = new Map<number, Job>();
      const results = await bulkJobVerb(
        viewer,
        ids,
        'jobs.terminate',
        (job) => {
          if (isFinalState(job.state)) throw new InvalidStateError(job.id, `Job ${job.id} has already ended (${job.state})`);
        },
        // A job still waiting at the gateway ends here: no provider has it.
        async (job) => {
          if (job.state !== 'IN_QUEUE') return false;
          if (await waitingRoom.cancel(job, notStarted)) return true;
          queued.set(ids.indexOf(job.id), job);
          return false;
        },
      );
      // A queued job its provider does not have (its create is still on the way) ends here too: the
      // provider refuses a create of a job it was asked to terminate before it had it.
      await Promise.all(
        [...queued].map(async ([index, job]) => {
          const result = results[index];
          if (result.ok || result.error.code !== 'NOT_FOUND') return;
          const outcome = await change(job.id, { state: 'SUCCESS', status: notStarted, expectStates: ['IN_QUEUE'], timestamp: clock.now() }, job);
          if (outcome.kind === 'applied') results[index] = { ok: true, value: true };
        }),
      );
      return results;
    },

    suspendJobs(viewer, ids) {
      return bulkJobVerb(viewer, ids, 'jobs.suspend', (job) => {
        const product = productOf(job);
        if (product && !product.support.suspension) throw new UnsupportedError(`${job.providerId}/${product.id} does not support suspension`);
        if (job.state !== 'RUNNING' && job.state !== 'IN_QUEUE')
          throw new InvalidStateError(job.id, `Only a running or queued job can be suspended; job ${job.id} is ${job.state}`);
      });
    },

    unsuspendJobs(viewer, ids) {
      return bulkJobVerb(viewer, ids, 'jobs.unsuspend', (job) => {
        if (job.state !== 'SUSPENDED') throw new InvalidStateError(job.id, `Only a suspended job can be resumed; job ${job.id} is ${job.state}`);
      });
    },

    async extendJobs(viewer, items) {
      checkBulk(items.length);
      return Promise.all(
        items.map(async (item): Promise<ItemOutcome<true>> => {
          try {
            const addMs = durationInputToMs(item.requestedTime, 'requestedTime');
            const job = await loadEditable(viewer, item.jobId);
            if (isFinalState(job.state)) throw new InvalidStateError(job.id, `Job ${job.id} has already ended (${job.state})`);
            const product = productOf(job);
            if (product && !product.support.timeExtension)
              throw new UnsupportedError(`${job.providerId}/${product.id} does not support extending jobs`);
            const max = product?.support.maxTimeAllocationMs ?? null;
            const allocated = (job.specification.timeAllocationMs ?? 0) + job.updates.reduce((sum, u) => sum + (u.newTimeAllocation ?? 0), 0);
            if (max !== null && allocated + addMs > max) {
              throw new InvalidInputError(`Extending by ${formatDuration(addMs)} would exceed the maximum time allocation of ${formatDuration(max)}`);
            }
            const reply = await registry.require(job.providerId).client.call('jobs.extend', { items: [{ id: job.id, addMs }] }, extendResultSchema);
            if (!reply.ok) throw reply.error;
            const r = reply.result.results[0];
            if (!r?.ok) throw new SwitchyardError(r?.error?.code ?? 'INTERNAL', r?.error?.message ?? 'no result');
            await change(
              job.id,
              {
                expiresAt: r.expiresAt ?? undefined,
                newTimeAllocation: addMs,
                status: `Time allocation extended by ${formatDuration(addMs)}`,
                timestamp: clock.now(),
              },
              job,
            );
            return { ok: true, value: true };
          } catch (error) {
            return fail(error);
          }
        }),
      );
    },

    async getJob(viewer, id) {
      const job = await store.getJob(id);
      if (!job || !canSee(viewer, job)) throw new NotFoundError('job', id);
      return job;
    },

    async listJobs(viewer, filter, page, extra) {
      if (!Number.isInteger(page.first) || page.first < 1 || page.first > MAX_PAGE_SIZE) {
        throw new InvalidInputError(`first must be between 1 and ${MAX_PAGE_SIZE}`);
      }
      const checks: ((job: Job) => boolean)[] = [];
      let createdBy: string | undefined;
      if (filter.project) {
        if (!viewer.admin && !viewer.projects.includes(filter.project)) throw new ForbiddenError(`You are not a member of project ${filter.project}`);
        const project = filter.project;
        checks.push((job) => job.owner.project === project);
      } else if (!viewer.admin) {
        createdBy = viewer.username;
      }
      if (filter.createdBy?.length) {
        if (filter.createdBy.length === 1 && createdBy === undefined) createdBy = filter.createdBy[0];
        else {
          const set = new Set(filter.createdBy);
          checks.push((job) => set.has(job.owner.createdBy));
        }
      }
      if (filter.ids?.length) {
        const set = new Set(filter.ids);
        checks.push((job) => set.has(job.id));
      }
      if (filter.productIds?.length) {
        const set = new Set(filter.productIds);
        checks.push((job) => set.has(job.specification.product.id));
      }
      if (filter.productCategories?.length) {
        const set = new Set(filter.productCategories);
        checks.push((job) => set.has(job.specification.product.category));
      }
      if (filter.application) checks.push((job) => job.specification.application?.name === filter.application);
      if (filter.name) checks.push((job) => job.specification.name === filter.name);
      if (filter.tags?.length) checks.push((job) => filter.tags!.every((t) => job.specification.tags.includes(t)));
      if (extra) checks.push(extra);
      const query: JobQuery = {
        createdBy,
        states: filter.states?.length ? filter.states : undefined,
        providers: filter.providers?.length ? filter.providers : undefined,
        createdAfter: filter.createdAfter ?? undefined,
        createdBefore: filter.createdBefore ?? undefined,
        order: page.order,
        first: page.first,
        after: page.after ?? undefined,
        predicate: checks.length ? (job) => checks.every((check) => check(job)) : undefined,
      };
      try {
        return await store.listJobs(query);
      } catch (error) {
        if (error instanceof SwitchyardError) throw error;
        if (page.after) throw new InvalidInputError('after: not a cursor from this API');
        throw error;
      }
    },

    async applyJobEvent(event) {
      // One round trip: the store checks the provider with the rest of the compare-and-set.
      const outcome = await change(event.jobId, {
        eventId: event.eventId,
        expectProvider: event.providerId,
        state: event.state ?? undefined,
        status: event.status ?? undefined,
        exitCode: event.exitCode ?? undefined,
        startedAt: event.startedAt ?? undefined,
        expiresAt: event.expiresAt ?? undefined,
        providerGeneratedId: event.providerGeneratedId ?? undefined,
        newTimeAllocation: event.newTimeAllocation ?? undefined,
        timestamp: event.timestamp,
      });
      if (
        outcome.kind === 'refused' &&
        outcome.job.providerId === event.providerId &&
        isFinalState(outcome.job.state) &&
        event.state &&
        !isFinalState(event.state)
      ) {
        // The gateway ended the job (it could not be placed, or was cancelled while it waited) and the
        // provider has it after all: a create that timed out had reached it. Stop it there.
        void registry
          .get(event.providerId)
          ?.client.call('jobs.terminate', { ids: [event.jobId], reason: `the job had already ended (${outcome.job.state})` }, itemResultsSchema, {
            background: true,
          })
          .catch(() => undefined);
      }
      if (outcome.kind === 'refused' && outcome.job.providerId !== event.providerId) {
        logger.warn({ jobId: event.jobId, providerId: event.providerId }, 'refused an event for a job of another provider');
        if (event.state && !isFinalState(event.state)) {
          // A provider that answered a create too late (after failover) runs a job that is not its own: stop it.
          void registry
            .get(event.providerId)
            ?.client.call('jobs.terminate', { ids: [event.jobId], reason: `the job runs on ${outcome.job.providerId}` }, itemResultsSchema, {
              background: true,
            })
            .catch(() => undefined);
        }
        return 'refused';
      }
      if (outcome.kind === 'applied') metrics.eventLag.observe(Math.max(0, clock.now() - event.timestamp) / 1000);
      if ((outcome.kind === 'applied' || outcome.kind === 'duplicate') && accounting) {
        // A job that ended is charged to its final total now (the last partial unit too), and again
        // on a redelivery: a gateway killed between the store write and the charge, or a charge that
        // failed (it throws, and the event comes again), still charges it once. One that reports its
        // own usage is charged to it. Other running jobs wait for the charging round.
        const job = outcome.job;
        if (isFinalState(job.state)) await chargeNow(job, event.usageUnits, Math.max(event.timestamp, endOf(job, event.timestamp)), true);
        else if (outcome.kind === 'applied' && event.usageUnits !== null) await chargeNow(job, event.usageUnits, event.timestamp);
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

    reconcile,

    async providerLost(providerId) {
      const waiting = new Set((await store.listWaiting()).map((r) => r.jobId));
      const ids = (await store.activeJobIds(providerId)).filter((id) => !waiting.has(id));
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
