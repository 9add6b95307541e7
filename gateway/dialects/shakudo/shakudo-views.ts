/**
 * Switchyard's records as Shakudo shows them, and back: a session is an
 * interactive job; a pipeline job is a job (immediate), a schedule (a cron
 * `schedule`; its firings are its child jobs) or a service (an `exposedPort`,
 * no timeouts). What Shakudo keeps on a pipeline job that the core has no field
 * for (the YAML path, the image type, the timeouts, the parameters) travels in
 * the specification's `parameters.shakudo`; the parameters themselves are the
 * job's environment. Pure: the resolvers load, these map.
 */
import type { Job, JobSpecification, Product } from '../../../shared/domain.js';
import { wasTerminated } from '../../jobs/job-actions.js';
import type { JobSpecificationInput } from '../../jobs/job-specification.js';
import type { ScheduleRecord } from '../../schedules/schedules.js';
import type { ServiceRecord } from '../../services/services.js';
import type { Row } from './shakudo-where.js';

/** Shakudo's statuses, as its dashboard and getJobStat name them. */
export const SHAKUDO_STATUSES = ['pending', 'in progress', 'done', 'failed', 'cancelled', 'timed out', 'scheduled'] as const;
export type ShakudoStatus = (typeof SHAKUDO_STATUSES)[number];

/** What a Shakudo session or pipeline job keeps beside the core's specification. */
export interface ShakudoMeta {
  kind: 'session' | 'pipeline';
  email: string;
  imageType: string;
  imageHash: string;
  timeout: number;
  activeTimeout: number;
  maxRetries: number;
  pipelineYamlPath: string | null;
  jobName: string | null;
  /** "immediate", or the cron expression of a scheduled job (its firings keep it too). */
  schedule: string;
  timezone: string;
  exposedPort: string | null;
  branchName: string | null;
  commitId: string | null;
  gitServerId: string | null;
  jobCommand: string | null;
  collaborative: boolean;
  userPvcName: string;
  parameters: { key: string; value: string | null }[];
}

/** The tag that makes a job a session in Shakudo's eyes. */
export const SESSION_TAG = 'shakudo-session';
/** The domain of the email a user is shown with when their jobs were not made through the dialect. */
export const DEFAULT_EMAIL_DOMAIN = 'switchyard.local';
/** The image type of a job made elsewhere. */
const DEFAULT_IMAGE_TYPE = 'basic';

/** The Switchyard user an email names: its local part (demo@shakudo.io is user demo). */
export function userOfEmail(email: string): string {
  const at = email.lastIndexOf('@');
  return (at < 0 ? email : email.slice(0, at)).toLowerCase();
}

export const emailOf = (username: string) => `${username}@${DEFAULT_EMAIL_DOMAIN}`;

/** The Shakudo part of a specification, or of a template's input; null for one made elsewhere. */
export function metaOf(spec: Pick<JobSpecification | JobSpecificationInput, 'parameters'>): ShakudoMeta | null {
  const parameters = spec.parameters as { shakudo?: ShakudoMeta } | null | undefined;
  return parameters && typeof parameters === 'object' && parameters.shakudo ? parameters.shakudo : null;
}

export function isSession(job: Job): boolean {
  return job.specification.tags.includes(SESSION_TAG);
}

/** A Switchyard job's state as Shakudo's status. */
export function jobStatus(job: Job): ShakudoStatus {
  switch (job.state) {
    case 'IN_QUEUE':
    case 'SUSPENDED':
      return 'pending';
    case 'RUNNING':
      return 'in progress';
    case 'CANCELING':
      return 'cancelled';
    case 'SUCCESS':
      // The core's SUCCESS is "the program ended"; a pipeline that exits non-zero failed, for Shakudo.
      if (wasTerminated(job)) return 'cancelled';
      return (job.exitCode ?? 0) === 0 ? 'done' : 'failed';
    case 'FAILURE':
      return wasTerminated(job) ? 'cancelled' : 'failed';
    case 'EXPIRED':
      return 'timed out';
  }
}

/** The Shakudo statuses a set of core states stands for (what getJobStat and filters on status count). */
export function serviceStatus(service: ServiceRecord, currentJob: Job | null): ShakudoStatus {
  if (service.doc.state === 'STOPPED') return 'cancelled';
  return currentJob && currentJob.state === 'RUNNING' ? 'in progress' : 'pending';
}

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/** When a job ended (its last update into a final state), or null. */
export function endedAt(job: Job): number | null {
  if (!['SUCCESS', 'FAILURE', 'EXPIRED'].includes(job.state)) return null;
  return job.updates.at(-1)?.timestamp ?? null;
}

const durationOf = (job: Job) => {
  const end = endedAt(job);
  return end !== null && job.startedAt !== null ? Math.round((end - job.startedAt) / 1000) : null;
};

const statusReasonOf = (job: Job) => [...job.updates].reverse().find((update) => update.status)?.status ?? null;

/** Parameter ids: the pipeline job's id and the key (keys are environment variable names). */
export const parameterId = (pipelineJobId: string, key: string) => `${pipelineJobId}/${key}`;

export function parseParameterId(id: string): { pipelineJobId: string; key: string } | null {
  const slash = id.lastIndexOf('/');
  if (slash < 1 || slash === id.length - 1) return null;
  return { pipelineJobId: id.slice(0, slash), key: id.slice(slash + 1) };
}

/** A pipeline job's parameters: its Shakudo list when it has one, else the environment of its specification. */
export function parameterRows(pipelineJobId: string, spec: Pick<JobSpecification | JobSpecificationInput, 'parameters' | 'env'>): Row[] {
  const meta = metaOf(spec);
  const pairs = meta ? meta.parameters : Object.entries((spec.env ?? {}) as Record<string, string>).map(([key, value]) => ({ key, value }));
  return pairs.map(({ key, value }) => ({ id: parameterId(pipelineJobId, key), key, value, pipelineJobId }));
}

/** The environment a parameter list makes. */
export function envOf(parameters: ShakudoMeta['parameters']): Record<string, string> {
  return Object.fromEntries(parameters.map(({ key, value }) => [key, value ?? '']));
}

function resourceFields(product: Product | undefined) {
  return {
    resourceCPUrequest: product ? String(product.cpu) : null,
    resourceCPUlimit: product ? String(product.cpu) : null,
    resourceRAMrequest: product ? `${product.memoryInGigs}Gi` : null,
    resourceRAMlimit: product ? `${product.memoryInGigs}Gi` : null,
    gpuRequest: product && product.gpu > 0 ? String(product.gpu) : null,
  };
}

/** A session job as a HyperHubSession row. */
export function sessionRow(job: Job, product: Product | undefined): Row {
  const meta = metaOf(job.specification);
  const email = meta?.email ?? emailOf(job.owner.createdBy);
  return {
    id: job.id,
    hyperplaneUserEmail: email,
    hyperplaneUser: { id: job.owner.createdBy, email },
    owner: job.owner.createdBy,
    status: jobStatus(job),
    statusReason: statusReasonOf(job),
    imageType: meta?.imageType ?? job.specification.product.id,
    imageHash: meta?.imageHash ?? job.specification.image ?? '',
    // Switchyard opens a session's terminal through the core API (openInteractiveSession), not a JupyterLab URL.
    jLabUrl: null,
    notebookURI: null,
    sshCommand: null,
    estimatedCost: job.creditsCharged,
    ...resourceFields(product),
    startTime: iso(job.createdAt),
    completionTime: iso(endedAt(job)),
    duration: durationOf(job),
    timeout: meta?.timeout ?? (job.specification.timeAllocationMs === null ? -1 : Math.round(job.specification.timeAllocationMs / 1000)),
    group: '',
    department: null,
    collaborative: meta?.collaborative ?? false,
    billingProjectId: job.owner.project,
    podSpec: null,
    userPvcName: meta?.userPvcName ?? '',
    userPvc: null,
    premptableNode: false,
    useHyperplanepodspec: false,
    hyperplanepodspecName: null,
    currentPodEvents: null,
    podEventsLog: null,
    runId: null,
    workerPodName: null,
  };
}

/** The fields every pipeline job row has, from its Shakudo part (or defaults for one made elsewhere). */
function pipelineBase(id: string, owner: Job['owner'], spec: Pick<JobSpecification | JobSpecificationInput, 'parameters' | 'env' | 'name'>) {
  const meta = metaOf(spec);
  const email = meta?.email ?? emailOf(owner.createdBy);
  return {
    id,
    jobName: meta?.jobName ?? spec.name ?? null,
    jobType: meta?.imageType ?? DEFAULT_IMAGE_TYPE,
    imageHash: meta?.imageHash ?? '',
    pipelineYamlPath: meta?.pipelineYamlPath ?? null,
    timeout: meta?.timeout ?? -1,
    activeTimeout: meta?.activeTimeout ?? -1,
    maxRetries: meta?.maxRetries ?? 0,
    exposedPort: meta?.exposedPort ?? null,
    branchName: meta?.branchName ?? null,
    commitId: meta?.commitId ?? null,
    jobCommand: meta?.jobCommand ?? null,
    hyperplaneVCServerId: meta?.gitServerId ?? null,
    hyperplaneUserEmail: email,
    hyperplaneUserId: owner.createdBy,
    hyperplaneUser: { id: owner.createdBy, email },
    owner: owner.createdBy,
    displayedOwner: owner.createdBy,
    billingProjectId: owner.project,
    parameters: parameterRows(id, spec),
    timezone: 'UTC',
    pinned: false,
    debuggable: false,
    preemptible: false,
    premptableNode: false,
    priorityClass: 'switchyard',
    maxHpaRange: 1,
    minReplicas: 1,
    maxRetriesPerStep: 0,
    grafanaLink: '',
    noGitInit: meta ? meta.gitServerId === null : true,
    noHyperplaneCommands: false,
    noVSRewrite: false,
    output: null,
    outputNotebooksPath: null,
    daskDashboardUrl: null,
    estimatedCost: null as number | null,
    duration: null as number | null,
    completionTime: null as string | null,
    statusReason: null as string | null,
    parentJobId: null as string | null,
    cloudRunner: '',
    customCommand: null,
    customTrigger: null,
    dashboardPrefix: null,
    department: null,
    group: null,
    hyperplanepodspecName: null,
    icon: null,
    mappedUrl: null,
    runId: null,
    sendNotification: null,
    slackChannelName: null,
    sshCommand: null,
    timeoutPerStep: null,
    useHyperplanepodspec: false,
    workerPodName: null,
  };
}

/** An immediate job, or one a schedule fired (its child), as a PipelineJob row. */
export function pipelineRowOfJob(job: Job): Row {
  const scheduleId = job.origin?.kind === 'schedule' ? job.origin.id : null;
  return {
    ...pipelineBase(job.id, job.owner, job.specification),
    schedule: metaOf(job.specification)?.schedule ?? 'immediate',
    timezone: metaOf(job.specification)?.timezone ?? 'UTC',
    status: jobStatus(job),
    statusReason: statusReasonOf(job),
    startTime: iso(job.createdAt),
    completionTime: iso(endedAt(job)),
    duration: durationOf(job),
    estimatedCost: job.creditsCharged,
    parentJobId: scheduleId,
  };
}

/** A schedule as its scheduled PipelineJob: "scheduled" while it fires, "cancelled" once paused. */
export function pipelineRowOfSchedule(record: ScheduleRecord): Row {
  return {
    ...pipelineBase(record.id, record.owner, record.doc.input as JobSpecificationInput),
    schedule: record.doc.cron,
    timezone: record.doc.timeZone,
    status: record.doc.paused ? 'cancelled' : 'scheduled',
    startTime: iso(record.doc.createdAt),
  };
}

/** A service as its PipelineJob: its status is its current run's. */
export function pipelineRowOfService(record: ServiceRecord, currentJob: Job | null): Row {
  return {
    ...pipelineBase(record.id, record.owner, record.doc.input as JobSpecificationInput),
    schedule: 'immediate',
    status: serviceStatus(record, currentJob),
    statusReason: record.doc.stoppedReason,
    startTime: iso(record.doc.createdAt),
    completionTime: record.doc.state === 'STOPPED' ? iso(record.doc.runs[0]?.endedAt ?? null) : null,
  };
}

/**
 * The documented "Get a List of Services" compares `timeout` with "immediate"; it means the
 * schedule. The where, with such a condition read as `schedule: {equals: "immediate"}`.
 */
export function readImmediateTimeout(where: unknown): unknown {
  if (Array.isArray(where)) return where.map(readImmediateTimeout);
  if (typeof where !== 'object' || where === null) return where;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(where)) {
    const filter = value as Record<string, unknown> | null;
    if (key === 'timeout' && filter && Object.values(filter).some((v) => v === 'immediate')) {
      out.schedule = Object.fromEntries(Object.entries(filter).map(([op, v]) => [op, v]));
    } else {
      out[key] = ['AND', 'OR', 'NOT'].includes(key) ? readImmediateTimeout(value) : value;
    }
  }
  return out;
}

/** A string of shell, quoted for sh. */
export const shellQuote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

/**
 * Runs the tasks of a Shakudo pipeline YAML, in order, from the current directory: each
 * `bash_script_path` with sh, each `py_path` with python3; a notebook task fails the job
 * (Switchyard runs no Jupyter). Read line by line, as the tasks are one key per line.
 */
const pipelineRunner = (yamlPath: string) => `set -e
f=${shellQuote(yamlPath)}
[ -f "$f" ] || { echo "pipeline file $f not found" >&2; exit 2; }
grep -E '^[[:space:]-]*(bash_script_path|py_path|notebook_path):' "$f" | while IFS= read -r line; do
  key=$(printf '%s' "\${line%%:*}" | tr -d ' -')
  value=$(printf '%s' "\${line#*:}" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e 's/^"\\(.*\\)"$/\\1/' -e "s/^'\\(.*\\)'$/\\1/")
  case "$key" in
    bash_script_path) sh "$value" ;;
    py_path) python3 "$value" ;;
    *) echo "notebook task $value: Switchyard runs no Jupyter" >&2; exit 3 ;;
  esac
done`;

/** The command a pipeline job runs: a checkout of its git server (when it has one), then its jobCommand or its YAML's tasks. */
export function pipelineCommand(meta: ShakudoMeta, gitServer: { url: string; defaultBranch: string } | null): string[] {
  // A checkout that fails ends the job with git's own status and message, not with what runs after it.
  const steps: string[] = ['set -e'];
  if (gitServer) {
    const branch = meta.branchName || gitServer.defaultBranch;
    steps.push(`git clone --quiet ${branch ? `--branch ${shellQuote(branch)} ` : ''}${shellQuote(gitServer.url)} repo`, 'cd repo');
    if (meta.commitId) steps.push(`git checkout --quiet ${shellQuote(meta.commitId)}`);
  }
  // A jobCommand runs as sh runs it (the runner sets -e again for the tasks).
  steps.push('set +e', meta.jobCommand ?? pipelineRunner(meta.pipelineYamlPath ?? 'pipeline.yaml'));
  return ['sh', '-c', steps.join('\n')];
}

/** What a session runs: it waits until it is stopped or its time allocation (the Shakudo timeout) ends. */
export const SESSION_COMMAND = ['sh', '-c', 'while :; do sleep 3600; done'];
