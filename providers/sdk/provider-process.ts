/**
 * The process entry every provider plugin shares: settings (its own beside
 * those every provider reads, validated with one message per bad variable),
 * a logger, the NATS transport, the runtime around the driver, and a graceful
 * stop on SIGTERM or SIGINT (runtime first, so its events are flushed, then NATS).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import closeWithGrace from 'close-with-grace';
import type { z } from 'zod';

import { systemClock } from '../../shared/clock.js';
import type { ProviderKind } from '../../shared/domain.js';
import { createLogger, type Logger } from '../../shared/logger.js';
import { createSubjects } from '../../shared/subjects.js';
import { createNatsTransport } from '../../shared/transport/nats-transport.js';
import type { Driver } from './driver.js';
import { createProviderRuntime, type ProviderRuntime } from './runtime.js';
import { readProviderSettings, type providerSettings } from './settings.js';

/** The settings a provider process reads: those of every provider, and its own. */
export type ProviderProcessSettings<S extends z.ZodRawShape> = z.infer<z.ZodObject<typeof providerSettings>> & z.infer<z.ZodObject<S>>;

export interface ProviderProcessOptions<S extends z.ZodRawShape> {
  /** The provider id: a subject token, the key of its announcement. */
  id: string;
  kind: ProviderKind;
  /** The plugin's version, announced to the gateway. */
  version: string;
  /** The plugin's own settings, as zod schemas by environment variable. */
  settings: S;
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Build the driver from the validated settings. */
  createDriver(settings: ProviderProcessSettings<S>, logger: Logger): Driver | Promise<Driver>;
  /** Fields logged once the provider has started. */
  describe?(settings: ProviderProcessSettings<S>): Record<string, unknown>;
  /** How long a stop may take before the process exits anyway. @default 10000 */
  stopDelayMs?: number;
}

/** Run a provider plugin as a process until it is told to stop. */
export async function runProviderProcess<S extends z.ZodRawShape>(options: ProviderProcessOptions<S>): Promise<ProviderRuntime> {
  const { id } = options;
  // One validation of all of them, so every bad variable is named at once.
  const settings = readProviderSettings(options.settings, options.env ?? process.env) as unknown as ProviderProcessSettings<S>;
  const logger = createLogger(`switchyard-provider-${id}`);
  const transport = await createNatsTransport({
    url: settings.NATS_URL,
    replicas: settings.SWITCHYARD_NATS_REPLICAS,
    subjects: createSubjects(settings.SWITCHYARD_PREFIX),
    name: `switchyard-provider-${id}`,
  });
  let runtime: ProviderRuntime;
  try {
    runtime = createProviderRuntime({
      transport,
      driver: await options.createDriver(settings, logger),
      id,
      kind: options.kind,
      version: options.version,
      heartbeatIntervalMs: settings.SWITCHYARD_HEARTBEAT_MS,
      clock: systemClock,
      logger,
      // Events a killed provider could not publish wait here for its next start (per deployment prefix and id).
      outboxDir: settings.SWITCHYARD_OUTBOX_DIR ?? join(tmpdir(), `switchyard-outbox-${settings.SWITCHYARD_PREFIX}-${id}`),
    });
    await runtime.start();
  } catch (error) {
    await transport.close().catch(() => undefined);
    throw error;
  }
  logger.info({ providerId: id, kind: options.kind, ...options.describe?.(settings) }, 'provider started');
  closeWithGrace({ delay: options.stopDelayMs ?? 10_000 }, async ({ err, signal }) => {
    if (err) logger.error({ err }, 'stopping after an error');
    else logger.info({ signal }, 'stopping');
    await runtime.stop();
    await transport.close();
  });
  return runtime;
}
