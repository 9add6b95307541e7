/**
 * The embedded Ledger: everything in this process's memory, for `npm start`
 * and development. It answers exactly as the Redis ledger does (the contract
 * suite runs against both); where in doubt, the Redis ledger and its Lua
 * scripts are right. Every method does its work synchronously, so each is
 * atomic as a script is. Values are copied in and out.
 */
import { randomUUID } from 'node:crypto';

import {
  chargeOrder,
  compareSpendingOrder,
  compareWallets,
  decodeCursor,
  encodeCursor,
  isActive,
  pageSize,
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
  type Wallet,
  type WalletKey,
  type WalletOwner,
} from './ledger.js';

interface StoredWallet extends WalletKey {
  createdBy: string;
  /** Always in spending order. */
  allocations: Allocation[];
}

/** A Ledger in this process's memory: nothing survives a restart. */
export function createMemoryLedger(): Ledger {
  const wallets = new Map<string, StoredWallet>();
  /** walletOwnerId → wallet ids. */
  const walletsByOwner = new Map<string, Set<string>>();
  const charges = new Map<string, { accounted: number; charged: number }>();
  /** Oldest first, as in the Redis stream. */
  const transactions: Transaction[] = [];
  let sequence = 0;

  const ownerId = (owner: WalletOwner) => JSON.stringify([owner.isProject, owner.owner]);

  function view(wallet: StoredWallet, now: number): Wallet {
    const allocations = wallet.allocations.map((a) => ({ ...a }));
    return {
      owner: wallet.owner,
      isProject: wallet.isProject,
      provider: wallet.provider,
      category: wallet.category,
      createdBy: wallet.createdBy,
      allocations,
      balance: allocations.reduce((sum, a) => (isActive(a, now) ? sum + a.balance : sum), 0),
    };
  }

  function record(transaction: Omit<Transaction, 'id'>): void {
    // The Redis stream's `<ms>-<seq>` form, so cursors look alike.
    const id = `0-${++sequence}`;
    transactions.push({ id, ...transaction, allocationIds: [...transaction.allocationIds] });
  }

  function chargeNow(request: ChargeRequest): ChargeResult {
    validateCharge(request);
    const state = charges.get(request.jobId) ?? { accounted: 0, charged: 0 };
    const delta = request.totalCredits - state.accounted;
    if (delta <= 0) return { debited: 0, shortfall: false, jobCharged: state.charged, accountedTotal: state.accounted };

    const wallet = wallets.get(walletId(request.wallet));
    let left = delta;
    const paidBy: string[] = [];
    for (const allocation of wallet?.allocations ?? []) {
      if (left === 0) break;
      if (!isActive(allocation, request.now) || allocation.balance <= 0) continue;
      const take = Math.min(allocation.balance, left);
      allocation.balance -= take;
      left -= take;
      paidBy.push(allocation.id);
    }
    const debited = delta - left;
    const next = { accounted: request.totalCredits, charged: state.charged + debited };
    charges.set(request.jobId, next);
    if (debited > 0) {
      record({
        kind: 'CHARGE',
        owner: wallet!.owner,
        isProject: wallet!.isProject,
        provider: wallet!.provider,
        category: wallet!.category,
        amount: debited,
        jobId: request.jobId,
        allocationIds: paidBy,
        by: request.by || null,
        timestamp: request.now,
        description: request.description,
      });
    }
    return { debited, shortfall: left > 0, jobCharged: next.charged, accountedTotal: next.accounted };
  }

  return {
    async grant(request) {
      validateGrant(request);
      const id = walletId(request);
      let wallet = wallets.get(id);
      if (!wallet) {
        wallet = {
          owner: request.owner,
          isProject: request.isProject,
          provider: request.provider,
          category: request.category,
          createdBy: request.grantedBy,
          allocations: [],
        };
        wallets.set(id, wallet);
        const owner = ownerId(request);
        if (!walletsByOwner.has(owner)) walletsByOwner.set(owner, new Set());
        walletsByOwner.get(owner)!.add(id);
      }
      const allocation: Allocation = {
        id: randomUUID(),
        initialBalance: request.amount,
        balance: request.amount,
        startDate: request.startDate,
        endDate: request.endDate,
      };
      wallet.allocations.push(allocation);
      wallet.allocations.sort(compareSpendingOrder);
      record({
        kind: 'GRANT',
        owner: request.owner,
        isProject: request.isProject,
        provider: request.provider,
        category: request.category,
        amount: request.amount,
        jobId: null,
        allocationIds: [allocation.id],
        by: request.grantedBy,
        timestamp: request.now,
        description: request.description ?? `Granted ${request.amount} credits`,
      });
      return view(wallet, request.now);
    },

    async wallets(owner, now) {
      validateNow(now);
      return [...(walletsByOwner.get(ownerId(owner)) ?? [])].map((id) => view(wallets.get(id)!, now)).sort(compareWallets);
    },

    async wallet(key, now) {
      validateWalletKey(key);
      validateNow(now);
      const wallet = wallets.get(walletId(key));
      return wallet ? view(wallet, now) : null;
    },

    async balance(key, now) {
      validateWalletKey(key);
      validateNow(now);
      const wallet = wallets.get(walletId(key));
      return wallet ? view(wallet, now).balance : 0;
    },

    async charge(request) {
      return chargeNow(request);
    },

    async chargeMany(requests) {
      const { outcomes, valid } = splitValidCharges(requests);
      // The Redis ledger's order, so both answer alike when a wallet runs dry.
      for (const { indexes } of chargeOrder(requests, valid)) {
        for (const i of indexes) outcomes[i] = { ok: true, ...chargeNow(requests[i]!) };
      }
      return outcomes;
    },

    async jobCharged(jobIds) {
      return jobIds.map((jobId) => charges.get(jobId)?.charged ?? 0);
    },

    async transactions(query) {
      const first = pageSize(query.first);
      const owner = query.owner;
      const matches = (t: Transaction) => owner === undefined || (t.owner === owner.owner && t.isProject === owner.isProject);
      let from = transactions.length - 1;
      if (query.after) {
        // Ids are `0-<n>` with n = index + 1; like XREVRANGE, a cursor for an id
        // never issued starts from the newest id below it.
        // decodeCursor checked the form `<ms>-<seq>`: both parts are there.
        const [ms, seq] = decodeCursor(query.after).split('-').map(Number);
        from = ms! > 0 ? transactions.length - 1 : Math.min(seq! - 1, transactions.length) - 1;
      }
      const items: Transaction[] = [];
      let hasNextPage = false;
      for (let i = from; i >= 0; i--) {
        const transaction = transactions[i]!; // from <= transactions.length - 1
        if (!matches(transaction)) continue;
        if (items.length === first) {
          hasNextPage = true;
          break;
        }
        items.push({ ...transaction, allocationIds: [...transaction.allocationIds] });
      }
      return {
        items,
        endCursor: items.length > 0 ? encodeCursor(items.at(-1)!.id) : null,
        hasNextPage,
        totalCount: transactions.filter(matches).length,
      };
    },

    async close() {},
  };
}
