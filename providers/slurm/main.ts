/** The Slurm provider process: settings → NATS → Slurm driver → runtime, and a clean stop on SIGTERM. */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import closeWithGrace from 'close-with-grace';
import { z } from 'zod';
import { systemClock } from '../../shared/clock.js';
import { positiveIntSetting } from '../../shared/config.js';
import { createLogger } from '../../shared/logger.js';
import { createSubjects } from '../../shared/subjects.js';
import { createNatsTransport } from '../../shared/transport/nats-transport.js';
import { createProviderRuntime } from '../sdk/runtime.js';
import { readProviderSettings } from '../sdk/settings.js';
import { accountSpecSchema, userMapSetting } from '../sdk/unix-accounts.js';
import { createSlurmDriver, slurmPartitionProductSchema, type SlurmPartitionProduct } from './slurm-driver.js';

export const SLURM_PROVIDER_VERSION = '0.1.0';

/**
 * SWITCHYARD_SLURM_PARTITIONS: a comma list of partition names ("debug,long"),
 * or a JSON array of partition products ([{"partition":"debug","cpu":2,"pricePerUnit":3}]).
 */
export const partitionsSetting = z
  .string()
  .min(1)
  .transform((text, ctx): SlurmPartitionProduct[] => {
    const trimmed = text.trim();
    let value: unknown;
    if (trimmed.startsWith('[')) {
      try {
        value = JSON.parse(trimmed);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `not valid JSON: ${(error as Error).message}` });
        return z.NEVER;
      }
    } else {
      value = trimmed
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean)
        .map((partition) => ({ partition }));
    }
    const parsed = z.array(slurmPartitionProductSchema).min(1).safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: `${issue.path.join('.') || '(list)'}: ${issue.message}` });
      return z.NEVER;
    }
    return parsed.data;
  });

export async function runSlurmProvider(id: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const settings = readProviderSettings(
    {
      SLURM_CONF: z.string().min(1).optional(),
      SWITCHYARD_SLURM_PARTITIONS: partitionsSetting.optional(),
      SWITCHYARD_SLURM_WORK_DIR: z.string().regex(/^\//, 'must be an absolute path').optional(),
      SWITCHYARD_SLURM_POLL_MS: positiveIntSetting.default(1_000),
      SWITCHYARD_SLURM_COMMAND_TIMEOUT_MS: positiveIntSetting.default(10_000),
      /** The account jobs of users the map does not name are submitted for (the provider must run as root). */
      SWITCHYARD_SLURM_JOB_USER: accountSpecSchema.default('nobody'),
      /** Switchyard user → Unix account: `alice=alice,bob=1001` or a JSON object. */
      SWITCHYARD_SLURM_USER_MAP: userMapSetting.optional(),
    },
    env,
  );
  const logger = createLogger(`switchyard-provider-${id}`);
  const transport = await createNatsTransport({ url: settings.NATS_URL, subjects: createSubjects(settings.SWITCHYARD_PREFIX), name: `switchyard-provider-${id}` });
  const driver = createSlurmDriver({
    workDir: settings.SWITCHYARD_SLURM_WORK_DIR ?? join(tmpdir(), `switchyard-slurm-${id}`),
    slurmConf: settings.SLURM_CONF,
    partitions: settings.SWITCHYARD_SLURM_PARTITIONS,
    pollIntervalMs: settings.SWITCHYARD_SLURM_POLL_MS,
    commandTimeoutMs: settings.SWITCHYARD_SLURM_COMMAND_TIMEOUT_MS,
    jobAccount: settings.SWITCHYARD_SLURM_JOB_USER,
    userAccounts: settings.SWITCHYARD_SLURM_USER_MAP ?? {},
    env,
  });
  const runtime = createProviderRuntime({
    transport,
    driver,
    id,
    kind: 'SLURM',
    version: SLURM_PROVIDER_VERSION,
    heartbeatIntervalMs: settings.SWITCHYARD_HEARTBEAT_MS,
    clock: systemClock,
    logger,
  });
  try {
    await runtime.start();
  } catch (error) {
    await transport.close().catch(() => undefined);
    throw error;
  }
  logger.info({ providerId: id }, 'Slurm provider started');
  closeWithGrace({ delay: 10_000 }, async ({ err, signal }) => {
    if (err) logger.error({ err }, 'stopping after an error');
    else logger.info({ signal }, 'stopping');
    await runtime.stop();
    await transport.close();
  });
}
