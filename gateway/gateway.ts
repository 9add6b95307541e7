/**
 * Wires one gateway from its parts. Every dependency comes in as an argument
 * (transport, store, clock), so the embedded default, the production process
 * and the tests build the same gateway from different parts.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';

import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { Closable, Transport } from '../shared/transport.js';
import { createAuth, type Auth, type LoginThrottleOptions } from './access/auth.js';
import { commandLineSignIns, type OidcIssuerConfig } from './access/oidc-config.js';
import { createOidcSignIn } from './access/oidc-sign-in.js';
import { createProjects, type Projects } from './access/projects.js';
import { createAccountingMetrics } from './accounting/accounting-metrics.js';
import { createAccounting, type Accounting, type AccountingOptions } from './accounting/accounting.js';
import { createCharger, type Charger } from './accounting/charging.js';
import type { Ledger } from './accounting/ledger.js';
import { createApoloTokens } from './dialects/apolo/apolo-tokens.js';
import { createDialects, type DialectName } from './dialects/index.js';
import { requestLimits, type RequestLimits } from './graphql/plugins/use-request-limits.js';
import { createBaseSchema, createGatewayYoga } from './graphql/yoga.js';
import { createGatewayHttpServer, type GatewayHttpServer } from './http-server.js';
import { startEventConsumer } from './jobs/event-consumer.js';
import { createJobChanger } from './jobs/job-changes.js';
import { createJobFeed } from './jobs/job-feed.js';
import { createTemplateJobMaker } from './jobs/job-templates.js';
import { createOrchestrator, type Orchestrator } from './jobs/orchestrator.js';
import { createGatewayMetrics, type GatewayMetrics } from './metrics.js';
import { createDashboardFiles } from './pages/dashboard-files.js';
import { createSessionPages } from './pages/session-pages.js';
import { createProviderRegistry, type ProviderRegistry } from './registry/provider-registry.js';
import { createUtilizationCache, type UtilizationCache } from './registry/utilization-cache.js';
import { createSchedules, type Schedules } from './schedules/schedules.js';
import { createServices, type Services } from './services/services.js';
import { createSessionAdmission } from './sessions/session-admission.js';
import { createSessionCredentials } from './sessions/session-credentials.js';
import { createSessionEndpoint, DEFAULT_SESSION_LIMITS, type SessionLimits } from './sessions/session-endpoint.js';
import { createSessionOpener } from './sessions/session-opener.js';
import { createWebEndpoint } from './sessions/web-endpoint.js';
import { createSchemaManager, type SchemaManager } from './stitching/schema-manager.js';
import type { Store } from './store/store.js';

export interface GatewayOptions {
  transport: Transport;
  store: Store;
  clock: Clock;
  logger: Logger;
  adminToken: string;
  /** @default 86400 */
  tokenTtlSeconds?: number;
  /** @default 5000 */
  providerTimeoutMs?: number;
  /** How often provider utilization (capacity for routing) is polled. @default 2000 */
  utilizationIntervalMs?: number;
  /** Where wallets, grants and charges live (Redis in production, memory embedded). */
  ledger: Ledger;
  /** How often running jobs are charged. @default 30000 */
  chargeIntervalMs?: number;
  /** How far charging rounds stay behind the clock, for job-end events on their way. @default 5000 */
  chargeLagAllowanceMs?: number;
  /** Price unit lengths for tests that charge in real time with a short unit. */
  unitMs?: AccountingOptions['unitMs'];
  metrics?: GatewayMetrics;
  /** Aliases, depth, tokens, directives, cost and body bytes of one request (the body limit holds on every endpoint); see RequestLimits for the defaults. */
  requestLimits?: Partial<RequestLimits>;
  /** Login throttling on POST /api/v1/token; give it `redis` when the gateway runs on Redis, so that its replicas share the counts. */
  loginThrottle?: LoginThrottleOptions;
  /** OpenID Connect issuers whose access tokens are accepted beside the gateway's own (docs/TENANCY.md). @default [] */
  oidcIssuers?: readonly OidcIssuerConfig[];
  /** Proxies in front whose X-Forwarded-For is believed for the client address. @default 0 */
  trustedProxyHops?: number;
  /** Other platforms' APIs served on the same core, each under its own prefix (dialects/README.md). @default [] */
  dialects?: readonly DialectName[];
  /** The Apolo dialect's tokens (dialects/README.md, "Apolo"). */
  apolo?: {
    /** Signs Apolo's JWTs (HS256); give every replica the same. Without one, a random key of this process. */
    signingKey?: string | null;
    /** How long an issued Apolo token lasts unless its issuer says. @default 604800 */
    tokenTtlSeconds?: number;
  };
  /** How often schedules and services are swept (tests: 0, and they call sweep). @default 1000 */
  recurringIntervalMs?: number;
  /** Interactive sessions. */
  sessions?: {
    /**
     * Signs session credentials; give every replica the same. Without one, a random secret of this
     * process: the session URLs it issues open on it only.
     */
    secret?: string;
    /** How long a credential, and its session, lasts. @default 3600 */
    ttlSeconds?: number;
    /** The gateway's URL as clients reach it; null: the URL each request came to. @default null */
    publicUrl?: string | null;
    limits?: Partial<SessionLimits>;
  };
}

export interface Gateway {
  readonly http: GatewayHttpServer;
  readonly orchestrator: Orchestrator;
  readonly registry: ProviderRegistry;
  readonly auth: Auth;
  readonly projects: Projects;
  readonly metrics: GatewayMetrics;
  readonly schemas: SchemaManager;
  readonly utilization: UtilizationCache;
  readonly accounting: Accounting;
  readonly charger: Charger;
  readonly schedules: Schedules;
  readonly services: Services;
  /** Starts watching providers and consuming events; then serves HTTP. */
  start(port: number, host: string): Promise<AddressInfo>;
  /** Shutdown in order: readiness 503, HTTP drains, consumers stop. Connections are the caller's. */
  stop(): Promise<void>;
}

export function createGateway(options: GatewayOptions): Gateway {
  const { transport, store, clock, logger } = options;
  const metrics = options.metrics ?? createGatewayMetrics();
  // The registry's callbacks and the rebuild timer name the orchestrator and schema manager made below:
  // closures, called only once the gateway has started.
  const feed = createJobFeed(transport);
  let refreshTimer: NodeJS.Timeout | null = null;
  // Provider changes come in bursts (a join brings announcement, manifest and circuit news): rebuild once.
  const scheduleRebuild = () => {
    if (refreshTimer) return;
    refreshTimer = setTimeout(() => {
      refreshTimer = null;
      void schemas.refresh();
      // A provider that joins or returns is routable as soon as its capacity is known.
      void utilization.refresh();
    }, 50);
    refreshTimer.unref();
  };
  const registry = createProviderRegistry({
    transport,
    logger,
    metrics,
    clock,
    callTimeoutMs: options.providerTimeoutMs,
    onInstance: (providerId) =>
      void orchestrator.reconcile(providerId).catch((err: unknown) => logger.warn({ err, providerId }, 'reconciliation failed')),
    onDown: (providerId) =>
      void orchestrator.providerLost(providerId).catch((err: unknown) => logger.warn({ err, providerId }, 'could not mark jobs of a lost provider')),
    onChange: scheduleRebuild,
  });
  const schemas = createSchemaManager({ base: createBaseSchema(), registry, logger });
  const utilization = createUtilizationCache({ registry, logger, intervalMs: options.utilizationIntervalMs });
  const accounting = createAccounting({
    ledger: options.ledger,
    clock,
    logger,
    metrics: createAccountingMetrics(metrics.registry),
    unitMs: options.unitMs,
  });
  const orchestrator = createOrchestrator({
    store,
    registry,
    utilization,
    feed,
    clock,
    logger,
    metrics,
    accounting,
    providerTimeoutMs: options.providerTimeoutMs,
  });
  const charger = createCharger({
    store,
    registry,
    accounting,
    orchestrator,
    logger,
    clock,
    intervalMs: options.chargeIntervalMs,
    lagAllowanceMs: options.chargeLagAllowanceMs,
  });
  const auth = createAuth({
    store,
    clock,
    adminToken: options.adminToken,
    tokenTtlSeconds: options.tokenTtlSeconds,
    loginThrottle: options.loginThrottle,
    oidc: options.oidcIssuers?.length ? createOidcSignIn({ issuers: options.oidcIssuers, store, clock, logger }) : undefined,
  });
  const projects = createProjects({ store, clock });
  const templateJobs = createTemplateJobMaker({
    viewerByName: (name) => auth.viewerByName(name),
    createJobs: (viewer, inputs, origin) => orchestrator.createJobs(viewer, inputs, origin),
  });
  const schedules = createSchedules({ store, clock, logger, jobs: templateJobs, intervalMs: options.recurringIntervalMs });
  const services = createServices({
    store,
    clock,
    logger,
    jobs: templateJobs,
    terminateJobs: (viewer, ids) => orchestrator.terminateJobs(viewer, ids),
    viewerByName: (name) => auth.viewerByName(name),
    intervalMs: options.recurringIntervalMs,
  });
  const limits = requestLimits(options.requestLimits);
  const credentials = createSessionCredentials({
    secret: options.sessions?.secret ?? randomBytes(32).toString('base64url'),
    ttlSeconds: options.sessions?.ttlSeconds ?? 3_600,
    clock,
  });
  const apoloTokens = createApoloTokens({ key: options.apolo?.signingKey, clock, defaultTtlSeconds: options.apolo?.tokenTtlSeconds });
  const sessionOpener = createSessionOpener({ store, registry, credentials, publicUrl: options.sessions?.publicUrl ?? null });
  const sessions = createSessionEndpoint({
    transport,
    store,
    registry,
    auth,
    credentials,
    change: createJobChanger(store, feed),
    feed,
    metrics,
    logger,
    clock,
    limits: options.sessions?.limits,
    maxMessageBytes: limits.maxBodyBytes,
  });
  const webSessions = createWebEndpoint({
    transport,
    registry,
    admission: createSessionAdmission({ store, registry, auth, credentials }),
    change: createJobChanger(store, feed),
    metrics,
    logger,
    clock,
    limits: { ...DEFAULT_SESSION_LIMITS, ...options.sessions?.limits },
    publicUrl: options.sessions?.publicUrl ?? null,
  });
  const yoga = createGatewayYoga({
    auth,
    projects,
    orchestrator,
    registry,
    utilization,
    store,
    feed,
    metrics,
    logger,
    schemas,
    accounting,
    clock,
    limits,
    sessions: sessionOpener,
    schedules,
    services,
    // Issued through the core API only while the dialect that takes them is served.
    apoloTokens: options.dialects?.includes('apolo') ? apoloTokens : null,
  });
  const http = createGatewayHttpServer({
    yoga,
    auth,
    metrics,
    logger,
    maxBodyBytes: limits.maxBodyBytes,
    trustedProxyHops: options.trustedProxyHops,
    commandLineSignIns: commandLineSignIns(options.oidcIssuers ?? []),
    sessions,
    pages: createSessionPages({ admit: sessions.admit }),
    dashboard: createDashboardFiles(),
    webSessions,
    dialects: createDialects(options.dialects ?? [], {
      auth,
      orchestrator,
      registry,
      utilization,
      metrics,
      logger,
      clock,
      maxBodyBytes: limits.maxBodyBytes,
      trustedProxyHops: options.trustedProxyHops ?? 0,
      store,
      feed,
      accounting,
      sessions: sessionOpener,
      signingKey: (purpose) => new Uint8Array(hkdfSync('sha256', options.adminToken, 'switchyard dialects', purpose, 32)),
      schedules,
      services,
      projects,
      requestLimits: limits,
      sessionEndpoint: sessions,
      publicUrl: options.sessions?.publicUrl ?? null,
      apoloTokens,
    }),
    readiness: async () => {
      const missing: string[] = [];
      await transport.ping().catch(() => missing.push('nats'));
      await store.ping().catch(() => missing.push('store'));
      if (!registry.ready()) missing.push('providers');
      return missing;
    },
    beforeScrape: async () => {
      metrics.jobs.reset();
      for (const row of await store.countJobs()) metrics.jobs.set({ provider: row.providerId, state: row.state }, row.count);
    },
  });
  let consumer: Closable | null = null;

  return {
    http,
    orchestrator,
    registry,
    auth,
    projects,
    metrics,
    get schemas() {
      return schemas;
    },
    utilization,
    accounting,
    charger,
    schedules,
    services,
    async start(port, host) {
      feed.start();
      await registry.start();
      utilization.start();
      orchestrator.waitingRoom.start();
      orchestrator.start();
      charger.start();
      schedules.start();
      services.start();
      consumer = await startEventConsumer({ transport, orchestrator, store, metrics, logger });
      const address = await http.listen(port, host);
      logger.info({ port: address.port, host: address.address }, 'gateway listening');
      return address;
    },
    async stop() {
      if (refreshTimer) clearTimeout(refreshTimer);
      http.drain();
      await http.close();
      await consumer?.close();
      utilization.stop();
      await orchestrator.waitingRoom.stop();
      await orchestrator.stop();
      await charger.stop();
      await schedules.stop();
      await services.stop();
      await registry.stop();
      await feed.stop();
    },
  };
}
