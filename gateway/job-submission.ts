/**
 * Job creation: place each specification (a named product, or routed by its
 * requirements), validate it against the product's support, store it as
 * IN_QUEUE before answering, then hand each provider its share in one call.
 * A routed job whose provider fails or does not answer moves on to the next
 * candidate (failover); one bad item never fails the others.
 */
import { v7 as uuidv7 } from 'uuid';
import type { Clock } from '../shared/clock.js';
import type { Job, JobSpecification, Product } from '../shared/domain.js';
import { ForbiddenError, InvalidInputError, ProviderUnavailableError, SwitchyardError, toErrorBody, type ErrorBody } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { createJobsResultSchema, itemResultsSchema, type CreateJob } from '../shared/protocol.js';
import type { Viewer } from './auth.js';
import type { ChangeJob } from './job-changes.js';
import { publishOutcome } from './job-changes.js';
import type { JobFeed } from './job-feed.js';
import { checkSpecificationInput, resolveSpecification, specificationHash, supportRefusal, type JobSpecificationInput } from './job-specification.js';
import type { GatewayMetrics } from './metrics.js';
import type { ProviderRegistry } from './provider-registry.js';
import { explainChoice, explainNoRoom, hasRoom, planRoute, type Candidate, type RoutePlan } from './router.js';
import type { Store } from './store/store.js';
import type { UtilizationCache } from './utilization-cache.js';

export const MAX_BULK_ITEMS = 1_000;
/** Provider errors worth trying elsewhere; a refusal of the job itself is not. */
const FAILOVER_CODES = new Set(['PROVIDER_UNAVAILABLE', 'INTERNAL', 'NO_CAPACITY']);

export type ItemOutcome<T> = { ok: true; value: T } | { ok: false; error: ErrorBody };

export interface SubmissionOptions {
  store: Store;
  registry: ProviderRegistry;
  utilization: UtilizationCache;
  feed: JobFeed;
  change: ChangeJob;
  clock: Clock;
  logger: Logger;
  metrics: GatewayMetrics;
  /** Throws INSUFFICIENT_FUNDS when the owner cannot pay for the product. */
  requireFunds?: (owner: Job['owner'], product: Product, providerId: string) => Promise<void>;
  /** Whether the owner can pay for a product; routing skips those it cannot. */
  canPay?: (owner: Job['owner'], product: Product, providerId: string) => Promise<boolean>;
}

/** One accepted job on its way to a provider, with where it may go next. */
interface Placement {
  index: number;
  job: Job;
  product: Product;
  input: JobSpecificationInput;
  failover: Candidate[];
}

/** Items in runs of at most `size`, for calls with a bulk limit. */
export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The status of a job that waits at the gateway for capacity. */
export function waitingStatus(scheduleTimeoutSeconds: number, plan: RoutePlan): string {
  return `Waiting up to ${scheduleTimeoutSeconds} s for capacity: ${explainNoRoom(plan)}`;
}

export function createJobSubmission(options: SubmissionOptions) {
  const { store, registry, utilization, feed, change, clock, logger, metrics } = options;

  /** Where one input goes first, and where it may fail over to. */
  const place = async (viewer: Viewer, input: JobSpecificationInput, owner: Job['owner']) => {
    if (input.product) {
      const providerId = input.product.provider;
      const entry = registry.get(providerId);
      if (!entry) throw new InvalidInputError(`product ${input.product.id}: unknown provider "${providerId}"`);
      const product = entry.manifest?.products.find((p) => p.id === input.product!.id);
      if (!product || (input.product.category && input.product.category !== product.category)) {
        throw new InvalidInputError(`product ${providerId}/${input.product.id} does not exist`);
      }
      // The product's own rules before its provider's state or the caller's money.
      const refusal = supportRefusal(input, product, providerId);
      if (refusal) throw refusal.error;
      if (registry.status(entry) === 'DOWN') throw new ProviderUnavailableError(providerId, 'is down (no heartbeat)');
      await options.requireFunds?.(owner, product, providerId);
      return { providerId, product, status: `Job submitted to ${providerId}/${product.id}`, failover: [] as Candidate[], wait: false };
    }
    if (!input.requirements) throw new InvalidInputError('give a product or requirements');
    // A wallet pays for one category at one provider: look each up once, before the (synchronous) plan.
    const payable = new Map<string, boolean>();
    if (options.canPay) {
      const allowed = input.requirements.providers?.length ? new Set(input.requirements.providers) : null;
      const lookups: Promise<void>[] = [];
      for (const entry of registry.list()) {
        if (allowed && !allowed.has(entry.id)) continue;
        for (const product of entry.manifest?.products ?? []) {
          const key = `${entry.id}\n${product.category}`;
          if (payable.has(key) || product.freeToUse) continue;
          payable.set(key, false);
          lookups.push(options.canPay(owner, product, entry.id).then((ok) => void payable.set(key, ok)));
        }
      }
      await Promise.all(lookups);
    }
    const plan = planRoute(input.requirements, {
      registry,
      utilization,
      canPay: options.canPay ? (product, providerId) => product.freeToUse || (payable.get(`${providerId}\n${product.category}`) ?? false) : undefined,
      refusal: (product, providerId) => supportRefusal(input, product, providerId)?.reason ?? null,
    });
    const roomy = plan.candidates.filter(hasRoom);
    if (plan.candidates.length === 0 && plan.unpaid > 0 && plan.unpaid === plan.fitting) {
      throw new SwitchyardError('INSUFFICIENT_FUNDS', `No credits for any of the ${plan.fitting} fitting products: ${plan.excluded.join(', ')}`);
    }
    if (roomy.length === 0) {
      const parked = plan.candidates[0] ?? plan.blocked;
      if (input.scheduleTimeout && input.scheduleTimeout > 0 && parked) {
        // Wait at the gateway: parked on the best candidate, sent nowhere until one has room.
        metrics.routingDecisions.inc({ provider: parked.providerId, outcome: 'waiting' });
        return { providerId: parked.providerId, product: parked.product, status: waitingStatus(input.scheduleTimeout, plan), failover: [] as Candidate[], wait: true };
      }
      metrics.routingDecisions.inc({ provider: 'none', outcome: 'no_capacity' });
      throw new SwitchyardError('NO_CAPACITY', `No room now: ${explainNoRoom(plan)}`);
    }
    const [chosen, ...rest] = roomy;
    metrics.routingDecisions.inc({ provider: chosen.providerId, outcome: 'routed' });
    return { providerId: chosen.providerId, product: chosen.product, status: explainChoice(plan, chosen), failover: rest };
  };

  /** Store one job for its first placement; no placement when it waits at the gateway for room. */
  const accept = async (viewer: Viewer, input: JobSpecificationInput, index: number, now: number): Promise<{ job: Job; placement: Placement | null }> => {
    const project = input.project ?? null;
    if (project && !viewer.admin && !viewer.projects.includes(project)) throw new ForbiddenError(`You are not a member of project ${project}`);
    const owner = { createdBy: viewer.username, project };
    // Whatever the product, an invalid specification is refused before routing looks at money.
    checkSpecificationInput(input);
    const placement = await place(viewer, input, owner);
    const specification = resolveSpecification(input, placement.product, placement.providerId);
    const job: Job = {
      id: uuidv7({ msecs: now }),
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
    };
    const created = await store.createJob(job, { exclusive: !specification.allowDuplicateJob });
    if (!created.created) {
      throw new SwitchyardError('DUPLICATE_JOB', `An identical job is already active (${created.duplicateOf}); set allowDuplicateJob to run another`);
    }
    if (placement.wait) {
      await store.putWaiting({ jobId: job.id, deadline: now + input.scheduleTimeout! * 1000, input });
      return { job, placement: null };
    }
    utilization.reserve(placement.providerId, placement.product.id);
    return { job, placement: { index, job, product: placement.product, input, failover: placement.failover } };
  };

  /** Move a job whose provider failed to the next candidate that can take it; null when none is left. */
  const failOver = async (
    item: Placement,
    error: ErrorBody,
    statusFor: (next: Candidate) => string = (next) => `${error.message}; failing over to ${next.providerId}/${next.product.id}`,
  ): Promise<Placement | null> => {
    while (item.failover.length > 0) {
      const next = item.failover.shift()!;
      let specification: JobSpecification;
      try {
        specification = resolveSpecification(item.input, next.product, next.providerId);
      } catch {
        continue;
      }
      const outcome = await store.reassignJob(item.job.id, {
        from: item.job.providerId,
        to: { providerId: next.providerId, product: { id: next.product.id, category: next.product.category } },
        status: statusFor(next),
        timestamp: clock.now(),
      });
      if (outcome.kind !== 'applied') return null;
      publishOutcome(feed, outcome, item.job);
      metrics.routingDecisions.inc({ provider: next.providerId, outcome: 'failover' });
      utilization.reserve(next.providerId, next.product.id);
      return { ...item, job: { ...outcome.job, specification }, product: next.product };
    }
    return null;
  };

  const failJob = async (item: Placement, error: unknown) => {
    const body = toErrorBody(error);
    metrics.submissions.inc({ provider: item.job.providerId, outcome: body.code });
    const outcome = await change(item.job.id, { state: 'FAILURE', status: `Could not start: ${body.message}`, timestamp: clock.now() }, item.job);
    if (outcome.kind === 'applied' && error instanceof ProviderUnavailableError) {
      // The provider may have received the job before failing to answer: tell it to let go.
      void registry.get(item.job.providerId)?.client.call('jobs.terminate', { ids: [item.job.id], reason: null }, itemResultsSchema, { background: true })
        .catch(() => undefined);
    }
    return body;
  };

  /** Send each provider its share; returns the items that failed over and must be sent again. */
  const dispatch = async (items: Placement[], results: ItemOutcome<Job>[]): Promise<Placement[]> => {
    const byProvider = new Map<string, Placement[]>();
    for (const item of items) byProvider.set(item.job.providerId, [...(byProvider.get(item.job.providerId) ?? []), item]);
    const retry: Placement[] = [];
    const settle = async (item: Placement, error: unknown) => {
      const body = toErrorBody(error);
      const moved = FAILOVER_CODES.has(body.code) ? await failOver(item, body) : null;
      if (moved) {
        retry.push(moved);
        results[item.index] = { ok: true, value: moved.job };
        return;
      }
      results[item.index] = { ok: false, error: await failJob(item, error) };
    };
    await Promise.all(
      [...byProvider].map(async ([providerId, share]) => {
        for (const part of chunks(share, MAX_BULK_ITEMS)) {
          const payload: CreateJob[] = part.map(({ job, product }) => ({ id: job.id, owner: job.owner, specification: job.specification, product, createdAt: job.createdAt }));
          try {
            const reply = await registry.require(providerId).client.call('jobs.create', { jobs: payload }, createJobsResultSchema);
            if (!reply.ok) throw reply.error;
            await Promise.all(
              part.map(async (item, k) => {
                const r = reply.result.results[k];
                if (r?.ok) {
                  metrics.submissions.inc({ provider: providerId, outcome: 'accepted' });
                  results[item.index] = { ok: true, value: item.job };
                  return;
                }
                await settle(item, new SwitchyardError(r?.error?.code ?? 'INTERNAL', r?.error?.message ?? `${providerId} gave no result for this job`));
              }),
            );
          } catch (error) {
            await Promise.all(part.map((item) => settle(item, error)));
          }
        }
      }),
    );
    return retry;
  };

  return {
    /**
     * Send a job that waited at the gateway to the first of `candidates` (all with room),
     * moving it there first when it was parked elsewhere; the rest are its failover.
     */
    async placeWaiting(job: Job, input: JobSpecificationInput, candidates: Candidate[]): Promise<ItemOutcome<Job>> {
      const results: ItemOutcome<Job>[] = new Array(1);
      const parked = registry.product(job.providerId, job.specification.product.id);
      const [first, ...rest] = candidates;
      let item: Placement | null = { index: 0, job, product: parked ?? first.product, input, failover: rest };
      if (first.providerId !== job.providerId || first.product.id !== job.specification.product.id || !parked) {
        item = await failOver({ ...item, failover: candidates }, { code: 'NO_CAPACITY', message: 'no room' }, (next) => `Room became free: routed to ${next.providerId}/${next.product.id}`);
        if (!item) return { ok: false, error: { code: 'INVALID_STATE', message: `Job ${job.id} is no longer waiting` } };
      } else {
        utilization.reserve(first.providerId, first.product.id);
        const outcome = await change(job.id, { status: `Room became free on ${first.providerId}/${first.product.id}`, timestamp: clock.now() }, job);
        if (outcome.kind === 'applied') item = { ...item, job: outcome.job };
      }
      let pending = [item];
      while (pending.length > 0) pending = await dispatch(pending, results);
      return results[0];
    },

    async createJobs(viewer: Viewer, inputs: JobSpecificationInput[]): Promise<ItemOutcome<Job>[]> {
      if (inputs.length > MAX_BULK_ITEMS) throw new InvalidInputError(`at most ${MAX_BULK_ITEMS} items in one call, ${inputs.length} given`);
      const now = clock.now();
      const results: ItemOutcome<Job>[] = new Array(inputs.length);
      const accepted: Placement[] = [];
      await Promise.all(
        inputs.map(async (input, index) => {
          try {
            const { job, placement } = await accept(viewer, input, index, now);
            if (placement) accepted.push(placement);
            else results[index] = { ok: true, value: job };
          } catch (error) {
            const provider = input.product?.provider && registry.get(input.product.provider) ? input.product.provider : 'none';
            metrics.submissions.inc({ provider, outcome: toErrorBody(error).code });
            results[index] = { ok: false, error: toErrorBody(error) };
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
