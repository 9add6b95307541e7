import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startEmbeddedGateway, type EmbeddedGateway } from './support/embedded-gateway.js';
import { JOB_FIELDS, waitForState, type TestClient } from './support/graphql-client.js';

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { ${JOB_FIELDS} } error { code message } } }`;
const local = (id = 'local-small') => ({ id, provider: 'local' });

let env: EmbeddedGateway;
let userCount = 0;
const newUser = () => env.user(`user${++userCount}`);

async function submit(client: TestClient, spec: Record<string, unknown>) {
  const data = await client.ok(CREATE, { specs: [{ product: local(), ...spec }] });
  return data.createJobs[0] as { job: any; error: { code: string; message: string } | null };
}

async function countJobs(client: TestClient): Promise<number> {
  const data = await client.ok(`{ jobs(first: 500) { totalCount } }`);
  return data.jobs.totalCount;
}

beforeAll(async () => {
  env = await startEmbeddedGateway({ providerTimeoutMs: 500 });
});
afterAll(async () => {
  await env?.stop();
});

describe('access', () => {
  it('refuses a request without a token with HTTP 401 and UNAUTHENTICATED', async () => {
    const res = await env.anonymous.gql(`{ me { createdBy } }`);
    expect(res.status).toBe(401);
    expect(res.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('refuses a made-up token', async () => {
    const { createClient } = await import('./support/graphql-client.js');
    const res = await createClient(env.url, 'not-a-real-token').gql(`{ me { createdBy } }`);
    expect(res.status).toBe(401);
  });

  it('gives a user a token for the right password and 401 for a wrong one', async () => {
    await env.admin.ok(`mutation { createUser(username: "tokenuser", password: "correct horse", admin: false) { username admin } }`);
    const post = (body: unknown) =>
      fetch(`${env.url}/api/v1/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const good = await post({ username: 'tokenuser', password: 'correct horse' });
    expect(good.status).toBe(200);
    const body = (await good.json()) as { token: string; user: { username: string; admin: boolean } };
    expect(body.user).toEqual({ username: 'tokenuser', admin: false, projects: [] });
    expect(body.token.length).toBeGreaterThan(20);
    expect((await post({ username: 'tokenuser', password: 'wrong horse' })).status).toBe(401);
    expect((await post({ username: 'nobody', password: 'correct horse' })).status).toBe(401);
    const bad = await fetch(`${env.url}/api/v1/token`, { method: 'POST', body: 'not json' });
    expect(bad.status).toBe(400);
  });

  it('lets only administrators create users', async () => {
    const alice = await newUser();
    const res = await alice.gql(`mutation { createUser(username: "mallory", password: "12345678") { username } }`);
    expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const dup = await env.admin.gql(`mutation { createUser(username: "tokenuser", password: "12345678") { username } }`);
    expect(dup.errors?.[0]?.extensions?.code).toBe('INVALID_INPUT');
  });

  it("hides another user's job as NOT_FOUND and refuses to act on it", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const { job } = await submit(alice, { command: ['sleep', '30'] });
    const seen = await bob.gql(`query ($id: ID!) { job(id: $id) { id } }`, { id: job.id });
    expect(seen.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const term = await bob.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok error { code } } }`, { id: job.id });
    expect(term.terminateJobs[0]).toEqual({ ok: false, error: { code: 'NOT_FOUND' } });
    expect((await bob.ok(`{ jobs { totalCount } }`)).jobs.totalCount).toBe(0);
    // The administrator sees it.
    expect((await env.admin.ok(`query ($id: ID!) { job(id: $id) { id } }`, { id: job.id })).job.id).toBe(job.id);
    await alice.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: job.id });
  });
});

describe('a job on the local provider', () => {
  it('runs echo to SUCCESS with exit code 0, its output in the logs and on followJob', async () => {
    const alice = await newUser();
    const { job, error } = await submit(alice, { command: ['sh', '-c', 'sleep 0.3; echo hello from switchyard'] });
    expect(error).toBeNull();
    expect(job.state.state).toBe('IN_QUEUE');
    const events = await alice.follow(job.id);
    const done = await waitForState(alice, job.id, ['SUCCESS']);
    expect(done.state.exitCode).toBe(0);
    expect(done.updates.map((u: any) => u.state).filter(Boolean)).toEqual(['IN_QUEUE', 'RUNNING', 'SUCCESS']);
    const logs = await alice.ok(`query ($id: ID!) { job(id: $id) { logs { rank stdout } } }`, { id: job.id });
    expect(logs.job.logs).toContainEqual({ rank: 0, stdout: 'hello from switchyard' });
    const followed = events.flatMap((e) => e.logs.map((l: any) => l.stdout));
    expect(followed).toContain('hello from switchyard');
    expect(events.at(-1).newStatus.state).toBe('SUCCESS');
  });

  it('ends a job that exits 3 as SUCCESS with exit code 3', async () => {
    const alice = await newUser();
    const { job } = await submit(alice, { command: ['sh', '-c', 'exit 3'] });
    const done = await waitForState(alice, job.id, ['SUCCESS', 'FAILURE']);
    expect(done.state).toMatchObject({ state: 'SUCCESS', exitCode: 3 });
  });

  it('keeps nothing of a job the provider refuses as invalid, and answers its code', async () => {
    const alice = await newUser();
    for (const workingDir of ['relative/dir', '/no/such/directory']) {
      const refused = await submit(alice, { command: ['true'], workingDir });
      expect(refused.job).toBeNull();
      expect(refused.error?.code).toBe('INVALID_INPUT');
      expect(refused.error?.message).toMatch(/working directory/);
    }
    expect(await countJobs(alice)).toBe(0);
  });

  it('suspends, resumes, extends and terminates a long job', async () => {
    const alice = await newUser();
    const { job } = await submit(alice, { command: ['sleep', '60'], timeAllocation: { minutes: 10 } });
    const running = await waitForState(alice, job.id, ['RUNNING']);
    const firstExpiry = Date.parse(running.state.expiresAt);
    const suspend = await alice.ok(`mutation ($id: ID!) { suspendJobs(ids: [$id]) { ok error { code message } } }`, { id: job.id });
    expect(suspend.suspendJobs[0]).toEqual({ ok: true, error: null });
    await waitForState(alice, job.id, ['SUSPENDED']);
    await alice.ok(`mutation ($id: ID!) { unsuspendJobs(ids: [$id]) { ok } }`, { id: job.id });
    await waitForState(alice, job.id, ['RUNNING']);
    const extend = await alice.ok(
      `mutation ($id: ID!) { extendJobs(items: [{ jobId: $id, requestedTime: { hours: 1 } }]) { ok error { code message } } }`,
      { id: job.id },
    );
    expect(extend.extendJobs[0]).toEqual({ ok: true, error: null });
    const extended = await waitForState(alice, job.id, ['RUNNING']);
    expect(Date.parse(extended.state.expiresAt) - firstExpiry).toBeGreaterThanOrEqual(3_600_000);
    expect(extended.updates.some((u: any) => u.newTimeAllocation === 3_600_000)).toBe(true);
    await alice.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: job.id });
    const ended = await waitForState(alice, job.id, ['SUCCESS']);
    expect(ended.updates.at(-1).status).toMatch(/terminated/i);
    const again = await alice.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok error { code } } }`, { id: job.id });
    expect(again.terminateJobs[0]).toEqual({ ok: false, error: { code: 'INVALID_STATE' } });
  });

  it('ends a job past its time allocation as EXPIRED', async () => {
    const alice = await newUser();
    const { job } = await submit(alice, { command: ['sleep', '60'], timeAllocation: { seconds: 1 } });
    const done = await waitForState(alice, job.id, ['EXPIRED', 'SUCCESS', 'FAILURE']);
    expect(done.state.state).toBe('EXPIRED');
  });

  it('refuses a second identical active job with DUPLICATE_JOB unless duplicates are allowed', async () => {
    const alice = await newUser();
    const spec = { command: ['sleep', '30'], name: 'dup' };
    const first = await submit(alice, spec);
    expect(first.error).toBeNull();
    const second = await submit(alice, spec);
    expect(second.error?.code).toBe('DUPLICATE_JOB');
    const third = await submit(alice, { ...spec, allowDuplicateJob: true });
    expect(third.error).toBeNull();
    await alice.ok(`mutation ($ids: [ID!]!) { terminateJobs(ids: $ids) { ok } }`, { ids: [first.job.id, third.job.id] });
  });
});

describe('bad input changes nothing', () => {
  it.each([
    ['an unknown product', { product: local('no-such-product'), command: ['true'] }, 'INVALID_INPUT'],
    ['an unknown provider', { product: { id: 'x', provider: 'nowhere' }, command: ['true'] }, 'INVALID_INPUT'],
    ['zero replicas', { product: local(), command: ['true'], replicas: 0 }, 'INVALID_INPUT'],
    ['negative replicas', { product: local(), command: ['true'], replicas: -2 }, 'INVALID_INPUT'],
    ['a zero time allocation', { product: local(), command: ['true'], timeAllocation: { seconds: 0 } }, 'INVALID_INPUT'],
    ['a negative time allocation', { product: local(), command: ['true'], timeAllocation: { minutes: -5 } }, 'INVALID_INPUT'],
    ['no command', { product: local() }, 'INVALID_INPUT'],
    ['an empty command', { product: local(), command: [] }, 'INVALID_INPUT'],
    ['env that is not strings', { product: local(), command: ['true'], env: { A: 1 } }, 'INVALID_INPUT'],
    ['neither product nor requirements', { command: ['true'] }, 'INVALID_INPUT'],
  ])('%s gets %s', async (_what, spec, code) => {
    const alice = await newUser();
    const data = await alice.ok(CREATE, { specs: [spec] });
    expect(data.createJobs[0].job).toBeNull();
    expect(data.createJobs[0].error.code).toBe(code);
    expect(data.createJobs[0].error.message.length).toBeGreaterThan(5);
    expect(await countJobs(alice)).toBe(0);
  });

  it('answers one result per item: one bad item does not fail the others', async () => {
    const alice = await newUser();
    const data = await alice.ok(CREATE, {
      specs: [
        { product: local(), command: ['true'] },
        { product: local(), command: ['true'], replicas: 0 },
      ],
    });
    expect(data.createJobs[0].error).toBeNull();
    expect(data.createJobs[1].error.code).toBe('INVALID_INPUT');
    expect(await countJobs(alice)).toBe(1);
  });

  it('refuses more than 1,000 items in one call', async () => {
    const alice = await newUser();
    const specs = Array.from({ length: 1001 }, () => ({ product: local(), command: ['true'] }));
    const res = await alice.gql(CREATE, { specs });
    expect(res.errors?.[0]?.extensions?.code).toBe('INVALID_INPUT');
    expect(await countJobs(alice)).toBe(0);
    const ids = Array.from({ length: 1001 }, (_, i) => `id${i}`);
    const term = await alice.gql(`mutation ($ids: [ID!]!) { terminateJobs(ids: $ids) { ok } }`, { ids });
    expect(term.errors?.[0]?.extensions?.code).toBe('INVALID_INPUT');
  });

  it('refuses a page larger than 500', async () => {
    const alice = await newUser();
    const res = await alice.gql(`{ jobs(first: 501) { totalCount } }`);
    expect(res.errors?.[0]?.extensions?.code).toBe('INVALID_INPUT');
  });

  it('gives malformed GraphQL and unknown fields INVALID_INPUT', async () => {
    const alice = await newUser();
    const malformed = await alice.gql(`{ jobs(first: 5 { totalCount } }`);
    expect(malformed.errors?.[0]?.extensions?.code).toBe('INVALID_INPUT');
    const unknown = await alice.gql(`{ jobs { noSuchField } }`);
    expect(unknown.errors?.[0]?.extensions?.code).toBe('INVALID_INPUT');
  });

  // Found by test/fuzz.test.ts: an object literal reached DateTime's parser, whose String() of it threw (INTERNAL).
  const grantEnding = (endDate: string, variables = '') =>
    `mutation ${variables} { grantCredits(grant: { owner: "dated", provider: "local", category: "local-cpu", amount: 5, endDate: ${endDate} }) { balance } }`;
  it.each([
    ['an object literal', grantEnding('{}'), undefined],
    ['a number literal', grantEnding('5'), undefined],
    ['an object variable', grantEnding('$d', '($d: DateTime)'), { d: { a: 1 } }],
    ['an object in a job filter', `{ jobs(filter: { createdAfter: {} }) { totalCount } }`, undefined],
  ])('a DateTime given as %s is INVALID_INPUT and grants nothing', async (_what, query, variables) => {
    const res = await env.admin.gql(query, variables);
    expect(res.errors?.[0]?.extensions?.code).toBe('INVALID_INPUT');
    expect(res.errors?.[0]?.message).toMatch(/DateTime is an ISO-8601 string/);
    const ledger = await env.admin.ok(`{ transactions(owner: "dated") { totalCount } }`);
    expect(ledger.transactions.totalCount).toBe(0);
  });

  it('gives unknown job ids NOT_FOUND, per item', async () => {
    const alice = await newUser();
    const res = await alice.gql(`{ job(id: "0190aaaa-0000-7000-8000-000000000000") { id } }`);
    expect(res.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const bulk = await alice.ok(
      `mutation { suspendJobs(ids: ["nope"]) { ok error { code } } extendJobs(items: [{ jobId: "nope", requestedTime: { minutes: 1 } }]) { ok error { code } } }`,
    );
    expect(bulk.suspendJobs[0].error.code).toBe('NOT_FOUND');
    expect(bulk.extendJobs[0].error.code).toBe('NOT_FOUND');
  });
});

describe('operations', () => {
  it('lists the local products with their support', async () => {
    const data = await env.admin.ok(
      `{ products(provider: "local") { id category pricePerUnit unitOfPrice support { backend suspension timeExtension maxReplicas } } providers { id kind status circuit } }`,
    );
    expect(data.products.length).toBeGreaterThanOrEqual(2);
    expect(new Set(data.products.map((p: any) => p.pricePerUnit)).size).toBeGreaterThanOrEqual(2);
    expect(data.products[0].support).toMatchObject({ backend: 'NATIVE', suspension: true, timeExtension: true });
    expect(data.providers).toContainEqual({ id: 'local', kind: 'LOCAL', status: 'UP', circuit: 'CLOSED' });
  });

  it('serves health, readiness and Prometheus metrics', async () => {
    expect((await fetch(`${env.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${env.url}/readyz`)).status).toBe(200);
    const text = await (await fetch(`${env.url}/metrics`)).text();
    expect(text).toMatch(/switchyard_jobs\{provider="local",state="SUCCESS"\} \d+/);
    expect(text).toContain('switchyard_graphql_operation_duration_seconds_bucket');
    expect(text).toContain('switchyard_nats_request_duration_seconds_bucket{le="0.0005",verb="jobs.create"');
  });
});

describe('followJob over a websocket', () => {
  it('streams a job to its end with the graphql-ws protocol', async () => {
    const { createClient: createWsClient } = await import('graphql-ws');
    const { default: WebSocket } = await import('ws');
    const alice = await newUser();
    const { job } = await submit(alice, { command: ['sh', '-c', 'sleep 0.3; echo over websocket'] });
    const token = alice.token;
    const ws = createWsClient({
      url: env.url.replace('http', 'ws') + '/graphql',
      webSocketImpl: WebSocket,
      connectionParams: { Authorization: `Bearer ${token}` },
    });
    const events: any[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.subscribe(
        { query: `subscription ($id: ID!) { followJob(id: $id) { logs { stdout } newStatus { state } } }`, variables: { id: job.id } },
        { next: (value) => events.push(value.data?.followJob), error: reject, complete: resolve },
      );
    });
    await ws.dispose();
    expect(events.flatMap((e) => e.logs.map((l: any) => l.stdout))).toContain('over websocket');
    expect(events.at(-1).newStatus.state).toBe('SUCCESS');
  });

  it('refuses a websocket subscription without a token', async () => {
    const { createClient: createWsClient } = await import('graphql-ws');
    const { default: WebSocket } = await import('ws');
    const ws = createWsClient({ url: env.url.replace('http', 'ws') + '/graphql', webSocketImpl: WebSocket, retryAttempts: 0 });
    const outcome = await new Promise<unknown>((resolve) => {
      ws.subscribe(
        { query: `subscription { followJob(id: "x") { jobId } }` },
        { next: resolve, error: resolve, complete: () => resolve('complete') },
      );
    });
    await ws.dispose();
    expect((outcome as { code?: number }).code).toBe(4403);
  });
});
