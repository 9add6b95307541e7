/**
 * The Slurm provider's job record, as saved in its work directory before
 * sbatch runs (so a restarted provider finds every job again), and the job
 * as the driver holds it in memory. Records written by earlier versions read
 * the same.
 */
import { z } from 'zod';

import { jobRecordBaseSchema, type CreateJob } from '../sdk/index.js';
import { batchEnvironment, type SbatchPlan } from './slurm-batch-script.js';
import type { SqueueJob } from './slurm-cli.js';
import type { OutputFile } from './slurm-output.js';
import { UNIT_SECONDS, type PartitionProduct } from './slurm-products.js';

/** Slurm's own view of a job, as last seen: what the subschema shows. */
export const slurmViewSchema = z.object({
  state: z.string().nullable(),
  reason: z.string().nullable(),
  partition: z.string(),
  nodeList: z.string().nullable(),
  elapsedSeconds: z.number().nullable(),
  exitCode: z.string().nullable(),
  timeLimitSeconds: z.number().nullable(),
});
export type SlurmView = z.infer<typeof slurmViewSchema>;

export const slurmJobRecordSchema = jobRecordBaseSchema.extend({
  v: z.literal(1),
  /** Null until sbatch answered. */
  slurmJobId: z.string().nullable(),
  productId: z.string(),
  replicas: z.number().int().positive(),
  /** Seconds in one price unit of the product. */
  unitSeconds: z.number().int().positive(),
  usageUnits: z.number().int().nonnegative(),
  /** Set before scancel: a CANCELLED job then ends SUCCESS, not FAILURE. */
  ending: z.enum(['TERMINATE']).nullable(),
  endingReason: z.string().nullable(),
  /** Bytes of each output file already passed on. */
  offsets: z.record(z.string(), z.number().int().nonnegative()),
  slurm: slurmViewSchema,
  /** The account Slurm runs the job as; null for jobs submitted as the provider itself. */
  account: z.object({ uid: z.number().int(), gid: z.number().int(), name: z.string().nullable() }).nullable().default(null),
  /** Where the job runs and what its batch script exports, for a shell in it; null for jobs adopted from Slurm's view alone. */
  launch: z
    .object({ cwd: z.string(), env: z.record(z.string(), z.string()) })
    .nullable()
    .default(null),
  /**
   * The job array the job was submitted in (slurm-arrays.ts), and its task there: written before
   * sbatch runs, so that a restarted provider finds the task by the array's name. Null for a job submitted alone.
   */
  array: z.object({ name: z.string(), task: z.number().int().nonnegative() }).nullable().default(null),
  /** An array task's own numeric Slurm id, once it runs (srun --jobid and sacct take only that); null until then, and for a job submitted alone. */
  taskJobId: z.string().nullable().default(null),
});
export type SlurmJobRecord = z.infer<typeof slurmJobRecordSchema>;

/** The job's numeric Slurm id, the one srun --jobid and sacct take: an array task's own once it runs, else what sbatch answered. */
export function numericJobId(record: Pick<SlurmJobRecord, 'slurmJobId' | 'taskJobId'>): string | null {
  return record.taskJobId ?? record.slurmJobId;
}

/** A job this driver start knows: its record, and what lives only in memory. */
export interface SlurmJob {
  record: SlurmJobRecord;
  /** Its directory: batch script and the ranks' output files. */
  dir: string;
  /** Output files being tailed, by name. */
  files: Map<string, OutputFile>;
  /** When this driver start learned the job (performance.now()); a poll that began earlier cannot have seen it. */
  knownSince: number;
  missingPolls: number;
  /** The last problem reported about Slurm's answer, so it is reported once. */
  problem: string | null;
  /** Set when the job got a status line about an outage, so it gets one per outage. */
  toldOutage: boolean;
  /** Operations under way (scancel, suspend, ...): polls leave the job alone until they have reported. */
  busy: number;
}

export function slurmJob(record: SlurmJobRecord, dir: string): SlurmJob {
  return { record, dir, files: new Map(), knownSince: performance.now(), missingPolls: 0, problem: null, toldOutage: false, busy: 0 };
}

/** The record of a job sbatch took as `slurmJobId` (null: about to be submitted). */
export function submittedRecord(
  job: Pick<CreateJob, 'id' | 'specification'>,
  slurmJobId: string | null,
  plan: SbatchPlan,
  array: SlurmJobRecord['array'] = null,
): SlurmJobRecord {
  return {
    v: 1,
    id: job.id,
    slurmJobId,
    state: 'IN_QUEUE',
    status: null,
    exitCode: null,
    startedAt: null,
    expiresAt: null,
    productId: plan.sold.product.id,
    replicas: job.specification.replicas,
    unitSeconds: UNIT_SECONDS[plan.sold.product.unitOfPrice],
    usageUnits: 0,
    ending: null,
    endingReason: null,
    offsets: {},
    slurm: {
      state: 'PENDING',
      reason: null,
      partition: plan.sold.partition.name,
      nodeList: null,
      elapsedSeconds: null,
      exitCode: null,
      timeLimitSeconds: plan.timeMinutes * 60,
    },
    account: plan.account ? { uid: plan.account.uid, gid: plan.account.gid, name: plan.account.name } : null,
    launch: { cwd: plan.cwd, env: batchEnvironment(job) },
    array,
    taskJobId: null,
  };
}

/** The record of a job of ours found in Slurm's queue without one, sold as `sold` (the product of its partition, if any). */
export function foundRecord(id: string, row: SqueueJob, sold: PartitionProduct | null): SlurmJobRecord {
  return {
    v: 1,
    id,
    slurmJobId: row.slurmJobId,
    state: 'IN_QUEUE',
    status: null,
    exitCode: null,
    startedAt: null,
    expiresAt: null,
    productId: sold?.product.id ?? 'unknown',
    replicas: row.tasks ?? 1,
    unitSeconds: sold ? UNIT_SECONDS[sold.product.unitOfPrice] : 3600,
    usageUnits: 0,
    ending: null,
    endingReason: null,
    offsets: {},
    slurm: {
      state: row.state,
      reason: null,
      partition: row.partition,
      nodeList: row.nodeList,
      elapsedSeconds: null,
      exitCode: null,
      timeLimitSeconds: row.timeLimitSeconds,
    },
    account: null,
    launch: null,
    array: null,
    taskJobId: null,
  };
}
