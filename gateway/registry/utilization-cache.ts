/**
 * The latest utilization of every reachable provider, polled in the
 * background so a routing decision never waits on the network. Placements
 * made since the last poll are counted against the cached capacity.
 */
import type { Utilization } from '../../shared/domain.js';
import type { Logger } from '../../shared/logger.js';
import { createSingleFlight } from '../../shared/single-flight.js';
import type { ProviderRegistry } from './provider-registry.js';

export interface UtilizationCache {
  start(): void;
  stop(): void;
  /** The provider's last utilization, with placements since counted in; null before the first answer. */
  get(providerId: string): Utilization | null;
  /** More jobs of this product can start now (null: unknown). */
  capacity(providerId: string, productId: string): number | null;
  /** A job was just placed: use up one unit of capacity until the next poll says otherwise. */
  reserve(providerId: string, productId: string): void;
  /** Poll every reachable provider now. */
  refresh(): Promise<void>;
}

export function createUtilizationCache(options: { registry: ProviderRegistry; logger: Logger; intervalMs?: number }): UtilizationCache {
  const { registry, logger } = options;
  const intervalMs = options.intervalMs ?? 2_000;
  const latest = new Map<string, Utilization>();
  let timer: NodeJS.Timeout | null = null;
  const polls = createSingleFlight<void>();

  const poll = async () => {
    await Promise.all(
      registry
        .list()
        .filter((entry) => registry.status(entry) !== 'DOWN' && registry.circuit(entry) !== 'OPEN')
        .map(async (entry) => {
          try {
            latest.set(entry.id, await entry.client.call('utilization', {}, { background: true }));
          } catch (error) {
            logger.debug({ providerId: entry.id, err: error }, 'utilization poll failed');
          }
        }),
    );
  };

  // A poll still going is joined, not started twice.
  const refresh = () => polls.run('poll', poll);

  return {
    start() {
      void refresh();
      timer = setInterval(() => void refresh(), intervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
    },
    get: (providerId) => latest.get(providerId) ?? null,
    capacity(providerId, productId) {
      const value = latest.get(providerId)?.capacityByProduct[productId];
      return value === undefined ? null : value;
    },
    reserve(providerId, productId) {
      const utilization = latest.get(providerId);
      const value = utilization?.capacityByProduct[productId];
      if (utilization && value !== undefined) utilization.capacityByProduct[productId] = Math.max(0, value - 1);
    },
    refresh,
  };
}
