/** A gateway with the in-process bus, the in-memory store and a real local provider, for API tests. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createMemoryLedger } from '../../gateway/accounting/memory-ledger.js';
import { createGateway, type Gateway } from '../../gateway/gateway.js';
import { createMemoryStore } from '../../gateway/store/memory-store.js';
import type { Store } from '../../gateway/store/store.js';
import { createLocalDriver } from '../../providers/local/local-driver.js';
import { createProviderRuntime, type ProviderRuntime } from '../../providers/sdk/runtime.js';
import { systemClock } from '../../shared/clock.js';
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
  runtime: ProviderRuntime;
  url: string;
  admin: TestClient;
  anonymous: TestClient;
  /** Creates a user with credits at `fund` (default: the local provider) and returns a client holding its token. */
  user(name: string, options?: { admin?: boolean; fund?: string[] }): Promise<TestClient>;
  stop(): Promise<void>;
}

export async function startEmbeddedGateway(options: { providerTimeoutMs?: number } = {}): Promise<EmbeddedGateway> {
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
  });
  const runtime = createProviderRuntime({
    transport,
    driver: createLocalDriver({ stateDir, terminateGraceMs: 300 }),
    id: 'local',
    kind: 'LOCAL',
    version: 'test',
    heartbeatIntervalMs: 500,
    clock: systemClock,
    logger,
  });
  await runtime.start();
  const address = await gateway.start(0, '127.0.0.1');
  const url = `http://127.0.0.1:${address.port}`;
  const admin = createClient(url, adminToken);
  await eventually(async () => gateway.registry.get('local')?.manifest, { what: 'the local provider manifest' });
  return {
    gateway,
    transport,
    store,
    runtime,
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
      for (const providerId of userOptions.fund ?? ['local']) await fund(admin, name, providerId);
      return createClient(url, body.token);
    },
    async stop() {
      await gateway.stop();
      await runtime.stop();
      await transport.close();
      await store.close();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
