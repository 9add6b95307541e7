/** The local provider process: settings → NATS → local driver → runtime, and a clean stop on SIGTERM. */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import closeWithGrace from 'close-with-grace';
import { systemClock } from '../../shared/clock.js';
import { positiveIntSetting } from '../../shared/config.js';
import { createLogger } from '../../shared/logger.js';
import { createSubjects } from '../../shared/subjects.js';
import { createNatsTransport } from '../../shared/transport/nats-transport.js';
import { createProviderRuntime } from '../sdk/runtime.js';
import { readProviderSettings } from '../sdk/settings.js';
import { z } from 'zod';
import { createLocalDriver } from './local-driver.js';

export const LOCAL_PROVIDER_VERSION = '0.1.0';

export async function runLocalProvider(id: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const settings = readProviderSettings(
    {
      SWITCHYARD_LOCAL_STATE_DIR: z.string().min(1).optional(),
      SWITCHYARD_TERMINATE_GRACE_MS: positiveIntSetting.default(5_000),
    },
    env,
  );
  const logger = createLogger(`switchyard-provider-${id}`);
  const transport = await createNatsTransport({ url: settings.NATS_URL, subjects: createSubjects(settings.SWITCHYARD_PREFIX), name: `switchyard-provider-${id}` });
  const driver = createLocalDriver({
    stateDir: settings.SWITCHYARD_LOCAL_STATE_DIR ?? join(tmpdir(), `switchyard-local-${id}`),
    terminateGraceMs: settings.SWITCHYARD_TERMINATE_GRACE_MS,
  });
  const runtime = createProviderRuntime({
    transport,
    driver,
    id,
    kind: 'LOCAL',
    version: LOCAL_PROVIDER_VERSION,
    heartbeatIntervalMs: settings.SWITCHYARD_HEARTBEAT_MS,
    clock: systemClock,
    logger,
  });
  await runtime.start();
  logger.info({ providerId: id }, 'local provider started');
  closeWithGrace({ delay: 10_000 }, async ({ err, signal }) => {
    if (err) logger.error({ err }, 'stopping after an error');
    else logger.info({ signal }, 'stopping');
    await runtime.stop();
    await transport.close();
  });
}
