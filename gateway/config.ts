/** The gateway process's settings. */
import { z } from 'zod';
import { natsUrlSetting, portSetting, positiveIntSetting, prefixSetting, readConfig, redisUrlSetting } from '../shared/config.js';

export const gatewaySettings = {
  NATS_URL: natsUrlSetting,
  REDIS_URL: redisUrlSetting,
  PORT: portSetting.default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  SWITCHYARD_PREFIX: prefixSetting,
  SWITCHYARD_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters'),
  SWITCHYARD_TOKEN_TTL_SECONDS: positiveIntSetting.default(86_400),
  SWITCHYARD_PROVIDER_TIMEOUT_MS: positiveIntSetting.default(5_000),
  SWITCHYARD_CHARGE_INTERVAL_MS: positiveIntSetting.default(30_000),
  /** How far charging rounds stay behind the clock, for job-end events still on their way. */
  SWITCHYARD_CHARGE_LAG_MS: z.coerce.number().int().min(0).default(5_000),
  /** How long a price-unit minute lasts (hours and days scale with it); shorter only for demos and tests. */
  SWITCHYARD_PRICE_MINUTE_MS: positiveIntSetting.default(60_000),
};

export type GatewaySettings = z.infer<z.ZodObject<typeof gatewaySettings>>;

export function readGatewaySettings(env: NodeJS.ProcessEnv = process.env): GatewaySettings {
  return readConfig(gatewaySettings, env);
}
