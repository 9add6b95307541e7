/**
 * Routing across providers running as separate processes over real NATS and
 * Redis: by price, around a provider that stops, back to it when it returns,
 * and past one that never answers once its circuit opens.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fund } from './support/credits.js';
import { createClient, eventually, type TestClient } from './support/graphql-client.js';
import { freePort, gatewayProcessEnv, startSwitchyard, waitReady, type Proc } from './support/processes.js';
import { natsUrl, uniquePrefix } from './support/services.js';

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) {
  createJobs(specifications: $specs) { job { id provider { id } specification { product { id provider } } updates { status } } error { code message } }
}`;

let client: TestClient;
let gatewayEnv: Record<string, string>;
let providerEnv: Record<string, string>;
let stateDir: string;
const procs = new Map<string, Proc>();

function startProvider(kind: string, id: string, extra: Record<string, string> = {}) {
  procs.set(id, startSwitchyard(['provider', kind, '--id', id], { ...providerEnv, ...extra }));
}

async function waitStatus(id: string, statuses: string[]) {
  await eventually(
    async () => {
      const data = await client.ok(`query ($id: ID!) { provider(id: $id) { status products { id } } }`, { id });
      return statuses.includes(data.provider?.status) && data.provider.products.length > 0;
    },
    { timeoutMs: 20_000, what: `${id} to be ${statuses.join('/')}` },
  );
}

/** Submit one job that any 1-CPU product fits; answers where it went and what it said. */
async function routeOne(name: string) {
  const data = await client.ok(CREATE, {
    specs: [
      {
        requirements: { cpu: 1, backend: 'NATIVE' },
        command: ['true'],
        name,
        timeAllocation: { hours: 1 },
        parameters: { simulatedDurationMs: 600_000 },
      },
    ],
  });
  const result = data.createJobs[0];
  if (result.error) throw new Error(`${result.error.code}: ${result.error.message}`);
  return {
    provider: result.job.provider.id as string,
    product: result.job.specification.product.id as string,
    statuses: result.job.updates.map((u: any) => u.status) as string[],
  };
}

beforeAll(async () => {
  const prefix = uniquePrefix();
  const adminToken = randomBytes(24).toString('base64url');
  const port = await freePort();
  stateDir = mkdtempSync(join(tmpdir(), 'sy-routing-'));
  gatewayEnv = gatewayProcessEnv({ prefix, adminToken, port }, { SWITCHYARD_PROVIDER_TIMEOUT_MS: '1000' });
  providerEnv = { NATS_URL: natsUrl(), SWITCHYARD_PREFIX: prefix, SWITCHYARD_HEARTBEAT_MS: '400', SWITCHYARD_LOCAL_STATE_DIR: stateDir };
  const gateway = startSwitchyard(['gateway'], gatewayEnv);
  procs.set('gateway', gateway);
  startProvider('simulated', 'sim-hpc', { SWITCHYARD_SIM_CONFIG: 'hpc' });
  startProvider('simulated', 'sim-cloud', { SWITCHYARD_SIM_CONFIG: 'cloud' });
  startProvider('local', 'local');
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitReady(baseUrl, gateway);
  client = createClient(baseUrl, adminToken);
  for (const id of ['sim-hpc', 'sim-cloud', 'local']) await waitStatus(id, ['UP']);
  for (const id of ['sim-hpc', 'sim-cloud', 'local']) await fund(client, 'admin', id);
}, 60_000);

afterAll(async () => {
  await Promise.all([...procs.values()].map((p) => p.kill('SIGTERM')));
  rmSync(stateDir, { recursive: true, force: true });
});

describe('routing across provider processes', () => {
  it('sends a job to the cheapest fitting product and says why', async () => {
    // standard-8 on sim-hpc: 8 credits/h; c5-large on sim-cloud: 9/h (but VIRTUAL_MACHINE); local-small: 1/min.
    const routed = await routeOne('cheapest');
    expect(routed).toMatchObject({ provider: 'sim-hpc', product: 'standard-8' });
    expect(routed.statuses[0]).toMatch(/^Routed to sim-hpc\/standard-8: cheapest of \d+ fitting products/);
    const products = await client.ok(`{ products(provider: "sim-hpc") { id capacity queueStatus } }`);
    expect(products.products.find((p: any) => p.id === 'standard-8')).toMatchObject({ capacity: expect.any(Number), queueStatus: 'AVAILABLE' });
  });

  it('routes around a provider whose process stopped, and back when it returns', async () => {
    await procs.get('sim-hpc')!.kill('SIGKILL');
    await waitStatus('sim-hpc', ['DOWN']);
    const around = await routeOne('around');
    expect(around.provider).toBe('local');
    startProvider('simulated', 'sim-hpc', { SWITCHYARD_SIM_CONFIG: 'hpc' });
    await waitStatus('sim-hpc', ['UP']);
    await client.ok(`{ utilization { queueStatus { running } } }`);
    const back = await eventually(
      async () => {
        const r = await routeOne('back');
        return r.provider === 'sim-hpc' ? r : null;
      },
      { what: 'a job routed to sim-hpc again' },
    );
    expect(back.product).toBe('standard-8');
  });

  it('fails over past a provider that never answers, and skips it once its circuit opens', async () => {
    // Same products and prices as sim-hpc, and first by name, so it is tried first.
    startProvider('simulated', 'sim-aaa-slow', { SWITCHYARD_SIM_CONFIG: 'hpc', SWITCHYARD_SIM_CREATE_DELAY_MS: '5000' });
    await waitStatus('sim-aaa-slow', ['UP']);
    await fund(client, 'admin', 'sim-aaa-slow');
    await eventually(async () => (await client.ok(`{ products(provider: "sim-aaa-slow") { capacity } }`)).products[0].capacity !== null, {
      what: 'the slow provider’s capacity to be known',
    });
    let attempts = 1;
    const first = await routeOne('failover-1');
    expect(first.provider).toBe('sim-hpc');
    expect(first.statuses.join('\n')).toMatch(/sim-aaa-slow: did not answer jobs\.create within 1 s; failing over to sim-hpc\/standard-8/);
    await eventually(
      async () => {
        const data = await client.ok(`{ provider(id: "sim-aaa-slow") { status circuit } }`);
        if (data.provider.circuit === 'OPEN') return true;
        await routeOne(`failover-${++attempts}`);
        return false;
      },
      { timeoutMs: 30_000, what: 'the slow provider’s circuit to open' },
    );
    const provider = await client.ok(`{ provider(id: "sim-aaa-slow") { status circuit } }`);
    expect(provider.provider).toEqual({ status: 'DEGRADED', circuit: 'OPEN' });
    const started = Date.now();
    const skipped = await routeOne('skipped');
    expect(skipped.provider).toBe('sim-hpc');
    expect(skipped.statuses.join('\n')).not.toMatch(/failing over/);
    expect(skipped.statuses[0]).toMatch(/passed over: .*sim-aaa-slow \(circuit open\)/);
    expect(Date.now() - started).toBeLessThan(1_000 * 5);
    // The slow provider got each create eventually, after the gateway had moved on: those jobs are stopped.
    await eventually(
      async () => {
        const u = (await client.ok(`{ utilization(provider: "sim-aaa-slow") { queueStatus { running pending } } }`)).utilization.queueStatus;
        return u.running + u.pending === 0 ? true : null;
      },
      { timeoutMs: 25_000, what: 'the late jobs on the slow provider to be stopped' },
    );
  }, 60_000);

  it('answers NO_CAPACITY naming what is full and what could not be used', async () => {
    // Only a provider that is down may be used.
    await procs.get('sim-aaa-slow')!.kill('SIGKILL');
    await waitStatus('sim-aaa-slow', ['DOWN']);
    const data = await client.ok(CREATE, {
      specs: [{ requirements: { cpu: 1, providers: ['sim-aaa-slow'] }, command: ['true'], timeAllocation: { hours: 1 } }],
    });
    expect(data.createJobs[0].error.code).toBe('NO_CAPACITY');
    expect(data.createJobs[0].error.message).toMatch(/not usable: sim-aaa-slow \(down\)/);
    const dear = await client.ok(CREATE, {
      specs: [{ requirements: { cpu: 1, maxCreditsPerMinute: 0, providers: ['sim-hpc'] }, command: ['true'], timeAllocation: { hours: 1 } }],
    });
    expect(dear.createJobs[0].error.code).toBe('INVALID_INPUT');
    expect(dear.createJobs[0].error.message).toMatch(/too dear/);
    const none = await client.ok(CREATE, { specs: [{ requirements: { cpu: 100_000 }, command: ['true'] }] });
    expect(none.createJobs[0].error.code).toBe('INVALID_INPUT');
    expect(none.createJobs[0].error.message).toMatch(/No product meets the requirements/);
  });
});
