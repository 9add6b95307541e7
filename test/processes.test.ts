/**
 * End to end through separate processes: `switchyard gateway` and
 * `switchyard provider local` over real NATS (JetStream) and real Redis.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fund } from './support/credits.js';
import { createClient, JOB_FIELDS, waitForState, type TestClient } from './support/graphql-client.js';
import { freePort, gatewayProcessEnv, startSwitchyard, waitProviderUp, waitReady, type Proc } from './support/processes.js';
import { natsUrl, uniquePrefix } from './support/services.js';

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { ${JOB_FIELDS} } error { code message } } }`;

let gateway: Proc;
let provider: Proc;
let client: TestClient;
let baseUrl: string;
let gatewayEnv: Record<string, string>;
let providerEnv: Record<string, string>;
let stateDir: string;

function startGateway() {
  gateway = startSwitchyard(['gateway'], gatewayEnv);
  return waitReady(baseUrl, gateway);
}

function startProvider() {
  provider = startSwitchyard(['provider', 'local', '--id', 'edge'], providerEnv);
}

function providerUp(instanceChange?: string): Promise<void> {
  return waitProviderUp(client, 'edge', provider, instanceChange);
}

async function submit(spec: Record<string, unknown>) {
  const data = await client.ok(CREATE, { specs: [{ product: { id: 'local-small', provider: 'edge' }, ...spec }] });
  expect(data.createJobs[0].error).toBeNull();
  return data.createJobs[0].job as { id: string };
}

beforeAll(async () => {
  const prefix = uniquePrefix();
  const adminToken = randomBytes(24).toString('base64url');
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  stateDir = mkdtempSync(join(tmpdir(), 'sy-e2e-local-'));
  gatewayEnv = gatewayProcessEnv({ prefix, adminToken, port }, { SWITCHYARD_PROVIDER_TIMEOUT_MS: '3000' });
  providerEnv = {
    NATS_URL: natsUrl(),
    SWITCHYARD_PREFIX: prefix,
    SWITCHYARD_HEARTBEAT_MS: '500',
    SWITCHYARD_LOCAL_STATE_DIR: stateDir,
    SWITCHYARD_TERMINATE_GRACE_MS: '500',
  };
  client = createClient(baseUrl, adminToken);
  startProvider();
  await startGateway();
  await providerUp();
  await fund(client, 'admin', 'edge');
}, 60_000);

afterAll(async () => {
  await provider?.kill('SIGTERM');
  await gateway?.kill('SIGTERM');
  rmSync(stateDir, { recursive: true, force: true });
});

describe('gateway and local provider as separate processes', () => {
  it('runs echo to SUCCESS with its exit code; the log line is readable and arrives on followJob', async () => {
    const job = await submit({ command: ['sh', '-c', 'sleep 0.5; echo hello over nats'] });
    const events = await client.follow(job.id);
    const done = await waitForState(client, job.id, ['SUCCESS', 'FAILURE']);
    expect(done.state).toMatchObject({ state: 'SUCCESS', exitCode: 0 });
    const logs = await client.ok(`query ($id: ID!) { job(id: $id) { logs { rank stdout } } }`, { id: job.id });
    expect(logs.job.logs).toContainEqual({ rank: 0, stdout: 'hello over nats' });
    expect(events.flatMap((e) => e.logs.map((l: any) => l.stdout))).toContain('hello over nats');
    expect(events.at(-1).newStatus).toMatchObject({ state: 'SUCCESS', exitCode: 0 });
  });

  it('suspends, resumes, extends and terminates a long job', async () => {
    const job = await submit({ command: ['sleep', '120'], timeAllocation: { minutes: 30 } });
    const running = await waitForState(client, job.id, ['RUNNING']);
    await client.ok(`mutation ($id: ID!) { suspendJobs(ids: [$id]) { ok } }`, { id: job.id });
    await waitForState(client, job.id, ['SUSPENDED']);
    await client.ok(`mutation ($id: ID!) { unsuspendJobs(ids: [$id]) { ok } }`, { id: job.id });
    await waitForState(client, job.id, ['RUNNING']);
    const ext = await client.ok(
      `mutation ($id: ID!) { extendJobs(items: [{ jobId: $id, requestedTime: { minutes: 15 } }]) { ok error { message } } }`,
      { id: job.id },
    );
    expect(ext.extendJobs[0].ok).toBe(true);
    const extended = await waitForState(client, job.id, ['RUNNING']);
    expect(Date.parse(extended.state.expiresAt) - Date.parse(running.state.expiresAt)).toBeGreaterThanOrEqual(15 * 60_000);
    await client.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: job.id });
    const ended = await waitForState(client, job.id, ['SUCCESS', 'FAILURE']);
    expect(ended.state.state).toBe('SUCCESS');
    expect(ended.updates.at(-1).status).toMatch(/terminated/i);
  });

  it('ends a job with a short time allocation as EXPIRED', async () => {
    const job = await submit({ command: ['sleep', '60'], timeAllocation: { seconds: 1 } });
    const done = await waitForState(client, job.id, ['EXPIRED', 'SUCCESS', 'FAILURE']);
    expect(done.state.state).toBe('EXPIRED');
  });

  it('loses no job and no event when the gateway is killed while jobs run', async () => {
    const job = await submit({ command: ['sh', '-c', 'sleep 1.5; echo finished while the gateway was away; exit 4'] });
    await waitForState(client, job.id, ['RUNNING']);
    await gateway.kill('SIGKILL');
    // The job ends and its events are published while no gateway listens.
    await new Promise((r) => setTimeout(r, 2_500));
    await startGateway();
    const done = await waitForState(client, job.id, ['SUCCESS', 'FAILURE']);
    expect(done.state).toMatchObject({ state: 'SUCCESS', exitCode: 4 });
    const logs = await client.ok(`query ($id: ID!) { job(id: $id) { logs { stdout } } }`, { id: job.id });
    expect(logs.job.logs.map((l: any) => l.stdout)).toContain('finished while the gateway was away');
    await providerUp();
  });

  it('brings a job to a final state with a status that says what happened when the provider is killed', async () => {
    const job = await submit({ command: ['sleep', '120'] });
    await waitForState(client, job.id, ['RUNNING']);
    await provider.kill('SIGKILL');
    startProvider();
    const done = await waitForState(client, job.id, ['SUCCESS', 'FAILURE', 'EXPIRED'], 30_000);
    expect(done.state.state).toBe('FAILURE');
    expect(done.updates.at(-1).status).toMatch(/restarted/i);
    await providerUp(' after restart');
  });
});
