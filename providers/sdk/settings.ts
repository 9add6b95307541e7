/** Settings every provider process reads. */
import { z } from 'zod';

import { natsUrlSetting, positiveIntSetting, prefixSetting, readConfig } from '../../shared/config.js';

export const providerSettings = {
  NATS_URL: natsUrlSetting,
  SWITCHYARD_PREFIX: prefixSetting,
  SWITCHYARD_HEARTBEAT_MS: positiveIntSetting.default(2_000),
  /** Where events wait on disk until JetStream stored them; default `$TMPDIR/switchyard-outbox-<prefix>-<id>`. */
  SWITCHYARD_OUTBOX_DIR: z.string().min(1).optional(),
};

export function readProviderSettings<T extends z.ZodRawShape>(extra: T, env: NodeJS.ProcessEnv = process.env) {
  return readConfig({ ...providerSettings, ...extra }, env);
}
