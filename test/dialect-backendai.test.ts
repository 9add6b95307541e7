/**
 * The Backend.AI dialect driven by Backend.AI's own clients against a running
 * gateway on real NATS and Redis with the local provider: the npm JS SDK
 * (backend.ai-client 21.3.1, with the two shims it needs on Node) and the
 * Python SDK from PyPI (backend.ai-client, in a cached virtual environment),
 * each signing with a key pair an administrator issued through the core API.
 * Each session is checked through the core GraphQL API too.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { eventually, type TestClient } from './support/graphql-client.js';
import { PYTHON_INSTALL_TIMEOUT_MS, pythonWith, runPython } from './support/python-clients.js';
import { startTenancyGateway, type TenancyGateway } from './support/tenancy-gateway.js';

// The JS SDK logs to the browser's localStorage and asks navigator.onLine on a failed request:
// Node 20 has neither. Its package.json names a main file it does not ship, so it is loaded by path.
const memory = new Map<string, string>();
Object.assign(globalThis, {
  localStorage: {
    getItem: (key: string) => memory.get(key) ?? null,
    setItem: (key: string, value: string) => void memory.set(key, String(value)),
    removeItem: (key: string) => void memory.delete(key),
  },
});
(globalThis as { navigator?: unknown }).navigator ??= { onLine: true };
const require = createRequire(import.meta.url);
const ai = require('backend.ai-client/backend.ai-client-node.js') as {
  Client: new (config: unknown, agentSignature: string) => BaiClient;
  ClientConfig: new (accessKey: string, secretKey: string, endpoint: string) => unknown;
};

/** The parts of the JS SDK's client these tests call. */
interface BaiClient {
  kernelPrefix: string;
  get_manager_version(): Promise<string>;
  createIfNotExists(
    image: string,
    name: string,
    resources: Record<string, unknown>,
  ): Promise<{ sessionId: string; status: string; created: boolean }>;
  get_info(name: string): Promise<Record<string, any>>;
  get_logs(name: string): Promise<{ result: { logs: string } }>;
  destroy(name: string): Promise<unknown>;
  resourcePreset: { check(param: Record<string, unknown>): Promise<Record<string, any>> };
  computeSession: { list(fields: string[], status: string, accessKey?: string, limit?: number, offset?: number): Promise<Record<string, any>> };
}

const PYTHON_CLIENT = ['backend.ai-client==23.9.10', 'yarl==1.9.4', 'attrs==23.2.0'];

let env: TenancyGateway;
let alice: TestClient;
let endpoint: string;
let keys: { accessKey: string; secretKey: string };
let js: BaiClient;
let python: string;

async function issueKeypair(user: string): Promise<{ accessKey: string; secretKey: string }> {
  const data = await env.admin.ok(`mutation ($u: ID!) { issueBackendAiKeypair(user: $u) { accessKey secretKey user } }`, { u: user });
  expect(data.issueBackendAiKeypair.user).toBe(user);
  return data.issueBackendAiKeypair;
}

function jsClient(accessKey: string, secretKey: string): BaiClient {
  return new ai.Client(new ai.ClientConfig(accessKey, secretKey, endpoint), 'switchyard-test');
}

/** What the SDK threw, as the manager answered it. */
async function refusal(promise: Promise<unknown>): Promise<{ statusCode: number; title: string; description: string }> {
  const error = (await promise.then(
    () => null,
    (e: unknown) => e,
  )) as { statusCode: number; title: string; description: string } | null;
  if (!error) throw new Error('the call succeeded');
  return error;
}

const coreJob = (id: string) =>
  alice.ok(
    `query ($id: ID!) { job(id: $id) { id status { state exitCode } updates { state } specification { name command image replicas product { id provider } } } }`,
    {
      id,
    },
  );

function waitStatus(client: BaiClient, name: string, statuses: string[]): Promise<Record<string, any>> {
  return eventually(
    async () => {
      const info = await client.get_info(name);
      return statuses.includes(info.status) ? info : null;
    },
    { timeoutMs: 20_000, what: `session ${name} to be ${statuses.join(' or ')}` },
  ) as Promise<Record<string, any>>;
}

beforeAll(async () => {
  const [started, py] = await Promise.all([
    startTenancyGateway({ dialects: ['backendai'], utilizationIntervalMs: 200 }),
    pythonWith('backendai', PYTHON_CLIENT),
  ]);
  env = started;
  python = py;
  alice = await env.user('alice');
  endpoint = `${env.url}/backendai`;
  keys = await issueKeypair('alice');
  js = jsClient(keys.accessKey, keys.secretKey);
}, PYTHON_INSTALL_TIMEOUT_MS + 60_000);

afterAll(async () => {
  await env?.stop();
});

describe('Backend.AI key pairs', () => {
  it('are issued, listed without their secret and revoked by administrators only', async () => {
    const second = await issueKeypair('alice');
    expect(second.accessKey).toMatch(/^AKIA[A-Z2-7]{16}$/);
    expect(second.secretKey).toHaveLength(40);
    const listed = await env.admin.ok(`query { backendAiKeypairs(user: "alice") { accessKey secretKey user } }`);
    expect(listed.backendAiKeypairs).toEqual([
      { accessKey: keys.accessKey, secretKey: null, user: 'alice' },
      { accessKey: second.accessKey, secretKey: null, user: 'alice' },
    ]);
    const denied = await alice.gql(`mutation { issueBackendAiKeypair(user: "alice") { accessKey } }`);
    expect(denied.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const unknown = await env.admin.gql(`mutation { issueBackendAiKeypair(user: "nobody") { accessKey } }`);
    expect(unknown.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const revoked = await env.admin.ok(`mutation ($k: String!) { revokeBackendAiKeypair(accessKey: $k) }`, { k: second.accessKey });
    expect(revoked.revokeBackendAiKeypair).toBe(true);
    // A revoked key signs nothing any more.
    expect(await refusal(jsClient(second.accessKey, second.secretKey).resourcePreset.check({}))).toMatchObject({ statusCode: 401 });
    expect((await env.admin.ok(`query { backendAiKeypairs(user: "alice") { accessKey } }`)).backendAiKeypairs).toEqual([
      { accessKey: keys.accessKey },
    ]);
  });
});

describe('the Backend.AI JS SDK', () => {
  it('negotiates the version (GET /, unsigned) and leaves the legacy /kernel prefix', async () => {
    expect(js.kernelPrefix).toBe('/kernel');
    expect(await js.get_manager_version()).toBe('25.19.2');
    expect(js.kernelPrefix).toBe('/session');
  });

  it('checks resource presets: the providers’ products, with what the caller and each scaling group use', async () => {
    const checked = await eventually(
      async () => {
        const result = await js.resourcePreset.check({ group: 'default' });
        return result.scaling_groups.local ? result : null;
      },
      { what: 'the local provider as a scaling group' },
    );
    expect(checked.presets).toContainEqual({
      name: 'local/local-small',
      resource_slots: { cpu: '1', mem: String(2 ** 30) },
      shared_memory: null,
      allocatable: true,
    });
    expect(checked.keypair_using).toEqual({ cpu: '0', mem: '0', 'cuda.device': '0' });
    expect(Number(checked.scaling_groups.local.remaining.cpu)).toBeGreaterThan(0);
  });

  it('creates a session (createIfNotExists, enqueueOnly), reuses it by name, reads it, its logs, lists it by status and destroys it', async () => {
    const created = await js.createIfNotExists('python:3.11-ubuntu', 'js-hello', {
      cpu: 1,
      mem: '1g',
      enqueueOnly: true,
      startupCommand: 'echo hello from backend.ai',
    });
    expect(created).toMatchObject({ created: true, status: expect.stringMatching(/^(PENDING|RUNNING)$/) });
    const again = await js.createIfNotExists('python:3.11-ubuntu', 'js-hello', { cpu: 1, mem: '1g', enqueueOnly: true });
    expect(again).toMatchObject({ created: false, sessionId: created.sessionId });
    const info = await waitStatus(js, 'js-hello', ['RUNNING']);
    expect(info).toMatchObject({ image: 'python:3.11-ubuntu', userId: 'alice', domainName: 'default', statusInfo: null });
    // The session is a job of the core API: routed to the product its resources fit.
    const core = await coreJob(created.sessionId);
    expect(core.job).toMatchObject({
      status: { state: 'RUNNING' },
      specification: { name: 'js-hello', image: 'python:3.11-ubuntu', replicas: 1, product: { id: 'local-small', provider: 'local' } },
    });
    const logs = await eventually(
      async () => {
        const { result } = await js.get_logs('js-hello');
        return result.logs.includes('hello from backend.ai') ? result.logs : null;
      },
      { what: 'the startup command in the logs' },
    );
    expect(logs).toBe('hello from backend.ai\n');
    const running = await js.computeSession.list(['id', 'name', 'status', 'occupied_slots'], 'RUNNING');
    expect(running.compute_session_list).toEqual({
      items: [{ id: created.sessionId, name: 'js-hello', status: 'RUNNING', occupied_slots: JSON.stringify({ cpu: '1', mem: String(2 ** 30) }) }],
      total_count: 1,
    });
    expect((await js.computeSession.list(['id'], 'PENDING,TERMINATED')).compute_session_list).toEqual({ items: [], total_count: 0 });
    expect(await js.destroy('js-hello')).toEqual({ stats: {} });
    const ended = await waitStatus(js, 'js-hello', ['TERMINATED']);
    expect(ended.statusInfo).toBe('user-requested');
    const terminated = await js.computeSession.list(['id', 'name', 'status', 'status_info', 'result'], 'TERMINATED');
    expect(terminated.compute_session_list.items).toEqual([
      { id: created.sessionId, name: 'js-hello', status: 'TERMINATED', status_info: 'user-requested', result: 'UNDEFINED' },
    ]);
    expect((await coreJob(created.sessionId)).job.updates.map((u: { state: string | null }) => u.state)).toContain('CANCELING');
    // Destroyed, it is gone for destroy (404), as the manager answers a session that is not active.
    expect(await refusal(js.destroy('js-hello'))).toMatchObject({ statusCode: 404, description: 'No such session.' });
  });

  it('before negotiating, creates through the legacy /kernel/create with API v4 headers, and reads through /kernel/<name>', async () => {
    const legacy = jsClient(keys.accessKey, keys.secretKey);
    expect(legacy.kernelPrefix).toBe('/kernel');
    const created = await legacy.createIfNotExists('python:3.11-ubuntu', 'js-legacy', {
      cpu: 1,
      mem: '1g',
      enqueueOnly: true,
      type: 'batch',
      startupCommand: 'true',
    });
    expect(created).toMatchObject({ created: true });
    const info = await waitStatus(legacy, 'js-legacy', ['TERMINATED']);
    expect(info).toMatchObject({ statusInfo: 'task-finished', image: 'python:3.11-ubuntu' });
    expect((await coreJob(created.sessionId)).job.specification).toMatchObject({ name: 'js-legacy', command: ['sh', '-c', 'true'] });
  });

  it('refuses what Switchyard cannot run with 400 invalid-api-params, changing nothing', async () => {
    const before = await env.snapshot();
    const mounts = await refusal(js.createIfNotExists('python:3.11-ubuntu', 'js-mounts', { cpu: 1, mounts: ['data'], enqueueOnly: true }));
    expect(mounts).toMatchObject({ statusCode: 400, description: 'mounts: Switchyard has no virtual folders to mount' });
    const batch = await refusal(js.createIfNotExists('python:3.11-ubuntu', 'js-batch', { cpu: 1, type: 'batch', enqueueOnly: true }));
    expect(batch).toMatchObject({ statusCode: 400, description: 'Batch sessions require a non-empty startup command.' });
    const huge = await refusal(js.createIfNotExists('python:3.11-ubuntu', 'js-huge', { cpu: 4096, enqueueOnly: true }));
    expect(huge.statusCode).toBeGreaterThanOrEqual(400);
    const after = await env.snapshot();
    expect(after.jobs).toEqual(before.jobs);
    expect(after.wallets).toEqual(before.wallets);
  });

  it('refuses a wrong secret with 401 problem+json (HMAC signature mismatch) and changes nothing', async () => {
    const before = await env.snapshot();
    const intruder = jsClient(keys.accessKey, 'not-the-secret-key-of-alice-at-all-00000');
    await intruder.get_manager_version();
    expect(await refusal(intruder.createIfNotExists('python:3.11-ubuntu', 'js-intruder', { cpu: 1, mem: '1g', enqueueOnly: true }))).toMatchObject({
      statusCode: 401,
      description: 'HMAC signature mismatch',
    });
    const raw = await fetch(`${endpoint}/session/js-hello`, {
      headers: {
        date: new Date().toISOString(),
        'x-backendai-version': 'v9.20250722',
        authorization: `BackendAI signMethod=HMAC-SHA256, credential=${keys.accessKey}:${'0'.repeat(64)}`,
      },
    });
    expect(raw.status).toBe(401);
    expect(raw.headers.get('content-type')).toBe('application/problem+json');
    expect(await raw.json()).toEqual({
      type: 'https://api.backend.ai/probs/auth-failed',
      title: 'Credential/signature mismatch.',
      error_code: 'user_auth_unauthorized',
      msg: 'HMAC signature mismatch',
    });
    const unknownKey = await refusal(jsClient('AKIAAAAAAAAAAAAAAAAA', keys.secretKey).resourcePreset.check({}));
    expect(unknownKey).toMatchObject({ statusCode: 401, description: 'Access key not found in HMAC' });
    const stale = await fetch(`${endpoint}/resource/presets`, { headers: { date: new Date(Date.now() - 20 * 60_000).toISOString() } });
    expect(stale.status).toBe(400);
    expect(await stale.json()).toMatchObject({ type: 'https://api.backend.ai/probs/invalid-auth-params', msg: 'Date/time sync error' });
    const after = await env.snapshot();
    expect(after.jobs).toEqual(before.jobs);
    expect(after.wallets).toEqual(before.wallets);
    expect(after.keypairs).toEqual(before.keypairs);
  });
});

describe('the Backend.AI Python SDK', () => {
  const run = (script: string) =>
    runPython(python, script, {
      env: {
        BACKEND_ENDPOINT: endpoint,
        BACKEND_ACCESS_KEY: keys.accessKey,
        BACKEND_SECRET_KEY: keys.secretKey,
        BACKEND_ENDPOINT_TYPE: 'api',
      },
    }).then((out) => JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, any>);

  it('runs a batch session to its end: get_or_create, the event stream until server_close, get_info, get_logs, paginated_list', async () => {
    const out = await run(`
import asyncio, json
from ai.backend.client.session import AsyncSession

async def main():
    async with AsyncSession() as api:
        session = await api.ComputeSession.get_or_create(
            'python:3.11-ubuntu', name='py-batch', type_='batch', enqueue_only=True,
            startup_command='echo from the python sdk; exit 3', resources={'cpu': 1, 'mem': '512m'})
        events = []
        async with session.listen_events() as stream:
            async for event in stream:
                events.append([event.event, json.loads(event.data)])
        info = await session.get_info()
        logs = await session.get_logs()
        page = await api.ComputeSession.paginated_list(status='TERMINATED', page_size=10)
        print(json.dumps({'version': list(api.api_version), 'id': str(session.id), 'created': session.created,
                          'events': events, 'info': info, 'logs': logs, 'total': page.total_count, 'items': page.items}))

asyncio.run(main())
`);
    expect(out.version).toEqual([7, '20230615']);
    expect(out.created).toBe(true);
    const names = (out.events as [string, unknown][]).map(([name]) => name);
    expect(names).toEqual([
      'session_enqueued',
      'kernel_started',
      'session_started',
      'session_failure',
      'kernel_terminated',
      'session_terminated',
      'server_close',
    ]);
    expect(out.events[5][1]).toEqual({
      reason: 'task-failed',
      sessionName: 'py-batch',
      ownerAccessKey: keys.accessKey,
      sessionId: out.id,
      exitCode: 3,
    });
    expect(out.info).toMatchObject({ status: 'TERMINATED', statusInfo: 'task-failed', image: 'python:3.11-ubuntu' });
    expect(out.logs).toEqual({ result: { logs: 'from the python sdk\n' } });
    // Every ended session of the caller's so far: js-hello, js-legacy and this one.
    expect(out.total).toBe(3);
    expect(out.items).toHaveLength(3);
    expect(out.items[0]).toMatchObject({ id: out.id, status: 'TERMINATED', type: 'batch', result: 'FAILURE', status_info: 'task-failed' });
    const core = await coreJob(out.id);
    expect(core.job).toMatchObject({
      status: { state: 'SUCCESS', exitCode: 3 },
      specification: { name: 'py-batch', command: ['sh', '-c', 'echo from the python sdk; exit 3'], product: { id: 'local-small' } },
    });
  });

  it('waits for an interactive session to start (no enqueueOnly), destroys it, and its events end with session_terminated', async () => {
    const out = await run(`
import asyncio, json
from ai.backend.client.exceptions import BackendAPIError
from ai.backend.client.session import AsyncSession

async def main():
    async with AsyncSession() as api:
        try:
            await api.ComputeSession.paginated_list(status='NAPPING')
            refused = None
        except BackendAPIError as error:
            refused = [error.status, error.data['data'][0]['message']]
        session = await api.ComputeSession.get_or_create('python:3.11-ubuntu', name='py-interactive', resources={'cpu': 1, 'mem': '1g'})
        status = session.status
        running = await api.ComputeSession.paginated_list(status='RUNNING', page_size=5)
        destroyed = await session.destroy()
        events = []
        async with session.listen_events(scope='session') as stream:
            async for event in stream:
                events.append(event.event)
        print(json.dumps({'id': str(session.id), 'status': status, 'running': running.items, 'destroyed': destroyed, 'events': events,
                          'refused': refused}))

asyncio.run(main())
`);
    // A GraphQL error comes back in /admin/gql's errors, which the SDK raises.
    expect(out.refused).toEqual([400, 'Invalid session status: NAPPING']);
    expect(out.status).toBe('RUNNING');
    expect(out.running).toEqual([expect.objectContaining({ status: 'RUNNING', type: 'interactive' })]);
    expect(out.destroyed).toEqual({ stats: {} });
    expect(out.events).toEqual(['session_enqueued', 'session_started', 'session_terminating', 'session_terminated', 'server_close']);
    expect((await coreJob(out.id)).job.specification.command).toEqual(['sh', '-c', 'while :; do sleep 60; done']);
  });
});

describe('Backend.AI and the core API', () => {
  it("shows a job made through the core API as a batch session, and hides another user's sessions", async () => {
    const data = await alice.ok(`mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { id } } }`, {
      specs: [{ product: { id: 'local-small', provider: 'local' }, command: ['sleep', '30'], name: 'core-made' }],
    });
    const id = data.createJobs[0].job.id as string;
    const info = await waitStatus(js, 'core-made', ['RUNNING']);
    expect(info).toMatchObject({ status: 'RUNNING', userId: 'alice' });
    await env.user('bob');
    const bobKeys = await issueKeypair('bob');
    const bob = jsClient(bobKeys.accessKey, bobKeys.secretKey);
    await bob.get_manager_version();
    expect(await refusal(bob.get_info('core-made'))).toMatchObject({ statusCode: 404 });
    expect((await bob.computeSession.list(['id'], 'RUNNING')).compute_session_list).toEqual({ items: [], total_count: 0 });
    const other = await refusal(bob.computeSession.list(['id'], 'RUNNING', keys.accessKey));
    expect(other).toMatchObject({ statusCode: 400 });
    await js.destroy(id);
    await waitStatus(js, id, ['TERMINATED']);
  });

  it('answers what it cannot do as the manager answers an unsupported call, and unknown paths with 404', async () => {
    const signedFetch = async (method: string, path: string) => {
      // The SDK's own signing, for calls it has no method for here.
      const client = js as unknown as { newSignedRequest(m: string, q: string, b: unknown): { uri: string; method: string; headers: Headers } };
      const request = client.newSignedRequest(method, path, null);
      return fetch(request.uri, { method: request.method, headers: request.headers });
    };
    const restart = await signedFetch('PATCH', '/session/js-hello');
    expect(restart.status).toBe(501);
    expect(await restart.json()).toMatchObject({ type: 'https://api.backend.ai/probs/not-implemented', error_code: 'api_generic_not-implemented' });
    const nowhere = await signedFetch('GET', '/folders');
    expect(nowhere.status).toBe(404);
    expect(await nowhere.json()).toMatchObject({ type: 'https://api.backend.ai/probs/url-not-found' });
    expect((await signedFetch('PUT', '/session/js-hello')).status).toBe(405);
  });
});
