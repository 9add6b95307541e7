/**
 * Accounting as the gateway uses it: who pays for a job, whether they can,
 * charging jobs by their running totals, grants, and what a caller may see.
 * Rules live here; the Ledger below only stores and charges atomically.
 *
 * The wallet that pays for a job is its project's when the job has one, else
 * its creator's; it is the wallet for the product's category at the job's
 * provider.
 */
import type { Clock } from '../../shared/clock.js';
import type { Job, Product, ProductPriceUnit } from '../../shared/domain.js';
import { ForbiddenError, InsufficientFundsError, InvalidInputError, must } from '../../shared/errors.js';
import { isFinalState } from '../../shared/job-state-machine.js';
import type { Logger } from '../../shared/logger.js';
import type { ChargeableJob } from '../store/store.js';
import type { AccountingMetrics } from './accounting-metrics.js';
import {
  encodeCursor,
  MAX_PAGE,
  type ChargeRequest,
  type Ledger,
  type Transaction,
  type TransactionPage,
  type Wallet,
  type WalletKey,
  type WalletOwner,
} from './ledger.js';
import { creditsFor, nextUnitAt, unitMs, usageUnits } from './usage.js';

export interface AccountingOptions {
  ledger: Ledger;
  clock: Clock;
  logger: Logger;
  /** From {@link createAccountingMetrics} on the gateway's registry; no metrics when absent. */
  metrics?: AccountingMetrics;
  /**
   * Lengths of price units in milliseconds, replacing the real minute, hour
   * and day: for a test that charges in real time with a short unit.
   * @default minute 60 000, hour 3 600 000, day 86 400 000
   */
  unitMs?: Partial<Record<ProductPriceUnit, number>>;
  /**
   * Jobs whose last accounted total a charging round remembers, to skip those with nothing due.
   * Past it the oldest are forgotten (and charged through the ledger again, which is correct, only slower).
   * @default 500000
   */
  accountedCacheSize?: number;
}

/** A job's owner (or a viewer as `{ createdBy: username, project: null }`). */
export interface PayingOwner {
  createdBy: string;
  project?: string | null;
}

/** Who is calling: the gateway's Viewer fits. */
export interface AccountingViewer {
  username: string;
  admin: boolean;
  projects: readonly string[];
}

/** GrantInput as GraphQL delivers it, with DateTimes already turned into epoch ms. */
export interface GrantCreditsInput {
  owner: string;
  isProject?: boolean | null;
  category: string;
  provider: string;
  amount: number;
  /** @default now */
  startDate?: number | null;
  /** @default null: never expires */
  endDate?: number | null;
}

/** The provider's product categories, or null for a provider the gateway does not know. */
export type KnownProviderCategories = (providerId: string) => readonly string[] | null;

export interface TransactionsInput {
  /** A project's transactions (its members and administrators). */
  project?: string | null;
  /** A user's transactions (the user and administrators). */
  owner?: string | null;
  /** @default 50 */
  first?: number | null;
  after?: string | null;
}

export interface JobCharge {
  /** Credits taken by this call. */
  debited: number;
  /** The wallet could not pay in full: it is at zero and the job should stop. */
  shortfall: boolean;
  /** Credits taken for the job in all (for a free product: the job's own `creditsCharged`, untouched). */
  jobCharged: number;
  /** The running total of price units charged for (replicas included). */
  units: number;
  /** The running total in credits it stands for. */
  totalCredits: number;
}

export interface ChargeRoundItem {
  job: ChargeableJob;
  product: Product;
  /** The provider's own running total of units, when it reported one. */
  reportedUnits?: number | null;
}

export interface ChargeRoundResult {
  /** Jobs not yet final whose wallet ran dry in this round: stop them ("No more credits"). */
  dry: ChargeableJob[];
  /** Credits taken in this round. */
  debited: number;
  /** Jobs whose charge failed; they keep running and the next round charges them. */
  failed: number;
  /** The ids of those jobs. */
  failedIds: string[];
}

/** Wallet in the contract's shape (dates as epoch ms; render them ISO-8601). */
export interface WalletView {
  /** A user's wallet: `{ createdBy: user, project: null }`; a project's: `{ createdBy: whoever made its first grant, project }`. */
  owner: { createdBy: string; project: string | null };
  category: string;
  provider: string;
  allocations: { id: string; initialBalance: number; balance: number; startDate: number; endDate: number | null }[];
  balance: number;
}

/** The contract's INSUFFICIENT_FUNDS, saying which wallet (provider and product category) is empty. */
export class WalletEmptyError extends InsufficientFundsError {
  constructor(
    readonly providerId: string,
    readonly category: string,
    message: string,
  ) {
    super(message);
    this.name = 'WalletEmptyError';
  }
}

export interface Accounting {
  /** The wallet owner that pays for jobs of `owner`: the project if any, else the user. */
  payerOf(owner: PayingOwner): WalletOwner;
  /** Throws InsufficientFundsError unless the product is free or the paying wallet has credits now. */
  requireFunds(owner: PayingOwner, product: Product, providerId: string): Promise<void>;
  /** Whether {@link requireFunds} would pass: for routing. */
  canPay(owner: PayingOwner, product: Product, providerId: string): Promise<boolean>;
  /** Product.balance: the paying wallet's credits now; null for a free product. */
  balanceFor(owner: PayingOwner, product: Product, providerId: string): Promise<number | null>;
  /**
   * Charges a job up to its running total now: the larger of the total its
   * timeline gives and the provider's `reportedUnits`. Idempotent: call it
   * as often as you like, from any replica. Free products are never charged.
   */
  chargeJob(job: Job, product: Product, reportedUnits?: number | null, at?: number): Promise<JobCharge>;
  /** {@link chargeJob} for many jobs in pipelined batches. */
  /**
   * `at`: the time to charge up to, taken before the jobs were read (default now), so a job
   * that ended while the round ran is never charged past its end.
   */
  chargeRound(items: readonly ChargeRoundItem[], at?: number): Promise<ChargeRoundResult>;
  /** When a job charged up to `at` next owes more (its running total grows); null: not unless its state moves. */
  nextChargeAt(job: ChargeableJob, product: Product, at: number): number | null;
  /** Job.creditsCharged for many jobs (a DataLoader batch function). */
  jobCharged(jobIds: readonly string[]): Promise<number[]>;
  /** grantCredits: administrators only; returns the wallet after the grant. */
  grant(viewer: AccountingViewer, input: GrantCreditsInput, knownProviderCategories: KnownProviderCategories): Promise<Wallet>;
  /** Query.wallets: the caller's, or a project's to its members (administrators: any project). */
  wallets(viewer: AccountingViewer, project?: string | null): Promise<Wallet[]>;
  /**
   * Query.transactions, newest first. No project or owner: the caller's own,
   * or every transaction for an administrator.
   */
  transactions(viewer: AccountingViewer, input: TransactionsInput): Promise<TransactionPage>;
}

export function createAccounting(options: AccountingOptions): Accounting {
  const { ledger, clock, metrics } = options;
  const logger = options.logger.child({ component: 'accounting' });
  const unitLength = (unit: ProductPriceUnit) => options.unitMs?.[unit] ?? unitMs(unit);
  for (const [unit, ms] of Object.entries(options.unitMs ?? {})) {
    if (!Number.isInteger(ms) || ms <= 0) throw new InvalidInputError(`unitMs.${unit} must be a positive integer, not ${ms}`);
  }

  function payerOf(owner: PayingOwner): WalletOwner {
    return owner.project ? { owner: owner.project, isProject: true } : { owner: owner.createdBy, isProject: false };
  }

  function walletOf(owner: PayingOwner, product: Product, providerId: string): WalletKey {
    // Built whole, not spread: a charging round calls this for every running job.
    return owner.project
      ? { owner: owner.project, isProject: true, provider: providerId, category: product.category }
      : { owner: owner.createdBy, isProject: false, provider: providerId, category: product.category };
  }

  async function balanceFor(owner: PayingOwner, product: Product, providerId: string): Promise<number | null> {
    if (product.freeToUse) return null;
    return ledger.balance(walletOf(owner, product, providerId), clock.now());
  }

  /** A job's running total now: price units (replicas included) and the credits they stand for. */
  function runningTotal(job: ChargeableJob, product: Product, reportedUnits: number | null | undefined, now: number) {
    const computed = usageUnits(job, now, product.unitOfPrice, job.specification.replicas, unitLength(product.unitOfPrice));
    const reported = Number.isSafeInteger(reportedUnits) && reportedUnits! > 0 ? reportedUnits! : 0;
    const units = Math.max(computed, reported);
    return { units, totalCredits: creditsFor(product, units) };
  }

  /** `values`: where the wallet and the description come from (a round shares them among its jobs). */
  function toRequest(
    job: ChargeableJob,
    product: Product,
    units: number,
    totalCredits: number,
    now: number,
    values: RoundValues = { wallet: walletOf, description: chargeDescription },
  ): ChargeRequest {
    return {
      jobId: job.id,
      wallet: values.wallet(job.owner, product, job.providerId),
      totalCredits,
      now,
      description: values.description(product, units),
      by: job.owner.createdBy,
    };
  }

  /** The ledger request for a job's running total now; null for a free product. */
  function chargeRequest(job: Job, product: Product, reportedUnits: number | null | undefined, now: number) {
    const { units, totalCredits } = runningTotal(job, product, reportedUnits, now);
    const request = product.freeToUse ? null : toRequest(job, product, units, totalCredits, now);
    return { units, totalCredits, request };
  }

  /**
   * Per job, the running total the ledger had processed when this replica last charged it. The
   * ledger's never goes down and it debits nothing for a total at or below it, so a round skips a
   * job whose total has not grown past the remembered one: a round with nothing due costs no call.
   * A lower bound only (another replica may have gone further), which makes skipping safe.
   */
  const accounted = new Map<string, number>();
  const accountedCacheSize = options.accountedCacheSize ?? 500_000;
  function remember(jobId: string, total: number): void {
    // Re-inserted so that the entries forgotten first are those charged longest ago.
    accounted.delete(jobId);
    accounted.set(jobId, total);
    if (accounted.size > accountedCacheSize) accounted.delete(accounted.keys().next().value!);
  }

  function ownerOrForbidden(viewer: AccountingViewer, project: string): WalletOwner {
    if (!viewer.admin && !viewer.projects.includes(project)) throw new ForbiddenError(`You are not a member of project ${project}`);
    return { owner: project, isProject: true };
  }

  return {
    payerOf,
    balanceFor,

    async requireFunds(owner, product, providerId) {
      const balance = await balanceFor(owner, product, providerId);
      if (balance !== null && balance <= 0) {
        const payer = payerOf(owner);
        throw new WalletEmptyError(
          providerId,
          product.category,
          `${payer.isProject ? `Project ${payer.owner}` : payer.owner} has no credits for ${product.category} at ${providerId}`,
        );
      }
    },

    async canPay(owner, product, providerId) {
      const balance = await balanceFor(owner, product, providerId);
      return balance === null || balance > 0;
    },

    async chargeJob(job, product, reportedUnits, at) {
      const now = at ?? clock.now();
      const { units, totalCredits, request } = chargeRequest(job, product, reportedUnits, now);
      if (request === null) return { debited: 0, shortfall: false, jobCharged: job.creditsCharged, units, totalCredits: 0 };
      let result;
      try {
        result = await ledger.charge(request);
      } catch (error) {
        metrics?.chargeFailures.inc({ provider: job.providerId });
        throw error;
      }
      if (result.debited > 0) metrics?.creditsCharged.inc({ provider: job.providerId }, result.debited);
      if (result.shortfall && !isFinalState(job.state)) {
        metrics?.jobsStoppedNoCredits.inc({ provider: job.providerId });
        logger.info({ jobId: job.id, providerId: job.providerId }, 'wallet ran dry while charging a job');
      }
      return { debited: result.debited, shortfall: result.shortfall, jobCharged: result.jobCharged, units, totalCredits };
    },

    async chargeRound(items, at) {
      const now = at ?? clock.now();
      const charged: { job: ChargeableJob; request: ChargeRequest }[] = [];
      const shared = createRoundValues();
      for (const { job, product, reportedUnits } of items) {
        if (product.freeToUse) continue;
        const { units, totalCredits } = runningTotal(job, product, reportedUnits, now);
        if (totalCredits <= (accounted.get(job.id) ?? 0)) continue;
        charged.push({ job, request: toRequest(job, product, units, totalCredits, now, shared) });
      }
      if (charged.length === 0) return { dry: [], debited: 0, failed: 0, failedIds: [] };
      const outcomes = await ledger.chargeMany(charged.map((item) => item.request));

      const dry: ChargeableJob[] = [];
      const failedIds: string[] = [];
      let debited = 0;
      let failed = 0;
      const debitedByProvider = new Map<string, number>();
      const failedByProvider = new Map<string, number>();
      let firstError: Error | null = null;
      outcomes.forEach((outcome, i) => {
        const { job } = must(charged[i], `the charge of outcome ${i}`);
        if (outcome.ok) remember(job.id, outcome.accountedTotal);
        if (!outcome.ok) {
          failed += 1;
          failedIds.push(job.id);
          failedByProvider.set(job.providerId, (failedByProvider.get(job.providerId) ?? 0) + 1);
          firstError ??= outcome.error;
          return;
        }
        if (outcome.debited > 0) {
          debited += outcome.debited;
          debitedByProvider.set(job.providerId, (debitedByProvider.get(job.providerId) ?? 0) + outcome.debited);
        }
        if (outcome.shortfall && !isFinalState(job.state)) {
          dry.push(job);
          metrics?.jobsStoppedNoCredits.inc({ provider: job.providerId });
        }
      });
      // Counted per provider, not per job: a round may hold 100 000 of them.
      for (const [provider, credits] of debitedByProvider) metrics?.creditsCharged.inc({ provider }, credits);
      for (const [provider, count] of failedByProvider) metrics?.chargeFailures.inc({ provider }, count);
      if (failed > 0)
        logger.warn({ err: firstError, failed, jobs: charged.length }, 'charges failed in a charging round; the next round retries them');
      if (dry.length > 0) logger.info({ jobIds: dry.slice(0, 20).map((job) => job.id), dry: dry.length }, 'wallets ran dry in a charging round');
      return { dry, debited, failed, failedIds };
    },

    nextChargeAt: (job, product, at) => nextUnitAt(job, at, unitLength(product.unitOfPrice)),

    jobCharged: (jobIds) => ledger.jobCharged(jobIds),

    async grant(viewer, input, knownProviderCategories) {
      if (!viewer.admin) throw new ForbiddenError('Only administrators grant credits');
      const now = clock.now();
      const owner = typeof input.owner === 'string' ? input.owner.trim() : '';
      if (owner === '') throw new InvalidInputError('owner must name a user or a project');
      if (!Number.isSafeInteger(input.amount) || input.amount <= 0) {
        throw new InvalidInputError(`amount must be a positive whole number of credits, not ${input.amount}`);
      }
      const startDate = input.startDate ?? now;
      const endDate = input.endDate ?? null;
      for (const [name, date] of [
        ['startDate', startDate],
        ['endDate', endDate],
      ] as const) {
        if (date !== null && (!Number.isSafeInteger(date) || date < 0)) throw new InvalidInputError(`${name} is not a valid date`);
      }
      if (endDate !== null && endDate <= startDate) throw new InvalidInputError('endDate must be after startDate');
      const categories = knownProviderCategories(input.provider);
      if (categories === null) throw new InvalidInputError(`Unknown provider ${input.provider}`);
      if (!categories.includes(input.category)) {
        throw new InvalidInputError(`Provider ${input.provider} sells no product of category ${input.category}`);
      }
      const wallet = await ledger.grant({
        owner,
        isProject: input.isProject ?? false,
        provider: input.provider,
        category: input.category,
        amount: input.amount,
        startDate,
        endDate,
        grantedBy: viewer.username,
        now,
      });
      logger.info(
        { owner, isProject: wallet.isProject, providerId: wallet.provider, category: wallet.category, amount: input.amount, by: viewer.username },
        'credits granted',
      );
      return wallet;
    },

    async wallets(viewer, project) {
      const owner = project ? ownerOrForbidden(viewer, project) : { owner: viewer.username, isProject: false };
      return ledger.wallets(owner, clock.now());
    },

    async transactions(viewer, input) {
      const first = input.first ?? 50;
      if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE) {
        throw new InvalidInputError(`first must be an integer from 0 to ${MAX_PAGE}`);
      }
      if (input.project && input.owner) throw new InvalidInputError('Give project or owner, not both');
      let owner: WalletOwner | undefined;
      if (input.project) owner = ownerOrForbidden(viewer, input.project);
      else if (input.owner) {
        if (!viewer.admin && input.owner !== viewer.username) throw new ForbiddenError("Only administrators see other users' transactions");
        owner = { owner: input.owner, isProject: false };
      } else if (!viewer.admin) owner = { owner: viewer.username, isProject: false };
      return ledger.transactions({ owner, first, after: input.after });
    },
  };
}

/** A ledger Wallet in the contract's shape (see {@link WalletView.owner}). */
export function toWalletView(wallet: Wallet): WalletView {
  return {
    owner: wallet.isProject ? { createdBy: wallet.createdBy, project: wallet.owner } : { createdBy: wallet.owner, project: null },
    category: wallet.category,
    provider: wallet.provider,
    allocations: wallet.allocations.map(({ id, initialBalance, balance, startDate, endDate }) => ({
      id,
      initialBalance,
      balance,
      startDate,
      endDate,
    })),
    balance: wallet.balance,
  };
}

/** A page of the ledger in the shape of the schema's TransactionConnection (timestamps as epoch ms). */
export function toTransactionConnection(page: TransactionPage): {
  edges: { cursor: string; node: Transaction }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  totalCount: number;
} {
  return {
    edges: page.items.map((node) => ({ cursor: encodeCursor(node.id), node })),
    pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor },
    totalCount: page.totalCount,
  };
}

/**
 * The wallets and descriptions of one charging round, each made once and shared by the jobs that
 * have it: a round over 100 000 jobs of 1000 wallets makes 1000 wallet objects, not 100 000, and
 * the ledger names and sends each once.
 */
interface RoundValues {
  wallet(owner: PayingOwner, product: Product, provider: string): WalletKey;
  description(product: Product, units: number): string;
}

function createRoundValues(): RoundValues {
  // provider → category → user or project name → wallet; users and projects apart.
  const wallets = new Map<string, Map<string, [Map<string, WalletKey>, Map<string, WalletKey>]>>();
  const descriptions = new Map<Product, Map<number, string>>();
  return {
    wallet(owner: PayingOwner, product: Product, provider: string): WalletKey {
      let byCategory = wallets.get(provider);
      if (!byCategory) wallets.set(provider, (byCategory = new Map()));
      let byOwner = byCategory.get(product.category);
      if (!byOwner) byCategory.set(product.category, (byOwner = [new Map(), new Map()]));
      const [users, projects] = byOwner;
      const name = owner.project || owner.createdBy;
      const named = owner.project ? projects : users;
      let wallet = named.get(name);
      if (!wallet) named.set(name, (wallet = { owner: name, isProject: Boolean(owner.project), provider, category: product.category }));
      return wallet;
    },
    description(product: Product, units: number): string {
      let byUnits = descriptions.get(product);
      if (!byUnits) descriptions.set(product, (byUnits = new Map()));
      let description = byUnits.get(units);
      if (description === undefined) byUnits.set(units, (description = chargeDescription(product, units)));
      return description;
    },
  };
}

/** The description of a job's charge: what it has used in all. */
function chargeDescription(product: Product, units: number): string {
  return `${product.id}: ${units} ${unitWord(product.unitOfPrice, units)} used in all`;
}

function unitWord(unit: ProductPriceUnit, count: number): string {
  const word = unit === 'CREDITS_PER_MINUTE' ? 'minute' : unit === 'CREDITS_PER_HOUR' ? 'hour' : 'day';
  return count === 1 ? word : `${word}s`;
}
