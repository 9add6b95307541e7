/**
 * The gateway process: settings → logger → NATS and Redis → gateway → HTTP,
 * and shutdown in order on SIGTERM/SIGINT.
 */
import closeWithGrace from 'close-with-grace';

import { systemClock } from '../shared/clock.js';
import { createLogger } from '../shared/logger.js';
import { createSubjects } from '../shared/subjects.js';
import { createNatsTransport } from '../shared/transport/nats-transport.js';
import { createRedisLedger } from './accounting/redis-ledger.js';
import { readGatewaySettings, redisTargetOf } from './config.js';
import { createGateway } from './gateway.js';
import { connectRedis } from './store/redis-connection.js';
import { createRedisStore } from './store/redis-store.js';

export async function runGateway(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const settings = readGatewaySettings(env);
  const logger = createLogger('switchyard-gateway');
  const subjects = createSubjects(settings.SWITCHYARD_PREFIX);
  const transport = await createNatsTransport({
    url: settings.NATS_URL,
    replicas: settings.SWITCHYARD_NATS_REPLICAS,
    subjects,
    name: 'switchyard-gateway',
  });
  const redisTarget = redisTargetOf(settings);
  const store = await createRedisStore({
    ...redisTarget,
    keyPrefix: `${settings.SWITCHYARD_PREFIX}:`,
    waitReplicas: settings.SWITCHYARD_REDIS_WAIT_REPLICAS,
  });
  // One connection for the ledger and the login throttle's shared counts.
  const redis = connectRedis(redisTarget, { enableAutoPipelining: true });
  const ledger = await createRedisLedger({
    redis,
    keyPrefix: `${settings.SWITCHYARD_PREFIX}:`,
    waitReplicas: settings.SWITCHYARD_REDIS_WAIT_REPLICAS,
  });
  if (!settings.SWITCHYARD_SESSION_SECRET) {
    logger.warn('SWITCHYARD_SESSION_SECRET is not set: the session URLs this gateway issues open on this replica only');
  }
  if (settings.SWITCHYARD_DIALECTS.includes('apolo') && !settings.SWITCHYARD_APOLO_SIGNING_KEY) {
    logger.warn('SWITCHYARD_APOLO_SIGNING_KEY is not set: the Apolo tokens this gateway issues work on this replica only, until it restarts');
  }
  const gateway = createGateway({
    transport,
    store,
    ledger,
    chargeIntervalMs: settings.SWITCHYARD_CHARGE_INTERVAL_MS,
    chargeLagAllowanceMs: settings.SWITCHYARD_CHARGE_LAG_MS,
    unitMs: {
      CREDITS_PER_MINUTE: settings.SWITCHYARD_PRICE_MINUTE_MS,
      CREDITS_PER_HOUR: settings.SWITCHYARD_PRICE_MINUTE_MS * 60,
      CREDITS_PER_DAY: settings.SWITCHYARD_PRICE_MINUTE_MS * 1440,
    },
    clock: systemClock,
    logger,
    adminToken: settings.SWITCHYARD_ADMIN_TOKEN,
    tokenTtlSeconds: settings.SWITCHYARD_TOKEN_TTL_SECONDS,
    providerTimeoutMs: settings.SWITCHYARD_PROVIDER_TIMEOUT_MS,
    requestLimits: {
      maxBodyBytes: settings.SWITCHYARD_MAX_BODY_BYTES,
      maxAliases: settings.SWITCHYARD_GRAPHQL_MAX_ALIASES,
      maxDepth: settings.SWITCHYARD_GRAPHQL_MAX_DEPTH,
      maxTokens: settings.SWITCHYARD_GRAPHQL_MAX_TOKENS,
      maxDirectives: settings.SWITCHYARD_GRAPHQL_MAX_DIRECTIVES,
      maxCost: settings.SWITCHYARD_GRAPHQL_MAX_COST,
    },
    loginThrottle: {
      redis,
      keyPrefix: settings.SWITCHYARD_PREFIX,
      maxConsecutiveFailures: settings.SWITCHYARD_LOGIN_MAX_FAILURES,
      maxFailuresPerAddress: settings.SWITCHYARD_LOGIN_MAX_FAILURES_PER_ADDRESS,
      maxFailuresPerUsername: settings.SWITCHYARD_LOGIN_MAX_FAILURES_PER_USERNAME,
      blockSeconds: settings.SWITCHYARD_LOGIN_BLOCK_SECONDS,
      windowSeconds: settings.SWITCHYARD_LOGIN_WINDOW_SECONDS,
    },
    trustedProxyHops: settings.SWITCHYARD_TRUSTED_PROXY_HOPS,
    oidcIssuers: settings.SWITCHYARD_OIDC_ISSUERS,
    dialects: settings.SWITCHYARD_DIALECTS,
    apolo: { signingKey: settings.SWITCHYARD_APOLO_SIGNING_KEY ?? null, tokenTtlSeconds: settings.SWITCHYARD_APOLO_TOKEN_TTL_SECONDS },
    sessions: {
      secret: settings.SWITCHYARD_SESSION_SECRET,
      ttlSeconds: settings.SWITCHYARD_SESSION_TTL_SECONDS,
      publicUrl: settings.SWITCHYARD_PUBLIC_URL ?? null,
      limits: {
        windowBytes: settings.SWITCHYARD_SESSION_WINDOW_BYTES,
        heartbeatMs: settings.SWITCHYARD_SESSION_HEARTBEAT_MS,
        missedHeartbeats: settings.SWITCHYARD_SESSION_MISSED_HEARTBEATS,
      },
    },
  });
  await gateway.start(settings.PORT, settings.HOST);
  closeWithGrace({ delay: 10_000 }, async ({ err, signal }) => {
    if (err) logger.error({ err }, 'shutting down after an error');
    else logger.info({ signal }, 'shutting down');
    await gateway.stop();
    await transport.close();
    await store.close();
    await ledger.close();
    await redis.quit();
  });
}
