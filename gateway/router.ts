/**
 * Picks a product for a job that gives requirements instead of naming one:
 * among products that fit, on providers that are UP, the cheapest per minute,
 * then the highest priority. The reason goes into the job's first update.
 */
import type { Product } from '../shared/domain.js';
import { InvalidInputError, SwitchyardError } from '../shared/errors.js';
import type { RequirementsInput } from './job-specification.js';
import type { ProviderRegistry } from './provider-registry.js';

const MINUTES_PER_UNIT = { CREDITS_PER_MINUTE: 1, CREDITS_PER_HOUR: 60, CREDITS_PER_DAY: 1440 } as const;
const FEATURES = ['logs', 'terminal', 'web', 'vnc', 'peers', 'timeExtension', 'suspension', 'utilization'] as const;
type Feature = (typeof FEATURES)[number];

export function pricePerMinute(product: Product): number {
  return product.freeToUse ? 0 : product.pricePerUnit / MINUTES_PER_UNIT[product.unitOfPrice];
}

export interface RouteDecision {
  providerId: string;
  product: Product;
  reason: string;
}

function misfit(product: Product, req: RequirementsInput): string | null {
  if (req.cpu != null && product.cpu < req.cpu) return 'cpu';
  if (req.memoryInGigs != null && product.memoryInGigs < req.memoryInGigs) return 'memory';
  if (req.gpu != null && product.gpu < req.gpu) return 'gpu';
  if (req.backend != null && product.support.backend !== req.backend) return 'backend';
  if (req.maxCreditsPerMinute != null && pricePerMinute(product) > req.maxCreditsPerMinute) return 'price';
  for (const feature of req.features ?? []) {
    if (!product.support[feature as Feature]) return `feature ${feature}`;
  }
  return null;
}

export function route(requirements: RequirementsInput, registry: ProviderRegistry): RouteDecision {
  for (const feature of requirements.features ?? []) {
    if (!(FEATURES as readonly string[]).includes(feature)) {
      throw new InvalidInputError(`requirements.features: unknown feature "${feature}" (known: ${FEATURES.join(', ')})`);
    }
  }
  for (const [key, value] of Object.entries({ cpu: requirements.cpu, memoryInGigs: requirements.memoryInGigs, gpu: requirements.gpu })) {
    if (value != null && value < 0) throw new InvalidInputError(`requirements.${key} must not be negative`);
  }
  const allowed = requirements.providers?.length ? new Set(requirements.providers) : null;
  for (const id of allowed ?? []) if (!registry.get(id)) throw new InvalidInputError(`requirements.providers: unknown provider "${id}"`);

  const misfits = new Map<string, number>();
  const fitting: { providerId: string; product: Product; up: boolean }[] = [];
  for (const entry of registry.list()) {
    if (allowed && !allowed.has(entry.id)) continue;
    for (const product of entry.manifest?.products ?? []) {
      const why = misfit(product, requirements);
      if (why) misfits.set(why, (misfits.get(why) ?? 0) + 1);
      else fitting.push({ providerId: entry.id, product, up: registry.status(entry) === 'UP' });
    }
  }
  if (fitting.length === 0) {
    const detail = [...misfits].map(([why, n]) => `${n} by ${why}`).join(', ');
    throw new InvalidInputError(`No product meets the requirements${detail ? ` (${detail})` : ''}`);
  }
  const usable = fitting.filter((c) => c.up);
  if (usable.length === 0) {
    throw new SwitchyardError('NO_CAPACITY', `${fitting.length} products fit, but none of their providers is up (${[...new Set(fitting.map((c) => c.providerId))].join(', ')})`);
  }
  usable.sort((a, b) => pricePerMinute(a.product) - pricePerMinute(b.product) || b.product.priority - a.product.priority || a.providerId.localeCompare(b.providerId));
  const chosen = usable[0];
  return {
    providerId: chosen.providerId,
    product: chosen.product,
    reason: `Routed to ${chosen.providerId}/${chosen.product.id}: cheapest of ${usable.length} fitting product${usable.length === 1 ? '' : 's'}`,
  };
}
