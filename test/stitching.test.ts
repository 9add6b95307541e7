/**
 * Live stitching: a provider's own GraphQL fields join the unified schema when
 * it joins and leave when it leaves, with no gateway restart and no failed
 * queries that do not touch them.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createMemoryLedger } from '../gateway/accounting/memory-ledger.js';
import { createGateway, type Gateway } from '../gateway/gateway.js';
import { createMemoryStore } from '../gateway/store/memory-store.js';
import { createLocalDriver } from '../providers/local/local-driver.js';
import { createProviderRuntime, type ProviderRuntime } from '../providers/sdk/runtime.js';
import { systemClock } from '../shared/clock.js';
import { silentLogger } from '../shared/logger.js';
import { createSubjects } from '../shared/subjects.js';
import { createMemoryTransport } from '../shared/transport/memory-transport.js';
import { fund } from './support/credits.js';
import { createClient, eventually, waitForState, type TestClient } from './support/graphql-client.js';
import { uniquePrefix } from './support/services.js';

const transport = createMemoryTransport({ subjects: createSubjects(uniquePrefix()) });
const store = createMemoryStore();
const stateDir = mkdtempSync(join(tmpdir(), 'sy-stitch-'));
const adminToken = randomBytes(24).toString('base64url');
let gateway: Gateway;
let client: TestClient;

function localProvider(id: string): ProviderRuntime {
  return createProviderRuntime({
    transport,
    driver: createLocalDriver({ stateDir: join(stateDir, id), terminateGraceMs: 200 }),
    id,
    kind: 'LOCAL',
    version: 'test',
    heartbeatIntervalMs: 200,
    clock: systemClock,
    logger: silentLogger(),
  });
}

beforeAll(async () => {
  gateway = createGateway({
    transport,
    store,
    ledger: createMemoryLedger(),
    clock: systemClock,
    logger: silentLogger(),
    adminToken,
    providerTimeoutMs: 1_000,
  });
  const address = await gateway.start(0, '127.0.0.1');
  client = createClient(`http://127.0.0.1:${address.port}`, adminToken);
});

afterAll(async () => {
  await gateway.stop();
  await transport.close();
  rmSync(stateDir, { recursive: true, force: true });
});

/** How many `graphql` calls the gateway has made to providers. */
async function graphqlCalls(): Promise<number> {
  const metric = await gateway.metrics.natsRequestDuration.get();
  return metric.values.filter((v) => v.metricName?.endsWith('_count') && v.labels.verb === 'graphql').reduce((sum, v) => sum + v.value, 0);
}

const STITCHED = `{ providers { id localHost { hostname cpus } } }`;

describe('live stitching of provider subschemas', () => {
  it('adds a joining provider’s fields without a restart, serves them batched, and drops them when it leaves', async () => {
    // No provider yet: the field is not in the schema, and plain queries work.
    const before = await client.gql(STITCHED);
    expect(before.errors?.[0]?.extensions?.code).toBe('INVALID_INPUT');
    expect((await client.ok(`{ providers { id } }`)).providers).toEqual([]);

    const edge = localProvider('edge');
    await edge.start();
    const joined = await eventually(async () => (await client.gql(STITCHED)).data, { what: 'the stitched field to appear' });
    expect(joined.providers).toEqual([{ id: 'edge', localHost: { hostname: expect.any(String), cpus: expect.any(Number) } }]);
    await fund(client, 'admin', 'edge');

    // Job fields come from the provider that runs the job, for many jobs at once.
    const created = await client.ok(
      `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { id } error { message } } }`,
      { specs: [1, 2, 3].map((n) => ({ product: { id: 'local-small', provider: 'edge' }, command: ['sleep', '30'], name: `s${n}` })) },
    );
    const ids: string[] = created.createJobs.map((r: any) => r.job.id);
    for (const id of ids) await waitForState(client, id, ['RUNNING']);
    const callsBefore = await graphqlCalls();
    const details = await client.ok(`{ jobs(first: 10) { edges { node { id local { host pids } } } } }`);
    expect(details.jobs.edges).toHaveLength(3);
    // One batched call to the provider for all three jobs, not one per job.
    expect((await graphqlCalls()) - callsBefore).toBe(1);
    for (const edge of details.jobs.edges) expect(edge.node.local.pids).toHaveLength(1);
    // The merge fields are for stitching only; clients cannot call them.
    const hidden = await client.gql(`{ _localJobs(ids: ["${ids[0]}"]) { id } }`);
    expect(hidden.errors?.[0]?.extensions?.code).toBe('INVALID_INPUT');

    await client.ok(`mutation ($ids: [ID!]!) { terminateJobs(ids: $ids) { ok } }`, { ids });
    for (const id of ids) await waitForState(client, id, ['SUCCESS']);
    await edge.stop();
    await eventually(async () => (await client.gql(STITCHED)).errors?.length, { what: 'the stitched field to go' });
    // Queries that do not touch it keep working.
    const after = await client.ok(`{ providers { id status } jobs { totalCount } }`);
    expect(after.providers).toEqual([{ id: 'edge', status: 'DOWN' }]);
    expect(after.jobs.totalCount).toBe(3);
  });

  it('keeps serving while providers join and leave under a stream of queries', async () => {
    let failures = 0;
    let done = 0;
    let stop = false;
    const load = (async () => {
      while (!stop) {
        const res = await client.gql(`{ providers { id status } jobs(first: 5) { totalCount } }`);
        if (res.errors?.length) failures += 1;
        done += 1;
      }
    })();
    for (let round = 0; round < 3; round++) {
      const p = localProvider(`churn${round}`);
      await p.start();
      await eventually(async () => gateway.schemas.stitchedKinds().includes('LOCAL'), { what: 'LOCAL stitched' });
      await p.stop();
      await eventually(async () => !gateway.schemas.stitchedKinds().includes('LOCAL'), { what: 'LOCAL gone' });
    }
    stop = true;
    await load;
    expect(done).toBeGreaterThan(10);
    expect(failures).toBe(0);
  });
});
