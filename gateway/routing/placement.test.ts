import { describe, expect, it } from 'vitest';

import { computeSupport, type Product, type Utilization } from '../../shared/domain.js';
import type { JobSpecificationInput } from '../jobs/job-specification.js';
import { createGatewayMetrics } from '../metrics.js';
import type { ProviderClient } from '../registry/provider-client.js';
import type { ProviderEntry } from '../registry/provider-registry.js';
import { admitNewJob, placeNewJob, placeWaitingJob, type PlacementContext } from './placement.js';

function product(id: string, pricePerHour: number, cpu = 4): Product {
  return {
    id,
    category: id,
    name: id,
    description: '',
    cpu,
    memoryInGigs: 8,
    gpu: 0,
    pricePerUnit: pricePerHour,
    unitOfPrice: 'CREDITS_PER_HOUR',
    freeToUse: false,
    priority: 0,
    support: computeSupport({ backend: 'NATIVE', timeExtension: true, suspension: true }),
  };
}

interface World {
  context: PlacementContext;
  /** Capacity per provider and product (absent: unknown). */
  capacity: Map<string, number>;
  down: Set<string>;
  unpaid: Set<string>;
}

/** Routing over an in-memory table of providers: what it reads of the registry and the utilization cache, and nothing else. */
function world(providers: Record<string, Product[]>): World {
  const capacity = new Map<string, number>();
  const down = new Set<string>();
  const unpaid = new Set<string>();
  const client = (providerId: string): ProviderClient => ({
    providerId,
    call: async () => {
      throw new Error('routing never calls a provider');
    },
    terminateInBackground: () => undefined,
    circuitState: () => 'CLOSED',
    reset: () => undefined,
    shutdown: () => undefined,
  });
  const entries = Object.entries(providers).map(([id, products]): ProviderEntry => ({
    id,
    kind: 'SIMULATED',
    version: '1',
    domain: null,
    instanceId: `${id}-1`,
    lastHeartbeat: 0,
    lastSeen: 0,
    heartbeatIntervalMs: 1_000,
    manifestDigest: 'd',
    manifest: { products },
    subschemaDigest: null,
    alive: true,
    client: client(id),
  }));
  const utilization = (providerId: string): Utilization => {
    const byProduct: Record<string, number> = {};
    for (const [key, n] of capacity) if (key.startsWith(`${providerId}/`)) byProduct[key.slice(providerId.length + 1)] = n;
    const zero = { cpu: 0, memoryInGigs: 0, gpu: 0 };
    return { capacity: zero, usedCapacity: zero, queueStatus: { running: 0, pending: 0 }, observedAt: 0, capacityByProduct: byProduct };
  };
  const context: PlacementContext = {
    registry: {
      list: () => entries,
      get: (id) => entries.find((e) => e.id === id),
      status: (entry) => (down.has(entry.id) ? 'DOWN' : 'UP'),
      circuit: () => 'CLOSED',
      product: (providerId, productId) => entries.find((e) => e.id === providerId)?.manifest?.products.find((p) => p.id === productId),
    },
    utilization: {
      get: utilization,
      capacity: (providerId, productId) => capacity.get(`${providerId}/${productId}`) ?? null,
    },
    metrics: createGatewayMetrics({ defaultMetrics: false }),
    canPay: async (_owner, p, providerId) => !unpaid.has(`${providerId}/${p.id}`),
    requireFunds: async () => undefined,
  };
  return { context, capacity, down, unpaid };
}

const owner = { createdBy: 'alice', project: null };
const byRequirements = (extra: Partial<JobSpecificationInput> = {}): JobSpecificationInput => ({
  requirements: { cpu: 2 },
  command: ['true'],
  ...extra,
});

describe('placing a new job', () => {
  it('sends a job routed by requirements to the cheapest product with room, the rest its failover', async () => {
    const w = world({ hpc: [product('small', 60)], cloud: [product('vm', 120)], tiny: [product('one-cpu', 1, 1)] });
    w.capacity.set('hpc/small', 0);
    w.capacity.set('cloud/vm', 3);
    const placed = await placeNewJob(byRequirements(), owner, w.context);
    expect(placed).toMatchObject({ providerId: 'cloud', wait: false });
    expect(placed.status).toBe('Routed to cloud/vm: cheapest with room of 2 fitting products');
    expect(placed.failover).toEqual([]);
    w.capacity.set('hpc/small', 2);
    const again = await placeNewJob(byRequirements(), owner, w.context);
    expect([again.providerId, ...again.failover.map((c) => c.providerId)]).toEqual(['hpc', 'cloud']);
  });

  it('refuses NO_CAPACITY when nothing has room, or parks the job on the best candidate when it may wait', async () => {
    const w = world({ hpc: [product('small', 60)], cloud: [product('vm', 120)] });
    w.capacity.set('hpc/small', 0);
    w.capacity.set('cloud/vm', 0);
    await expect(placeNewJob(byRequirements(), owner, w.context)).rejects.toMatchObject({ code: 'NO_CAPACITY' });
    const parked = await placeNewJob(byRequirements({ scheduleTimeout: 60 }), owner, w.context);
    expect(parked).toMatchObject({ providerId: 'hpc', wait: true });
    expect(parked.status).toMatch(/^Waiting up to 60 s for capacity: 2 fitting products are full/);
  });

  it("offers every full product where the job's project has a guarantee to reclaim, placed only if reclaim makes room", async () => {
    const w = world({ hpc: [product('small', 60)], cloud: [product('vm', 120)], edge: [product('box', 30)] });
    for (const at of ['hpc/small', 'cloud/vm', 'edge/box']) w.capacity.set(at, 0);
    const offered: string[][] = [];
    // The choice among them is reclaim's (gateway/jobs/reclaim.ts); here it takes the last one offered, or none.
    let grant = true;
    const reclaim: NonNullable<PlacementContext['reclaim']> = {
      guaranteedOn: async () => new Set(['cloud', 'hpc']),
      reserve: async (subject, choices) => {
        offered.push(choices.map((c) => `${c.providerId}/${c.product.id}`));
        const choice = choices.at(-1)!;
        return grant ? { jobId: subject.jobId, ...choice, status: `reclaiming on ${choice.providerId}`, victims: ['v1'], reason: 'r' } : null;
      },
    };
    const inProject = { ...owner, project: 'genomics' };
    const context = { ...w.context, reclaim };
    const subject = { jobId: 'j1', owner: inProject, replicas: 1, timeAllocationMs: null };
    const owed = await placeNewJob(byRequirements(), inProject, context);
    // Cheapest first, only providers with a guarantee (edge has none).
    expect(owed.owed?.map((c) => `${c.providerId}/${c.product.id}`)).toEqual(['hpc/small', 'cloud/vm']);
    expect(owed.unlessReclaimed).toMatch(/^No room now: 3 fitting products are full/);
    const admitted = await admitNewJob(owed, subject, byRequirements(), context);
    expect(admitted).toMatchObject({ providerId: 'cloud', wait: true, status: 'reclaiming on cloud', reclaim: { victims: ['v1'] } });
    expect(offered).toEqual([['hpc/small', 'cloud/vm']]);
    // Reclaim applying nowhere: NO_CAPACITY, as without a guarantee.
    grant = false;
    await expect(admitNewJob(owed, subject, byRequirements(), context)).rejects.toMatchObject({ code: 'NO_CAPACITY' });
    // Outside a project there is nothing to reclaim.
    await expect(placeNewJob(byRequirements(), owner, context)).rejects.toMatchObject({ code: 'NO_CAPACITY' });
  });

  it('refuses INSUFFICIENT_FUNDS only when the caller can pay for none of the fitting products', async () => {
    const w = world({ hpc: [product('small', 60)], cloud: [product('vm', 120)] });
    w.unpaid.add('hpc/small');
    expect((await placeNewJob(byRequirements(), owner, w.context)).providerId).toBe('cloud');
    w.unpaid.add('cloud/vm');
    await expect(placeNewJob(byRequirements(), owner, w.context)).rejects.toMatchObject({ code: 'INSUFFICIENT_FUNDS' });
  });

  it('sends a named product to its provider, waits for a provider that is down only when the job may wait', async () => {
    const w = world({ hpc: [product('small', 60)] });
    const named = { product: { id: 'small', provider: 'hpc' }, command: ['true'] };
    expect(await placeNewJob(named, owner, w.context)).toMatchObject({ providerId: 'hpc', wait: false, status: 'Job submitted to hpc/small' });
    w.down.add('hpc');
    await expect(placeNewJob(named, owner, w.context)).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE' });
    expect(await placeNewJob({ ...named, scheduleTimeout: 30 }, owner, w.context)).toMatchObject({
      wait: true,
      status: 'Waiting up to 30 s for hpc to take the job: hpc is down (no heartbeat)',
    });
    await expect(placeNewJob({ product: { id: 'big', provider: 'hpc' } }, owner, w.context)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(placeNewJob({ command: ['true'] }, owner, w.context)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });
});

describe('placing a job that waits at the gateway', () => {
  const waitingInput = byRequirements({ scheduleTimeout: 60 });
  const plain = { pinned: false, forRoom: false, orphan: false };

  it('finds candidates for a routed job as soon as one has room, and says why it fails when none does', () => {
    const w = world({ hpc: [product('small', 60)], cloud: [product('vm', 120)] });
    w.capacity.set('hpc/small', 0);
    w.capacity.set('cloud/vm', 0);
    const at = { providerId: 'hpc', productId: 'small' };
    const full = placeWaitingJob(at, waitingInput, plain, w.context);
    expect(full.candidates).toEqual([]);
    expect(full.waiting).toMatch(/^Waiting up to 60 s for capacity/);
    expect(full.failure).toMatch(/^No capacity became free within the schedule timeout of 60 s: 2 fitting products are full/);
    w.capacity.set('cloud/vm', 1);
    expect(placeWaitingJob(at, waitingInput, plain, w.context).candidates.map((c) => c.providerId)).toEqual(['cloud']);
  });

  it('keeps a pinned job to its own provider, and one refused for room until that provider has room', () => {
    const w = world({ hpc: [product('small', 60)], cloud: [product('vm', 1)] });
    const at = { providerId: 'hpc', productId: 'small' };
    const pinned = placeWaitingJob(at, waitingInput, { ...plain, pinned: true }, w.context);
    expect(pinned.candidates.map((c) => `${c.providerId}/${c.product.id}`)).toEqual(['hpc/small']);
    expect(pinned.sending).toBe('hpc can take the job now: sending it');
    w.capacity.set('hpc/small', 0);
    const full = placeWaitingJob(at, waitingInput, { pinned: true, forRoom: true, orphan: true }, w.context);
    expect(full.candidates).toEqual([]);
    expect(full.failure).toBe('hpc could not take the job within the schedule timeout of 60 s: hpc/small is full');
    w.down.add('hpc');
    expect(placeWaitingJob(at, waitingInput, { ...plain, pinned: true }, w.context).waiting).toBe(
      'Waiting up to 60 s for hpc to take the job: hpc is down (no heartbeat)',
    );
  });
});
