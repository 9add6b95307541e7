/**
 * Fair share between workspaces for the jobs that wait at the gateway, after
 * Slurm's: each workspace's recent usage decays with a half-life, and the next
 * job placed is the one whose workspace has used least (every workspace has an
 * equal share), then the one of highest priority, then the oldest. The order
 * also gives queuePosition, so what a user reads is the order jobs go in.
 *
 * Usage is counted in core-seconds: a job weighs its CPUs plus
 * {@link GPU_WEIGHT} per GPU (at least 1), times its replicas. When it is sent
 * its weight times its time allocation (or {@link DEFAULT_ALLOCATION_MS}) is
 * added at once, so that the jobs one workspace sends in a row push it back at
 * once; when it ends, the difference to the time it really held is added (or
 * taken off). Both happen in the store with the quota counters (one script).
 */
import type { ResourceAmounts } from './quota-rules.js';

/** Slurm's default PriorityDecayHalfLife. */
export const FAIR_SHARE_HALF_LIFE_MS = 7 * 24 * 3_600_000;
/** A GPU weighs as much as this many CPUs (Slurm's TRESBillingWeights are set per site; this is ours). */
export const GPU_WEIGHT = 8;
/** What a job without a time allocation is expected to hold its resources for. */
export const DEFAULT_ALLOCATION_MS = 3_600_000;

/** A workspace's decayed usage as stored: `value` core-seconds as of `at` (epoch ms). */
export interface DecayedUsage {
  value: number;
  at: number;
}

export function decayedValue(usage: DecayedUsage | null | undefined, now: number, halfLifeMs = FAIR_SHARE_HALF_LIFE_MS): number {
  if (!usage) return 0;
  return usage.value * 2 ** (-Math.max(0, now - usage.at) / halfLifeMs);
}

/** Core-equivalents a job holds per second it runs. */
export function weightOf(amounts: ResourceAmounts): number {
  return Math.max(1, amounts.cpu + GPU_WEIGHT * amounts.gpu);
}

/** The usage a job is charged when it is sent: its weight for its whole time allocation. */
export function expectedCost(weight: number, timeAllocationMs: number | null | undefined): number {
  return (weight * (timeAllocationMs ?? DEFAULT_ALLOCATION_MS)) / 1000;
}

/**
 * Apolo's job priorities on the contract's integer `priority`: LOW -1, NORMAL 0 (also no priority),
 * HIGH 1; any other integer orders as it compares.
 */
export const APOLO_PRIORITIES = { LOW: -1, NORMAL: 0, HIGH: 1 } as const;

export interface QueueEntry {
  jobId: string;
  workspace: string;
  /** Higher goes first within equal usage; null is NORMAL. */
  priority: number | null;
  /** What placing it adds to its workspace's usage (see {@link expectedCost}). */
  cost: number;
}

/**
 * The waiting jobs in the order they are placed: repeatedly the head of the workspace that has
 * used least so far (its usage growing by each job taken from it), ties broken by the heads'
 * priority, then age (job ids are uuid v7: lex order is creation order). `usage`: each
 * workspace's decayed usage now. O(jobs × workspaces).
 */
export function fairShareOrder<T extends QueueEntry>(entries: readonly T[], usage: ReadonlyMap<string, number>): T[] {
  const byWorkspace = new Map<string, T[]>();
  for (const entry of entries) {
    const list = byWorkspace.get(entry.workspace);
    if (list) list.push(entry);
    else byWorkspace.set(entry.workspace, [entry]);
  }
  const queues = [...byWorkspace].map(([workspace, list]) => ({
    used: usage.get(workspace) ?? 0,
    jobs: list.sort(byPriorityThenAge),
    at: 0,
  }));
  const order: T[] = [];
  for (;;) {
    let best: (typeof queues)[number] | null = null;
    for (const queue of queues) {
      if (queue.at >= queue.jobs.length) continue;
      if (best === null || before(queue, best)) best = queue;
    }
    if (best === null) return order;
    const next = best.jobs[best.at++]!;
    best.used += next.cost;
    order.push(next);
  }
}

function byPriorityThenAge(a: QueueEntry, b: QueueEntry): number {
  const priority = (b.priority ?? 0) - (a.priority ?? 0);
  if (priority !== 0) return priority;
  return a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0;
}

function before(a: { used: number; jobs: QueueEntry[]; at: number }, b: { used: number; jobs: QueueEntry[]; at: number }): boolean {
  if (a.used !== b.used) return a.used < b.used;
  return byPriorityThenAge(a.jobs[a.at]!, b.jobs[b.at]!) < 0;
}
