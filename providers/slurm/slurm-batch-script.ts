/**
 * The batch script a Switchyard job becomes, and sbatch's arguments for it:
 * one `srun` task per replica, each rank writing its own output files in the
 * job's directory, the job named `sy-<job id>` with its id as the comment, in
 * its partition with its time limit, CPUs and memory, for its account.
 * Pure: text in, text out.
 */
import { join } from 'node:path';

import type { CreateJob, UnixAccount } from '../sdk/index.js';
import { shellQuote } from './slurm-cli.js';
import type { PartitionProduct } from './slurm-products.js';

/** Job names this provider gives its jobs: `sy-<switchyard job id>`. */
export const SLURM_JOB_NAME_PREFIX = 'sy-';

/** A path inside an sbatch/srun filename pattern: "%" must be doubled. */
export function slurmPath(path: string): string {
  return path.replace(/%/g, '%%');
}

/** What a job's batch script exports: the specification's env, and the job id and replica count. */
export function batchEnvironment(job: Pick<CreateJob, 'id' | 'specification'>): Record<string, string> {
  return { ...(job.specification.env ?? {}), SWITCHYARD_JOB_ID: job.id, SWITCHYARD_REPLICAS: String(job.specification.replicas) };
}

/** The batch script of a job whose files go to `dir`: its environment, then srun of its command, one task per replica. */
export function batchScript(job: Pick<CreateJob, 'id' | 'specification'>, dir: string): string {
  const spec = job.specification;
  const lines = [
    '#!/bin/bash',
    `# Switchyard job ${job.id}, submitted by the Slurm provider: one srun task per replica, each rank's output in its own files.`,
    ...Object.entries(batchEnvironment(job)).map(([key, value]) => `export ${key}=${shellQuote(value)}`),
    [
      'exec srun --export=ALL',
      shellQuote(`--output=${slurmPath(dir)}/rank-%t.out`),
      shellQuote(`--error=${slurmPath(dir)}/rank-%t.err`),
      `/bin/bash -c 'export SWITCHYARD_RANK="$SLURM_PROCID"; exec "$@"' switchyard-rank`,
      ...(spec.command ?? []).map(shellQuote),
    ].join(' '),
    '',
  ];
  return lines.join('\n');
}

export interface SbatchPlan {
  sold: PartitionProduct;
  timeMinutes: number;
  /** The job's working directory. */
  cwd: string;
  /** The job's own directory: its script and output files. */
  dir: string;
  /** The account Slurm runs it as; null to run it as the submitter. */
  account: UnixAccount | null;
}

/** sbatch's arguments for a job, its script last. */
export function sbatchArgs(job: Pick<CreateJob, 'id' | 'specification'>, plan: SbatchPlan, script: string): string[] {
  const { sold, dir, account } = plan;
  const replicas = job.specification.replicas;
  const memory =
    sold.memoryMb > 0 ? [replicas === 1 ? `--mem=${sold.memoryMb}M` : `--mem-per-cpu=${Math.ceil(sold.memoryMb / sold.cpusPerTask)}M`] : [];
  return [
    '--parsable',
    `--job-name=${SLURM_JOB_NAME_PREFIX}${job.id}`,
    `--comment=${job.id}`,
    `--partition=${sold.partition.name}`,
    `--time=${plan.timeMinutes}`,
    `--ntasks=${replicas}`,
    `--cpus-per-task=${sold.cpusPerTask}`,
    ...memory,
    `--chdir=${plan.cwd}`,
    `--output=${slurmPath(join(dir, 'batch.out'))}`,
    `--error=${slurmPath(join(dir, 'batch.err'))}`,
    // The job gets the user's login environment on the node, not the provider's.
    '--export=NONE',
    // Slurm runs it as this account (root may submit for any user).
    ...(account ? [`--uid=${account.uid}`, `--gid=${account.gid}`] : []),
    script,
  ];
}

/** The PATH a shell gets unless the job's environment sets one (the step starts with none: --export=NONE). */
export const SHELL_PATH = '/usr/local/bin:/usr/bin:/bin';

/**
 * srun's arguments for a shell in a running job: a step of its own in the job's allocation
 * (`--overlap`: beside the job's own step, on its CPUs), on a pty (`--pty`; srun itself runs on
 * the provider's pty and passes resizes on), in the job's working directory, as the job's
 * account (only it may add a step to the job; root says which with --uid), with the job's environment and none of the provider's
 * (`--export=NONE`, then `env` sets the job's variables beside the SLURM_* of the step).
 */
export function shellStepArgs(
  slurmJobId: string,
  launch: { cwd: string; env: Record<string, string> },
  rank: number,
  account: Pick<UnixAccount, 'uid' | 'gid'> | null,
): string[] {
  const env = { PATH: SHELL_PATH, TERM: 'xterm-256color', ...launch.env, SWITCHYARD_RANK: String(rank) };
  return [
    `--jobid=${slurmJobId}`,
    // Only a job's own account may add a step to it: root asks as that account.
    ...(account ? [`--uid=${account.uid}`, `--gid=${account.gid}`] : []),
    '--overlap',
    '--pty',
    '--ntasks=1',
    '--nodes=1',
    '--quiet',
    '--job-name=switchyard-shell',
    '--export=NONE',
    `--chdir=${launch.cwd}`,
    '/usr/bin/env',
    ...Object.entries(env).map(([key, value]) => `${key}=${value}`),
    '/bin/bash',
    '-i',
  ];
}
