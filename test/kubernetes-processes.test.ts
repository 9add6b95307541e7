/**
 * The Kubernetes provider behind the gateway, as separate processes over real
 * NATS and Redis, on the Kubernetes test cluster (deploy/kubernetes: the real
 * API server, Job controller and scheduler, kwok as the nodes; the e2e setup
 * starts it). Beside it a simulated HPC provider, so that routing by
 * requirements has a choice to make. A price minute of 100 ms, so that a job
 * running for seconds is charged for many minutes.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { BatchV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fund } from './support/credits.js';
import { createClient, eventually, JOB_FIELDS, waitForState, type TestClient } from './support/graphql-client.js';
import { freePort, gatewayProcessEnv, startSwitchyard, waitReady, type Proc } from './support/processes.js';
import { natsUrl, uniquePrefix } from './support/services.js';

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) {
  createJobs(specifications: $specs) { job { ${JOB_FIELDS} specification { product { id provider } } } error { code message } }
}`;
const PRODUCTS = [
  { id: 'pod-small', cpu: 0.5, memoryInGigs: 1, pricePerUnit: 10, unitOfPrice: 'CREDITS_PER_MINUTE' },
  // Bigger than any node of the test cluster (the largest has 7.9 allocatable CPUs).
  { id: 'pod-huge', cpu: 16, memoryInGigs: 8, pricePerUnit: 10, unitOfPrice: 'CREDITS_PER_MINUTE' },
];

const namespace = `sy-e2e-${randomUUID().slice(0, 8)}`;
const procs: Proc[] = [];
let client: TestClient;
let core: CoreV1Api;
let batch: BatchV1Api;

function adminKubeconfig(): { admin: string; provider: string } {
  const admin = process.env.KUBECONFIG;
  const provider = process.env.SWITCHYARD_KUBE_PROVIDER_KUBECONFIG;
  if (!admin || !provider) {
    throw new Error(
      'No Kubernetes test cluster: run `bash deploy/kubernetes/kube-up.sh` and source /tmp/switchyard-kube/kube.env (the e2e setup does)',
    );
  }
  return { admin, provider };
}

beforeAll(async () => {
  const kubeconfigs = adminKubeconfig();
  const config = new KubeConfig();
  config.loadFromFile(kubeconfigs.admin);
  core = config.makeApiClient(CoreV1Api);
  batch = config.makeApiClient(BatchV1Api);
  const prefix = uniquePrefix();
  const adminToken = randomBytes(24).toString('base64url');
  const port = await freePort();
  const gateway = startSwitchyard(
    ['gateway'],
    gatewayProcessEnv(
      { prefix, adminToken, port },
      {
        SWITCHYARD_CHARGE_INTERVAL_MS: '100',
        SWITCHYARD_CHARGE_LAG_MS: '300',
        SWITCHYARD_PRICE_MINUTE_MS: '100',
      },
    ),
  );
  procs.push(gateway);
  const providerEnv = { NATS_URL: natsUrl(), SWITCHYARD_PREFIX: prefix, SWITCHYARD_HEARTBEAT_MS: '500' };
  procs.push(
    startSwitchyard(['provider', 'kubernetes', '--id', 'kube'], {
      ...providerEnv,
      SWITCHYARD_KUBE_KUBECONFIG: kubeconfigs.provider,
      SWITCHYARD_KUBE_NAMESPACE: namespace,
      SWITCHYARD_KUBE_PRODUCTS: JSON.stringify(PRODUCTS),
    }),
    startSwitchyard(['provider', 'simulated', '--id', 'sim-hpc'], { ...providerEnv, SWITCHYARD_SIM_CONFIG: 'hpc' }),
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitReady(baseUrl, gateway);
  client = createClient(baseUrl, adminToken);
  await eventually(
    async () => {
      const data = await client.ok(`{ providers { id status products { id } } }`);
      const up = data.providers.filter((p: any) => p.status === 'UP' && p.products.length > 0).map((p: any) => p.id);
      return up.includes('kube') && up.includes('sim-hpc');
    },
    { timeoutMs: 30_000, what: `both providers to be UP; Kubernetes provider output: ${procs[1]?.output().slice(-1500)}` },
  );
  // The stitched fields come with the provider's subschema, a moment after its first announcement.
  await eventually(async () => (await client.gql(`{ provider(id: "kube") { kubernetesCluster { version } } }`)).data?.provider?.kubernetesCluster, {
    timeoutMs: 30_000,
    what: 'the Kubernetes subschema to be stitched',
  });
  await fund(client, 'admin', 'kube');
  await fund(client, 'admin', 'sim-hpc');
}, 90_000);

afterAll(async () => {
  for (const proc of procs.reverse()) await proc.kill('SIGTERM');
  await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
});

async function createOne(spec: Record<string, unknown>) {
  const data = await client.ok(CREATE, { specs: [{ timeAllocation: { minutes: 10 }, ...spec }] });
  return data.createJobs[0] as { job: any; error: { code: string; message: string } | null };
}

const podsInNamespace = async () => (await core.listNamespacedPod({ namespace })).items;
/** The names of the Kubernetes Jobs in the provider's namespace. */
const jobsInNamespace = async () => (await batch.listNamespacedJob({ namespace })).items.map((job) => job.metadata?.name);

describe('a job through the gateway on Kubernetes', () => {
  it('is routed by its requirements to Kubernetes, followed, extended, suspended, resumed, terminated and charged', async () => {
    const created = await createOne({
      requirements: { cpu: 0.5, backend: 'DOCKER' },
      image: 'busybox:1.36',
      command: ['sh', '-c', 'echo hello; sleep 3600'],
      env: { SIM_DURATION: '1h' },
    });
    expect(created.error).toBeNull();
    expect(created.job.provider.id).toBe('kube');
    expect(created.job.specification.product).toEqual({ id: 'pod-small', provider: 'kube' });
    const id = created.job.id as string;
    const followed = client.follow(id, { timeoutMs: 90_000, until: (event) => event.newStatus?.state === 'SUCCESS' });

    const running = await waitForState(client, id, ['RUNNING'], 30_000);
    expect(running.providerGeneratedId).toBe(`sy-${id}`);
    const stitched = await client.ok(
      `query ($id: ID!) { job(id: $id) { kubernetes { namespace jobName pods { name rank phase node } events { reason object } } } }`,
      { id },
    );
    expect(stitched.job.kubernetes).toMatchObject({
      namespace,
      jobName: `sy-${id}`,
      pods: [{ rank: 0, phase: 'Running', node: expect.stringMatching(/^sy-/) }],
    });
    expect(stitched.job.kubernetes.events.map((e: any) => e.reason)).toContain('Scheduled');
    const cluster = await client.ok(`{ provider(id: "kube") { kubernetesCluster { version nodes { name cpu taints } } } }`);
    expect(cluster.provider.kubernetesCluster.version).toMatch(/^v1\.\d+\.\d+/);
    expect(cluster.provider.kubernetesCluster.nodes.length).toBeGreaterThanOrEqual(4);

    const expiresAt = Date.parse(running.state.expiresAt);
    const extended = await client.ok(`mutation ($items: [JobExtendInput!]!) { extendJobs(items: $items) { ok error { code message } } }`, {
      items: [{ jobId: id, requestedTime: { minutes: 5 } }],
    });
    expect(extended.extendJobs[0]).toEqual({ ok: true, error: null });
    await eventually(
      async () => {
        const job = (await client.ok(`query ($id: ID!) { job(id: $id) { status { expiresAt } } }`, { id })).job;
        return Date.parse(job.status.expiresAt) === expiresAt + 5 * 60_000;
      },
      { what: 'the expiry to move by 5 minutes' },
    );

    const creditsCharged = async () => (await client.ok(`query ($id: ID!) { job(id: $id) { creditsCharged } }`, { id })).job.creditsCharged as number;
    const ok = (mutation: string) => client.ok(`mutation ($ids: [ID!]!) { ${mutation}(ids: $ids) { ok error { code message } } }`, { ids: [id] });
    expect((await ok('suspendJobs')).suspendJobs[0]).toEqual({ ok: true, error: null });
    await waitForState(client, id, ['SUSPENDED'], 30_000);
    await eventually(async () => (await podsInNamespace()).length === 0, { timeoutMs: 20_000, what: 'the suspended job’s pod to be deleted' });
    // Its running time is charged as the gateway applies the suspension, which may come just after the state shows.
    await eventually(async () => (await creditsCharged()) > 0, { timeoutMs: 10_000, what: 'the running time to be charged' });
    const chargedWhileSuspended = await creditsCharged();
    expect(chargedWhileSuspended).toBeGreaterThan(0);

    expect((await ok('unsuspendJobs')).unsuspendJobs[0]).toEqual({ ok: true, error: null });
    await waitForState(client, id, ['RUNNING'], 30_000);
    expect((await ok('terminateJobs')).terminateJobs[0]).toEqual({ ok: true, error: null });
    const done = await waitForState(client, id, ['SUCCESS'], 30_000);
    expect(done.updates.at(-1).status).toBe('Your job has been terminated');
    await eventually(async () => (await podsInNamespace()).length === 0, { timeoutMs: 20_000, what: 'nothing of the job left in the cluster' });

    const events = await followed;
    const states = events.flatMap((e) => e.updates.map((u: any) => u.state)).filter(Boolean);
    expect(states).toEqual(expect.arrayContaining(['RUNNING', 'SUSPENDED', 'CANCELING', 'SUCCESS']));
    expect(states.indexOf('SUSPENDED')).toBeLessThan(states.lastIndexOf('RUNNING'));
    // The simulated container's log, kwok's two lines, through the API server and the bus (the pod log API merges the streams).
    const stdout = events.flatMap((e) => e.logs.map((l: any) => l.stdout));
    expect(stdout).toContain('a line on stderr');
    expect(stdout.some((line) => line?.startsWith('simulated container started'))).toBe(true);

    // Charged for the time it ran, once: the job's charges are what left the wallet.
    const charged = await eventually(
      async () => {
        const before = await creditsCharged();
        await new Promise((r) => setTimeout(r, 600));
        return before === (await creditsCharged()) ? before : null;
      },
      { timeoutMs: 20_000, what: 'the charges to settle' },
    );
    expect(charged).toBeGreaterThan(chargedWhileSuspended);
    const wallets = await client.ok(`{ wallets { provider category balance allocations { initialBalance } } }`);
    const wallet = wallets.wallets.find((w: any) => w.provider === 'kube' && w.category === 'pod-small');
    expect(wallet.allocations[0].initialBalance - wallet.balance).toBe(charged);
  }, 90_000);

  it('routes what Kubernetes does not sell elsewhere: a NATIVE job goes to the HPC provider', async () => {
    const created = await createOne({ requirements: { cpu: 1, backend: 'NATIVE' }, command: ['true'], parameters: { simulatedDurationMs: 100 } });
    expect(created.error).toBeNull();
    expect(created.job.provider.id).toBe('sim-hpc');
  });

  it('refuses an image name Kubernetes rejects with INVALID_INPUT, leaving nothing in the cluster', async () => {
    const count = async () => (await client.ok(`{ jobs(first: 100) { edges { node { id } } } }`)).jobs.edges.length;
    const before = await count();
    const jobsBefore = await jobsInNamespace();
    const created = await createOne({ product: { id: 'pod-small', provider: 'kube' }, image: 'Not An/Image', command: ['true'] });
    expect(created.job).toBeNull();
    expect(created.error).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('image') });
    expect(await count()).toBe(before);
    expect(await jobsInNamespace()).toEqual(jobsBefore);
  });

  it('refuses a job no node of the cluster could ever hold: NO_CAPACITY by requirements, and the named product too', async () => {
    const [podsBefore, jobsBefore] = [await podsInNamespace(), await jobsInNamespace()];
    const byRequirements = await createOne({ requirements: { cpu: 16, backend: 'DOCKER' }, image: 'busybox:1.36', command: ['true'] });
    expect(byRequirements.error).toMatchObject({ code: 'NO_CAPACITY' });
    const named = await createOne({ product: { id: 'pod-huge', provider: 'kube' }, image: 'busybox:1.36', command: ['true'] });
    expect(named.error).toMatchObject({ code: 'NO_CAPACITY', message: expect.stringContaining('no node') });
    expect((await podsInNamespace()).length).toBe(podsBefore.length);
    expect(await jobsInNamespace()).toEqual(jobsBefore);
  });
});
