/**
 * Settings come from environment variables, validated at start with one clear
 * message per bad variable (DESIGN: "validated at start").
 */
import { z } from 'zod';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid settings:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parse `env` with a schema whose keys are variable names; throws ConfigError naming every bad one. */
export function readConfig<T extends z.ZodRawShape>(shape: T, env: NodeJS.ProcessEnv = process.env): z.infer<z.ZodObject<T>> {
  const result = z.object(shape).safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
}

/** One NATS URL, or a cluster's seed URLs separated by commas (the client tries them all and fails over). */
export const natsUrlSetting = z
  .string()
  .regex(
    /^(nats|tls|ws|wss):\/\/[^\s,]+(,(nats|tls|ws|wss):\/\/[^\s,]+)*$/,
    'must be a URL like nats://127.0.0.1:4222, or several separated by commas',
  );
/** JetStream replicas of the events stream and the announcement bucket: 1 on one server, 3 in a NATS cluster. */
export const natsReplicasSetting = z.coerce.number().int().min(1).max(5).default(1);
export const redisUrlSetting = z.string().regex(/^rediss?:\/\/[^\s]+$/, 'must be a URL like redis://127.0.0.1:6379');
/** A Redis Cluster's seed nodes, `host:port` separated by commas; the client learns the rest from them. */
export const redisClusterSetting = z
  .string()
  .regex(/^[^\s,:]+:\d{1,5}(,[^\s,:]+:\d{1,5})*$/, 'must be host:port seed nodes separated by commas, like 10.0.0.1:7000,10.0.0.2:7000')
  .transform((text) => text.split(','));
export const prefixSetting = z
  .string()
  .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, "-" and "_" only')
  .default('sy');
export const portSetting = z.coerce.number().int().min(0).max(65535);
export const positiveIntSetting = z.coerce.number().int().positive();
