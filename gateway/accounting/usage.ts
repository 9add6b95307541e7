/**
 * How much a job has used, from its own history: pure functions of the job's
 * updates and a time, so every gateway replica (and every restart) computes
 * the same running total for the same job at the same moment.
 */
import type { Job, JobState, JobUpdate, Product, ProductPriceUnit } from '../../shared/domain.js';
import { isFinalState } from '../../shared/job-state-machine.js';

const MINUTE_MS = 60_000;

/** Milliseconds in each price unit. */
export const UNIT_MS: Readonly<Record<ProductPriceUnit, number>> = {
  CREDITS_PER_MINUTE: MINUTE_MS,
  CREDITS_PER_HOUR: 60 * MINUTE_MS,
  CREDITS_PER_DAY: 24 * 60 * MINUTE_MS,
};

/** Length of one price unit in milliseconds. */
export function unitMs(unitOfPrice: ProductPriceUnit): number {
  return UNIT_MS[unitOfPrice];
}

/** What usage is computed from; a Job is one. */
export interface UsageTimeline {
  /** When the job first ran; stands in for a RUNNING update when the updates have none. */
  startedAt: number | null;
  /** Oldest first; updates without a state (status lines, extensions) change nothing. */
  updates: readonly Pick<JobUpdate, 'state' | 'timestamp'>[];
}

/** States in which a job uses its machine: CANCELING runs until the job reaches its final state. */
const RUNNING_STATES: ReadonlySet<JobState> = new Set(['RUNNING', 'CANCELING']);

/**
 * The spans (epoch ms, [from, to)) in which the job ran up to `now`: time in RUNNING or
 * CANCELING, not in IN_QUEUE or SUSPENDED, ending at the first final state.
 */
export function runningIntervals(timeline: UsageTimeline, now: number): [number, number][] {
  const { updates, startedAt } = timeline;
  // Called for every running job in every charging round: copy and sort only when needed.
  let ordered = true;
  let sawRunning = false;
  let previous = -Infinity;
  for (const { timestamp, state } of updates) {
    if (timestamp < previous) ordered = false;
    previous = timestamp;
    if (state === 'RUNNING') sawRunning = true;
  }
  let changes = updates;
  const synthetic = startedAt !== null && !sawRunning;
  if (!ordered || synthetic) {
    const copy = synthetic ? [...updates, { state: 'RUNNING' as const, timestamp: startedAt }] : [...updates];
    // Stable: updates with equal timestamps keep the order they were appended in.
    changes = copy.sort((a, b) => a.timestamp - b.timestamp);
  }

  const spans: [number, number][] = [];
  let runningSince: number | null = null;
  for (const { state, timestamp } of changes) {
    if (state === null) continue;
    const at = Math.min(timestamp, now);
    const running = RUNNING_STATES.has(state);
    if (running && runningSince === null) runningSince = at;
    if (!running && runningSince !== null) {
      if (at > runningSince) spans.push([runningSince, at]);
      runningSince = null;
    }
    if (isFinalState(state)) return spans;
  }
  if (runningSince !== null && now > runningSince) spans.push([runningSince, now]);
  return spans;
}

/** Milliseconds the job has run up to `now` (see {@link runningIntervals}). */
export function runningMs(timeline: UsageTimeline, now: number): number {
  let total = 0;
  for (const [from, to] of runningIntervals(timeline, now)) total += to - from;
  return total;
}

/**
 * The job's running total of price units: started units of running time
 * (a job that ran one second has used one minute of a per-minute product),
 * times its replicas.
 *
 * @param unitLengthMs overrides the unit's length, e.g. a short unit for a real-time test
 */
export function usageUnits(
  timeline: UsageTimeline,
  now: number,
  unitOfPrice: ProductPriceUnit,
  replicas: number,
  unitLengthMs: number = unitMs(unitOfPrice),
): number {
  return Math.ceil(runningMs(timeline, now) / unitLengthMs) * replicas;
}

/**
 * The first moment after `at` at which the job's running total of units grows, if its timeline
 * gets no other change (a move already recorded with a later timestamp counts); null when it
 * never does (it is not running then and nothing recorded starts it).
 */
export function nextUnitAt(timeline: UsageTimeline, at: number, unitLengthMs: number): number | null {
  const ran = runningMs(timeline, at);
  // The units now pay for up to this much running time; one millisecond more starts the next.
  const paidUpTo = Math.ceil(ran / unitLengthMs) * unitLengthMs;
  let before = 0;
  for (const [from, to] of runningIntervals(timeline, Infinity)) {
    const next = from + (paidUpTo - before) + 1;
    if (next <= to) return next;
    before += to - from;
  }
  return null;
}

/** Credits for `units` of a product: nothing for a free one. */
export function creditsFor(product: Pick<Product, 'freeToUse' | 'pricePerUnit'>, units: number): number {
  return product.freeToUse ? 0 : units * product.pricePerUnit;
}

/** A job's running total of units as of `now`, from its own timeline and replicas. */
export function jobUsageUnits(
  job: Pick<Job, 'startedAt' | 'updates' | 'specification'>,
  product: Pick<Product, 'unitOfPrice'>,
  now: number,
  unitLengthMs?: number,
): number {
  return usageUnits(job, now, product.unitOfPrice, job.specification.replicas, unitLengthMs);
}
