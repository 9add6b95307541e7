/** The gateway process's settings. */
import { z } from 'zod';

import {
  ConfigError,
  natsReplicasSetting,
  natsUrlSetting,
  portSetting,
  positiveIntSetting,
  prefixSetting,
  readConfig,
  redisClusterSetting,
  redisUrlSetting,
} from '../shared/config.js';
import { LOGIN_THROTTLE_DEFAULTS } from './access/auth.js';
import { oidcIssuersSetting } from './access/oidc-config.js';
import { DEFAULT_APOLO_TOKEN_TTL_SECONDS, MAX_APOLO_TOKEN_TTL_SECONDS, MIN_APOLO_KEY_LENGTH } from './dialects/apolo/apolo-tokens.js';
import { DIALECT_NAMES } from './dialects/index.js';
import { DEFAULT_REQUEST_LIMITS } from './graphql/plugins/use-request-limits.js';
import { MIN_SESSION_SECRET_LENGTH } from './sessions/session-credentials.js';
import { DEFAULT_SESSION_LIMITS } from './sessions/session-endpoint.js';

export const gatewaySettings = {
  NATS_URL: natsUrlSetting,
  SWITCHYARD_NATS_REPLICAS: natsReplicasSetting,
  /** One Redis server; or, instead, SWITCHYARD_REDIS_CLUSTER. */
  REDIS_URL: redisUrlSetting.optional(),
  /** A Redis Cluster's seed nodes (`host:port,host:port`), instead of REDIS_URL. */
  SWITCHYARD_REDIS_CLUSTER: redisClusterSetting.optional(),
  /** Replicas every script's writes reach before it answers (Redis WAIT): 1 on a cluster with replicas, so a failover loses nothing acknowledged. */
  SWITCHYARD_REDIS_WAIT_REPLICAS: z.coerce.number().int().min(0).max(5).default(0),
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
  /** Bytes in one request body (GraphQL, REST) or websocket message; more is 413. */
  SWITCHYARD_MAX_BODY_BYTES: positiveIntSetting.default(DEFAULT_REQUEST_LIMITS.maxBodyBytes),
  /** GraphQL limits per operation; over one, the request is INVALID_INPUT (HTTP 400) before it executes. */
  SWITCHYARD_GRAPHQL_MAX_ALIASES: positiveIntSetting.default(DEFAULT_REQUEST_LIMITS.maxAliases),
  SWITCHYARD_GRAPHQL_MAX_DEPTH: positiveIntSetting.default(DEFAULT_REQUEST_LIMITS.maxDepth),
  SWITCHYARD_GRAPHQL_MAX_TOKENS: positiveIntSetting.default(DEFAULT_REQUEST_LIMITS.maxTokens),
  SWITCHYARD_GRAPHQL_MAX_DIRECTIVES: positiveIntSetting.default(DEFAULT_REQUEST_LIMITS.maxDirectives),
  SWITCHYARD_GRAPHQL_MAX_COST: positiveIntSetting.default(DEFAULT_REQUEST_LIMITS.maxCost),
  /** Login throttling on POST /api/v1/token (429 with Retry-After). */
  SWITCHYARD_LOGIN_MAX_FAILURES: positiveIntSetting.default(LOGIN_THROTTLE_DEFAULTS.maxConsecutiveFailures),
  SWITCHYARD_LOGIN_MAX_FAILURES_PER_ADDRESS: positiveIntSetting.default(LOGIN_THROTTLE_DEFAULTS.maxFailuresPerAddress),
  SWITCHYARD_LOGIN_MAX_FAILURES_PER_USERNAME: positiveIntSetting.default(LOGIN_THROTTLE_DEFAULTS.maxFailuresPerUsername),
  SWITCHYARD_LOGIN_BLOCK_SECONDS: positiveIntSetting.default(LOGIN_THROTTLE_DEFAULTS.blockSeconds),
  SWITCHYARD_LOGIN_WINDOW_SECONDS: positiveIntSetting.default(LOGIN_THROTTLE_DEFAULTS.windowSeconds),
  /** OpenID Connect issuers whose access tokens are accepted (a JSON list; docs/TENANCY.md, "Single sign-on"). */
  SWITCHYARD_OIDC_ISSUERS: oidcIssuersSetting,
  /** Reverse proxies in front of the gateway whose X-Forwarded-For is believed for the client address. */
  SWITCHYARD_TRUSTED_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
  /** Signs session credentials; the same on every replica, so any replica serves any session. */
  SWITCHYARD_SESSION_SECRET: z.string().min(MIN_SESSION_SECRET_LENGTH, `must be at least ${MIN_SESSION_SECRET_LENGTH} characters`).optional(),
  /** How long a session credential, and the session it opens, lasts. */
  SWITCHYARD_SESSION_TTL_SECONDS: positiveIntSetting.max(7 * 86_400).default(3_600),
  /** The gateway's URL as clients reach it, for session URLs; default: the URL the request came to. */
  SWITCHYARD_PUBLIC_URL: z
    .string()
    .regex(/^https?:\/\/[^\s]+$/, 'must be a URL like https://switchyard.example.org')
    .optional(),
  /** Other platforms' APIs to serve beside the core one, comma-separated (dialects/README.md): "openpai", "apolo", "backendai", "shakudo", "ucloud". */
  SWITCHYARD_DIALECTS: z
    .string()
    .default('')
    .transform((text) =>
      text
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(DIALECT_NAMES, { message: `each must be one of ${DIALECT_NAMES.join(', ')}` }))),
  /** Signs the Apolo dialect's JWTs (HS256); the same on every replica. Without one, a random key per process: its tokens work on it only, until it restarts. */
  SWITCHYARD_APOLO_SIGNING_KEY: z.string().min(MIN_APOLO_KEY_LENGTH, `must be at least ${MIN_APOLO_KEY_LENGTH} characters`).optional(),
  /** How long an Apolo token issued without ttlSeconds lasts. */
  SWITCHYARD_APOLO_TOKEN_TTL_SECONDS: positiveIntSetting.max(MAX_APOLO_TOKEN_TTL_SECONDS).default(DEFAULT_APOLO_TOKEN_TTL_SECONDS),
  /** Bytes of one session's output the gateway takes in flight. */
  SWITCHYARD_SESSION_WINDOW_BYTES: positiveIntSetting
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(DEFAULT_SESSION_LIMITS.windowBytes),
  /** Session heartbeat, and how many missed beats end a session. */
  SWITCHYARD_SESSION_HEARTBEAT_MS: positiveIntSetting.min(10).max(60_000).default(DEFAULT_SESSION_LIMITS.heartbeatMs),
  SWITCHYARD_SESSION_MISSED_HEARTBEATS: positiveIntSetting.max(100).default(DEFAULT_SESSION_LIMITS.missedHeartbeats),
};

export type GatewaySettings = z.infer<z.ZodObject<typeof gatewaySettings>>;

export function readGatewaySettings(env: NodeJS.ProcessEnv = process.env): GatewaySettings {
  const settings = readConfig(gatewaySettings, env);
  if ((settings.REDIS_URL === undefined) === (settings.SWITCHYARD_REDIS_CLUSTER === undefined)) {
    throw new ConfigError(['REDIS_URL, SWITCHYARD_REDIS_CLUSTER: give exactly one (one Redis server, or a Redis Cluster)']);
  }
  return settings;
}

/** Where the gateway's Redis is, by its settings. */
export function redisTargetOf(settings: GatewaySettings): { url: string } | { clusterNodes: string[] } {
  return settings.SWITCHYARD_REDIS_CLUSTER ? { clusterNodes: settings.SWITCHYARD_REDIS_CLUSTER } : { url: settings.REDIS_URL! };
}
