/** A gateway with the in-process bus, the in-memory store and real providers (the local one by default), for API tests. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createMemoryLedger } from '../../gateway/accounting/memory-ledger.js';
import { createGateway, type Gateway, type GatewayOptions } from '../../gateway/gateway.js';
import { createMemoryStore } from '../../gateway/store/memory-store.js';
import type { Store } from '../../gateway/store/store.js';
import { createLocalDriver } from '../../providers/local/local-driver.js';
import { createProviderRuntime, type Driver, type ProviderRuntime } from '../../providers/sdk/index.js';
import { systemClock } from '../../shared/clock.js';
import type { ProviderKind } from '../../shared/domain.js';
import { silentLogger } from '../../shared/logger.js';
import { createSubjects } from '../../shared/subjects.js';
import type { Transport } from '../../shared/transport.js';
import { createMemoryTransport } from '../../shared/transport/memory-transport.js';
import { fund } from './credits.js';
import { createClient, eventually, type TestClient } from './graphql-client.js';
import { uniquePrefix } from './services.js';

export interface EmbeddedGateway {
  gateway: Gateway;
  transport: Transport;
  store: Store;
  /** The first provider's runtime (the local provider by default). */
  runtime: ProviderRuntime;
  runtimes: ProviderRuntime[];
  url: string;
  admin: TestClient;
  anonymous: TestClient;
  /** Creates a user with credits at `fund` (default: the first provider; [] for none) and returns a client holding its token. */
  user(name: string, options?: { admin?: boolean; fund?: string[] }): Promise<TestClient>;
  stop(): Promise<void>;
}

/** A provider for the embedded gateway: its id, kind and driver. */
export interface EmbeddedProvider {
  id: string;
  kind: ProviderKind;
  driver: Driver;
}

export async function startEmbeddedGateway(
  options: { providerTimeoutMs?: number; providers?: EmbeddedProvider[]; sessions?: GatewayOptions['sessions'] } = {},
): Promise<EmbeddedGateway> {
  const adminToken = randomBytes(24).toString('base64url');
  const transport = createMemoryTransport({ subjects: createSubjects(uniquePrefix()) });
  const store = createMemoryStore();
  const stateDir = mkdtempSync(join(tmpdir(), 'sy-embedded-'));
  const logger = silentLogger();
  const gateway = createGateway({
    transport,
    store,
    ledger: createMemoryLedger(),
    clock: systemClock,
    logger,
    adminToken,
    providerTimeoutMs: options.providerTimeoutMs,
    sessions: options.sessions,
  });
  const providers = options.providers ?? [{ id: 'local', kind: 'LOCAL', driver: createLocalDriver({ stateDir, terminateGraceMs: 300 }) }];
  const runtimes = providers.map(({ id, kind, driver }) =>
    createProviderRuntime({ transport, driver, id, kind, version: 'test', heartbeatIntervalMs: 500, clock: systemClock, logger }),
  );
  for (const runtime of runtimes) await runtime.start();
  const address = await gateway.start(0, '127.0.0.1');
  const url = `http://127.0.0.1:${address.port}`;
  const admin = createClient(url, adminToken);
  await eventually(async () => providers.every(({ id }) => gateway.registry.get(id)?.manifest), { what: 'every provider manifest' });
  return {
    gateway,
    transport,
    store,
    runtime: runtimes[0]!,
    runtimes,
    url,
    admin,
    anonymous: createClient(url),
    async user(name, userOptions = {}) {
      const password = `pw-${name}-secret`;
      await admin.ok(`mutation ($u: String!, $p: String!, $a: Boolean!) { createUser(username: $u, password: $p, admin: $a) { username } }`, {
        u: name,
        p: password,
        a: userOptions.admin ?? false,
      });
      const res = await fetch(`${url}/api/v1/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: name, password }),
      });
      const body = (await res.json()) as { token: string };
      for (const providerId of userOptions.fund ?? [providers[0]!.id]) await fund(admin, name, providerId);
      return createClient(url, body.token);
    },
    async stop() {
      await gateway.stop();
      for (const runtime of runtimes) await runtime.stop();
      await transport.close();
      await store.close();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
