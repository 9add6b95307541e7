/**
 * A Switchyard job as a Kubernetes `batch/v1` Job: one pod per rank in
 * Indexed completion mode (each rank knows its index), labelled with the
 * provider and job, annotated with the owner and product; the image, command,
 * environment and working directory from the specification; requests equal to
 * limits from the product; `backoffLimit` from restartOnExit. Pure.
 */
import { createHash } from 'node:crypto';
import type { V1Job, V1Toleration } from '@kubernetes/client-node';

import { InvalidInputError, type CreateJob } from '../sdk/index.js';
import type { KubernetesProduct } from './kubernetes-products.js';

export const LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  provider: 'switchyard.io/provider',
  job: 'switchyard.io/job',
} as const;
export const ANNOTATIONS = {
  jobId: 'switchyard.io/job-id',
  owner: 'switchyard.io/owner',
  project: 'switchyard.io/project',
  product: 'switchyard.io/product',
  timeAllocationMs: 'switchyard.io/time-allocation-ms',
  /** Time added by extensions (ms): the cluster keeps what the provider needs after a restart. */
  extendedMs: 'switchyard.io/extended-ms',
  /** Running time before the last suspension (ms). */
  ranMs: 'switchyard.io/ran-ms',
} as const;

/** A JSON Patch operation that sets one annotation of an object (RFC 6901 escapes the key's "/"). */
export function annotationPatch(key: string, value: string): { op: 'add'; path: string; value: string } {
  return { op: 'add', path: `/metadata/annotations/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`, value };
}
/** The label the Job controller puts on each pod of an Indexed Job. */
export const COMPLETION_INDEX_LABEL = 'batch.kubernetes.io/job-completion-index';
export const CONTAINER_NAME = 'job';
/** How often a failed rank is tried again when the job asks to be restarted on exit. */
const RESTART_BACKOFF_LIMIT = 6;

/** Docker image references (distribution/reference): [domain[:port]/]path[:tag][@digest]. */
const DOMAIN = new RegExp(String.raw`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$`);
const COMPONENT = String.raw`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`;
const PATH_TAG_DIGEST = new RegExp(
  String.raw`^${COMPONENT}(?:/${COMPONENT})*(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`,
);

/** INVALID_INPUT unless the image is a reference a container runtime can pull. */
export function checkImage(image: string): void {
  // As the reference grammar has it: a first part is a registry only with a "." or ":" in it, or "localhost".
  const slash = image.indexOf('/');
  const first = slash > 0 ? image.slice(0, slash) : '';
  const registry = first.includes('.') || first.includes(':') || first === 'localhost' ? first : '';
  const rest = registry ? image.slice(slash + 1) : image;
  const name = rest.split(/[:@]/, 1)[0] ?? '';
  const valid = (!registry || DOMAIN.test(registry)) && PATH_TAG_DIGEST.test(rest);
  if (image.length > 512 || registry.length + name.length > 255 || !valid) {
    throw new InvalidInputError(`image: "${image.length > 80 ? `${image.slice(0, 80)}…` : image}" is not a valid container image reference`);
  }
}

/** A label value for any string: itself when Kubernetes takes it, else a digest of it. */
export function labelValue(value: string): string {
  return /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(value) ? value : `h-${createHash('sha256').update(value).digest('hex').slice(0, 40)}`;
}

/** The Kubernetes Job's name: `sy-<job id>` when that is a valid name, else from a digest of the id. */
export function kubernetesJobName(jobId: string): string {
  const plain = `sy-${jobId}`;
  return /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(plain) && plain.length <= 52
    ? plain
    : `sy-${createHash('sha256').update(jobId).digest('hex').slice(0, 40)}`;
}

export interface JobManifestOptions {
  providerId: string;
  namespace: string;
  /** The image of a job that names none. */
  defaultImage: string;
  /** How long the cluster keeps a finished Job and its pods (logs, events) before deleting them. */
  ttlSecondsAfterFinished: number;
}

/**
 * Seconds a deadline may give beyond the allocation before the driver moves it. The deadline
 * counts from the Job's start, the allocation from when the pods run; pods that start within
 * this second of the Job then cost no patch.
 */
const DEADLINE_SLACK_SECONDS = 1;

/** The first deadline: the time allocation from the Job's start, and the slack; moved when the pods run (see the driver). */
export function initialDeadlineSeconds(timeAllocationMs: number | null): number | undefined {
  return timeAllocationMs === null ? undefined : Math.max(1, Math.ceil(timeAllocationMs / 1000)) + DEADLINE_SLACK_SECONDS;
}

/** Whether a Job's deadline must move to give the job `wanted` seconds: it would end the job early, or late by more than the slack. */
export function deadlineNeedsPatch(current: number | undefined, wanted: number): boolean {
  return current === undefined || current < wanted || current - wanted > DEADLINE_SLACK_SECONDS;
}

export function jobManifest(job: CreateJob, product: KubernetesProduct, options: JobManifestOptions): V1Job {
  const spec = job.specification;
  const image = spec.image ?? options.defaultImage;
  checkImage(image);
  if (spec.workingDir !== null && !spec.workingDir.startsWith('/')) throw new InvalidInputError('workingDir must be an absolute path');
  const replicas = spec.replicas;
  const labels = { [LABELS.managedBy]: 'switchyard', [LABELS.provider]: labelValue(options.providerId), [LABELS.job]: labelValue(job.id) };
  const annotations: Record<string, string> = {
    [ANNOTATIONS.jobId]: job.id,
    [ANNOTATIONS.owner]: job.owner.createdBy,
    [ANNOTATIONS.product]: product.product.id,
  };
  if (job.owner.project) annotations[ANNOTATIONS.project] = job.owner.project;
  if (spec.timeAllocationMs !== null) annotations[ANNOTATIONS.timeAllocationMs] = String(spec.timeAllocationMs);
  const env = Object.entries(spec.env ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => ({ name, value }));
  const tolerations: V1Toleration[] = product.spec.tolerations.map((t) => ({ ...t }));
  const limits = { cpu: product.resources.cpu, memory: product.resources.memory, ...product.resources.extended };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: kubernetesJobName(job.id), namespace: options.namespace, labels, annotations },
    spec: {
      completionMode: 'Indexed',
      completions: replicas,
      parallelism: replicas,
      backoffLimit: spec.restartOnExit ? RESTART_BACKOFF_LIMIT : 0,
      activeDeadlineSeconds: initialDeadlineSeconds(spec.timeAllocationMs),
      ttlSecondsAfterFinished: options.ttlSecondsAfterFinished,
      template: {
        metadata: { labels, annotations },
        spec: {
          restartPolicy: 'Never',
          // A job gets no credentials for the cluster it runs on, nor the services of the namespace.
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          hostNetwork: product.spec.hostNetwork || undefined,
          nodeSelector: Object.keys(product.spec.nodeSelector).length ? { ...product.spec.nodeSelector } : undefined,
          tolerations: tolerations.length ? tolerations : undefined,
          containers: [
            {
              name: CONTAINER_NAME,
              image,
              imagePullPolicy: product.spec.imagePullPolicy,
              // The specification's command is the whole argv: it replaces the image's entrypoint.
              command: spec.command ?? undefined,
              workingDir: spec.workingDir ?? undefined,
              env: [
                ...env,
                { name: 'SWITCHYARD_JOB_ID', value: job.id },
                { name: 'SWITCHYARD_REPLICAS', value: String(replicas) },
                { name: 'SWITCHYARD_RANK', valueFrom: { fieldRef: { fieldPath: `metadata.labels['${COMPLETION_INDEX_LABEL}']` } } },
              ],
              resources: { requests: { ...limits }, limits },
              securityContext: { allowPrivilegeEscalation: false, seccompProfile: { type: 'RuntimeDefault' } },
            },
          ],
        },
      },
    },
  };
}
