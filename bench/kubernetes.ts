/**
 * Benchmark 9: the Kubernetes provider on the Kubernetes test cluster
 * (deploy/kubernetes: the real API server, Job controller and scheduler, with
 * kwok as the nodes). A gateway over NATS and Redis as in bench/rig.ts, the
 * Kubernetes driver behind the provider runtime (as providers/kubernetes/main.ts
 * builds it, with the provider's own RBAC-limited kubeconfig). Beside it, in
 * the same run against the same cluster: bare Jobs created with
 * `@kubernetes/client-node` under the same credentials and over the same kind
 * of connection (connectKubernetes: one kept-alive pool), from the same
 * manifest (jobManifest), so that their pods are the same.
 *
 * (a) Rounds of 200 jobs a side, the sides alternating. Both submit all 200 at
 *     once: Switchyard in one createJobs of 200 (the gateway hands the provider
 *     one jobs.create of 200, the runtime creates them RUNTIME_CONCURRENCY at a
 *     time), bare as 200 createNamespacedJob, RUNTIME_CONCURRENCY at a time.
 *     Submission rate: 200 / (first call → last accepted reply). Submission →
 *     RUNNING of each job, from the round's start: Switchyard's when the gateway
 *     publishes the job RUNNING to its followers (the fanout subject that
 *     followJob listens to), bare's when a watch of the pods shows its pod
 *     Running (the driver's own criterion). Each pod runs SIM_DURATION, then
 *     ends; the round ends when every job has.
 * (b) One job at a time, the sides alternating: submission → RUNNING, as above.
 * (c) The provider's calls to the API server: every HTTP request of its client
 *     (API calls, watches, log streams; observeRequests), by verb and resource,
 *     per job of each round from its start until every job ended and its logs
 *     were read. The capacity reads (lists of the whole cluster's nodes and
 *     pods, which the driver now keeps by watch: 0 once started) go by time,
 *     not by job: counted apart.
 * (d) What one API call costs with the client's own agents (a connection and
 *     TLS handshake each) and over the pool: 400 reads, 16 at once.
 *
 * Run alone with `npx tsx bench/kubernetes.ts [--jobs=200] [--rounds=3] [--runs=20]`
 * or `BENCH_ONLY=kubernetes npm run bench`. Without KUBECONFIG it starts the
 * test cluster (test/support/kube-setup.ts).
 *
 * The cluster is shared with other tests: the bench works in two namespaces of
 * its own and adds kwok nodes of its own, tainted so that only its pods land
 * there (and its pods only there); all of it is deleted at the end.
 */
import { randomBytes } from 'node:crypto';
import { performance as nodePerformance } from 'node:perf_hooks';
import { BatchV1Api, CoreV1Api, KubeConfig, makeInformer, type V1Node, type V1Pod } from '@kubernetes/client-node';

import { connectKubernetes, observeRequests, type ApiRequest } from '../providers/kubernetes/kubernetes-client.js';
import { createKubernetesDriver } from '../providers/kubernetes/kubernetes-driver.js';
import { jobManifest } from '../providers/kubernetes/kubernetes-manifests.js';
import { buildProducts, type KubernetesProductConfig } from '../providers/kubernetes/kubernetes-products.js';
import { createProviderRuntime, type ProviderRuntime } from '../providers/sdk/runtime.js';
import { systemClock } from '../shared/clock.js';
import type { Product } from '../shared/domain.js';
import { silentLogger } from '../shared/logger.js';
import { createSubjects } from '../shared/subjects.js';
import type { Closable, Transport } from '../shared/transport.js';
import { createNatsTransport } from '../shared/transport/nats-transport.js';
import { fund } from '../test/support/credits.js';
import { makeCreateJob } from '../test/support/jobs.js';
import { startKubeCluster } from '../test/support/kube-setup.js';
import { runWithRig, startRig, type Rig, type RigOptions, type SectionOutcome } from './rig.js';
import { startServices } from './services.js';
import { numberOption, runWhenMain, writeOut } from './standalone.js';
import { median, percentile, sleep, summarize, type LatencySummary } from './stats.js';
import { printTable, type Row } from './table.js';

export const KUBERNETES_PROVIDER_ID = 'bench-kube';
/** The runtime's driver calls at once (its requestConcurrency, given explicitly): the bare side creates as many at once. */
const RUNTIME_CONCURRENCY = 16;
/** What the pods of both sides are: the default image (kwok runs nothing), a short run, a time allocation as most jobs have. */
const IMAGE = 'busybox:1.36';
const SIM_DURATION = '5s';
const TIME_ALLOCATION_MINUTES = 10;
/**
 * How long the cluster keeps a finished Job, on both sides. Short: kwok never ends a log stream
 * that follows a container (a kubelet ends it when the container exits), so each finished pod
 * holds its stream and one of kwok's inotify instances (128 a user here, shared with the others'
 * tests) until the pod is deleted; past that, kwok ends new streams at once.
 */
const TTL_SECONDS = 5;
/** The taint and label of this run's nodes: only its pods tolerate and select them. */
const NODE_KEY = 'bench.switchyard.io/run';
const NODES = 4;
/** One pod's requests; a node takes 110 pods (as a default kubelet) and 4 cpu, so no product of others' tests fits it. */
const CPU = 0.05;
const MEMORY_GIGS = 0.0625;

/** Reads of the connection check: as many as a round's creates, twice. */
const CONNECTION_READS = 400;

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { id } error { code message } } }`;

/** Why the Kubernetes benchmark cannot run here, or null; without KUBECONFIG it first tries to start the test cluster. */
export function kubernetesSkipReason(): string | null {
  const failed = startKubeCluster();
  if (!failed) return null;
  const last = failed.split('\n').filter(Boolean).at(-1) ?? failed;
  return `KUBECONFIG is unset and deploy/kubernetes/kube-up.sh could not start the test cluster: ${last}`;
}

/** Requests by "verb resource", e.g. "create jobs", "watch pods", "get pods/log". */
export type ApiCalls = Record<string, number>;

/** The verb and resource of a request, as the API server's audit log would name them. */
export function classifyRequest({ method, path }: ApiRequest): string {
  const [route = '', query = ''] = path.split('?');
  const parts = route.split('/').filter(Boolean);
  // /api/v1/... or /apis/<group>/<version>/...
  const rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  const namespaced = rest[0] === 'namespaces' && rest.length > 2;
  const [resource = rest[0] ?? route, name, sub] = namespaced ? rest.slice(2) : rest;
  const scope = namespaced || resource === 'namespaces' || resource === 'nodes' ? '' : ' (all namespaces)';
  const what = `${resource}${sub ? `/${sub}` : ''}${scope}`;
  const watch = new URLSearchParams(query).get('watch') === 'true';
  const verb =
    method === 'GET'
      ? watch
        ? 'watch'
        : name
          ? 'get'
          : 'list'
      : method === 'POST'
        ? 'create'
        : method === 'DELETE'
          ? name
            ? 'delete'
            : 'deletecollection'
          : method === 'PUT'
            ? 'update'
            : method.toLowerCase();
  return `${verb} ${what}`;
}

/** The capacity reads: lists of the whole cluster, made once when the driver's informers start (and on "410 Gone"). Time-based, not per job. */
const UTILIZATION_CALLS = new Set(['list nodes', 'list pods (all namespaces)']);

export interface KubernetesRig extends Rig {
  runtime: ProviderRuntime;
  /** The provider's namespace, and the bare Jobs'. */
  namespace: string;
  bareNamespace: string;
  product: Product;
  /** A bare Job of this run: the manifest the driver would make, in the bare namespace. */
  bareJob(name: string): ReturnType<typeof jobManifest>;
  /** The provider's API requests so far. */
  apiCalls(): ApiCalls;
  /** Jobs of the gateway seen RUNNING / final on the fanout (performance.now()). */
  running: Map<string, number>;
  ended: Map<string, { state: string; at: number }>;
  /** Bare Jobs (by name) whose pod was seen Running / Succeeded. */
  bareRunning: Map<string, number>;
  bareEnded: Map<string, number>;
  /** What the gateway published of each job: changes (with a status) and log events. */
  published: Map<string, { changes: number; logs: number }>;
  /** Jobs the driver told the runtime RUNNING. */
  emitted: Map<string, number>;
  /** When the driver's creates began and ended (performance.now()). */
  creates: { started: number[]; done: number[] };
  /** The provider's credentials and connection, for the bare side. */
  bareBatch: BatchV1Api;
  providerKubeconfig: string;
  /** Deletes the Jobs of both namespaces and waits until their pods are gone. */
  clear(): Promise<void>;
  stop(): Promise<void>;
}

function benchNode(name: string, runId: string): V1Node {
  const resources = { cpu: '4', memory: '16Gi', pods: '110', 'ephemeral-storage': '80Gi' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      // kwok runs the nodes with this annotation (deploy/kubernetes/kwok/nodes.sh).
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', type: 'kwok', [NODE_KEY]: runId },
    },
    spec: { taints: [{ key: NODE_KEY, value: runId, effect: 'NoSchedule' }] },
    status: {
      capacity: resources,
      allocatable: resources,
      addresses: [
        { type: 'InternalIP', address: '127.0.0.1' },
        { type: 'Hostname', address: name },
      ],
    },
  };
}

const isReady = (node: V1Node) => node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** Polls `check` every `everyMs` until it is truthy, or fails naming `what`. */
async function until<T>(check: () => Promise<T | null | undefined | false>, what: string, timeoutMs: number, everyMs = 250): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export async function startKubernetesRig(options: Omit<RigOptions, 'withProvider'> & { runId: string }): Promise<KubernetesRig> {
  const adminConfig = new KubeConfig();
  adminConfig.loadFromFile(process.env.KUBECONFIG!);
  const batch = adminConfig.makeApiClient(BatchV1Api);
  const core = adminConfig.makeApiClient(CoreV1Api);
  const providerKubeconfig = process.env.SWITCHYARD_KUBE_PROVIDER_KUBECONFIG ?? process.env.KUBECONFIG!;
  // The bare side connects as the provider does (kubernetes-client.ts: one kept-alive connection pool), under its user.
  const bare = connectKubernetes({ kubeconfig: providerKubeconfig });
  const { runId } = options;
  const namespace = `sy-bench-${runId}`;
  const bareNamespace = `sy-bench-${runId}-bare`;
  const nodeNames = Array.from({ length: NODES }, (_, i) => `sy-bench-${runId}-${i}`);
  const productConfig: KubernetesProductConfig = {
    id: 'bench-kube-tiny',
    cpu: CPU,
    memoryInGigs: MEMORY_GIGS,
    pricePerUnit: 1,
    nodeSelector: { [NODE_KEY]: runId },
    tolerations: [{ key: NODE_KEY, operator: 'Equal', value: runId, effect: 'NoSchedule' }],
  };
  const [kubeProduct] = buildProducts([productConfig]);

  const running = new Map<string, number>();
  const ended = new Map<string, { state: string; at: number }>();
  const bareRunning = new Map<string, number>();
  const bareEnded = new Map<string, number>();
  const emitted = new Map<string, number>();
  const published = new Map<string, { changes: number; logs: number }>();
  const creates = { started: [] as number[], done: [] as number[] };
  const calls: ApiCalls = {};
  const closers: (() => Promise<unknown>)[] = [];
  let rig: Rig | null = null;

  const clear = async () => {
    for (const ns of [namespace, bareNamespace]) await batch.deleteCollectionNamespacedJob({ namespace: ns, propagationPolicy: 'Background' });
    await until(
      async () => {
        for (const ns of [namespace, bareNamespace]) {
          if ((await batch.listNamespacedJob({ namespace: ns, limit: 1 })).items.length > 0) return false;
          if ((await core.listNamespacedPod({ namespace: ns, limit: 1 })).items.length > 0) return false;
        }
        return true;
      },
      "this run's Jobs and pods to be deleted",
      180_000,
    );
  };

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      for (const close of closers.splice(0).reverse()) await close().catch((error: unknown) => console.error('bench: stopping failed:', error));
      await rig?.stop();
      // What is left in the cluster: the namespaces (their Jobs and pods with them), then the nodes.
      for (const ns of [namespace, bareNamespace]) await core.deleteNamespace({ name: ns }).catch(() => undefined);
      await until(
        async () => {
          for (const ns of [namespace, bareNamespace]) if ((await core.listNamespacedPod({ namespace: ns, limit: 1 })).items.length > 0) return false;
          return true;
        },
        "this run's pods to go",
        120_000,
      ).catch((error: unknown) => console.error('bench: Kubernetes cleanup:', error));
      for (const name of nodeNames) await core.deleteNode({ name }).catch(() => undefined);
    })());

  try {
    for (const name of nodeNames) await core.createNode({ body: benchNode(name, runId) });
    await core.createNamespace({ body: { metadata: { name: bareNamespace, labels: { 'app.kubernetes.io/managed-by': 'switchyard-bench' } } } });
    await until(
      async () => (await Promise.all(nodeNames.map((name) => core.readNode({ name })))).every(isReady),
      "this run's kwok nodes to be Ready",
      60_000,
    );

    // The pods of both sides, watched as the driver watches its own: for the Switchyard side, where its time goes.
    let watching = true;
    const watchPods = async (ns: string, runningAt: Map<string, number>, endedAt: Map<string, number>) => {
      const informer = makeInformer(adminConfig, `/api/v1/namespaces/${ns}/pods`, () => core.listNamespacedPod({ namespace: ns }));
      const seePod = (pod: V1Pod) => {
        const job = pod.metadata?.labels?.['job-name'];
        const phase = pod.status?.phase;
        if (!job) return;
        if ((phase === 'Running' || phase === 'Succeeded') && !runningAt.has(job)) runningAt.set(job, performance.now());
        if ((phase === 'Succeeded' || phase === 'Failed') && !endedAt.has(job)) endedAt.set(job, performance.now());
      };
      informer.on('add', seePod);
      informer.on('update', seePod);
      informer.on('error', (error: unknown) => {
        if (!watching) return;
        console.error(`bench: the watch of the pods in ${ns} failed; starting it again:`, error);
        setTimeout(() => void informer.start().catch(() => undefined), 1_000);
      });
      await informer.start();
      closers.push(async () => {
        watching = false;
        await informer.stop();
      });
    };
    await watchPods(bareNamespace, bareRunning, bareEnded);

    rig = await startRig({ ...options, withProvider: false });
    const subjects = createSubjects(options.subjectPrefix);
    // What followJob subscribers are told, as soon as the gateway has applied it.
    const observer: Transport = await createNatsTransport({
      url: options.natsUrl,
      subjects,
      name: 'bench-kube-observer',
      onError: options.onTransportError,
    });
    closers.push(() => observer.close());
    const fanout: Closable = observer.subscribe(subjects.fanoutAll(), (body) => {
      const event = body as { jobId?: string; status?: { state?: string } | null; logs?: unknown[] };
      if (!event?.jobId) return;
      const seen = published.get(event.jobId) ?? { changes: 0, logs: 0 };
      if (event.status) seen.changes += 1;
      if (event.logs?.length) seen.logs += 1;
      published.set(event.jobId, seen);
      const state = event.status?.state;
      if (!state) return;
      if (state === 'RUNNING' && !running.has(event.jobId)) running.set(event.jobId, performance.now());
      if (['SUCCESS', 'FAILURE', 'EXPIRED'].includes(state) && !ended.has(event.jobId)) ended.set(event.jobId, { state, at: performance.now() });
    });
    closers.push(() => fanout.close());

    await core.createNamespace({ body: { metadata: { name: namespace, labels: { 'app.kubernetes.io/managed-by': 'switchyard' } } } });
    const providerTransport = await createNatsTransport({
      url: options.natsUrl,
      subjects,
      name: 'bench-kube-provider',
      onError: options.onTransportError,
    });
    closers.push(() => providerTransport.close());
    const driver = createKubernetesDriver({
      kubeconfig: providerKubeconfig,
      namespace,
      products: [productConfig],
      ttlSecondsAfterFinished: TTL_SECONDS,
    });
    observeRequests(driver.client, (request) => {
      const key = classifyRequest(request);
      calls[key] = (calls[key] ?? 0) + 1;
    });
    const runtime = createProviderRuntime({
      transport: providerTransport,
      // The driver as it is, but for the moment it tells the runtime that a job runs.
      driver: {
        ...driver,
        create: async (job) => {
          creates.started.push(performance.now());
          try {
            return await driver.create(job);
          } finally {
            creates.done.push(performance.now());
          }
        },
        start: (context) =>
          driver.start({
            ...context,
            emit: (jobId, change) => {
              if (change.state === 'RUNNING' && !emitted.has(jobId)) emitted.set(jobId, performance.now());
              context.emit(jobId, change);
            },
          }),
      },
      id: KUBERNETES_PROVIDER_ID,
      kind: 'KUBERNETES',
      version: 'bench',
      clock: systemClock,
      logger: silentLogger(),
      requestConcurrency: RUNTIME_CONCURRENCY,
    });
    await runtime.start();
    closers.push(() => runtime.stop());
    const gateway = rig.gateway;
    const entry = await until(
      async () => {
        const found = gateway.registry.get(KUBERNETES_PROVIDER_ID);
        return found?.manifest && gateway.registry.status(found) === 'UP' ? found : null;
      },
      'the gateway to see the Kubernetes provider and its manifest',
      30_000,
      20,
    );
    const product = entry.manifest!.products.find((p) => p.id === productConfig.id)!;
    await fund(rig.admin, 'admin', KUBERNETES_PROVIDER_ID);

    const bareJob = (name: string) => {
      const job = makeCreateJob(product, 'bench-bare', {
        command: ['true'],
        image: IMAGE,
        env: { SIM_DURATION },
        timeAllocationMs: TIME_ALLOCATION_MINUTES * 60_000,
      });
      const manifest = jobManifest({ ...job, id: name }, kubeProduct!, {
        providerId: 'bench-bare',
        namespace: bareNamespace,
        defaultImage: IMAGE,
        ttlSecondsAfterFinished: TTL_SECONDS,
      });
      manifest.metadata!.name = name;
      return manifest;
    };
    return {
      ...rig,
      stop,
      runtime,
      namespace,
      bareNamespace,
      product,
      bareJob,
      apiCalls: () => ({ ...calls }),
      running,
      ended,
      bareRunning,
      bareEnded,
      emitted,
      published,
      creates,
      bareBatch: bare.batch,
      providerKubeconfig,
      clear,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface SideRound {
  jobs: number;
  failed: number;
  /** First call → last accepted reply. */
  submitSeconds: number;
  jobsPerSecond: number;
  /** First call → the last job RUNNING. */
  allRunningSeconds: number;
  /** Jobs never seen RUNNING (ended before, or not within the time allowed). */
  notSeenRunning: number;
  /**
   * How busy this process's event loop was while submitting (0-1): on the Switchyard side it runs the
   * gateway, the provider and the bench; on the bare side, the creates and the bench.
   */
  eventLoopBusy?: number;
  /** Switchyard's submission, s: the gateway before the provider's first create; the driver's creates; the way back. */
  split?: { beforeProvider: number; creating: number; afterProvider: number };
}

export interface KubernetesResult {
  jobs: number;
  rounds: number;
  concurrency: number;
  simDuration: string;
  throughput: {
    switchyard: SideRound[];
    bare: SideRound[];
    /** Each round's Switchyard / bare jobs per second. */
    ratios: number[];
    /** Medians over the rounds; ratio: the median of the rounds' ratios. */
    switchyardJobsPerSecond: number;
    bareJobsPerSecond: number;
    ratio: number;
    switchyardAllRunningSeconds: number;
    bareAllRunningSeconds: number;
  };
  /** Submission → RUNNING, ms, every job of every round, from its round's start; p95 beside the summary. */
  toRunningUnderLoad: { switchyard: LatencySummary & { p95: number }; bare: LatencySummary & { p95: number }; ratioP50: number; ratioP95: number };
  /**
   * The Switchyard side's own share, 200 at once: ms from the driver telling the runtime a job runs
   * to the gateway publishing it (JetStream, the gateway's store); and the changes of a job the
   * gateway published, per job (IN_QUEUE statuses, RUNNING, SUCCESS; log lines apart).
   */
  switchyardUnderLoad: { emittedToPublished: LatencySummary & { p95: number }; changesPerJob: number; logEventsPerJob: number };
  /** One job at a time. */
  toRunningAlone: { switchyard: LatencySummary & { p95: number }; bare: LatencySummary & { p95: number }; ratioP50: number; ratioP95: number };
  /** The provider's API requests per job, by verb and resource (the capacity reads apart), over the rounds. */
  apiCallsPerJob: ApiCalls;
  apiCallsPerJobTotal: number;
  /** The capacity reads, per second of the whole benchmark. */
  utilizationCallsPerSecond: ApiCalls;
  /** The updates of one job of the one-at-a-time step, as the gateway keeps them. */
  updatesOfOneJob: { state: string | null; status: string | null }[];
  /** Per job of the one-at-a-time step, by verb and resource. */
  apiCallsPerJobAlone: ApiCalls;
  /** CONNECTION_READS readNamespace, RUNTIME_CONCURRENCY at once: seconds with the client's own agents, and with the provider's pool. */
  connection: { reads: number; libraryDefaultsSeconds: number; pooledSeconds: number };
  seconds: number;
}

type CreateReply = { createJobs: { job: { id: string } | null; error: { code: string; message: string } | null }[] };

const eventLoopUtilization = nodePerformance.eventLoopUtilization.bind(nodePerformance);
const withP95 = (samples: number[]) => ({
  ...summarize(samples),
  p95: percentile(
    [...samples].sort((a, b) => a - b),
    95,
  ),
});
const diff = (from: ApiCalls, to: ApiCalls, jobs: number, keep: (key: string) => boolean): ApiCalls =>
  Object.fromEntries(
    Object.entries(to)
      .filter(([key]) => keep(key))
      .map(([key, n]) => [key, (n - (from[key] ?? 0)) / jobs] as const)
      .filter(([, n]) => n > 0)
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
const perJob = (key: string) => !UTILIZATION_CALLS.has(key);

export async function benchKubernetes(
  rig: KubernetesRig,
  options: { jobs?: number; rounds?: number; latencyRuns?: number; progress?: (message: string) => void } = {},
): Promise<KubernetesResult> {
  const total = options.jobs ?? 200;
  const rounds = options.rounds ?? 3;
  const latencyRuns = options.latencyRuns ?? 20;
  const progress = options.progress ?? (() => undefined);
  const started = performance.now();
  const callsAtStart = rig.apiCalls();
  const { product } = rig;
  let bareCounter = 0;

  const spec = (name: string) => ({
    product: { id: product.id, category: product.category, provider: KUBERNETES_PROVIDER_ID },
    image: IMAGE,
    command: ['true'],
    env: { SIM_DURATION },
    name,
    allowDuplicateJob: true,
    timeAllocation: { minutes: TIME_ALLOCATION_MINUTES },
  });
  const createJobs = async (count: number, name: string) => {
    const data = await rig.admin.ok<CreateReply>(CREATE, { specs: Array.from({ length: count }, (_, i) => spec(`${name}-${i}`)) });
    return data.createJobs;
  };
  /** `count` bare Jobs, RUNTIME_CONCURRENCY at a time: the names of those created, and how many the API server refused. */
  const createBare = async (count: number) => {
    const names = Array.from({ length: count }, () => `bare-${(bareCounter += 1)}`);
    const created: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(RUNTIME_CONCURRENCY, count) }, async () => {
        while (next < names.length) {
          const name = names[next]!;
          next += 1;
          const ok = await rig.bareBatch.createNamespacedJob({ namespace: rig.bareNamespace, body: rig.bareJob(name) }).then(
            () => true,
            () => false,
          );
          if (ok) created.push(name);
        }
      }),
    );
    return { names: created, failed: count - created.length };
  };
  const allEnded = (ids: string[], seen: { has(id: string): boolean }, what: string) =>
    until(async () => ids.every((id) => seen.has(id)), what, 180_000, 50);

  // What one call costs: with the client's own agents (a new connection and TLS handshake each), and
  // with the pool the provider and the bare side use. Twice each, alternating; the faster of each.
  const reads = async (core: CoreV1Api) => {
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: RUNTIME_CONCURRENCY }, async () => {
        while (next < CONNECTION_READS) {
          next += 1;
          await core.readNamespace({ name: rig.bareNamespace });
        }
      }),
    );
    return (performance.now() - t0) / 1000;
  };
  const defaults = new KubeConfig();
  defaults.loadFromFile(rig.providerKubeconfig);
  const pooled = connectKubernetes({ kubeconfig: rig.providerKubeconfig }).core;
  const readSeconds = { libraryDefaults: Number.POSITIVE_INFINITY, pooled: Number.POSITIVE_INFINITY };
  for (let i = 0; i < 2; i++) {
    readSeconds.libraryDefaults = Math.min(readSeconds.libraryDefaults, await reads(defaults.makeApiClient(CoreV1Api)));
    readSeconds.pooled = Math.min(readSeconds.pooled, await reads(pooled));
  }

  // Warm-up, untimed: the code paths of both sides, the HTTP connections, the informers' caches.
  const warm = await createJobs(5, 'warmup');
  const warmBare = await createBare(5);
  await allEnded(
    warm.flatMap((r) => (r.job ? [r.job.id] : [])),
    rig.ended,
    'the warm-up jobs to end',
  );
  await allEnded(warmBare.names, rig.bareEnded, 'the warm-up bare Jobs to end');
  await rig.clear();

  const switchyardRounds: SideRound[] = [];
  const bareRounds: SideRound[] = [];
  const syUnderLoad: number[] = [];
  const bareUnderLoad: number[] = [];
  const syBusPath: number[] = [];
  const published = { jobs: 0, changes: 0, logs: 0 };
  const callsPerRound: ApiCalls[] = [];

  const roundOf = (t0: number, submitted: number, failed: number, ids: string[], runningAt: Map<string, number>): SideRound => {
    const times = ids.flatMap((id) => (runningAt.has(id) ? [runningAt.get(id)! - t0] : []));
    const submitSeconds = submitted / 1000;
    return {
      jobs: ids.length + failed,
      failed,
      submitSeconds,
      jobsPerSecond: ids.length / submitSeconds,
      allRunningSeconds: Math.max(...times) / 1000,
      notSeenRunning: ids.length - times.length,
    };
  };

  const switchyardRound = async (round: number) => {
    const before = rig.apiCalls();
    rig.creates.started.length = 0;
    rig.creates.done.length = 0;
    const elu = eventLoopUtilization();
    const t0 = performance.now();
    const results = await createJobs(total, `round-${round}`);
    const submitted = performance.now() - t0;
    const busy = eventLoopUtilization(elu).utilization;
    const firstCreate = Math.min(...rig.creates.started);
    const lastCreate = Math.max(...rig.creates.done);
    const split = {
      beforeProvider: (firstCreate - t0) / 1000,
      creating: (lastCreate - firstCreate) / 1000,
      afterProvider: (t0 + submitted - lastCreate) / 1000,
    };
    const ids = results.flatMap((r) => (r.job ? [r.job.id] : []));
    await allEnded(ids, rig.ended, `round ${round}'s ${ids.length} Switchyard jobs to end`);
    // The log followers open each rank's log once more, a second after its container ended (kubernetes-logs.ts).
    await sleep(2_500);
    callsPerRound.push(diff(before, rig.apiCalls(), ids.length, perJob));
    const side = { ...roundOf(t0, submitted, total - ids.length, ids, rig.running), split, eventLoopBusy: busy };
    syUnderLoad.push(...ids.flatMap((id) => (rig.running.has(id) ? [rig.running.get(id)! - t0] : [])));
    for (const id of ids) {
      const at = rig.running.get(id);
      const emittedAt = rig.emitted.get(id);
      if (at !== undefined && emittedAt !== undefined) syBusPath.push(at - emittedAt);
      published.jobs += 1;
      published.changes += rig.published.get(id)?.changes ?? 0;
      published.logs += rig.published.get(id)?.logs ?? 0;
    }
    switchyardRounds.push(side);
    await rig.clear();
    return side;
  };
  const bareRound = async () => {
    const elu = eventLoopUtilization();
    const t0 = performance.now();
    const { names, failed } = await createBare(total);
    const submitted = performance.now() - t0;
    const busy = eventLoopUtilization(elu).utilization;
    const ok = names;
    await allEnded(ok, rig.bareEnded, `${ok.length} bare Jobs to end`);
    const side = { ...roundOf(t0, submitted, failed, ok, rig.bareRunning), eventLoopBusy: busy };
    bareUnderLoad.push(...ok.flatMap((name) => (rig.bareRunning.has(name) ? [rig.bareRunning.get(name)! - t0] : [])));
    bareRounds.push(side);
    await rig.clear();
    return side;
  };

  for (let round = 0; round < rounds; round++) {
    // Which side goes first alternates, so that a cluster that slows down over the run favours neither.
    const order = round % 2 === 0 ? (['bare', 'switchyard'] as const) : (['switchyard', 'bare'] as const);
    for (const side of order) {
      const result = side === 'bare' ? await bareRound() : await switchyardRound(round);
      const split = result.split
        ? ` (gateway ${result.split.beforeProvider.toFixed(2)} s, creates ${result.split.creating.toFixed(2)} s, reply ${result.split.afterProvider.toFixed(2)} s)`
        : '';
      progress(
        `round ${round + 1}/${rounds} ${side}: ${result.jobsPerSecond.toFixed(1)} jobs/s submitted${split}, event loop ${((result.eventLoopBusy ?? 0) * 100).toFixed(0)}% busy, all RUNNING after ${result.allRunningSeconds.toFixed(2)} s`,
      );
    }
  }

  // --- (b) one job at a time -------------------------------------------------
  const untilSeen = (key: string, seen: Map<string, number>, what: string) => until(async () => seen.get(key), what, 60_000, 5);
  const switchyardAlone: number[] = [];
  const bareAlone: number[] = [];
  const aloneIds: string[] = [];
  const beforeAlone = rig.apiCalls();
  for (let run = -1; run < latencyRuns; run++) {
    // Alternating which goes first, as above; one untimed run of each first.
    const sides = run % 2 === 0 ? (['switchyard', 'bare'] as const) : (['bare', 'switchyard'] as const);
    for (const side of sides) {
      const t0 = performance.now();
      if (side === 'switchyard') {
        const [result] = await createJobs(1, `alone-${run}`);
        if (!result?.job) throw new Error(`createJobs refused the job: ${JSON.stringify(result?.error)}`);
        aloneIds.push(result.job.id);
        const at = await untilSeen(result.job.id, rig.running, `job ${result.job.id} to be RUNNING`);
        if (run >= 0) switchyardAlone.push(at - t0);
      } else {
        const { names, failed } = await createBare(1);
        if (failed > 0) throw new Error('the API server refused a bare Job');
        const at = await untilSeen(names[0]!, rig.bareRunning, `bare Job ${names[0]} to run`);
        if (run >= 0) bareAlone.push(at - t0);
      }
    }
  }
  await allEnded(aloneIds, rig.ended, 'the one-at-a-time jobs to end');
  const { job: sample } = await rig.admin.ok<{ job: { updates: { state: string | null; status: string | null }[] } | null }>(
    `query ($id: ID!) { job(id: $id) { updates { state status } } }`,
    { id: aloneIds.at(-1) },
  );
  await sleep(2_500);
  const aloneCalls = diff(beforeAlone, rig.apiCalls(), aloneIds.length, perJob);
  await rig.clear();

  const seconds = (performance.now() - started) / 1000;
  const end = rig.apiCalls();
  const keys = [...new Set(callsPerRound.flatMap((c) => Object.keys(c)))].sort();
  const apiCallsPerJob = Object.fromEntries(
    keys.map((key) => [key, callsPerRound.reduce((sum, c) => sum + (c[key] ?? 0), 0) / callsPerRound.length]),
  );
  const ratios = switchyardRounds.map((r, i) => r.jobsPerSecond / bareRounds[i]!.jobsPerSecond);
  const sy = withP95(syUnderLoad);
  const bare = withP95(bareUnderLoad);
  const syAlone = withP95(switchyardAlone);
  const bareAloneSummary = withP95(bareAlone);
  return {
    jobs: total,
    rounds,
    concurrency: RUNTIME_CONCURRENCY,
    simDuration: SIM_DURATION,
    throughput: {
      switchyard: switchyardRounds,
      bare: bareRounds,
      switchyardJobsPerSecond: median(switchyardRounds.map((r) => r.jobsPerSecond)),
      bareJobsPerSecond: median(bareRounds.map((r) => r.jobsPerSecond)),
      ratios,
      ratio: median(ratios),
      switchyardAllRunningSeconds: median(switchyardRounds.map((r) => r.allRunningSeconds)),
      bareAllRunningSeconds: median(bareRounds.map((r) => r.allRunningSeconds)),
    },
    toRunningUnderLoad: { switchyard: sy, bare, ratioP50: sy.p50 / bare.p50, ratioP95: sy.p95 / bare.p95 },
    switchyardUnderLoad: {
      emittedToPublished: withP95(syBusPath),
      changesPerJob: published.changes / published.jobs,
      logEventsPerJob: published.logs / published.jobs,
    },
    toRunningAlone: {
      switchyard: syAlone,
      bare: bareAloneSummary,
      ratioP50: syAlone.p50 / bareAloneSummary.p50,
      ratioP95: syAlone.p95 / bareAloneSummary.p95,
    },
    apiCallsPerJob,
    apiCallsPerJobTotal: Object.values(apiCallsPerJob).reduce((a, b) => a + b, 0),
    utilizationCallsPerSecond: diff(callsAtStart, end, seconds, (key) => UTILIZATION_CALLS.has(key)),
    apiCallsPerJobAlone: aloneCalls,
    updatesOfOneJob: sample?.updates ?? [],
    connection: { reads: CONNECTION_READS, libraryDefaultsSeconds: readSeconds.libraryDefaults, pooledSeconds: readSeconds.pooled },
    seconds,
  };
}

const callList = (calls: ApiCalls) =>
  Object.entries(calls)
    .map(([key, n]) => `${key} ${n.toFixed(2)}`)
    .join(', ');

/** Milliseconds of this process's event loop per job submitted. */
const busyPerJob = (side: SideRound) => ((side.eventLoopBusy ?? 0) * side.submitSeconds * 1000) / (side.jobs - side.failed);

export function kubernetesRows(outcome: KubernetesOutcome): Row[] {
  const benchmark = '9 Kubernetes';
  if (!('result' in outcome)) return [{ benchmark, metric: 'not run', value: null, unit: '', baseline: outcome.notRun }];
  const r = outcome.result;
  const tp = r.throughput;
  const ms = (v: number) => `${v.toFixed(0)} ms`;
  const rows: Row[] = [
    {
      benchmark,
      metric: `Switchyard createJobs 1 × ${r.jobs} (median of ${r.rounds} rounds)`,
      value: tp.switchyardJobsPerSecond,
      unit: 'jobs/s',
      baseline: `bare create ${r.concurrency} at once ${tp.bareJobsPerSecond.toFixed(0)} jobs/s`,
      ratio: tp.ratio,
      aim: '≥ 0.83× (within 1.2×)',
      meetsAim: tp.ratio >= 1 / 1.2,
    },
    {
      benchmark,
      metric: `this process's event loop busy per job while submitting (gateway + provider + bench)`,
      value: median(tp.switchyard.map(busyPerJob)),
      unit: 'ms',
      baseline: `bare ${median(tp.bare.map(busyPerJob)).toFixed(1)} ms; the rounds' ratios ${tp.ratios.map((x) => `${x.toFixed(2)}×`).join(' ')}`,
    },
    {
      benchmark,
      metric: `${r.jobs} at once: first submission → all RUNNING`,
      value: tp.switchyardAllRunningSeconds,
      unit: 's',
      baseline: `bare ${tp.bareAllRunningSeconds.toFixed(2)} s`,
      ratio: tp.switchyardAllRunningSeconds / tp.bareAllRunningSeconds,
    },
  ];
  for (const [label, m] of [
    [`${r.jobs} at once`, r.toRunningUnderLoad],
    ['one at a time', r.toRunningAlone],
  ] as const) {
    if (m.switchyard.count === 0) continue;
    for (const which of ['p50', 'p95'] as const) {
      const ratio = which === 'p50' ? m.ratioP50 : m.ratioP95;
      rows.push({
        benchmark,
        metric: `submission → RUNNING ${which}, ${label} (${m.switchyard.count})`,
        value: m.switchyard[which],
        unit: 'ms',
        baseline: `bare Job ${ms(m.bare[which])}`,
        ratio,
        aim: '≤ 1.3×',
        meetsAim: ratio <= 1.3,
      });
    }
  }
  const split = r.switchyardUnderLoad;
  rows.push({
    benchmark,
    metric: `${r.jobs} at once: driver says RUNNING → gateway publishes it, p50`,
    value: split.emittedToPublished.p50,
    unit: 'ms',
    baseline: `p95 ${ms(split.emittedToPublished.p95)}; ${split.changesPerJob.toFixed(2)} changes and ${split.logEventsPerJob.toFixed(2)} log events published per job`,
  });
  rows.push({
    benchmark,
    metric: 'API requests per job (watches and log streams counted)',
    value: r.apiCallsPerJobTotal,
    unit: 'calls',
    baseline: `${callList(r.apiCallsPerJob)}; bare: create jobs 1.00`,
  });
  rows.push({
    benchmark,
    metric: `${r.connection.reads} API reads, ${r.concurrency} at once, over the provider's connection pool`,
    value: r.connection.pooledSeconds,
    unit: 's',
    baseline: `the client's own agents (a TLS handshake a call) ${r.connection.libraryDefaultsSeconds.toFixed(2)} s`,
    ratio: r.connection.pooledSeconds / r.connection.libraryDefaultsSeconds,
  });
  rows.push({
    benchmark,
    metric: 'capacity reads (by time, not per job)',
    value: Object.values(r.utilizationCallsPerSecond).reduce((a, b) => a + b, 0),
    unit: 'calls/s',
    baseline: callList(r.utilizationCallsPerSecond),
  });
  return rows;
}

export function kubernetesWarnings(outcome: KubernetesOutcome): string[] {
  if (!('result' in outcome)) return outcome.notRun.startsWith('failed') ? [`the Kubernetes benchmark ${outcome.notRun}`] : [];
  const rounds = [...outcome.result.throughput.switchyard, ...outcome.result.throughput.bare];
  const failed = rounds.reduce((n, r) => n + r.failed, 0);
  const unseen = rounds.reduce((n, r) => n + r.notSeenRunning, 0);
  const warnings: string[] = [];
  if (failed > 0) warnings.push(`Kubernetes: ${failed} submissions failed`);
  if (unseen > 0) warnings.push(`Kubernetes: ${unseen} jobs ended without being seen RUNNING`);
  return warnings;
}

export type KubernetesOutcome = SectionOutcome<KubernetesResult>;

/**
 * The whole benchmark as bench/run.ts runs it: the cluster (or why not), the rig, the steps, the
 * cleanup. The rig is in `rigs` while it runs, so that the run's own cleanup stops it on a signal.
 */
export async function runKubernetesBench(
  options: Omit<RigOptions, 'withProvider'> & { runId: string; rigs: Rig[]; progress: (message: string) => void },
): Promise<KubernetesOutcome> {
  const skip = kubernetesSkipReason();
  if (skip) {
    options.progress(`Kubernetes: not run (${skip})`);
    return { notRun: skip };
  }
  options.progress(
    `Kubernetes: 200 jobs through Switchyard against 200 bare Jobs, in rounds, then one at a time (KUBECONFIG=${process.env.KUBECONFIG})`,
  );
  return runWithRig({
    name: 'Kubernetes',
    rigs: options.rigs,
    progress: options.progress,
    start: () => startKubernetesRig(options),
    bench: (rig, progress) => benchKubernetes(rig, { progress }),
  });
}

/** This benchmark alone, with servers of its own: `npx tsx bench/kubernetes.ts [--jobs=N] [--rounds=N] [--runs=N] [--out=file]`. */
async function runAlone(argv: readonly string[]): Promise<void> {
  const option = (name: string, fallback: number) => numberOption(argv, name, fallback);
  const skip = kubernetesSkipReason();
  if (skip) throw new Error(skip);
  const runId = randomBytes(4).toString('hex');
  const services = await startServices();
  const t0 = Date.now();
  const progress = (message: string) => process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${message}\n`);
  let rig: KubernetesRig | null = null;
  // The nodes and namespaces of the run do not outlive an interrupted one.
  process.once('SIGINT', () => void (rig?.stop() ?? Promise.resolve()).finally(() => process.exit(130)));
  try {
    rig = await startKubernetesRig({
      natsUrl: services.natsUrl,
      redisUrl: services.redisUrl,
      subjectPrefix: `bench${runId}k`,
      keyPrefix: `bench${runId}-kube`,
      onTransportError: (error, where) => console.error(`bench: transport error at ${where}:`, error),
      runId,
    });
    const result = await benchKubernetes(rig, { jobs: option('jobs', 200), rounds: option('rounds', 3), latencyRuns: option('runs', 20), progress });
    printTable(kubernetesRows({ result }));
    for (const warning of kubernetesWarnings({ result })) console.log(`warning: ${warning}`);
    writeOut(argv, result);
  } finally {
    await rig?.stop();
    await services.stop();
  }
}

runWhenMain(import.meta.url, runAlone);
