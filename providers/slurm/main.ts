/** The Slurm provider process: its settings and driver, run by the SDK's process entry (settings → NATS → runtime, and a clean stop on SIGTERM). */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

import { accountSpecSchema, jsonListSetting, positiveIntSetting, runProviderProcess, userMapSetting } from '../sdk/index.js';
import { createSlurmDriver, slurmPartitionProductSchema } from './slurm-driver.js';

export const SLURM_PROVIDER_VERSION = '0.1.0';

/**
 * SWITCHYARD_SLURM_PARTITIONS: a comma list of partition names ("debug,long"),
 * or a JSON array of partition products ([{"partition":"debug","cpu":2,"pricePerUnit":3}]).
 */
export const partitionsSetting = jsonListSetting(slurmPartitionProductSchema, {
  plain: (text) =>
    text
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean)
      .map((partition) => ({ partition })),
});

/** The Slurm provider's own settings, beside those every provider reads. */
export const slurmProviderSettings = {
  SLURM_CONF: z.string().min(1).optional(),
  SWITCHYARD_SLURM_PARTITIONS: partitionsSetting.optional(),
  SWITCHYARD_SLURM_WORK_DIR: z.string().regex(/^\//, 'must be an absolute path').optional(),
  SWITCHYARD_SLURM_POLL_MS: positiveIntSetting.default(1_000),
  SWITCHYARD_SLURM_COMMAND_TIMEOUT_MS: positiveIntSetting.default(10_000),
  SWITCHYARD_SLURM_SUBMIT_CONCURRENCY: positiveIntSetting.default(16),
  /** The longest a job ready to submit waits for the creates still being written beside it, to go as one job array (0: never). */
  SWITCHYARD_SLURM_SUBMIT_GATHER_MS: z.coerce.number().int().min(0).max(10_000).default(50),
  /** Jobs that wait for a submit slot together go as one Slurm job array (slurm-arrays.ts); `false`: one sbatch per job. */
  SWITCHYARD_SLURM_ARRAYS: z
    .enum(['true', 'false'])
    .default('true')
    .transform((value) => value === 'true'),
  /** The account jobs of users the map does not name are submitted for (the provider must run as root). */
  SWITCHYARD_SLURM_JOB_USER: accountSpecSchema.default('nobody'),
  /** Switchyard user → Unix account: `alice=alice,bob=1001` or a JSON object. */
  SWITCHYARD_SLURM_USER_MAP: userMapSetting.optional(),
};

/** Run the Slurm provider as a process; it refuses to start when it cannot reach its cluster. */
export async function runSlurmProvider(id: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const workDir = (settings: { SWITCHYARD_SLURM_WORK_DIR?: string }) =>
    settings.SWITCHYARD_SLURM_WORK_DIR ?? join(tmpdir(), `switchyard-slurm-${id}`);
  await runProviderProcess({
    id,
    kind: 'SLURM',
    version: SLURM_PROVIDER_VERSION,
    settings: slurmProviderSettings,
    env,
    createDriver: (settings) =>
      createSlurmDriver({
        workDir: workDir(settings),
        slurmConf: settings.SLURM_CONF,
        partitions: settings.SWITCHYARD_SLURM_PARTITIONS,
        pollIntervalMs: settings.SWITCHYARD_SLURM_POLL_MS,
        commandTimeoutMs: settings.SWITCHYARD_SLURM_COMMAND_TIMEOUT_MS,
        submitConcurrency: settings.SWITCHYARD_SLURM_SUBMIT_CONCURRENCY,
        arrays: settings.SWITCHYARD_SLURM_ARRAYS,
        submitGatherMs: settings.SWITCHYARD_SLURM_SUBMIT_GATHER_MS,
        jobAccount: settings.SWITCHYARD_SLURM_JOB_USER,
        userAccounts: settings.SWITCHYARD_SLURM_USER_MAP ?? {},
        env,
      }),
    describe: (settings) => ({
      workDir: workDir(settings),
      slurmConf: settings.SLURM_CONF ?? null,
      pollIntervalMs: settings.SWITCHYARD_SLURM_POLL_MS,
    }),
  });
}
