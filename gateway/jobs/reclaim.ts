/**
 * Reclaim: a project's job that finds no room where the project has a virtual
 * cluster gets its guarantee back from the workspaces borrowing it — their
 * newest borrowed jobs are terminated through the normal terminate path,
 * saying why, and the job waits at the gateway for the room they free (the
 * waiting room sends it once the provider reports room). Which jobs is
 * routing/virtual-clusters.ts's decision; the policy is docs/TENANCY.md's.
 *
 * Deciding and stopping are two steps, so that nothing is stopped for a job
 * that is refused or never stored: placement {@link Reclaim.reserve}s the
 * borrowed jobs (claims them in the provider's reclaim ledger in the store),
 * the job is stored, and only then are they {@link Reclaim.stop}ped (or the
 * claim is {@link Reclaim.cancel}led). The ledger is shared by every gateway
 * replica and written by compare-and-set: a replica whose view is stale reads
 * again, so two replicas never claim the same job for two owners' jobs, count
 * each other's claims as room on its way, and count the guarantee other
 * waiting jobs of the project claimed as used — together they stop only as
 * many borrowed jobs as the owners' jobs need.
 */
import type { Clock } from '../../shared/clock.js';
import type { Job, Product } from '../../shared/domain.js';
import { isFinalState } from '../../shared/job-state-machine.js';
import type { Logger } from '../../shared/logger.js';
import type { QuotaSubject } from '../routing/quota-gate.js';
import { amountsOf, counterField, QUOTA_RESOURCES, workspaceOf, type ResourceAmounts } from '../routing/quota-rules.js';
import {
  chooseReclaim,
  clusterOf,
  guaranteeName,
  providerCell,
  reclaimReason,
  type Holder,
  type VirtualClusterRecord,
} from '../routing/virtual-clusters.js';
import type { ReclaimClaim, ReclaimLedger, Store } from '../store/store.js';
import type { ItemOutcome } from './bulk.js';

/** How long a job owed its guarantee waits at the gateway for reclaimed room, at least (its scheduleTimeout if longer). */
export const RECLAIM_WAIT_S = 300;
/**
 * A stopped job that ended this recently freed room its provider may not have reported yet:
 * the job it was stopped for waits for that report rather than stop more.
 */
const SETTLE_MS = 10_000;
/**
 * A claim with a job still running this long after it was taken is dropped (its replica died
 * before stopping it, or the stop failed): the job it was for may claim afresh.
 */
const CLAIM_TTL_MS = 120_000;
/** Compare-and-set attempts on a ledger other replicas keep changing, before reclaim gives up for now. */
const SWAP_ATTEMPTS = 8;

type ReclaimSubject = Pick<QuotaSubject, 'jobId' | 'owner' | 'replicas'>;

/** A product with no room now where the job may run. */
export interface ReclaimChoice {
  providerId: string;
  product: Product;
}

/** Borrowed jobs claimed to give one owner's job room on one provider. */
export interface ReclaimReservation {
  jobId: string;
  providerId: string;
  product: Product;
  /** The job's status while it waits for the room. */
  status: string;
  /** Claimed now, to be stopped once the job is stored; empty when earlier claims still free the room. */
  victims: string[];
  /** Why they end, for their final status. */
  reason: string;
}

export interface Reclaim {
  /** The providers where the owner's project has a virtual cluster (where a job of it may reclaim). */
  guaranteedOn(owner: Job['owner']): Promise<Set<string>>;
  /**
   * Of `choices` (products with no room now), those on providers where the job's project is
   * guaranteed room and reclaim frees enough for it: the one that stops the fewest borrowed jobs
   * (then the first in `choices`, which placement ranks cheapest first), its borrowed jobs
   * claimed in the store. Null when reclaim applies nowhere (nothing is claimed).
   */
  reserve(subject: ReclaimSubject, choices: readonly ReclaimChoice[]): Promise<ReclaimReservation | null>;
  /** Stop the reservation's borrowed jobs: its job is stored and waits for their room. */
  stop(reservation: ReclaimReservation): Promise<void>;
  /** Give the reservation's claims back: its job was not stored after all. */
  cancel(reservation: ReclaimReservation): Promise<void>;
  /** For a job already waiting at the gateway: reserve and stop at once; its status, or null. */
  forWaitingJob(subject: ReclaimSubject, choices: readonly ReclaimChoice[]): Promise<string | null>;
}

function waitingFor(cluster: VirtualClusterRecord, providerId: string, count: number): string {
  return `Waiting for room on ${providerId}: reclaiming ${guaranteeName(cluster)} from borrowers (${count} ${count === 1 ? 'job' : 'jobs'} stopped)`;
}

/** What reclaim on one provider would do for the job. */
type ProviderPlan =
  | { kind: 'none'; why: string }
  /** Jobs stopped for it have ended; their room is on its way (not reported yet). */
  | { kind: 'settling'; count: number }
  | { kind: 'reclaim'; victims: string[]; pending: number; ledger: ReclaimLedger; claims: ReclaimClaim[] };

export function createReclaim(options: {
  store: Pick<Store, 'listVirtualClusters' | 'activeJobIds' | 'getJobs' | 'readUsage' | 'readReclaims' | 'swapReclaims'>;
  clock: Clock;
  logger: Logger;
  /** The normal terminate path, as an administrator, with the reason for the jobs' final status. */
  terminate: (ids: string[], reason: string) => Promise<ItemOutcome<true>[]>;
}): Reclaim {
  const { store, clock, logger, terminate } = options;
  let last: Promise<unknown> = Promise.resolve();

  const planOn = async (subject: ReclaimSubject, choice: ReclaimChoice, cluster: VirtualClusterRecord, clusters: VirtualClusterRecord[]) => {
    const { providerId, product } = choice;
    const ledger = await store.readReclaims(providerId);
    const active = new Set(await store.activeJobIds(providerId));
    const claimed = ledger.claims.flatMap((claim) => claim.victims).filter((id) => !active.has(id));
    const [activeJobs, claimedJobs] = await Promise.all([store.getJobs([...active]), store.getJobs(claimed)]);
    const jobs = new Map(activeJobs.flatMap((job): [string, Job][] => (job && !isFinalState(job.state) ? [[job.id, job]] : [])));
    const endedAt = new Map(claimed.map((id, k) => [id, claimedJobs[k]?.updates.at(-1)?.timestamp ?? -Infinity]));
    const now = clock.now();
    const ended = (id: string) => !jobs.has(id);
    const settled = (id: string) => ended(id) && now - (endedAt.get(id) ?? -Infinity) > SETTLE_MS;
    // Claims done with (every job ended, its room reported by now) or lost (a job still running long after) go.
    const kept = ledger.claims.filter(
      (claim) => !claim.victims.every(settled) && !(now - claim.at > CLAIM_TTL_MS && claim.victims.some((id) => !ended(id))),
    );
    const mine = kept.find((claim) => claim.forJob === subject.jobId);
    const others = kept.filter((claim) => claim !== mine);
    if (mine && mine.victims.some(ended)) return { kind: 'settling', count: mine.victims.length } satisfies ProviderPlan;

    const owner = workspaceOf(subject.owner);
    const workspaces = [...new Set([owner, ...[...jobs.values()].map((job) => workspaceOf(job.owner))])];
    const usages = await store.readUsage(workspaces);
    const cell = providerCell(providerId);
    const forOthers = new Set(others.flatMap((claim) => claim.victims));
    const inUse = new Map<string, ResourceAmounts>();
    const holders: Holder[] = [];
    const ownerHolds = new Set<string>();
    usages.forEach((usage, k) => {
      const workspace = workspaces[k]!;
      const amounts = Object.fromEntries(QUOTA_RESOURCES.map((r) => [r, usage.counters[counterField(cell, r)] ?? 0])) as ResourceAmounts;
      for (const lease of usage.leases) {
        if (!lease.cells.includes(cell)) continue;
        if (workspace === owner) ownerHolds.add(lease.jobId);
        // The job's own hold (a job sent before holds one) is what it needs, not what it has.
        if (lease.jobId === subject.jobId) {
          for (const r of QUOTA_RESOURCES) amounts[r] -= lease.amounts[r];
          continue;
        }
        const job = jobs.get(lease.jobId);
        if (job && !forOthers.has(job.id))
          holders.push({ jobId: job.id, workspace, at: lease.at, amounts: lease.amounts, started: job.state !== 'IN_QUEUE' });
      }
      inUse.set(workspace, amounts);
    });
    // The guarantee the project's other waiting jobs claimed is theirs (once sent, their hold counts instead).
    const owed = Object.fromEntries(QUOTA_RESOURCES.map((r) => [r, 0])) as ResourceAmounts;
    for (const claim of others) {
      if (claim.workspace !== owner || ownerHolds.has(claim.forJob)) continue;
      for (const r of QUOTA_RESOURCES) owed[r] += claim.need[r];
    }
    const need = amountsOf(product, subject.replicas);
    const stopping = new Set((mine?.victims ?? []).filter((id) => jobs.has(id)));
    const answer = chooseReclaim({ cluster, need, inUse, holders, clusters, stopping, owed });
    if (answer.kind === 'none') return answer satisfies ProviderPlan;
    const victims = answer.victims.map((victim) => victim.jobId);
    const claim: ReclaimClaim = {
      forJob: subject.jobId,
      workspace: owner,
      need,
      victims: [...(mine?.victims ?? []), ...victims],
      at: mine?.at ?? now,
    };
    return { kind: 'reclaim', victims, pending: answer.pending, ledger, claims: [...others, claim] } satisfies ProviderPlan;
  };

  /** One attempt: null when reclaim applies nowhere, 'stale' when another replica changed the chosen ledger first. */
  const reserveOnce = async (subject: ReclaimSubject, choices: readonly ReclaimChoice[]): Promise<ReclaimReservation | null | 'stale'> => {
    const clusters = await store.listVirtualClusters();
    const owned = choices.flatMap((choice) => {
      const cluster = clusterOf(clusters, subject.owner, choice.providerId);
      return cluster ? [{ choice, cluster }] : [];
    });
    const plans = await Promise.all(owned.map(async (entry) => ({ ...entry, plan: await planOn(subject, entry.choice, entry.cluster, clusters) })));
    const stops = (plan: ProviderPlan) => (plan.kind === 'reclaim' ? plan.victims.length : 0);
    // Fewest borrowed jobs stopped first; the sort is stable, so then the order of `choices`.
    const [best] = plans.filter(({ plan }) => plan.kind !== 'none').sort((a, b) => stops(a.plan) - stops(b.plan));
    for (const { choice, plan } of plans)
      if (plan.kind === 'none') logger.debug({ jobId: subject.jobId, providerId: choice.providerId, why: plan.why }, 'no reclaim');
    if (!best) return null;
    const { choice, cluster, plan } = best;
    const reservation = (victims: string[], count: number): ReclaimReservation => ({
      jobId: subject.jobId,
      providerId: choice.providerId,
      product: choice.product,
      status: waitingFor(cluster, choice.providerId, count),
      victims,
      reason: reclaimReason(cluster),
    });
    if (plan.kind === 'settling') return reservation([], plan.count);
    if (plan.kind !== 'reclaim') return null;
    if (plan.victims.length > 0 && !(await store.swapReclaims(choice.providerId, plan.ledger.version, plan.claims))) return 'stale';
    return reservation(plan.victims, plan.victims.length + plan.pending);
  };

  const reserve = (subject: ReclaimSubject, choices: readonly ReclaimChoice[]): Promise<ReclaimReservation | null> => {
    if (!subject.owner.project || choices.length === 0) return Promise.resolve(null);
    // One at a time on this replica (they would only make each other read again); the ledger orders replicas.
    const run = last.then(async () => {
      for (let attempt = 1; attempt <= SWAP_ATTEMPTS; attempt++) {
        const outcome = await reserveOnce(subject, choices);
        if (outcome !== 'stale') return outcome;
      }
      logger.warn({ jobId: subject.jobId }, 'reclaim gave up for now: other replicas kept changing the ledger');
      return null;
    });
    last = run.catch(() => undefined);
    return run;
  };

  const stop = async (reservation: ReclaimReservation) => {
    const ids = reservation.victims;
    if (ids.length === 0) return;
    const outcomes = await terminate(ids, reservation.reason);
    outcomes.forEach((outcome, k) => {
      if (!outcome.ok) logger.warn({ jobId: ids[k], error: outcome.error }, 'a reclaimed job could not be stopped');
    });
    logger.info({ jobId: reservation.jobId, providerId: reservation.providerId, stopped: ids }, 'reclaimed a guarantee');
  };

  return {
    async guaranteedOn(owner) {
      if (!owner.project) return new Set();
      const clusters = await store.listVirtualClusters();
      return new Set(clusters.filter((c) => c.project === owner.project).map((c) => c.provider));
    },
    reserve,
    stop,
    async cancel(reservation) {
      if (reservation.victims.length === 0) return;
      for (let attempt = 1; attempt <= SWAP_ATTEMPTS; attempt++) {
        const ledger = await store.readReclaims(reservation.providerId);
        const claims = ledger.claims.filter((claim) => claim.forJob !== reservation.jobId);
        if (claims.length === ledger.claims.length || (await store.swapReclaims(reservation.providerId, ledger.version, claims))) return;
      }
      // Left, the claim lapses after CLAIM_TTL_MS: its jobs were never stopped.
      logger.warn({ jobId: reservation.jobId }, 'could not give a reclaim claim back; it lapses');
    },
    async forWaitingJob(subject, choices) {
      const reservation = await reserve(subject, choices);
      if (!reservation) return null;
      await stop(reservation);
      return reservation.status;
    },
  };
}
