/**
 * Charging rounds: every interval, each gateway replica charges every running
 * job that owes more up to its running total now. The ledger charges only the
 * difference to what it already charged, so replicas racing each other, a round
 * cut short by a crash, or a repeated round never charge twice and never skip a
 * period. Jobs whose wallet ran dry are stopped the way their backend allows.
 *
 * A round reads only what is due: the store keeps, for every job in a charged
 * state, when it next owes (a move into a charged state makes it due at once),
 * and the round sets the next time from the job's price unit, so a round with
 * nothing due is one read of an empty range.
 */
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { createSingleFlight } from '../../shared/single-flight.js';
import type { Orchestrator } from '../jobs/orchestrator.js';
import type { ProviderRegistry } from '../registry/provider-registry.js';
import type { ChargeableJob, ChargeSchedule, Store } from '../store/store.js';
import type { Accounting, ChargeRoundItem } from './accounting.js';

export { CHARGED_STATES } from '../store/store.js';
/** Jobs a round reads from the store at a time. */
export const CHARGE_PAGE = 500;

export interface Charger {
  start(): void;
  stop(): Promise<void>;
  /** One round over every job due; resolves with what it did. */
  round(): Promise<{ jobs: number; debited: number; stopped: number; failed: number }>;
  /** Make due every charged job the store's index lacks (see Store.repairCharges); start() runs it too. */
  repair(): Promise<number>;
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
  /** How often the index is repaired (jobs a gateway without it started, during an upgrade). @default 3600000 */
  repairIntervalMs?: number;
}): Charger {
  const { store, registry, accounting, orchestrator, logger, clock } = options;
  const lagAllowanceMs = options.lagAllowanceMs ?? 5_000;
  const timers: NodeJS.Timeout[] = [];
  const rounds = createSingleFlight<Awaited<ReturnType<Charger['round']>>>();

  const roundOnce = async () => {
    let jobs = 0;
    let debited = 0;
    let failed = 0;
    const dry: ChargeableJob[] = [];
    const due = await store.dueCharges(clock.now() - lagAllowanceMs);
    for (let i = 0; i < due.length; i += CHARGE_PAGE) {
      // Charge up to a time before the read, less the time an event may take to arrive: a job
      // that ended meanwhile, or whose end is still on its way, is never charged past its end.
      // Its final charge, from its own timeline, then brings it to the exact total.
      const at = clock.now() - lagAllowanceMs;
      const records = await store.chargeRecords(due.slice(i, i + CHARGE_PAGE));
      const items: (ChargeRoundItem & { version: string })[] = [];
      for (const record of records) {
        if (record === null) continue;
        const { job } = record;
        const product = registry.product(job.providerId, job.specification.product.id);
        // A provider the gateway has not heard from since it started: its price is unknown until it returns.
        // One that is down may have ended jobs whose end is still on its way: they wait for it, and the
        // first round after it is back charges the same running total, so nothing is skipped. Both stay due.
        const entry = registry.get(job.providerId);
        if (product && entry && registry.status(entry) !== 'DOWN') items.push({ job, product, version: record.version });
      }
      const result = await accounting.chargeRound(items, at);
      // A job whose charge failed stays due, for the next round.
      const failedIds = new Set(result.failedIds);
      const schedules: ChargeSchedule[] = [];
      for (const { job, product, version } of items) {
        if (!failedIds.has(job.id)) schedules.push({ id: job.id, version, dueAt: accounting.nextChargeAt(job, product, at) });
      }
      await store.scheduleCharges(schedules);
      jobs += items.length;
      debited += result.debited;
      failed += result.failed;
      dry.push(...result.dry);
    }
    if (dry.length > 0) await orchestrator.stopForNoCredits(dry);
    return { jobs, debited, stopped: dry.length, failed };
  };

  const repair = async () => {
    const added = await store.repairCharges();
    if (added > 0) logger.info({ added }, 'charging index repaired: jobs in a charged state it lacked are due');
    return added;
  };

  // A round still going when the timer fires again is joined, not started twice.
  const round = () => rounds.run('round', roundOnce);

  const repairNow = () => void repair().catch((error: unknown) => logger.warn({ err: error }, 'charging index repair failed'));

  return {
    start() {
      repairNow();
      timers.push(
        setInterval(() => void round().catch((error: unknown) => logger.warn({ err: error }, 'charging round failed')), options.intervalMs ?? 30_000),
        setInterval(repairNow, options.repairIntervalMs ?? 3_600_000),
      );
      for (const timer of timers) timer.unref();
    },
    async stop() {
      for (const timer of timers) clearInterval(timer);
      await rounds.allSettled();
    },
    round,
    repair,
  };
}
