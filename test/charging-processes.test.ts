/**
 * Charging survives crashes and crowds: a gateway killed (SIGKILL) while it
 * charges and started again, with a second gateway charging the same jobs all
 * along, ends with every job charged exactly for the time it ran — nothing
 * twice, no period skipped — and charges that add up to the fall in balances.
 * Real NATS, Redis and processes; a price minute of 10 ms so hours pass in seconds.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fund } from './support/credits.js';
import { createClient, eventually, type TestClient } from './support/graphql-client.js';
import { freePort, startSwitchyard, waitReady, type Proc } from './support/processes.js';
import { natsUrl, redisUrl, uniquePrefix } from './support/services.js';

const MINUTE_MS = 10;
const HOUR_MS = 60 * MINUTE_MS;
const JOBS = 120;
const GRANT = 1_000_000_000;

const procs: Proc[] = [];
let env: Record<string, string>;
let client: TestClient;
let baseUrl: string;
let gatewayA: Proc;

function startGateway(port: number) {
  const proc = startSwitchyard(['gateway'], { ...env, PORT: String(port) });
  procs.push(proc);
  return proc;
}

beforeAll(async () => {
  const prefix = uniquePrefix();
  const adminToken = randomBytes(24).toString('base64url');
  env = {
    NATS_URL: natsUrl(),
    REDIS_URL: redisUrl(),
    SWITCHYARD_PREFIX: prefix,
    SWITCHYARD_ADMIN_TOKEN: adminToken,
    HOST: '127.0.0.1',
    SWITCHYARD_CHARGE_INTERVAL_MS: '40',
    // Rounds stay this far behind the clock, for job ends still on their way (hours last 600 ms here).
    SWITCHYARD_CHARGE_LAG_MS: '300',
    SWITCHYARD_PRICE_MINUTE_MS: String(MINUTE_MS),
  };
  const portA = await freePort();
  const portB = await freePort();
  baseUrl = `http://127.0.0.1:${portA}`;
  gatewayA = startGateway(portA);
  const gatewayB = startGateway(portB);
  procs.push(
    startSwitchyard(['provider', 'simulated', '--id', 'sim'], {
      NATS_URL: natsUrl(),
      SWITCHYARD_PREFIX: prefix,
      SWITCHYARD_HEARTBEAT_MS: '500',
      SWITCHYARD_SIM_CONFIG: 'hpc',
    }),
  );
  await waitReady(baseUrl, gatewayA);
  await waitReady(`http://127.0.0.1:${portB}`, gatewayB);
  client = createClient(baseUrl, adminToken);
  await eventually(async () => (await client.ok(`{ provider(id: "sim") { status products { id } } }`)).provider?.products.length > 0, {
    timeoutMs: 20_000,
    what: 'the simulated provider',
  });
  await fund(client, 'admin', 'sim', GRANT);
}, 60_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill('SIGTERM')));
});

describe('charging across gateway crashes and replicas', () => {
  it('charges every job exactly for its running time', async () => {
    const specs = Array.from({ length: JOBS }, (_, i) => ({
      product: { id: 'standard-8', provider: 'sim' },
      command: ['true'],
      name: `charged-${i}`,
      timeAllocation: { hours: 24 },
      parameters: { simulatedDurationMs: 3_600_000 },
    }));
    const created = await client.ok(
      `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { id } error { message } } }`,
      { specs },
    );
    const ids: string[] = created.createJobs.map((r: any) => r.job.id);
    await eventually(async () => (await client.ok(`{ jobStat(stat: COUNT_RUNNING) }`)).jobStat === JOBS, {
      timeoutMs: 20_000,
      what: 'every job running',
    });

    // Both gateways charge every 40 ms; kill one in the middle of its rounds, then bring it back.
    await new Promise((r) => setTimeout(r, 700));
    await gatewayA.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    const port = Number(new URL(baseUrl).port);
    gatewayA = startGateway(port);
    await waitReady(baseUrl, gatewayA);
    await new Promise((r) => setTimeout(r, 500));

    await client.ok(`mutation ($ids: [ID!]!) { terminateJobs(ids: $ids) { ok } }`, { ids });
    await eventually(async () => (await client.ok(`{ jobStat(stat: COUNT_SUCCESS) }`)).jobStat === JOBS, {
      timeoutMs: 20_000,
      what: 'every job ended',
    });

    // Each job's final charge is its whole running time in started price hours: 8 credits an hour.
    const expected = new Map<string, number>();
    let wrong: string[] = [];
    await eventually(
      async () => {
        const data = await client.ok(`{ jobs(first: 500) { edges { node { id creditsCharged updates { state timestamp } } } } }`);
        wrong = [];
        for (const { node } of data.jobs.edges) {
          const running = node.updates.find((u: any) => u.state === 'RUNNING');
          const end = node.updates.find((u: any) => u.state === 'SUCCESS');
          const ms = Date.parse(end.timestamp) - Date.parse(running.timestamp);
          const credits = Math.ceil(ms / HOUR_MS) * 8;
          expected.set(node.id, credits);
          if (node.creditsCharged !== credits) wrong.push(`${node.id}: ${node.creditsCharged} for ${ms} ms, not ${credits}`);
        }
        return wrong.length === 0;
      },
      { timeoutMs: 15_000, what: 'every job charged for exactly its running time' },
    ).catch((error: Error) => {
      throw new Error(`${error.message}: ${wrong.length} wrong, ${wrong.slice(0, 5).join('; ')}`);
    });
    const total = [...expected.values()].reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(JOBS * 8 * 2);
    const wallets = await client.ok(`{ wallets { provider balance allocations { initialBalance balance } } }`);
    const wallet = wallets.wallets.find((w: any) => w.provider === 'sim');
    expect(GRANT - wallet.balance).toBe(total);
    // Every page: a slow run makes more rounds, and more records than one page holds.
    let charged = 0;
    let after: string | null = null;
    do {
      const page: any = await client.ok(
        `query ($after: String) { transactions(first: 500, after: $after) { edges { node { kind amount } } pageInfo { hasNextPage endCursor } } }`,
        { after },
      );
      charged += page.transactions.edges.filter((e: any) => e.node.kind === 'CHARGE').reduce((sum: number, e: any) => sum + e.node.amount, 0);
      after = page.transactions.pageInfo.hasNextPage ? page.transactions.pageInfo.endCursor : null;
    } while (after);
    expect(charged).toBe(total);
  }, 90_000);
});
