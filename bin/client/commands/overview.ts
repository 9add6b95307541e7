/** `stat` (job counts by state, as Shakudo's getJobStat) and `top` (live utilization and running jobs). */
import { Option, type Command } from 'commander';

import { positiveNumber } from '../option-values.js';
import { relativeTime, stateText } from '../output.js';
import type { CommandContext } from '../register.js';
import { usageText } from './catalog.js';

const STATS = [
  'COUNT_ALL',
  'COUNT_IN_QUEUE',
  'COUNT_RUNNING',
  'COUNT_SUSPENDED',
  'COUNT_SUCCESS',
  'COUNT_FAILURE',
  'COUNT_EXPIRED',
  'COUNT_CANCELED',
] as const;
const STAT_QUERY = `query ($timeFrame: TimeFrame!) { ${STATS.map((s) => `${s}: jobStat(stat: ${s}, timeFrame: $timeFrame)`).join(' ')} }`;
const TIME_FRAMES: Record<string, string> = { '10m': 'T_10M', '1h': 'T_1H', '24h': 'T_24H', all: 'TOTAL' };

const TOP = `{
  utilization { capacity { cpu memoryInGigs gpu } usedCapacity { cpu memoryInGigs gpu } queueStatus { running pending } }
  providers { id status utilization { capacity { cpu gpu } usedCapacity { cpu gpu } queueStatus { running pending } } }
  jobs(filter: { states: [RUNNING, IN_QUEUE, SUSPENDED] }, first: 20) { totalCount edges { node {
    id specification { name product { id provider } } status { state startedAt expiresAt } } } }
}`;
interface Usage {
  capacity: { cpu: number; memoryInGigs?: number; gpu: number };
  usedCapacity: { cpu: number; memoryInGigs?: number; gpu: number };
  queueStatus: { running: number; pending: number };
}
interface TopData {
  utilization: Usage;
  providers: { id: string; status: string; utilization: Usage | null }[];
  jobs: {
    totalCount: number;
    edges: {
      node: {
        id: string;
        specification: { name: string | null; product: { id: string; provider: string } };
        status: { state: string; startedAt: string | null; expiresAt: string | null };
      };
    }[];
  };
}

export function registerOverviewCommands(program: Command, context: CommandContext): void {
  program
    .command('stat')
    .description('how many of your jobs are in each state')
    .addOption(new Option('--time-frame <frame>', 'jobs created within').choices(Object.keys(TIME_FRAMES)).default('all'))
    .action(async (opts: { timeFrame: string }, cmd: Command) => {
      const { out, api } = context(cmd);
      const counts = await api().request<Record<(typeof STATS)[number], number>>(STAT_QUERY, { timeFrame: TIME_FRAMES[opts.timeFrame] });
      if (out.json) return out.document(counts);
      out.table(
        STATS.map((s) => s.replace('COUNT_', '')),
        [STATS.map((s) => counts[s])],
      );
    });

  program
    .command('top')
    .description('utilization of every provider and your live jobs, refreshed (once when not on a terminal)')
    .option('-i, --interval <seconds>', 'refresh every', positiveNumber, 2)
    .action(async (opts: { interval: number }, cmd: Command) => {
      const { out, api } = context(cmd);
      const live = Boolean(process.stdout.isTTY) && !out.json;
      for (;;) {
        const data = await api().request<TopData>(TOP);
        if (out.json) return out.document(data);
        if (live) process.stdout.write('\x1b[H\x1b[2J');
        const u = data.utilization;
        out.line(
          `All providers: CPU ${usageText(u.usedCapacity.cpu, u.capacity.cpu)}, memory ${usageText(u.usedCapacity.memoryInGigs ?? 0, u.capacity.memoryInGigs ?? 0)} GB, GPU ${usageText(u.usedCapacity.gpu, u.capacity.gpu)}; ${u.queueStatus.running} running, ${u.queueStatus.pending} pending`,
        );
        out.table(
          ['PROVIDER', 'STATUS', 'CPU', 'GPU', 'RUNNING', 'PENDING'],
          data.providers.map((p) => [
            p.id,
            p.status,
            p.utilization ? usageText(p.utilization.usedCapacity.cpu, p.utilization.capacity.cpu) : null,
            p.utilization ? usageText(p.utilization.usedCapacity.gpu, p.utilization.capacity.gpu) : null,
            p.utilization?.queueStatus.running,
            p.utilization?.queueStatus.pending,
          ]),
        );
        out.line(`\nYour live jobs (${data.jobs.totalCount}):`);
        out.table(
          ['ID', 'NAME', 'STATE', 'PRODUCT', 'STARTED', 'EXPIRES'],
          data.jobs.edges.map(({ node: j }) => [
            j.id,
            j.specification.name,
            stateText(out, j.status.state),
            `${j.specification.product.provider}/${j.specification.product.id}`,
            relativeTime(j.status.startedAt),
            relativeTime(j.status.expiresAt),
          ]),
        );
        if (!live) return;
        await new Promise((r) => setTimeout(r, Math.max(0.5, opts.interval) * 1000));
      }
    });
}
