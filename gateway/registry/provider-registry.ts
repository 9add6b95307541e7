/**
 * The providers the gateway knows, kept current from the announcement bucket:
 * never a static list. Each provider has one client (and so one circuit
 * breaker); a provider that stops heartbeating becomes DOWN; one that starts
 * again with a new instance id is reconciled.
 */
import { systemClock, type Clock } from '../../shared/clock.js';
import type { Manifest, Product, ProviderKind } from '../../shared/domain.js';
import { NotFoundError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { announcementSchema, type Announcement } from '../../shared/protocol.js';
import type { Closable, Transport } from '../../shared/transport.js';
import type { GatewayMetrics } from '../metrics.js';
import { createProviderClient, type CircuitState, type ProviderClient } from './provider-client.js';

export type ProviderStatus = 'UP' | 'DEGRADED' | 'DOWN';

export interface ProviderEntry {
  id: string;
  kind: ProviderKind;
  version: string;
  domain: string | null;
  instanceId: string;
  /** Wall-clock time of the last heartbeat received (for display). */
  lastHeartbeat: number;
  /** Monotonic time of the same, for liveness: never the (possibly driven) domain clock. */
  lastSeen: number;
  heartbeatIntervalMs: number;
  manifestDigest: string;
  manifest: Manifest | null;
  /** Digest of the provider's GraphQL subschema; null when it serves none. */
  subschemaDigest: string | null;
  /** False once the provider deleted its announcement or missed heartbeats. */
  alive: boolean;
  client: ProviderClient;
}

export interface ProviderRegistryOptions {
  transport: Transport;
  logger: Logger;
  metrics: GatewayMetrics;
  /** The domain clock, for the heartbeat times shown to users. @default systemClock */
  clock?: Clock;
  callTimeoutMs?: number;
  /** Heartbeats missed before a provider is DOWN. @default 3 */
  missedHeartbeats?: number;
  /** Called when a provider (re)appears with a new instance: its jobs need reconciling. */
  onInstance?: (providerId: string) => void;
  /** Called when a provider goes DOWN. */
  onDown?: (providerId: string) => void;
  /** Called when the set of providers, their status or their subschemas change. */
  onChange?: () => void;
}

export interface ProviderRegistry {
  start(): Promise<void>;
  stop(): Promise<void>;
  list(): ProviderEntry[];
  get(id: string): ProviderEntry | undefined;
  /** The provider or NOT_FOUND. */
  require(id: string): ProviderEntry;
  status(entry: ProviderEntry): ProviderStatus;
  circuit(entry: ProviderEntry): CircuitState;
  product(providerId: string, productId: string): Product | undefined;
  /** Resolves once the first watch pass has delivered every current announcement. */
  ready(): boolean;
}

/** What an announcement says of a provider, heard at `now` (domain clock) and `seen` (monotonic): it is alive. */
function announced(a: Announcement, now: number, seen: number) {
  return {
    kind: a.kind,
    version: a.version,
    domain: a.domain,
    instanceId: a.instanceId,
    lastHeartbeat: now,
    lastSeen: seen,
    heartbeatIntervalMs: a.heartbeatIntervalMs,
    manifestDigest: a.manifestDigest,
    subschemaDigest: a.subschemaDigest,
    alive: true,
  };
}

export function createProviderRegistry(options: ProviderRegistryOptions): ProviderRegistry {
  const { transport, logger, metrics } = options;
  const clock = options.clock ?? systemClock;
  const missed = options.missedHeartbeats ?? 3;
  const entries = new Map<string, ProviderEntry>();
  let watch: Closable | null = null;
  let sweeper: NodeJS.Timeout | null = null;
  let watching = false;

  const status = (entry: ProviderEntry): ProviderStatus => {
    if (!entry.alive) return 'DOWN';
    if (entry.client.circuitState() !== 'CLOSED') return 'DEGRADED';
    return 'UP';
  };

  const markDown = (entry: ProviderEntry, why: string) => {
    if (!entry.alive) return;
    entry.alive = false;
    metrics.providerUp.set({ provider: entry.id }, 0);
    logger.warn({ providerId: entry.id, why }, 'provider is down');
    options.onDown?.(entry.id);
    options.onChange?.();
  };

  const fetchManifest = async (entry: ProviderEntry, digest: string) => {
    try {
      const manifest = await entry.client.call('manifest', {});
      // A newer announcement may have raced us; keep the manifest that matches the newest digest.
      if (entry.manifestDigest === digest || entry.manifest === null) entry.manifest = manifest;
      logger.info({ providerId: entry.id, products: manifest.products.length }, 'provider manifest loaded');
    } catch (error) {
      logger.warn({ providerId: entry.id, err: error }, 'could not load provider manifest');
    }
  };

  const onAnnouncement = (key: string, value: unknown | null) => {
    const existing = entries.get(key);
    if (value === null) {
      if (existing) markDown(existing, 'announcement withdrawn');
      return;
    }
    const parsed = announcementSchema.safeParse(value);
    if (!parsed.success) {
      logger.error({ key, issues: parsed.error.issues.slice(0, 3) }, 'refused a provider announcement that does not follow the protocol');
      return;
    }
    const a: Announcement = parsed.data;
    const now = clock.now();
    const seen = performance.now();
    // Any announcement counts as a heartbeat, timed by this gateway (no cross-machine clock
    // comparison); a stale key left at gateway start goes DOWN once the sweeper sees no more.
    if (!existing) {
      const entry: ProviderEntry = {
        id: a.id,
        ...announced(a, now, seen),
        manifest: null,
        client: createProviderClient({
          transport,
          providerId: a.id,
          metrics,
          timeoutMs: options.callTimeoutMs,
          onCircuitChange: () => options.onChange?.(),
        }),
      };
      entries.set(a.id, entry);
      metrics.providerUp.set({ provider: a.id }, 1);
      logger.info({ providerId: a.id, kind: a.kind, version: a.version }, 'provider joined');
      void fetchManifest(entry, a.manifestDigest).then(() => {
        options.onChange?.();
        options.onInstance?.(a.id);
      });
      return;
    }
    const newInstance = existing.instanceId !== a.instanceId;
    const digestChanged = existing.manifestDigest !== a.manifestDigest;
    const wasDown = !existing.alive;
    const subschemaChanged = existing.subschemaDigest !== a.subschemaDigest;
    Object.assign(existing, announced(a, now, seen));
    metrics.providerUp.set({ provider: a.id }, 1);
    if (wasDown) logger.info({ providerId: a.id }, 'provider is back');
    // Failures while it was away (or before it restarted) say nothing about it now: calls go to it again at once.
    if (wasDown || newInstance) existing.client.reset();
    if (digestChanged || existing.manifest === null) void fetchManifest(existing, a.manifestDigest);
    if (wasDown || subschemaChanged || newInstance) options.onChange?.();
    if (newInstance || wasDown) options.onInstance?.(a.id);
  };

  return {
    async start() {
      watch = await transport.watchAnnouncements(onAnnouncement);
      watching = true;
      sweeper = setInterval(() => {
        const now = performance.now();
        for (const entry of entries.values()) {
          if (entry.alive && now - entry.lastSeen > entry.heartbeatIntervalMs * missed) {
            markDown(entry, `no heartbeat for ${Math.round((now - entry.lastSeen) / 1000)} s`);
          }
        }
      }, 500);
      sweeper.unref();
    },
    async stop() {
      if (sweeper) clearInterval(sweeper);
      await watch?.close();
      for (const entry of entries.values()) entry.client.shutdown();
    },
    list: () => [...entries.values()].sort((a, b) => a.id.localeCompare(b.id)),
    get: (id) => entries.get(id),
    require(id) {
      const entry = entries.get(id);
      if (!entry) throw new NotFoundError('provider', id);
      return entry;
    },
    status,
    circuit: (entry) => entry.client.circuitState(),
    product: (providerId, productId) => entries.get(providerId)?.manifest?.products.find((p) => p.id === productId),
    ready: () => watching,
  };
}
