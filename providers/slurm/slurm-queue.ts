/**
 * What Slurm says about the provider's jobs: squeue for the ones it still
 * lists (all of them, by name, or by Slurm id), sacct for the ones that ended
 * (accounting storage, or the jobcomp file where there is none), and
 * `scontrol show job` for an exit code sacct does not know. A source of
 * finished jobs the cluster does not have is asked once, then not again.
 */
import type { Logger } from '../sdk/index.js';
import { parseArrayTaskId } from './slurm-arrays.js';
import { SLURM_JOB_NAME_PREFIX } from './slurm-batch-script.js';
import {
  parseKeyValueLine,
  parseSacct,
  parseSqueue,
  SACCT_FIELDS,
  SlurmCommandError,
  SQUEUE_FORMAT,
  type SacctJob,
  type SlurmCommandResult,
  type SqueueJob,
  type SqueueLine,
} from './slurm-cli.js';

export interface SlurmQueueOptions {
  run(command: string, args: readonly string[]): Promise<SlurmCommandResult>;
  /** squeue's filter for whose jobs to list (`--me`, or `--users=…`). */
  users(): string[];
  /** The folder every job's batch script lies in: a job of ours runs one of them. */
  jobsDir(): string;
  logger(): Logger;
}

export interface SlurmQueue {
  /** squeue for the provider's jobs, in every state Slurm still lists; `extra` narrows it. */
  list(extra?: readonly string[]): Promise<SqueueLine[]>;
  /** Slurm's current row for one job, or null (also when squeue fails). */
  row(slurmJobId: string): Promise<SqueueJob | null>;
  /** The job named `sy-<id>` (the newest, if someone submitted it twice by hand), or null. */
  findByName(id: string): Promise<SqueueJob | null>;
  /** The tasks of the job array named `name` (slurm-arrays.ts) Slurm still lists. */
  findArray(name: string): Promise<SqueueJob[]>;
  /** Is this squeue job one this provider submitted (its script lies in the work directory)? */
  ours(row: SqueueJob): boolean;
  /** Finished jobs as Slurm's accounting (slurmdbd) or jobcomp file (`sacct -c`) has them, by Slurm id. */
  accounted(slurmIds: string[]): Promise<Map<string, SacctJob>>;
  /** `scontrol show job -o <id>`: the job as Slurm shows it, or null. */
  shown(slurmId: string): Promise<Record<string, string> | null>;
  /** Ask every source of finished jobs again (a new start). */
  reset(): void;
}

/** The newest of the rows named `sy-<id>`. */
export function newestNamed(rows: readonly SqueueJob[], id: string): SqueueJob | null {
  const name = `${SLURM_JOB_NAME_PREFIX}${id}`;
  return rows.filter((row) => row.name === name).sort((a, b) => Number(b.slurmJobId) - Number(a.slurmJobId))[0] ?? null;
}

/** The row of task `task` of the array named `name`, or null. */
export function taskOfArray(rows: readonly SqueueJob[], array: { name: string; task: number }): SqueueJob | null {
  return rows.find((row) => row.name === array.name && parseArrayTaskId(row.slurmJobId)?.task === array.task) ?? null;
}

const jobsOf = (lines: readonly SqueueLine[]): SqueueJob[] => lines.map((l) => l.job).filter((row): row is SqueueJob => row !== null);

export function createSlurmQueue(options: SlurmQueueOptions): SlurmQueue {
  const { run, logger } = options;
  /** Which source of finished jobs works here: accounting storage, the jobcomp file, or neither. */
  let sacctModes: Array<'accounting' | 'jobcomp'> = ['accounting', 'jobcomp'];

  // -r: an array's pending tasks one line each, as the tasks that run are.
  const list = async (extra: readonly string[] = []): Promise<SqueueLine[]> =>
    parseSqueue((await run('squeue', [...options.users(), '-h', '-r', '-t', 'all', ...extra, '-O', SQUEUE_FORMAT])).stdout);

  return {
    list,
    async row(slurmJobId) {
      const lines = await list([`--jobs=${slurmJobId}`]).catch(() => [] as SqueueLine[]);
      return lines.find((l) => l.slurmJobId === slurmJobId)?.job ?? null;
    },
    async findByName(id) {
      return newestNamed(jobsOf(await list([`--name=${SLURM_JOB_NAME_PREFIX}${id}`])), id);
    },
    findArray: async (name) => jobsOf(await list([`--name=${name}`])).filter((row) => row.name === name),
    ours: (row) => row.name.startsWith(SLURM_JOB_NAME_PREFIX) && row.command !== null && row.command.startsWith(`${options.jobsDir()}/`),
    async accounted(slurmIds) {
      const found = new Map<string, SacctJob>();
      if (slurmIds.length === 0) return found;
      for (const mode of [...sacctModes]) {
        const args = ['-P', '-n', ...(mode === 'jobcomp' ? ['-c'] : ['-X']), '-j', slurmIds.join(','), '-o', SACCT_FIELDS.join(',')];
        try {
          const rows = parseSacct((await run('sacct', args)).stdout);
          for (const [id, row] of rows) if (!found.has(id)) found.set(id, row);
          if (found.size === slurmIds.length) break;
        } catch (error) {
          const missing =
            mode === 'accounting' ? /accounting storage is disabled|not configured with slurmdbd/i : /jobcomp|not configured|No such file/i;
          if (error instanceof SlurmCommandError && !error.timedOut && error.exitCode !== null && missing.test(`${error.stderr} ${error.detail}`)) {
            // Not set up on this cluster (e.g. "accounting storage is disabled"): stop asking.
            sacctModes = sacctModes.filter((m) => m !== mode);
            logger().info({ mode, detail: error.detail }, 'sacct source not available on this cluster; not asked again');
          } else {
            logger().warn({ err: error, mode }, 'sacct failed');
          }
        }
      }
      return found;
    },
    async shown(slurmId) {
      try {
        const { stdout } = await run('scontrol', ['show', 'job', '-o', slurmId]);
        const line = stdout.split('\n').find((l) => l.startsWith('JobId='));
        return line ? parseKeyValueLine(line) : null;
      } catch (error) {
        logger().debug({ err: error, slurmId }, 'scontrol show job failed');
        return null;
      }
    },
    reset() {
      sacctModes = ['accounting', 'jobcomp'];
    },
  };
}
