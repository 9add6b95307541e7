/** `wallets` and `transactions`: what you may spend where, and what was granted and charged. */
import type { Command } from 'commander';

import { positiveInteger } from '../option-values.js';
import { relativeTime } from '../output.js';
import type { CommandContext } from '../register.js';

const WALLETS = `query ($project: String) { wallets(project: $project) { provider category balance owner { createdBy project }
  allocations { id initialBalance balance startDate endDate } } }`;
interface WalletRow {
  provider: string;
  category: string;
  balance: number;
  owner: { createdBy: string; project: string | null };
  allocations: { id: string; initialBalance: number; balance: number; startDate: string; endDate: string | null }[];
}
const TRANSACTIONS = `query ($project: String, $owner: String, $first: Int, $after: String) {
  transactions(project: $project, owner: $owner, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id kind owner isProject provider category amount jobId by timestamp description } } } }`;
interface TransactionRow {
  id: string;
  kind: string;
  owner: string;
  isProject: boolean;
  provider: string;
  category: string;
  amount: number;
  jobId: string | null;
  by: string | null;
  timestamp: string;
  description: string;
}

export function registerAccountingCommands(program: Command, context: CommandContext): void {
  program
    .command('wallets')
    .description("your wallets (or your project's, with --project): balance per provider and category")
    .action(async (_opts: unknown, cmd: Command) => {
      const { out, api, connection } = context(cmd);
      const { wallets } = await api().request<{ wallets: WalletRow[] }>(WALLETS, { project: connection.project ?? process.env.SWITCHYARD_PROJECT });
      if (out.json) return out.document(wallets);
      if (out.quiet) return wallets.forEach((w) => out.line(`${w.provider}/${w.category} ${w.balance}`));
      out.table(
        ['PROVIDER', 'CATEGORY', 'OWNER', 'BALANCE', 'ALLOCATIONS', 'NEXT END'],
        wallets.map((w) => {
          const ends = w.allocations
            .map((a) => a.endDate)
            .filter((d): d is string => d !== null)
            .sort();
          return [w.provider, w.category, w.owner.project ?? w.owner.createdBy, w.balance, w.allocations.length, relativeTime(ends[0])];
        }),
      );
    });

  program
    .command('transactions')
    .description('grants and charges, newest first')
    .option('--owner <user>', "that user's (administrators)")
    .option('-l, --limit <n>', 'how many', positiveInteger, 50)
    .option('--after <cursor>', 'the page after this cursor')
    .action(async (opts: { owner?: string; limit: number; after?: string }, cmd: Command) => {
      const { out, api, connection } = context(cmd);
      const { transactions } = await api().request<{
        transactions: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { node: TransactionRow }[] };
      }>(TRANSACTIONS, {
        project: connection.project ?? process.env.SWITCHYARD_PROJECT,
        owner: opts.owner,
        first: opts.limit,
        after: opts.after,
      });
      const rows = transactions.edges.map((e) => e.node);
      if (out.json) return out.document({ totalCount: transactions.totalCount, pageInfo: transactions.pageInfo, transactions: rows });
      if (out.quiet) return rows.forEach((t) => out.line(t.id));
      out.table(
        ['WHEN', 'KIND', 'AMOUNT', 'PROVIDER', 'CATEGORY', 'JOB', 'DESCRIPTION'],
        rows.map((t) => [
          relativeTime(t.timestamp),
          t.kind,
          t.kind === 'CHARGE' ? -Math.abs(t.amount) : t.amount,
          t.provider,
          t.category,
          t.jobId,
          t.description,
        ]),
      );
      if (transactions.pageInfo.hasNextPage) out.note(`more with --after ${transactions.pageInfo.endCursor}`);
    });
}
