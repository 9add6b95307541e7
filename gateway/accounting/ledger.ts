/**
 * The Ledger: wallets, their allocations, per-job charges and the record of
 * every grant and charge. Two implementations answer exactly alike (one
 * contract suite runs against both): Redis for production, shared by every
 * gateway replica, and memory for `npm start`.
 *
 * Money is an integer number of credits; times are epoch milliseconds and
 * always come from the caller, so a driven clock drives the ledger too.
 */
import { InternalError, InvalidInputError } from '../../shared/errors.js';

/** Who pays: a user (by name) or a project (by id). */
export interface WalletOwner {
  owner: string;
  isProject: boolean;
}

/** One wallet: an owner's credits for one product category at one provider. */
export interface WalletKey extends WalletOwner {
  provider: string;
  category: string;
}

/** A grant of credits, spendable in [startDate, endDate). */
export interface Allocation {
  id: string;
  initialBalance: number;
  balance: number;
  startDate: number;
  /** Null: never expires. */
  endDate: number | null;
}

export interface Wallet extends WalletKey {
  /** The user who made the wallet's first grant. */
  createdBy: string;
  /** Every allocation, expired and future ones included, in spending order (see {@link compareSpendingOrder}). */
  allocations: Allocation[];
  /** Sum of the balances of allocations active at the time asked about: startDate ≤ now < endDate. */
  balance: number;
}

export interface GrantRequest extends WalletKey {
  /** Positive integer credits. */
  amount: number;
  startDate: number;
  /** Null: never expires; otherwise after startDate. */
  endDate: number | null;
  /** The administrator granting. */
  grantedBy: string;
  now: number;
  /** Kept on the transaction. @default `Granted <amount> credits` */
  description?: string;
}

export interface ChargeRequest {
  jobId: string;
  wallet: WalletKey;
  /**
   * The job's running total in credits: what it should have paid so far.
   * Only the part above what was already accounted for the job is debited.
   */
  totalCredits: number;
  now: number;
  description: string;
  /** Who caused the charge (the job's creator), kept on the transaction. */
  by?: string | null;
}

export interface ChargeResult {
  /** Credits taken by this call. */
  debited: number;
  /** The wallet could not pay this call's difference in full (it is now at zero). */
  shortfall: boolean;
  /** Credits actually taken for the job so far, over all calls. */
  jobCharged: number;
  /**
   * The running total already processed for the job: never goes down, and
   * moves to `totalCredits` even when the wallet could not pay, so an unpaid
   * difference is not tried again by the next report of the same total.
   */
  accountedTotal: number;
}

/** One item of {@link Ledger.chargeMany}: its result, or why it failed (nothing was charged then). */
export type ChargeOutcome = ({ ok: true } & ChargeResult) | { ok: false; error: Error };

export type TransactionKind = 'GRANT' | 'CHARGE';

export interface Transaction extends WalletKey {
  /** Opaque; transactions are listed newest first in the order they were committed. */
  id: string;
  kind: TransactionKind;
  /** Credits granted, or debited (always positive). */
  amount: number;
  /** CHARGE: the job charged. */
  jobId: string | null;
  /** GRANT: the new allocation; CHARGE: the allocations debited, in the order they paid. */
  allocationIds: string[];
  /** GRANT: the administrator; CHARGE: the job's creator when known. */
  by: string | null;
  /** The caller's clock at the time of the grant or charge. */
  timestamp: number;
  description: string;
}

export interface TransactionQuery {
  /** Only this owner's transactions; all of them when absent. */
  owner?: WalletOwner;
  /** Page size, 0 to {@link MAX_PAGE}. */
  first: number;
  /** The `endCursor` of the previous page. */
  after?: string | null;
}

export interface TransactionPage {
  /** Newest first. */
  items: Transaction[];
  endCursor: string | null;
  hasNextPage: boolean;
  /** All transactions matching the query, on every page. */
  totalCount: number;
}

export interface Ledger {
  /** Adds an allocation to the wallet (creating the wallet), records a GRANT; the wallet as of `now` afterwards. */
  grant(request: GrantRequest): Promise<Wallet>;
  /** The owner's wallets, balances as of `now`, sorted by provider then category. */
  wallets(owner: WalletOwner, now: number): Promise<Wallet[]>;
  /** One wallet as of `now`; null if nothing was ever granted to it. */
  wallet(key: WalletKey, now: number): Promise<Wallet | null>;
  /** Credits spendable now: 0 for a wallet that does not exist. */
  balance(key: WalletKey, now: number): Promise<number>;
  /**
   * Charges the difference between `totalCredits` and what was already
   * accounted for the job, atomically: the same total twice, from any number
   * of processes, charges once; a lower total never refunds. Debits the
   * allocations active at `now`, soonest-expiring first, down to zero and
   * never below; records a CHARGE when anything was debited.
   */
  charge(request: ChargeRequest): Promise<ChargeResult>;
  /**
   * {@link charge} for many jobs at once, in batches; one outcome per item, in
   * the order given. Items are charged in {@link chargeOrder}: each wallet's
   * items in the order given, which decides which job gets a wallet's last
   * credits.
   */
  chargeMany(requests: readonly ChargeRequest[]): Promise<ChargeOutcome[]>;
  /** Credits actually taken per job, in the order asked (0 for a job never charged). */
  jobCharged(jobIds: readonly string[]): Promise<number[]>;
  /** Grants and charges, newest first. */
  transactions(query: TransactionQuery): Promise<TransactionPage>;
  close(): Promise<void>;
}

/** The largest page {@link Ledger.transactions} returns. */
export const MAX_PAGE = 1000;

/** Dates are epoch ms, safe integers: every one has at most 16 digits, so zero-padded to 16 they sort as strings. */
const MAX_DATE = Number.MAX_SAFE_INTEGER;

function checkCredits(what: string, value: number, { positive }: { positive: boolean }): void {
  if (!Number.isSafeInteger(value) || value < 0 || (positive && value === 0)) {
    throw new InvalidInputError(`${what} must be a ${positive ? 'positive' : 'non-negative'} integer number of credits, not ${value}`);
  }
}

function checkDate(what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > MAX_DATE) {
    throw new InvalidInputError(`${what} must be epoch milliseconds, not ${value}`);
  }
}

function checkName(what: string, value: string): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > 256) {
    throw new InvalidInputError(`${what} must be a non-empty string of at most 256 characters`);
  }
}

/** Throws InvalidInputError unless the wallet's identity is usable. */
export function validateWalletKey(key: WalletKey): void {
  checkName('owner', key.owner);
  checkName('provider', key.provider);
  checkName('category', key.category);
}

/** Throws InvalidInputError unless both ledgers can store the grant. */
export function validateGrant(request: GrantRequest): void {
  validateWalletKey(request);
  checkName('grantedBy', request.grantedBy);
  checkCredits('amount', request.amount, { positive: true });
  checkDate('startDate', request.startDate);
  if (request.endDate !== null) {
    checkDate('endDate', request.endDate);
    if (request.endDate <= request.startDate) throw new InvalidInputError('endDate must be after startDate');
  }
  checkDate('now', request.now);
}

/** Throws InvalidInputError unless both ledgers can process the charge. */
export function validateCharge(request: ChargeRequest): void {
  validateWalletKey(request.wallet);
  checkName('jobId', request.jobId);
  checkCredits('totalCredits', request.totalCredits, { positive: false });
  checkDate('now', request.now);
}

export function validateNow(now: number): void {
  checkDate('now', now);
}

/** A page size within [0, MAX_PAGE]. */
export function pageSize(first: number): number {
  if (!Number.isInteger(first) || first < 0) throw new InvalidInputError(`first must be a non-negative integer, not ${first}`);
  return Math.min(first, MAX_PAGE);
}

export function isActive(allocation: Allocation, now: number): boolean {
  return allocation.startDate <= now && (allocation.endDate === null || now < allocation.endDate);
}

/**
 * EXPIRE_FIRST: soonest end first, never-expiring last; ties by start, then
 * id. The Redis ledger gets the same order from its sorted set's lex order
 * (see {@link spendingOrderMember}).
 */
export function compareSpendingOrder(a: Allocation, b: Allocation): number {
  return spendingOrderMember(a) < spendingOrderMember(b) ? -1 : spendingOrderMember(a) > spendingOrderMember(b) ? 1 : 0;
}

/** `<end, 16 digits, or ~ for never>|<start, 16 digits>|<id>`: lex order is spending order. */
export function spendingOrderMember(allocation: Pick<Allocation, 'id' | 'startDate' | 'endDate'>): string {
  const end = allocation.endDate === null ? '~' : padDate(allocation.endDate);
  return `${end}|${padDate(allocation.startDate)}|${allocation.id}`;
}

export function padDate(ms: number): string {
  return String(ms).padStart(16, '0');
}

/** Wallets as {@link Ledger.wallets} lists them. */
export function compareWallets(a: WalletKey, b: WalletKey): number {
  if (a.provider !== b.provider) return a.provider < b.provider ? -1 : 1;
  return a.category < b.category ? -1 : a.category > b.category ? 1 : 0;
}

/**
 * The order {@link Ledger.chargeMany} charges valid requests in, as groups of
 * indexes: one group per `now` (first seen first), within it a wallet's
 * requests together (wallets in the order first seen), each wallet's in the
 * order given. Different wallets are independent, so this changes no outcome
 * of a round with one `now`; it lets the Redis ledger read and write each
 * wallet once per batch.
 */
/** Validates a batch: invalid items get their error outcome now; the rest are listed by index. */
export function splitValidCharges(requests: readonly ChargeRequest[]): { outcomes: ChargeOutcome[]; valid: number[] } {
  const outcomes: ChargeOutcome[] = new Array(requests.length);
  const valid: number[] = [];
  requests.forEach((request, i) => {
    try {
      validateCharge(request);
      valid.push(i);
    } catch (error) {
      outcomes[i] = { ok: false, error: error as Error };
    }
  });
  return { outcomes, valid };
}

export function chargeOrder(requests: readonly ChargeRequest[], indexes: readonly number[]): { now: number; indexes: number[]; wallets: string[] }[] {
  // Grouping with Maps, not sorting: linear in a round of 100 000 jobs.
  const byNow = new Map<number, Map<string, number[]>>();
  // A round's requests share their wallets' objects (accounting's chargeRound): name each object once.
  const ids = new Map<WalletKey, string>();
  for (const index of indexes) {
    const request = requests[index]!;
    let byWallet = byNow.get(request.now);
    if (!byWallet) byNow.set(request.now, (byWallet = new Map()));
    let wallet = ids.get(request.wallet);
    if (wallet === undefined) ids.set(request.wallet, (wallet = walletId(request.wallet)));
    const group = byWallet.get(wallet);
    if (group) group.push(index);
    else byWallet.set(wallet, [index]);
  }
  return [...byNow].map(([now, byWallet]) => {
    const ordered: number[] = [];
    const wallets: string[] = [];
    for (const [wallet, group] of byWallet) {
      for (const index of group) {
        ordered.push(index);
        wallets.push(wallet);
      }
    }
    return { now, indexes: ordered, wallets };
  });
}

/** The stable string naming a wallet, e.g. for maps: never ambiguous, whatever the names contain. */
export function walletId(key: WalletKey): string {
  const e = encodeURIComponent;
  return `${key.isProject ? 'p' : 'u'}:${e(key.owner)}:${e(key.provider)}:${e(key.category)}`;
}

/** The wallet a {@link walletId} names. */
export function parseWalletId(id: string): WalletKey {
  const [kind, owner, provider, category] = id.split(':').map(decodeURIComponent);
  if (owner === undefined || provider === undefined || category === undefined) throw new InternalError(`${id} is not a wallet id`);
  return { owner, isProject: kind === 'p', provider, category };
}

export function encodeCursor(transactionId: string): string {
  return Buffer.from(transactionId, 'utf8').toString('base64url');
}

/** The transaction id a cursor stands for; INVALID_INPUT for anything else. */
export function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^\d{1,20}-\d{1,20}$/.test(id)) throw new InvalidInputError(`"${cursor}" is not a cursor of this list`);
  return id;
}
