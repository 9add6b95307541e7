/**
 * Interactive SHELL and WEB sessions on the Kubernetes provider: `switchyard gateway` and
 * `switchyard provider kubernetes` as processes over real NATS and Redis, on the test cluster's
 * real node (kubelet, containerd, runc: deploy/kubernetes/kube-real-node.sh); the shell is an exec
 * in the rank's container, a web app a port-forward to the rank's pod, both through the API server.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fund } from './support/credits.js';
import { createClient, JOB_FIELDS, waitForState, type TestClient } from './support/graphql-client.js';
import { REAL_PRODUCT } from './support/kube-setup.js';
import { freePort, gatewayProcessEnv, startSwitchyard, waitProviderUp, waitReady, type Proc } from './support/processes.js';
import { natsUrl, uniquePrefix } from './support/services.js';
import { expectAnswersAndResize, expectClosedWhenProviderKilled, expectExitCode, openSession, shellOn } from './support/sessions.js';
import { webAppCommand } from './support/web-app.js';
import { WebClient } from './support/web-client.js';
import { expectWebAppServed, waitForWebApp, webPrefix } from './support/web-sessions.js';

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { ${JOB_FIELDS} } error { code message } } }`;

const namespace = `sy-sessions-${randomUUID().slice(0, 8)}`;
let gateway: Proc;
let provider: Proc;
let client: TestClient;
let core: CoreV1Api;
let image: string;
/** An image with node in it, for the test's web app. */
let nodeImage: string;
let providerEnv: Record<string, string>;
/** A file on the provider's host, outside every container. */
let hostOnlyFile: string;

function startProvider() {
  provider = startSwitchyard(['provider', 'kubernetes', '--id', 'kube'], providerEnv);
}

async function runningJob(spec: Record<string, unknown>): Promise<string> {
  const data = await client.ok(CREATE, {
    specs: [{ product: { id: 'real', provider: 'kube' }, image, timeAllocation: { minutes: 10 }, allowDuplicateJob: true, ...spec }],
  });
  expect(data.createJobs[0].error).toBeNull();
  const id = data.createJobs[0].job.id as string;
  await waitForState(client, id, ['RUNNING'], 60_000);
  return id;
}

beforeAll(async () => {
  const admin = process.env.KUBECONFIG;
  const providerKubeconfig = process.env.SWITCHYARD_KUBE_PROVIDER_KUBECONFIG;
  const realImage = process.env.SWITCHYARD_KUBE_REAL_IMAGE;
  if (!admin || !providerKubeconfig || !realImage || !process.env.SWITCHYARD_KUBE_REAL_NODE) {
    throw new Error('No Kubernetes test cluster with a real node: run deploy/kubernetes/kube-up.sh and kube-real-node.sh (the e2e setup does)');
  }
  image = realImage;
  if (!process.env.SWITCHYARD_KUBE_NODE_IMAGE) throw new Error('The real node has no node image: run deploy/kubernetes/kube-real-node.sh again');
  nodeImage = process.env.SWITCHYARD_KUBE_NODE_IMAGE;
  const config = new KubeConfig();
  config.loadFromFile(admin);
  core = config.makeApiClient(CoreV1Api);
  hostOnlyFile = join(tmpdir(), `sy-host-only-${randomBytes(6).toString('hex')}`);
  writeFileSync(hostOnlyFile, 'only on the host\n', { mode: 0o644 });
  const prefix = uniquePrefix();
  const adminToken = randomBytes(24).toString('base64url');
  const port = await freePort();
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
    SWITCHYARD_KUBE_KUBECONFIG: providerKubeconfig,
    SWITCHYARD_KUBE_NAMESPACE: namespace,
    SWITCHYARD_KUBE_PRODUCTS: JSON.stringify([REAL_PRODUCT]),
    // In the provider's environment, and so in no container's.
    PROVIDER_ONLY_SECRET: 'provider-secret-value',
  };
  startProvider();
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitReady(baseUrl, gateway);
  client = createClient(baseUrl, adminToken);
  await waitProviderUp(client, 'kube', provider);
  await fund(client, 'admin', 'kube');
}, 90_000);

afterAll(async () => {
  await provider?.kill('SIGTERM');
  await gateway?.kill('SIGTERM');
  await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
  if (hostOnlyFile) rmSync(hostOnlyFile, { force: true });
});

describe('an interactive shell through the gateway in a Kubernetes job', () => {
  it('answers commands from an exec in the rank’s container, resizes, and ends with the exit code on the status channel', async () => {
    const jobId = await runningJob({
      command: ['sh', '-c', 'hostname > /tmp/job-hostname; echo made-by-the-job > /tmp/job-file; sleep 300'],
      env: { JOB_COLOUR: 'teal' },
    });
    const products = await client.ok(`{ products(provider: "kube") { support { sessionTypes } } }`);
    expect(products.products[0].support.sessionTypes).toEqual(['SHELL', 'WEB']);

    const shell = await shellOn(client, jobId);
    await expectAnswersAndResize(shell);
    shell.type('until [ -f /tmp/job-file ]; do sleep 0.1; done; echo "host:$(hostname) job-host:$(cat /tmp/job-hostname)"\n');
    const host = await shell.waitFor(/host:([\w.-]+) job-host:([\w.-]+)/);
    expect(host[1]).toBe(host[2]);

    // Inside the container: the job's files, its environment and rank; nothing of the provider's nor of the host's.
    shell.type('echo "file:$(cat /tmp/job-file) env:$JOB_COLOUR rank:$SWITCHYARD_RANK job:$SWITCHYARD_JOB_ID"\n');
    await shell.waitFor(new RegExp(`file:made-by-the-job env:teal rank:0 job:${jobId}`));
    shell.type(`echo "provider-env:[$PROVIDER_ONLY_SECRET] [$NATS_URL]"; cat ${hostOnlyFile} 2>/dev/null || echo "host-file:hidden"\n`);
    await shell.waitFor(/provider-env:\[\] \[\]/);
    await shell.waitFor(/host-file:hidden/);

    await expectExitCode(shell, 3, { client, id: jobId, user: 'admin' });
    await client.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: jobId });
  }, 120_000);

  it('serves a web app in the rank’s pod through a port-forward: a page, a redirect, a cookie, a websocket, a body larger than every window; 502 where nothing listens', async () => {
    // The real node's pods share its network (no pod network here): a port free on this host.
    const port = await freePort();
    const jobId = await runningJob({ image: nodeImage, command: webAppCommand(port), workingDir: '/tmp' });
    const { session, error } = await openSession(client, { jobId, rank: 0, sessionType: 'WEB', port });
    expect(error).toBeNull();
    await waitForWebApp(session!.url);
    const prefix = webPrefix(jobId, 0, port);
    const browser = await expectWebAppServed(session!.url, prefix);

    // 2 MB up and back through the API server's websocket, with flow control at each hop.
    const body = randomBytes(2 * 1024 * 1024);
    const echoed = await fetch(new URL(`${prefix}echo`, session!.url), {
      method: 'POST',
      body,
      headers: { cookie: browser.cookieHeader(new URL(prefix, session!.url).toString())! },
    });
    expect(echoed.status).toBe(200);
    expect(Buffer.from(await echoed.arrayBuffer()).equals(body)).toBe(true);

    // The kubelet finds nothing on the port: the gateway answers 502.
    const closed = await openSession(client, { jobId, rank: 0, sessionType: 'WEB', port: await freePort() });
    const refused = await new WebClient().visit(closed.session!.url);
    expect(refused.status).toBe(502);
    expect(JSON.parse(refused.body).error.code).toBe('PROVIDER_UNAVAILABLE');
    await client.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: jobId });
  }, 120_000);

  it('refuses a session on a job that has ended, and on a rank the job does not have', async () => {
    const jobId = await runningJob({ command: ['sleep', '300'] });
    expect((await openSession(client, { jobId, rank: 1, sessionType: 'SHELL' })).error?.code).toBe('INVALID_INPUT');
    await client.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: jobId });
    await waitForState(client, jobId, ['SUCCESS', 'FAILURE'], 60_000);
    expect((await openSession(client, { jobId, rank: 0, sessionType: 'SHELL' })).error?.code).toBe('INVALID_STATE');
  }, 120_000);

  it('closes the session with a clear reason when the provider is killed; the pod runs on', async () => {
    const jobId = await runningJob({ command: ['sleep', '300'] });
    const shell = await shellOn(client, jobId);
    await expectClosedWhenProviderKilled(shell, () => provider.kill('SIGKILL'));
    startProvider();
    await waitProviderUp(client, 'kube', provider, ' after its restart');
    const job = await waitForState(client, jobId, ['RUNNING']);
    expect(job.state.state).toBe('RUNNING');
    const pods = await core.listNamespacedPod({ namespace });
    expect(pods.items.filter((pod) => pod.status?.phase === 'Running').length).toBeGreaterThanOrEqual(1);
    await client.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: jobId });
  }, 120_000);
});
