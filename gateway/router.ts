/**
 * Picks where a job that gives requirements instead of a product runs. Among
 * products that fit (resources, backend, features, allowed providers, price
 * ceiling), on providers that are up with a closed or half-open circuit and
 * that the caller can pay for, it prefers the cheapest per minute, then the
 * shortest queue, then the most free capacity. It keeps the next few as
 * failover candidates and says why it chose, and why it passed over the rest.
 */
import type { Product } from '../shared/domain.js';
import { InvalidInputError } from '../shared/errors.js';
import type { RequirementsInput } from './job-specification.js';
import type { ProviderRegistry } from './provider-registry.js';
import type { UtilizationCache } from './utilization-cache.js';

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
  /** Why fitting products could not be used: "local (down)", "sim-hpc/gpu-4 (no credits)". */
  excluded: string[];
  /** The best product that fits but cannot be used now (down, circuit open, no credits): where a waiting job is parked. */
  blocked: Candidate | null;
}

export interface RouteContext {
  registry: ProviderRegistry;
  utilization: UtilizationCache;
  /** Whether the caller can pay for the product; routing skips what it cannot. */
  canPay?: (product: Product, providerId: string) => boolean;
}

/** Lower is better: price, then queue, then (more) capacity. */
export function compareCandidates(a: Candidate, b: Candidate): number {
  return a.pricePerMinute - b.pricePerMinute || a.pending - b.pending || (b.capacity ?? -1) - (a.capacity ?? -1) || (a.providerId < b.providerId ? -1 : a.providerId > b.providerId ? 1 : 0);
}

/** The best `keep` candidates in order, by one pass over all of them (no full sort). */
export function bestCandidates(all: readonly Candidate[], keep = KEEP): Candidate[] {
  const best: Candidate[] = [];
  for (const candidate of all) {
    if (best.length === keep && compareCandidates(candidate, best[keep - 1]) >= 0) continue;
    let i = best.length;
    while (i > 0 && compareCandidates(candidate, best[i - 1]) < 0) i -= 1;
    best.splice(i, 0, candidate);
    if (best.length > keep) best.pop();
  }
  return best;
}

function misfit(product: Product, req: RequirementsInput): string | null {
  if (req.cpu != null && product.cpu < req.cpu) return 'too few CPUs';
  if (req.memoryInGigs != null && product.memoryInGigs < req.memoryInGigs) return 'too little memory';
  if (req.gpu != null && product.gpu < req.gpu) return 'too few GPUs';
  if (req.backend != null && product.support.backend !== req.backend) return `not ${req.backend}`;
  return null;
}

export function validateRequirements(requirements: RequirementsInput, registry: ProviderRegistry): void {
  for (const feature of requirements.features ?? []) {
    if (!(FEATURES as readonly string[]).includes(feature)) {
      throw new InvalidInputError(`requirements.features: unknown feature "${feature}" (known: ${FEATURES.join(', ')})`);
    }
  }
  for (const [key, value] of Object.entries({ cpu: requirements.cpu, memoryInGigs: requirements.memoryInGigs, gpu: requirements.gpu, maxCreditsPerMinute: requirements.maxCreditsPerMinute })) {
    if (value != null && value < 0) throw new InvalidInputError(`requirements.${key} must not be negative`);
  }
  for (const id of requirements.providers ?? []) if (!registry.get(id)) throw new InvalidInputError(`requirements.providers: unknown provider "${id}"`);
}

/** Every usable product for the requirements, ranked; INVALID_INPUT when no product fits at all. */
export function planRoute(requirements: RequirementsInput, context: RouteContext): RoutePlan {
  const { registry, utilization, canPay } = context;
  validateRequirements(requirements, registry);
  const allowed = requirements.providers?.length ? new Set(requirements.providers) : null;
  const misfits = new Map<string, number>();
  const excluded: string[] = [];
  const usable: Candidate[] = [];
  let fitting = 0;
  /** Exclusions that may pass (a provider comes back, credits are granted), unlike price or features. */
  let passing = 0;
  let blocked: Candidate | null = null;
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
    let providerExcluded = false;
    for (const product of entry.manifest?.products ?? []) {
      const why = misfit(product, requirements);
      if (why) {
        misfits.set(why, (misfits.get(why) ?? 0) + 1);
        continue;
      }
      fitting += 1;
      const missing = (requirements.features ?? []).find((f) => !product.support[f as Feature]);
      if (missing) {
        excluded.push(`${entry.id}/${product.id} (no ${missing})`);
        continue;
      }
      const price = pricePerMinute(product);
      if (requirements.maxCreditsPerMinute != null && price > requirements.maxCreditsPerMinute) {
        excluded.push(`${entry.id}/${product.id} (too dear: ${+price.toFixed(2)} credits/min)`);
        continue;
      }
      const capacity = util?.capacityByProduct[product.id];
      const candidate: Candidate = { providerId: entry.id, product, pricePerMinute: price, pending: util?.queueStatus.pending ?? 0, capacity: capacity ?? null };
      if (providerProblem) {
        block(candidate);
        if (!providerExcluded) excluded.push(`${entry.id} (${providerProblem})`);
        providerExcluded = true;
        continue;
      }
      if (canPay && !canPay(product, entry.id)) {
        block(candidate);
        excluded.push(`${entry.id}/${product.id} (no credits)`);
        continue;
      }
      usable.push(candidate);
    }
  }
  if (fitting === 0) {
    const detail = [...misfits].map(([why, n]) => `${n} ${why}`).join(', ');
    throw new InvalidInputError(`No product meets the requirements${detail ? ` (${detail})` : ''}`);
  }
  if (usable.length === 0 && passing === 0) {
    // Only the price ceiling or missing features stand in the way: no product meets the requirements.
    throw new InvalidInputError(`No product meets the requirements: ${excluded.join(', ')}`);
  }
  return { candidates: bestCandidates(usable), fitting, excluded, blocked };
}

/** Why a plan chose its first candidate with room, as the job's first update says it. */
export function explainChoice(plan: RoutePlan, chosen: Candidate): string {
  const cheapest = plan.candidates[0];
  const total = `${plan.fitting} fitting product${plan.fitting === 1 ? '' : 's'}`;
  let why: string;
  if (chosen !== cheapest && chosen.pricePerMinute > cheapest.pricePerMinute) why = `cheapest with room of ${total}`;
  else if (plan.candidates.some((c) => c !== chosen && c.pricePerMinute === chosen.pricePerMinute && c.pending > chosen.pending)) why = `cheapest of ${total}, shortest queue`;
  else if (plan.candidates.some((c) => c !== chosen && c.pricePerMinute === chosen.pricePerMinute && c.pending === chosen.pending)) why = `cheapest of ${total}, most free capacity`;
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
    full.length ? `${full.length} fitting product${full.length === 1 ? ' is' : 's are'} full (${full.join(', ')})` : `none of ${plan.fitting} fitting products is usable`,
  ];
  if (plan.excluded.length) parts.push(`not usable: ${plan.excluded.join(', ')}`);
  return parts.join('; ');
}
