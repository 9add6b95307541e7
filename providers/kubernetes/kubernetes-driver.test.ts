/**
 * The Kubernetes driver against the Kubernetes test cluster (deploy/kubernetes:
 * a real API server, Job controller and scheduler, with kwok as the nodes),
 * through the real provider runtime on the in-process bus. The e2e project's
 * setup starts the cluster and exports KUBECONFIG and the provider's own
 * kubeconfig (RBAC-limited, as in production). The simulated nodes run a
 * container as its environment says: SIM_DURATION, SIM_EXIT_CODE (see
 * deploy/kubernetes/README.md). Each test uses a namespace of its own.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { BatchV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';

import type { JobSpecification } from '../../shared/domain.js';
import { createDriverBus } from '../../test/support/driver-bus.js';
import { eventually } from '../../test/support/graphql-client.js';
import { makeCreateJob } from '../../test/support/jobs.js';
import { REAL_PRODUCT } from '../../test/support/kube-setup.js';
import type { ProviderRuntime } from '../sdk/runtime.js';
import { createKubernetesDriver, type KubernetesDriverOptions } from './kubernetes-driver.js';
import type { KubernetesProductConfig } from './kubernetes-products.js';

const PROVIDER = 'kube';
const PROVIDER_KUBECONFIG = process.env.SWITCHYARD_KUBE_PROVIDER_KUBECONFIG;
const ADMIN_KUBECONFIG = process.env.KUBECONFIG;

function admin() {
  if (!ADMIN_KUBECONFIG || !PROVIDER_KUBECONFIG) {
    throw new Error(
      'No Kubernetes test cluster: run `bash deploy/kubernetes/kube-up.sh` and source /tmp/switchyard-kube/kube.env (the e2e setup does)',
    );
  }
  const config = new KubeConfig();
  config.loadFromFile(ADMIN_KUBECONFIG);
  return { batch: config.makeApiClient(BatchV1Api), core: config.makeApiClient(CoreV1Api) };
}

/** Poll until `probe` answers something, for at most `timeoutMs`. */
const waitFor = <T>(probe: () => T | undefined | null | false | Promise<T | undefined | null | false>, what: string, timeoutMs = 20_000) =>
  eventually(async () => probe(), { what, timeoutMs, intervalMs: 100 });

const PRODUCTS: KubernetesProductConfig[] = [
  { id: 'small', cpu: 0.5, memoryInGigs: 1, pricePerUnit: 30 },
  { id: 'huge', cpu: 16, memoryInGigs: 8, pricePerUnit: 500 },
];

const namespaces: string[] = [];
const nodes: string[] = [];
const apiServers: string[] = [];
let runtimes: ProviderRuntime[] = [];

afterEach(async () => {
  for (const runtime of runtimes) await runtime.stop();
  runtimes = [];
  const { core } = admin();
  for (const namespace of namespaces.splice(0)) await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  for (const name of nodes.splice(0)) await core.deleteNode({ name }).catch(() => undefined);
  for (const name of apiServers.splice(0)) await extraApiServer('stop', name);
});

const EXTRA_API_SERVER = new URL('../../deploy/kubernetes/kube-apiserver-extra.sh', import.meta.url).pathname;

/** Start (again, on its port), stop or kill an API server of the test's own on the cluster's etcd; start answers a provider kubeconfig for it. */
async function extraApiServer(action: 'start' | 'stop' | 'kill', name: string): Promise<string> {
  const { stdout } = await promisify(execFile)('bash', [EXTRA_API_SERVER, action, name], { timeout: 90_000 });
  return stdout.trim();
}

function realNode(): { node: string; image: string } {
  const node = process.env.SWITCHYARD_KUBE_REAL_NODE;
  const image = process.env.SWITCHYARD_KUBE_REAL_IMAGE;
  if (!node || !image) throw new Error('No real node in the test cluster: run `bash deploy/kubernetes/kube-real-node.sh` (the e2e setup does)');
  return { node, image };
}

/** The label of a test's own nodes: a product selecting it runs only there. */
const POOL_LABEL = 'sim.switchyard.io/pool';

/** A kwok node of the test's own (deleted after it), Ready; answers its pool label's value. */
async function addNode(size: { cpu: string; memory: string }): Promise<string> {
  const name = `sy-test-${randomUUID().slice(0, 8)}`;
  nodes.push(name);
  const resources = { ...size, pods: '10' };
  const { core } = admin();
  await core.createNode({
    body: {
      metadata: {
        name,
        annotations: { 'kwok.x-k8s.io/node': 'fake' },
        labels: { 'kubernetes.io/hostname': name, type: 'kwok', 'sim.switchyard.io/simulated': 'true', [POOL_LABEL]: name },
      },
      status: { capacity: resources, allocatable: resources, addresses: [{ type: 'InternalIP', address: '127.0.0.1' }] },
    },
  });
  await waitFor(
    async () => (await core.readNode({ name })).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    `node ${name} to be Ready`,
  );
  return name;
}

async function harness(overrides: Partial<KubernetesDriverOptions> = {}) {
  const namespace = `sy-test-${randomUUID().slice(0, 8)}`;
  namespaces.push(namespace);
  const bus = await createDriverBus(PROVIDER, { kind: 'KUBERNETES', timeoutMs: 20_000 });
  const { call, eventsOf } = bus;
  const start = async () => {
    const driver = createKubernetesDriver({ kubeconfig: PROVIDER_KUBECONFIG, namespace, products: PRODUCTS, ...overrides });
    const runtime = await bus.startRuntime(driver);
    runtimes.push(runtime);
    return { runtime, driver };
  };
  const first = await start();
  const product = (id = 'small') => bus.product(id);
  const create = async (spec: Partial<JobSpecification>, productId = 'small') => {
    const job = makeCreateJob(await product(productId), PROVIDER, { command: ['true'], ...spec });
    const reply = await call('jobs.create', { jobs: [job] });
    return { job, reply };
  };
  const created = async (spec: Partial<JobSpecification>, productId = 'small') => {
    const { job, reply } = await create(spec, productId);
    expect(reply.result.results[0], JSON.stringify(reply.result.results[0])).toMatchObject({ ok: true, providerGeneratedId: `sy-${job.id}` });
    return job.id as string;
  };
  const reach = (jobId: string, state: string, timeoutMs = 20_000) =>
    waitFor(
      () => eventsOf(jobId).find((e) => e.state === state),
      `job ${jobId} to be ${state} (events: ${JSON.stringify(eventsOf(jobId).map((e) => [e.state, e.status]))})`,
      timeoutMs,
    );
  const lines = bus.logLinesOf;
  return { namespace, call, create, created, reach, eventsOf, lines, start, first, product };
}

describe('the Kubernetes driver on a real control plane', () => {
  it('runs a two-rank job as an Indexed Job: RUNNING once both ranks run, SUCCESS with exit code 0, each rank’s log', async () => {
    const h = await harness();
    const id = await h.created({ replicas: 2, env: { SIM_DURATION: '1500ms' } });
    const running = await h.reach(id, 'RUNNING');
    expect(running.startedAt).toEqual(expect.any(Number));
    const done = await h.reach(id, 'SUCCESS');
    expect(done).toMatchObject({ exitCode: 0, status: 'Job finished with exit code 0' });
    await waitFor(() => new Set(h.lines(id).map((l) => l.rank)).size === 2, 'log lines from both ranks');
    const { batch } = admin();
    const job = await batch.readNamespacedJob({ name: `sy-${id}`, namespace: h.namespace });
    expect(job.spec).toMatchObject({ completionMode: 'Indexed', completions: 2, parallelism: 2 });
    expect(job.metadata?.annotations?.['switchyard.io/owner']).toBe('alice');
  });

  it('ends a job whose rank exits non-zero SUCCESS with that exit code (the application failed, not the cluster)', async () => {
    const h = await harness();
    const id = await h.created({ env: { SIM_DURATION: '500ms', SIM_EXIT_CODE: '3' } });
    expect(await h.reach(id, 'SUCCESS')).toMatchObject({ exitCode: 3, status: 'Job finished with exit code 3' });
  });

  it('keeps a job the full cluster cannot take now IN_QUEUE with the scheduler’s reason, and terminates it leaving nothing in the cluster', async () => {
    // A node of the test's own, one CPU, for one pod of 0.75 CPUs at a time: the second job waits for the first.
    const pool = await addNode({ cpu: '1', memory: '4Gi' });
    const h = await harness({ products: [{ id: 'pooled', cpu: 0.75, memoryInGigs: 1, pricePerUnit: 30, nodeSelector: { [POOL_LABEL]: pool } }] });
    const first = await h.created({ env: { SIM_DURATION: '1h' } }, 'pooled');
    await h.reach(first, 'RUNNING');
    const id = await h.created({ env: { SIM_DURATION: '1h' } }, 'pooled');
    await waitFor(() => h.eventsOf(id).find((e) => e.status?.includes('Insufficient cpu')), 'the scheduler’s reason');
    expect(h.eventsOf(id).every((e) => e.state === null || e.state === 'IN_QUEUE')).toBe(true);
    const reply = await h.call('jobs.terminate', { ids: [id], reason: null });
    expect(reply.result.results[0]).toMatchObject({ ok: true });
    expect(await h.reach(id, 'SUCCESS')).toMatchObject({ status: 'Your job has been terminated' });
    const { batch, core } = admin();
    await waitFor(async () => (await batch.listNamespacedJob({ namespace: h.namespace })).items.length === 1, 'its Job to be gone');
    expect((await core.listNamespacedPod({ namespace: h.namespace })).items.map((pod) => pod.metadata?.labels?.['job-name'])).toEqual([
      `sy-${first}`,
    ]);
  });

  it('refuses a product no node could ever hold with NO_CAPACITY, creating nothing', async () => {
    const h = await harness();
    const { reply } = await h.create({ env: { SIM_DURATION: '1h' } }, 'huge');
    expect(reply.result.results[0]).toMatchObject({ ok: false, error: { code: 'NO_CAPACITY', message: expect.stringContaining('no node') } });
    expect((await admin().batch.listNamespacedJob({ namespace: h.namespace })).items).toEqual([]);
  });

  it('ends a job at the end of its time allocation EXPIRED, counted from when it runs, and an extension moves the deadline', async () => {
    const h = await harness();
    const id = await h.created({ timeAllocationMs: 3_000, env: { SIM_DURATION: '1h' } });
    const running = await h.reach(id, 'RUNNING');
    expect(running.expiresAt).toBe(running.startedAt! + 3_000);
    const reply = await h.call('jobs.extend', { items: [{ id, addMs: 2_000 }] });
    expect(reply.result.results[0]).toMatchObject({ ok: true, expiresAt: running.startedAt! + 5_000 });
    const expired = await h.reach(id, 'EXPIRED', 30_000).catch(async (error: Error) => {
      const job = await admin().batch.readNamespacedJob({ name: `sy-${id}`, namespace: h.namespace });
      throw new Error(`${error.message}; the Job: ${JSON.stringify({ spec: job.spec?.activeDeadlineSeconds, status: job.status })}`);
    });
    expect(expired.timestamp - running.startedAt!).toBeGreaterThanOrEqual(4_000);
  }, 60_000);

  it('suspends a running job (its pods go) and resumes it (new pods run)', async () => {
    const h = await harness();
    const id = await h.created({ env: { SIM_DURATION: '1h' } });
    await h.reach(id, 'RUNNING');
    expect((await h.call('jobs.suspend', { ids: [id] })).result.results[0]).toMatchObject({ ok: true });
    await h.reach(id, 'SUSPENDED');
    const { core } = admin();
    await waitFor(async () => (await core.listNamespacedPod({ namespace: h.namespace })).items.length === 0, 'the pods to be deleted');
    expect((await h.call('jobs.unsuspend', { ids: [id] })).result.results[0]).toMatchObject({ ok: true });
    await waitFor(() => h.eventsOf(id).filter((e) => e.state === 'RUNNING').length === 2, 'the job to run again');
  });

  it('ends FAILURE, saying so, when someone else deletes the Kubernetes Job', async () => {
    const h = await harness();
    const id = await h.created({ env: { SIM_DURATION: '1h' } });
    await h.reach(id, 'RUNNING');
    await admin().batch.deleteNamespacedJob({ name: `sy-${id}`, namespace: h.namespace, propagationPolicy: 'Background' });
    expect(await h.reach(id, 'FAILURE')).toMatchObject({ status: `The Kubernetes Job sy-${id} was deleted outside Switchyard` });
  });

  it('ends FAILURE, saying why, when Kubernetes evicts a rank (its node drained)', async () => {
    const h = await harness();
    const id = await h.created({ env: { SIM_DURATION: '1h' } });
    await h.reach(id, 'RUNNING');
    const { core } = admin();
    const [pod] = (await core.listNamespacedPod({ namespace: h.namespace, labelSelector: `job-name=sy-${id}` })).items;
    const name = pod!.metadata!.name!;
    // What `kubectl drain` does to each pod of a node: the Eviction API.
    await core.createNamespacedPodEviction({ name, namespace: h.namespace, body: { metadata: { name, namespace: h.namespace } } });
    expect(await h.reach(id, 'FAILURE')).toMatchObject({
      status: expect.stringMatching(/^Rank 0 was stopped by Kubernetes \(EvictionByEvictionAPI\)/),
    });
  });

  it('refuses an image name no runtime can pull with INVALID_INPUT, creating nothing', async () => {
    const h = await harness();
    const { reply } = await h.create({ image: 'Not An/Image' });
    expect(reply.result.results[0]).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT' } });
    expect((await admin().batch.listNamespacedJob({ namespace: h.namespace })).items).toEqual([]);
  });

  it('passes on the API server’s own refusal of a job it finds invalid (422: an environment variable name) as INVALID_INPUT, creating nothing', async () => {
    const h = await harness();
    const { reply } = await h.create({ env: { 'NAME\u0001WITH_A_CONTROL_CHARACTER': 'x' } });
    expect(reply.result.results[0]).toMatchObject({
      ok: false,
      error: { code: 'INVALID_INPUT', message: expect.stringContaining('spec.template.spec.containers[0].env[0].name: Invalid value') },
    });
    expect((await admin().batch.listNamespacedJob({ namespace: h.namespace })).items).toEqual([]);
  });

  it('refuses to take over a Job of the same name that is not the job’s (409 from the API server): INVALID_STATE, the Job untouched', async () => {
    const h = await harness();
    const job = makeCreateJob(await h.product(), PROVIDER, { command: ['true'], env: { SIM_DURATION: '1h' } });
    const { batch } = admin();
    const container = { name: 'main', image: 'busybox:1.36', command: ['sleep', '3600'] };
    await batch.createNamespacedJob({
      namespace: h.namespace,
      body: { metadata: { name: `sy-${job.id}` }, spec: { template: { spec: { restartPolicy: 'Never', containers: [container] } } } },
    });
    const reply = await h.call('jobs.create', { jobs: [job] });
    expect(reply.result.results[0]).toMatchObject({ ok: false, error: { code: 'INVALID_STATE', message: expect.stringContaining('not this job') } });
    const foreign = await batch.readNamespacedJob({ name: `sy-${job.id}`, namespace: h.namespace });
    expect(foreign.metadata?.annotations?.['switchyard.io/job-id']).toBeUndefined();
    expect(foreign.metadata?.deletionTimestamp).toBeUndefined();
  });

  it('finds its jobs again after a restart and reports how they ended meanwhile', async () => {
    const h = await harness();
    const id = await h.created({ env: { SIM_DURATION: '2s', SIM_EXIT_CODE: '4' } });
    await h.reach(id, 'RUNNING');
    await h.first.runtime.stop();
    runtimes = runtimes.filter((r) => r !== h.first.runtime);
    await new Promise((r) => setTimeout(r, 2_500));
    await h.start();
    expect(await h.reach(id, 'SUCCESS')).toMatchObject({ exitCode: 4 });
    const observed = await h.call('jobs.reconcile', { ids: [id] });
    expect(observed.result.jobs[0]).toMatchObject({ id, state: 'SUCCESS', exitCode: 4 });
  });

  it('rides out its API server dying and starting again: running jobs go on, calls meanwhile say PROVIDER_UNAVAILABLE, what ended meanwhile is reported', async () => {
    // An API server of the test's own: the controllers, the scheduler and kwok go on with the first one.
    const name = `restart-${randomUUID().slice(0, 8)}`;
    apiServers.push(name);
    const kubeconfig = await extraApiServer('start', name);
    const h = await harness({ kubeconfig, rewatchMs: 200 });
    const long = await h.created({ env: { SIM_DURATION: '1h' } });
    const short = await h.created({ env: { SIM_DURATION: '5s', SIM_EXIT_CODE: '5' } });
    await h.reach(long, 'RUNNING');
    await h.reach(short, 'RUNNING');

    await extraApiServer('kill', name);
    const refused = await h.call('jobs.extend', { items: [{ id: long, addMs: 60_000 }] });
    expect(refused.result.results[0]).toMatchObject({ ok: false, error: { code: 'PROVIDER_UNAVAILABLE' } });
    // Capacity from watches that broke is not a figure to route by.
    await waitFor(async () => (await h.call('utilization', {})).error?.code === 'PROVIDER_UNAVAILABLE', 'utilization to be refused');
    const { batch, core } = admin();
    // The short job ends while the provider cannot see it; the long one is not touched.
    await waitFor(
      async () =>
        (await batch.readNamespacedJob({ name: `sy-${short}`, namespace: h.namespace })).status?.conditions?.some(
          (c) => c.type === 'Complete' || c.type === 'Failed',
        ),
      'the short job to end while the API server is down',
    );
    expect(h.eventsOf(short).some((e) => e.state === 'SUCCESS')).toBe(false);

    await extraApiServer('start', name);
    expect(await h.reach(short, 'SUCCESS', 30_000)).toMatchObject({ exitCode: 5 });
    await waitFor(async () => (await h.call('utilization', {})).result?.capacityByProduct.small > 0, 'utilization again');
    const pods = await core.listNamespacedPod({ namespace: h.namespace, labelSelector: `job-name=sy-${long}` });
    expect(pods.items.map((pod) => pod.status?.phase)).toEqual(['Running']);
    expect(h.eventsOf(long).filter((e) => e.state !== null && e.state !== 'RUNNING' && e.state !== 'IN_QUEUE')).toEqual([]);
    expect((await h.call('jobs.terminate', { ids: [long], reason: null })).result.results[0]).toMatchObject({ ok: true });
    await h.reach(long, 'SUCCESS');
  }, 90_000);

  it('runs a real command in real containers on the real node: each rank’s own output and the job’s own exit code', async () => {
    const { node, image } = realNode();
    const h = await harness({ products: [REAL_PRODUCT] });
    // Rank 1 ends first and well; rank 0 then fails with 4, the exit code that speaks for the job.
    const script =
      'echo "rank $SWITCHYARD_RANK of $SWITCHYARD_REPLICAS: $GREETING"; echo "to stderr" >&2; [ "$SWITCHYARD_RANK" = 1 ] && exit 0; sleep 2; exit 4';
    const id = await h.created({ image, replicas: 2, command: ['sh', '-c', script], env: { GREETING: 'hello from runc' } }, 'real');
    expect(await h.reach(id, 'SUCCESS', 60_000)).toMatchObject({ exitCode: 4, status: 'Job finished with exit code 4' });
    await waitFor(() => h.lines(id).length >= 4, 'both ranks’ output');
    const byRank = (rank: number) =>
      h
        .lines(id)
        .filter((line) => line.rank === rank)
        .map((line) => line.stdout);
    // Sorted: the runtime reads a container's stdout and stderr apart, so their lines may interleave either way.
    expect(byRank(0).sort()).toEqual(['rank 0 of 2: hello from runc', 'to stderr']);
    expect(byRank(1).sort()).toEqual(['rank 1 of 2: hello from runc', 'to stderr']);
    const pods = await admin().core.listNamespacedPod({ namespace: h.namespace });
    expect(new Set(pods.items.map((pod) => pod.spec?.nodeName))).toEqual(new Set([node]));
    expect(pods.items.map((pod) => pod.status?.containerStatuses?.[0]?.containerID?.split(':')[0])).toEqual(['containerd', 'containerd']);
  }, 90_000);

  it('ends FAILURE, saying why, when the real node cannot start the container (an image it does not have), and deletes the Job', async () => {
    realNode();
    const h = await harness({ products: [REAL_PRODUCT] });
    const id = await h.created({ image: 'localhost/not-loaded:ci', command: ['true'] }, 'real');
    expect(await h.reach(id, 'FAILURE', 60_000)).toMatchObject({
      status: expect.stringContaining("Cannot start the job's container: ErrImageNeverPull"),
    });
    await waitFor(async () => (await admin().batch.listNamespacedJob({ namespace: h.namespace })).items.length === 0, 'the Job to be deleted');
  }, 90_000);

  it('reports capacity per product from the nodes, and utilization of the cluster', async () => {
    const h = await harness();
    const reply = await h.call('utilization', {});
    expect(reply.result.capacity.cpu).toBeGreaterThan(19);
    expect(reply.result.capacity.gpu).toBe(1);
    expect(reply.result.capacityByProduct.huge).toBe(0);
    expect(reply.result.capacityByProduct.small).toBeGreaterThan(10);
  });

  it('follows the cluster in its capacity: a node that joins, a pod bound to it and gone again, the node leaving', async () => {
    const pool = await addNode({ cpu: '2', memory: '4Gi' });
    const h = await harness({ products: [{ id: 'pooled', cpu: 0.75, memoryInGigs: 1, pricePerUnit: 30, nodeSelector: { [POOL_LABEL]: pool } }] });
    const pooled = async () => (await h.call('utilization', {})).result.capacityByProduct.pooled as number;
    // Once the node controller has taken off the new node's not-ready taint, as the scheduler waits for.
    await waitFor(async () => (await pooled()) === 2, 'the new node’s room');
    const id = await h.created({ env: { SIM_DURATION: '1h' } }, 'pooled');
    await h.reach(id, 'RUNNING');
    await waitFor(async () => (await pooled()) === 1, 'the bound pod to take its room');
    await h.call('jobs.terminate', { ids: [id], reason: null });
    await h.reach(id, 'SUCCESS');
    await waitFor(async () => (await pooled()) === 2, 'the room back once the pod is gone');
    await admin().core.deleteNode({ name: pool });
    await waitFor(async () => (await pooled()) === 0, 'the room gone with the node');
  });
});
