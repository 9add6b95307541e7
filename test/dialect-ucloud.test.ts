/**
 * The UCloud dialect against a running gateway on real NATS and Redis with the
 * local provider. UCloud has no installable client (dialects/README.md), so the
 * requests are the curl examples of UCloud's jobs API reference
 * (shared/reference/ucloud-jobs-api.txt), sent as written but for the product
 * (the local provider's) and the command (a parameter), and jobs.follow is
 * spoken over UCloud's websocket protocol with the `ws` client. Each job is
 * checked through the core GraphQL API too.
 */
import { request } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';

import { fund } from './support/credits.js';
import { eventually, type TestClient } from './support/graphql-client.js';
import { startTenancyGateway, type TenancyGateway } from './support/tenancy-gateway.js';

const FINAL = ['SUCCESS', 'FAILURE', 'EXPIRED'];
/** The reference's product, replaced by the local provider's. */
const PRODUCT = { id: 'local-small', category: 'local-cpu', provider: 'local' };

interface Answer {
  status: number;
  body: any;
}

/** One UCloud call as the reference's curl examples make it (their Content-Type header included, verbatim). */
async function call(
  base: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; project?: string; raw?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.project !== undefined) headers.project = options.project;
  if (options.body !== undefined || options.raw !== undefined) headers['content-type'] = 'content-type: application/json; charset=utf-8';
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** The reference's JobSpecification ("Creating a simple batch Job"), on the local product, running `command`. */
function batchJob(command: string, extra: Record<string, unknown> = {}) {
  return {
    application: { name: 'a-batch-application', version: '1.0.0' },
    product: PRODUCT,
    name: null,
    replicas: 1,
    allowDuplicateJob: false,
    parameters: { var: { type: 'text', value: 'Example' }, command: { type: 'text', value: command } },
    resources: null,
    timeAllocation: null,
    openedFile: null,
    restartOnExit: null,
    sshEnabled: null,
    ...extra,
  };
}

/** A UCloud user of the gateway: its refresh token (issued by an administrator) and an access token from it. */
async function ucloudUser(env: TenancyGateway, base: string, name: string, fundIt = true) {
  const client = await env.user(name, { fund: fundIt });
  const issued = await env.admin.ok(`mutation ($u: ID!) { issueUcloudRefreshToken(user: $u) }`, { u: name });
  const refreshToken = issued.issueUcloudRefreshToken as string;
  const refreshed = await call(base, 'POST', '/auth/refresh', { token: refreshToken });
  expect(refreshed.status).toBe(200);
  return { client, refreshToken, accessToken: refreshed.body.accessToken as string };
}

/** A UCloud websocket at /api/jobs and the frames it received. */
async function openSocket(base: string) {
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/jobs`, 'binary');
  const frames: any[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data))));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { ws, frames, protocol: ws.protocol };
}

const closeSocket = (ws: WebSocket) =>
  new Promise<void>((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve();
    ws.once('close', () => resolve());
    ws.close();
  });

/** A snapshot once two in a row agree on the jobs and wallets: nothing is moving. */
async function settled(env: TenancyGateway) {
  let last = await env.snapshot();
  return eventually(
    async () => {
      const next = await env.snapshot();
      const same = isDeepStrictEqual(next.jobs, last.jobs) && isDeepStrictEqual(next.wallets, last.wallets);
      last = next;
      return same ? next : null;
    },
    { intervalMs: 200, what: 'the jobs and wallets to settle' },
  );
}

async function retrieve(base: string, token: string, id: string) {
  // As the reference retrieves a job.
  const answer = await call(
    base,
    'GET',
    `/api/jobs/retrieve?includeProduct=false&includeOthers=false&includeUpdates=false&includeSupport=false&id=${id}`,
    {
      token,
    },
  );
  expect(answer.status).toBe(200);
  return answer.body;
}

function waitUcloudState(base: string, token: string, id: string, states: string[]) {
  return eventually(
    async () => {
      const job = await retrieve(base, token, id);
      return states.includes(job.status.state) ? job : null;
    },
    { timeoutMs: 20_000, what: `job ${id} to be ${states.join(' or ')}` },
  );
}

describe('UCloud dialect', () => {
  let env: TenancyGateway;
  let base: string;
  let alice: { client: TestClient; refreshToken: string; accessToken: string };

  beforeAll(async () => {
    env = await startTenancyGateway({ dialects: ['ucloud'], utilizationIntervalMs: 200 });
    base = `${env.url}/ucloud`;
    alice = await ucloudUser(env, base, 'alice');
  }, 60_000);

  afterAll(async () => {
    await env?.stop();
  });

  describe('identity', () => {
    it('trades a refresh token for a short-lived access JWT, and refuses every other credential there with 401', async () => {
      const claims = decodeJwt(alice.accessToken);
      expect(claims).toMatchObject({ sub: 'alice', role: 'USER', principalType: 'password' });
      expect(claims.exp! - claims.iat!).toBe(600);
      const refreshed = await call(base, 'POST', '/auth/refresh', { token: alice.refreshToken });
      expect(refreshed.body).toEqual({ accessToken: expect.any(String), csrfToken: expect.any(String) });
      for (const token of ['not-a-token', alice.accessToken, undefined]) {
        const refused = await call(base, 'POST', '/auth/refresh', { token });
        expect(refused).toEqual({ status: 401, body: { statusCode: 401, why: 'Unauthorized', errorCode: null } });
      }
      // The refresh token is no access token, and no Switchyard bearer token either.
      expect((await call(base, 'GET', '/api/jobs/browse', { token: alice.refreshToken })).status).toBe(401);
      const core = await fetch(`${env.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${alice.refreshToken}` },
        body: JSON.stringify({ query: '{ me { createdBy } }' }),
      });
      expect(core.status).toBe(401);
    });

    it('lets only administrators issue refresh tokens, and logout ends the refresh token and its access tokens', async () => {
      const refused = await alice.client.gql(`mutation { issueUcloudRefreshToken(user: "alice") }`);
      expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const missing = await env.admin.gql(`mutation { issueUcloudRefreshToken(user: "nobody") }`);
      expect(missing.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
      const second = (await env.admin.ok(`mutation { issueUcloudRefreshToken(user: "alice") }`)).issueUcloudRefreshToken as string;
      const access = (await call(base, 'POST', '/auth/refresh', { token: second })).body.accessToken as string;
      expect((await call(base, 'GET', '/api/jobs/browse', { token: access })).status).toBe(200);
      expect(await call(base, 'POST', '/auth/logout', { token: second })).toEqual({ status: 200, body: {} });
      expect((await call(base, 'POST', '/auth/refresh', { token: second })).status).toBe(401);
      expect(await call(base, 'GET', '/api/jobs/browse', { token: access })).toEqual({
        status: 401,
        body: { statusCode: 401, why: 'Unauthorized', errorCode: null },
      });
      // The first pair still works.
      expect((await call(base, 'GET', '/api/jobs/browse', { token: alice.accessToken })).status).toBe(200);
    });
  });

  describe('products', () => {
    it('browses the compute products with their prices and the balance (v1 and v2), and retrieveProducts with their support', async () => {
      const v1 = await call(base, 'GET', '/api/products/browse?itemsPerPage=50&filterArea=COMPUTE', { token: alice.accessToken });
      expect(v1.status).toBe(200);
      expect(v1.body.next).toBeNull();
      expect(v1.body.items.map((p: any) => p.name)).toEqual(['local-small', 'local-large']);
      expect(v1.body.items[0]).toMatchObject({
        type: 'compute',
        name: 'local-small',
        category: { name: 'local-cpu', provider: 'local' },
        pricePerUnit: 1,
        unitOfPrice: 'CREDITS_PER_MINUTE',
        chargeType: 'ABSOLUTE',
        productType: 'COMPUTE',
        cpu: 1,
        memoryInGigs: 1,
        gpu: 0,
        freeToUse: false,
        balance: null,
      });
      const paged = await call(base, 'GET', '/api/products/browse?itemsPerPage=1&filterArea=COMPUTE&includeBalance=true', {
        token: alice.accessToken,
      });
      expect(paged.body.items).toEqual([expect.objectContaining({ name: 'local-small', balance: 1_000_000_000 })]);
      const rest = await call(base, 'GET', `/api/products/browse?itemsPerPage=1&filterArea=COMPUTE&next=${paged.body.next}`, {
        token: alice.accessToken,
      });
      expect(rest.body).toMatchObject({ items: [expect.objectContaining({ name: 'local-large', pricePerUnit: 3 })], next: null });
      expect((await call(base, 'GET', '/api/products/browse?itemsPerPage=50&filterArea=STORAGE', { token: alice.accessToken })).body.items).toEqual(
        [],
      );
      const v2 = await call(base, 'GET', '/api/products/v2/browse?itemsPerPage=50&filterProductType=COMPUTE&filterProvider=&filterName=local-large', {
        token: alice.accessToken,
      });
      expect(v2.body.items).toEqual([
        expect.objectContaining({ name: 'local-large', price: 3, category: expect.objectContaining({ accountingFrequency: 'PERIODIC_MINUTE' }) }),
      ]);
      const support = await call(base, 'GET', '/api/jobs/retrieveProducts', { token: alice.accessToken });
      expect(Object.keys(support.body.productsByProvider)).toEqual(['local']);
      expect(support.body.productsByProvider.local[0]).toMatchObject({
        product: { name: 'local-small', pricePerUnit: 1 },
        support: { product: PRODUCT, native: { enabled: true, terminal: true, timeExtension: true, logs: true }, docker: { enabled: false } },
      });
    });
  });

  describe('jobs', () => {
    it('creates a job, follows it over the websocket, extends it, opens a terminal and terminates it, as the reference does', async () => {
      const created = await call(base, 'POST', '/api/jobs', {
        token: alice.accessToken,
        body: { items: [batchJob('echo "var is $var"; sleep 60', { timeAllocation: { hours: 5, minutes: 0, seconds: 0 } })] },
      });
      expect(created.status).toBe(200);
      expect(created.body).toEqual({ responses: [{ id: expect.any(String) }] });
      const id = created.body.responses[0].id as string;

      // jobs.follow over UCloud's websocket protocol.
      const { ws, frames, protocol } = await openSocket(base);
      expect(protocol).toBe('binary');
      ws.send(JSON.stringify({ call: 'jobs.follow', streamId: '0', payload: { id }, bearer: alice.accessToken }));
      await eventually(async () => frames.some((f) => f.payload?.log?.some((l: any) => l.stdout?.includes('var is Example'))), {
        timeoutMs: 20_000,
        what: 'the job output over the websocket',
      });
      expect(frames[0]).toMatchObject({ type: 'message', streamId: '0', payload: { initialJob: { id, owner: { createdBy: 'alice' } } } });
      expect(frames[0].payload.newStatus.state).toMatch(/IN_QUEUE|RUNNING/);
      await eventually(
        async () =>
          frames.some((f) => f.payload?.updates?.some((u: any) => u.state === 'RUNNING')) || frames[0].payload.newStatus.state === 'RUNNING',
        {
          what: 'RUNNING over the websocket',
        },
      );

      const running = await waitUcloudState(base, alice.accessToken, id, ['RUNNING']);
      expect(running.specification).toMatchObject({
        application: { name: 'a-batch-application', version: '1.0.0' },
        product: PRODUCT,
        replicas: 1,
        timeAllocation: { hours: 5, minutes: 0, seconds: 0 },
        parameters: { var: { type: 'text', value: 'Example' } },
      });
      expect(running.status.expiresAt).toBeGreaterThan(running.status.startedAt);
      expect(running.updates.map((u: any) => u.state)).toContain('RUNNING');

      // Extend by an hour, as the reference does.
      const extended = await call(base, 'POST', '/api/jobs/extend', {
        token: alice.accessToken,
        body: { items: [{ jobId: id, requestedTime: { hours: 1, minutes: 0, seconds: 0 } }] },
      });
      expect(extended).toEqual({ status: 200, body: { responses: [{}] } });
      const after = await retrieve(base, alice.accessToken, id);
      expect(after.specification.timeAllocation).toEqual({ hours: 6, minutes: 0, seconds: 0 });
      expect(after.status.expiresAt).toBe(running.status.expiresAt + 3_600_000);
      expect(after.updates.some((u: any) => u.newTimeAllocation === 3_600_000)).toBe(true);

      // A terminal, as "Starting an interactive terminal session" opens one (rank 0: the job has one).
      const session = await call(base, 'POST', '/api/jobs/interactiveSession', {
        token: alice.accessToken,
        body: { items: [{ id, rank: 0, sessionType: 'SHELL' }] },
      });
      expect(session.status).toBe(200);
      expect(session.body.responses[0]).toMatchObject({ providerId: 'local', session: { type: 'shell', jobId: id, rank: 0 } });
      expect(session.body.responses[0].session.sessionIdentifier).toContain('/api/v1/sessions/shell');

      // Terminate early: the follow stream ends with its response frame.
      expect(await call(base, 'POST', '/api/jobs/terminate', { token: alice.accessToken, body: { items: [{ id }] } })).toEqual({
        status: 200,
        body: { responses: [{}] },
      });
      const end = (await eventually(async () => frames.find((f) => f.type === 'response'), {
        timeoutMs: 20_000,
        what: 'the final response frame',
      })) as any;
      expect(end).toMatchObject({ type: 'response', streamId: '0', status: 200 });
      const messages = frames.filter((f) => f.type === 'message');
      expect(messages.at(-1).payload.newStatus.state).toMatch(/SUCCESS|FAILURE/);
      expect(messages.flatMap((f) => f.payload.updates.map((u: any) => u.state))).toContain('CANCELING');
      await closeSocket(ws);

      const ended = await retrieve(base, alice.accessToken, id);
      expect(FINAL).toContain(ended.status.state);
      // The same job through the core API.
      const core = await alice.client.ok(
        `query ($id: ID!) { job(id: $id) { status { state } specification { application { name version } command } } }`,
        { id },
      );
      expect(core.job).toMatchObject({
        status: { state: ended.status.state },
        specification: { application: { name: 'a-batch-application', version: '1.0.0' }, command: ['sh', '-c', 'echo "var is $var"; sleep 60'] },
      });
    });

    it('follows a job that has ended: its snapshot, then the final response; an unknown job or a bad token ends the stream with 404 or 401', async () => {
      const created = await call(base, 'POST', '/api/jobs', { token: alice.accessToken, body: { items: [batchJob('echo done')] } });
      const id = created.body.responses[0].id as string;
      await waitUcloudState(base, alice.accessToken, id, FINAL);
      const { ws, frames } = await openSocket(base);
      ws.send(JSON.stringify({ call: 'jobs.follow', streamId: 'a', payload: { id }, bearer: alice.accessToken }));
      ws.send(JSON.stringify({ call: 'jobs.follow', streamId: 'b', payload: { id: 'no-such-job' }, bearer: alice.accessToken }));
      ws.send(JSON.stringify({ call: 'jobs.follow', streamId: 'c', payload: { id }, bearer: 'not-a-token' }));
      ws.send(JSON.stringify({ call: 'jobs.browse', streamId: 'd', payload: {}, bearer: alice.accessToken }));
      ws.send('not json');
      await eventually(async () => frames.filter((f) => f.type === 'response').length === 5, { what: 'five response frames' });
      const responses = Object.fromEntries(frames.filter((f) => f.type === 'response').map((f) => [f.streamId, f]));
      expect(responses.a.status).toBe(200);
      expect(responses.b).toMatchObject({ status: 404, payload: { statusCode: 404, errorCode: 'NOT_FOUND' } });
      expect(responses.c).toMatchObject({ status: 401, payload: { statusCode: 401, why: 'Unauthorized' } });
      expect(responses.d.status).toBe(404);
      expect(responses.null).toMatchObject({ status: 400, payload: { statusCode: 400 } });
      const snapshot = frames.find((f) => f.type === 'message' && f.streamId === 'a');
      expect(snapshot.payload.initialJob.id).toBe(id);
      expect(snapshot.payload.log.map((l: any) => l.stdout)).toContain('done');
      expect(FINAL).toContain(snapshot.payload.newStatus.state);
      await closeSocket(ws);
    });

    it('suspends and unsuspends a running job, and tells how busy its provider is', async () => {
      const created = await call(base, 'POST', '/api/jobs', { token: alice.accessToken, body: { items: [batchJob('sleep 60')] } });
      const id = created.body.responses[0].id as string;
      await waitUcloudState(base, alice.accessToken, id, ['RUNNING']);
      const utilization = await call(base, 'GET', `/api/jobs/retrieveUtilization?jobId=${id}`, { token: alice.accessToken });
      expect(utilization.status).toBe(200);
      expect(utilization.body.capacity.cpu).toBeGreaterThan(0);
      expect(utilization.body.capacity.memory).toBeGreaterThan(1024 ** 2);
      expect(utilization.body.queueStatus).toEqual({ running: expect.any(Number), pending: expect.any(Number) });
      expect(await call(base, 'POST', '/api/jobs/suspend', { token: alice.accessToken, body: { items: [{ id }] } })).toEqual({
        status: 200,
        body: { responses: [{}] },
      });
      await waitUcloudState(base, alice.accessToken, id, ['SUSPENDED']);
      // Suspending it again is refused as the core refuses it: it is not running.
      expect((await call(base, 'POST', '/api/jobs/suspend', { token: alice.accessToken, body: { items: [{ id }] } })).body).toMatchObject({
        statusCode: 400,
        errorCode: 'INVALID_STATE',
      });
      expect((await call(base, 'POST', '/api/jobs/unsuspend', { token: alice.accessToken, body: { items: [{ id }] } })).status).toBe(200);
      await waitUcloudState(base, alice.accessToken, id, ['RUNNING']);
      expect((await call(base, 'POST', '/api/jobs/terminate', { token: alice.accessToken, body: { items: [{ id }] } })).status).toBe(200);
      await waitUcloudState(base, alice.accessToken, id, FINAL);
    });

    it('browses jobs in pages of itemsPerPage with an opaque next, newest first or ascending, filtered by state', async () => {
      const carol = await ucloudUser(env, base, 'carol');
      const ids: string[] = [];
      for (const word of ['one', 'two', 'three']) {
        const created = await call(base, 'POST', '/api/jobs', {
          token: carol.accessToken,
          body: { items: [batchJob(`echo ${word}`, { name: word })] },
        });
        ids.push(created.body.responses[0].id);
      }
      for (const id of ids) await waitUcloudState(base, carol.accessToken, id, FINAL);
      const first = await call(base, 'GET', '/api/jobs/browse?itemsPerPage=2', { token: carol.accessToken });
      expect(first.body.itemsPerPage).toBe(2);
      expect(first.body.items.map((j: any) => j.specification.name)).toEqual(['three', 'two']);
      expect(typeof first.body.next).toBe('string');
      const second = await call(base, 'GET', `/api/jobs/browse?itemsPerPage=2&next=${encodeURIComponent(first.body.next)}`, {
        token: carol.accessToken,
      });
      expect(second.body.items.map((j: any) => j.specification.name)).toEqual(['one']);
      expect(second.body.next).toBeNull();
      const ascending = await call(base, 'GET', '/api/jobs/browse?itemsPerPage=50&sortDirection=ascending&filterProvider=&includeProduct=true', {
        token: carol.accessToken,
      });
      expect(ascending.body.items.map((j: any) => j.id)).toEqual(ids);
      expect(ascending.body.items[0].status.resolvedProduct).toMatchObject({ name: 'local-small', pricePerUnit: 1 });
      const running = await call(base, 'GET', '/api/jobs/browse?itemsPerPage=50&filterState=RUNNING', { token: carol.accessToken });
      expect(running.body.items).toEqual([]);
      const byIds = await call(base, 'GET', `/api/jobs/browse?itemsPerPage=50&filterIds=${ids[0]},${ids[2]}`, { token: carol.accessToken });
      expect(byIds.body.items.map((j: any) => j.id).sort()).toEqual([ids[0], ids[2]].sort());
      // Alice sees none of carol's jobs.
      const aliceSees = await call(base, 'GET', `/api/jobs/browse?itemsPerPage=50&filterIds=${ids.join(',')}`, { token: alice.accessToken });
      expect(aliceSees.body.items).toEqual([]);
      expect((await call(base, 'GET', `/api/jobs/retrieve?id=${ids[0]}`, { token: alice.accessToken })).status).toBe(404);
      // 0 is what the Go client sends for a page size not set: the default.
      expect((await call(base, 'GET', '/api/jobs/browse?itemsPerPage=0', { token: carol.accessToken })).body).toMatchObject({ itemsPerPage: 50 });
      expect((await call(base, 'GET', '/api/jobs/browse?itemsPerPage=251', { token: carol.accessToken })).body).toMatchObject({ statusCode: 400 });
      expect((await call(base, 'GET', '/api/jobs/browse?filterState=NAPPING', { token: carol.accessToken })).body).toMatchObject({ statusCode: 400 });
    });

    it('acts in the project the Project header names: its jobs, its wallets; a project the caller is not in is 403', async () => {
      const dan = await ucloudUser(env, base, 'dan', false);
      await env.admin.ok(`mutation { createProject(id: "genomics", title: "Genomics", pi: "dan") { id } }`);
      await env.admin.ok(`mutation ($g: GrantInput!) { grantCredits(grant: $g) { balance } }`, {
        g: { owner: 'genomics', isProject: true, provider: 'local', category: 'local-cpu', amount: 5_000 },
      });
      // Dan has no credits of his own; the project pays.
      const own = await call(base, 'POST', '/api/jobs', { token: dan.accessToken, body: { items: [batchJob('echo mine')] } });
      expect(own).toMatchObject({ status: 402, body: { statusCode: 402, errorCode: 'NOT_ENOUGH_COMPUTE_CREDITS' } });
      const created = await call(base, 'POST', '/api/jobs', {
        token: dan.accessToken,
        project: 'genomics',
        body: { items: [batchJob('echo ours')] },
      });
      expect(created.status).toBe(200);
      const id = created.body.responses[0].id as string;
      const job = await retrieve(base, dan.accessToken, id);
      expect(job.owner).toEqual({ createdBy: 'dan', project: 'genomics' });
      const inProject = await call(base, 'GET', '/api/jobs/browse?itemsPerPage=50', { token: dan.accessToken, project: 'genomics' });
      expect(inProject.body.items.map((j: any) => j.id)).toEqual([id]);
      expect((await call(base, 'GET', '/api/jobs/browse?itemsPerPage=50', { token: dan.accessToken })).body.items).toEqual([]);
      const wallets = await call(base, 'GET', '/api/accounting/wallets/browse?', { token: dan.accessToken, project: 'genomics' });
      expect(wallets.body.items).toEqual([
        expect.objectContaining({
          owner: { type: 'project', projectId: 'genomics' },
          paysFor: { name: 'local-cpu', provider: 'local' },
          unit: 'CREDITS_PER_MINUTE',
        }),
      ]);
      // Nothing moves while the refusals are checked.
      await waitUcloudState(base, dan.accessToken, id, FINAL);
      const before = await env.snapshot();
      const outsider = await call(base, 'POST', '/api/jobs', {
        token: alice.accessToken,
        project: 'genomics',
        body: { items: [batchJob('echo no')] },
      });
      expect(outsider).toMatchObject({ status: 403, body: { statusCode: 403, errorCode: 'FORBIDDEN' } });
      expect((await call(base, 'GET', '/api/jobs/browse', { token: alice.accessToken, project: 'genomics' })).status).toBe(403);
      expect((await env.snapshot()).jobs).toEqual(before.jobs);
      // Over the websocket the workspace is the message's `project`.
      const { ws, frames } = await openSocket(base);
      ws.send(JSON.stringify({ call: 'jobs.follow', streamId: 'dan', payload: { id }, bearer: dan.accessToken, project: 'genomics' }));
      ws.send(JSON.stringify({ call: 'jobs.follow', streamId: 'alice', payload: { id }, bearer: alice.accessToken, project: 'genomics' }));
      await eventually(async () => frames.filter((f) => f.type === 'response').length === 2, { what: 'both streams to end' });
      expect(frames.find((f) => f.type === 'message' && f.streamId === 'dan').payload.initialJob.owner).toEqual({
        createdBy: 'dan',
        project: 'genomics',
      });
      expect(frames.find((f) => f.type === 'response' && f.streamId === 'dan').status).toBe(200);
      expect(frames.find((f) => f.type === 'response' && f.streamId === 'alice')).toMatchObject({ status: 403, payload: { statusCode: 403 } });
      expect(frames.some((f) => f.type === 'message' && f.streamId === 'alice')).toBe(false);
      await closeSocket(ws);
    });
  });

  describe('refusals', () => {
    it('refuses malformed bodies, what cannot be mapped and bad tokens in UCloud shapes, changing nothing', async () => {
      // The jobs before have ended; their last charges may land just after their final state shows.
      const before = await settled(env);
      const post = (body: unknown, token = alice.accessToken) => call(base, 'POST', '/api/jobs', { token, body });
      const notJson = await call(base, 'POST', '/api/jobs', { token: alice.accessToken, raw: '{"items": [' });
      expect(notJson).toEqual({ status: 400, body: { statusCode: 400, why: 'The request body is not valid JSON', errorCode: 'BAD_REQUEST' } });
      expect((await post({ items: [] })).body).toMatchObject({ statusCode: 400, errorCode: 'BAD_REQUEST' });
      expect((await post({ items: [{ ...batchJob('true'), product: undefined }] })).body.why).toContain('product');
      // Connecting two jobs (peer resources) and files have no counterpart; neither do file parameters.
      const peer = await post({ items: [batchJob('true', { resources: [{ type: 'peer', hostname: 'database', jobId: '4101' }] })] });
      expect(peer).toMatchObject({ status: 400, body: { why: expect.stringContaining('peer') } });
      const file = await post({
        items: [batchJob('true', { parameters: { dataStore: { type: 'file', path: '/123/acme-database', readOnly: false } } })],
      });
      expect(file).toMatchObject({ status: 400, body: { why: expect.stringContaining('file') } });
      // One bad item refuses the whole call: the good one before it is not created either.
      const mixed = await post({ items: [batchJob('echo fine'), batchJob('true', { replicas: 0 })] });
      expect(mixed).toMatchObject({ status: 400, body: { why: expect.stringContaining('items.1') } });
      expect(await post({ items: [batchJob('true')] }, 'not-a-token')).toEqual({
        status: 401,
        body: { statusCode: 401, why: 'Unauthorized', errorCode: null },
      });
      expect((await call(base, 'POST', '/api/jobs', { body: { items: [batchJob('true')] } })).status).toBe(401);
      const unknownProduct = await post({ items: [batchJob('true', { product: { id: 'nope', category: 'nope', provider: 'local' } })] });
      expect(unknownProduct).toMatchObject({ status: 400, body: { why: 'product local/nope does not exist', errorCode: 'INVALID_INPUT' } });
      expect(await call(base, 'POST', '/api/jobs/terminate', { token: alice.accessToken, body: { items: [{ id: 'no-such-job' }] } })).toMatchObject({
        status: 404,
        body: { statusCode: 404, errorCode: 'NOT_FOUND' },
      });
      expect((await call(base, 'POST', '/api/jobs/extend', { token: alice.accessToken, body: { items: [{ jobId: 'x' }] } })).status).toBe(400);
      // A body over the limit is refused by its Content-Length, before it is sent (so the refusal cannot race the upload).
      const huge = await new Promise<Answer>((resolve, reject) => {
        const req = request(`${base}/api/jobs`, {
          method: 'POST',
          headers: { authorization: `Bearer ${alice.accessToken}`, 'content-type': 'application/json', 'content-length': String(2 * 1024 * 1024) },
        });
        req.on('response', (res) => {
          let text = '';
          res.on('data', (chunk) => (text += String(chunk)));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
            req.destroy();
          });
        });
        req.on('error', reject);
        req.flushHeaders();
      });
      expect(huge).toMatchObject({ status: 413, body: { statusCode: 413, errorCode: 'PAYLOAD_TOO_LARGE' } });
      const after = await env.snapshot();
      expect(after.jobs).toEqual(before.jobs);
      expect(after.tokens).toEqual(before.tokens);
      expect(after.wallets).toEqual(before.wallets);
    });

    it('answers unknown and unmapped calls as UCloud answers a call it does not serve (404)', async () => {
      const search = await call(base, 'POST', '/api/jobs/search', { token: alice.accessToken, body: { itemsPerPage: 50, query: 'x' } });
      expect(search).toMatchObject({
        status: 404,
        body: { statusCode: 404, errorCode: 'NOT_SUPPORTED', why: expect.stringContaining('jobs.search') },
      });
      const apps = await call(base, 'GET', '/api/hpc/apps?itemsPerPage=50&page=0', { token: alice.accessToken });
      expect(apps).toMatchObject({ status: 404, body: { errorCode: 'NOT_SUPPORTED' } });
      const unknown = await call(base, 'GET', '/api/nothing', { token: alice.accessToken });
      expect(unknown).toEqual({ status: 404, body: { statusCode: 404, why: 'No call at GET /api/nothing', errorCode: 'NOT_FOUND' } });
      expect((await call(base, 'DELETE', '/api/jobs', { token: alice.accessToken })).status).toBe(404);
    });
  });
});

describe('UCloud dialect: running out of compute credits', () => {
  let env: TenancyGateway;
  let base: string;

  beforeAll(async () => {
    // A price "minute" of half a second, charged every 200 ms: a few credits last a second or two.
    env = await startTenancyGateway({ dialects: ['ucloud'], chargeIntervalMs: 200, unitMs: { CREDITS_PER_MINUTE: 500 } });
    base = `${env.url}/ucloud`;
  }, 60_000);

  afterAll(async () => {
    await env?.stop();
  });

  it('stops the job when the wallet runs dry, as the reference shows, and then refuses new jobs with 402 NOT_ENOUGH_COMPUTE_CREDITS', async () => {
    const erin = await ucloudUser(env, base, 'erin', false);
    await fund(env.admin, 'erin', 'local', 3);
    const wallets = await call(base, 'GET', '/api/accounting/wallets/browse?', { token: erin.accessToken });
    expect(wallets.body.items[0].allocations[0]).toMatchObject({ balance: 3, initialBalance: 3 });
    const created = await call(base, 'POST', '/api/jobs', { token: erin.accessToken, body: { items: [batchJob('sleep 60')] } });
    expect(created.status).toBe(200);
    const id = created.body.responses[0].id as string;
    const ended = await waitUcloudState(base, erin.accessToken, id, FINAL);
    expect(ended.updates.map((u: any) => u.state)).toContain('RUNNING');
    expect(ended.updates.some((u: any) => /No more credits/.test(u.status ?? ''))).toBe(true);
    const empty = await call(base, 'GET', '/api/accounting/wallets/browse?', { token: erin.accessToken });
    expect(empty.body.items[0].allocations[0].balance).toBe(0);
    const before = await env.snapshot();
    const refused = await call(base, 'POST', '/api/jobs', { token: erin.accessToken, body: { items: [batchJob('sleep 60')] } });
    expect(refused).toMatchObject({ status: 402, body: { statusCode: 402, errorCode: 'NOT_ENOUGH_COMPUTE_CREDITS' } });
    const support = await call(base, 'GET', '/api/jobs/retrieveProducts', { token: erin.accessToken });
    expect(support.body.productsByProvider).toEqual({});
    expect((await env.snapshot()).jobs).toEqual(before.jobs);
  });
});
