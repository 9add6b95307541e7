/**
 * The Backend.AI dialect: the manager's REST API as Backend.AI's Python SDK and
 * npm JS SDK use it, under /backendai, on the core (orchestrator, access,
 * routing). Every call but the version probe is signed with a user's key pair
 * (HMAC, backendai-signature.ts); a session is a job named for the session,
 * among its owner's jobs. dialects/README.md says what is mapped and what not.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';

import type { Job } from '../../../shared/domain.js';
import { SwitchyardError } from '../../../shared/errors.js';
import { isFinalState, type JobState } from '../../../shared/job-state-machine.js';
import type { Viewer } from '../../access/auth.js';
import { createBackendAiKeypairs } from '../../access/backendai-keypairs.js';
import { readBody, sendJson } from '../../http-io.js';
import { MAX_PAGE_SIZE, type JobListInput } from '../../jobs/job-queries.js';
import type { KeypairRecord } from '../../store/store.js';
import { pathBelow, type Dialect, type DialectCore, type DialectModule } from '../dialect.js';
import {
  authorizationFailed,
  BaiError,
  fromCore,
  graphqlError,
  internalServerError,
  invalidApiParameters,
  methodNotAllowed,
  notImplemented,
  requestTooLarge,
  sessionAlreadyExists,
  sessionNotFound,
  urlNotFound,
} from './backendai-errors.js';
import { parseScope, streamSessionEvents } from './backendai-events.js';
import { runSessionQuery, type SessionListArgs, type SessionLister } from './backendai-graphql.js';
import {
  CORE_STATES,
  createSchema,
  isEnded,
  projectOfGroup,
  SESSION_STATUSES,
  sessionInfo,
  sessionStatus,
  slotsOf,
  statusHistory,
  toSessionRequest,
  type SessionStatus,
} from './backendai-sessions.js';
import { checkDate, parseAuthorization, sameSignature, signRequest } from './backendai-signature.js';

const PREFIX = '/backendai';
/** The API version the dialect speaks (the manager 25.x's); clients take the lower of theirs and it. */
export const API_VERSION = 'v9.20250722';
/** The manager release whose API the dialect follows; the JS SDK compares features against it. */
export const MANAGER_VERSION = '25.19.2';
/** How long `POST /session` without enqueueOnly holds the answer when maxWaitSeconds is 0 (the manager: until it starts). */
const DEFAULT_MAX_WAIT_MS = 5 * 60_000;
/** Log lines `GET /session/<name>/logs` returns: the newest. */
const LOG_LINES = 10_000;
const ACTIVE_STATES: JobState[] = ['IN_QUEUE', 'SUSPENDED', 'RUNNING', 'CANCELING'];

const graphqlSchema = z.object({
  query: z.string().min(1).max(100_000),
  variables: z.record(z.string(), z.unknown()).nullish(),
  operationName: z.string().nullish(),
});
const checkPresetsSchema = z.object({ group: z.string().nullish(), scaling_group: z.string().nullish() }).catchall(z.unknown());
const eventsQuerySchema = z.object({
  sessionName: z.string().optional(),
  name: z.string().optional(),
  sessionId: z.string().optional(),
  ownerAccessKey: z.string().optional(),
  owner_access_key: z.string().optional(),
  scope: z.string().default('*'),
  group: z.string().optional(),
});

function zodMessage(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`).join('; ');
}

function parseJson(body: string): unknown {
  if (body.trim() === '') return {};
  try {
    return JSON.parse(body) as unknown;
  } catch {
    throw new BaiError(400, 'generic-bad-request', 'Malformed request body.', 'api_parsing_bad-request', 'The body is not valid JSON.');
  }
}

/** Who signed the request. */
interface Caller {
  viewer: Viewer;
  keypair: KeypairRecord;
}

interface Request {
  req: IncomingMessage;
  res: ServerResponse;
  params: string[];
  query: URLSearchParams;
  body: string;
}

type Handler = (request: Request, caller: Caller) => Promise<void>;

export function createBackendaiDialect(core: DialectCore): Dialect {
  const { auth, orchestrator, registry, utilization, store, feed, clock, metrics } = core;
  const keypairs = createBackendAiKeypairs(store, clock);
  const productOf = (job: Job) => registry.product(job.providerId, job.specification.product.id);

  const core$ = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      if (error instanceof SwitchyardError) throw fromCore(error);
      throw error;
    }
  };

  /** The caller, from the request's signature, checked as the manager checks it (manager/api/auth.py). */
  const authenticate = async (req: IncomingMessage, body: string): Promise<Caller> => {
    const date = checkDate(req.headers, clock.now());
    const credential = parseAuthorization(req.headers.authorization);
    if (!credential) throw authorizationFailed('Unauthorized access');
    const keypair = await keypairs.lookup(credential.accessKey);
    if (!keypair) throw authorizationFailed('Access key not found in HMAC');
    const raw = req.url ?? '/';
    const host = req.headers.host ?? '';
    const below = raw.slice(PREFIX.length) || '/';
    // The same request as three clients sign it: the Python SDK (the whole path), a client behind a
    // proxy that strips the prefix, and the npm JS SDK (its endpoint's path in the signed host).
    const candidates = [
      { path: raw, host },
      { path: below, host },
      { path: below, host: `${host}${PREFIX}` },
    ];
    const input = { method: req.method ?? 'GET', headers: req.headers, date, body: Buffer.from(body, 'utf8') };
    const matched = candidates.some((candidate) =>
      sameSignature(signRequest(credential.signMethod, { ...input, ...candidate }, keypair.secretKey), credential.signature),
    );
    if (!matched) throw authorizationFailed('HMAC signature mismatch');
    const viewer = await auth.viewerByName(keypair.username);
    if (!viewer) throw authorizationFailed('Unauthorized access');
    return { viewer, keypair };
  };

  /** The user a request acts for: the caller, or (administrators) the owner of `owner_access_key`. */
  const ownerOf = async (caller: Caller, ownerAccessKey: string | null | undefined): Promise<string> => {
    if (!ownerAccessKey || ownerAccessKey === caller.keypair.accessKey) return caller.viewer.username;
    if (!caller.viewer.admin)
      throw new BaiError(
        403,
        'generic-forbidden',
        'Forbidden operation.',
        'backendai_generic_forbidden',
        'Only administrators act for another access key.',
      );
    const owner = await keypairs.lookup(ownerAccessKey);
    if (!owner) throw invalidApiParameters(`Unknown owner access key ${ownerAccessKey}`);
    return owner.username;
  };

  /** The owner's sessions named so, newest first, those not ended first; or the job of that id. */
  const findSession = async (viewer: Viewer, owner: string, nameOrId: string, activeOnly = false): Promise<Job> => {
    const filter: JobListInput = { createdBy: [owner], name: nameOrId, states: activeOnly ? ACTIVE_STATES : null };
    const page = await core$(() => orchestrator.listJobs(viewer, filter, { first: 50, order: 'DESC' }));
    const found = page.jobs.find((job) => !isEnded(sessionStatus(job))) ?? page.jobs[0];
    if (found) return found;
    // A session is also found by its id (the Python SDK's sessionId; a job made elsewhere without a name).
    const byId = await orchestrator.getJob(viewer, nameOrId).catch(() => null);
    if (byId && byId.owner.createdBy === owner && !(activeOnly && isFinalState(byId.state))) return byId;
    throw sessionNotFound();
  };

  /** Until the session leaves PENDING or `waitMs` passes: the manager's answer without enqueueOnly. */
  const waitForStart = (viewer: Viewer, job: Job, waitMs: number): Promise<{ job: Job; timedOut: boolean }> =>
    new Promise((resolve, reject) => {
      let done = false;
      const finish = (result: { job: Job; timedOut: boolean } | Error) => {
        if (done) return;
        done = true;
        unlisten();
        clearTimeout(timer);
        if (result instanceof Error) reject(result);
        else resolve(result);
      };
      const check = () =>
        orchestrator.getJob(viewer, job.id).then((current) => {
          if (sessionStatus(current) !== 'PENDING') finish({ job: current, timedOut: false });
          return current;
        }, finish);
      const unlisten = feed.listen(job.id, () => void check());
      const timer = setTimeout(() => void check().then((current) => current && finish({ job: current, timedOut: true })), waitMs);
      void check();
    });

  const hello: Handler = async ({ res }) => sendJson(res, 200, { version: API_VERSION, manager: MANAGER_VERSION });

  const create: Handler = async ({ res, body }, { viewer, keypair }) => {
    const parsed = createSchema.safeParse(parseJson(body));
    if (!parsed.success) throw invalidApiParameters(zodMessage(parsed.error));
    const request = toSessionRequest(parsed.data, keypair.accessKey);
    const existing = await core$(() =>
      orchestrator.listJobs(viewer, { createdBy: [viewer.username], name: request.name, states: ACTIVE_STATES }, { first: 1, order: 'DESC' }),
    );
    const running = existing.jobs[0];
    if (running) {
      if (!request.reuseIfExists) throw sessionAlreadyExists(`Session ${request.name} is active already.`);
      if (running.specification.image !== request.image)
        throw invalidApiParameters(`Session ${request.name} is active with another image (${running.specification.image}); choose another name.`);
      return sendJson(res, 200, {
        sessionId: running.id,
        sessionName: request.name,
        status: sessionStatus(running),
        servicePorts: [],
        created: false,
      });
    }
    const [outcome] = await core$(() => orchestrator.createJobs(viewer, [request.specification]));
    if (!outcome?.ok) throw fromCore(outcome?.error ?? { code: 'INTERNAL', message: 'no outcome' });
    let job = outcome.value;
    let status: SessionStatus | 'TIMEOUT' = sessionStatus(job);
    if (!request.enqueueOnly && status === 'PENDING') {
      const waited = await waitForStart(viewer, job, request.maxWaitSeconds > 0 ? request.maxWaitSeconds * 1000 : DEFAULT_MAX_WAIT_MS);
      job = waited.job;
      status = waited.timedOut ? 'TIMEOUT' : sessionStatus(job);
    }
    sendJson(res, 201, { sessionId: job.id, sessionName: request.name, status, servicePorts: [], created: true });
  };

  const info: Handler = async ({ res, params, query }, caller) => {
    const job = await findSession(caller.viewer, await ownerOf(caller, query.get('owner_access_key')), params[0]!);
    sendJson(res, 200, sessionInfo(job, productOf, clock.now()));
  };

  const destroy: Handler = async ({ res, params, query }, caller) => {
    const job = await findSession(caller.viewer, await ownerOf(caller, query.get('owner_access_key')), params[0]!, true);
    const [outcome] = await core$(() => orchestrator.terminateJobs(caller.viewer, [job.id]));
    // A session already on its way out is destroyed once: asking again changes nothing.
    if (outcome && !outcome.ok && outcome.error.code !== 'INVALID_STATE') throw fromCore(outcome.error);
    sendJson(res, 200, { stats: {} });
  };

  const logs: Handler = async ({ res, params, query }, caller) => {
    const job = await findSession(caller.viewer, await ownerOf(caller, query.get('owner_access_key')), params[0]!);
    const lines = await store.readLogs(job.id, { limit: LOG_LINES });
    const text = lines
      .flatMap((line) => [line.stdout, line.stderr].filter((part): part is string => part !== null).map((part) => `${part}\n`))
      .join('');
    sendJson(res, 200, { result: { logs: text } });
  };

  const history: Handler = async ({ res, params, query }, caller) => {
    const job = await findSession(caller.viewer, await ownerOf(caller, query.get('owner_access_key')), params[0]!);
    sendJson(res, 200, { result: statusHistory(job) });
  };

  const events: Handler = async ({ req, res, query }, caller) => {
    const parsed = eventsQuerySchema.safeParse(Object.fromEntries(query));
    if (!parsed.success) throw invalidApiParameters(zodMessage(parsed.error));
    const q = parsed.data;
    const scopes = parseScope(q.scope);
    if (!scopes) throw invalidApiParameters(`scope: "${q.scope}" is not *, session or kernel`);
    const owner = await ownerOf(caller, q.ownerAccessKey ?? q.owner_access_key);
    const nameOrId = q.sessionId ?? q.sessionName ?? q.name;
    if (!nameOrId || nameOrId === '*') throw notImplemented('Switchyard streams the events of one session at a time: give sessionId or sessionName.');
    const job = await findSession(caller.viewer, owner, nameOrId);
    const ownerAccessKey = owner === caller.viewer.username ? caller.keypair.accessKey : (q.ownerAccessKey ?? q.owner_access_key ?? null);
    await streamSessionEvents({
      res,
      job,
      ownerAccessKey,
      scopes,
      feed,
      reload: () => orchestrator.getJob(caller.viewer, job.id),
      onError: (error) => core.logger.warn({ err: error, path: req.url }, 'backendai event stream ended'),
    });
  };

  /** compute_session_list over the core's cursor pages, with the manager's scoping: users see their own. */
  const listerFor = (caller: Caller): SessionLister => {
    const accessKeys = new Map<string, string | null>([[caller.viewer.username, caller.keypair.accessKey]]);
    return {
      async list(args: SessionListArgs) {
        if (args.limit < 1 || args.limit > MAX_PAGE_SIZE) throw new Error(`limit must be between 1 and ${MAX_PAGE_SIZE}`);
        if (args.offset < 0) throw new Error('offset must not be negative');
        if (args.filter) throw new Error('Switchyard lists sessions by status, access key and group; filter expressions are not supported');
        const order = args.order ?? '-created_at';
        if (!['created_at', '+created_at', '-created_at'].includes(order))
          throw new Error(`Switchyard orders sessions by created_at only, not by ${order}`);
        let createdBy: string[] | null = caller.viewer.admin ? null : [caller.viewer.username];
        if (args.access_key) {
          const owner = args.access_key === caller.keypair.accessKey ? caller.keypair : await keypairs.lookup(args.access_key);
          if (!caller.viewer.admin && owner?.username !== caller.viewer.username) throw new Error("Cannot access other users' sessions");
          if (!owner) return { jobs: [], totalCount: 0 };
          createdBy = [owner.username];
        }
        const wanted = args.status ? args.status.split(',').map((s) => s.trim()) : null;
        const unknown = wanted?.find((status) => !(SESSION_STATUSES as readonly string[]).includes(status));
        if (unknown) throw new Error(`Invalid session status: ${unknown}`);
        const statuses = wanted ? new Set(wanted as SessionStatus[]) : null;
        const group = args.group_id ? projectOfGroup(args.group_id) : undefined;
        const filter: JobListInput = {
          createdBy,
          states: statuses ? [...new Set([...statuses].flatMap((status) => CORE_STATES[status]))] : null,
        };
        const checks: ((job: Job) => boolean)[] = [];
        if (statuses) checks.push((job) => statuses.has(sessionStatus(job)));
        if (group !== undefined) checks.push((job) => job.owner.project === group);
        const extra = checks.length > 0 ? (job: Job) => checks.every((check) => check(job)) : undefined;
        const direction = order.startsWith('-') ? 'DESC' : 'ASC';
        if (filter.states?.length === 0) return { jobs: [], totalCount: 0 };
        const jobs: Job[] = [];
        let after: string | null = null;
        let totalCount: number;
        let skip = args.offset;
        do {
          const page = await orchestrator.listJobs(
            caller.viewer,
            filter,
            { first: Math.min(MAX_PAGE_SIZE, skip + args.limit - jobs.length), after, order: direction },
            extra,
          );
          totalCount = page.totalCount;
          const fresh = page.jobs.slice(Math.min(skip, page.jobs.length));
          skip -= page.jobs.length - fresh.length;
          jobs.push(...fresh);
          after = page.hasNextPage ? page.endCursor : null;
        } while (after && jobs.length < args.limit);
        return { jobs: jobs.slice(0, args.limit), totalCount };
      },
      async get(id) {
        const job = await orchestrator.getJob(caller.viewer, id).catch(() => null);
        return job && (caller.viewer.admin || job.owner.createdBy === caller.viewer.username) ? job : null;
      },
      async accessKeyOf(job) {
        const owner = job.owner.createdBy;
        if (!accessKeys.has(owner)) accessKeys.set(owner, (await store.listKeypairs(owner))[0]?.accessKey ?? null);
        return accessKeys.get(owner)!;
      },
      productOf,
    };
  };

  const graphql =
    (legacy: boolean): Handler =>
    async ({ res, body }, caller) => {
      const parsed = graphqlSchema.safeParse(parseJson(body));
      if (!parsed.success) throw invalidApiParameters(zodMessage(parsed.error));
      const result = await runSessionQuery(parsed.data, listerFor(caller));
      const errors = result.errors?.map((error) => error.toJSON());
      // /admin/graphql (the legacy endpoint) answers the bare data, and errors as problem+json; /admin/gql the standard shape.
      if (legacy) {
        if (errors?.length) throw graphqlError(errors);
        return sendJson(res, 200, result.data ?? null);
      }
      sendJson(res, 200, { data: result.data ?? null, ...(errors?.length ? { errors } : {}) });
    };

  /** Every provider's products as resource presets (a scaling group is a provider). */
  const presetsOf = (scalingGroup: string | null) =>
    registry
      .list()
      .filter((entry) => !scalingGroup || scalingGroup === 'default' || entry.id === scalingGroup)
      .flatMap((entry) =>
        (entry.manifest?.products ?? []).map((product) => ({
          name: scalingGroup && scalingGroup !== 'default' ? product.id : `${entry.id}/${product.id}`,
          resource_slots: slotsOf(product),
          shared_memory: null,
          provider: entry.id,
          product: product.id,
        })),
      );

  const listPresets: Handler = async ({ res, query }) => {
    sendJson(res, 200, {
      presets: presetsOf(query.get('scaling_group')).map(({ name, resource_slots, shared_memory }) => ({ name, resource_slots, shared_memory })),
    });
  };

  const checkPresets: Handler = async ({ res, body }, { viewer }) => {
    const parsed = checkPresetsSchema.safeParse(parseJson(body));
    if (!parsed.success) throw invalidApiParameters(zodMessage(parsed.error));
    const scalingGroup = parsed.data.scaling_group ?? null;
    if (scalingGroup && scalingGroup !== 'default' && !registry.get(scalingGroup))
      throw invalidApiParameters(`Unknown scaling group ${scalingGroup}`);
    // What the caller's sessions hold now (Backend.AI's keypair_using), from their products.
    const active = await core$(() =>
      orchestrator.listJobs(viewer, { createdBy: [viewer.username], states: ['RUNNING', 'CANCELING'] }, { first: MAX_PAGE_SIZE, order: 'DESC' }),
    );
    const using = { cpu: 0, mem: 0, 'cuda.device': 0 };
    for (const job of active.jobs) {
      const product = productOf(job);
      if (!product) continue;
      using.cpu += product.cpu * job.specification.replicas;
      using.mem += Math.round(product.memoryInGigs * 2 ** 30) * job.specification.replicas;
      using['cuda.device'] += product.gpu * job.specification.replicas;
    }
    const slots = (value: { cpu: number; mem: number; 'cuda.device': number }) => ({
      cpu: String(value.cpu),
      mem: String(Math.round(value.mem)),
      'cuda.device': String(value['cuda.device']),
    });
    const unlimited = { cpu: 'Infinity', mem: 'Infinity', 'cuda.device': 'Infinity' };
    const groups: Record<string, { using: Record<string, string>; remaining: Record<string, string> }> = {};
    const total = { cpu: 0, mem: 0, 'cuda.device': 0 };
    for (const entry of registry.list()) {
      if (scalingGroup && scalingGroup !== 'default' && entry.id !== scalingGroup) continue;
      const u = utilization.get(entry.id);
      if (!u) continue;
      const remaining = {
        cpu: Math.max(0, u.capacity.cpu - u.usedCapacity.cpu),
        mem: Math.max(0, (u.capacity.memoryInGigs - u.usedCapacity.memoryInGigs) * 2 ** 30),
        'cuda.device': Math.max(0, u.capacity.gpu - u.usedCapacity.gpu),
      };
      groups[entry.id] = {
        using: slots({ cpu: u.usedCapacity.cpu, mem: u.usedCapacity.memoryInGigs * 2 ** 30, 'cuda.device': u.usedCapacity.gpu }),
        remaining: slots(remaining),
      };
      total.cpu += remaining.cpu;
      total.mem += remaining.mem;
      total['cuda.device'] += remaining['cuda.device'];
    }
    const presets = presetsOf(scalingGroup).map(({ name, resource_slots, shared_memory, provider, product }) => {
      const known = utilization.capacity(provider, product);
      const room = groups[provider]?.remaining;
      const fits = room !== undefined && Number(resource_slots.cpu) <= Number(room.cpu) && Number(resource_slots.mem) <= Number(room.mem);
      return { name, resource_slots, shared_memory, allocatable: known === null ? fits : known > 0 };
    });
    sendJson(res, 200, {
      keypair_limits: unlimited,
      keypair_using: slots(using),
      keypair_remaining: unlimited,
      group_limits: unlimited,
      group_using: slots(using),
      group_remaining: unlimited,
      scaling_group_remaining: slots(total),
      scaling_groups: groups,
      presets,
    });
  };

  const announcement: Handler = async ({ res }) => sendJson(res, 200, { enabled: false, message: '' });

  const unsupported =
    (why: string): Handler =>
    async () => {
      throw notImplemented(why);
    };

  const S = '(?:session|kernel)';
  const ID = '([^/]+)';
  const NO_EXEC =
    "Switchyard runs a session's startup command; it does not execute code in a kernel (use the core API's interactive sessions for a shell).";
  /** [method, path, handler, signed]; a path with no route of the method answers 405, an unknown path 404. */
  const routes: [string, RegExp, Handler, boolean][] = [
    ['GET', /^\/$/, hello, false],
    ['GET', /^\/manager\/announcement$/, announcement, true],
    ['POST', new RegExp(`^/${S}(?:/create)?$`), create, true],
    [
      'POST',
      new RegExp(`^/${S}/_/create-from-template$`),
      unsupported('Switchyard has no session templates; create the session with its image and resources.'),
      true,
    ],
    ['GET', new RegExp(`^/${S}/${ID}/logs$`), logs, true],
    ['GET', new RegExp(`^/${S}/${ID}/status-history$`), history, true],
    ['GET', new RegExp(`^/${S}/${ID}$`), info, true],
    ['DELETE', new RegExp(`^/${S}/${ID}$`), destroy, true],
    ['PATCH', new RegExp(`^/${S}/${ID}$`), unsupported('Switchyard does not restart a session in place; destroy it and create it again.'), true],
    ['POST', new RegExp(`^/${S}/${ID}$`), unsupported(NO_EXEC), true],
    ['POST', new RegExp(`^/${S}/${ID}/(?:rename|commit|interrupt|complete|upload|start-service|shutdown-service)$`), unsupported(NO_EXEC), true],
    ['GET', new RegExp(`^/${S}/${ID}/(?:download|download_single|files|abusing-report|dependency-graph)$`), unsupported(NO_EXEC), true],
    ['GET', /^\/stream\/(?:session|kernel)\/[^/]+\/(?:pty|execute|apps)$/, unsupported(NO_EXEC), true],
    ['GET', /^\/events\/session$/, events, true],
    ['POST', /^\/admin\/gql$/, graphql(false), true],
    ['POST', /^\/admin\/graphql$/, graphql(true), true],
    ['GET', /^\/resource\/presets$/, listPresets, true],
    ['POST', /^\/resource\/check-presets$/, checkPresets, true],
  ];

  const dialect: Dialect = {
    name: 'backendai',
    prefix: PREFIX,
    async handle(req, res) {
      const { path, query } = pathBelow(dialect, req);
      try {
        const onPath = routes.filter(([, pattern]) => pattern.test(path));
        const route = onPath.find(([method]) => method === req.method);
        if (!route) throw onPath.length > 0 ? methodNotAllowed() : urlNotFound();
        const [, pattern, handler, signed] = route;
        let params: string[];
        try {
          params = pattern
            .exec(path)!
            .slice(1)
            .map((part) => decodeURIComponent(part));
        } catch {
          throw invalidApiParameters('The path is not valid percent-encoding.');
        }
        const body = await readBody(req, core.maxBodyBytes);
        if (body === null) {
          metrics.requestsRefused.inc({ reason: 'body_size' });
          throw requestTooLarge(core.maxBodyBytes);
        }
        const caller = signed ? await authenticate(req, body) : null;
        await handler({ req, res, params, query, body }, caller!);
      } catch (caught) {
        let error = caught;
        if (!(error instanceof BaiError)) {
          core.logger.error({ err: error, path }, 'backendai request failed');
          error = internalServerError();
        }
        const failure = error as BaiError;
        if (res.headersSent) return void res.end();
        if (failure.status === 413) res.setHeader('connection', 'close');
        const text = JSON.stringify(failure.body());
        res.writeHead(failure.status, { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      }
    },
  };
  return dialect;
}

export const backendaiDialect: DialectModule = { name: 'backendai', prefix: PREFIX, create: createBackendaiDialect };
