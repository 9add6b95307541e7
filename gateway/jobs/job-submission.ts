/**
 * Job creation: place each specification (a named product, or routed by its
 * requirements), validate it against the product's support, store it as
 * IN_QUEUE before answering, then hand each provider its share in one call.
 * A routed job whose provider fails or does not answer moves on to the next
 * candidate (failover); one bad item never fails the others.
 */
import { randomUUID } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';

import type { Clock } from '../../shared/clock.js';
import type { Job, JobOrigin, JobSpecification, Product } from '../../shared/domain.js';
import { DuplicateJobError, ProviderUnavailableError, toErrorBody, type ErrorBody } from '../../shared/errors.js';
import { isFinalState } from '../../shared/job-state-machine.js';
import type { Logger } from '../../shared/logger.js';
import type { CreateJob } from '../../shared/protocol.js';
import { NoRespondersError } from '../../shared/transport.js';
import type { Viewer } from '../access/auth.js';
import { checkCanRunIn } from '../access/projects.js';
import { projectFor } from '../access/workspace.js';
import type { GatewayMetrics } from '../metrics.js';
import { itemError } from '../registry/provider-client.js';
import type { ProviderRegistry } from '../registry/provider-registry.js';
import type { UtilizationCache } from '../registry/utilization-cache.js';
import { admitNewJob, placeNewJob, quotaWaitingStatus, reclaimWaitSeconds, unreachableStatus, type PlacementContext } from '../routing/placement.js';
import { createQuotaGate, quotaSubjectOf, type QuotaGate } from '../routing/quota-gate.js';
import type { Candidate } from '../routing/router.js';
import type { CreateOutcome, Store, WaitingRecord } from '../store/store.js';
import { checkBulk, chunks, MAX_BULK_ITEMS, type ItemOutcome } from './bulk.js';
import { publishOutcome, type ChangeJob } from './job-changes.js';
import type { JobFeed } from './job-feed.js';
import { checkSpecificationInput, resolveSpecification, specificationHash, type JobSpecificationInput } from './job-specification.js';
import type { Reclaim } from './reclaim.js';

/** Provider errors worth trying elsewhere; a refusal of the job itself is not. */
const FAILOVER_CODES = new Set(['PROVIDER_UNAVAILABLE', 'INTERNAL', 'NO_CAPACITY']);

export interface SubmissionOptions extends PlacementContext {
  store: Store;
  registry: ProviderRegistry;
  utilization: UtilizationCache;
  feed: JobFeed;
  change: ChangeJob;
  clock: Clock;
  logger: Logger;
  metrics: GatewayMetrics;
  /** How long one call to a provider may take; a replica holds a job it sends for a few of these. @default 5000 */
  providerTimeoutMs?: number;
  /** Gives a project's job the room of its virtual cluster back from borrowers; none: no reclaim. */
  reclaim?: Reclaim;
}

/** One accepted job on its way to a provider, with where it may go next. */
interface Placement {
  index: number;
  job: Job;
  product: Product;
  input: JobSpecificationInput;
  failover: Candidate[];
  /** The job's record in the store, held by this replica while it sends the job. */
  record: WaitingRecord;
  /** An earlier create may have reached the job's current provider: it may not go elsewhere unless that provider lets go. */
  pinned: boolean;
}

/** A job routed, checked and holding its quota, ready to be stored. */
interface Prepared {
  index: number;
  input: JobSpecificationInput;
  job: Job;
  /** Held by this replica from the moment it is stored. */
  record: WaitingRecord;
  placement: Awaited<ReturnType<typeof admitNewJob>>;
}

/** A waiting job the waiting room claimed (its record held by this replica) and found candidates for. */
export interface WaitingPlacement {
  job: Job;
  input: JobSpecificationInput;
  record: WaitingRecord;
  /** Able to take the job now, best first (at least one); a pinned job's only candidate is its own provider. */
  candidates: [Candidate, ...Candidate[]];
  /** The update that says why it goes now. @default "Room became free on <provider>/<product>" */
  status?: string;
}

type FailOver = { kind: 'moved'; item: Placement } | { kind: 'none' } | { kind: 'taken' } | { kind: 'gone'; job: Job };

/**
 * Whether a create that failed this way may still have reached the provider (and may run
 * there): a timeout or a garbled reply may; nobody listening, an open circuit, a provider the
 * gateway does not know or one that answered with an error code did not take it.
 */
function mayHaveReached(error: unknown): boolean {
  if (!(error instanceof ProviderUnavailableError)) return false;
  const cause = error.cause;
  if (cause instanceof NoRespondersError) return false;
  return (cause as { code?: unknown } | undefined)?.code !== 'EOPENBREAKER';
}

/**
 * The gate for the jobs of one createJobs call: each workspace's quotas and the virtual clusters
 * read once for all of them, not once a job (what the call decides on is the limits as they were
 * when it came; each job's hold is still checked and taken atomically in the store). Repair,
 * release and snapshots are the gateway's own gate's.
 */
function sharingReads(gate: QuotaGate, store: Store, clock: Clock): QuotaGate {
  const quotas = new Map<string, ReturnType<Store['listQuotas']>>();
  let clusters: ReturnType<Store['listVirtualClusters']> | null = null;
  const once = createQuotaGate(
    {
      listQuotas: (workspace) => {
        let read = quotas.get(workspace);
        if (!read) quotas.set(workspace, (read = store.listQuotas(workspace)));
        return read;
      },
      listVirtualClusters: () => (clusters ??= store.listVirtualClusters()),
      acquireUsage: (...args) => store.acquireUsage(...args),
      releaseUsage: (...args) => store.releaseUsage(...args),
      readUsage: (...args) => store.readUsage(...args),
      getJobs: (...args) => store.getJobs(...args),
    },
    clock,
  );
  return { ...gate, admit: once.admit };
}

/** The record of a job that waits at the gateway, held by nobody: the waiting room sends it when it can. */
export function parkedRecord(record: WaitingRecord, pinned: boolean, forRoom = false): WaitingRecord {
  return { jobId: record.jobId, deadline: record.deadline, input: record.input, pinned, ...(forRoom ? { forRoom } : {}), claim: randomUUID() };
}

export function createJobSubmission(options: SubmissionOptions) {
  const { store, registry, utilization, feed, change, clock, logger, metrics, quotas, reclaim } = options;
  // Long enough for a create and a failover step; a replica that holds a job longer has died.
  const holdMs = 3 * (options.providerTimeoutMs ?? 5_000) + 5_000;
  /** The record held by this replica from now; `pinned` says where a replica that takes over may send it. */
  const hold = (record: WaitingRecord, pinned: boolean): WaitingRecord => ({
    jobId: record.jobId,
    deadline: record.deadline,
    input: record.input,
    pinned,
    heldUntil: clock.now() + holdMs,
    claim: randomUUID(),
  });

  /**
   * Route and check one job and take its quota hold, ready to be stored with the others of its
   * call; nothing is stored yet.
   */
  const prepare = async (
    viewer: Viewer,
    input: JobSpecificationInput,
    index: number,
    now: number,
    origin: JobOrigin | undefined,
    gate: QuotaGate | undefined,
  ): Promise<Prepared> => {
    const project = projectFor(viewer, input.project);
    if (project) await checkCanRunIn(store, viewer, project);
    const owner = { createdBy: viewer.username, project };
    // Whatever the product, an invalid specification is refused before routing looks at money.
    const checked = checkSpecificationInput(input);
    const id = uuidv7({ msecs: now });
    const placement = await admitNewJob(await placeNewJob(input, owner, options), { jobId: id, owner, ...checked }, input, {
      ...options,
      quotas: gate,
    });
    const specification = resolveSpecification(input, placement.product, placement.providerId, checked);
    const job: Job = {
      id,
      owner,
      specification,
      state: 'IN_QUEUE',
      startedAt: null,
      expiresAt: null,
      exitCode: null,
      allowRestart: specification.restartOnExit,
      providerId: placement.providerId,
      providerGeneratedId: null,
      createdAt: now,
      updates: [{ state: 'IN_QUEUE', status: placement.status, newTimeAllocation: null, timestamp: now }],
      acl: [],
      creditsCharged: 0,
      specHash: specificationHash(specification, project),
      ...(origin ? { origin } : {}),
    };
    // Its record is stored with it: a replica killed from here on leaves a record that another one
    // picks up, to send the job (held: to where it may have gone). A job owed reclaimed room waits
    // for it at least RECLAIM_WAIT_S.
    const waitInput = placement.reclaim ? { ...input, scheduleTimeout: reclaimWaitSeconds(input) } : input;
    const record = hold({ jobId: job.id, deadline: now + (waitInput.scheduleTimeout ?? 0) * 1000, input: waitInput }, !placement.wait);
    return { index, input, job, record, placement };
  };

  /** After the store answered for a prepared job: its placement, or null when it waits at the gateway for room. */
  const accept = async ({ index, input, job, record, placement }: Prepared, created: CreateOutcome): Promise<Placement | null> => {
    if (!created.created) {
      // Nothing of it was stored, its record neither.
      await Promise.all([quotas?.release(job.owner, job.id), placement.reclaim ? reclaim?.cancel(placement.reclaim) : undefined]);
      throw new DuplicateJobError(created.duplicateOf);
    }
    if (placement.wait) {
      await store.swapWaiting(job.id, record.claim!, parkedRecord(record, false, placement.reclaim !== undefined));
      // Stored and waiting: only now are the borrowed jobs claimed for it stopped.
      if (placement.reclaim) await reclaim?.stop(placement.reclaim);
      return null;
    }
    utilization.reserve(placement.providerId, placement.product.id);
    return { index, job, product: placement.product, input, failover: placement.failover, record, pinned: false };
  };

  /** Move a job whose provider failed to the next candidate that can take it, held afresh for the attempt. */
  const failOver = async (
    item: Placement,
    error: ErrorBody,
    statusFor: (next: Candidate) => string = (next) => `${error.message}; failing over to ${next.providerId}/${next.product.id}`,
  ): Promise<FailOver> => {
    while (item.failover.length > 0) {
      const next = item.failover.shift()!;
      let specification: JobSpecification;
      try {
        specification = resolveSpecification(item.input, next.product, next.providerId);
      } catch {
        continue;
      }
      // Its hold moves with it; a candidate over the workspace's quota is passed over.
      if (quotas && (await quotas.admit(quotaSubjectOf(item.job), next.providerId, next.product)) !== null) continue;
      // Held before the move: a replica that takes over after this one dies sends it where it went.
      const record = hold(item.record, true);
      if (!(await store.swapWaiting(item.job.id, item.record.claim ?? '', record))) return { kind: 'taken' };
      const outcome = await store.reassignJob(item.job.id, {
        from: item.job.providerId,
        to: { providerId: next.providerId, product: { id: next.product.id, category: next.product.category } },
        status: statusFor(next),
        timestamp: clock.now(),
      });
      if (outcome.kind !== 'applied') {
        // No longer IN_QUEUE at its provider: a create that seemed lost reached it after all, or it was ended.
        await release({ ...item, record });
        return outcome.kind === 'missing' ? { kind: 'none' } : { kind: 'gone', job: outcome.job };
      }
      publishOutcome(feed, outcome, item.job);
      metrics.routingDecisions.inc({ provider: next.providerId, outcome: 'failover' });
      utilization.reserve(next.providerId, next.product.id);
      return { kind: 'moved', item: { ...item, job: { ...outcome.job, specification }, product: next.product, record, pinned: false } };
    }
    return { kind: 'none' };
  };

  /** The provider has the job: its record is done with (a replica that took it over meanwhile finds it sent). */
  const release = async (item: Placement) => {
    await store
      .swapWaiting(item.job.id, item.record.claim ?? '', null)
      .catch((error: unknown) => logger.warn({ jobId: item.job.id, err: error }, 'could not release a sent job; another replica will send it again'));
  };
  /**
   * Releases of jobs their provider accepted, not awaited before the answer: the job is where it
   * goes either way, and a record left behind (this replica died first) is held, so another
   * replica only sends it again once the hold passes, which the provider answers as before.
   */
  const releasing = new Set<Promise<void>>();
  const releaseLater = (items: Placement[]) => {
    if (items.length === 0) return;
    // One compare-and-set call for all the jobs one provider answered for.
    const done: Promise<void> = store
      .swapWaitings(items.map(({ job, record }) => ({ jobId: job.id, expectClaim: record.claim ?? '', next: null })))
      .then(
        () => {},
        (error: unknown) => logger.warn({ jobs: items.length, err: error }, 'could not release sent jobs; another replica will send them again'),
      )
      .finally(() => releasing.delete(done));
    releasing.add(done);
  };

  /**
   * Ask a provider that did not answer a create about the job: 'kept' when it has it (the create
   * reached it, so the job stays there), 'released' when it says it has not and will not take it
   * later (the runtime refuses a create of a job it let go), 'unknown' when it cannot say.
   */
  const letGo = async (providerId: string, jobId: string): Promise<'kept' | 'released' | 'unknown'> => {
    const client = registry.get(providerId)?.client;
    if (!client) return 'unknown';
    try {
      const seen = await client.call('jobs.retrieve', { ids: [jobId] }, { background: true });
      if (seen.jobs[0]?.state) return 'kept';
      const reply = await client.call('jobs.terminate', { ids: [jobId], reason: 'sent to another provider' }, { background: true });
      const answer = reply.results[0];
      return answer?.ok || answer?.error?.code === 'NOT_FOUND' ? 'released' : 'unknown';
    } catch {
      return 'unknown';
    }
  };

  /**
   * Park a job that could not be placed now but may wait (a scheduleTimeout not yet passed): the
   * waiting room sends it when a provider can take it — only its own provider while `pinned`.
   * Null when the job is no longer this replica's to park.
   */
  const park = async (item: Placement, pinned: boolean, error: ErrorBody): Promise<Job | null> => {
    const timeout = item.input.scheduleTimeout ?? 0;
    if (timeout <= 0 || clock.now() >= item.record.deadline) return null;
    if (!(await store.swapWaiting(item.job.id, item.record.claim ?? '', parkedRecord(item.record, pinned, error.code === 'NO_CAPACITY'))))
      return item.job;
    // Waiting at the gateway, it holds none of its workspace's quota.
    await quotas?.release(item.job.owner, item.job.id);
    metrics.routingDecisions.inc({ provider: item.job.providerId, outcome: 'waiting' });
    const status =
      error.code === 'NO_CAPACITY'
        ? `Waiting up to ${timeout} s for capacity: ${error.message}`
        : unreachableStatus(timeout, item.job.providerId, error.message);
    const outcome = await change(item.job.id, { status, expectStates: ['IN_QUEUE'], timestamp: clock.now() }, item.job);
    return outcome.kind === 'applied' || outcome.kind === 'refused' ? outcome.job : item.job;
  };

  /** The job cannot be placed: it fails, saying why, unless another replica took it over or it reached its provider after all. */
  const failJob = async (item: Placement, error: unknown, refusedByProvider = false): Promise<ItemOutcome<Job>> => {
    const body = toErrorBody(error);
    // Only the holder ends it: a replica that took the job over (this one was taken for dead) decides instead.
    if (!(await store.swapWaiting(item.job.id, item.record.claim ?? '', null))) return { ok: true, value: item.job };
    // The provider answered that the job itself is invalid: it was never accepted, so nothing of it stays.
    if (refusedByProvider && (await store.discardJob(item.job.id, item.job.providerId))) {
      await quotas?.release(item.job.owner, item.job.id);
      metrics.submissions.inc({ provider: item.job.providerId, outcome: body.code });
      return { ok: false, error: body };
    }
    const outcome = await change(
      item.job.id,
      {
        state: 'FAILURE',
        status: `Could not start: ${body.message}`,
        expectStates: ['IN_QUEUE'],
        expectProvider: item.job.providerId,
        timestamp: clock.now(),
      },
      item.job,
    );
    // Its provider's events moved it on: the create reached it after all.
    if (outcome.kind === 'refused' && !isFinalState(outcome.job.state)) return { ok: true, value: outcome.job };
    metrics.submissions.inc({ provider: item.job.providerId, outcome: body.code });
    if (outcome.kind === 'applied' && item.pinned) {
      // The provider may have received the job before failing to answer: tell it to let go.
      registry.get(item.job.providerId)?.client.terminateInBackground([item.job.id], null);
    }
    return { ok: false, error: body };
  };

  /** Send each provider its share; returns the items that failed over and must be sent again. */
  const dispatch = async (items: Placement[], results: ItemOutcome<Job>[]): Promise<Placement[]> => {
    const byProvider = new Map<string, Placement[]>();
    for (const item of items) byProvider.set(item.job.providerId, [...(byProvider.get(item.job.providerId) ?? []), item]);
    const retry: Placement[] = [];
    /**
     * After a failed create: another candidate if the job surely is not at this provider (or it
     * lets go of it), else wait at the gateway if the job may wait, else fail. `answered`: the
     * provider refused this job in its reply, so it does not have it.
     */
    const settle = async (item: Placement, error: unknown, answered: boolean) => {
      const body = toErrorBody(error);
      const pinned = answered ? false : item.pinned || mayHaveReached(error);
      const retryable = FAILOVER_CODES.has(body.code);
      if (retryable && item.failover.length > 0) {
        let free = !pinned;
        if (pinned) {
          const verdict = await letGo(item.job.providerId, item.job.id);
          if (verdict === 'kept') {
            await release(item);
            metrics.submissions.inc({ provider: item.job.providerId, outcome: 'accepted' });
            results[item.index] = { ok: true, value: item.job };
            return;
          }
          free = verdict === 'released';
        }
        if (free) {
          const moved = await failOver({ ...item, pinned: false }, body);
          if (moved.kind === 'moved') {
            retry.push(moved.item);
            results[item.index] = { ok: true, value: moved.item.job };
            return;
          }
          if (moved.kind !== 'none') {
            results[item.index] = { ok: true, value: moved.kind === 'gone' ? moved.job : item.job };
            return;
          }
        }
      }
      const waiting = retryable ? await park(item, pinned, body) : null;
      results[item.index] = waiting ? { ok: true, value: waiting } : await failJob({ ...item, pinned }, error, answered && !retryable);
    };
    await Promise.all(
      [...byProvider].map(async ([providerId, share]) => {
        for (const part of chunks(share, MAX_BULK_ITEMS)) {
          const payload: CreateJob[] = part.map(({ job, product }) => ({
            id: job.id,
            owner: job.owner,
            specification: job.specification,
            product,
            createdAt: job.createdAt,
          }));
          let answers;
          try {
            ({ results: answers } = await registry.require(providerId).client.call('jobs.create', { jobs: payload }));
          } catch (error) {
            await Promise.all(part.map((item) => settle(item, error, false)));
            continue;
          }
          releaseLater(part.filter((_, k) => answers[k]?.ok));
          await Promise.all(
            part.map(async (item, k) => {
              const r = answers[k];
              if (r?.ok) {
                metrics.submissions.inc({ provider: providerId, outcome: 'accepted' });
                results[item.index] = { ok: true, value: item.job };
                return;
              }
              await settle(item, itemError(providerId, r), r !== undefined);
            }),
          );
        }
      }),
    );
    return retry;
  };

  /** Put a claimed waiting job back to wait, saying why. */
  const requeue = async (item: Placement, status: string): Promise<Job> => {
    if (!(await store.swapWaiting(item.job.id, item.record.claim ?? '', parkedRecord(item.record, item.pinned, item.record.forRoom))))
      return item.job;
    const outcome = await change(item.job.id, { status, expectStates: ['IN_QUEUE'], timestamp: clock.now() }, item.job);
    return outcome.kind === 'applied' ? outcome.job : item.job;
  };

  return {
    hold,

    /** Resolves once every release under way is done (before the store closes). */
    async settled(): Promise<void> {
      while (releasing.size > 0) await Promise.all(releasing);
    },

    /**
     * Send jobs that waited at the gateway, each claimed by this replica (its record held), to
     * the first of its candidates (all able to take it now), moving it there first when it was
     * parked elsewhere; the rest are its failover. One call per provider for all of them.
     */
    async placeWaiting(waiting: WaitingPlacement[]): Promise<ItemOutcome<Job>[]> {
      const results: ItemOutcome<Job>[] = new Array(waiting.length);
      const items: Placement[] = [];
      await Promise.all(
        waiting.map(async ({ job, input, record, candidates, status }, index) => {
          const current = registry.product(job.providerId, job.specification.product.id);
          const [first, ...rest] = candidates;
          const item: Placement = { index, job, product: current ?? first.product, input, failover: rest, record, pinned: record.pinned ?? false };
          if (first.providerId !== job.providerId || first.product.id !== job.specification.product.id || !current) {
            const moved = await failOver(
              { ...item, failover: candidates },
              { code: 'NO_CAPACITY', message: 'no room' },
              (next) => `Room became free: routed to ${next.providerId}/${next.product.id}`,
            );
            if (moved.kind === 'moved') items.push(moved.item);
            // Every candidate over quota after all (another replica came first): it waits on; the next sweep says for what.
            else if (moved.kind === 'none' && quotas) results[index] = { ok: true, value: await requeue(item, 'Waiting: its candidates filled up') };
            else results[index] = { ok: false, error: { code: 'INVALID_STATE', message: `Job ${job.id} is no longer waiting` } };
            return;
          }
          // Over quota after all (another replica sent one of the workspace's jobs first): it waits on.
          const overQuota = await quotas?.admit(quotaSubjectOf(job), first.providerId, first.product, item.pinned);
          if (overQuota) {
            results[index] = { ok: true, value: await requeue(item, quotaWaitingStatus(input.scheduleTimeout ?? 0, overQuota)) };
            return;
          }
          // Its room was reserved by the waiting room as it chose.
          const outcome = await change(
            job.id,
            { status: status ?? `Room became free on ${first.providerId}/${first.product.id}`, timestamp: clock.now() },
            job,
          );
          items.push(outcome.kind === 'applied' ? { ...item, job: outcome.job } : item);
        }),
      );
      let pending = items;
      while (pending.length > 0) pending = await dispatch(pending, results);
      return results;
    },

    /** `origin`: the schedule or service the jobs are made for (absent: the viewer's own request). */
    async createJobs(viewer: Viewer, inputs: JobSpecificationInput[], origin?: JobOrigin): Promise<ItemOutcome<Job>[]> {
      checkBulk(inputs.length);
      const now = clock.now();
      const results: ItemOutcome<Job>[] = new Array(inputs.length);
      const accepted: Placement[] = [];
      const gate = quotas && sharingReads(quotas, store, clock);
      const refuse = (index: number, error: unknown) => {
        const provider =
          inputs[index]!.product?.provider && registry.get(inputs[index]!.product!.provider) ? inputs[index]!.product!.provider : 'none';
        metrics.submissions.inc({ provider, outcome: toErrorBody(error).code });
        results[index] = { ok: false, error: toErrorBody(error) };
      };
      const prepared: Prepared[] = [];
      await Promise.all(
        inputs.map(async (input, index) => {
          try {
            prepared.push(await prepare(viewer, input, index, now, origin, gate));
          } catch (error) {
            refuse(index, error);
          }
        }),
      );
      // In the order given, so that of two duplicates in one call the first is stored.
      prepared.sort((a, b) => a.index - b.index);
      // One store call for the whole call's jobs and their records.
      let created: CreateOutcome[];
      try {
        created = await store.createJobs(
          prepared.map(({ job, record }) => ({ job, exclusive: !job.specification.allowDuplicateJob, waiting: record })),
        );
      } catch (error) {
        for (const { index } of prepared) refuse(index, error);
        created = [];
      }
      await Promise.all(
        created.map(async (outcome, k) => {
          const item = prepared[k]!;
          try {
            const placement = await accept(item, outcome);
            if (placement) accepted.push(placement);
            else results[item.index] = { ok: true, value: item.job };
          } catch (error) {
            refuse(item.index, error);
          }
        }),
      );
      let pending = accepted;
      while (pending.length > 0) pending = await dispatch(pending, results);
      logger.debug({ submitted: inputs.length, accepted: accepted.length }, 'jobs submitted');
      return results;
    },
  };
}
