/**
 * The OpenPAI dialect: the REST server's v1 token and v2 authn, job and
 * virtual-cluster calls that the official JS SDK makes, under /openpai, on the
 * core (orchestrator, access, routing). Jobs are named as OpenPAI names them,
 * `<user>~<name>`; a Switchyard job's OpenPAI name is its creator and its
 * specification's name. dialects/README.md says what is mapped and what not.
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';

import { SwitchyardError } from '../../../shared/errors.js';
import { LoginThrottledError, type Viewer } from '../../access/auth.js';
import { readBody, sendJson } from '../../http-io.js';
import { clientAddress } from '../../http-server.js';
import { MAX_PAGE_SIZE, type JobListInput } from '../../jobs/job-queries.js';
import { matchRoute, pathBelow, type Dialect, type DialectCore, type DialectModule, type PatternRoute, type RouteHandler } from '../dialect.js';
import { fromCore, invalidParameters, noApi, noJob, noVirtualCluster, PaiError, unauthorized, type ErrorContext } from './openpai-errors.js';
import { configOf, DEFAULT_VC, parseProtocol, toSpecification, virtualClusterOf } from './openpai-protocol.js';
import { CORE_STATES, jobDetail, jobSummary, PAI_STATES, paiState, skuTypes, virtualClusters, type PaiState } from './openpai-views.js';

const PREFIX = '/openpai';
/** OpenPAI's own limits on GET /api/v2/jobs. */
const DEFAULT_LIMIT = 5_000;
const MAX_LIMIT = 50_000;

const text = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((value) => !/\p{Cs}/u.test(value), 'must be valid Unicode text');
const loginSchema = z.object({
  username: text(64),
  password: text(1024),
  expiration: z.coerce.number().int().min(60).max(604_800).optional(),
});
const executionTypeSchema = z.object({ value: z.enum(['START', 'STOP']) });
const commaList = z
  .string()
  .transform((value) => value.split(',').filter(Boolean))
  .optional();
const listQuerySchema = z.object({
  username: commaList,
  vc: commaList,
  state: commaList.pipe(z.array(z.enum(PAI_STATES)).optional()),
  keyword: z.string().max(200).optional(),
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT, `Limit exceeds max number ${MAX_LIMIT}.`).default(DEFAULT_LIMIT),
  withTotalCount: z.string().optional(),
  order: z.string().optional(),
  tagsContain: commaList,
  tagsNotContain: commaList,
  jobPriority: z.string().optional(),
});

function zodMessage(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
}

/** A form (the SDK's login) or JSON body as an object; null when it is neither. */
function formOrJson(req: IncomingMessage, body: string): unknown {
  if ((req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(body));
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return null;
  }
}

type Handler = RouteHandler;

export function createOpenpaiDialect(core: DialectCore): Dialect {
  const { auth, orchestrator, registry, utilization, metrics } = core;
  const productOf = (job: { providerId: string; specification: { product: { id: string } } }) =>
    registry.product(job.providerId, job.specification.product.id);

  const viewerOf = async (req: IncomingMessage): Promise<Viewer> => {
    try {
      return await auth.authenticate(req.headers.authorization);
    } catch (error) {
      if (error instanceof SwitchyardError && error.code === 'UNAUTHENTICATED') throw unauthorized();
      throw error;
    }
  };

  const body = async (req: IncomingMessage): Promise<string> => {
    const read = await readBody(req, core.maxBodyBytes);
    if (read !== null) return read;
    metrics.requestsRefused.inc({ reason: 'body_size' });
    throw new PaiError(413, 'PayloadTooLargeError', `The request body is larger than the limit of ${core.maxBodyBytes} bytes.`);
  };

  const core$ = async <T>(context: ErrorContext, run: () => Promise<T>, frameworkName?: string): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      if (error instanceof SwitchyardError) throw fromCore(error, context, frameworkName);
      throw error;
    }
  };

  /** The job `<user>~<name>` the viewer may see, or NoJobError. */
  const findJob = async (viewer: Viewer, name: string) => {
    const separator = name.indexOf('~');
    if (separator < 1) throw noJob(name);
    const creator = name.slice(0, separator);
    const filter: JobListInput = { createdBy: [creator], name: name.slice(separator + 1) };
    const page = await core$('request', () => orchestrator.listJobs(viewer, filter, { first: 1, order: 'DESC' }));
    if (page.jobs[0]) return page.jobs[0];
    // A job made through another API without a name goes by its id (frameworkName in openpai-views.ts).
    const byId = await orchestrator.getJob(viewer, filter.name!).catch(() => null);
    if (byId && byId.owner.createdBy === creator && byId.specification.name === null) return byId;
    throw noJob(name);
  };

  const login: Handler = async (req, res) => {
    const parsed = loginSchema.safeParse(formOrJson(req, await body(req)));
    if (!parsed.success) throw invalidParameters(`Send username and password as a form or JSON: ${zodMessage(parsed.error)}`);
    const { username, password, expiration } = parsed.data;
    let issued: Awaited<ReturnType<typeof auth.issueToken>>;
    try {
      issued = await auth.issueToken(username, password, clientAddress(req, core.trustedProxyHops), expiration);
    } catch (error) {
      if (!(error instanceof LoginThrottledError)) throw error;
      metrics.requestsRefused.inc({ reason: 'login_throttled' });
      res.setHeader('retry-after', String(Math.max(1, Math.ceil(error.retryAfterMs / 1000))));
      throw new PaiError(429, 'TooManyRequestsError', error.message);
    }
    // OpenPAI tells an unknown user (NoUserError) from a wrong password; Switchyard does not say which names exist.
    if (!issued) throw new PaiError(400, 'IncorrectPasswordError', 'The user name or the password is incorrect.');
    sendJson(res, 200, { user: issued.user.username, token: issued.token, admin: issued.user.admin, hasGitHubPAT: false });
  };

  const logout: Handler = async (req, res) => {
    const viewer = await viewerOf(req);
    if (viewer.tokenId) await core$('request', () => auth.revokeToken(viewer, viewer.tokenId!));
    sendJson(res, 200, { message: 'Logout successfully.' });
  };

  const submit: Handler = async (req, res) => {
    const viewer = await viewerOf(req);
    const protocol = parseProtocol(await body(req));
    const spec = toSpecification(protocol);
    const vc = protocol.defaults?.virtualCluster ?? DEFAULT_VC;
    if (vc !== DEFAULT_VC && !registry.get(vc)) throw noVirtualCluster(vc);
    const frameworkName = `${viewer.username}~${protocol.name}`;
    const taken = await core$('request', () =>
      orchestrator.listJobs(viewer, { createdBy: [viewer.username], name: protocol.name }, { first: 1, order: 'DESC' }),
    );
    if (taken.jobs.length > 0) throw new PaiError(409, 'ConflictJobError', `Job ${frameworkName} already exists.`);
    const [outcome] = await core$('submission', () => orchestrator.createJobs(viewer, [spec]));
    if (!outcome?.ok) throw fromCore(outcome?.error ?? { code: 'INTERNAL', message: 'no outcome' }, 'submission');
    sendJson(res, 202, { status: 202, message: `Update job ${protocol.name} for user ${viewer.username} successfully.` });
  };

  const list: Handler = async (req, res, _params, query) => {
    const viewer = await viewerOf(req);
    const parsed = listQuerySchema.safeParse(Object.fromEntries(query));
    if (!parsed.success) throw invalidParameters(zodMessage(parsed.error));
    const q = parsed.data;
    const [field = 'submissionTime', ordering = 'DESC'] = (q.order ?? '').split(',').filter(Boolean);
    if (field !== 'submissionTime') throw invalidParameters(`Switchyard orders jobs by submissionTime only, not by ${field}.`);
    if (ordering !== 'ASC' && ordering !== 'DESC') throw invalidParameters('order is a field and ASC or DESC.');
    const wanted = q.state ? new Set<PaiState>(q.state as PaiState[]) : null;
    const vcs = q.vc ? new Set(q.vc) : null;
    const checks: ((job: Parameters<typeof paiState>[0]) => boolean)[] = [];
    if (wanted) checks.push((job) => wanted.has(paiState(job)));
    if (vcs) checks.push((job) => vcs.has(virtualClusterOf(job)));
    if (q.keyword) {
      const keyword = q.keyword;
      checks.push((job) => [job.owner.createdBy, job.specification.name ?? '', virtualClusterOf(job)].some((s) => s.includes(keyword)));
    }
    if (q.tagsContain?.length) checks.push((job) => q.tagsContain!.some((tag) => job.specification.tags.includes(tag)));
    if (q.tagsNotContain?.length) checks.push((job) => !q.tagsNotContain!.some((tag) => job.specification.tags.includes(tag)));
    const filter: JobListInput = {
      createdBy: q.username?.length ? q.username : null,
      states: wanted ? [...new Set([...wanted].flatMap((state) => CORE_STATES[state]))] : null,
    };
    const extra = checks.length ? (job: Parameters<typeof paiState>[0]) => checks.every((check) => check(job)) : undefined;
    // Offset and limit over the core's cursor pages.
    const jobs: Parameters<typeof paiState>[0][] = [];
    let after: string | null = null;
    let totalCount: number;
    let skip = q.offset;
    do {
      const page = await core$('request', () =>
        orchestrator.listJobs(viewer, filter, { first: Math.min(MAX_PAGE_SIZE, skip + q.limit - jobs.length), after, order: ordering }, extra),
      );
      totalCount = page.totalCount;
      const fresh = page.jobs.slice(Math.min(skip, page.jobs.length));
      skip -= page.jobs.length - fresh.length;
      jobs.push(...fresh);
      after = page.hasNextPage ? page.endCursor : null;
    } while (after && jobs.length < q.limit);
    const data = jobs.slice(0, q.limit).map((job) => jobSummary(job, productOf));
    sendJson(res, 200, q.withTotalCount === 'true' ? { totalCount, data } : data);
  };

  const get: Handler = async (req, res, [name]) => {
    const job = await findJob(await viewerOf(req), name!);
    sendJson(res, 200, jobDetail(job, productOf));
  };

  const getConfig: Handler = async (req, res, [name]) => {
    const job = await findJob(await viewerOf(req), name!);
    const yaml = configOf(job, productOf(job));
    res.writeHead(200, { 'content-type': 'text/yaml; charset=utf-8', 'content-length': Buffer.byteLength(yaml) });
    res.end(yaml);
  };

  const execute: Handler = async (req, res, [name]) => {
    const viewer = await viewerOf(req);
    const parsed = executionTypeSchema.safeParse(formOrJson(req, await body(req)));
    if (!parsed.success) throw invalidParameters(`Send {"value": "START" | "STOP"}: ${zodMessage(parsed.error)}`);
    const job = await findJob(viewer, name!);
    if (parsed.data.value === 'START') {
      // A job that was never stopped is started already; one that ended cannot run again under its name.
      if (paiState(job) === 'WAITING' || paiState(job) === 'RUNNING')
        return sendJson(res, 202, { status: 202, message: `Execute job ${name} successfully.` });
      throw invalidParameters(`Switchyard does not start job ${name} again once it has ended; submit it under a new name.`);
    }
    const [outcome] = await core$('request', () => orchestrator.terminateJobs(viewer, [job.id]), name);
    // Stopping a job that has ended already changes nothing, as OpenPAI answers it.
    if (outcome && !outcome.ok && outcome.error.code !== 'INVALID_STATE') throw fromCore(outcome.error, 'request', name);
    sendJson(res, 202, { status: 202, message: `Execute job ${name} successfully.` });
  };

  const sshInfo: Handler = async (req, _res, [name]) => {
    await findJob(await viewerOf(req), name!);
    throw new PaiError(404, 'NoJobSshInfoError', `SSH info of job ${name} is not found.`);
  };

  const listVirtualClusters: Handler = async (req, res) => {
    await viewerOf(req);
    sendJson(res, 200, virtualClusters(registry, utilization));
  };

  const getVirtualCluster: Handler = async (req, res, [vc]) => {
    await viewerOf(req);
    const cluster = virtualClusters(registry, utilization)[vc!];
    if (!cluster) throw noVirtualCluster(vc!);
    sendJson(res, 200, cluster);
  };

  const getSkuTypes: Handler = async (req, res, [vc]) => {
    await viewerOf(req);
    if (vc !== DEFAULT_VC && !registry.get(vc!)) throw noVirtualCluster(vc!);
    sendJson(res, 200, skuTypes(registry, vc!));
  };

  const authnInfo: Handler = async (_req, res) =>
    sendJson(res, 200, { authn_type: 'basic', loginURI: '/api/v2/authn/basic/login', loginURIMethod: 'post' });

  const FW = '([^/~]+~[^/]+)';
  const routes: PatternRoute[] = [
    { method: 'POST', path: /^\/api\/v1\/token$/, handler: login },
    { method: 'POST', path: /^\/api\/v[12]\/authn\/basic\/login$/, handler: login },
    { method: 'DELETE', path: /^\/api\/v[12]\/authn\/basic\/logout$/, handler: logout },
    { method: 'GET', path: /^\/api\/v[12]\/authn\/info$/, handler: authnInfo },
    { method: 'POST', path: /^\/api\/v2\/jobs$/, handler: submit },
    { method: 'GET', path: /^\/api\/v2\/jobs$/, handler: list },
    { method: 'GET', path: new RegExp(`^/api/v2/jobs/${FW}$`), handler: get },
    { method: 'GET', path: new RegExp(`^/api/v2/jobs/${FW}/config$`), handler: getConfig },
    { method: 'GET', path: new RegExp(`^/api/v2/jobs/${FW}/ssh$`), handler: sshInfo },
    { method: 'PUT', path: new RegExp(`^/api/v2/jobs/${FW}/executionType$`), handler: execute },
    { method: 'GET', path: /^\/api\/v2\/virtual-clusters$/, handler: listVirtualClusters },
    { method: 'GET', path: /^\/api\/v2\/virtual-clusters\/([^/]+)$/, handler: getVirtualCluster },
    { method: 'GET', path: /^\/api\/v2\/virtual-clusters\/([^/]+)\/sku-types$/, handler: getSkuTypes },
  ];

  const dialect: Dialect = {
    name: 'openpai',
    prefix: PREFIX,
    async handle(req, res) {
      const { path, query } = pathBelow(dialect, req);
      try {
        const route = matchRoute(routes, req.method, path, () => invalidParameters('The path is not valid percent-encoding.'));
        if (route) return await route.handler(req, res, route.params, query);
        // Express answers a method it has no route for like an unknown path.
        throw noApi(req.url?.slice(PREFIX.length) || '/');
      } catch (caught) {
        let error = caught;
        if (!(error instanceof PaiError)) {
          core.logger.error({ err: error, path }, 'openpai request failed');
          error = new PaiError(500, 'UnknownError', 'Internal error');
        }
        const { status, code, message } = error as PaiError;
        if (res.headersSent) return void res.destroy();
        // Close rather than read the rest of a body already refused.
        if (status === 413) res.setHeader('connection', 'close');
        sendJson(res, status, { code, message });
      }
    },
  };
  return dialect;
}

export const openpaiDialect: DialectModule = { name: 'openpai', prefix: PREFIX, create: createOpenpaiDialect };
