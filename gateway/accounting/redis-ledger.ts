/**
 * The production Ledger: Redis, shared by every gateway replica. A grant and
 * a charge are each one Lua script in ./lua, so two gateways charging the
 * same job at once, or a gateway killed mid-round, never charge twice.
 * Charges go in batches (charge-n.lua): a charging round over 100 000 jobs
 * is a few hundred script calls, not 100 000.
 *
 * Key layout (`<p>` is `keyPrefix`; `<o>` is `u:<user>` or `p:<project>`;
 * user-supplied parts are URI-encoded so they never contain ':'):
 *
 * | key                                          | type   | holds                                                       |
 * | -------------------------------------------- | ------ | ----------------------------------------------------------- |
 * | `<p>:wallet:<o>:<provider>:<category>`       | hash   | owner, isProject, provider, category, id (`<o>:<provider>:<category>`), createdBy; `m:<alloc>` = `<start>\|<end>\|<initial>`; `b:<alloc>` = balance |
 * | `<p>:wallet:<o>:<provider>:<category>:order` | zset   | `<end>\|<start>\|<alloc>`, score 0: lex order = spending order |
 * | `<p>:wallets:<o>`                            | set    | `<provider>:<category>` of each of the owner's wallets       |
 * | `<p>:charge:<jobId>`                         | hash   | `accounted` (total processed), `charged` (credits taken)     |
 * | `<p>:transactions`                           | stream | every GRANT and CHARGE, in commit order: kind, wallet (id), amount, jobId, allocs, by, ts, desc |
 * | `<p>:transactions:<o>`                       | stream | the ids of one owner's, same ids as above                    |
 *
 * None of these collide with the job store's keys, so both may share a prefix.
 */
import { randomUUID } from 'node:crypto';
import type { Result } from 'ioredis';

import { InternalError, must } from '../../shared/errors.js';
import { defineLuaCommands } from '../store/lua-scripts.js';
import { componentKeyPrefix, connectRedis, type RedisClient } from '../store/redis-connection.js';
import {
  chargeOrder,
  compareSpendingOrder,
  compareWallets,
  decodeCursor,
  encodeCursor,
  isActive,
  padDate,
  pageSize,
  parseWalletId,
  spendingOrderMember,
  splitValidCharges,
  validateCharge,
  validateGrant,
  validateNow,
  validateWalletKey,
  walletId,
  type Allocation,
  type ChargeRequest,
  type ChargeResult,
  type Ledger,
  type Transaction,
  type TransactionPage,
  type Wallet,
  type WalletKey,
  type WalletOwner,
} from './ledger.js';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** lua/grant-5.lua */
    switchyardGrant(...keysAndArgs: (string | number)[]): Result<[string, string[]], Context>;
    /** lua/charge-n.lua: the number of keys comes first. */
    switchyardCharge(numberOfKeys: number, ...keysAndArgs: string[]): Result<string, Context>;
  }
}

export interface RedisLedgerOptions {
  /**
   * Prepended, with ':', to every key, so several deployments or tests share one Redis.
   * On a cluster the keys take the hash tag `{<keyPrefix>:ledger}` (store/redis-connection.ts).
   */
  keyPrefix: string;
  /** A redis:// URL: the ledger opens (and on close, quits) its own connection. */
  url?: string;
  /** Or a Redis Cluster's seed nodes (`host:port`), likewise. */
  clusterNodes?: string[];
  /**
   * Or an existing connection (one server or a cluster), e.g. the job store's: the ledger
   * defines its two commands on it and leaves it open on close. Give one of `url`, `clusterNodes` and `redis`.
   */
  redis?: RedisClient;
  /** Replicas every grant's and charge's writes reach before it answers (store/lua-scripts.ts). @default 0 */
  waitReplicas?: number;
  /**
   * Jobs charged per script call in {@link Ledger.chargeMany}. Larger batches
   * cost less per job; Redis serves nobody else while one runs (about 10 µs
   * a job). At most 5000.
   * @default 500
   */
  chargeBatchSize?: number;
}

/** Connects (or adopts `redis`), loads the scripts and answers once Redis does. */
export async function createRedisLedger(options: RedisLedgerOptions): Promise<Ledger> {
  const given = [options.url, options.clusterNodes, options.redis].filter((option) => option !== undefined).length;
  if (given !== 1) throw new TypeError('createRedisLedger needs exactly one of url, clusterNodes and redis');
  const owned = options.redis === undefined;
  const redis =
    options.redis ??
    connectRedis(options.url !== undefined ? { url: options.url } : { clusterNodes: options.clusterNodes! }, { enableAutoPipelining: true });
  const batchSize = options.chargeBatchSize ?? 500;
  // The keys and arguments of a batch are spread into one call: keep them well under V8's limit.
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 5000) {
    throw new TypeError(`chargeBatchSize must be an integer from 1 to 5000, not ${batchSize}`);
  }
  defineLuaCommands(
    redis,
    new URL('./lua/', import.meta.url),
    { switchyardGrant: 'grant-5.lua', switchyardCharge: 'charge-n.lua' },
    { waitReplicas: options.waitReplicas },
  );
  try {
    await redis.ping();
  } catch (error) {
    if (owned) redis.disconnect();
    throw error;
  }

  const key = keyLayout(componentKeyPrefix(redis, options.keyPrefix, 'ledger'));
  // Bytes, as Lua's string.sub counts them: a prefix may hold any character.
  const chargeKeyIdFrom = String(Buffer.byteLength(key.chargeOfEncoded('')));

  /**
   * One call of charge-n.lua (see its header for the layout) for requests
   * that share `now`; `wallets[i]` is walletId(requests[i].wallet).
   */
  async function chargeBatch(requests: readonly ChargeRequest[], wallets: readonly string[], now: number): Promise<ChargedOutcome[]> {
    const walletNumbers = new Map<string, number>();
    const walletKeys: string[] = [];
    const jobKeys: string[] = new Array(requests.length);
    // ARGV[5..]: each description, creator and id that the key does not give, once.
    const strings: string[] = [];
    const stringNumbers = new Map<string, number>();
    const stringNumber = (value: string) => {
      let number = stringNumbers.get(value);
      if (number === undefined) stringNumbers.set(value, (number = strings.push(value)));
      return number;
    };
    let jobs = '';
    for (let i = 0; i < requests.length; i++) {
      const request = requests[i]!;
      const wallet = wallets[i]!;
      let number = walletNumbers.get(wallet);
      if (number === undefined) {
        walletNumbers.set(wallet, (number = walletNumbers.size + 1));
        walletKeys.push(key.wallet(request.wallet), key.order(request.wallet), key.ownerTransactions(request.wallet));
      }
      const encodedId = encodeURIComponent(request.jobId);
      jobKeys[i] = key.chargeOfEncoded(encodedId);
      const id = encodedId === request.jobId ? 0 : stringNumber(request.jobId);
      jobs += `${request.totalCredits},${number},${stringNumber(request.description)},${stringNumber(request.by ?? '')},${id};`;
    }
    const keys = [key.transactions, ...walletKeys, ...jobKeys];
    const args = [padDate(now), String(walletNumbers.size), chargeKeyIdFrom, jobs, ...strings];
    // One string, not 4 integers per job: decoding 400 000 integers a round costs more than splitting.
    const reply = (await redis.switchyardCharge(keys.length, ...keys, ...args)).split(',');
    const results: ChargedOutcome[] = new Array(requests.length);
    for (let i = 0; i < requests.length; i++) {
      const at = 4 * i;
      if (at + 3 >= reply.length) throw new InternalError(`charge-n.lua answered for ${reply.length / 4} of ${requests.length} charges`);
      // Made as chargeMany's outcomes, not copied into them: a round makes 100 000.
      results[i] = {
        ok: true,
        debited: Number(reply[at]),
        shortfall: reply[at + 1] === '1',
        jobCharged: Number(reply[at + 2]),
        accountedTotal: Number(reply[at + 3]),
      };
    }
    return results;
  }

  async function readWallet(walletKey: WalletKey, now: number): Promise<Wallet | null> {
    const hash = await redis.hgetall(key.wallet(walletKey));
    return hash.owner === undefined ? null : walletFromHash(hash, now);
  }

  return {
    async grant(request) {
      validateGrant(request);
      const id = randomUUID();
      const [, pairs] = await redis.switchyardGrant(
        key.wallet(request),
        key.order(request),
        key.wallets(request),
        key.transactions,
        key.ownerTransactions(request),
        id,
        spendingOrderMember({ id, startDate: request.startDate, endDate: request.endDate }),
        String(request.startDate),
        request.endDate === null ? '' : String(request.endDate),
        String(request.amount),
        request.owner,
        request.isProject ? '1' : '0',
        request.provider,
        request.category,
        request.grantedBy,
        padDate(request.now),
        request.description ?? `Granted ${request.amount} credits`,
        key.walletMember(request),
        walletId(request),
      );
      return walletFromHash(pairsToRecord(pairs), request.now);
    },

    async wallets(owner: WalletOwner, now) {
      validateNow(now);
      const members = await redis.smembers(key.wallets(owner));
      const wallets = await Promise.all(
        members.map((member) => {
          const [provider, category] = member.split(':').map(decodeURIComponent);
          // Every member the grant script adds is `<provider>:<category>`; anything else names no wallet.
          if (provider === undefined || category === undefined) return null;
          return readWallet({ ...owner, provider, category }, now);
        }),
      );
      return wallets.filter((wallet): wallet is Wallet => wallet !== null).sort(compareWallets);
    },

    async wallet(walletKey, now) {
      validateWalletKey(walletKey);
      validateNow(now);
      return readWallet(walletKey, now);
    },

    async balance(walletKey, now) {
      validateWalletKey(walletKey);
      validateNow(now);
      return (await readWallet(walletKey, now))?.balance ?? 0;
    },

    async charge(request) {
      validateCharge(request);
      const [outcome] = await chargeBatch([request], [walletId(request.wallet)], request.now);
      const { debited, shortfall, jobCharged, accountedTotal } = must(outcome, 'the result of a charge');
      return { debited, shortfall, jobCharged, accountedTotal };
    },

    async chargeMany(requests) {
      const { outcomes, valid } = splitValidCharges(requests);
      const calls: Promise<void>[] = [];
      for (const group of chargeOrder(requests, valid)) {
        for (let from = 0; from < group.indexes.length; from += batchSize) {
          // Yield between batches: the one built goes out (and Redis runs it) while this process builds
          // the next, so the round costs about Redis' script time, not that plus the building of every batch.
          if (from > 0 || calls.length > 0) await yieldToIo();
          const batch = group.indexes.slice(from, from + batchSize);
          // Sent in order on one connection: Redis runs them in that order.
          calls.push(
            chargeBatch(
              batch.map((i) => requests[i]!),
              group.wallets.slice(from, from + batchSize),
              group.now,
            ).then(
              (results) => batch.forEach((i, n) => (outcomes[i] = results[n]!)),
              (error: Error) => batch.forEach((i) => (outcomes[i] = { ok: false, error })),
            ),
          );
        }
      }
      await Promise.all(calls);
      return outcomes;
    },

    async jobCharged(jobIds) {
      if (jobIds.length === 0) return [];
      const pipeline = redis.pipeline();
      for (const jobId of jobIds) pipeline.hget(key.charge(jobId), 'charged');
      const replies = await pipeline.exec();
      return replies!.map(([error, value]) => {
        if (error) throw error;
        return Number(value ?? 0);
      });
    },

    async transactions(query) {
      const first = pageSize(query.first);
      const end = query.after ? `(${decodeCursor(query.after)}` : '+';
      if (query.owner === undefined) {
        // One entry past the page says whether there is a next one.
        const [entries, totalCount] = await Promise.all([
          redis.xrevrange(key.transactions, end, '-', 'COUNT', first + 1),
          redis.xlen(key.transactions),
        ]);
        return page(entries.slice(0, first), entries.length > first, totalCount);
      }
      // The owner's stream holds ids; the records are in the global stream.
      const ownerStream = key.ownerTransactions(query.owner);
      const [refs, totalCount] = await Promise.all([redis.xrevrange(ownerStream, end, '-', 'COUNT', first + 1), redis.xlen(ownerStream)]);
      const entries = await Promise.all(refs.slice(0, first).map(([id]) => redis.xrange(key.transactions, id, id)));
      return page(
        entries.map((found) => found[0]).filter((entry) => entry !== undefined),
        refs.length > first,
        totalCount,
      );
    },

    async close() {
      if (owned) await redis.quit();
    },
  };
}

/** A charge that went through: its {@link ChargeOutcome}. */
type ChargedOutcome = { ok: true } & ChargeResult;

/** Lets pending socket writes and replies through (setImmediate runs after I/O). */
const yieldToIo = () => new Promise<void>((resolve) => setImmediate(resolve));

function keyLayout(prefix: string) {
  const e = encodeURIComponent;
  const owner = (o: WalletOwner) => `${o.isProject ? 'p' : 'u'}:${e(o.owner)}`;
  const wallet = (w: WalletKey) => `${prefix}:wallet:${owner(w)}:${e(w.provider)}:${e(w.category)}`;
  return {
    wallet,
    order: (w: WalletKey) => `${wallet(w)}:order`,
    wallets: (o: WalletOwner) => `${prefix}:wallets:${owner(o)}`,
    walletMember: (w: WalletKey) => `${e(w.provider)}:${e(w.category)}`,
    charge: (jobId: string) => `${prefix}:charge:${e(jobId)}`,
    chargeOfEncoded: (encodedJobId: string) => `${prefix}:charge:${encodedJobId}`,
    transactions: `${prefix}:transactions`,
    ownerTransactions: (o: WalletOwner) => `${prefix}:transactions:${owner(o)}`,
  };
}

function page(entries: [string, string[]][], hasNextPage: boolean, totalCount: number): TransactionPage {
  const items = entries.map(([id, fields]) => transactionFromEntry(id, pairsToRecord(fields)));
  return { items, endCursor: items.length > 0 ? encodeCursor(items.at(-1)!.id) : null, hasNextPage, totalCount };
}

/** A wallet hash (see grant-5.lua) as a Wallet whose balance counts what is active at `now`. */
function walletFromHash(hash: Record<string, string>, now: number): Wallet {
  const allocations: Allocation[] = [];
  for (const [field, value] of Object.entries(hash)) {
    if (!field.startsWith('m:')) continue;
    const id = field.slice(2);
    const [start, end, initial] = value.split('|');
    allocations.push({
      id,
      initialBalance: Number(initial),
      balance: Number(hash[`b:${id}`] ?? 0),
      startDate: Number(start),
      endDate: end === '' ? null : Number(end),
    });
  }
  allocations.sort(compareSpendingOrder);
  return {
    owner: fieldOf(hash, 'owner'),
    isProject: hash.isProject === '1',
    provider: fieldOf(hash, 'provider'),
    category: fieldOf(hash, 'category'),
    createdBy: fieldOf(hash, 'createdBy'),
    allocations,
    balance: allocations.reduce((sum, a) => (isActive(a, now) ? sum + a.balance : sum), 0),
  };
}

function transactionFromEntry(id: string, fields: Record<string, string>): Transaction {
  return {
    id,
    kind: fields.kind as Transaction['kind'],
    ...parseWalletId(fieldOf(fields, 'wallet')),
    amount: Number(fields.amount),
    jobId: nullIfEmpty(fieldOf(fields, 'jobId')),
    allocationIds: fields.allocs === '' ? [] : fieldOf(fields, 'allocs').split(','),
    by: nullIfEmpty(fieldOf(fields, 'by')),
    timestamp: Number(fields.ts),
    description: fieldOf(fields, 'desc'),
  };
}

/** A field that every script writing the record sets (see their headers). */
function fieldOf(record: Record<string, string>, name: string): string {
  return must(record[name], `field ${name}`);
}

const nullIfEmpty = (value: string): string | null => (value === '' ? null : value);

function pairsToRecord(pairs: string[]): Record<string, string> {
  const record: Record<string, string> = {};
  // HGETALL and XRANGE answer name, value, name, value: pairs[i + 1] is there.
  for (let i = 0; i < pairs.length; i += 2) record[pairs[i]!] = pairs[i + 1]!;
  return record;
}
