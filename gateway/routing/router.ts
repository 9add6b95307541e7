/**
 * Picks where a job that gives requirements instead of a product runs. Among
 * products that fit (resources, backend, features, allowed providers, price
 * ceiling) and whose support takes the job (time allocation, replicas, image,
 * terminals), on providers that are up with a closed or half-open circuit and
 * that the caller can pay for, it prefers the cheapest per minute, then the
 * shortest queue, then the most free capacity. It keeps the next few as
 * failover candidates and says why it chose, and why it passed over the rest.
 */
import type { Product } from '../../shared/domain.js';
import { InvalidInputError, must } from '../../shared/errors.js';
import type { RequirementsInput } from '../jobs/job-specification.js';
import type { ProviderRegistry } from '../registry/provider-registry.js';
import type { UtilizationCache } from '../registry/utilization-cache.js';

const MINUTES_PER_UNIT = { CREDITS_PER_MINUTE: 1, CREDITS_PER_HOUR: 60, CREDITS_PER_DAY: 1440 } as const;
export const FEATURES = ['logs', 'terminal', 'web', 'vnc', 'peers', 'timeExtension', 'suspension', 'utilization'] as const;
type Feature = (typeof FEATURES)[number];
/** How many candidates a plan keeps for failover. */
const KEEP = 8;

export function pricePerMinute(product: Product): number {
  return product.freeToUse ? 0 : product.pricePerUnit / MINUTES_PER_UNIT[product.unitOfPrice];
}

export interface Candidate {
  providerId: string;
  product: Product;
  pricePerMinute: number;
  /** Jobs waiting at the provider. */
  pending: number;
  /** More jobs of the product that could start now; null when the provider does not say. */
  capacity: number | null;
}

export interface RoutePlan {
  /** Usable candidates, best first. */
  candidates: Candidate[];
  /** How many products fit the requirements at all. */
  fitting: number;
  /** How many of those could be used now (room or not). */
  usable: number;
  /** Why fitting products could not be used: "local (down)", "sim-hpc/gpu-4 (no credits)". */
  excluded: string[];
  /** The best product that fits but cannot be used now (down, circuit open, no credits): where a waiting job is parked. */
  blocked: Candidate | null;
  /** Fitting products passed over only because the caller cannot pay for them. */
  unpaid: number;
}

/** What routing reads of the registry: providers, their state and their products. */
export type RoutingRegistry = Pick<ProviderRegistry, 'list' | 'get' | 'status' | 'circuit' | 'product'>;

export interface RouteContext {
  registry: RoutingRegistry;
  utilization: Pick<UtilizationCache, 'get'>;
  /** Whether the caller can pay for the product; routing skips what it cannot. */
  canPay?: (product: Product, providerId: string) => boolean;
  /**
   * Why the product's support refuses the job (time allocation, replicas, image, terminals),
   * or null when it takes it: such products are passed over, never chosen to refuse it later.
   */
  refusal?: (product: Product, providerId: string) => string | null;
}

/** Lower is better: price, then queue, then (more) capacity. */
export function compareCandidates(a: Candidate, b: Candidate): number {
  return compareRaw(a.pricePerMinute, a.pending, a.capacity, a.providerId, b);
}

function compareRaw(price: number, pending: number, capacity: number | null, providerId: string, b: Candidate): number {
  return (
    price - b.pricePerMinute ||
    pending - b.pending ||
    (b.capacity ?? -1) - (capacity ?? -1) ||
    (providerId < b.providerId ? -1 : providerId > b.providerId ? 1 : 0)
  );
}

/**
 * The best few candidates in order, kept while offering every product once:
 * a product that would not make the list costs a comparison and no allocation.
 */
class BestCandidates {
  readonly items: Candidate[] = [];
  constructor(private readonly keep: number) {}

  offer(providerId: string, product: Product, price: number, pending: number, capacity: number | null): void {
    const items = this.items;
    if (items.length === this.keep && compareRaw(price, pending, capacity, providerId, items[items.length - 1]!) >= 0) return;
    const candidate: Candidate = { providerId, product, pricePerMinute: price, pending, capacity };
    let i = items.length;
    while (i > 0 && compareCandidates(candidate, items[i - 1]!) < 0) i -= 1;
    items.splice(i, 0, candidate);
    if (items.length > this.keep) items.pop();
  }
}

/** The best `keep` candidates in order, by one pass over all of them (no full sort). */
export function bestCandidates(all: readonly Candidate[], keep = KEEP): Candidate[] {
  const best = new BestCandidates(keep);
  for (const c of all) best.offer(c.providerId, c.product, c.pricePerMinute, c.pending, c.capacity);
  return best.items;
}

function misfit(product: Product, req: RequirementsInput): string | null {
  if (req.cpu != null && product.cpu < req.cpu) return 'too few CPUs';
  if (req.memoryInGigs != null && product.memoryInGigs < req.memoryInGigs) return 'too little memory';
  if (req.gpu != null && product.gpu < req.gpu) return 'too few GPUs';
  if (req.backend != null && product.support.backend !== req.backend) return 'another backend';
  return null;
}

export function validateRequirements(requirements: RequirementsInput, registry: Pick<ProviderRegistry, 'get'>): void {
  for (const feature of requirements.features ?? []) {
    if (!(FEATURES as readonly string[]).includes(feature)) {
      throw new InvalidInputError(`requirements.features: unknown feature "${feature}" (known: ${FEATURES.join(', ')})`);
    }
  }
  for (const [key, value] of Object.entries({
    cpu: requirements.cpu,
    memoryInGigs: requirements.memoryInGigs,
    gpu: requirements.gpu,
    maxCreditsPerMinute: requirements.maxCreditsPerMinute,
  })) {
    if (value != null && value < 0) throw new InvalidInputError(`requirements.${key} must not be negative`);
  }
  for (const id of requirements.providers ?? [])
    if (!registry.get(id)) throw new InvalidInputError(`requirements.providers: unknown provider "${id}"`);
}

/** How many passed-over products of one reason are named; the rest are counted. */
const NAMED_PER_REASON = 5;

/** Products passed over, grouped by reason: a few named, all counted (a status line stays short at any scale). */
class Exclusions {
  private readonly byReason = new Map<string, { named: string[]; count: number }>();

  add(reason: string, what: () => string): void {
    let group = this.byReason.get(reason);
    if (!group) this.byReason.set(reason, (group = { named: [], count: 0 }));
    group.count += 1;
    if (group.named.length < NAMED_PER_REASON) group.named.push(what());
  }

  list(): string[] {
    const out: string[] = [];
    for (const [reason, group] of this.byReason) {
      for (const name of group.named) out.push(`${name} (${reason})`);
      if (group.count > group.named.length) out.push(`${group.count - group.named.length} more (${reason})`);
    }
    return out;
  }
}

/** Every usable product for the requirements, ranked; INVALID_INPUT when no product fits at all. */
export function planRoute(requirements: RequirementsInput, context: RouteContext): RoutePlan {
  const { registry, utilization, canPay, refusal } = context;
  validateRequirements(requirements, registry);
  const allowed = requirements.providers?.length ? new Set(requirements.providers) : null;
  const features = (requirements.features ?? []) as Feature[];
  const ceiling = requirements.maxCreditsPerMinute ?? null;
  const misfits = new Map<string, number>();
  const excluded = new Exclusions();
  const best = new BestCandidates(KEEP);
  let usable = 0;
  let fitting = 0;
  /** Exclusions that may pass (a provider comes back, credits are granted), unlike price or features. */
  let passing = 0;
  let blocked: Candidate | null = null;
  let unpaid = 0;
  const block = (candidate: Candidate) => {
    passing += 1;
    if (!blocked || compareCandidates(candidate, blocked) < 0) blocked = candidate;
  };
  for (const entry of registry.list()) {
    if (allowed && !allowed.has(entry.id)) continue;
    const status = registry.status(entry);
    const circuit = registry.circuit(entry);
    const providerProblem = status === 'DOWN' ? 'down' : circuit === 'OPEN' ? 'circuit open' : null;
    const util = utilization.get(entry.id);
    const pending = util?.queueStatus.pending ?? 0;
    const capacities = util?.capacityByProduct;
    let providerExcluded = false;
    for (const product of entry.manifest?.products ?? []) {
      const why = misfit(product, requirements);
      if (why) {
        misfits.set(why, (misfits.get(why) ?? 0) + 1);
        continue;
      }
      fitting += 1;
      let missing: Feature | null = null;
      for (const feature of features) {
        if (!product.support[feature]) {
          missing = feature;
          break;
        }
      }
      if (missing) {
        excluded.add(`no ${missing}`, () => `${entry.id}/${product.id}`);
        continue;
      }
      const refused = refusal?.(product, entry.id) ?? null;
      if (refused) {
        excluded.add(refused, () => `${entry.id}/${product.id}`);
        continue;
      }
      const price = pricePerMinute(product);
      if (ceiling !== null && price > ceiling) {
        excluded.add('too dear', () => `${entry.id}/${product.id} at ${+price.toFixed(2)} credits/min`);
        continue;
      }
      const capacity = capacities?.[product.id] ?? null;
      if (providerProblem || (canPay && !canPay(product, entry.id))) {
        block({ providerId: entry.id, product, pricePerMinute: price, pending, capacity });
        if (providerProblem) {
          if (!providerExcluded) excluded.add(providerProblem, () => entry.id);
          providerExcluded = true;
        } else {
          unpaid += 1;
          excluded.add('no credits', () => `${entry.id}/${product.id}`);
        }
        continue;
      }
      usable += 1;
      best.offer(entry.id, product, price, pending, capacity);
    }
  }
  if (fitting === 0) {
    const detail = [...misfits].map(([why, n]) => `${n} ${why}`).join(', ');
    throw new InvalidInputError(`No product meets the requirements${detail ? ` (${detail})` : ''}`);
  }
  if (usable === 0 && passing === 0) {
    // Only the price ceiling, missing features or the products' support rules stand in the way.
    throw new InvalidInputError(`No product meets the requirements: ${excluded.list().join(', ')}`);
  }
  return { candidates: best.items, fitting, usable, excluded: excluded.list(), blocked, unpaid };
}

/** Why a plan chose its first candidate with room, as the job's first update says it. */
export function explainChoice(plan: RoutePlan, chosen: Candidate): string {
  // `chosen` is one of the plan's candidates: there is a first.
  const cheapest = must(plan.candidates[0], 'the cheapest candidate');
  const plural = (n: number) => (n === 1 ? '' : 's');
  const total =
    plan.usable === plan.fitting
      ? `${plan.fitting} fitting product${plural(plan.fitting)}`
      : `${plan.usable} usable product${plural(plan.usable)} (of ${plan.fitting} fitting; passed over: ${plan.excluded.slice(0, 3).join(', ')}${plan.excluded.length > 3 ? ', ...' : ''})`;
  let why: string;
  if (chosen !== cheapest && chosen.pricePerMinute > cheapest.pricePerMinute) why = `cheapest with room of ${total}`;
  else if (plan.candidates.some((c) => c !== chosen && c.pricePerMinute === chosen.pricePerMinute && c.pending > chosen.pending))
    why = `cheapest of ${total}, shortest queue`;
  else if (plan.candidates.some((c) => c !== chosen && c.pricePerMinute === chosen.pricePerMinute && c.pending === chosen.pending))
    why = `cheapest of ${total}, most free capacity`;
  else why = `cheapest of ${total}`;
  return `Routed to ${chosen.providerId}/${chosen.product.id}: ${why}`;
}

/** Has room for one more job now (unknown capacity counts as room: the provider queues). */
export function hasRoom(candidate: Candidate): boolean {
  return candidate.capacity === null || candidate.capacity > 0;
}

/** Why a job cannot be placed now, for NO_CAPACITY and for a waiting job's status. */
export function explainNoRoom(plan: RoutePlan): string {
  const full = plan.candidates.map((c) => `${c.providerId}/${c.product.id}`);
  const parts = [
    full.length
      ? `${full.length} fitting product${full.length === 1 ? ' is' : 's are'} full (${full.join(', ')})`
      : `none of ${plan.fitting} fitting products is usable`,
  ];
  if (plan.excluded.length) parts.push(`not usable: ${plan.excluded.join(', ')}`);
  return parts.join('; ');
}
