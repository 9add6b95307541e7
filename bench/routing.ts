/**
 * Benchmark 4: one routing decision (gateway/routing/router.ts planRoute) among 100
 * providers with 20 products each. The context is built from the gateway's
 * real parts: the provider registry watching announcements on an in-memory
 * bus, manifests fetched from stand-in providers over that bus (as
 * test/broken-providers.test.ts does), and the utilization cache polling the
 * same providers. Beside it, in the same run: a plain Array.prototype.sort of
 * the same 2,000 candidates by price.
 */
import type { RequirementsInput } from '../gateway/jobs/job-specification.js';
import { createGatewayMetrics } from '../gateway/metrics.js';
import { createProviderRegistry } from '../gateway/registry/provider-registry.js';
import { createUtilizationCache } from '../gateway/registry/utilization-cache.js';
import { compareCandidates, planRoute, pricePerMinute, type Candidate, type RouteContext } from '../gateway/routing/router.js';
import type { Backend, Manifest, Product, ProductPriceUnit, Utilization } from '../shared/domain.js';
import { silentLogger } from '../shared/logger.js';
import { PROTOCOL_VERSION } from '../shared/protocol.js';
import { createSubjects } from '../shared/subjects.js';
import type { Closable } from '../shared/transport.js';
import { createMemoryTransport } from '../shared/transport/memory-transport.js';
import { summarize, waitFor, type LatencySummary } from './stats.js';

export interface RoutingOptions {
  /** Subject prefix of the in-memory bus. */
  subjectPrefix: string;
  /** @default 100 */
  providers?: number;
  /** @default 20 */
  productsPerProvider?: number;
  /** Timed rounds (each times every measurement once), after `warmup` untimed ones. @default 2000 */
  iterations?: number;
  /** @default 500 */
  warmup?: number;
}

/** One timed routing decision: what was asked, what the plan found, and how long it took (µs). */
export interface PlanMeasurement {
  requirements: RequirementsInput;
  /** Products that fit the resources (plan.fitting). */
  fitting: number;
  /** Fitting products passed over (price, features, ...): plan.excluded.length. */
  excluded: number;
  /** The plan's first candidate, "provider/product". */
  chosen: string;
  /** Whether it is the best of a full sort (compareCandidates) of every usable candidate. */
  chosenIsBest: boolean;
  latencyUs: LatencySummary;
}

export interface RoutingResult {
  providers: number;
  products: number;
  /** Time to set the context up: announcements → manifests loaded → utilization cached. */
  setupMs: number;
  plain: PlanMeasurement;
  filtered: PlanMeasurement;
  /** registry.list() alone, which planRoute calls once per decision (µs). */
  registryListUs: LatencySummary;
  /** The baseline: [...candidates].sort(by price) of all the products as candidates (µs). */
  sortUs: LatencySummary;
}

export const PLAIN_REQUIREMENTS: RequirementsInput = { cpu: 2, memoryInGigs: 4 };
export const FILTERED_REQUIREMENTS: RequirementsInput = { cpu: 2, memoryInGigs: 4, features: ['logs', 'terminal'], maxCreditsPerMinute: 5 };

/** Deterministic: every run routes among the same products. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FAMILIES = [
  { category: 'general', memoryPerCpu: 4, gpu: false },
  { category: 'compute', memoryPerCpu: 2, gpu: false },
  { category: 'highmem', memoryPerCpu: 8, gpu: false },
  { category: 'gpu', memoryPerCpu: 8, gpu: true },
  { category: 'hpc', memoryPerCpu: 3.75, gpu: false },
] as const;
const CPUS = [1, 2, 4, 8, 16, 32, 64];
const GPUS = [1, 2, 4, 8];
const UNITS: readonly ProductPriceUnit[] = ['CREDITS_PER_MINUTE', 'CREDITS_PER_HOUR', 'CREDITS_PER_DAY'];
const MINUTES: Record<ProductPriceUnit, number> = { CREDITS_PER_MINUTE: 1, CREDITS_PER_HOUR: 60, CREDITS_PER_DAY: 1440 };
const BACKENDS: readonly Backend[] = ['NATIVE', 'DOCKER', 'VIRTUAL_MACHINE'];
const REPLICAS = [1, 2, 4, 8, 16];

const pick = <T>(rand: () => number, values: readonly T[]): T => values[Math.floor(rand() * values.length)]!;

/** A product as a provider might sell it: sizes, prices, units and support vary. */
export function makeProduct(rand: () => number, providerId: string, k: number): Product {
  const family = FAMILIES[k % FAMILIES.length]!;
  const cpu = pick(rand, CPUS);
  const gpu = family.gpu ? pick(rand, GPUS) : 0;
  const unitOfPrice = pick(rand, UNITS);
  // About 0.5–1.5 credits per CPU-minute, 10–30 per GPU-minute, as an integer in the product's unit.
  const perMinute = cpu * (0.5 + rand()) + gpu * (10 + 20 * rand());
  return {
    id: `${family.category}-${cpu}c-${k}`,
    category: family.category,
    name: `${family.category} ${cpu} CPU${gpu ? ` ${gpu} GPU` : ''}`,
    description: `${cpu} CPUs, ${cpu * family.memoryPerCpu} GiB${gpu ? `, ${gpu} GPUs` : ''} on ${providerId}`,
    cpu,
    memoryInGigs: cpu * family.memoryPerCpu,
    gpu,
    pricePerUnit: Math.max(1, Math.round(perMinute * MINUTES[unitOfPrice])),
    unitOfPrice,
    freeToUse: rand() < 0.03,
    priority: Math.floor(rand() * 3),
    support: {
      backend: pick(rand, BACKENDS),
      logs: rand() < 0.9,
      terminal: rand() < 0.6,
      web: rand() < 0.3,
      vnc: rand() < 0.2,
      peers: rand() < 0.3,
      timeExtension: rand() < 0.7,
      suspension: rand() < 0.5,
      utilization: rand() < 0.8,
      maxReplicas: pick(rand, REPLICAS),
      maxTimeAllocationMs: rand() < 0.5 ? null : (1 + Math.floor(rand() * 72)) * 3_600_000,
    },
  };
}

/** Capacity for every product (a fifth of them full), a queue of 0–19 jobs. */
export function makeUtilization(rand: () => number, manifest: Manifest): Utilization {
  const capacityByProduct: Record<string, number> = {};
  for (const product of manifest.products) capacityByProduct[product.id] = rand() < 0.2 ? 0 : 1 + Math.floor(rand() * 50);
  const cpu = 64 * (1 + Math.floor(rand() * 16));
  const used = Math.floor(rand() * cpu);
  return {
    capacity: { cpu, memoryInGigs: cpu * 4, gpu: 16 },
    usedCapacity: { cpu: used, memoryInGigs: used * 4, gpu: Math.floor(rand() * 16) },
    queueStatus: { running: Math.floor(rand() * 200), pending: rand() < 0.3 ? 0 : Math.floor(rand() * 20) },
    observedAt: Date.now(),
    capacityByProduct,
  };
}

/** Runs `rounds` rounds, each timing every fn once (in turn), and returns each fn's samples in µs. */
function timeInterleaved(fns: readonly (() => unknown)[], rounds: number, warmup: number): LatencySummary[] {
  const timed = fns.map((fn) => ({ fn, samples: new Array<number>(rounds) }));
  let sink = 0;
  for (let round = -warmup; round < rounds; round++) {
    for (const { fn, samples } of timed) {
      const started = performance.now();
      const result = fn();
      const elapsed = performance.now() - started;
      // Keep the result alive so nothing is optimised away.
      if (result === undefined) sink += 1;
      if (round >= 0) samples[round] = elapsed * 1000;
    }
  }
  if (sink < 0) console.log(sink);
  return timed.map(({ samples }) => summarize(samples));
}

export interface RoutingFixture {
  context: RouteContext;
  /** Every product of every provider as a routing candidate, in registry order. */
  candidates: Candidate[];
  /** Announcements → manifests loaded → utilization cached, in ms. */
  setupMs: number;
  stop(): Promise<void>;
}

/**
 * The registry and the utilization cache of a gateway, filled by `providers`
 * stand-in providers of `productsPerProvider` products each over an in-memory
 * bus; resolves once every manifest is loaded and every utilization cached.
 */
export async function startRoutingFixture(options: {
  subjectPrefix: string;
  providers: number;
  productsPerProvider: number;
}): Promise<RoutingFixture> {
  const { providers: providerCount, productsPerProvider: perProvider } = options;
  const subjects = createSubjects(options.subjectPrefix);
  const transport = createMemoryTransport({ subjects });
  const logger = silentLogger();
  const registry = createProviderRegistry({ transport, logger, metrics: createGatewayMetrics({ defaultMetrics: false }) });
  const utilization = createUtilizationCache({ registry, logger });
  const servers: Closable[] = [];
  const rand = mulberry32(0x5717c4);
  const stop = async () => {
    utilization.stop();
    await registry.stop();
    for (const server of servers) await server.close();
    await transport.close();
  };

  try {
    const started = performance.now();
    await registry.start();
    const ids: string[] = [];
    for (let p = 0; p < providerCount; p++) {
      const id = `bench-p${String(p).padStart(3, '0')}`;
      ids.push(id);
      const manifest: Manifest = { products: Array.from({ length: perProvider }, (_, k) => makeProduct(rand, id, k)) };
      const util = makeUtilization(rand, manifest);
      // A stand-in provider: manifest and utilization over the bus, every other verb refused.
      servers.push(
        transport.serve(subjects.providerAll(id), async (_body, subject) => {
          if (subject.endsWith('.manifest')) return { v: PROTOCOL_VERSION, ok: true, result: manifest };
          if (subject.endsWith('.utilization')) return { v: PROTOCOL_VERSION, ok: true, result: { ...util, observedAt: Date.now() } };
          return {
            v: PROTOCOL_VERSION,
            ok: false,
            error: { code: 'UNSUPPORTED', message: 'a routing stand-in serves only manifest and utilization' },
          };
        }),
      );
      const now = Date.now();
      await transport.putAnnouncement(id, {
        v: PROTOCOL_VERSION,
        id,
        kind: 'SIMULATED',
        version: 'bench',
        instanceId: `${id}-1`,
        manifestDigest: `digest-${id}`,
        startedAt: now,
        heartbeatAt: now,
        // Long: the bench runs without heartbeats, and no provider may go DOWN meanwhile.
        heartbeatIntervalMs: 600_000,
        domain: null,
        subschemaDigest: null,
      });
    }
    await waitFor(() => ids.every((id) => registry.get(id)?.manifest?.products.length === perProvider), `all ${providerCount} manifests to load`);
    await waitFor(async () => {
      await utilization.refresh();
      return ids.every((id) => utilization.get(id) !== null);
    }, `the utilization of all ${providerCount} providers to be cached`);
    const setupMs = performance.now() - started;
    const notUp = ids.filter((id) => registry.status(registry.get(id)!) !== 'UP');
    if (notUp.length > 0) throw new Error(`routing bench: ${notUp.length} stand-in providers are not UP (first: ${notUp[0]})`);

    const candidates: Candidate[] = registry.list().flatMap((entry) => {
      const util = utilization.get(entry.id);
      return (entry.manifest?.products ?? []).map((product) => ({
        providerId: entry.id,
        product,
        pricePerMinute: pricePerMinute(product),
        pending: util?.queueStatus.pending ?? 0,
        capacity: util?.capacityByProduct[product.id] ?? null,
      }));
    });
    return { context: { registry, utilization }, candidates, setupMs, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export async function benchRouting(options: RoutingOptions): Promise<RoutingResult> {
  const iterations = options.iterations ?? 2000;
  const warmup = options.warmup ?? 500;
  const fixture = await startRoutingFixture({
    subjectPrefix: options.subjectPrefix,
    providers: options.providers ?? 100,
    productsPerProvider: options.productsPerProvider ?? 20,
  });
  try {
    const { context, candidates: all } = fixture;
    const byPrice = (a: Candidate, b: Candidate) => a.pricePerMinute - b.pricePerMinute;

    /** The plan once, untimed, checked against a full sort of every usable candidate. */
    const describePlan = (requirements: RequirementsInput): Omit<PlanMeasurement, 'latencyUs'> => {
      const plan = planRoute(requirements, context);
      const features = requirements.features ?? [];
      const usable = all.filter(
        (c) =>
          c.product.cpu >= (requirements.cpu ?? 0) &&
          c.product.memoryInGigs >= (requirements.memoryInGigs ?? 0) &&
          c.product.gpu >= (requirements.gpu ?? 0) &&
          features.every((f) => c.product.support[f as keyof Product['support']]) &&
          (requirements.maxCreditsPerMinute == null || c.pricePerMinute <= requirements.maxCreditsPerMinute),
      );
      const best = [...usable].sort(compareCandidates)[0];
      const first = plan.candidates[0];
      return {
        requirements,
        fitting: plan.fitting,
        excluded: plan.excluded.length,
        chosen: first ? `${first.providerId}/${first.product.id}` : '(none)',
        chosenIsBest: !!first && !!best && first.providerId === best.providerId && first.product.id === best.product.id,
      };
    };
    const plain = describePlan(PLAIN_REQUIREMENTS);
    const filtered = describePlan(FILTERED_REQUIREMENTS);

    const [plainUs, filteredUs, listUs, sortUs] = timeInterleaved(
      [
        () => planRoute(PLAIN_REQUIREMENTS, context),
        () => planRoute(FILTERED_REQUIREMENTS, context),
        () => context.registry.list(),
        () => all.slice().sort(byPrice),
      ],
      iterations,
      warmup,
    );
    if (!plainUs || !filteredUs || !listUs || !sortUs) throw new Error('timeInterleaved gave fewer summaries than functions');
    return {
      providers: options.providers ?? 100,
      products: all.length,
      setupMs: fixture.setupMs,
      plain: { ...plain, latencyUs: plainUs },
      filtered: { ...filtered, latencyUs: filteredUs },
      registryListUs: listUs,
      sortUs,
    };
  } finally {
    await fixture.stop();
  }
}
