/**
 * The UCloud dialect: UCloud's RPC-over-HTTP API for jobs (context `jobs`),
 * products, wallets and its token refresh, under /ucloud (clients use the base
 * path http://<gateway>/ucloud), on the core (orchestrator, access, routing,
 * accounting, sessions); jobs.follow over its websocket protocol
 * (ucloud-follow.ts). dialects/README.md says what is mapped and what not.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';

import type { Job } from '../../../shared/domain.js';
import { SwitchyardError } from '../../../shared/errors.js';
import { JOB_STATES } from '../../../shared/job-state-machine.js';
import type { Viewer } from '../../access/auth.js';
import { inWorkspace, PROJECT_HEADER } from '../../access/workspace.js';
import { readBody, sendJson } from '../../http-io.js';
import { MAX_BULK_ITEMS, type ItemOutcome } from '../../jobs/bulk.js';
import type { JobListInput } from '../../jobs/job-queries.js';
import { checkSpecificationInput, type JobSpecificationInput } from '../../jobs/job-specification.js';
import { pathBelow, type Dialect, type DialectCore, type DialectModule } from '../dialect.js';
import { badRequest, fromCore, notFound, notMapped, UcloudError, unauthorized } from './ucloud-errors.js';
import { createFollowSocket } from './ucloud-follow.js';
import { jobSpecificationSchema, simpleDurationSchema, SpecificationError, toSpecification } from './ucloud-specification.js';
import { createUcloudTokens } from './ucloud-tokens.js';
import { jobView, productV2View, productView, supportView, walletView, type JobIncludeFlags } from './ucloud-views.js';

const PREFIX = '/ucloud';
const DEFAULT_ITEMS_PER_PAGE = 50;
const MAX_ITEMS_PER_PAGE = 250;

/** UCloud's clients send absent values as empty (the web client) or leave them out (the Go client): both are absent. */
const optionalText = z.string().max(1_000).optional();
const flag = z.enum(['true', 'false']).optional();
const epochMs = z.coerce.number().int().nonnegative().optional();
/** UCloud's Go client sends every int, 0 for one not set: 0 is the default. */
const itemsPerPage = z.coerce
  .number()
  .int()
  .min(0)
  .max(MAX_ITEMS_PER_PAGE)
  .default(DEFAULT_ITEMS_PER_PAGE)
  .transform((n) => n || DEFAULT_ITEMS_PER_PAGE);
const includeFlags = {
  includeProduct: flag,
  includeSupport: flag,
  includeOthers: flag,
  includeUpdates: flag,
  includeParameters: flag,
  includeApplication: flag,
};

const retrieveQuerySchema = z.object({ id: z.string().min(1).max(200), ...includeFlags });
const browseQuerySchema = z.object({
  itemsPerPage,
  next: optionalText,
  filterState: z.enum(JOB_STATES).optional(),
  filterApplication: optionalText,
  filterCreatedBy: optionalText,
  filterCreatedAfter: epochMs,
  filterCreatedBefore: epochMs,
  filterProvider: optionalText,
  filterProductId: optionalText,
  filterProductCategory: optionalText,
  filterIds: optionalText,
  sortBy: z.enum(['createdAt']).optional(),
  sortDirection: z.enum(['ascending', 'descending']).optional(),
  ...includeFlags,
});
const productsQuerySchema = z.object({
  itemsPerPage,
  next: z.coerce.number().int().nonnegative().optional(),
  filterArea: optionalText,
  filterProductType: optionalText,
  filterProvider: optionalText,
  filterCategory: optionalText,
  filterName: optionalText,
  filterUsable: flag,
  includeBalance: flag,
  includeMaxBalance: flag,
});
const bulk = <T extends z.ZodTypeAny>(item: T) => z.object({ items: z.array(item).min(1).max(MAX_BULK_ITEMS) });
const idItem = z.object({ id: z.string().min(1).max(200) });
const extendItem = z.object({ jobId: z.string().min(1).max(200), requestedTime: simpleDurationSchema });
const sessionItem = z.object({
  id: z.string().min(1).max(200),
  rank: z.number().int().min(0).default(0),
  sessionType: z.enum(['WEB', 'VNC', 'SHELL']),
  /** Not UCloud's (its app store knows the port): the port a WEB session's app listens on. */
  port: z.number().int().nullish(),
});

function zodWhy(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || 'request'}: ${issue.message}`).join('; ');
}

function parse<T extends z.ZodTypeAny>(schema: T, value: unknown): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw badRequest(zodWhy(parsed.error));
  return parsed.data as z.infer<T>;
}

/** The query as an object, without the empty values UCloud's web client sends for absent ones. */
function queryOf(query: URLSearchParams): Record<string, string> {
  return Object.fromEntries([...query].filter(([, value]) => value !== ''));
}

const flagsOf = (q: { includeProduct?: string; includeSupport?: string; includeOthers?: string }): JobIncludeFlags => ({
  includeProduct: q.includeProduct === 'true',
  includeSupport: q.includeSupport === 'true',
  includeOthers: q.includeOthers === 'true',
});

type Handler = (req: IncomingMessage, res: ServerResponse, query: URLSearchParams) => Promise<void>;

export function createUcloudDialect(core: DialectCore): Dialect {
  const { orchestrator, registry, accounting, metrics } = core;
  const tokens = createUcloudTokens({ auth: core.auth, store: core.store, clock: core.clock, key: core.signingKey('ucloud access tokens') });
  const follow = createFollowSocket(core, tokens);
  const productOf = (job: Job) => registry.product(job.providerId, job.specification.product.id);

  const core$ = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      if (error instanceof SwitchyardError) throw fromCore(error);
      throw error;
    }
  };

  /** The caller, in the workspace its Project header names. */
  const viewerOf = async (req: IncomingMessage): Promise<Viewer> => {
    const viewer = await tokens.authenticate(req.headers.authorization);
    if (!viewer) throw unauthorized();
    const project = req.headers[PROJECT_HEADER];
    return core$(() => inWorkspace(core.store, viewer, typeof project === 'string' ? project : undefined));
  };

  const jsonBody = async (req: IncomingMessage): Promise<unknown> => {
    const text = await readBody(req, core.maxBodyBytes);
    if (text === null) {
      metrics.requestsRefused.inc({ reason: 'body_size' });
      throw new UcloudError(413, `The request body is larger than the limit of ${core.maxBodyBytes} bytes`, 'PAYLOAD_TOO_LARGE');
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw badRequest('The request body is not valid JSON');
    }
  };

  /** A bulk call's outcomes: all of them, or the first failure (UCloud fails a bulk call as a whole). */
  const allOk = <T>(outcomes: ItemOutcome<T>[]): T[] =>
    outcomes.map((outcome) => {
      if (!outcome.ok) throw fromCore(outcome.error);
      return outcome.value;
    });

  const refresh: Handler = async (req, res) => {
    const issued = await tokens.refresh(req.headers.authorization);
    if (!issued) throw unauthorized();
    sendJson(res, 200, issued);
  };

  const logout: Handler = async (req, res) => {
    if (!(await tokens.logout(req.headers.authorization))) throw unauthorized();
    sendJson(res, 200, {});
  };

  const create: Handler = async (req, res) => {
    const viewer = await viewerOf(req);
    const { items } = parse(bulk(jobSpecificationSchema), await jsonBody(req));
    // Every item is checked before any is submitted: a refused call changes nothing.
    const inputs: JobSpecificationInput[] = items.map((spec, index) => {
      try {
        const backend = registry.product(spec.product.provider, spec.product.id)?.support.backend ?? null;
        const input = toSpecification(spec, backend);
        checkSpecificationInput(input);
        return input;
      } catch (error) {
        const why = error instanceof SpecificationError || error instanceof SwitchyardError ? error.message : String(error);
        throw badRequest(`items[${index}]: ${why}`);
      }
    });
    const created = allOk(await core$(() => orchestrator.createJobs(viewer, inputs)));
    sendJson(res, 200, { responses: created.map((job) => ({ id: job.id })) });
  };

  const retrieve: Handler = async (req, res, query) => {
    const viewer = await viewerOf(req);
    const q = parse(retrieveQuerySchema, queryOf(query));
    const job = await core$(() => orchestrator.getJob(viewer, q.id));
    sendJson(res, 200, jobView(job, productOf(job), flagsOf(q)));
  };

  const browse: Handler = async (req, res, query) => {
    const viewer = await viewerOf(req);
    const q = parse(browseQuerySchema, queryOf(query));
    const filter: JobListInput = {
      states: q.filterState ? [q.filterState] : null,
      application: q.filterApplication ?? null,
      createdBy: q.filterCreatedBy ? [q.filterCreatedBy] : null,
      createdAfter: q.filterCreatedAfter ?? null,
      createdBefore: q.filterCreatedBefore ?? null,
      providers: q.filterProvider ? [q.filterProvider] : null,
      productIds: q.filterProductId ? [q.filterProductId] : null,
      productCategories: q.filterProductCategory ? [q.filterProductCategory] : null,
      ids: q.filterIds ? q.filterIds.split(',').filter(Boolean) : null,
      // UCloud's own workspace holds the caller's personal jobs only; the core's holds every job it created.
      outsideProjects: viewer.workspace === null,
    };
    const order = q.sortDirection === 'ascending' ? 'ASC' : 'DESC';
    const page = await core$(() => orchestrator.listJobs(viewer, filter, { first: q.itemsPerPage, after: q.next ?? null, order }));
    sendJson(res, 200, {
      itemsPerPage: q.itemsPerPage,
      items: page.jobs.map((job) => jobView(job, productOf(job), flagsOf(q))),
      next: page.hasNextPage ? page.endCursor : null,
    });
  };

  const bulkVerb =
    (verb: 'terminateJobs' | 'suspendJobs' | 'unsuspendJobs'): Handler =>
    async (req, res) => {
      const viewer = await viewerOf(req);
      const { items } = parse(bulk(idItem), await jsonBody(req));
      const done = allOk(
        await core$(() =>
          orchestrator[verb](
            viewer,
            items.map((item) => item.id),
          ),
        ),
      );
      sendJson(res, 200, { responses: done.map(() => ({})) });
    };

  const extend: Handler = async (req, res) => {
    const viewer = await viewerOf(req);
    const { items } = parse(bulk(extendItem), await jsonBody(req));
    const done = allOk(await core$(() => orchestrator.extendJobs(viewer, items)));
    sendJson(res, 200, { responses: done.map(() => ({})) });
  };

  const interactiveSession: Handler = async (req, res) => {
    const viewer = await viewerOf(req);
    const { items } = parse(bulk(sessionItem), await jsonBody(req));
    const origin = req.headers.host ? `http://${req.headers.host}` : null;
    const opened = allOk(
      await core$(() =>
        core.sessions.open(
          viewer,
          items.map((item) => ({ jobId: item.id, rank: item.rank, sessionType: item.sessionType, port: item.port ?? null })),
          origin,
        ),
      ),
    );
    sendJson(res, 200, {
      responses: opened.map((session) => ({
        providerDomain: new URL(session.url).origin,
        providerId: session.providerId,
        session:
          session.sessionType === 'SHELL'
            ? { type: 'shell', jobId: session.jobId, rank: session.rank, sessionIdentifier: session.url }
            : session.sessionType === 'WEB'
              ? { type: 'web', jobId: session.jobId, rank: session.rank, redirectClientTo: session.url }
              : { type: 'vnc', jobId: session.jobId, rank: session.rank, url: session.url, password: session.password },
      })),
    });
  };

  const retrieveUtilization: Handler = async (req, res, query) => {
    const viewer = await viewerOf(req);
    const { jobId } = parse(z.object({ jobId: z.string().min(1).max(200) }), queryOf(query));
    const job = await core$(() => orchestrator.getJob(viewer, jobId));
    const utilization = core.utilization.get(job.providerId);
    if (!utilization) throw new UcloudError(503, `Provider ${job.providerId} has not told how busy it is`, 'PROVIDER_UNAVAILABLE');
    const bytes = (gigs: number) => Math.round(gigs * 1024 ** 3);
    sendJson(res, 200, {
      capacity: { cpu: utilization.capacity.cpu, memory: bytes(utilization.capacity.memoryInGigs) },
      usedCapacity: { cpu: utilization.usedCapacity.cpu, memory: bytes(utilization.usedCapacity.memoryInGigs) },
      queueStatus: utilization.queueStatus,
    });
  };

  /** Every product of every connected provider, with the caller's workspace as the owner that pays. */
  const catalogue = (viewer: Viewer) =>
    registry.list().flatMap((entry) => (entry.manifest?.products ?? []).map((product) => ({ providerId: entry.id, product, viewer })));
  const payer = (viewer: Viewer) => ({ createdBy: viewer.username, project: viewer.workspace });

  const browseProducts =
    (version: 1 | 2): Handler =>
    async (req, res, query) => {
      const viewer = await viewerOf(req);
      const q = parse(productsQuerySchema, queryOf(query));
      const area = q.filterArea ?? q.filterProductType;
      // Switchyard sells compute only: any other area (storage, licences, IPs) is empty.
      const all = area && area !== 'COMPUTE' ? [] : catalogue(viewer);
      const matching = all.filter(
        ({ providerId, product }) =>
          (!q.filterProvider || q.filterProvider === providerId) &&
          (!q.filterCategory || q.filterCategory === product.category) &&
          (!q.filterName || q.filterName === product.id),
      );
      const start = q.next ?? 0;
      const page = matching.slice(start, start + q.itemsPerPage);
      const withBalance = q.includeBalance === 'true' || q.includeMaxBalance === 'true';
      const items = await Promise.all(
        page.map(async ({ providerId, product }) => {
          const balance = withBalance ? await core$(() => accounting.balanceFor(payer(viewer), product, providerId)) : null;
          return version === 1 ? productView(product, providerId, balance) : productV2View(product, providerId, balance);
        }),
      );
      const usable =
        q.filterUsable === 'true'
          ? await Promise.all(page.map(({ providerId, product }) => core$(() => accounting.canPay(payer(viewer), product, providerId))))
          : null;
      sendJson(res, 200, {
        itemsPerPage: q.itemsPerPage,
        items: usable ? items.filter((_, k) => usable[k]) : items,
        next: start + q.itemsPerPage < matching.length ? String(start + q.itemsPerPage) : null,
      });
    };

  const retrieveProducts: Handler = async (req, res) => {
    const viewer = await viewerOf(req);
    // The products the workspace may use: free ones, and those its wallets can pay for now.
    const usable = await Promise.all(
      catalogue(viewer).map(async (item) => ((await core$(() => accounting.canPay(payer(viewer), item.product, item.providerId))) ? item : null)),
    );
    const productsByProvider: Record<string, unknown[]> = {};
    for (const item of usable) {
      if (!item) continue;
      (productsByProvider[item.providerId] ??= []).push({
        product: productView(item.product, item.providerId),
        support: supportView(item.product, item.providerId),
      });
    }
    sendJson(res, 200, { productsByProvider });
  };

  const browseWallets: Handler = async (req, res, query) => {
    const viewer = await viewerOf(req);
    const q = parse(z.object({ itemsPerPage, next: optionalText, filterType: optionalText }), queryOf(query));
    const wallets = q.filterType && q.filterType !== 'COMPUTE' ? [] : await core$(() => accounting.wallets(viewer, viewer.workspace));
    const products = registry.list().flatMap((entry) => (entry.manifest?.products ?? []).map((product) => ({ providerId: entry.id, product })));
    const productOfWallet = (provider: string, category: string) =>
      products.find((p) => p.providerId === provider && p.product.category === category)?.product;
    sendJson(res, 200, {
      itemsPerPage: q.itemsPerPage,
      items: wallets.map((wallet) => walletView(wallet, productOfWallet(wallet.provider, wallet.category))),
      next: null,
    });
  };

  /** A call UCloud has and Switchyard cannot serve, answered after the caller is known (as UCloud checks the token first). */
  const unmapped =
    (call: string, reason: string): Handler =>
    async (req) => {
      await viewerOf(req);
      throw notMapped(call, reason);
    };

  const routes: { method: string; path: string; handler: Handler }[] = [
    { method: 'POST', path: '/auth/refresh', handler: refresh },
    { method: 'POST', path: '/auth/logout', handler: logout },
    { method: 'POST', path: '/api/jobs', handler: create },
    { method: 'GET', path: '/api/jobs/retrieve', handler: retrieve },
    { method: 'GET', path: '/api/jobs/browse', handler: browse },
    { method: 'POST', path: '/api/jobs/terminate', handler: bulkVerb('terminateJobs') },
    { method: 'POST', path: '/api/jobs/suspend', handler: bulkVerb('suspendJobs') },
    { method: 'POST', path: '/api/jobs/unsuspend', handler: bulkVerb('unsuspendJobs') },
    { method: 'POST', path: '/api/jobs/extend', handler: extend },
    { method: 'POST', path: '/api/jobs/interactiveSession', handler: interactiveSession },
    { method: 'GET', path: '/api/jobs/retrieveUtilization', handler: retrieveUtilization },
    { method: 'GET', path: '/api/jobs/retrieveProducts', handler: retrieveProducts },
    { method: 'GET', path: '/api/products/browse', handler: browseProducts(1) },
    { method: 'GET', path: '/api/products/v2/browse', handler: browseProducts(2) },
    { method: 'GET', path: '/api/accounting/wallets/browse', handler: browseWallets },
    { method: 'POST', path: '/api/jobs/search', handler: unmapped('jobs.search', 'free-text search over jobs; use jobs.browse with its filters') },
    { method: 'POST', path: '/api/jobs/rename', handler: unmapped('jobs.rename', 'a job keeps the name it was created with') },
    { method: 'POST', path: '/api/jobs/updateLabels', handler: unmapped('jobs.updateLabels', 'labels are set when a job is created') },
    {
      method: 'POST',
      path: '/api/jobs/updateAcl',
      handler: unmapped('jobs.updateAcl', "UCloud's ACLs are of project groups; use the core API's updateJobAcl"),
    },
    { method: 'POST', path: '/api/jobs/init', handler: unmapped('jobs.init', 'providers need no initialization per user here') },
    { method: 'POST', path: '/api/jobs/attachResource', handler: unmapped('jobs.attachResource', 'there are no UCloud resources to attach') },
    { method: 'POST', path: '/api/jobs/detachResource', handler: unmapped('jobs.detachResource', 'there are no UCloud resources to detach') },
  ];

  const dialect: Dialect = {
    name: 'ucloud',
    prefix: PREFIX,
    async handle(req, res) {
      const { path, query } = pathBelow(dialect, req);
      try {
        const route = routes.find((r) => r.path === path && r.method === req.method);
        if (route) return await route.handler(req, res, query);
        if (path.startsWith('/api/hpc/')) throw notMapped('The application store', 'Switchyard has no app store; give the command as a parameter');
        throw notFound(`No call at ${req.method ?? 'GET'} ${path}`);
      } catch (caught) {
        let error = caught;
        if (!(error instanceof UcloudError)) {
          core.logger.error({ err: error, path }, 'ucloud request failed');
          error = new UcloudError(500, 'Internal Server Error', 'INTERNAL');
        }
        if (res.headersSent) return void res.destroy();
        const refusal = error as UcloudError;
        // Close rather than read the rest of a body already refused.
        if (refusal.status === 413) res.setHeader('connection', 'close');
        sendJson(res, refusal.status, refusal.body());
      }
    },
    upgrade(req, socket, head) {
      const { path } = pathBelow(dialect, req);
      if (path === '/api/jobs') return follow.upgrade(req, socket, head);
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    },
    close: () => follow.close(),
  };
  return dialect;
}

export const ucloudDialect: DialectModule = { name: 'ucloud', prefix: PREFIX, create: createUcloudDialect };
