/** Settings every provider process reads. */
import { z } from 'zod';
import { natsUrlSetting, positiveIntSetting, prefixSetting, readConfig } from '../../shared/config.js';

export const providerSettings = {
  NATS_URL: natsUrlSetting,
  SWITCHYARD_PREFIX: prefixSetting,
  SWITCHYARD_HEARTBEAT_MS: positiveIntSetting.default(2_000),
};

export function readProviderSettings<T extends z.ZodRawShape>(extra: T, env: NodeJS.ProcessEnv = process.env) {
  return readConfig({ ...providerSettings, ...extra }, env);
}
