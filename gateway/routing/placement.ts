/**
 * Routing decisions, in one place for a new job and for one that waits at the
 * gateway: where it goes now and where it may fail over to, or that it waits
 * (and the status that says why), or why it cannot be placed at all
 * (INVALID_INPUT, PROVIDER_UNAVAILABLE, INSUFFICIENT_FUNDS, NO_CAPACITY,
 * QUOTA_EXCEEDED). The router ranks products and the quota gate counts; this
 * module decides what their answers mean.
 */
import type { Job, Product } from '../../shared/domain.js';
import {
  InsufficientFundsError,
  InvalidInputError,
  NoCapacityError,
  ProviderUnavailableError,
  QuotaExceededError,
  SwitchyardError,
} from '../../shared/errors.js';
import { supportRefusal, type JobSpecificationInput } from '../jobs/job-specification.js';
import { RECLAIM_WAIT_S, type Reclaim, type ReclaimChoice, type ReclaimReservation } from '../jobs/reclaim.js';
import type { GatewayMetrics } from '../metrics.js';
import type { UtilizationCache } from '../registry/utilization-cache.js';
import { lendingRefusal, type LendingView } from './lending.js';
import { refusalIn, type QuotaGate, type QuotaSnapshot, type QuotaSubject } from './quota-gate.js';
import { workspaceOf } from './quota-rules.js';
import { explainChoice, explainNoRoom, hasRoom, planRoute, pricePerMinute, type Candidate, type RoutePlan, type RoutingRegistry } from './router.js';

export interface PlacementContext {
  registry: RoutingRegistry;
  utilization: Pick<UtilizationCache, 'get' | 'capacity'>;
  metrics: Pick<GatewayMetrics, 'routingDecisions'>;
  /** Throws INSUFFICIENT_FUNDS when the owner cannot pay for the product. */
  requireFunds?: (owner: Job['owner'], product: Product, providerId: string) => Promise<void>;
  /** Whether the owner can pay for a product; routing passes over those it cannot. */
  canPay?: (owner: Job['owner'], product: Product, providerId: string) => Promise<boolean>;
  /** Holds jobs to their workspace's quotas; none: no quotas. */
  quotas?: QuotaGate;
  /** Where a project's job may take its guarantee back from borrowers; none: no reclaim. */
  reclaim?: Pick<Reclaim, 'guaranteedOn' | 'reserve'>;
}

/** Where a new job goes: sent now (with failover candidates), or parked at the gateway until a provider can take it. */
export interface NewJobPlacement {
  providerId: string;
  product: Product;
  /** The job's first update: why it went there, or why it waits. */
  status: string;
  failover: Candidate[];
  wait: boolean;
  /**
   * No room anywhere, for a job that may not wait: it goes only if reclaiming its project's
   * guarantee on one of `owed` makes room, else it is refused with NO_CAPACITY and this message.
   */
  unlessReclaimed?: string;
  /** Products with no room now on providers where the job's project is guaranteed room: where reclaim may give it some. */
  owed?: ReclaimChoice[];
  /**
   * Borrowed jobs claimed to give it room (set by {@link admitNewJob}): it waits at the gateway
   * for that room, at least {@link RECLAIM_WAIT_S}; they are stopped once it is stored.
   */
  reclaim?: ReclaimReservation;
}

/** A job that waits at the gateway: who can take it now, best first, and what its updates say. */
export interface WaitingJobPlacement {
  /** Able to take the job now; empty while it waits. */
  candidates: Candidate[];
  /** Its status while it waits. */
  waiting: string;
  /** Its final status when its schedule timeout passes. */
  failure: string;
  /** Its status as it is sent; undefined: the submission's own ("Room became free on …"). */
  sending?: string;
  /** Products it fits that have no room now, best first: where reclaim may make some while it waits. */
  full?: Candidate[];
}

/** The status of a job that waits at the gateway for capacity. */
export function waitingStatus(scheduleTimeoutSeconds: number, plan: RoutePlan): string {
  return `Waiting up to ${scheduleTimeoutSeconds} s for capacity: ${explainNoRoom(plan)}`;
}

/** The status of a job that waits at the gateway for its provider to be reachable. */
export function unreachableStatus(scheduleTimeoutSeconds: number, providerId: string, reason: string): string {
  return `Waiting up to ${scheduleTimeoutSeconds} s for ${providerId} to take the job: ${reason}`;
}

/** The status of a job that waits at the gateway for its workspace's quota. */
export function quotaWaitingStatus(scheduleTimeoutSeconds: number, reason: string): string {
  return `Waiting up to ${scheduleTimeoutSeconds} s for quota: ${reason}`;
}

/**
 * Hold a new job that goes now to its workspace's quotas, on the first of its choices within them
 * (its product, then its failover candidates, in order). Over quota everywhere, a job that may
 * wait waits at the gateway saying which quota; one that may not is refused with QUOTA_EXCEEDED
 * (and holds nothing). A job with no room where its project is guaranteed some is first offered
 * reclaim there, within its quotas ({@link reclaimFor}).
 */
export async function admitNewJob(
  placement: NewJobPlacement,
  subject: QuotaSubject,
  input: JobSpecificationInput,
  context: Pick<PlacementContext, 'quotas' | 'metrics' | 'reclaim'>,
): Promise<NewJobPlacement> {
  const { quotas } = context;
  const reclaimed = await reclaimFor(placement, subject, context);
  if (reclaimed) return reclaimed;
  // With no room and no reclaim, that there is no room is what it is refused for, as without a guarantee.
  if (placement.unlessReclaimed !== undefined) {
    context.metrics.routingDecisions.inc({ provider: 'none', outcome: 'no_capacity' });
    throw new NoCapacityError(placement.unlessReclaimed);
  }
  if (placement.wait || !quotas) return placement;
  const choices = [{ providerId: placement.providerId, product: placement.product }, ...placement.failover];
  let refusal: string | null = null;
  for (const [k, choice] of choices.entries()) {
    let reason = await quotas.admit(subject, choice.providerId, choice.product);
    // Over quota: unless holds lost with a replica were counted (found at most every few seconds).
    if (reason !== null && (await quotas.repair([workspaceOf(subject.owner)])) > 0)
      reason = await quotas.admit(subject, choice.providerId, choice.product);
    if (reason === null) {
      if (k === 0) return placement;
      const status = `${choice.providerId}/${choice.product.id}: the cheaper choices are over quota (${refusal})`;
      return { ...placement, providerId: choice.providerId, product: choice.product, status, failover: placement.failover.slice(k) };
    }
    refusal ??= reason;
  }
  const timeout = input.scheduleTimeout ?? 0;
  if (timeout <= 0) throw new QuotaExceededError(refusal!);
  context.metrics.routingDecisions.inc({ provider: placement.providerId, outcome: 'waiting' });
  return { ...placement, status: quotaWaitingStatus(timeout, refusal!), failover: [], wait: true };
}

/**
 * Reclaim decided before the job is stored: of the owed products within the workspace's quotas
 * (checked, not held: a job waiting at the gateway holds none), the one reclaim chooses, with its
 * borrowed jobs claimed; the job waits there for their room. Null: no reclaim (nothing claimed).
 */
async function reclaimFor(
  placement: NewJobPlacement,
  subject: QuotaSubject,
  context: Pick<PlacementContext, 'quotas' | 'metrics' | 'reclaim'>,
): Promise<NewJobPlacement | null> {
  const { quotas, reclaim } = context;
  if (!reclaim || !placement.owed?.length) return null;
  const snapshot = quotas ? await quotas.snapshot([workspaceOf(subject.owner)]) : null;
  const within = snapshot ? placement.owed.filter((c) => refusalIn(snapshot, subject, c.providerId, c.product) === null) : placement.owed;
  const reservation = await reclaim.reserve(subject, within);
  if (!reservation) return null;
  if (!placement.wait) context.metrics.routingDecisions.inc({ provider: reservation.providerId, outcome: 'waiting' });
  const { providerId, product, status } = reservation;
  return { providerId, product, status, failover: [], wait: true, reclaim: reservation };
}

/** How long a job that waits for reclaimed room may wait: at least {@link RECLAIM_WAIT_S}, or its own timeout if longer. */
export function reclaimWaitSeconds(input: JobSpecificationInput): number {
  return Math.max(RECLAIM_WAIT_S, input.scheduleTimeout ?? 0);
}

/**
 * A waiting job's placement within its workspace's quotas (as the snapshot counts them): the
 * candidates over quota are dropped; when that leaves none, it waits saying which quota.
 */
export function withinQuota(
  placement: WaitingJobPlacement,
  subject: QuotaSubject,
  snapshot: QuotaSnapshot,
  scheduleTimeoutSeconds: number,
): WaitingJobPlacement {
  if (placement.candidates.length === 0) return placement;
  let refusal: string | null = null;
  const candidates = placement.candidates.filter((candidate) => {
    const reason = refusalIn(snapshot, subject, candidate.providerId, candidate.product);
    refusal ??= reason;
    return reason === null;
  });
  if (candidates.length > 0 || refusal === null) return { ...placement, candidates };
  return {
    candidates,
    full: placement.full,
    waiting: quotaWaitingStatus(scheduleTimeoutSeconds, refusal),
    failure: `No quota became free within the schedule timeout of ${scheduleTimeoutSeconds} s: ${refusal}`,
  };
}

/** Every product the job may run on, ranked, passing over those whose support refuses it. */
function planFor(
  input: JobSpecificationInput,
  context: Pick<PlacementContext, 'registry' | 'utilization'>,
  canPay?: (product: Product, providerId: string) => boolean,
): RoutePlan {
  return planRoute(input.requirements ?? {}, {
    registry: context.registry,
    utilization: context.utilization,
    canPay,
    refusal: (product, providerId) => supportRefusal(input, product, providerId)?.reason ?? null,
  });
}

/** Whether the owner can pay, per provider and category (a wallet pays for one category at one provider), looked up once each. */
async function payableProducts(input: JobSpecificationInput, owner: Job['owner'], context: PlacementContext) {
  const { canPay } = context;
  if (!canPay) return undefined;
  const payable = new Map<string, boolean>();
  const allowed = input.requirements?.providers?.length ? new Set(input.requirements.providers) : null;
  const lookups: Promise<void>[] = [];
  for (const entry of context.registry.list()) {
    if (allowed && !allowed.has(entry.id)) continue;
    for (const product of entry.manifest?.products ?? []) {
      const key = `${entry.id}\n${product.category}`;
      if (payable.has(key) || product.freeToUse) continue;
      payable.set(key, false);
      lookups.push(canPay(owner, product, entry.id).then((ok) => void payable.set(key, ok)));
    }
  }
  await Promise.all(lookups);
  return (product: Product, providerId: string) => product.freeToUse || (payable.get(`${providerId}\n${product.category}`) ?? false);
}

/** A job for a named product: that product's rules, then its provider's state, then the caller's money. */
async function placeOnProduct(input: JobSpecificationInput, owner: Job['owner'], context: PlacementContext): Promise<NewJobPlacement> {
  const { registry, metrics } = context;
  const ref = input.product!;
  const providerId = ref.provider;
  const entry = registry.get(providerId);
  if (!entry) throw new InvalidInputError(`product ${ref.id}: unknown provider "${providerId}"`);
  const product = entry.manifest?.products.find((p) => p.id === ref.id);
  if (!product || (ref.category && ref.category !== product.category)) {
    throw new InvalidInputError(`product ${providerId}/${ref.id} does not exist`);
  }
  const refusal = supportRefusal(input, product, providerId);
  if (refusal) throw refusal.error;
  const down = registry.status(entry) === 'DOWN';
  const timeout = input.scheduleTimeout ?? 0;
  // A job that may wait waits for its provider as it would for room: the waiting room sends it when it is back.
  if (down && timeout <= 0) throw new ProviderUnavailableError(providerId, 'is down (no heartbeat)');
  await context.requireFunds?.(owner, product, providerId);
  if (down) {
    metrics.routingDecisions.inc({ provider: providerId, outcome: 'waiting' });
    const status = unreachableStatus(timeout, providerId, `${providerId} is down (no heartbeat)`);
    return { providerId, product, status, failover: [], wait: true };
  }
  // Room kept for other projects' guarantees (their lending limits) is no room for it.
  const lent = lendingRefusal(
    (await context.quotas?.lending()) ?? null,
    owner,
    providerId,
    product,
    input.replicas ?? 1,
    context.utilization.get(providerId),
  );
  if (lent) {
    if (timeout <= 0) {
      metrics.routingDecisions.inc({ provider: 'none', outcome: 'no_capacity' });
      throw new NoCapacityError(`No room now: ${lent}`);
    }
    metrics.routingDecisions.inc({ provider: providerId, outcome: 'waiting' });
    return { providerId, product, status: `Waiting up to ${timeout} s for capacity: ${lent}`, failover: [], wait: true };
  }
  // No room where its project is guaranteed some: reclaim may make it (else it is sent, to queue there).
  const full = context.reclaim && owner.project && context.utilization.capacity(providerId, product.id) === 0;
  const owed = full && (await context.reclaim!.guaranteedOn(owner)).has(providerId) ? [{ providerId, product }] : undefined;
  return { providerId, product, status: `Job submitted to ${providerId}/${product.id}`, failover: [], wait: false, ...(owed ? { owed } : {}) };
}

/** A job routed by its requirements: the cheapest usable product with room, else wait if it may, else why not. */
async function placeByRequirements(input: JobSpecificationInput, owner: Job['owner'], context: PlacementContext): Promise<NewJobPlacement> {
  const { metrics } = context;
  const plan = planFor(input, context, await payableProducts(input, owner, context));
  const view = (await context.quotas?.lending()) ?? null;
  const { roomy, lent } = withRoomFor(plan.candidates.filter(hasRoom), owner, input.replicas ?? 1, view, context);
  if (plan.candidates.length === 0 && plan.unpaid > 0 && plan.unpaid === plan.fitting) {
    throw new InsufficientFundsError(`No credits for any of the ${plan.fitting} fitting products: ${plan.excluded.join(', ')}`);
  }
  const [chosen, ...rest] = roomy;
  if (!chosen) {
    // Full where its project is guaranteed some: every such product, cheapest first, for reclaim to choose from.
    const guaranteed = context.reclaim && owner.project ? await context.reclaim.guaranteedOn(owner) : new Set<string>();
    const owed = plan.candidates
      .filter((candidate) => guaranteed.has(candidate.providerId))
      .map(({ providerId, product }) => ({ providerId, product }));
    const reclaimable = owed.length > 0 ? { owed } : {};
    const parked = plan.candidates[0] ?? plan.blocked;
    const timeout = input.scheduleTimeout ?? 0;
    if (timeout > 0 && parked) {
      // Wait at the gateway: parked on the best candidate, sent nowhere until one has room.
      metrics.routingDecisions.inc({ provider: parked.providerId, outcome: 'waiting' });
      const status = lent ? `Waiting up to ${timeout} s for capacity: ${lent}` : waitingStatus(timeout, plan);
      return { providerId: parked.providerId, product: parked.product, status, failover: [], wait: true, ...reclaimable };
    }
    const message = `No room now: ${lent ?? explainNoRoom(plan)}`;
    if (owed.length > 0) return { ...owed[0]!, status: message, failover: [], wait: false, unlessReclaimed: message, owed };
    metrics.routingDecisions.inc({ provider: 'none', outcome: 'no_capacity' });
    throw new NoCapacityError(message);
  }
  metrics.routingDecisions.inc({ provider: chosen.providerId, outcome: 'routed' });
  return { providerId: chosen.providerId, product: chosen.product, status: explainChoice(plan, chosen), failover: rest, wait: false };
}

/**
 * The candidates with room whose room is not kept for other projects' guarantees (routing/lending.ts),
 * and why the first one passed over was.
 */
function withRoomFor(
  candidates: Candidate[],
  owner: Job['owner'],
  replicas: number,
  view: LendingView | null,
  context: Pick<PlacementContext, 'utilization'>,
): { roomy: Candidate[]; lent: string | null } {
  let lent: string | null = null;
  const roomy = candidates.filter((c) => {
    const reason = lendingRefusal(view, owner, c.providerId, c.product, replicas, context.utilization.get(c.providerId));
    lent ??= reason;
    return reason === null;
  });
  return { roomy, lent };
}

/**
 * A waiting job's candidates without those whose room other projects' guarantees keep (their
 * lending limits); when that leaves none, it waits saying so. `view` is grown by each job sent.
 */
export function withinLending(
  placement: WaitingJobPlacement,
  owner: Job['owner'],
  replicas: number,
  view: LendingView | null,
  context: Pick<PlacementContext, 'utilization'>,
  scheduleTimeoutSeconds: number,
): WaitingJobPlacement {
  if (!view || placement.candidates.length === 0) return placement;
  const { roomy, lent } = withRoomFor(placement.candidates, owner, replicas, view, context);
  if (roomy.length > 0 || lent === null) return { ...placement, candidates: roomy };
  return {
    candidates: [],
    full: placement.full,
    waiting: `Waiting up to ${scheduleTimeoutSeconds} s for capacity: ${lent}`,
    failure: `No capacity became free within the schedule timeout of ${scheduleTimeoutSeconds} s: ${lent}`,
  };
}

/** Where a new job goes first, and where it may fail over to. */
export async function placeNewJob(input: JobSpecificationInput, owner: Job['owner'], context: PlacementContext): Promise<NewJobPlacement> {
  if (input.product) return placeOnProduct(input, owner, context);
  if (!input.requirements) throw new InvalidInputError('give a product or requirements');
  return placeByRequirements(input, owner, context);
}

/** Why a provider cannot take a job of this product now; null when it can (a half-open circuit lets the create probe it). */
function unusable(registry: RoutingRegistry, providerId: string, productId: string): string | null {
  const entry = registry.get(providerId);
  if (!entry) return `${providerId} is not known`;
  if (registry.status(entry) === 'DOWN') return `${providerId} is down (no heartbeat)`;
  if (registry.circuit(entry) === 'OPEN') return `${providerId} is failing repeatedly; its circuit is open`;
  if (!registry.product(providerId, productId)) return `${providerId} does not list ${productId} (yet)`;
  return null;
}

/**
 * Who can take a waiting job now. A job for one product (named, or `pinned` to the provider a create
 * may have reached) waits for that provider, not for room — unless its provider refused it for want of
 * room (`forRoom`); one routed by requirements goes to the best product with room. `orphan`: its
 * replica died while sending it.
 */
export function placeWaitingJob(
  /** Where the job is now (its provider and product, parked or pinned). */
  at: { providerId: string; productId: string },
  input: JobSpecificationInput,
  record: { pinned: boolean; forRoom: boolean; orphan: boolean },
  context: Pick<PlacementContext, 'registry' | 'utilization'>,
): WaitingJobPlacement {
  const { registry, utilization } = context;
  const timeout = input.scheduleTimeout ?? 0;
  if (record.pinned || input.product) {
    const { providerId, productId } = at;
    let reason = unusable(registry, providerId, productId);
    const product = reason === null ? registry.product(providerId, productId) : undefined;
    const candidate: Candidate | null = product
      ? { providerId, product, pricePerMinute: pricePerMinute(product), pending: 0, capacity: utilization.capacity(providerId, productId) }
      : null;
    let candidates: Candidate[] = [];
    if (candidate && record.forRoom && !hasRoom(candidate)) reason = `${providerId}/${candidate.product.id} is full`;
    else if (candidate) candidates = [candidate];
    return {
      candidates,
      full: candidate && !hasRoom(candidate) ? [candidate] : [],
      waiting: unreachableStatus(timeout, providerId, reason ?? ''),
      failure:
        timeout > 0 ? `${providerId} could not take the job within the schedule timeout of ${timeout} s: ${reason}` : `Could not start: ${reason}`,
      sending: record.orphan
        ? `Sending the job to ${providerId} again: the gateway replica that accepted it stopped before ${providerId} confirmed it`
        : `${providerId} can take the job now: sending it`,
    };
  }
  let plan: RoutePlan | null;
  try {
    plan = planFor(input, context);
  } catch (error) {
    // No product fits any more (a provider left): the job waits until its deadline, saying so.
    if (!(error instanceof SwitchyardError)) throw error;
    plan = null;
  }
  return {
    candidates: plan ? plan.candidates.filter(hasRoom) : [],
    full: plan ? plan.candidates.filter((candidate) => !hasRoom(candidate)) : [],
    waiting: plan ? waitingStatus(timeout, plan) : 'Waiting: no product fits any more',
    failure: `No capacity became free within the schedule timeout of ${timeout} s: ${plan ? explainNoRoom(plan) : 'no product fits any more'}`,
  };
}
