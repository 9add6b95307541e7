/**
 * Interactive SHELL sessions end to end: `switchyard gateway` and `switchyard provider local` as
 * processes over real NATS and Redis, a real job in its sandbox, and a websocket client speaking
 * v5.channel.k8s.io to the gateway's session URL.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fund } from './support/credits.js';
import { createClient, eventually, JOB_FIELDS, waitForState, type TestClient } from './support/graphql-client.js';
import { freePort, gatewayProcessEnv, startSwitchyard, waitProviderUp, waitReady, type Proc } from './support/processes.js';
import { natsUrl, uniquePrefix } from './support/services.js';
import {
  expectAnswersAndResize,
  expectClosedWhenProviderKilled,
  expectExitCode,
  expiredCredential,
  gatewayMetric,
  openSession,
  processesInRank,
  shellOn,
} from './support/sessions.js';
import { connectShell } from './support/shell-client.js';

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { ${JOB_FIELDS} } error { code message } } }`;
const SESSION_SECRET = randomBytes(32).toString('base64url');
/** The gateway's per-session window (SWITCHYARD_SESSION_WINDOW_BYTES below). */
const WINDOW = 64 * 1024;

let gateway: Proc;
let provider: Proc;
let admin: TestClient;
let alice: TestClient;
let bob: TestClient;
let baseUrl: string;
let providerEnv: Record<string, string>;
let stateDir: string;
/** A file on the provider's host, outside every job. */
let hostOnlyFile: string;
/** What a second gateway replica is started with: the first one's, on another port. */
let replicaEnv: (port: number) => Record<string, string>;

function startProvider() {
  provider = startSwitchyard(['provider', 'local', '--id', 'edge'], providerEnv);
}

function providerUp(): Promise<void> {
  return waitProviderUp(admin, 'edge', provider);
}

async function userClient(name: string): Promise<TestClient> {
  await admin.ok(`mutation ($u: String!) { createUser(username: $u, password: "a-long-password") { username } }`, { u: name });
  const res = await fetch(`${baseUrl}/api/v1/token`, { method: 'POST', body: JSON.stringify({ username: name, password: 'a-long-password' }) });
  return createClient(baseUrl, ((await res.json()) as { token: string }).token);
}

async function runningJob(client: TestClient, spec: Record<string, unknown>): Promise<string> {
  const data = await client.ok(CREATE, { specs: [{ product: { id: 'local-small', provider: 'edge' }, allowDuplicateJob: true, ...spec }] });
  expect(data.createJobs[0].error).toBeNull();
  const id = data.createJobs[0].job.id as string;
  await waitForState(client, id, ['RUNNING']);
  return id;
}

const metric = (name: string, labels = '') => gatewayMetric(baseUrl, name, labels);

beforeAll(async () => {
  const prefix = uniquePrefix();
  const adminToken = randomBytes(24).toString('base64url');
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  stateDir = mkdtempSync(join(tmpdir(), 'sy-e2e-sessions-'));
  hostOnlyFile = join(tmpdir(), `sy-host-only-${randomBytes(6).toString('hex')}`);
  writeFileSync(hostOnlyFile, 'only on the host\n', { mode: 0o644 });
  providerEnv = {
    NATS_URL: natsUrl(),
    SWITCHYARD_PREFIX: prefix,
    SWITCHYARD_HEARTBEAT_MS: '500',
    SWITCHYARD_LOCAL_STATE_DIR: stateDir,
    SWITCHYARD_TERMINATE_GRACE_MS: '500',
    // In the provider's environment, and so in no job's.
    PROVIDER_ONLY_SECRET: 'provider-secret-value',
  };
  replicaEnv = (replicaPort) =>
    gatewayProcessEnv(
      { prefix, adminToken, port: replicaPort },
      {
        SWITCHYARD_SESSION_SECRET: SESSION_SECRET,
        SWITCHYARD_SESSION_WINDOW_BYTES: String(WINDOW),
        SWITCHYARD_SESSION_HEARTBEAT_MS: '500',
        SWITCHYARD_SESSION_MISSED_HEARTBEATS: '3',
      },
    );
  gateway = startSwitchyard(['gateway'], replicaEnv(port));
  admin = createClient(baseUrl, adminToken);
  startProvider();
  await waitReady(baseUrl, gateway);
  await providerUp();
  alice = await userClient('alice');
  bob = await userClient('bob');
  await fund(admin, 'alice', 'edge');
}, 60_000);

afterAll(async () => {
  await provider?.kill('SIGTERM');
  await gateway?.kill('SIGTERM');
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(hostOnlyFile, { force: true });
});

describe('an interactive shell through the gateway on a local job', () => {
  it('answers commands from inside the job, resizes, and ends with the exit code on the status channel', async () => {
    const jobId = await runningJob(alice, {
      command: ['sh', '-c', 'hostname > job-hostname.txt; echo made-by-the-job > job-file.txt; sleep 300'],
      env: { JOB_COLOUR: 'teal' },
    });
    const products = await alice.ok(`{ products(provider: "edge") { id support { terminal sessionTypes } } }`);
    expect(products.products[0].support).toEqual({ terminal: true, sessionTypes: ['SHELL', 'WEB'] });

    const { session, error } = await openSession(alice, { jobId, rank: 0, sessionType: 'SHELL' });
    expect(error).toBeNull();
    expect(session).toMatchObject({ jobId, rank: 0, sessionType: 'SHELL', providerId: 'edge', password: null });
    expect(session!.url).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:\\d+/api/v1/sessions/shell\\?token=`));
    // The credential is not the user's API token, and it expires.
    expect(new URL(session!.url).searchParams.get('token')).not.toBe(alice.token);
    expect(Date.parse(session!.expiresAt)).toBeGreaterThan(Date.now());

    const shell = await connectShell(session!.url);
    await expectAnswersAndResize(shell);
    shell.type('until [ -f job-file.txt ]; do sleep 0.1; done; echo "host:$(hostname)"\n');
    const host = await shell.waitFor(/host:([\w.-]+)/);
    const workDir = join(stateDir, 'work', jobId);
    expect(host[1]).toBe(readFileSync(join(workDir, 'job-hostname.txt'), 'utf8').trim());

    // Inside the job: its files, its environment, its account, its processes; nothing of the host's or the provider's.
    shell.type('echo "file:$(cat job-file.txt) env:$JOB_COLOUR uid:$(id -u) cwd:$(pwd)"\n');
    await shell.waitFor(new RegExp(`file:made-by-the-job env:teal uid:65534 cwd:${workDir}`));
    shell.type(`echo "provider-env:[$PROVIDER_ONLY_SECRET] [$NATS_URL]"; cat ${hostOnlyFile} 2>/dev/null || echo "host-file:hidden"\n`);
    await shell.waitFor(/provider-env:\[\] \[\]/);
    await shell.waitFor(/host-file:hidden/);
    shell.type('echo "init:$(tr "\\0" "\\n" < /proc/1/cmdline | head -n 1)"\n');
    await shell.waitFor(/init:\S*bwrap\r?\n/);

    await expectExitCode(shell, 3, { client: alice, id: jobId, user: 'alice' });
    const job = await waitForState(alice, jobId, ['RUNNING']);
    const statuses = job.updates.map((u: { status: string | null }) => u.status);
    expect(statuses).toContain('Interactive SHELL session on rank 0 (alice) opened');
    await eventually(async () => (await metric('switchyard_sessions_open', '{type="SHELL"}')) === 0);
    expect(await metric('switchyard_session_relayed_bytes_total', '{type="SHELL",direction="to_client"}')).toBeGreaterThan(0);
    expect(await metric('switchyard_session_duration_seconds_count', '{type="SHELL",outcome="exited"}')).toBeGreaterThanOrEqual(1);
    await alice.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: jobId });
  });

  it('refuses another user’s job, an ended job, a type the product lacks and a rank that does not exist', async () => {
    const jobId = await runningJob(alice, { command: ['sleep', '300'] });
    const other = await openSession(bob, { jobId, rank: 0, sessionType: 'SHELL' });
    expect(other.error?.code).toBe('NOT_FOUND');
    // VNC is a VM's display: a local job has none.
    expect((await openSession(alice, { jobId, rank: 0, sessionType: 'VNC' })).error?.code).toBe('UNSUPPORTED');
    expect((await openSession(alice, { jobId, rank: 1, sessionType: 'SHELL' })).error?.code).toBe('INVALID_INPUT');

    const ended = await runningJob(alice, { command: ['sleep', '300'] });
    await alice.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: ended });
    await waitForState(alice, ended, ['SUCCESS']);
    expect((await openSession(alice, { jobId: ended, rank: 0, sessionType: 'SHELL' })).error?.code).toBe('INVALID_STATE');
    await alice.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: jobId });
  });

  it('refuses the websocket for an expired or tampered credential, and for a job that ended since', async () => {
    const jobId = await runningJob(alice, { command: ['sleep', '300'] });
    const { session } = await openSession(alice, { jobId, rank: 0, sessionType: 'SHELL' });
    const url = new URL(session!.url);
    const token = url.searchParams.get('token')!;

    // Signed with the right secret, but its time is over.
    const expired = await expiredCredential(SESSION_SECRET, 'alice', { job: jobId, rank: 0, type: 'SHELL', provider: 'edge' });
    url.searchParams.set('token', expired);
    await expect(connectShell(url.toString())).rejects.toMatchObject({ status: 401, body: expect.stringContaining('expired') });

    // Another job in the claims, with the signature of the original: tampered.
    const [header, payload, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8'));
    const forged = Buffer.from(JSON.stringify({ ...claims, rank: 7 })).toString('base64url');
    url.searchParams.set('token', `${header}.${forged}.${signature}`);
    await expect(connectShell(url.toString())).rejects.toMatchObject({ status: 401 });
    // And signed with a secret that is not the gateway's.
    const foreign = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(randomBytes(32).toString('hex')));
    url.searchParams.set('token', foreign);
    await expect(connectShell(url.toString())).rejects.toMatchObject({ status: 401 });

    // The genuine credential of a job that has ended since.
    await alice.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: jobId });
    await waitForState(alice, jobId, ['SUCCESS']);
    await expect(connectShell(session!.url)).rejects.toMatchObject({ status: 409 });
  });

  it('pauses a shell that prints a lot while its client does not read, holding no more than a window, and loses nothing', async () => {
    const jobId = await runningJob(alice, { command: ['sleep', '300'] });
    const shell = await shellOn(alice, jobId);
    shell.type('echo "ready:$((1+1))"\n');
    await shell.waitFor(/ready:2/);
    const total = 300_000;
    shell.pause();
    // 300 000 lines of 60 bytes: 18 MB, counted in a file as they go.
    shell.type(
      `i=0; while [ $i -lt ${total} ]; do echo "line $i ................................................"; i=$((i+1)); [ $((i % 1000)) -eq 0 ] && echo $i > progress; done; echo "printed:$i"\n`,
    );
    const progress = () => Number(readFileSync(join(stateDir, 'work', jobId, 'progress'), 'utf8').trim() || 0);
    // The client's socket and the gateway's window full: the provider has no room, and the shell stops.
    await eventually(async () => (await metric('switchyard_sessions_waiting_for_client')) === 1, {
      timeoutMs: 30_000,
      what: 'the session to wait for its client',
    });
    let last = -1;
    await eventually(
      async () => {
        const now = progress();
        const stalled = now === last;
        last = now;
        return stalled;
      },
      { intervalMs: 500, timeoutMs: 30_000, what: 'the shell to stop printing' },
    );
    const buffered = await metric('switchyard_session_buffered_bytes');
    const relayed = await metric('switchyard_session_relayed_bytes_total', '{type="SHELL",direction="to_client"}');
    expect(buffered).toBeLessThanOrEqual(WINDOW);
    expect(last).toBeLessThan(total);
    // What the shell printed (each line past the first thousand 60 bytes on the terminal) is no more than the gateway passed to
    // the client's socket, one window on its way, and the little that the pty and the provider's read hold.
    expect(last * 60 - 3_000).toBeLessThanOrEqual(relayed + WINDOW + 1024 * 1024);

    shell.resume();
    await shell.waitFor(new RegExp(`printed:${total}`), 120_000);
    const numbers = [...shell.stdout().matchAll(/^line (\d+) /gm)].map((m) => Number(m[1]));
    expect(numbers.length).toBe(total);
    expect(numbers.every((n, i) => n === i)).toBe(true);
    shell.type('exit 0\n');
    await shell.waitClosed();
    expect(shell.status()).toEqual({ metadata: {}, status: 'Success' });
    await alice.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: jobId });
  }, 180_000);

  it('opens on any gateway replica a session another issued, and a new one through the other when that replica is killed', async () => {
    const jobId = await runningJob(alice, { command: ['sleep', '300'] });
    const replicaPort = await freePort();
    const replica = startSwitchyard(['gateway'], replicaEnv(replicaPort));
    try {
      await waitReady(`http://127.0.0.1:${replicaPort}`, replica);
      const before = await processesInRank(alice, jobId);
      // Issued by the first replica, opened on the second: the credential carries its grant, the secret is shared.
      const { session } = await openSession(alice, { jobId, rank: 0, sessionType: 'SHELL' });
      const onReplica = new URL(session!.url);
      onReplica.port = String(replicaPort);
      const shell = await connectShell(onReplica.toString());
      shell.type('echo "replica:$((3*3))"\n');
      await shell.waitFor(/replica:9/);
      await replica.kill('SIGKILL');
      // The connection is gone with the replica; the provider, hearing nothing from it, hangs the shell up.
      expect((await shell.waitClosed()).code).toBe(1006);
      await eventually(async () => (await processesInRank(alice, jobId)) === before, {
        timeoutMs: 10_000,
        what: 'the provider to hang up the shell of the replica it no longer hears',
      });
      const again = await shellOn(alice, jobId);
      again.type('echo "again:$((4*4))"\n');
      await again.waitFor(/again:16/);
      again.type('exit 0\n');
      await again.waitClosed();
      expect(again.status()).toEqual({ metadata: {}, status: 'Success' });
    } finally {
      await replica.kill('SIGKILL');
    }
    await alice.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: jobId });
  }, 60_000);

  it('closes the session with a clear reason when the provider is killed, and leaves the job running', async () => {
    const jobId = await runningJob(alice, { command: ['sleep', '300'] });
    const shell = await shellOn(alice, jobId);
    await expectClosedWhenProviderKilled(shell, () => provider.kill('SIGKILL'));
    const job = await waitForState(alice, jobId, ['RUNNING']);
    expect(job.state.state).toBe('RUNNING');
    // The job's process lives on without its provider (a restarted local provider stops what it finds orphaned).
    const pid = Number(job.providerGeneratedId);
    expect(() => process.kill(pid, 0)).not.toThrow();
    startProvider();
    await providerUp();
  }, 60_000);
});
