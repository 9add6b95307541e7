/**
 * WEB sessions end to end: `switchyard gateway` and `switchyard provider local` as processes over
 * real NATS and Redis, a job in its sandbox (a network namespace of its own) serving HTTP and a
 * websocket on a port, and a browser-like client through the gateway's session URL.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fund } from './support/credits.js';
import { createClient, eventually, waitForState, type TestClient } from './support/graphql-client.js';
import { freePort, gatewayProcessEnv, startSwitchyard, waitProviderUp, waitReady, type Proc } from './support/processes.js';
import { natsUrl, uniquePrefix } from './support/services.js';
import { expiredCredential, gatewayMetric, openSession, runningLocalJob } from './support/sessions.js';
import { createUserClient } from './support/users.js';
import { webAppCommand } from './support/web-app.js';
import { WebClient } from './support/web-client.js';

const SESSION_SECRET = randomBytes(32).toString('base64url');
const APP_PORT = 8888;

let gateway: Proc;
let provider: Proc;
let admin: TestClient;
let alice: TestClient;
let bob: TestClient;
let baseUrl: string;
let stateDir: string;

/** A job serving the test app on APP_PORT, listening. */
async function appJob(client: TestClient): Promise<string> {
  const jobId = await runningLocalJob(client, 'edge', { command: webAppCommand(APP_PORT) });
  await eventually(async () => existsSync(join(stateDir, 'work', jobId, 'listening')), { what: `job ${jobId}'s app to listen` });
  return jobId;
}

const terminate = (client: TestClient, id: string) => client.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id });

beforeAll(async () => {
  const prefix = uniquePrefix();
  const adminToken = randomBytes(24).toString('base64url');
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  stateDir = mkdtempSync(join(tmpdir(), 'sy-e2e-web-'));
  gateway = startSwitchyard(
    ['gateway'],
    gatewayProcessEnv(
      { prefix, adminToken, port },
      { SWITCHYARD_SESSION_SECRET: SESSION_SECRET, SWITCHYARD_SESSION_WINDOW_BYTES: String(64 * 1024), SWITCHYARD_SESSION_HEARTBEAT_MS: '500' },
    ),
  );
  admin = createClient(baseUrl, adminToken);
  provider = startSwitchyard(['provider', 'local', '--id', 'edge'], {
    NATS_URL: natsUrl(),
    SWITCHYARD_PREFIX: prefix,
    SWITCHYARD_HEARTBEAT_MS: '500',
    SWITCHYARD_LOCAL_STATE_DIR: stateDir,
    SWITCHYARD_TERMINATE_GRACE_MS: '500',
  });
  await waitReady(baseUrl, gateway);
  await waitProviderUp(admin, 'edge', provider);
  alice = await createUserClient(admin, 'alice');
  bob = await createUserClient(admin, 'bob');
  await fund(admin, 'alice', 'edge');
}, 60_000);

afterAll(async () => {
  await provider?.kill('SIGTERM');
  await gateway?.kill('SIGTERM');
  rmSync(stateDir, { recursive: true, force: true });
});

describe('a web app in a local job, through the gateway', () => {
  it('serves its pages, redirects, cookies and websocket under the session prefix, from inside the job’s own network', async () => {
    const jobId = await appJob(alice);
    const products = await alice.ok(`{ products(provider: "edge") { id support { web sessionTypes } } }`);
    expect(products.products[0].support).toEqual({ web: true, sessionTypes: ['SHELL', 'WEB'] });

    const { session, error } = await openSession(alice, { jobId, rank: 0, sessionType: 'WEB', port: APP_PORT });
    expect(error).toBeNull();
    const prefix = `/api/v1/sessions/web/${jobId}/0/${APP_PORT}/`;
    expect(session!.url).toBe(`${baseUrl}${prefix}?token=${new URL(session!.url).searchParams.get('token')}`);

    // The first visit: the credential becomes a cookie of the prefix, and the page comes back without it in the URL.
    const browser = new WebClient();
    const first = await browser.visit(session!.url);
    expect(first.redirects).toEqual([[303, prefix]]);
    expect(browser.cookies.get('switchyard_session')).toMatchObject({ path: prefix, httpOnly: true });
    expect(first.status).toBe(200);
    expect(first.body).toBe(`<a href="go">go</a> prefix:${prefix.slice(0, -1)} host:${new URL(baseUrl).host}`);
    // The app's cookie, set for its `/`, is scoped to the prefix.
    expect(browser.cookies.get('app_visit')).toMatchObject({ value: 'yes', path: prefix });

    // The app's redirect to an absolute path lands under the prefix; the app gets its own cookie and never the session's.
    const landed = await browser.visit(`${baseUrl}${prefix}go`);
    expect(landed.redirects).toEqual([[302, `${prefix}landing?from=go`]]);
    expect(landed.body).toBe('landed /landing?from=go cookie:[app_visit=yes]');

    // 2 MB up and back: more than either end's window, carried with flow control.
    const body = randomBytes(2 * 1024 * 1024);
    const echoed = await fetch(`${baseUrl}${prefix}echo`, {
      method: 'POST',
      body,
      headers: { cookie: browser.cookieHeader(`${baseUrl}${prefix}`)! },
    });
    expect(echoed.status).toBe(200);
    expect(Buffer.from(await echoed.arrayBuffer()).equals(body)).toBe(true);

    // A websocket, carrying the cookies as a browser's does.
    const { socket, messages } = await browser.websocket(`${baseUrl}${prefix}ws`);
    await eventually(async () => messages.length === 1);
    expect(messages[0]).toBe('hello cookie:[app_visit=yes]');
    for (const text of ['one', 'two', 'x'.repeat(100_000)]) socket.send(text);
    await eventually(async () => messages.length === 4, { what: 'three echoes' });
    expect(messages.slice(1)).toEqual(['echo:one', 'echo:two', `echo:${'x'.repeat(100_000)}`]);
    socket.close();

    // An unknown page is the app's own 404.
    const missing = await browser.visit(`${baseUrl}${prefix}nothing-here`);
    expect([missing.status, missing.body]).toEqual([404, 'no such page']);

    const job = await waitForState(alice, jobId, ['RUNNING']);
    expect(job.updates.map((u: { status: string | null }) => u.status)).toContain(
      `Interactive WEB session on rank 0, port ${APP_PORT} (alice) opened`,
    );
    expect(await gatewayMetric(baseUrl, 'switchyard_session_relayed_bytes_total', '{type="WEB",direction="to_client"}')).toBeGreaterThan(
      2 * 1024 * 1024,
    );
    await eventually(async () => (await gatewayMetric(baseUrl, 'switchyard_sessions_open', '{type="WEB"}')) === 0, {
      what: 'every connection to close',
    });
    await terminate(alice, jobId);
  }, 60_000);

  it('passes the full path to an app told its prefix (keepPathPrefix)', async () => {
    const jobId = await appJob(alice);
    const { session } = await openSession(alice, { jobId, rank: 0, sessionType: 'WEB', port: APP_PORT, keepPathPrefix: true });
    const browser = new WebClient();
    await browser.visit(session!.url);
    const prefix = `/api/v1/sessions/web/${jobId}/0/${APP_PORT}/`;
    const page = await browser.visit(`${baseUrl}${prefix}notebooks?x=1`);
    expect(page.body).toBe(`full:${prefix}notebooks?x=1`);
    await terminate(alice, jobId);
  }, 60_000);

  it('answers 502 with the reason, at once, when nothing listens on the port', async () => {
    const jobId = await appJob(alice);
    const { session, error } = await openSession(alice, { jobId, rank: 0, sessionType: 'WEB', port: APP_PORT + 1 });
    expect(error).toBeNull();
    const page = await new WebClient().visit(session!.url);
    expect(page.status).toBe(502);
    expect(JSON.parse(page.body)).toEqual({
      error: { code: 'PROVIDER_UNAVAILABLE', message: expect.stringMatching(new RegExp(`port ${APP_PORT + 1} of rank 0 .*nothing listens there`)) },
    });
    await terminate(alice, jobId);
  }, 60_000);

  it('refuses another user’s job, a missing or stray port, a type the product lacks, and expired, foreign or ended credentials', async () => {
    const jobId = await appJob(alice);
    expect((await openSession(bob, { jobId, rank: 0, sessionType: 'WEB', port: APP_PORT })).error?.code).toBe('NOT_FOUND');
    expect((await openSession(alice, { jobId, rank: 0, sessionType: 'WEB' })).error?.code).toBe('INVALID_INPUT');
    expect((await openSession(alice, { jobId, rank: 0, sessionType: 'SHELL', port: APP_PORT })).error?.code).toBe('INVALID_INPUT');
    expect((await openSession(alice, { jobId, rank: 0, sessionType: 'VNC' })).error?.code).toBe('UNSUPPORTED');

    const prefix = `${baseUrl}/api/v1/sessions/web/${jobId}/0/${APP_PORT}/`;
    // No credential at all, and one signed right whose time is over.
    expect((await new WebClient().visit(prefix)).status).toBe(401);
    const expired = await expiredCredential(SESSION_SECRET, 'alice', { job: jobId, rank: 0, type: 'WEB', provider: 'edge', port: APP_PORT });
    const late = await new WebClient().visit(`${prefix}?token=${expired}`);
    expect(late.status).toBe(401);
    expect(late.body).toMatch(/expired/);
    const stale = new WebClient();
    stale.cookies.set('switchyard_session', { value: expired, path: new URL(prefix).pathname, httpOnly: true });
    expect((await stale.visit(prefix)).status).toBe(401);
    await expect(stale.websocket(`${prefix}ws`)).rejects.toMatchObject({ status: 401 });

    // A genuine credential for another app of the job (another port) does not open this one.
    const other = await openSession(alice, { jobId, rank: 0, sessionType: 'WEB', port: APP_PORT + 1 });
    expect((await new WebClient().visit(`${prefix}?token=${new URL(other.session!.url).searchParams.get('token')}`)).status).toBe(401);

    // The genuine cookie of a job that has ended since.
    const { session } = await openSession(alice, { jobId, rank: 0, sessionType: 'WEB', port: APP_PORT });
    const browser = new WebClient();
    expect((await browser.visit(session!.url)).status).toBe(200);
    await terminate(alice, jobId);
    await waitForState(alice, jobId, ['SUCCESS']);
    const after = await browser.visit(prefix);
    expect(after.status).toBe(409);
    expect(JSON.parse(after.body).error.code).toBe('INVALID_STATE');
    expect((await openSession(alice, { jobId, rank: 0, sessionType: 'WEB', port: APP_PORT })).error?.code).toBe('INVALID_STATE');
  }, 60_000);
});
