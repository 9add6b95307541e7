/**
 * The Kubernetes driver against the Kubernetes test cluster (deploy/kubernetes:
 * a real API server, Job controller and scheduler, with kwok as the nodes),
 * through the real provider runtime on the in-process bus. The e2e project's
 * setup starts the cluster and exports KUBECONFIG and the provider's own
 * kubeconfig (RBAC-limited, as in production). The simulated nodes run a
 * container as its environment says: SIM_DURATION, SIM_EXIT_CODE (see
 * deploy/kubernetes/README.md). Each test uses a namespace of its own.
 */
import { randomUUID } from 'node:crypto';
import { BatchV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';

import type { JobSpecification, Product } from '../../shared/domain.js';
import { silentLogger } from '../../shared/logger.js';
import { jobEventSchema, logEventSchema, type JobEvent, type LogEvent } from '../../shared/protocol.js';
import { createSubjects, type ProviderVerb } from '../../shared/subjects.js';
import { createMemoryTransport } from '../../shared/transport/memory-transport.js';
import { eventually } from '../../test/support/graphql-client.js';
import { makeCreateJob } from '../../test/support/jobs.js';
import { uniquePrefix } from '../../test/support/services.js';
import { createProviderRuntime, type ProviderRuntime } from '../sdk/runtime.js';
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
let runtimes: ProviderRuntime[] = [];

afterEach(async () => {
  for (const runtime of runtimes) await runtime.stop();
  runtimes = [];
  const { core } = admin();
  for (const namespace of namespaces.splice(0)) await core.deleteNamespace({ name: namespace }).catch(() => undefined);
});

async function harness(overrides: Partial<KubernetesDriverOptions> = {}) {
  const namespace = `sy-test-${randomUUID().slice(0, 8)}`;
  namespaces.push(namespace);
  const transport = createMemoryTransport({ subjects: createSubjects(uniquePrefix()) });
  const events: JobEvent[] = [];
  const logs: LogEvent[] = [];
  await transport.consumeDurable(async (body, subject) => {
    if (subject.includes('.events.')) events.push(jobEventSchema.parse(body));
    else logs.push(logEventSchema.parse(body));
  });
  const start = async () => {
    const driver = createKubernetesDriver({ kubeconfig: PROVIDER_KUBECONFIG, namespace, products: PRODUCTS, ...overrides });
    const runtime = createProviderRuntime({ transport, driver, id: PROVIDER, kind: 'KUBERNETES', version: '0.1.0', logger: silentLogger() });
    await runtime.start();
    runtimes.push(runtime);
    return { runtime, driver };
  };
  const first = await start();
  const call = (verb: ProviderVerb, body: object) =>
    transport.request(transport.subjects.providerCall(PROVIDER, verb), { v: 1, ...body }, { timeoutMs: 20_000 }) as Promise<any>;
  const product = async (id = 'small'): Promise<Product> => (await call('manifest', {})).result.products.find((p: Product) => p.id === id);
  const create = async (spec: Partial<JobSpecification>, productId = 'small') => {
    const job = makeCreateJob(await product(productId), PROVIDER, { command: ['true'], ...spec });
    const reply = await call('jobs.create', { jobs: [job] });
    return { job, reply };
  };
  const created = async (spec: Partial<JobSpecification>, productId = 'small') => {
    const { job, reply } = await create(spec, productId);
    expect(reply.result.results[0]).toMatchObject({ ok: true, providerGeneratedId: `sy-${job.id}` });
    return job.id as string;
  };
  const eventsOf = (jobId: string) => events.filter((e) => e.jobId === jobId);
  const reach = (jobId: string, state: string, timeoutMs = 20_000) =>
    waitFor(
      () => eventsOf(jobId).find((e) => e.state === state),
      `job ${jobId} to be ${state} (events: ${JSON.stringify(eventsOf(jobId).map((e) => [e.state, e.status]))})`,
      timeoutMs,
    );
  const lines = (jobId: string) => logs.filter((l) => l.jobId === jobId).flatMap((l) => l.lines);
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

  it('keeps a job no node can take IN_QUEUE with the scheduler’s reason, and terminates it leaving nothing in the cluster', async () => {
    const h = await harness();
    const id = await h.created({ env: { SIM_DURATION: '1h' } }, 'huge');
    await waitFor(() => h.eventsOf(id).find((e) => e.status?.includes('Insufficient cpu')), 'the scheduler’s reason');
    expect(h.eventsOf(id).every((e) => e.state === null || e.state === 'IN_QUEUE')).toBe(true);
    const reply = await h.call('jobs.terminate', { ids: [id], reason: null });
    expect(reply.result.results[0]).toMatchObject({ ok: true });
    expect(await h.reach(id, 'SUCCESS')).toMatchObject({ status: 'Your job has been terminated' });
    const { batch, core } = admin();
    await waitFor(async () => (await batch.listNamespacedJob({ namespace: h.namespace })).items.length === 0, 'the Job to be gone');
    expect((await core.listNamespacedPod({ namespace: h.namespace })).items).toEqual([]);
  });

  it('ends a job at the end of its time allocation EXPIRED, counted from when it runs, and an extension moves the deadline', async () => {
    const h = await harness();
    const id = await h.created({ timeAllocationMs: 3_000, env: { SIM_DURATION: '1h' } });
    const running = await h.reach(id, 'RUNNING');
    expect(running.expiresAt).toBe(running.startedAt! + 3_000);
    const reply = await h.call('jobs.extend', { items: [{ id, addMs: 2_000 }] });
    expect(reply.result.results[0]).toMatchObject({ ok: true, expiresAt: running.startedAt! + 5_000 });
    const expired = await h.reach(id, 'EXPIRED', 30_000);
    expect(expired.timestamp - running.startedAt!).toBeGreaterThanOrEqual(4_000);
  });

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

  it('refuses an image name no runtime can pull with INVALID_INPUT, creating nothing', async () => {
    const h = await harness();
    const { reply } = await h.create({ image: 'Not An/Image' });
    expect(reply.result.results[0]).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT' } });
    expect((await admin().batch.listNamespacedJob({ namespace: h.namespace })).items).toEqual([]);
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

  it('reports capacity per product from the nodes, and utilization of the cluster', async () => {
    const h = await harness();
    const reply = await h.call('utilization', {});
    expect(reply.result.capacity.cpu).toBeGreaterThan(19);
    expect(reply.result.capacity.gpu).toBe(1);
    expect(reply.result.capacityByProduct.huge).toBe(0);
    expect(reply.result.capacityByProduct.small).toBeGreaterThan(10);
  });
});
