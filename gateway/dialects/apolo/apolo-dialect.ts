/**
 * The Apolo dialect: what the official Python SDK (apolo-sdk) calls for its
 * users' daily work, under /apolo, on the core (orchestrator, access,
 * routing, sessions). The SDK's URL is `http://<gateway>/apolo/api/v1`; its
 * `/config` names the clusters (providers), their presets (products), the
 * organization and the user's projects, and the monitoring URL
 * (`/apolo/api/v1/monitoring`) where capacity, logs and exec are.
 * dialects/README.md says what is mapped and what not.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';

import type { Job } from '../../../shared/domain.js';
import { SwitchyardError } from '../../../shared/errors.js';
import { isFinalState, type JobState } from '../../../shared/job-state-machine.js';
import type { Viewer } from '../../access/auth.js';
import { readBody, sendJson } from '../../http-io.js';
import { MAX_PAGE_SIZE, type JobListInput } from '../../jobs/job-queries.js';
import type { JobSpecificationInput } from '../../jobs/job-specification.js';
import { SessionRefusal } from '../../sessions/session-admission.js';
import { matchRoute, pathBelow, type Dialect, type DialectCore, type DialectModule, type PatternRoute, type RouteHandler } from '../dialect.js';
import { splitCommand } from './apolo-command.js';
import { ApoloError, badRequest, errorBody, fromCore, notServed, refuseUpgrade, unauthorized } from './apolo-errors.js';
import { apoloExecProtocol } from './apolo-exec.js';
import { streamLogs } from './apolo-logs.js';
import { ApoloTokenError } from './apolo-tokens.js';
import {
  APOLO_ORG,
  APOLO_STATUSES,
  apoloStatus,
  capacityOf,
  CORE_STATES,
  jobView,
  presetOf,
  resourcePoolOf,
  type ApoloStatus,
} from './apolo-views.js';

const PREFIX = '/apolo';
const API = '/api/v1';
const MONITORING = `${API}/monitoring`;

const text = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((value) => !/\p{Cs}/u.test(value), 'must be valid Unicode text');
/** jobs.start's body (apolo_sdk/_jobs.py `_job_to_api` and `_container_to_api`); keys it may add later are ignored. */
const startSchema = z.object({
  image: text(1_000),
  preset_name: text(200),
  cluster_name: text(200),
  project_name: text(200),
  org_name: text(200).optional(),
  command: z.string().max(100_000).optional(),
  entrypoint: z.string().max(100_000).optional(),
  working_dir: text(4_096).optional(),
  env: z.record(z.string(), z.string()).optional(),
  name: text(255).optional(),
  tags: z.array(text(256)).max(50).optional(),
  description: z.string().max(10_000).optional(),
  schedule_timeout: z.number().nonnegative().max(31_536_000).optional(),
  max_run_time_minutes: z.number().int().min(1).optional(),
  restart_policy: z.enum(['never', 'on-failure', 'always']).optional(),
  priority: z.enum(['low', 'normal', 'high']).optional(),
  pass_config: z.boolean().optional(),
  tty: z.boolean().optional(),
  resources: z.object({ shm: z.boolean().optional() }).optional(),
  wait_for_jobs_quota: z.boolean().optional(),
  privileged: z.boolean().optional(),
  http: z.unknown().optional(),
  volumes: z.array(z.unknown()).optional(),
  secret_env: z.record(z.string(), z.unknown()).optional(),
  secret_volumes: z.array(z.unknown()).optional(),
  disk_volumes: z.array(z.unknown()).optional(),
  energy_schedule_name: z.string().optional(),
});
const flag = z.enum(['True', 'False', 'true', 'false', '1', '0']);
const isoTime = z
  .string()
  .max(64)
  .transform((value, ctx) => {
    const ms = /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : Number.NaN;
    if (Number.isNaN(ms)) ctx.addIssue({ code: 'custom', message: `${value.slice(0, 64)} is not an ISO-8601 time` });
    return ms;
  });
/** jobs.list's query; each repeatable key is read as a list. */
const listSchema = z.object({
  status: z.array(z.enum(APOLO_STATUSES)).default([]),
  name: z.array(text(255)).max(1).default([]),
  owner: z.array(text(64)).max(100).default([]),
  tag: z.array(text(256)).max(50).default([]),
  since: z.array(isoTime).max(1).default([]),
  until: z.array(isoTime).max(1).default([]),
  cluster_name: z.array(text(200)).max(1).default([]),
  reverse: z.array(flag).max(1).default([]),
  limit: z.array(z.coerce.number().int().min(1).max(1_000_000)).max(1).default([]),
  materialized: z.array(flag).max(1).default([]),
  being_dropped: z.array(flag).max(1).default([]),
  logs_removed: z.array(flag).max(1).default([]),
  org_name: z.array(text(200)).default([]),
  project_name: z.array(text(200)).default([]),
});
const bumpSchema = z.object({ additional_max_run_time_minutes: z.number().int().min(1).max(525_600) });
const logQuerySchema = z.object({
  since: isoTime.optional(),
  timestamps: flag.optional(),
  separator: z.string().max(1_000).optional(),
  debug: flag.optional(),
});
const execQuerySchema = z.object({
  cmd: text(100_000),
  tty: z.enum(['0', '1']).default('0'),
  stdin: z.enum(['0', '1']).default('0'),
  stdout: z.enum(['0', '1']).default('0'),
  stderr: z.enum(['0', '1']).default('0'),
});

const truthy = (value: string | undefined) => value === 'True' || value === 'true' || value === '1';
function zodMessage(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; ');
}
/** The query as lists per key (Apolo repeats keys: status=running&status=pending). */
function multiQuery(query: URLSearchParams): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [key, value] of query) (out[key] ??= []).push(value);
  return out;
}

type Handler = RouteHandler;

export function createApoloDialect(core: DialectCore): Dialect {
  const { auth, orchestrator, registry, utilization, apoloTokens } = core;
  const productOf = (job: Job) => registry.product(job.providerId, job.specification.product.id);

  /** The caller: an Apolo token the gateway signed, else any token the core takes (its own, the administrator's, OIDC). */
  const viewerOf = async (authorization: string | undefined): Promise<Viewer> => {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!match) throw unauthorized('Send Authorization: Bearer <token>');
    const token = match[1]!;
    if (apoloTokens.claimsToBeOurs(token)) {
      let username: string;
      try {
        username = await apoloTokens.verify(token);
      } catch (error) {
        if (error instanceof ApoloTokenError) throw unauthorized(error.message);
        throw error;
      }
      const viewer = await auth.viewerByName(username);
      if (!viewer) throw unauthorized('The token belongs to a user that no longer exists or is disabled');
      return viewer;
    }
    try {
      return await auth.authenticate(authorization);
    } catch (error) {
      if (error instanceof SwitchyardError && error.code === 'UNAUTHENTICATED') throw unauthorized(error.message);
      throw error;
    }
  };

  const core$ = async <T>(run: () => Promise<T>, jobId?: string): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      if (error instanceof SwitchyardError) throw fromCore(error, jobId);
      throw error;
    }
  };

  const jsonBody = async (req: IncomingMessage): Promise<unknown> => {
    const read = await readBody(req, core.maxBodyBytes);
    if (read === null) {
      core.metrics.requestsRefused.inc({ reason: 'body_size' });
      throw new ApoloError(413, `The request body is larger than the limit of ${core.maxBodyBytes} bytes`);
    }
    try {
      return JSON.parse(read) as unknown;
    } catch {
      throw badRequest('The body is not JSON');
    }
  };

  /** The gateway's URL as the client reached it, and the dialect's base under it. */
  const originOf = (req: IncomingMessage) => (core.publicUrl ?? `http://${req.headers.host ?? 'localhost'}`).replace(/\/+$/, '');
  const baseOf = (req: IncomingMessage) => `${originOf(req)}${PREFIX}`;

  const views = async (jobs: Job[]) => {
    const charged = await core.accounting.jobCharged(jobs.map((job) => job.id));
    return jobs.map((job, i) => jobView(job, { product: productOf(job), charged: charged[i] ?? 0 }));
  };

  const clusters = (base: string) =>
    registry
      .list()
      .filter((entry) => entry.manifest)
      .map((entry) => {
        const pool = resourcePoolOf(entry.id, utilization.get(entry.id));
        const api = `${base}${API}`;
        return {
          name: entry.id,
          orgs: [APOLO_ORG],
          registry_url: `${base}/registry`,
          storage_url: `${api}/storage`,
          users_url: `${api}/users`,
          monitoring_url: `${base}${MONITORING}`,
          secrets_url: `${api}/secrets`,
          disks_url: `${api}/disk`,
          buckets_url: `${api}/buckets`,
          resource_pool_types: pool ? [pool] : [],
          resource_presets: (entry.manifest?.products ?? []).map((product) => presetOf(product, pool?.name ?? null)),
        };
      });

  /** GET /config: the login settings always; with a good token, the clusters and the caller's projects. */
  const config: Handler = async (req, res) => {
    const base = baseOf(req);
    const document: Record<string, unknown> = {
      // Browser login is not served (dialects/README.md): these answer 404 with the reason.
      auth_url: `${base}/oauth/authorize`,
      token_url: `${base}/oauth/token`,
      logout_url: `${base}/oauth/logout`,
      headless_callback_url: `${base}/oauth/show-code`,
      callback_urls: [],
      client_id: 'switchyard',
      audience: base,
    };
    if (req.headers.authorization === undefined) return sendJson(res, 200, document);
    // As Apolo's API answers a token it does not take here: the anonymous document, not authorized.
    const viewer = await viewerOf(req.headers.authorization).catch((error: unknown) => {
      if (error instanceof ApoloError && error.status === 401) return null;
      throw error;
    });
    if (!viewer) return sendJson(res, 200, { ...document, authorized: false });
    const all = clusters(base);
    const projectNames = [viewer.username, ...viewer.projects];
    sendJson(res, 200, {
      ...document,
      authorized: true,
      clusters: all,
      projects: all.flatMap((cluster) =>
        projectNames.map((name) => ({
          name,
          cluster_name: cluster.name,
          org_name: APOLO_ORG,
          role: name === viewer.username ? 'admin' : (viewer.memberships[name]?.role.toLowerCase() ?? 'reader'),
        })),
      ),
    });
  };

  /** POST /jobs?from_preset: jobs.start, one job of the preset (product) on the cluster (provider). */
  const start: Handler = async (req, res) => {
    const viewer = await viewerOf(req.headers.authorization);
    const parsed = startSchema.safeParse(await jsonBody(req));
    if (!parsed.success) throw badRequest(zodMessage(parsed.error));
    const body = parsed.data;
    const unmapped = (what: string, why: string) => badRequest(`${what} is not supported by Switchyard: ${why}`);
    if (body.http) throw unmapped('http', 'a job app is reached through a WEB session of the core API');
    if (body.volumes?.length || body.disk_volumes?.length) throw unmapped('volumes', 'Switchyard has no storage or disks of its own');
    if (body.secret_env && Object.keys(body.secret_env).length) throw unmapped('secret_env', 'Switchyard has no secrets service');
    if (body.secret_volumes?.length) throw unmapped('secret_volumes', 'Switchyard has no secrets service');
    if (body.pass_config) throw unmapped('pass_config', 'a job gets no Apolo configuration');
    if (body.privileged) throw unmapped('privileged', 'jobs run without privileges');
    if (body.restart_policy === 'on-failure') throw unmapped('restart_policy on-failure', 'a job restarts on every exit (always) or never');
    if (body.priority && body.priority !== 'normal') throw unmapped(`priority ${body.priority}`, 'jobs have no priorities');
    if (body.energy_schedule_name) throw unmapped('energy_schedule_name', 'jobs have no energy schedules');
    if (body.org_name && body.org_name !== APOLO_ORG) throw badRequest(`Organization ${body.org_name} not found; there is one: ${APOLO_ORG}`);
    if (!registry.get(body.cluster_name)) throw badRequest(`Cluster ${body.cluster_name} not found`);
    if (!registry.product(body.cluster_name, body.preset_name))
      throw badRequest(`Preset ${body.preset_name} not found on cluster ${body.cluster_name}`);
    let command: string[];
    try {
      command = [...splitCommand(body.entrypoint ?? ''), ...splitCommand(body.command ?? '')];
    } catch {
      throw badRequest('command and entrypoint must be shell words');
    }
    if (command.length === 0) throw badRequest('Send a command: Switchyard runs the command it is given, not an image entrypoint it cannot see');
    const project = body.project_name === viewer.username ? null : body.project_name;
    if (body.name) {
      // Apolo keeps names unique among a user's jobs that have not ended.
      const active: JobState[] = ['IN_QUEUE', 'RUNNING', 'SUSPENDED', 'CANCELING'];
      const taken = await core$(() =>
        orchestrator.listJobs(viewer, { createdBy: [viewer.username], name: body.name, states: active, project }, { first: 1, order: 'DESC' }),
      );
      if (taken.jobs.length) throw badRequest(`Failed to create job: job with name '${body.name}' and owner '${viewer.username}' already exists`);
    }
    const spec: JobSpecificationInput = {
      product: { id: body.preset_name, provider: body.cluster_name },
      command,
      image: body.image,
      env: body.env ?? null,
      workingDir: body.working_dir ?? null,
      name: body.name ?? null,
      tags: body.tags ?? null,
      description: body.description ?? null,
      scheduleTimeout: body.schedule_timeout !== undefined ? Math.ceil(body.schedule_timeout) : null,
      timeAllocation: body.max_run_time_minutes !== undefined ? { minutes: body.max_run_time_minutes } : null,
      restartOnExit: body.restart_policy === 'always',
      // Apolo starts the same job again whenever asked; names, not contents, tell its jobs apart.
      allowDuplicateJob: true,
      project,
    };
    const [outcome] = await core$(() => orchestrator.createJobs(viewer, [spec]));
    if (!outcome?.ok) throw fromCore(outcome?.error ?? { code: 'INTERNAL', message: 'no outcome' });
    const [view] = await views([outcome.value]);
    sendJson(res, 202, view);
  };

  const status: Handler = async (req, res, [id]) => {
    const viewer = await viewerOf(req.headers.authorization);
    const job = await core$(() => orchestrator.getJob(viewer, id!), id);
    const [view] = await views([job]);
    sendJson(res, 200, view);
  };

  /** GET /jobs: jobs.list, streamed as NDJSON (one job a line) when asked for, else {"jobs": [...]}. */
  const list: Handler = async (req, res, _params, query) => {
    const viewer = await viewerOf(req.headers.authorization);
    const parsed = listSchema.safeParse(multiQuery(query));
    if (!parsed.success) throw badRequest(zodMessage(parsed.error));
    const q = parsed.data;
    if (q.project_name.length > 1) throw badRequest('Switchyard lists one project at a time: give at most one project_name');
    const wanted = q.status.length ? new Set<ApoloStatus>(q.status) : null;
    const project = q.project_name[0] === undefined || q.project_name[0] === viewer.username ? null : q.project_name[0];
    // Another organization has no jobs here.
    const none = q.org_name.some((org) => org !== APOLO_ORG) && !q.org_name.includes(APOLO_ORG);
    const filter: JobListInput = {
      createdBy: q.owner.length ? q.owner : null,
      states: wanted ? [...new Set([...wanted].flatMap((s) => CORE_STATES[s]))] : null,
      providers: q.cluster_name.length ? q.cluster_name : null,
      name: q.name[0] ?? null,
      tags: q.tag.length ? q.tag : null,
      createdAfter: q.since[0] ?? null,
      createdBefore: q.until[0] ?? null,
      project,
    };
    const extra = wanted ? (job: Job) => wanted.has(apoloStatus(job).status) : undefined;
    const limit = q.limit[0] ?? Number.POSITIVE_INFINITY;
    const order = truthy(q.reverse[0]) ? 'DESC' : 'ASC';
    const ndjson = (req.headers.accept ?? '').includes('application/x-ndjson');
    // The first page before any byte is sent: a refusal is still an HTTP error.
    let page = none ? null : await core$(() => orchestrator.listJobs(viewer, filter, { first: Math.min(MAX_PAGE_SIZE, limit), order }, extra));
    if (!ndjson) {
      const jobs: Job[] = [];
      while (page) {
        jobs.push(...page.jobs);
        const after = page.hasNextPage && jobs.length < limit ? page.endCursor : null;
        page = after
          ? await core$(() => orchestrator.listJobs(viewer, filter, { first: Math.min(MAX_PAGE_SIZE, limit - jobs.length), after, order }, extra))
          : null;
      }
      return sendJson(res, 200, { jobs: await views(jobs.slice(0, limit)) });
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    let sent = 0;
    try {
      while (page) {
        const lines = (await views(page.jobs.slice(0, limit - sent))).map((view) => `${JSON.stringify(view)}\n`);
        sent += lines.length;
        if (lines.length) res.write(lines.join(''));
        const after: string | null = page.hasNextPage && sent < limit ? page.endCursor : null;
        page = after ? await orchestrator.listJobs(viewer, filter, { first: Math.min(MAX_PAGE_SIZE, limit - sent), after, order }, extra) : null;
      }
    } catch (error) {
      // Mid-stream, the SDK reads an error as a line of its own (NDJSONError).
      core.logger.error({ err: error }, 'apolo job listing failed');
      res.write(`${JSON.stringify({ error: error instanceof SwitchyardError ? error.message : 'Internal error' })}\n`);
    }
    res.end();
  };

  /** DELETE /jobs/{id}: jobs.kill; a job that has ended already is answered the same and changes nothing. */
  const kill: Handler = async (req, res, [id]) => {
    const viewer = await viewerOf(req.headers.authorization);
    const [outcome] = await core$(() => orchestrator.terminateJobs(viewer, [id!]), id);
    if (outcome && !outcome.ok && outcome.error.code !== 'INVALID_STATE') throw fromCore(outcome.error, id);
    res.writeHead(204).end();
  };

  /** PUT /jobs/{id}/max_run_time_minutes: jobs.bump_life_span, the core's extension of the job's time. */
  const bump: Handler = async (req, res, [id]) => {
    const viewer = await viewerOf(req.headers.authorization);
    const parsed = bumpSchema.safeParse(await jsonBody(req));
    if (!parsed.success) throw badRequest(zodMessage(parsed.error));
    const [outcome] = await core$(
      () => orchestrator.extendJobs(viewer, [{ jobId: id!, requestedTime: { minutes: parsed.data.additional_max_run_time_minutes } }]),
      id,
    );
    if (outcome && !outcome.ok) throw fromCore(outcome.error, id);
    res.writeHead(204).end();
  };

  /** GET {monitoring}/capacity: how many jobs of each of the cluster's presets could start now. */
  const capacity: Handler = async (req, res, _params, query) => {
    await viewerOf(req.headers.authorization);
    const clusterName = query.get('cluster_name');
    const entries = registry.list().filter((entry) => entry.manifest && (!clusterName || entry.id === clusterName));
    const counts: Record<string, number> = {};
    for (const entry of entries) Object.assign(counts, capacityOf(entry.manifest?.products ?? [], utilization.get(entry.id)));
    sendJson(res, 200, counts);
  };

  const webSocketOnly: Handler = async () => {
    throw badRequest('This is a websocket: open it with an Upgrade request');
  };
  const notServedHere =
    (what: string, why: string): Handler =>
    async (req) => {
      await viewerOf(req.headers.authorization);
      throw notServed(what, why);
    };

  const JOB = '([^/]+)';
  const routes: PatternRoute[] = [
    { method: 'GET', path: new RegExp(`^${API}/config$`), handler: config },
    { method: 'POST', path: new RegExp(`^${API}/jobs$`), handler: start },
    { method: 'GET', path: new RegExp(`^${API}/jobs$`), handler: list },
    { method: 'GET', path: new RegExp(`^${API}/jobs/${JOB}$`), handler: status },
    { method: 'DELETE', path: new RegExp(`^${API}/jobs/${JOB}$`), handler: kill },
    { method: 'PUT', path: new RegExp(`^${API}/jobs/${JOB}/max_run_time_minutes$`), handler: bump },
    { method: 'GET', path: new RegExp(`^${MONITORING}/capacity$`), handler: capacity },
    { method: 'GET', path: new RegExp(`^${MONITORING}/${JOB}/(?:log_ws|exec)$`), handler: webSocketOnly },
    {
      method: 'GET',
      path: new RegExp(`^${MONITORING}/${JOB}/top$`),
      handler: notServedHere('top', 'providers report no per-job telemetry'),
    },
    {
      method: 'GET',
      path: new RegExp(`^${MONITORING}/${JOB}/log$`),
      handler: notServedHere('The HTTP log', 'logs are served on the log websocket (log_ws)'),
    },
    {
      method: 'POST',
      path: new RegExp(`^${MONITORING}/${JOB}/save$`),
      handler: notServedHere('save', 'Switchyard does not commit containers to images'),
    },
    {
      method: 'POST',
      path: new RegExp(`^${MONITORING}/${JOB}/kill$`),
      handler: notServedHere('send_signal', 'providers take no signals; kill the job (DELETE /jobs/{id})'),
    },
  ];
  /** The paths of Apolo services Switchyard has no counterpart of, and why. */
  const services: [RegExp, string, string][] = [
    [/^\/oauth\//, 'Browser login', 'issue a token through the core API (issueApoloToken) and log in with it'],
    [new RegExp(`^${API}/(?:storage|disk|buckets)(?:/|$)`), 'Storage', 'Switchyard has no storage, disks or buckets of its own'],
    [new RegExp(`^${API}/secrets(?:/|$)`), 'Secrets', 'Switchyard has no secrets service'],
    [new RegExp(`^${API}/users(?:/|$)`), 'Users and roles', 'users are managed through the core API'],
    [/^\/registry(?:\/|$)/, 'The image registry', 'Switchyard has no image registry'],
  ];

  const METHODS_KNOWN = (path: string) => routes.some((route) => route.path.test(path));

  const answerError = (res: ServerResponse, caught: unknown, path: string) => {
    let error = caught;
    if (!(error instanceof ApoloError)) {
      core.logger.error({ err: error, path }, 'apolo request failed');
      error = new ApoloError(500, 'Internal error');
    }
    if (res.headersSent) return void res.destroy();
    const apolo = error as ApoloError;
    if (apolo.status === 413) res.setHeader('connection', 'close');
    res.writeHead(apolo.status, { 'content-type': 'application/json; charset=utf-8' }).end(errorBody(apolo));
  };

  // One websocket server per stream: log_ws offers Apolo's subprotocol, exec its channels'.
  const logSockets = new WebSocketServer({
    noServer: true,
    maxPayload: core.maxBodyBytes,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has('logs.apolo.us') ? 'logs.apolo.us' : false),
  });
  const execSockets = new WebSocketServer({
    noServer: true,
    maxPayload: core.maxBodyBytes,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has('v2.channels.neu.ro') ? 'v2.channels.neu.ro' : false),
  });
  const upgradeTo = (wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer) =>
    new Promise<WebSocket>((resolve) => wss.handleUpgrade(req, socket, head, resolve));

  const upgradeLogs = async (req: IncomingMessage, socket: Duplex, head: Buffer, id: string, query: URLSearchParams) => {
    const viewer = await viewerOf(req.headers.authorization);
    const parsed = logQuerySchema.safeParse(Object.fromEntries(query));
    if (!parsed.success) throw badRequest(zodMessage(parsed.error));
    await core$(() => orchestrator.getJob(viewer, id), id);
    const ws = await upgradeTo(logSockets, req, socket, head);
    void streamLogs(ws, { orchestrator, store: core.store, feed: core.feed, auth }, viewer, id, {
      since: parsed.data.since ?? null,
      timestamps: truthy(parsed.data.timestamps),
    });
  };

  /** exec: a SHELL session on the job's first rank, the command typed into it (apolo-exec.ts). */
  const upgradeExec = async (req: IncomingMessage, socket: Duplex, head: Buffer, id: string, query: URLSearchParams) => {
    const viewer = await viewerOf(req.headers.authorization);
    const parsed = execQuerySchema.safeParse(Object.fromEntries(query));
    if (!parsed.success) throw badRequest(zodMessage(parsed.error));
    let argv: string[];
    try {
      argv = splitCommand(parsed.data.cmd);
    } catch {
      throw badRequest('cmd must be shell words');
    }
    if (argv.length === 0) throw badRequest('cmd is empty');
    const job = await core$(() => orchestrator.getJob(viewer, id), id);
    if (job.state !== 'RUNNING') throw badRequest(isFinalState(job.state) ? `Job ${id} has ended` : `Job ${id} is not running yet`);
    const [opened] = await core$(() => core.sessions.open(viewer, [{ jobId: id, rank: 0, sessionType: 'SHELL' }], originOf(req)), id);
    if (!opened?.ok) throw fromCore(opened?.error ?? { code: 'INTERNAL', message: 'no outcome' }, id);
    const credential = new URL(opened.value.url).searchParams.get('token');
    let grant;
    try {
      grant = await core.sessionEndpoint.admitCredential(credential, 'SHELL');
    } catch (error) {
      if (error instanceof SessionRefusal) throw new ApoloError(error.status === 409 ? 400 : error.status, error.message);
      throw error;
    }
    const ws = await upgradeTo(execSockets, req, socket, head);
    try {
      core.sessionEndpoint.relay(ws, grant, apoloExecProtocol(argv, parsed.data.tty === '1'));
    } catch (error) {
      core.logger.warn({ err: error, jobId: id }, 'apolo exec could not start');
      ws.close(1011, 'The provider is not connected; try again');
    }
  };

  const dialect: Dialect = {
    name: 'apolo',
    prefix: PREFIX,
    async handle(req, res) {
      const { path, query } = pathBelow(dialect, req);
      try {
        const route = matchRoute(routes, req.method, path, () => badRequest('The path is not valid percent-encoding'));
        if (route) return await route.handler(req, res, route.params, query);
        // aiohttp answers a known path with another method 405, an unknown one 404.
        if (METHODS_KNOWN(path)) throw new ApoloError(405, 'Method Not Allowed');
        const service = services.find(([pattern]) => pattern.test(path));
        if (service) throw notServed(service[1], service[2]);
        throw new ApoloError(404, 'Not Found');
      } catch (caught) {
        answerError(res, caught, path);
      }
    },
    upgrade(req, socket, head) {
      const { path, query } = pathBelow(dialect, req);
      const match = new RegExp(`^${MONITORING}/${JOB}/(log_ws|exec)$`).exec(path);
      const run = async () => {
        if (!match || req.method !== 'GET') throw new ApoloError(404, 'Not Found');
        let id: string;
        try {
          id = decodeURIComponent(match[1]!);
        } catch {
          throw badRequest('The path is not valid percent-encoding');
        }
        return match[2] === 'log_ws' ? upgradeLogs(req, socket, head, id, query) : upgradeExec(req, socket, head, id, query);
      };
      run().catch((caught: unknown) => {
        let error = caught;
        if (!(error instanceof ApoloError)) {
          core.logger.error({ err: error, path }, 'apolo websocket failed');
          error = new ApoloError(500, 'Internal error');
        }
        if (socket.writable) refuseUpgrade(socket, error as ApoloError);
      });
    },
    async close() {
      // Exec sessions are the session endpoint's, which ends them itself.
      for (const socket of logSockets.clients) socket.close(1001, 'The gateway is stopping');
    },
  };
  return dialect;
}

export const apoloDialect: DialectModule = { name: 'apolo', prefix: PREFIX, create: createApoloDialect };
