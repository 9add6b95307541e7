/**
 * The Kubernetes provider: runs each Switchyard job as a `batch/v1` Job in
 * one namespace of any cluster it has a kubeconfig for.
 *
 * - create: the Job (kubernetes-manifests.ts), one pod per rank, Indexed.
 * - state: two informers (list, then watch from the list's resourceVersion,
 *   listing again on "410 Gone") over the provider's Jobs and pods, by label;
 *   each change of a Job or one of its pods maps to the contract's states in
 *   kubernetes-states.ts — the scheduler's reason while pods cannot be placed,
 *   the Job controller's verdict at the end.
 * - time: `activeDeadlineSeconds`, set so that the allocation counts from when
 *   every rank runs (and pauses while the job is suspended), moved on extend;
 *   the Job controller ends the Job with DeadlineExceeded → EXPIRED.
 * - terminate: delete with foreground propagation; the Job's disappearance
 *   ends the job SUCCESS, "terminated". A Job deleted by anyone else ends FAILURE.
 * - suspend/resume: `spec.suspend`; the Job controller deletes the pods and
 *   makes new ones on resume (the processes start over).
 * - output: each rank's pod log, followed (kubernetes-logs.ts).
 * - capacity: nodes' allocatable less the pods' requests (kubernetes-capacity.ts),
 *   from two more informers, over the nodes and every pod that holds resources.
 * - restart: the cluster is the record. A provider that starts lists its
 *   Jobs by label and reports what they say.
 */
import type { V1Job, V1Node, V1Pod } from '@kubernetes/client-node';

import {
  createJobBook,
  InvalidInputError,
  InvalidStateError,
  isFinalState,
  NoCapacityError,
  ProviderUnavailableError,
  requireActive,
  requireNotEnded,
  requireState,
  STATUS,
  unknownJob,
  UnsupportedError,
  type BookEntry,
  type CreateJob,
  type Driver,
  type DriverContext,
  type JobRecordBase,
  type Manifest,
} from '../sdk/index.js';
import { kubernetesUtilization, nodeRoom, unfitProducts } from './kubernetes-capacity.js';
import { connectKubernetes, kubernetesError, statusOf, type KubernetesClient } from './kubernetes-client.js';
import { openExecSession, SHELL_COMMAND } from './kubernetes-exec.js';
import { keptInformer, type KeptInformer } from './kubernetes-informers.js';
import { followPodLog, type LogFollower } from './kubernetes-logs.js';
import { annotationPatch, ANNOTATIONS, CONTAINER_NAME, deadlineNeedsPatch, jobManifest, LABELS, labelValue } from './kubernetes-manifests.js';
import { openPortForwardSession } from './kubernetes-port-forward.js';
import { buildProducts, DEFAULT_PRODUCTS, type KubernetesProduct, type KubernetesProductConfig } from './kubernetes-products.js';
import { rankOf, viewOfJob } from './kubernetes-states.js';
import { clusterView, jobDetails, kubernetesSubschema } from './kubernetes-subschema.js';

export interface KubernetesDriverOptions {
  /** A kubeconfig file; none: the in-cluster service account, else the default kubeconfig. */
  kubeconfig?: string;
  /** The kubeconfig context to use. @default its current context */
  context?: string;
  /** The namespace the provider's Jobs live in; created when missing. @default switchyard-<provider id> */
  namespace?: string;
  products?: KubernetesProductConfig[];
  /** The image of a job that names none. @default busybox:1.36 */
  defaultImage?: string;
  /** How long the cluster keeps a finished Job, for its logs and events. @default 3600 */
  ttlSecondsAfterFinished?: number;
  /** Pause before an informer whose watch failed starts again. @default 1000 */
  rewatchMs?: number;
}

interface KubernetesJobRecord extends JobRecordBase {
  /** The Kubernetes Job's name. */
  providerGeneratedId: string;
  replicas: number;
  productId: string;
  timeAllocationMs: number | null;
  /** Time added by extensions. */
  extendedMs: number;
  /** Running time before the last suspension (the allocation counts running time only). */
  ranMs: number;
  /** When the ranks last all ran (ms). */
  runningSince: number | null;
  /** Why the provider is deleting the Job; null when it is not. */
  terminating: string | null;
}

interface KubernetesEntry extends BookEntry<KubernetesJobRecord> {
  /** The informer saw the Job go. */
  deleted: boolean;
  logs: Map<string, LogFollower>;
}

// What the first sync says too: the Job has no pods yet (one state change fewer a job).
const QUEUED = 'Waiting for Kubernetes to create the pods';

export function createKubernetesDriver(options: KubernetesDriverOptions = {}): Driver & {
  /** The namespace, the connection: for tests and the subschema. */
  readonly namespace: string;
  readonly client: KubernetesClient;
} {
  const products: KubernetesProduct[] = buildProducts(options.products ?? DEFAULT_PRODUCTS);
  const defaultImage = options.defaultImage ?? 'busybox:1.36';
  const ttlSecondsAfterFinished = options.ttlSecondsAfterFinished ?? 3_600;
  const rewatchMs = options.rewatchMs ?? 1_000;
  const gpuResources = [...new Set(products.map((p) => p.spec.gpuResource))];
  let context: DriverContext | null = null;
  const ctx = () => {
    if (!context) throw new Error('the Kubernetes driver has not started');
    return context;
  };
  const client = connectKubernetes({ kubeconfig: options.kubeconfig, context: options.context });
  let namespace = options.namespace ?? '';
  const book = createJobBook<KubernetesJobRecord, KubernetesEntry>({
    context: ctx,
    // The backend's id is the Kubernetes Job's name; the Job is the record, the book only mirrors it.
    providerGeneratedId: (entry) => entry.record.providerGeneratedId,
    leftNothing: () => true,
  });
  /** Jobs by the Kubernetes Job's name, for the informers' events. */
  const byJobName = new Map<string, string>();
  let jobs: KeptInformer<V1Job> | null = null;
  let pods: KeptInformer<V1Pod> | null = null;
  /** The cluster as the scheduler sees it, for capacity: the nodes, and every pod that holds resources. */
  let nodes: KeptInformer<V1Node> | null = null;
  let boundPods: KeptInformer<V1Pod> | null = null;
  let stopped = false;
  const fail = (action: string, jobId?: string) => (error: unknown) => {
    throw kubernetesError(error, ctx().providerId, action, jobId);
  };

  /** A change of the job, saying which Kubernetes Job runs it (the gateway learns the name from the events). */
  const change = (entry: KubernetesEntry, update: Parameters<typeof book.change>[1]) =>
    book.change(entry, { providerGeneratedId: entry.record.providerGeneratedId, ...update });

  const productOf = (id: string) => products.find((p) => p.product.id === id);
  /** The names of each Job's pods, kept from the pods' watch: a sync looks at its own pods, not at every pod. */
  const podNames = new Map<string, Set<string>>();
  const indexPod = (pod: V1Pod, present: boolean) => {
    const jobName = pod.metadata?.labels?.['job-name'];
    const name = pod.metadata?.name;
    if (!jobName || !name) return;
    const names = podNames.get(jobName) ?? new Set<string>();
    if (present) podNames.set(jobName, names.add(name));
    else if (names.delete(name) && names.size === 0) podNames.delete(jobName);
  };
  const podsOf = (jobName: string): V1Pod[] => [...(podNames.get(jobName) ?? [])].flatMap((name) => pods?.get(name, namespace) ?? []);

  /** The deadline in seconds from the Job's start that leaves the job its remaining allocation from `runningSince`. */
  const deadlineFor = (record: KubernetesJobRecord, job: V1Job, runningSince: number): number | null => {
    if (record.timeAllocationMs === null) return null;
    const startTime = job.status?.startTime ? new Date(job.status.startTime).getTime() : runningSince;
    const remaining = record.timeAllocationMs + record.extendedMs - record.ranMs;
    return Math.max(1, Math.ceil((Math.max(0, runningSince - startTime) + remaining) / 1000));
  };

  const patchJob = (name: string, patch: object[], action: string) =>
    client.batch.patchNamespacedJob({ name, namespace, body: patch }).catch(fail(action, byJobName.get(name)));

  const followLogs = (entry: KubernetesEntry, jobPods: readonly V1Pod[]) => {
    for (const pod of jobPods) {
      const name = pod.metadata?.name;
      const container = pod.status?.containerStatuses?.[0];
      if (!name || entry.logs.has(name) || !(container?.state?.running || container?.state?.terminated)) continue;
      const rank = rankOf(pod);
      const follower = followPodLog({
        logs: client.logs,
        namespace,
        pod: name,
        container: CONTAINER_NAME,
        onLine: (text, timestamp) => ctx().log(entry.record.id, { rank, stdout: text, timestamp }),
        ended: () => Boolean(pods?.get(name, namespace)?.status?.containerStatuses?.[0]?.state?.terminated),
        wanted: () => !stopped && pods?.get(name, namespace) !== undefined,
        onError: (error) => ctx().logger.debug({ jobId: entry.record.id, pod: name, err: error }, 'log stream broke; opening it again'),
      });
      entry.logs.set(name, follower);
    }
  };

  /** Bring one job's record in line with what the cluster says of it. */
  const sync = async (jobId: string) => {
    const entry = book.get(jobId);
    if (!entry) return;
    const { record } = entry;
    if (isFinalState(record.state)) return;
    const job = jobs?.get(record.providerGeneratedId, namespace);
    if (!job) {
      if (!entry.deleted) return;
      if (record.terminating !== null) change(entry, { state: 'SUCCESS', status: STATUS.terminated(record.terminating || undefined) });
      else change(entry, { state: 'FAILURE', status: `The Kubernetes Job ${record.providerGeneratedId} was deleted outside Switchyard` });
      return;
    }
    const jobPods = podsOf(record.providerGeneratedId);
    followLogs(entry, jobPods);
    const view = viewOfJob(job, jobPods, record.replicas);
    // The pods' own update comes and syncs again.
    if (view.podsBehind) return;
    if (record.terminating !== null && !isFinalState(view.state)) return;
    if (view.state === record.state && view.status === record.status) return;
    const now = ctx().clock.now();
    if (record.state === 'RUNNING' && view.state !== 'RUNNING' && record.runningSince !== null) {
      record.ranMs += Math.max(0, now - record.runningSince);
      record.runningSince = null;
      if (!isFinalState(view.state)) {
        await patchJob(record.providerGeneratedId, [annotationPatch(ANNOTATIONS.ranMs, String(record.ranMs))], 'record the running time').catch(
          (error: unknown) => ctx().logger.warn({ jobId, err: error }, 'could not record the running time of a suspended job'),
        );
      }
    }
    if (view.state === 'RUNNING' && record.state !== 'RUNNING') {
      const since = view.startedAt ?? now;
      record.runningSince = since;
      const deadline = deadlineFor(record, job, since);
      const expiresAt = record.timeAllocationMs === null ? undefined : since + record.timeAllocationMs + record.extendedMs - record.ranMs;
      change(entry, { state: 'RUNNING', status: view.status, startedAt: record.startedAt ?? since, expiresAt });
      if (deadline !== null && deadlineNeedsPatch(job.spec?.activeDeadlineSeconds, deadline)) {
        await patchJob(record.providerGeneratedId, [{ op: 'add', path: '/spec/activeDeadlineSeconds', value: deadline }], 'set the deadline').catch(
          (error: unknown) => ctx().logger.warn({ jobId, err: error }, 'could not move the deadline to the time the job started running'),
        );
      }
      return;
    }
    change(entry, { state: view.state, status: view.status, exitCode: view.exitCode ?? undefined });
    if (view.doomed) {
      await client.batch
        .deleteNamespacedJob({ name: record.providerGeneratedId, namespace, propagationPolicy: 'Background' })
        .catch((error: unknown) => ctx().logger.warn({ jobId, err: error }, 'could not delete a Job that cannot run'));
    }
  };

  /** Syncs coalesced per job: a burst of pod events costs one pass. */
  const scheduled = new Set<string>();
  const schedule = (jobId: string) => {
    if (scheduled.has(jobId)) return;
    scheduled.add(jobId);
    setImmediate(() => {
      scheduled.delete(jobId);
      sync(jobId).catch((error: unknown) => ctx().logger.warn({ jobId, err: error }, 'could not sync a job with Kubernetes'));
    });
  };
  const jobIdOf = (object: V1Job | V1Pod, kind: 'job' | 'pod') => {
    const name = kind === 'job' ? object.metadata?.name : object.metadata?.labels?.['job-name'];
    return name ? byJobName.get(name) : undefined;
  };

  const forget = (entry: KubernetesEntry) => {
    for (const follower of entry.logs.values()) follower.stop();
    byJobName.delete(entry.record.providerGeneratedId);
    book.delete(entry.record.id);
  };

  /** A record for a Job found in the cluster (at start): its state comes from the next sync. */
  const adopt = (job: V1Job): KubernetesEntry | null => {
    const annotations = job.metadata?.annotations ?? {};
    const id = annotations[ANNOTATIONS.jobId];
    const name = job.metadata?.name;
    if (!id || !name) return null;
    const allocation = annotations[ANNOTATIONS.timeAllocationMs];
    const entry: KubernetesEntry = {
      record: {
        id,
        state: 'IN_QUEUE',
        status: null,
        exitCode: null,
        startedAt: null,
        expiresAt: null,
        providerGeneratedId: name,
        replicas: job.spec?.completions ?? 1,
        productId: annotations[ANNOTATIONS.product] ?? '',
        timeAllocationMs: allocation === undefined ? null : Number(allocation),
        extendedMs: Number(annotations[ANNOTATIONS.extendedMs] ?? 0) || 0,
        ranMs: Number(annotations[ANNOTATIONS.ranMs] ?? 0) || 0,
        runningSince: null,
        terminating: job.metadata?.deletionTimestamp ? '' : null,
      },
      deleted: false,
      logs: new Map(),
    };
    book.set(entry);
    byJobName.set(name, id);
    return entry;
  };

  /** What the provider does with each change of one of its Jobs or pods. */
  const follow = <T extends V1Job | V1Pod>(informer: KeptInformer<T>, kind: 'job' | 'pod') => {
    const onChange = (object: T) => {
      if (kind === 'pod') indexPod(object as V1Pod, true);
      if (kind === 'job' && !book.get(jobIdOf(object, 'job') ?? '')) {
        const adopted = adopt(object as V1Job);
        if (adopted) schedule(adopted.record.id);
        return;
      }
      const jobId = jobIdOf(object, kind);
      if (jobId) schedule(jobId);
    };
    informer.on('add', onChange);
    informer.on('update', onChange);
    informer.on('delete', (object: T) => {
      if (kind === 'pod') indexPod(object as V1Pod, false);
      const jobId = jobIdOf(object, kind);
      if (!jobId) return;
      const entry = book.get(jobId);
      if (entry && kind === 'job') {
        entry.deleted = true;
        // An ended job whose Job the cluster cleaned up (ttlSecondsAfterFinished): nothing more to know of it.
        if (isFinalState(entry.record.state)) {
          forget(entry);
          return;
        }
      }
      schedule(jobId);
    });
  };

  const ensureNamespace = async () => {
    try {
      await client.core.readNamespace({ name: namespace });
    } catch (error) {
      if (statusOf(error) !== 404) throw kubernetesError(error, ctx().providerId, `read namespace ${namespace}`);
      await client.core
        .createNamespace({ body: { metadata: { name: namespace, labels: { [LABELS.managedBy]: 'switchyard' } } } })
        .catch((created: unknown) => {
          if (statusOf(created) !== 409) throw kubernetesError(created, ctx().providerId, `create namespace ${namespace}`);
        });
    }
  };

  /** What the nodes offer now, and which products no node could ever hold; computed again only after the cluster changed. */
  interface ClusterReading {
    room: ReturnType<typeof nodeRoom>;
    unfit: Set<string>;
  }
  let reading: ClusterReading | null = null;
  const changed = () => {
    reading = null;
  };
  const cluster = (): ClusterReading => {
    if (!nodes?.current || !boundPods?.current) {
      throw new ProviderUnavailableError(
        ctx().providerId,
        `the watch of the Kubernetes cluster's nodes and pods at ${client.server} is broken; starting it again`,
      );
    }
    if (!reading) {
      const room = nodeRoom(nodes.list(), boundPods.list());
      reading = { room, unfit: unfitProducts(products, room) };
    }
    return reading;
  };

  const lookupActive = async (jobId: string, action: string) => {
    const entry = await book.lookup(jobId);
    requireActive(entry.record, action);
    return entry;
  };

  return {
    get namespace() {
      return namespace;
    },
    client,

    async start(driverContext) {
      context = driverContext;
      namespace ||= `switchyard-${labelValue(driverContext.providerId)
        .toLowerCase()
        .replace(/[^a-z0-9-]/g, '-')}`.slice(0, 63);
      await ensureNamespace();
      const selector = `${LABELS.provider}=${labelValue(driverContext.providerId)}`;
      const informer = <T extends V1Job | V1Pod | V1Node>(
        kind: string,
        path: string,
        list: Parameters<typeof keptInformer<T>>[0]['list'],
        selectors: { labelSelector?: string; fieldSelector?: string },
      ) =>
        keptInformer<T>({
          config: client.config,
          path,
          list,
          ...selectors,
          rewatchMs,
          onError: (error) => ctx().logger.warn({ kind, err: error }, 'the Kubernetes watch failed; starting it again'),
        });
      jobs = informer<V1Job>(
        'jobs',
        `/apis/batch/v1/namespaces/${namespace}/jobs`,
        () => client.batch.listNamespacedJob({ namespace, labelSelector: selector }),
        {
          labelSelector: selector,
        },
      );
      pods = informer<V1Pod>(
        'pods',
        `/api/v1/namespaces/${namespace}/pods`,
        () => client.core.listNamespacedPod({ namespace, labelSelector: selector }),
        {
          labelSelector: selector,
        },
      );
      // The pods that hold resources: a pod that ends leaves the selection, and the watch says it was deleted.
      const holding = 'status.phase!=Succeeded,status.phase!=Failed';
      boundPods = informer<V1Pod>('cluster pods', '/api/v1/pods', () => client.core.listPodForAllNamespaces({ fieldSelector: holding }), {
        fieldSelector: holding,
      });
      nodes = informer<V1Node>('nodes', '/api/v1/nodes', () => client.core.listNode(), {});
      for (const each of [nodes, boundPods]) for (const verb of ['add', 'update', 'delete'] as const) each.on(verb, changed);
      follow(jobs, 'job');
      follow(pods, 'pod');
      // Pods first: a Job's first sync then sees its pods.
      await Promise.all([pods.start(), nodes.start(), boundPods.start()]);
      await jobs.start();
    },

    async manifest(): Promise<Manifest> {
      return { products: products.map((p) => p.product) };
    },

    async utilization() {
      const mine = [...book.values()].filter((e) => !isFinalState(e.record.state));
      const queue = {
        running: mine.filter((e) => e.record.state === 'RUNNING').length,
        pending: mine.filter((e) => e.record.state === 'IN_QUEUE').length,
      };
      return kubernetesUtilization(products, cluster().room, queue, gpuResources, ctx().clock.now());
    },

    async create(job: CreateJob) {
      const product = productOf(job.product.id);
      if (!product) throw new InvalidInputError(`product ${job.product.id} is not sold by ${ctx().providerId}`);
      if (cluster().unfit.has(product.product.id)) {
        const { cpu, memoryInGigs, gpu } = product.product;
        throw new NoCapacityError(
          `no node of the cluster could ever hold a pod of ${product.product.id} (${cpu} CPUs, ${memoryInGigs} GiB, ${gpu} GPUs), even empty`,
        );
      }
      const manifest = jobManifest(job, product, { providerId: ctx().providerId, namespace, defaultImage, ttlSecondsAfterFinished });
      const name = manifest.metadata!.name!;
      return book.create(job.id, async () => {
        try {
          await client.batch.createNamespacedJob({ namespace, body: manifest });
        } catch (error) {
          // A create repeated after the provider lost its answer: the Job is there, with this job's id.
          if (statusOf(error) !== 409) throw kubernetesError(error, ctx().providerId, 'create the job');
          const existing = await client.batch.readNamespacedJob({ name, namespace }).catch(fail('read the job'));
          if (existing.metadata?.annotations?.[ANNOTATIONS.jobId] !== job.id) {
            throw new InvalidStateError(job.id, `A Kubernetes Job named ${name} already exists in namespace ${namespace}, and it is not this job's`);
          }
        }
        const entry: KubernetesEntry = {
          record: {
            id: job.id,
            state: 'IN_QUEUE',
            status: QUEUED,
            exitCode: null,
            startedAt: null,
            expiresAt: null,
            providerGeneratedId: name,
            replicas: job.specification.replicas,
            productId: product.product.id,
            timeAllocationMs: job.specification.timeAllocationMs,
            extendedMs: 0,
            ranMs: 0,
            runningSince: null,
            terminating: null,
          },
          deleted: false,
          logs: new Map(),
        };
        byJobName.set(name, job.id);
        schedule(job.id);
        return entry;
      });
    },

    async terminate(jobId, reason) {
      const entry = await book.lookup(jobId);
      requireNotEnded(entry.record);
      if (entry.record.terminating !== null) return;
      entry.record.terminating = reason ?? '';
      change(entry, { state: 'CANCELING', status: STATUS.terminating });
      try {
        await client.batch.deleteNamespacedJob({ name: entry.record.providerGeneratedId, namespace, propagationPolicy: 'Foreground' });
      } catch (error) {
        if (statusOf(error) === 404) {
          entry.deleted = true;
          schedule(jobId);
          return;
        }
        entry.record.terminating = null;
        throw kubernetesError(error, ctx().providerId, 'delete the job', jobId);
      }
    },

    async extend(jobId, addMs) {
      const entry = await lookupActive(jobId, 'extend');
      const { record } = entry;
      const job = jobs?.get(record.providerGeneratedId, namespace);
      const now = ctx().clock.now();
      if (record.timeAllocationMs === null) {
        // No deadline yet: one from now.
        record.timeAllocationMs = 0;
        record.ranMs = record.runningSince === null ? 0 : now - record.runningSince;
      }
      record.extendedMs += addMs;
      const current = job?.spec?.activeDeadlineSeconds;
      const deadline =
        record.runningSince !== null && job
          ? deadlineFor(record, job, record.runningSince)
          : current === undefined
            ? null
            : current + Math.ceil(addMs / 1000);
      const patch: object[] = [annotationPatch(ANNOTATIONS.extendedMs, String(record.extendedMs))];
      if (record.ranMs > 0) patch.push(annotationPatch(ANNOTATIONS.ranMs, String(record.ranMs)));
      if (deadline !== null) patch.push({ op: 'add', path: '/spec/activeDeadlineSeconds', value: deadline });
      await patchJob(record.providerGeneratedId, patch, 'extend the job');
      const expiresAt = record.runningSince === null ? null : record.runningSince + record.timeAllocationMs + record.extendedMs - record.ranMs;
      if (expiresAt !== null) {
        record.expiresAt = expiresAt;
        await book.save(entry);
      }
      return { expiresAt };
    },

    async suspend(jobId) {
      const entry = await lookupActive(jobId, 'suspend');
      if (entry.record.state !== 'RUNNING' && entry.record.state !== 'IN_QUEUE') requireState(entry.record, 'RUNNING', 'suspend');
      await patchJob(entry.record.providerGeneratedId, [{ op: 'add', path: '/spec/suspend', value: true }], 'suspend the job');
    },

    async unsuspend(jobId) {
      const entry = await book.lookup(jobId);
      requireState(entry.record, 'SUSPENDED', 'resume');
      await patchJob(entry.record.providerGeneratedId, [{ op: 'add', path: '/spec/suspend', value: false }], 'resume the job');
    },

    async observe(jobId) {
      await book.createSettled(jobId);
      return book.get(jobId) ? book.observe(jobId) : unknownJob(jobId);
    },

    async openSession(request) {
      if (request.type !== 'SHELL' && request.type !== 'WEB') {
        throw new UnsupportedError(`The Kubernetes provider opens SHELL and WEB sessions only, not ${request.type}`);
      }
      const { port } = request;
      if (request.type === 'WEB' && port === undefined) throw new InvalidInputError('A WEB session needs the port its app listens on');
      const entry = await book.lookup(request.jobId);
      const { record } = entry;
      requireState(record, 'RUNNING', request.type === 'WEB' ? 'open a web session in' : 'open a shell in');
      if (request.rank >= record.replicas) throw new InvalidInputError(`Job ${record.id} has ranks 0 to ${record.replicas - 1}, not ${request.rank}`);
      const pod = podsOf(record.providerGeneratedId).find((p) => rankOf(p) === request.rank && p.status?.phase === 'Running');
      if (!pod?.metadata?.name) throw new InvalidStateError(record.id, `Rank ${request.rank} of job ${record.id} has no running pod`);
      if (port !== undefined) {
        const target = { namespace, pod: pod.metadata.name, port };
        const where = { jobId: record.id, description: `port ${port} of rank ${request.rank} of job ${record.id} (pod ${pod.metadata.name})` };
        return openPortForwardSession(client, target, where).catch((error: unknown) => {
          throw kubernetesError(error, ctx().providerId, `port-forward to pod ${pod.metadata!.name}`, record.id);
        });
      }
      context?.logger.info({ jobId: record.id, pod: pod.metadata.name }, 'shell opened in the job’s container');
      return openExecSession(
        client,
        { namespace, pod: pod.metadata.name, container: CONTAINER_NAME, command: SHELL_COMMAND },
        { cols: request.cols, rows: request.rows },
      );
    },

    async stop() {
      stopped = true;
      await Promise.all([jobs, pods, nodes, boundPods].map((each) => each?.stop()));
      for (const entry of book.values()) for (const follower of entry.logs.values()) follower.stop();
      await book.flush();
    },

    subschema() {
      const safe = () => context;
      return kubernetesSubschema(
        {
          job: (id) => {
            const entry = book.get(id);
            return entry ? jobDetails(client, namespace, entry.record.providerGeneratedId, podsOf(entry.record.providerGeneratedId)) : null;
          },
          cluster: () => clusterView(client, gpuResources),
        },
        safe,
      );
    },
  };
}
