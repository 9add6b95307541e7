/**
 * Interactive SHELL sessions on the Slurm provider: `switchyard gateway` and `switchyard provider
 * slurm` as processes over real NATS and Redis, on the real single-node cluster (.ci/run starts it
 * and exports SLURM_CONF); the shell is a step of its own in the job's allocation.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fund } from './support/credits.js';
import { createClient, eventually, JOB_FIELDS, waitForState, type TestClient } from './support/graphql-client.js';
import { freePort, gatewayProcessEnv, startSwitchyard, waitProviderUp, waitReady, type Proc } from './support/processes.js';
import { natsUrl, uniquePrefix } from './support/services.js';
import { expectAnswersAndResize, expectClosedWhenProviderKilled, expectExitCode, openSession, shellOn } from './support/sessions.js';
import { connectShell } from './support/shell-client.js';
import { webAppCommand } from './support/web-app.js';
import { WebClient } from './support/web-client.js';

const SLURM_CONF = process.env.SLURM_CONF;
const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { ${JOB_FIELDS} } error { code message } } }`;

let gateway: Proc;
let provider: Proc;
let client: TestClient;
let workDir: string;
let providerEnv: Record<string, string>;

function startProvider() {
  provider = startSwitchyard(['provider', 'slurm', '--id', 'hpc'], providerEnv);
}

async function runningJob(spec: Record<string, unknown>): Promise<{ id: string; slurmJobId: string }> {
  const products = await client.ok(`{ products(provider: "hpc") { id } }`);
  const data = await client.ok(CREATE, {
    specs: [{ product: { id: products.products[0].id, provider: 'hpc' }, timeAllocation: { minutes: 5 }, allowDuplicateJob: true, ...spec }],
  });
  expect(data.createJobs[0].error).toBeNull();
  const id = data.createJobs[0].job.id as string;
  await waitForState(client, id, ['RUNNING'], 60_000);
  const slurm = await client.ok(`query ($id: ID!) { job(id: $id) { slurm { jobId } } }`, { id });
  return { id, slurmJobId: slurm.job.slurm.jobId as string };
}

beforeAll(async () => {
  if (!SLURM_CONF)
    throw new Error('SLURM_CONF is not set: start the cluster with `bash deploy/slurm/slurm-up.sh` and export SLURM_CONF from its slurm.env');
  const prefix = uniquePrefix();
  const adminToken = randomBytes(24).toString('base64url');
  const port = await freePort();
  workDir = mkdtempSync(join(tmpdir(), 'sy-slurm-sessions-'));
  gateway = startSwitchyard(
    ['gateway'],
    gatewayProcessEnv(
      { prefix, adminToken, port },
      { SWITCHYARD_SESSION_SECRET: randomBytes(32).toString('base64url'), SWITCHYARD_SESSION_HEARTBEAT_MS: '500' },
    ),
  );
  providerEnv = {
    NATS_URL: natsUrl(),
    SWITCHYARD_PREFIX: prefix,
    SWITCHYARD_HEARTBEAT_MS: '500',
    SLURM_CONF,
    SWITCHYARD_SLURM_WORK_DIR: workDir,
    SWITCHYARD_SLURM_POLL_MS: '300',
    // In the provider's environment, and so in no job's nor shell's.
    PROVIDER_ONLY_SECRET: 'provider-secret-value',
  };
  startProvider();
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitReady(baseUrl, gateway);
  client = createClient(baseUrl, adminToken);
  await waitProviderUp(client, 'hpc', provider);
  await fund(client, 'admin', 'hpc');
}, 60_000);

afterAll(async () => {
  await provider?.kill('SIGTERM');
  await gateway?.kill('SIGTERM');
  rmSync(workDir, { recursive: true, force: true });
});

describe('an interactive shell through the gateway in a Slurm job', () => {
  it('answers commands from a step in the job’s allocation, resizes, and ends with the exit code on the status channel', async () => {
    const job = await runningJob({
      command: ['sh', '-c', 'hostname > job-hostname.txt; echo made-by-the-job > job-file.txt; sleep 300'],
      env: { JOB_COLOUR: 'teal' },
    });
    const products = await client.ok(`{ products(provider: "hpc") { support { sessionTypes } } }`);
    expect(products.products[0].support.sessionTypes).toEqual(['SHELL', 'WEB']);

    const shell = await shellOn(client, job.id);
    await expectAnswersAndResize(shell);
    shell.type('until [ -f job-file.txt ]; do sleep 0.1; done; echo "host:$(hostname)"\n');
    const host = await shell.waitFor(/host:([\w.-]+)/);
    const jobDir = join(workDir, 'jobs', job.id);
    expect(host[1]).toBe(readFileSync(join(jobDir, 'job-hostname.txt'), 'utf8').trim());

    // Inside the job: its allocation, its directory, its environment, its account; nothing of the provider's.
    shell.type('echo "file:$(cat job-file.txt) env:$JOB_COLOUR uid:$(id -u) slurm:$SLURM_JOB_ID cwd:$(pwd)"\n');
    await shell.waitFor(new RegExp(`file:made-by-the-job env:teal uid:65534 slurm:${job.slurmJobId} cwd:${jobDir}`));
    shell.type('echo "provider-env:[$PROVIDER_ONLY_SECRET] [$NATS_URL]"\n');
    await shell.waitFor(/provider-env:\[\] \[\]/);

    await expectExitCode(shell, 3, { client, id: job.id, user: 'admin' });
    await client.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: job.id });
  }, 120_000);

  it('serves a web app on the job’s node through the gateway: a page, a redirect, a cookie and a websocket; 502 where nothing listens', async () => {
    const port = await freePort();
    const job = await runningJob({ command: webAppCommand(port) });
    await eventually(async () => existsSync(join(workDir, 'jobs', job.id, 'listening')), { timeoutMs: 30_000, what: 'the app to listen' });
    const { session, error } = await openSession(client, { jobId: job.id, rank: 0, sessionType: 'WEB', port });
    expect(error).toBeNull();
    const prefix = `/api/v1/sessions/web/${job.id}/0/${port}/`;
    const browser = new WebClient();
    const first = await browser.visit(session!.url);
    expect([first.status, first.redirects]).toEqual([200, [[303, prefix]]]);
    expect(first.body).toContain(`prefix:${prefix.slice(0, -1)}`);
    expect(browser.cookies.get('app_visit')).toMatchObject({ path: prefix });
    const landed = await browser.visit(new URL(`${prefix}go`, session!.url).toString());
    expect(landed.body).toBe('landed /landing?from=go cookie:[app_visit=yes]');
    const { socket, messages } = await browser.websocket(new URL(`${prefix}ws`, session!.url).toString());
    socket.send('ping');
    await eventually(async () => messages.length === 2, { what: 'the greeting and the echo' });
    expect(messages).toEqual(['hello cookie:[app_visit=yes]', 'echo:ping']);
    socket.close();

    const closed = await openSession(client, { jobId: job.id, rank: 0, sessionType: 'WEB', port: await freePort() });
    const refused = await new WebClient().visit(closed.session!.url);
    expect(refused.status).toBe(502);
    expect(refused.body).toMatch(/nothing listens there/);
    await client.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: job.id });
  }, 120_000);

  it('refuses a session on a job that has ended', async () => {
    const job = await runningJob({ command: ['sleep', '300'] });
    const { session } = await openSession(client, { jobId: job.id, rank: 0, sessionType: 'SHELL' });
    await client.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: job.id });
    await waitForState(client, job.id, ['SUCCESS'], 60_000);
    expect((await openSession(client, { jobId: job.id, rank: 0, sessionType: 'SHELL' })).error?.code).toBe('INVALID_STATE');
    await expect(connectShell(session!.url)).rejects.toMatchObject({ status: 409 });
  }, 120_000);

  it('closes the session with a clear reason when the provider is killed; the Slurm job runs on', async () => {
    const job = await runningJob({ command: ['sleep', '300'] });
    const shell = await shellOn(client, job.id);
    await expectClosedWhenProviderKilled(shell, () => provider.kill('SIGKILL'));
    startProvider();
    await waitProviderUp(client, 'hpc', provider, ' after its restart');
    // Slurm kept the job while the provider was away, and the provider found it again (its fields stitched in once more).
    const after = await eventually(
      async () => {
        const res = await client.gql(`query ($id: ID!) { job(id: $id) { status { state } slurm { jobId state } } }`, { id: job.id });
        return res.data?.job?.slurm ? res.data.job : null;
      },
      { timeoutMs: 30_000, what: 'the Slurm fields of the job after the restart' },
    );
    expect(after.status.state).toBe('RUNNING');
    expect(after.slurm).toEqual({ jobId: job.slurmJobId, state: 'RUNNING' });
    await client.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: job.id });
  }, 120_000);
});
