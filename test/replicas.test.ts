/**
 * Two gateway replicas over real NATS and Redis: a job created through one is
 * followed through the other, which hears every change whichever replica
 * applied it (the durable consumer splits events between them).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Ledger } from '../gateway/accounting/ledger.js';
import { createRedisLedger } from '../gateway/accounting/redis-ledger.js';
import { createGateway, type Gateway } from '../gateway/gateway.js';
import { createRedisStore } from '../gateway/store/redis-store.js';
import type { Store } from '../gateway/store/store.js';
import { createLocalDriver } from '../providers/local/local-driver.js';
import { createProviderRuntime, type ProviderRuntime } from '../providers/sdk/runtime.js';
import { systemClock } from '../shared/clock.js';
import { silentLogger } from '../shared/logger.js';
import { createSubjects } from '../shared/subjects.js';
import type { Transport } from '../shared/transport.js';
import { createNatsTransport } from '../shared/transport/nats-transport.js';
import { fund } from './support/credits.js';
import { createClient, eventually, waitForState, type TestClient } from './support/graphql-client.js';
import { deleteKeys, natsUrl, redisUrl, uniquePrefix } from './support/services.js';

const prefix = uniquePrefix();
const adminToken = randomBytes(24).toString('base64url');
const stateDir = mkdtempSync(join(tmpdir(), 'sy-replicas-'));
const closers: (() => Promise<void>)[] = [];
const clients: TestClient[] = [];
const gateways: Gateway[] = [];

beforeAll(async () => {
  const subjects = createSubjects(prefix);
  for (let i = 0; i < 2; i++) {
    const transport: Transport = await createNatsTransport({ url: natsUrl(), subjects });
    const store: Store = await createRedisStore({ url: redisUrl(), keyPrefix: prefix });
    const ledger: Ledger = await createRedisLedger({ url: redisUrl(), keyPrefix: prefix });
    const gateway = createGateway({ transport, store, ledger, clock: systemClock, logger: silentLogger(), adminToken });
    const address = await gateway.start(0, '127.0.0.1');
    gateways.push(gateway);
    clients.push(createClient(`http://127.0.0.1:${address.port}`, adminToken));
    closers.push(async () => {
      await gateway.stop();
      await transport.close();
      await store.close();
      await ledger.close();
    });
  }
  const providerTransport = await createNatsTransport({ url: natsUrl(), subjects });
  const runtime: ProviderRuntime = createProviderRuntime({
    transport: providerTransport,
    driver: createLocalDriver({ stateDir, terminateGraceMs: 200 }),
    id: 'edge',
    kind: 'LOCAL',
    version: 'test',
    clock: systemClock,
    logger: silentLogger(),
  });
  await runtime.start();
  closers.unshift(async () => {
    await runtime.stop();
    await providerTransport.close();
  });
  for (const gateway of gateways) await eventually(async () => gateway.registry.get('edge')?.manifest, { what: 'edge on every replica' });
  await fund(clients[0]!, 'admin', 'edge');
});

afterAll(async () => {
  for (const close of closers) await close();
  await deleteKeys(prefix);
  rmSync(stateDir, { recursive: true, force: true });
});

describe('two gateway replicas', () => {
  it('let a follower on one replica see every change of a job created through the other', async () => {
    const a = clients[0]!;
    const b = clients[1]!;
    const created = await a.ok(
      `mutation { createJobs(specifications: [{ product: { id: "local-small", provider: "edge" }, command: ["sh", "-c", "sleep 0.5; for i in 1 2 3 4 5; do echo line $i; done; exit 2"] }]) { job { id } } }`,
    );
    const id = created.createJobs[0].job.id;
    const events = await b.follow(id, { timeoutMs: 20_000 });
    expect(events.flatMap((e) => e.logs.map((l: any) => l.stdout))).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5']);
    expect(events.at(-1).newStatus).toMatchObject({ state: 'SUCCESS', exitCode: 2 });
    const states = events.flatMap((e) => e.updates.map((u: any) => u.state)).filter(Boolean);
    expect(states).toEqual(['IN_QUEUE', 'RUNNING', 'SUCCESS']);
    // Both replicas read the same state from the shared store.
    expect((await waitForState(a, id, ['SUCCESS'])).state.exitCode).toBe(2);
  });
});
