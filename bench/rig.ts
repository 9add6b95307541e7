/**
 * A gateway, and optionally the instant provider, running in this process as
 * they would in production: each with its own NATS connection, the gateway
 * with a Redis store, GraphQL over real HTTP on loopback.
 */
import { randomBytes } from 'node:crypto';

import { createRedisLedger } from '../gateway/accounting/redis-ledger.js';
import { createGateway, type Gateway, type GatewayOptions } from '../gateway/gateway.js';
import { createRedisStore } from '../gateway/store/redis-store.js';
import type { Store } from '../gateway/store/store.js';
import { createProviderRuntime, type ProviderRuntime } from '../providers/sdk/runtime.js';
import { systemClock } from '../shared/clock.js';
import { silentLogger } from '../shared/logger.js';
import { createSubjects } from '../shared/subjects.js';
import type { Transport } from '../shared/transport.js';
import { createNatsTransport } from '../shared/transport/nats-transport.js';
import { fund } from '../test/support/credits.js';
import { createClient, type TestClient } from '../test/support/graphql-client.js';
import { createInstantDriver, INSTANT_PROVIDER_ID, type InstantDriver } from './instant-driver.js';
import { waitFor } from './stats.js';

export { INSTANT_PROVIDER_ID };

export interface RigOptions {
  natsUrl: string;
  redisUrl: string;
  /** Subject prefix: its JetStream stream and KV bucket are the rig's own. */
  subjectPrefix: string;
  /** Redis key prefix of the gateway's store. */
  keyPrefix: string;
  /** Start the instant provider too. */
  withProvider: boolean;
  /** Errors the transports could not hand to a caller; the bench reports how many. */
  onTransportError: (error: unknown, where: string) => void;
  /** Other platforms' APIs the gateway serves too. @default [] */
  dialects?: GatewayOptions['dialects'];
}

export interface Rig {
  /** http://127.0.0.1:<port> */
  url: string;
  /** A GraphQL client with the bootstrap administrator's token. */
  admin: TestClient;
  gateway: Gateway;
  /** The gateway's store (its own Redis connection). */
  store: Store;
  driver: InstantDriver | null;
  stop(): Promise<void>;
}

export async function startRig(options: RigOptions): Promise<Rig> {
  const subjects = createSubjects(options.subjectPrefix);
  const logger = silentLogger();
  const adminToken = randomBytes(24).toString('base64url');
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    // Last started, first stopped: the provider flushes its events before the gateway goes.
    for (const fn of stops.splice(0).reverse()) await fn().catch((error: unknown) => console.error('bench: stopping failed:', error));
  };

  try {
    const gatewayTransport: Transport = await createNatsTransport({
      url: options.natsUrl,
      subjects,
      name: 'bench-gateway',
      onError: options.onTransportError,
    });
    stops.push(() => gatewayTransport.close());
    const store = await createRedisStore({ url: options.redisUrl, keyPrefix: options.keyPrefix });
    stops.push(() => store.close());
    const ledger = await createRedisLedger({ url: options.redisUrl, keyPrefix: options.keyPrefix });
    stops.push(() => ledger.close());
    const gateway = createGateway({
      transport: gatewayTransport,
      store,
      ledger,
      clock: systemClock,
      logger,
      adminToken,
      providerTimeoutMs: 10_000,
      dialects: options.dialects,
    });
    const address = await gateway.start(0, '127.0.0.1');
    stops.push(() => gateway.stop());
    const url = `http://127.0.0.1:${address.port}`;

    let driver: InstantDriver | null = null;
    if (options.withProvider) {
      const providerTransport = await createNatsTransport({
        url: options.natsUrl,
        subjects,
        name: 'bench-provider',
        onError: options.onTransportError,
      });
      stops.push(() => providerTransport.close());
      driver = createInstantDriver();
      const runtime: ProviderRuntime = createProviderRuntime({
        transport: providerTransport,
        driver,
        id: INSTANT_PROVIDER_ID,
        kind: 'SIMULATED',
        version: 'bench',
        clock: systemClock,
        logger,
      });
      await runtime.start();
      stops.push(() => runtime.stop());
      await waitFor(() => {
        const entry = gateway.registry.get(INSTANT_PROVIDER_ID);
        return entry?.manifest && gateway.registry.status(entry) === 'UP';
      }, 'the gateway to see the instant provider and its manifest');
      await fund(createClient(url, adminToken), 'admin', INSTANT_PROVIDER_ID);
    }

    return { url, admin: createClient(url, adminToken), gateway, store, driver, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A benchmark's outcome as bench/run.ts reports it: its result, or why it was not run. */
export type SectionOutcome<T> = { result: T } | { notRun: string };

/**
 * A benchmark as bench/run.ts runs it: its rig started and kept in `rigs` while it runs (so that
 * the run's own cleanup stops it on a signal), its steps, the rig stopped. A failure is the
 * outcome, `failed: …`: a backend that is there but broken does not cost the other benchmarks
 * their results.
 */
export async function runWithRig<R extends Rig, T>(options: {
  /** Starts its progress lines. */
  name: string;
  rigs: Rig[];
  progress: (message: string) => void;
  start: () => Promise<R>;
  bench: (rig: R, progress: (message: string) => void) => Promise<T>;
}): Promise<SectionOutcome<T>> {
  let rig: R | null = null;
  try {
    rig = await options.start();
    options.rigs.push(rig);
    return { result: await options.bench(rig, (message) => options.progress(`${options.name}: ${message}`)) };
  } catch (error) {
    const notRun = `failed: ${error instanceof Error ? error.message : String(error)}`;
    options.progress(`${options.name} ${notRun}`);
    return { notRun };
  } finally {
    if (rig) {
      options.rigs.splice(options.rigs.indexOf(rig), 1);
      await rig.stop();
    }
  }
}

/** Resolves once every job of the provider has left IN_QUEUE, i.e. its RUNNING event was applied. */
export async function waitForQueueDrained(store: Store, providerId: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    async () => {
      const counts = await store.countJobs();
      const queued = counts.find((row) => row.providerId === providerId && row.state === 'IN_QUEUE')?.count ?? 0;
      return queued === 0;
    },
    `every ${providerId} job to leave IN_QUEUE`,
    timeoutMs,
  );
}
