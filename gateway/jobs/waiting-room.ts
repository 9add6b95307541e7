/**
 * Jobs that wait at the gateway (a scheduleTimeout was given and no fitting
 * product had room, or the job's provider could not be reached), and jobs a
 * replica died while sending. Every gateway replica looks at them each second:
 * a job whose deadline passed fails saying so; a job that can go now is claimed
 * by exactly one replica (compare-and-set on its record) and sent — a job that
 * may have reached its provider only there, so it never runs twice. The
 * records live in the store, so a gateway restart loses none of them.
 *
 * Each sweep goes through the jobs in fair-share order (routing/fair-share.ts:
 * the workspace that has used least first, then priority, then age), so the
 * room that frees goes to them in that order, and holds each to its
 * workspace's quotas as counted at the sweep's start plus what it sends.
 */
import type { Clock } from '../../shared/clock.js';
import type { Job } from '../../shared/domain.js';
import type { Logger } from '../../shared/logger.js';
import { createSingleFlight } from '../../shared/single-flight.js';
import type { ProviderRegistry } from '../registry/provider-registry.js';
import type { UtilizationCache } from '../registry/utilization-cache.js';
import { expectedCost, fairShareOrder, weightOf, type QueueEntry } from '../routing/fair-share.js';
import { takeLent, type LendingView } from '../routing/lending.js';
import { placeWaitingJob, withinLending, withinQuota } from '../routing/placement.js';
import { quotaSubjectOf, refusalIn, takeIn, type QuotaGate, type QuotaSnapshot } from '../routing/quota-gate.js';
import { amountsOf, workspaceOf } from '../routing/quota-rules.js';
import type { Candidate } from '../routing/router.js';
import type { Store, WaitingRecord } from '../store/store.js';
import type { ChangeJob } from './job-changes.js';
import type { JobSpecificationInput } from './job-specification.js';
import type { createJobSubmission, WaitingPlacement } from './job-submission.js';
import type { Reclaim } from './reclaim.js';

type Decision =
  | { kind: 'drop'; record: WaitingRecord; claim: string }
  | { kind: 'fail'; record: WaitingRecord; claim: string; job: Job; status: string; pinned: boolean }
  /** `full`: the products it fits with no room now (where reclaim may give it some). */
  | { kind: 'wait'; job: Job; status: string; full: Candidate[] }
  | {
      kind: 'send';
      record: WaitingRecord;
      claim: string;
      job: Job;
      input: JobSpecificationInput;
      candidates: [Candidate, ...Candidate[]];
      pinned: boolean;
      status: string | undefined;
    };

export interface WaitingRoom {
  start(): void;
  stop(): Promise<void>;
  /** One pass over the waiting jobs (also what the timer runs). */
  sweep(): Promise<void>;
  /** A waiting job the user terminates ends without ever reaching a provider; false when it was not waiting. */
  cancel(job: Job, reason: string): Promise<boolean>;
  /** Cancel every job of the project still waiting here (it was archived: nothing new runs in it); how many ended. */
  cancelProject(project: string, reason: string): Promise<number>;
}

export function createWaitingRoom(options: {
  store: Store;
  registry: ProviderRegistry;
  utilization: UtilizationCache;
  submission: ReturnType<typeof createJobSubmission>;
  change: ChangeJob;
  clock: Clock;
  logger: Logger;
  /** Holds waiting jobs to their workspace's quotas, and gives the fair-share usage; none: neither. */
  quotas?: QuotaGate;
  /** Gives a project's waiting job the room of its virtual cluster back from borrowers; none: no reclaim. */
  reclaim?: Reclaim;
  /** @default 1000 */
  intervalMs?: number;
}): WaitingRoom {
  const { store, registry, utilization, submission, change, clock, logger, quotas, reclaim } = options;
  let timer: NodeJS.Timeout | null = null;
  const sweeps = createSingleFlight<void>();

  /** What to do with one record now, decided without waiting (so routing sees the room the ones before it took). */
  const decide = (record: WaitingRecord, job: Job | null, now: number, snapshot: QuotaSnapshot, lending: LendingView | null): Decision => {
    const claim = record.claim ?? '';
    // Its holder died while sending it (or while storing it): sent again only where it may have gone.
    const orphan = record.heldUntil !== undefined;
    if (!job || job.state !== 'IN_QUEUE') return { kind: 'drop', record, claim };
    const input = record.input as JobSpecificationInput;
    const pinned = record.pinned === true;
    const placement = placeWaitingJob(
      { providerId: job.providerId, productId: job.specification.product.id },
      input,
      { pinned, forRoom: record.forRoom === true, orphan },
      { registry, utilization },
    );
    const subject = quotaSubjectOf(job);
    const timeout = input.scheduleTimeout ?? 0;
    // A job that may be at its provider already is held back neither by a quota nor by room kept for a guarantee.
    const { candidates, waiting, failure, sending, full } = pinned
      ? placement
      : withinLending(withinQuota(placement, subject, snapshot, timeout), job.owner, subject.replicas, lending, { utilization }, timeout);
    // Past its deadline it fails, unless it is an orphan that can be sent now (it was accepted to be sent at once).
    if (now >= record.deadline && !(orphan && candidates.length > 0)) return { kind: 'fail', record, claim, job, status: failure, pinned };
    const [first, ...rest] = candidates;
    // Reclaim only where no candidate has room at all (not when only quotas hold it back), and within its quotas.
    const owed =
      placement.candidates.length === 0 ? (full ?? []).filter((c) => pinned || refusalIn(snapshot, subject, c.providerId, c.product) === null) : [];
    if (!first) return { kind: 'wait', job, status: waiting, full: owed };
    if (first.providerId === job.providerId && first.product.id === job.specification.product.id)
      utilization.reserve(first.providerId, first.product.id);
    takeIn(snapshot, subject, first.providerId, first.product);
    takeLent(lending, job.owner, first.providerId, first.product, subject.replicas);
    return { kind: 'send', record, claim, job, input, candidates: [first, ...rest], pinned, status: sending };
  };

  const act = async (decision: Decision, now: number, send: WaitingPlacement[]) => {
    switch (decision.kind) {
      case 'drop':
        // Never stored (its replica died first), or the provider has it, or it ended.
        await store.swapWaiting(decision.record.jobId, decision.claim, null);
        return;
      case 'fail':
        if (!(await store.swapWaiting(decision.record.jobId, decision.claim, null))) return;
        await change(decision.job.id, { state: 'FAILURE', status: decision.status, expectStates: ['IN_QUEUE'], timestamp: now }, decision.job);
        // A create of it may have reached its provider: tell it to let go.
        if (decision.pinned) {
          registry.get(decision.job.providerId)?.client.terminateInBackground([decision.job.id], null);
        }
        return;
      case 'wait': {
        const { job } = decision;
        const reclaiming = reclaim && decision.full.length > 0 ? await reclaim.forWaitingJob(quotaSubjectOf(job), decision.full) : null;
        const status = reclaiming ?? decision.status;
        if (job.updates.at(-1)?.status !== status) await change(job.id, { status, expectStates: ['IN_QUEUE'], timestamp: now }, job);
        return;
      }
      case 'send': {
        // Claimed by exactly one replica; the others see the record changed.
        const mine = submission.hold(decision.record, decision.pinned);
        if (!(await store.swapWaiting(decision.record.jobId, decision.claim, mine))) return;
        send.push({ job: decision.job, input: decision.input, record: mine, candidates: decision.candidates, status: decision.status });
      }
    }
  };

  const sweepOnce = async () => {
    const records = await store.listWaiting();
    const now = clock.now();
    // Held by a replica sending the job right now: left alone until the hold passes (then it died).
    const open = records.filter((record) => record.heldUntil === undefined || record.heldUntil <= now);
    if (open.length === 0) return;
    const jobs = await store.getJobs(open.map((record) => record.jobId));
    const waiting = open.map((record, k) => ({ record, job: jobs[k] ?? null }));
    const workspaces = waiting.flatMap(({ job }) => (job ? [workspaceOf(job.owner)] : []));
    // Holds lost with a replica would keep these jobs waiting for good.
    await quotas?.repair(workspaces);
    const [snapshot, lending]: [QuotaSnapshot, LendingView | null] = quotas
      ? await Promise.all([quotas.snapshot(workspaces), quotas.lending()])
      : [new Map(), null];
    const decisions = queueOrder(waiting, snapshot, registry).map(({ record, job }) => decide(record, job, now, snapshot, lending));
    const send: WaitingPlacement[] = [];
    await Promise.all(decisions.map((decision) => act(decision, now, send)));
    if (send.length === 0) return;
    const outcomes = await submission.placeWaiting(send);
    outcomes.forEach((outcome, k) => {
      if (!outcome.ok) logger.info({ jobId: send[k]!.job.id, error: outcome.error }, 'a waiting job could not be placed');
    });
  };

  const sweep = () => sweeps.run('sweep', () => sweepOnce().catch((error: unknown) => logger.warn({ err: error }, 'waiting-room sweep failed')));

  return {
    start() {
      timer = setInterval(() => void sweep(), options.intervalMs ?? 1_000);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await sweeps.allSettled();
    },
    sweep,
    async cancel(job, reason) {
      const now = clock.now();
      const record = await store.getWaiting(job.id);
      // A job a replica is sending right now is its provider's to stop.
      if (!record || (record.heldUntil !== undefined && record.heldUntil > now)) return false;
      if (!(await store.swapWaiting(job.id, record.claim ?? '', null))) return false;
      await change(job.id, { state: 'SUCCESS', status: reason, timestamp: now }, job);
      // A create of it may have reached its provider: tell it to let go.
      if (record.pinned) registry.get(job.providerId)?.client.terminateInBackground([job.id], reason);
      return true;
    },
    async cancelProject(project, reason) {
      const records = await store.listWaiting();
      const jobs = await store.getJobs(records.map((record) => record.jobId));
      const ours = jobs.filter((job): job is Job => job !== null && job.owner.project === project && job.state === 'IN_QUEUE');
      const ended = await Promise.all(ours.map((job) => this.cancel(job, reason)));
      return ended.filter(Boolean).length;
    },
  };
}

/**
 * The waiting jobs in the order the waiting room takes them: fair share between workspaces
 * (`snapshot`'s decayed usage), then priority, then age; those with no job stored (to be dropped)
 * first, as they hold nothing.
 */
export function queueOrder<T extends { record: WaitingRecord; job: Job | null }>(
  waiting: readonly T[],
  snapshot: QuotaSnapshot,
  registry: Pick<ProviderRegistry, 'product'>,
): T[] {
  const gone = waiting.filter(({ job }) => job === null);
  const entries = waiting.flatMap((item): (QueueEntry & { item: T })[] => {
    const { job } = item;
    if (!job) return [];
    const product = registry.product(job.providerId, job.specification.product.id);
    const amounts = amountsOf(product ?? { cpu: 1, memoryInGigs: 0, gpu: 0 }, job.specification.replicas);
    return [
      {
        jobId: job.id,
        workspace: workspaceOf(job.owner),
        priority: job.specification.priority,
        cost: expectedCost(weightOf(amounts), job.specification.timeAllocationMs),
        item,
      },
    ];
  });
  const usage = new Map([...snapshot].map(([workspace, entry]) => [workspace, entry.fairShare]));
  return [...gone, ...fairShareOrder(entries, usage).map((entry) => entry.item)];
}

/** Each waiting job's place in the queue (1 = next), as the waiting room orders it; jobs a replica is sending are not in it. */
export async function queuePositions(store: Store, registry: Pick<ProviderRegistry, 'product'>, quotas?: Pick<QuotaGate, 'snapshot'>) {
  const records = (await store.listWaiting()).filter((record) => record.heldUntil === undefined);
  const jobs = await store.getJobs(records.map((record) => record.jobId));
  const waiting = records.map((record, k) => ({ record, job: jobs[k] ?? null })).filter(({ job }) => job?.state === 'IN_QUEUE');
  const snapshot = quotas ? await quotas.snapshot(waiting.map(({ job }) => workspaceOf(job!.owner))) : new Map();
  return new Map(queueOrder(waiting, snapshot, registry).map(({ record }, index) => [record.jobId, index + 1]));
}
