import { describe, expect, it } from 'vitest';

import { computeSupport, type Product } from '../../shared/domain.js';
import { bestCandidates, explainChoice, explainNoRoom, hasRoom, pricePerMinute, type Candidate } from './router.js';

function product(id: string, pricePerUnit: number, unitOfPrice: Product['unitOfPrice'] = 'CREDITS_PER_HOUR', freeToUse = false): Product {
  return {
    id,
    category: 'cpu',
    name: id,
    description: '',
    cpu: 1,
    memoryInGigs: 1,
    gpu: 0,
    pricePerUnit,
    unitOfPrice,
    freeToUse,
    priority: 0,
    support: computeSupport({ backend: 'NATIVE', timeExtension: true, suspension: true }),
  };
}

function candidate(providerId: string, p: Product, pending = 0, capacity: number | null = 10): Candidate {
  return { providerId, product: p, pricePerMinute: pricePerMinute(p), pending, capacity };
}

describe('routing preferences', () => {
  it('normalises prices to credits per minute, free products costing nothing', () => {
    expect(pricePerMinute(product('a', 60, 'CREDITS_PER_HOUR'))).toBe(1);
    expect(pricePerMinute(product('b', 1440, 'CREDITS_PER_DAY'))).toBe(1);
    expect(pricePerMinute(product('c', 3, 'CREDITS_PER_MINUTE'))).toBe(3);
    expect(pricePerMinute(product('d', 100, 'CREDITS_PER_MINUTE', true))).toBe(0);
  });

  it('prefers the cheapest, then the shortest queue, then the most free capacity', () => {
    const cheapBusy = candidate('p1', product('x', 30), 5, 1);
    const cheapIdle = candidate('p2', product('x', 30), 0, 1);
    const cheapIdleRoomy = candidate('p3', product('x', 30), 0, 50);
    const dear = candidate('p0', product('y', 600), 0, 100);
    expect(bestCandidates([dear, cheapBusy, cheapIdle, cheapIdleRoomy]).map((c) => c.providerId)).toEqual(['p3', 'p2', 'p1', 'p0']);
  });

  it('keeps only the best few, in order, whatever the input order', () => {
    const all = Array.from({ length: 200 }, (_, i) => candidate(`p${String(i).padStart(3, '0')}`, product('x', (i * 37) % 200)));
    const sorted = [...all].sort((a, b) => a.pricePerMinute - b.pricePerMinute || (a.providerId < b.providerId ? -1 : 1));
    expect(bestCandidates(all, 8)).toEqual(sorted.slice(0, 8));
    expect(bestCandidates([...all].reverse(), 8)).toEqual(sorted.slice(0, 8));
  });

  it('counts unknown capacity as room and zero as full', () => {
    expect(hasRoom(candidate('a', product('x', 1), 0, null))).toBe(true);
    expect(hasRoom(candidate('a', product('x', 1), 0, 0))).toBe(false);
  });

  it('says why it chose, and why nothing had room', () => {
    const cheap = candidate('sim-hpc', product('standard-8', 8), 0, 0);
    const next = candidate('sim-cloud', product('c5-large', 9), 0, 3);
    const plan = { candidates: [cheap, next], fitting: 4, usable: 4, excluded: [], blocked: null, unpaid: 0 };
    expect(explainChoice(plan, cheap)).toBe('Routed to sim-hpc/standard-8: cheapest of 4 fitting products');
    expect(explainChoice(plan, next)).toBe('Routed to sim-cloud/c5-large: cheapest with room of 4 fitting products');
    expect(explainNoRoom({ ...plan, excluded: ['local (down)'] })).toBe(
      '2 fitting products are full (sim-hpc/standard-8, sim-cloud/c5-large); not usable: local (down)',
    );
    expect(explainChoice({ ...plan, usable: 2, excluded: ['local (down)'] }, next)).toBe(
      'Routed to sim-cloud/c5-large: cheapest with room of 2 usable products (of 4 fitting; passed over: local (down))',
    );
  });
});
