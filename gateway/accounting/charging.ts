/**
 * Charging rounds: every interval, each gateway replica charges every running
 * job up to its running total now. The ledger charges only the difference to
 * what it already charged, so replicas racing each other, a round cut short
 * by a crash, or a repeated round never charge twice and never skip a period.
 * Jobs whose wallet ran dry are stopped the way their backend allows.
 */
import type { Clock } from '../../shared/clock.js';
import type { Job, JobState } from '../../shared/domain.js';
import type { Logger } from '../../shared/logger.js';
import { createSingleFlight } from '../../shared/single-flight.js';
import type { Orchestrator } from '../jobs/orchestrator.js';
import type { ProviderRegistry } from '../registry/provider-registry.js';
import type { Store } from '../store/store.js';
import type { Accounting, ChargeRoundItem } from './accounting.js';

/** States in which a job uses its product (CANCELING until it has stopped). */
export const CHARGED_STATES: JobState[] = ['RUNNING', 'SUSPENDED', 'CANCELING'];
/** Jobs a round reads from the store at a time. */
export const CHARGE_PAGE = 500;

export interface Charger {
  start(): void;
  stop(): Promise<void>;
  /** One round over every running job; resolves with what it did. */
  round(): Promise<{ jobs: number; debited: number; stopped: number; failed: number }>;
}

export function createCharger(options: {
  store: Store;
  registry: ProviderRegistry;
  accounting: Accounting;
  orchestrator: Orchestrator;
  logger: Logger;
  clock: Clock;
  /** How far rounds stay behind the clock, for job-end events still on their way. @default 5000 */
  lagAllowanceMs?: number;
  /** @default 30000 */
  intervalMs?: number;
}): Charger {
  const { store, registry, accounting, orchestrator, logger, clock } = options;
  const lagAllowanceMs = options.lagAllowanceMs ?? 5_000;
  let timer: NodeJS.Timeout | null = null;
  const rounds = createSingleFlight<Awaited<ReturnType<Charger['round']>>>();

  const roundOnce = async () => {
    let after: string | undefined;
    let jobs = 0;
    let debited = 0;
    let failed = 0;
    const dry: Job[] = [];
    do {
      // Charge up to a time before the read, less the time an event may take to arrive: a job
      // that ended meanwhile, or whose end is still on its way, is never charged past its end.
      // Its final charge, from its own timeline, then brings it to the exact total.
      const at = clock.now() - lagAllowanceMs;
      const page = await store.listJobs({ states: CHARGED_STATES, order: 'ASC', first: CHARGE_PAGE, after });
      const items: ChargeRoundItem[] = [];
      for (const job of page.jobs) {
        const product = registry.product(job.providerId, job.specification.product.id);
        // A provider the gateway has not heard from since it started: its price is unknown until it returns.
        // One that is down may have ended jobs whose end is still on its way: they wait for it, and the
        // first round after it is back charges the same running total, so nothing is skipped.
        const entry = registry.get(job.providerId);
        if (product && entry && registry.status(entry) !== 'DOWN') items.push({ job, product });
      }
      const result = await accounting.chargeRound(items, at);
      jobs += items.length;
      debited += result.debited;
      failed += result.failed;
      dry.push(...result.dry);
      after = page.hasNextPage ? (page.endCursor ?? undefined) : undefined;
    } while (after);
    if (dry.length > 0) await orchestrator.stopForNoCredits(dry);
    return { jobs, debited, stopped: dry.length, failed };
  };

  // A round still going when the timer fires again is joined, not started twice.
  const round = () => rounds.run('round', roundOnce);

  return {
    start() {
      timer = setInterval(
        () => void round().catch((error: unknown) => logger.warn({ err: error }, 'charging round failed')),
        options.intervalMs ?? 30_000,
      );
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await rounds.allSettled();
    },
    round,
  };
}
