/**
 * The OpenPAI dialect driven by OpenPAI's own JS SDK (@microsoft/openpai-js-sdk)
 * against a running gateway on real NATS and Redis with the local provider:
 * log in, virtual clusters, a protocol-v2 job run to SUCCEEDED, filtered lists,
 * stopping a running job, and refusals in OpenPAI's shapes that change nothing.
 * Each job is checked through the core GraphQL API too.
 */
import { PAIV2 } from '@microsoft/openpai-js-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { eventually, type TestClient } from './support/graphql-client.js';
import { startTenancyGateway, type TenancyGateway } from './support/tenancy-gateway.js';

const PASSWORD = 'alice-secret-1';
let env: TenancyGateway;
let alice: TestClient;
let rest: string;
let pai: PAIV2.OpenPAIClient;
/** The SDK's cluster settings: its clients keep the token they logged in with here. */
let cluster: PAIV2.IPAICluster;

/** A protocol-v2 job of one task role, as OpenPAI users write them. */
function protocol(name: string, commands: string[], extra: Record<string, unknown> = {}) {
  return {
    protocolVersion: 2,
    name,
    type: 'job',
    prerequisites: [{ type: 'dockerimage', name: 'img', uri: 'ubuntu:22.04' }],
    taskRoles: { worker: { instances: 1, dockerImage: 'img', resourcePerInstance: { cpu: 1, memoryMB: 512, gpu: 0 }, commands } },
    ...extra,
  } as never;
}

async function paiState(client: PAIV2.OpenPAIClient, user: string, name: string): Promise<string> {
  return ((await client.job.getJob(user, name)) as { jobStatus: { state: string } }).jobStatus.state;
}

function waitPaiState(user: string, name: string, states: string[]): Promise<string> {
  return eventually(
    async () => {
      const state = await paiState(pai, user, name);
      return states.includes(state) ? state : null;
    },
    { timeoutMs: 20_000, what: `${user}~${name} to be ${states.join(' or ')}` },
  ) as Promise<string>;
}

/** What the SDK threw, as OpenPAI answered it. */
async function refusal(promise: Promise<unknown>): Promise<{ type: string; status: number; code: string; message: string }> {
  const error = (await promise.then(
    () => null,
    (e: unknown) => e,
  )) as { constructor: { name: string }; status: number; data: { code: string; message: string } } | null;
  if (!error) throw new Error('the call succeeded');
  return { type: error.constructor.name, status: error.status, code: error.data.code, message: error.data.message };
}

const raw = (path: string, init: RequestInit = {}) => fetch(`${rest}${path}`, init);

beforeAll(async () => {
  env = await startTenancyGateway({ dialects: ['openpai'], utilizationIntervalMs: 200 });
  alice = await env.user('alice', { password: PASSWORD });
  rest = `${env.url}/openpai`;
  // As OpenPAI users configure it: a REST server URI without a scheme, a user and a password.
  cluster = { rest_server_uri: rest.replace(/^http:\/\//, ''), username: 'alice', password: PASSWORD, https: false };
  pai = new PAIV2.OpenPAIClient(cluster);
  // Without a token the SDK logs in (POST /api/v2/authn/basic/login) before its first call.
  await pai.virtualCluster.listVirtualClusters();
  expect(cluster.token).toBeTruthy();
}, 60_000);

afterAll(async () => {
  await env?.stop();
});

describe('OpenPAI identity', () => {
  it('logs in with the Switchyard user name and password (v2 basic login and v1 token) and the token works on the core API', async () => {
    const login = (await pai.authn.basicLogin('alice', PASSWORD)) as { token: string; user: string; admin: boolean };
    expect(login).toMatchObject({ user: 'alice', admin: false });
    cluster.token = login.token;
    const v1 = await raw('/api/v1/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: PASSWORD, expiration: 600 }),
    });
    expect(v1.status).toBe(200);
    const { token } = (await v1.json()) as { token: string };
    // One Switchyard bearer token, good on both APIs.
    const me = await fetch(`${env.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: '{ me { createdBy } }' }),
    });
    expect(((await me.json()) as { data: { me: { createdBy: string } } }).data.me.createdBy).toBe('alice');
  });

  it('refuses a wrong password with 400 and a bad token with 401 UnauthorizedUserError, changing nothing', async () => {
    const before = await env.snapshot();
    const wrong = await refusal(pai.authn.basicLogin('alice', 'not-the-password'));
    expect(wrong).toMatchObject({ status: 400, code: 'IncorrectPasswordError' });
    const stranger = new PAIV2.OpenPAIClient({ rest_server_uri: rest, token: 'not-a-token', https: false });
    const listed = await refusal(stranger.job.listJobs());
    expect(listed).toEqual({
      type: 'UnauthorizedUserError',
      status: 401,
      code: 'UnauthorizedUserError',
      message: 'Guest is not allowed to do this operation.',
    });
    expect(await refusal(stranger.job.createJob(protocol('never', ['echo no'])))).toMatchObject({ status: 401, code: 'UnauthorizedUserError' });
    const noHeader = await raw('/api/v2/virtual-clusters');
    expect(noHeader.status).toBe(401);
    expect(await noHeader.json()).toEqual({ code: 'UnauthorizedUserError', message: 'Guest is not allowed to do this operation.' });
    // The failed login counted against the throttle only; no job, token or user changed.
    const after = await env.snapshot();
    expect(after.jobs).toEqual(before.jobs);
    expect(after.tokens).toEqual(before.tokens);
    expect(after.users).toEqual(before.users);
  });
});

describe('OpenPAI virtual clusters', () => {
  it('lists the providers as virtual clusters, with "default" for the whole pool', async () => {
    const clusters = (await eventually(
      async () => {
        const list = await pai.virtualCluster.listVirtualClusters();
        return list.local ? list : null;
      },
      { what: 'the local provider as a virtual cluster' },
    )) as Record<string, PAIV2.IVirtualCluster & { resourcesTotal: { cpu: number } }>;
    expect(Object.keys(clusters).sort()).toEqual(['default', 'local']);
    expect(clusters.local!.resourcesTotal.cpu).toBeGreaterThan(0);
    expect(clusters.default!.resourcesTotal).toEqual(clusters.local!.resourcesTotal);
    expect(clusters.local!.capacity).toBe(100);
    const one = await pai.virtualCluster.getVirtualCluster('local');
    expect(one).toMatchObject({ resourcesTotal: clusters.local!.resourcesTotal });
    expect(await refusal(pai.virtualCluster.getVirtualCluster('nowhere'))).toMatchObject({ status: 404, code: 'NoVirtualClusterError' });
  });
});

describe('OpenPAI jobs', () => {
  it('runs a protocol-v2 job to SUCCEEDED, the same job the core API shows', async () => {
    const created = await pai.job.createJob(protocol('hello', ['echo hello from openpai', 'sleep 0.3'], { defaults: { virtualCluster: 'local' } }));
    expect(created).toEqual({ status: 202, message: 'Update job hello for user alice successfully.' });
    expect(await waitPaiState('alice', 'hello', ['SUCCEEDED', 'FAILED', 'STOPPED'])).toBe('SUCCEEDED');
    const detail = (await pai.job.getJob('alice', 'hello')) as any;
    expect(detail).toMatchObject({
      name: 'hello',
      jobStatus: { username: 'alice', state: 'SUCCEEDED', executionType: 'START', appExitCode: 0, virtualCluster: 'local' },
    });
    expect(detail.taskRoles.worker.taskStatuses).toHaveLength(1);
    expect(detail.jobStatus.completedTime).toBeGreaterThanOrEqual(detail.jobStatus.launchedTime);
    // The core API: the same job, by the id OpenPAI shows as debugId.
    const core = await alice.ok(
      `query ($id: ID!) { job(id: $id) { id status { state exitCode } specification { name command replicas product { provider } } logs { stdout } } }`,
      {
        id: detail.debugId,
      },
    );
    expect(core.job).toMatchObject({
      status: { state: 'SUCCESS', exitCode: 0 },
      specification: { name: 'hello', command: ['sh', '-c', 'echo hello from openpai && sleep 0.3'], replicas: 1, product: { provider: 'local' } },
    });
    expect(core.job.logs.map((l: { stdout: string }) => l.stdout)).toContain('hello from openpai');
    // The config comes back as protocol v2 YAML, which the SDK parses.
    const config = (await pai.job.getJobConfig('alice', 'hello')) as any;
    expect(config).toMatchObject({ protocolVersion: 2, name: 'hello', type: 'job', defaults: { virtualCluster: 'local' } });
    expect(config.taskRoles.worker).toMatchObject({
      instances: 1,
      commands: ['echo hello from openpai', 'sleep 0.3'],
      resourcePerInstance: { cpu: 1, memoryMB: 512, gpu: 0 },
    });
  });

  it('stops a running job (executionType STOP): STOPPED, terminated in the core', async () => {
    await pai.job.createJob(protocol('long', ['sleep 60']));
    await waitPaiState('alice', 'long', ['RUNNING']);
    expect(await pai.job.updateJobExecutionType('alice', 'long', 'STOP')).toEqual({ status: 202, message: 'Execute job alice~long successfully.' });
    expect(await waitPaiState('alice', 'long', ['STOPPED'])).toBe('STOPPED');
    const detail = (await pai.job.getJob('alice', 'long')) as any;
    expect(detail.jobStatus).toMatchObject({ executionType: 'STOP', virtualCluster: 'default' });
    const core = await alice.ok(`query ($id: ID!) { job(id: $id) { status { state } updates { state } } }`, { id: detail.debugId });
    expect(core.job.updates.map((u: { state: string | null }) => u.state)).toContain('CANCELING');
    // Stopping it again changes nothing and is answered the same.
    expect(await pai.job.updateJobExecutionType('alice', 'long', 'STOP')).toMatchObject({ status: 202 });
  });

  it('lists jobs with filters: user, state, virtual cluster, keyword, offset and limit, total count', async () => {
    const all = (await pai.job.listJobs({ username: 'alice' })) as any[];
    expect(all.map((j) => j.name)).toEqual(['long', 'hello']);
    expect(all[0]).toMatchObject({ username: 'alice', state: 'STOPPED', executionType: 'STOP', totalTaskNumber: 1, totalTaskRoleNumber: 1 });
    expect(((await pai.job.listJobs({ state: 'SUCCEEDED' })) as any[]).map((j) => j.name)).toEqual(['hello']);
    expect(((await pai.job.listJobs({ state: 'STOPPED,FAILED' })) as any[]).map((j) => j.name)).toEqual(['long']);
    expect(((await pai.job.listJobs({ vc: 'local' })) as any[]).map((j) => j.name)).toEqual(['hello']);
    expect(((await pai.job.listJobs({ keyword: 'hel' })) as any[]).map((j) => j.name)).toEqual(['hello']);
    expect(((await pai.job.listJobs({ offset: 1, limit: 1 })) as any[]).map((j) => j.name)).toEqual(['hello']);
    expect(((await pai.job.listJobs({ order: 'submissionTime,ASC' })) as any[]).map((j) => j.name)).toEqual(['hello', 'long']);
    const counted = (await pai.job.listJobs({ state: 'RUNNING,WAITING', withTotalCount: true })) as any;
    expect(counted).toEqual({ totalCount: 0, data: [] });
    const page = (await pai.job.listJobs({ limit: 1, withTotalCount: true })) as any;
    expect(page.totalCount).toBe(2);
    expect(page.data).toHaveLength(1);
    // The core API sees the same two jobs.
    const core = await alice.ok(`{ jobs(first: 10) { totalCount edges { node { specification { name } } } } }`);
    expect(core.jobs.edges.map((e: any) => e.node.specification.name).sort()).toEqual(['hello', 'long']);
    expect(await refusal(pai.job.listJobs({ state: 'NAPPING' }))).toMatchObject({ status: 400, code: 'InvalidParametersError' });
  });

  it("hides another user's job as NoJobError", async () => {
    await env.user('bob', { password: 'bob-secret-1' });
    const bob = new PAIV2.OpenPAIClient({ rest_server_uri: rest, username: 'bob', password: 'bob-secret-1', https: false });
    expect(await refusal(bob.job.getJob('alice', 'hello'))).toMatchObject({
      type: 'NoJobError',
      status: 404,
      code: 'NoJobError',
      message: 'Job alice~hello is not found.',
    });
    expect(await bob.job.listJobs({ username: 'alice' })).toEqual([]);
    expect(await refusal(bob.job.updateJobExecutionType('alice', 'hello', 'STOP'))).toMatchObject({ status: 404, code: 'NoJobError' });
  });
});

describe('OpenPAI and the core API', () => {
  it('shows a job made through the core API without a name under its id', async () => {
    const data = await alice.ok(`mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { id } error { code } } }`, {
      specs: [{ product: { id: 'local-small', provider: 'local' }, command: ['true'] }],
    });
    const id = data.createJobs[0].job.id as string;
    const listed = (await pai.job.listJobs({ username: 'alice', limit: 1 })) as any[];
    expect(listed).toEqual([expect.objectContaining({ name: id, debugId: id, username: 'alice', virtualCluster: 'local', totalTaskNumber: 1 })]);
    expect(((await pai.job.getJob('alice', id)) as any).debugId).toBe(id);
    await waitPaiState('alice', id, ['SUCCEEDED']);
  });
});

describe('OpenPAI refusals', () => {
  const post = (body: string) =>
    raw('/api/v2/jobs', { method: 'POST', headers: { 'content-type': 'text/yaml', authorization: `Bearer ${cluster.token}` }, body });

  it('refuses malformed YAML, a document outside protocol v2, what Switchyard cannot run and a duplicate name, changing nothing', async () => {
    await pai.job.createJob(protocol('taken', ['true']));
    await waitPaiState('alice', 'taken', ['SUCCEEDED']);
    const before = await env.snapshot();
    const malformed = await post('protocolVersion: 2\nname: [unclosed\n');
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ code: 'InvalidProtocolError', message: expect.stringContaining('not valid YAML') });
    const noRoles = await post('protocolVersion: 2\nname: x\ntype: job\n');
    expect(noRoles.status).toBe(400);
    expect(await noRoles.json()).toMatchObject({ code: 'InvalidProtocolError', message: expect.stringContaining('taskRoles') });
    const twoRoles = protocol('two', ['echo a']) as any;
    twoRoles.taskRoles.ps = twoRoles.taskRoles.worker;
    expect(await refusal(pai.job.createJob(twoRoles))).toMatchObject({
      status: 400,
      code: 'InvalidProtocolError',
      message: expect.stringContaining('one task role'),
    });
    expect(await refusal(pai.job.createJob(protocol('tpl', ['echo <% $parameters.x %>'])))).toMatchObject({
      status: 400,
      code: 'InvalidProtocolError',
    });
    expect(await refusal(pai.job.createJob(protocol('big', ['echo'], { defaults: { virtualCluster: 'nowhere' } })))).toEqual({
      type: 'PAIBaseError',
      status: 404,
      code: 'NoVirtualClusterError',
      message: 'Virtual cluster nowhere is not found.',
    });
    expect(await refusal(pai.job.createJob(protocol('taken', ['echo again'])))).toMatchObject({
      status: 409,
      code: 'ConflictJobError',
      message: 'Job alice~taken already exists.',
    });
    const after = await env.snapshot();
    expect(after.jobs).toEqual(before.jobs);
    expect(after.wallets).toEqual(before.wallets);
  });

  it('answers unknown and unmapped calls as OpenPAI answers an unknown API (404 NoApiError)', async () => {
    const headers = { authorization: `Bearer ${cluster.token}` };
    for (const [method, path] of [
      ['GET', '/api/v2/users'],
      ['GET', '/api/v2/jobs/alice~taken/events'],
      ['DELETE', '/api/v2/jobs'],
      ['GET', '/api/v1/jobs'],
    ] as const) {
      const res = await raw(path, { method, headers });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(await res.json()).toEqual({ code: 'NoApiError', message: `API ${path} is not found.` });
    }
    expect(await refusal(pai.job.getJob('alice', 'nope'))).toMatchObject({ type: 'NoJobError', status: 404 });
  });
});
