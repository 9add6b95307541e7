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

/** The batch script of a job whose files go to `dir`: its environment, then srun of its command, one task per replica. */
export function batchScript(job: Pick<CreateJob, 'id' | 'specification'>, dir: string): string {
  const spec = job.specification;
  const lines = [
    '#!/bin/bash',
    `# Switchyard job ${job.id}, submitted by the Slurm provider: one srun task per replica, each rank's output in its own files.`,
    ...Object.entries(spec.env ?? {}).map(([key, value]) => `export ${key}=${shellQuote(value)}`),
    `export SWITCHYARD_JOB_ID=${shellQuote(job.id)}`,
    `export SWITCHYARD_REPLICAS=${shellQuote(String(spec.replicas))}`,
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
