/**
 * Recovery after a restart: a job whose record is not final had its processes
 * started by an earlier provider process, which can no longer watch them.
 * What is left of them is stopped — only process groups that are still ours
 * (same boot, same leader start time) — and their cgroups removed, which
 * ends whatever left the group.
 */
import type { Logger } from '../sdk/index.js';
import type { LocalJobRecord } from './local-records.js';
import { groupExists, processStartTicks, signalGroup } from './process-groups.js';

/** Stop what is left of an orphaned job's ranks and remove their cgroups; `bootId` is this boot's. */
export async function stopOrphanedRanks(
  record: LocalJobRecord,
  bootId: string | null,
  options: { logger: Logger; dropCgroup: (jobId: string, dirs: readonly string[]) => Promise<void> },
): Promise<void> {
  const sameBoot = record.bootId === null || record.bootId === bootId;
  if (!sameBoot) return;
  for (const rank of record.ranks) {
    if (!groupExists(rank.pgid)) continue;
    const ticks = await processStartTicks(rank.pgid);
    // The leader's pid now names another process: the group is not ours.
    if (ticks !== null && rank.startTicks !== null && ticks !== rank.startTicks) continue;
    try {
      signalGroup(rank.pgid, 'SIGKILL');
      options.logger.info({ jobId: record.id, rank: rank.rank, pgid: rank.pgid }, 'stopped an orphaned process group');
    } catch (error) {
      options.logger.warn({ err: error, jobId: record.id, pgid: rank.pgid }, 'could not stop an orphaned process group');
    }
  }
  // Whatever left the process group is still in the rank's cgroup: removing it kills that too.
  await Promise.all(record.ranks.map((rank) => options.dropCgroup(record.id, rank.cgroups)));
}
