/**
 * The Apolo dialect driven by Apolo's own Python SDK (apolo-sdk from PyPI, in
 * a virtual environment: support/python-clients.ts) against a running gateway
 * on real NATS and Redis with the local provider, logged in without a browser
 * (APOLO_PASSED_CONFIG with a token the core API issued): presets and
 * capacity from /config, a job started from a preset, its status, listings by
 * status, tags and owner, its logs over the log websocket, exec into it, and
 * killing it. Then refusals in Apolo's shapes that change nothing: bad,
 * expired and other-key tokens, what Switchyard cannot run. Each job is
 * checked through the core GraphQL API too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { eventually, type TestClient } from './support/graphql-client.js';
import { PYTHON_INSTALL_TIMEOUT_MS, pythonWith, runPython } from './support/python-clients.js';
import { errorCode, startTenancyGateway, type TenancyGateway } from './support/tenancy-gateway.js';

/** The SDK the tests run: the newest release that installs on Python 3.11. */
const APOLO_SDK = 'apolo-sdk==26.8.1';

let env: TenancyGateway;
let alice: TestClient;
let python: string;
let aliceToken: string;
let api: string;
const configDirs: string[] = [];

const issue = async (user: string, ttlSeconds?: number): Promise<string> =>
  (await env.admin.ok(`mutation ($user: ID!, $ttl: Int) { issueApoloToken(user: $user, ttlSeconds: $ttl) }`, { user, ttl: ttlSeconds ?? null }))
    .issueApoloToken as string;

/**
 * Runs `body` (the inside of an async main, with `client` from apolo_sdk.get()) under a fresh
 * Apolo configuration logged in with `token`, and returns what it printed last as JSON.
 */
async function withSdk(token: string, body: string, project = 'alice'): Promise<any> {
  const dir = mkdtempSync(join(tmpdir(), 'sy-apolo-'));
  configDirs.push(dir);
  const passed = Buffer.from(JSON.stringify({ token, cluster: 'local', url: api, org_name: 'switchyard', project_name: project })).toString('base64');
  const script = [
    'import asyncio, json, sys',
    'import apolo_sdk',
    'from apolo_sdk import JobStatus',
    'async def wait_status(client, job_id, wanted):',
    '    for _ in range(600):',
    '        job = await client.jobs.status(job_id)',
    '        if job.status in wanted: return job',
    '        await asyncio.sleep(0.1)',
    '    raise RuntimeError(f"job {job_id} never reached {wanted}: {job.status}")',
    'async def names(client, **kw):',
    '    async with client.jobs.list(**kw) as it:',
    '        return [j.name or j.id async for j in it]',
    'async def main():',
    '    out = {}',
    '    async with apolo_sdk.get() as client:',
    ...body.split('\n').map((line) => `        ${line}`),
    '    print(json.dumps(out))',
    'asyncio.run(main())',
  ].join('\n');
  const stdout = await runPython(python, script, { env: { APOLO_CONFIG: dir, APOLO_PASSED_CONFIG: passed }, timeoutMs: 180_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

const raw = (path: string, token: string | null, init: RequestInit = {}) =>
  fetch(`${api}${path}`, { ...init, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...init.headers } });

beforeAll(async () => {
  // Start installing first: on a cold machine it takes a minute or two.
  const installing = pythonWith('apolo', [APOLO_SDK]);
  env = await startTenancyGateway({ dialects: ['apolo'], utilizationIntervalMs: 200 });
  alice = await env.user('alice');
  await env.user('bob');
  api = `${env.url}/apolo/api/v1`;
  aliceToken = await issue('alice');
  python = await installing;
  // The local provider's capacity is known (its presets and pool show in /config).
  await eventually(async () => (env.gateway.utilization.get('local') ? true : null), { what: 'the local provider capacity' });
}, PYTHON_INSTALL_TIMEOUT_MS);

afterAll(async () => {
  await env?.stop();
  for (const dir of configDirs) rmSync(dir, { recursive: true, force: true });
});

describe('Apolo daily work with apolo-sdk', () => {
  let result: any;

  beforeAll(async () => {
    result = await withSdk(
      aliceToken,
      String.raw`
out['username'] = client.config.username
out['cluster'] = client.config.cluster_name
out['org'] = client.config.org_name
out['project'] = client.config.project_name
out['presets'] = {n: {'cpu': p.cpu, 'memory': p.memory, 'credits_per_hour': str(p.credits_per_hour), 'gpu': p.nvidia_gpu} for n, p in client.config.presets.items()}
out['capacity'] = dict(await client.jobs.get_capacity())
image = client.parse.remote_image('ubuntu:22.04')
quick = await client.jobs.start(image=image, preset_name='local-small', command='echo quick', tags=['apolo-test'])
await wait_status(client, quick.id, {JobStatus.SUCCEEDED, JobStatus.FAILED})
job = await client.jobs.start(image=image, preset_name='local-small', name='daily', tags=['apolo-test', 'daily'], description='daily work',
    command='sh -c "echo hello from apolo; echo to stderr >&2; sleep 120"', life_span=3600)
out['started'] = {'id': job.id, 'status': job.status.value, 'owner': job.owner, 'preset': job.preset_name, 'cluster': job.cluster_name, 'name': job.name,
    'tags': list(job.tags), 'life_span': job.life_span, 'price': str(job.price_credits_per_hour), 'project': job.project_name}
running = await wait_status(client, job.id, {JobStatus.RUNNING})
out['running'] = {'status': running.status.value, 'started_at': running.history.started_at.isoformat(), 'description': running.description,
    'command': running.container.command, 'entrypoint': running.container.entrypoint, 'memory': running.container.resources.memory}
quick_done = await client.jobs.status(quick.id)
out['quick'] = {'status': quick_done.status.value, 'exit_code': quick_done.history.exit_code, 'transitions': [t.status.value for t in quick_done.history.transitions]}
out['list_running'] = await names(client, statuses={JobStatus.RUNNING})
out['list_succeeded'] = await names(client, statuses={JobStatus.SUCCEEDED})
out['list_pending'] = await names(client, statuses={JobStatus.PENDING})
out['list_tag_daily'] = await names(client, tags=['daily'])
out['list_tag_test'] = await names(client, tags=['apolo-test'])
out['list_reverse'] = await names(client, tags=['apolo-test'], reverse=True, limit=1)
out['list_owner_alice'] = await names(client, owners=['alice'])
out['list_owner_bob'] = await names(client, owners=['bob'])
out['list_name'] = await names(client, name='daily')
seen = b''
async with client.jobs.monitor(job.id) as it:
    async for chunk in it:
        seen += chunk
        if b'hello from apolo' in seen and b'to stderr' in seen: break
out['live_logs'] = seen.decode()
async def run_exec(cmd):
    data, code = b'', None
    async with client.jobs.exec(job.id, cmd, stdout=True, stderr=True) as stream:
        try:
            while True:
                message = await stream.read_out()
                if message is None: break
                data += message.data
        except apolo_sdk.StdStreamError as error:
            code = error.exit_code
    return {'out': data.decode(), 'exit_code': code}
out['exec'] = await run_exec('sh -c "echo exec says hi; echo second line; exit 3"')
out['exec_ok'] = await run_exec('echo "two words" $HOME')
await client.jobs.kill(job.id)
killed = await wait_status(client, job.id, {JobStatus.CANCELLED, JobStatus.FAILED, JobStatus.SUCCEEDED})
out['killed'] = {'status': killed.status.value, 'reason': killed.history.reason}
async with client.jobs.monitor(job.id) as it:
    out['all_logs'] = b''.join([chunk async for chunk in it]).decode()
out['list_cancelled'] = await names(client, statuses={JobStatus.CANCELLED})
await client.jobs.kill(job.id)
out['killed_twice'] = True`,
    );
  }, 240_000);

  it('logs in without a browser: the identity of the token, the provider as the cluster, the org and the own project', () => {
    expect(result).toMatchObject({ username: 'alice', cluster: 'local', org: 'switchyard', project: 'alice' });
  });

  it('lists the presets (the products, credits per hour) and the capacity per preset', () => {
    expect(result.presets).toEqual({
      'local-small': { cpu: 1, memory: 1024 ** 3, credits_per_hour: '60', gpu: null },
      'local-large': { cpu: 2, memory: 4 * 1024 ** 3, credits_per_hour: '180', gpu: null },
    });
    expect(Object.keys(result.capacity).sort()).toEqual(['local-large', 'local-small']);
    expect(result.capacity['local-small']).toBeGreaterThan(0);
  });

  it('starts a job from a preset and reads its status: pending or running, then running', async () => {
    expect(result.started).toMatchObject({
      owner: 'alice',
      preset: 'local-small',
      cluster: 'local',
      name: 'daily',
      tags: ['apolo-test', 'daily'],
      life_span: 3600,
      price: '60',
      project: 'alice',
    });
    expect(['pending', 'running']).toContain(result.started.status);
    expect(result.running).toMatchObject({ status: 'running', description: 'daily work', memory: 1024 ** 3, entrypoint: 'sh' });
    expect(result.quick).toEqual({ status: 'succeeded', exit_code: 0, transitions: expect.arrayContaining(['pending', 'succeeded']) });
    // The core API: the same job, its command split as Apolo splits it.
    const core = await alice.ok(
      `query ($id: ID!) { job(id: $id) { specification { name command image tags product { id provider } timeAllocation { hours } } } }`,
      {
        id: result.started.id,
      },
    );
    expect(core.job.specification).toEqual({
      name: 'daily',
      command: ['sh', '-c', 'echo hello from apolo; echo to stderr >&2; sleep 120'],
      image: 'ubuntu:22.04',
      tags: ['apolo-test', 'daily'],
      product: { id: 'local-small', provider: 'local' },
      timeAllocation: { hours: 1 },
    });
  });

  it('lists jobs by status, tags, owner and name, streamed as NDJSON', () => {
    expect(result.list_running).toEqual(['daily']);
    expect(result.list_succeeded).toHaveLength(1);
    expect(result.list_succeeded[0]).not.toBe('daily');
    expect(result.list_pending).toEqual([]);
    expect(result.list_tag_daily).toEqual(['daily']);
    expect(result.list_tag_test).toEqual([result.list_succeeded[0], 'daily']);
    expect(result.list_reverse).toEqual(['daily']);
    expect(result.list_owner_alice).toEqual([result.list_succeeded[0], 'daily']);
    expect(result.list_owner_bob).toEqual([]);
    expect(result.list_name).toEqual(['daily']);
    expect(result.list_cancelled).toEqual(['daily']);
  });

  it('reads the logs over the log websocket, live and after the end', () => {
    expect(result.live_logs).toContain('hello from apolo\n');
    expect(result.live_logs).toContain('to stderr\n');
    expect(result.all_logs).toContain('hello from apolo\n');
  });

  it('execs into the running job: its output alone, and its exit code', () => {
    expect(result.exec).toEqual({ out: 'exec says hi\nsecond line\n', exit_code: 3 });
    // Words as Apolo splits them: quotes kept together, a variable not expanded.
    expect(result.exec_ok).toEqual({ out: 'two words $HOME\n', exit_code: 0 });
  });

  it('kills the job: cancelled at the user request, terminated in the core; killing again changes nothing', async () => {
    expect(result.killed).toEqual({ status: 'cancelled', reason: 'UserRequested' });
    expect(result.killed_twice).toBe(true);
    const core = await alice.ok(`query ($id: ID!) { job(id: $id) { status { state } updates { state status } } }`, { id: result.started.id });
    expect(core.job.updates.map((u: { state: string | null }) => u.state)).toContain('CANCELING');
    // The exec sessions were written on the job, as every session is.
    expect(core.job.updates.some((u: { status: string | null }) => u.status?.includes('Interactive SHELL session'))).toBe(true);
  });
});

describe('Apolo tokens', () => {
  it('are issued by administrators for anyone, by users for themselves only', async () => {
    const own = await alice.ok(`mutation { issueApoloToken(user: "alice") }`);
    expect(typeof own.issueApoloToken).toBe('string');
    const other = await alice.gql(`mutation { issueApoloToken(user: "bob") }`);
    expect(errorCode(other)).toBe('FORBIDDEN');
    const nobody = await env.admin.gql(`mutation { issueApoloToken(user: "nobody") }`);
    expect(errorCode(nobody)).toBe('NOT_FOUND');
    const tooLong = await env.admin.gql(`mutation { issueApoloToken(user: "alice", ttlSeconds: 0) }`);
    expect(errorCode(tooLong)).toBe('INVALID_INPUT');
  });

  it('refuses a bad, expired or foreign-key token with 401 {"error"}, which the SDK reports as an authentication failure', async () => {
    const before = await env.snapshot();
    const foreign = await new SignJWT({ identity: 'alice' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('switchyard/apolo')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('another key that is long enough to sign'));
    // The SDK's own standalone token: "neuro" as the secret, no issuer of ours.
    const standalone = await new SignJWT({ identity: 'user' }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('neuro'));
    const expiring = await issue('alice', 1);
    for (const token of [foreign, standalone, 'not-a-token']) {
      const res = await raw('/jobs', token);
      expect(res.status, token).toBe(401);
      expect(await res.json()).toEqual({ error: expect.any(String) });
    }
    const expired = await eventually(
      async () => {
        const res = await raw('/jobs?cluster_name=local', expiring);
        return res.status === 401 ? ((await res.json()) as { error: string }) : null;
      },
      { timeoutMs: 10_000, what: 'the one-second token to expire' },
    );
    expect(expired).toEqual({ error: 'The token has expired' });
    const noHeader = await raw('/jobs', null);
    expect(noHeader.status).toBe(401);
    // /config answers a token it does not take as Apolo's API does: the login settings, not authorized, no clusters.
    const config = (await (await raw('/config', foreign)).json()) as Record<string, unknown>;
    expect(config).toMatchObject({ authorized: false, client_id: 'switchyard' });
    expect(config).not.toHaveProperty('clusters');
    // A Switchyard bearer token is taken too.
    const own = await raw('/jobs?cluster_name=local', alice.token!);
    expect(own.status).toBe(200);
    expect(((await own.json()) as { jobs: { owner: string }[] }).jobs.every((j) => j.owner === 'alice')).toBe(true);
    // The SDK: a bad token cannot log in (the config is not authorized), and a call with one is an AuthenticationError.
    const sdk = await withSdk(
      aliceToken,
      String.raw`
try:
    await client.jobs.status('whatever-id')
except apolo_sdk.ResourceNotFound as error:
    out['missing'] = str(error)
try:
    async with client._core.request('GET', client.config.api_url / 'jobs', auth='Bearer ${foreign}'):
        pass
except apolo_sdk.AuthenticationError as error:
    out['bad'] = type(error).__name__
from apolo_sdk import Factory
import os, tempfile, base64
os.environ['APOLO_CONFIG'] = tempfile.mkdtemp()
os.environ['APOLO_PASSED_CONFIG'] = base64.b64encode(json.dumps({'token': '${foreign}', 'cluster': 'local', 'url': str(client.config.api_url)}).encode()).decode()
try:
    await Factory().get()
except apolo_sdk.AuthError as error:
    out['login'] = type(error).__name__`,
    );
    expect(sdk).toEqual({ missing: 'no such job whatever-id', bad: 'AuthenticationError', login: 'AuthError' });
    const after = await env.snapshot();
    expect(after.jobs).toEqual(before.jobs);
  });
});

describe('Apolo refusals', () => {
  const start = (body: Record<string, unknown>, token = aliceToken) =>
    raw('/jobs?from_preset', token, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        image: 'ubuntu:22.04',
        cluster_name: 'local',
        project_name: 'alice',
        preset_name: 'local-small',
        command: 'true',
        ...body,
      }),
    });

  it('refuses what Switchyard cannot run with 400 {"error"}, changing nothing', async () => {
    const before = await env.snapshot();
    for (const [body, text] of [
      [{ preset_name: 'gpu-huge' }, 'Preset gpu-huge not found'],
      [{ cluster_name: 'elsewhere' }, 'Cluster elsewhere not found'],
      [{ volumes: [{ src_storage_uri: 'storage:x', dst_path: '/x', read_only: true }] }, 'volumes'],
      [{ http: { port: 80, requires_auth: true } }, 'http'],
      [{ command: undefined }, 'Send a command'],
      [{ restart_policy: 'on-failure' }, 'on-failure'],
      [{ preset_name: 42 }, 'preset_name'],
      [{ org_name: 'acme' }, 'Organization acme not found'],
    ] as const) {
      const res = await start(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(((await res.json()) as { error: string }).error).toContain(text);
    }
    const bad = await raw('/jobs?cluster_name=local&status=napping', aliceToken);
    expect(bad.status).toBe(400);
    const after = await env.snapshot();
    expect(after.jobs).toEqual(before.jobs);
    expect(after.wallets).toEqual(before.wallets);
  });

  it("hides another user's job (404) and answers unmapped calls as Apolo answers an unknown one", async () => {
    const res = await start({ command: 'sleep 30', name: 'mine' });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const bobToken = await issue('bob');
    const hidden = await raw(`/jobs/${id}`, bobToken);
    expect(hidden.status).toBe(404);
    expect(await hidden.json()).toEqual({ error: `no such job ${id}` });
    expect((await raw(`/jobs/${id}`, bobToken, { method: 'DELETE' })).status).toBe(404);
    // A second job of a name that is still running is refused, as Apolo refuses it.
    expect((await start({ command: 'true', name: 'mine' })).status).toBe(400);
    for (const [method, path, status] of [
      ['GET', `/monitoring/${id}/top`, 404],
      ['POST', `/monitoring/${id}/save`, 404],
      ['GET', '/storage/alice', 404],
      ['GET', '/secrets', 404],
      ['PATCH', '/jobs', 405],
      ['GET', '/nothing-here', 404],
    ] as const) {
      const answer = await raw(path, aliceToken, { method });
      expect(answer.status, `${method} ${path}`).toBe(status);
      expect(await answer.json()).toEqual({ error: expect.any(String) });
    }
    expect((await raw(`/jobs/${id}`, aliceToken, { method: 'DELETE' })).status).toBe(204);
  });
});
