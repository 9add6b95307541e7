/**
 * Resolvers for the contract's queries, mutations and followJob. They hold no
 * logic of their own beyond mapping: decisions live in the orchestrator.
 */
import DataLoader from 'dataloader';
import { GraphQLScalarType, valueFromASTUntyped } from 'graphql';
import { JSONResolver } from 'graphql-scalars';
import { Repeater } from 'graphql-yoga';

import type { Clock } from '../../shared/clock.js';
import type { Job, JobLog, Utilization } from '../../shared/domain.js';
import { InvalidInputError, NotFoundError, SwitchyardError, toErrorBody, UnsupportedError, type ErrorBody } from '../../shared/errors.js';
import { isFinalState, type JobState } from '../../shared/job-state-machine.js';
import { utilizationResultSchema } from '../../shared/protocol.js';
import type { Auth, Viewer } from '../access/auth.js';
import { toTransactionConnection, toWalletView, type Accounting, type GrantCreditsInput } from '../accounting/accounting.js';
import type { FeedEvent, JobFeed } from '../jobs/job-feed.js';
import type { ItemOutcome, JobListInput, Orchestrator } from '../jobs/orchestrator.js';
import type { ProviderEntry, ProviderRegistry } from '../registry/provider-registry.js';
import type { UtilizationCache } from '../registry/utilization-cache.js';
import type { Store } from '../store/store.js';
import { iso, jobView, productView, providerView, unknownProviderView } from './views.js';

export interface GatewayContext {
  viewer: Viewer;
  orchestrator: Orchestrator;
  registry: ProviderRegistry;
  store: Store;
  auth: Auth;
  feed: JobFeed;
  utilization: UtilizationCache;
  accounting: Accounting;
  loaders: RequestLoaders;
  clock: Clock;
}

export interface RequestLoaders {
  /** Credits charged per job, batched per request. */
  jobCharged: DataLoader<string, number>;
  /** Place among the jobs waiting at the gateway (null: not waiting); one read of the list per request. */
  queuePosition: DataLoader<string, number | null>;
}

/** Per-request batching: one read for every job in a page. */
export function createRequestLoaders(accounting: Accounting, store: Store): RequestLoaders {
  return {
    jobCharged: new DataLoader((ids: readonly string[]) => accounting.jobCharged(ids)),
    queuePosition: new DataLoader(async (ids: readonly string[]) => {
      // Jobs a replica is sending right now hold their record: they are not in the queue.
      const queue = (await store.listWaiting()).filter((record) => record.heldUntil === undefined);
      const positions = new Map(queue.map((record, index) => [record.jobId, index + 1]));
      return ids.map((id) => positions.get(id) ?? null);
    }),
  };
}

const STAT_STATES: Record<string, JobState[] | null> = {
  COUNT_ALL: null,
  COUNT_IN_QUEUE: ['IN_QUEUE'],
  COUNT_RUNNING: ['RUNNING'],
  COUNT_SUSPENDED: ['SUSPENDED'],
  COUNT_SUCCESS: ['SUCCESS'],
  COUNT_FAILURE: ['FAILURE'],
  COUNT_EXPIRED: ['EXPIRED'],
  COUNT_CANCELED: ['SUCCESS', 'FAILURE', 'EXPIRED'],
};
const TIME_FRAMES_MS: Record<string, number | null> = { T_10M: 600_000, T_1H: 3_600_000, T_24H: 86_400_000, TOTAL: null };

/** knownProviderCategories for grants: the categories a provider's manifest sells. */
function categoriesOf(registry: ProviderRegistry) {
  return (providerId: string) => {
    const entry = registry.get(providerId);
    return entry ? [...new Set((entry.manifest?.products ?? []).map((p) => p.category))] : null;
  };
}

/** ISO-8601 in and out, epoch milliseconds inside. */
export const DateTimeScalar = new GraphQLScalarType({
  name: 'DateTime',
  description: 'ISO-8601 date and time, UTC',
  serialize: (value) => (typeof value === 'number' ? new Date(value).toISOString() : value instanceof Date ? value.toISOString() : String(value)),
  parseValue: (value) => parseDateTime(value),
  parseLiteral: (ast, variables) => parseDateTime(valueFromASTUntyped(ast, variables)),
});

function parseDateTime(value: unknown): number {
  if (typeof value !== 'string') {
    // Not String(value): an object from a literal ({}) has no prototype and no string form.
    const kind = value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
    throw new InvalidInputError(`a DateTime is an ISO-8601 string, not ${kind}`);
  }
  const ms = /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw new InvalidInputError(`"${value.length > 64 ? `${value.slice(0, 64)}…` : value}" is not an ISO-8601 date and time`);
  return ms;
}

const FOLLOW_BACKLOG_LOGS = 1_000;
/** How long followJob waits, at a job's end, for log lines another replica may still be applying. */
const FINAL_LOGS_GRACE_MS = 250;

function itemError(error: ErrorBody) {
  return { code: error.code, message: error.message };
}

function okResults(outcomes: ItemOutcome<true>[]) {
  return outcomes.map((o) => (o.ok ? { ok: true, error: null } : { ok: false, error: itemError(o.error) }));
}

function logView(line: JobLog) {
  return { ...line, timestamp: iso(line.timestamp) };
}

async function utilizationOf(entry: ProviderEntry): Promise<Utilization> {
  const reply = await entry.client.call('utilization', {}, utilizationResultSchema, { background: true });
  if (!reply.ok) throw reply.error;
  return reply.result;
}

function utilizationView(u: Utilization) {
  return { ...u, observedAt: iso(u.observedAt) };
}

function statusView(status: FeedEvent['status']) {
  if (!status) return null;
  return { ...status, startedAt: iso(status.startedAt), expiresAt: iso(status.expiresAt), resolvedProduct: null, resolvedSupport: null };
}

function followEventView(event: FeedEvent) {
  return {
    jobId: event.jobId,
    updates: event.updates.map((u) => ({ ...u, timestamp: iso(u.timestamp) })),
    logs: event.logs.map(logView),
    newStatus: statusView(event.status),
  };
}

/** The snapshot, then live events until the job reaches a final state. */
function followJob(ctx: GatewayContext, id: string) {
  return new Repeater<{ followJob: ReturnType<typeof followEventView> }>(async (push, stop) => {
    const buffered: FeedEvent[] = [];
    let live = false;
    const seen = new Set<string>();
    const keyOfUpdate = (u: { timestamp: number; state: unknown; status: unknown }) => `u|${u.timestamp}|${u.state}|${u.status}`;
    const keyOfLog = (l: JobLog) => `l|${l.timestamp}|${l.rank}|${l.stdout}|${l.stderr}`;
    let ended = false;
    const deliver = async (event: FeedEvent) => {
      if (ended) return;
      const final = event.status !== null && isFinalState(event.status.state);
      if (final) {
        // Another replica may still be applying the job's last log lines (events reach
        // replicas in any order): give them a moment, and send what the store has first.
        ended = true;
        await new Promise((resolve) => setTimeout(resolve, FINAL_LOGS_GRACE_MS));
        const late = (await ctx.store.readLogs(id, { limit: FOLLOW_BACKLOG_LOGS })).filter((l) => !seen.has(keyOfLog(l)));
        for (const l of late) seen.add(keyOfLog(l));
        if (late.length > 0) await push({ followJob: followEventView({ jobId: id, updates: [], logs: late, status: null }) });
      }
      const updates = event.updates.filter((u) => !seen.has(keyOfUpdate(u)));
      const logs = event.logs.filter((l) => !seen.has(keyOfLog(l)));
      for (const u of updates) seen.add(keyOfUpdate(u));
      for (const l of logs) seen.add(keyOfLog(l));
      if (updates.length > 0 || logs.length > 0 || event.status) await push({ followJob: followEventView({ ...event, updates, logs }) });
      if (final) stop();
    };
    // One event at a time, in the order they came.
    let delivering: Promise<void> = Promise.resolve();
    const unlisten = ctx.feed.listen(id, (event) => {
      if (live) delivering = delivering.then(() => deliver(event)).catch((error: unknown) => stop(error));
      else buffered.push(event);
    });
    try {
      const job: Job = await ctx.orchestrator.getJob(ctx.viewer, id);
      const logs = await ctx.store.readLogs(id, { limit: FOLLOW_BACKLOG_LOGS });
      for (const u of job.updates) seen.add(keyOfUpdate(u));
      for (const l of logs) seen.add(keyOfLog(l));
      await push({
        followJob: followEventView({
          jobId: job.id,
          updates: job.updates,
          logs,
          status: { state: job.state, startedAt: job.startedAt, expiresAt: job.expiresAt, exitCode: job.exitCode, allowRestart: job.allowRestart },
        }),
      });
      if (isFinalState(job.state)) {
        ended = true;
        stop();
      }
      // Events that came while the snapshot was read, then live ones (set synchronously: none is missed).
      while (buffered.length > 0) await deliver(buffered.shift()!);
      live = true;
    } catch (error) {
      stop(error);
    }
    await stop;
    unlisten();
  });
}

export function createResolvers() {
  return {
    DateTime: DateTimeScalar,
    JSON: JSONResolver,
    Query: {
      products(
        _: unknown,
        args: { provider?: string | null; category?: string | null; backend?: string | null; first?: number | null; after?: string | null },
        ctx: GatewayContext,
      ) {
        const first = args.first ?? 100;
        if (first < 1 || first > 500) throw new InvalidInputError('first must be between 1 and 500');
        if (args.provider && !ctx.registry.get(args.provider)) throw new NotFoundError('provider', args.provider);
        const all = ctx.registry
          .list()
          .filter((e) => !args.provider || e.id === args.provider)
          .flatMap((e) => (e.manifest?.products ?? []).map((p) => ({ key: `${e.id}/${p.id}`, view: productView(p, e.id, ctx.utilization) })))
          .filter(({ view }) => (!args.category || view.category === args.category) && (!args.backend || view.support.backend === args.backend));
        const start = args.after ? all.findIndex((p) => p.key === args.after) + 1 : 0;
        return all.slice(start, start + first).map((p) => p.view);
      },
      product(_: unknown, args: { ref: { id: string; provider: string; category?: string | null } }, ctx: GatewayContext) {
        const product = ctx.registry.product(args.ref.provider, args.ref.id);
        if (!product || (args.ref.category && product.category !== args.ref.category)) return null;
        return productView(product, args.ref.provider, ctx.utilization);
      },
      providers: (_: unknown, __: unknown, ctx: GatewayContext) => ctx.registry.list().map((e) => providerView(e, ctx.registry, ctx.utilization)),
      provider(_: unknown, args: { id: string }, ctx: GatewayContext) {
        const entry = ctx.registry.get(args.id);
        return entry ? providerView(entry, ctx.registry, ctx.utilization) : null;
      },
      async utilization(_: unknown, args: { provider?: string | null }, ctx: GatewayContext) {
        if (args.provider) return utilizationView(await utilizationOf(ctx.registry.require(args.provider)));
        const up = ctx.registry.list().filter((e) => ctx.registry.status(e) !== 'DOWN');
        const each = await Promise.all(up.map((e) => utilizationOf(e).catch(() => null)));
        const sum = { cpu: 0, memoryInGigs: 0, gpu: 0 };
        const used = { cpu: 0, memoryInGigs: 0, gpu: 0 };
        const queue = { running: 0, pending: 0 };
        for (const u of each) {
          if (!u) continue;
          for (const k of ['cpu', 'memoryInGigs', 'gpu'] as const) {
            sum[k] += u.capacity[k];
            used[k] += u.usedCapacity[k];
          }
          queue.running += u.queueStatus.running;
          queue.pending += u.queueStatus.pending;
        }
        return { capacity: sum, usedCapacity: used, queueStatus: queue, observedAt: new Date(ctx.clock.now()).toISOString() };
      },
      async job(_: unknown, args: { id: string }, ctx: GatewayContext) {
        return jobView(await ctx.orchestrator.getJob(ctx.viewer, args.id), ctx.registry, ctx.utilization);
      },
      async jobs(
        _: unknown,
        args: {
          filter?: (Omit<JobListInput, 'createdAfter' | 'createdBefore'> & { createdAfter?: number | null; createdBefore?: number | null }) | null;
          first?: number | null;
          after?: string | null;
          orderBy?: string | null;
        },
        ctx: GatewayContext,
      ) {
        const page = await ctx.orchestrator.listJobs(ctx.viewer, args.filter ?? {}, {
          first: args.first ?? 50,
          after: args.after,
          order: args.orderBy === 'CREATED_ASC' ? 'ASC' : 'DESC',
        });
        return {
          edges: page.jobs.map((job) => ({ cursor: job.id, node: jobView(job, ctx.registry, ctx.utilization) })),
          pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor },
          totalCount: page.totalCount,
        };
      },
      async jobStat(_: unknown, args: { stat: string; timeFrame?: string | null; filter?: JobListInput | null }, ctx: GatewayContext) {
        const states = STAT_STATES[args.stat];
        const frame = TIME_FRAMES_MS[args.timeFrame ?? 'TOTAL'];
        const filter: JobListInput = { ...(args.filter ?? {}) };
        if (states) filter.states = filter.states?.length ? filter.states.filter((s) => states.includes(s)) : states;
        if (states && filter.states?.length === 0) return 0;
        if (frame !== null) filter.createdAfter = Math.max(filter.createdAfter ?? 0, ctx.clock.now() - frame);
        const canceled = args.stat === 'COUNT_CANCELED';
        // Canceled: ended after the user (or a lack of credits) terminated them, i.e. passed through CANCELING.
        const page = await ctx.orchestrator.listJobs(
          ctx.viewer,
          filter,
          { first: 1, order: 'DESC' },
          canceled ? (job) => job.updates.some((u) => u.state === 'CANCELING') : undefined,
        );
        return page.totalCount;
      },
      async wallets(_: unknown, args: { project?: string | null }, ctx: GatewayContext) {
        return (await ctx.accounting.wallets(ctx.viewer, args.project)).map(toWalletView);
      },
      async transactions(
        _: unknown,
        args: { project?: string | null; owner?: string | null; first?: number | null; after?: string | null },
        ctx: GatewayContext,
      ) {
        return toTransactionConnection(await ctx.accounting.transactions(ctx.viewer, args));
      },
      me: (_: unknown, __: unknown, ctx: GatewayContext) => ({ createdBy: ctx.viewer.username, project: null }),
    },
    Mutation: {
      async createJobs(_: unknown, args: { specifications: never[] }, ctx: GatewayContext) {
        const outcomes = await ctx.orchestrator.createJobs(ctx.viewer, args.specifications);
        return outcomes.map((o) =>
          o.ok ? { job: jobView(o.value, ctx.registry, ctx.utilization), error: null } : { job: null, error: itemError(o.error) },
        );
      },
      async terminateJobs(_: unknown, args: { ids: string[] }, ctx: GatewayContext) {
        return okResults(await ctx.orchestrator.terminateJobs(ctx.viewer, args.ids));
      },
      async suspendJobs(_: unknown, args: { ids: string[] }, ctx: GatewayContext) {
        return okResults(await ctx.orchestrator.suspendJobs(ctx.viewer, args.ids));
      },
      async unsuspendJobs(_: unknown, args: { ids: string[] }, ctx: GatewayContext) {
        return okResults(await ctx.orchestrator.unsuspendJobs(ctx.viewer, args.ids));
      },
      async extendJobs(_: unknown, args: { items: { jobId: string; requestedTime: never }[] }, ctx: GatewayContext) {
        return okResults(await ctx.orchestrator.extendJobs(ctx.viewer, args.items));
      },
      openInteractiveSessions(_: unknown, args: { items: unknown[] }) {
        return args.items.map(() => ({
          session: null,
          error: itemError(toErrorBody(new UnsupportedError('Interactive sessions are not available yet'))),
        }));
      },
      updateJobAcl() {
        return { ok: false, error: itemError(toErrorBody(new UnsupportedError('Job ACLs cannot be changed yet'))) };
      },
      async grantCredits(_: unknown, args: { grant: GrantCreditsInput }, ctx: GatewayContext) {
        return toWalletView(await ctx.accounting.grant(ctx.viewer, args.grant, categoriesOf(ctx.registry)));
      },
      async createUser(_: unknown, args: { username: string; password: string; admin: boolean }, ctx: GatewayContext) {
        return ctx.auth.createUser(ctx.viewer, args.username, args.password, args.admin);
      },
    },
    Subscription: {
      followJob: {
        subscribe: (_: unknown, args: { id: string }, ctx: GatewayContext) => followJob(ctx, args.id),
      },
    },
    Product: {
      async balance(product: { id: string; provider: string }, _: unknown, ctx: GatewayContext) {
        const known = ctx.registry.product(product.provider, product.id);
        if (!known) return null;
        return ctx.accounting.balanceFor({ createdBy: ctx.viewer.username, project: null }, known, product.provider);
      },
    },
    Job: {
      creditsCharged: (job: { id: string }, _: unknown, ctx: GatewayContext) => ctx.loaders.jobCharged.load(job.id),
      provider(job: { providerId: string }, _: unknown, ctx: GatewayContext) {
        const entry = ctx.registry.get(job.providerId);
        return entry ? providerView(entry, ctx.registry, ctx.utilization) : unknownProviderView(job.providerId);
      },
      async logs(job: { id: string }, args: { since?: number | null; limit?: number | null }, ctx: GatewayContext) {
        if (args.limit != null && (args.limit < 1 || args.limit > 10_000)) throw new InvalidInputError('limit must be between 1 and 10000');
        const lines = await ctx.store.readLogs(job.id, { since: args.since ?? undefined, limit: args.limit ?? undefined });
        return lines.map(logView);
      },
    },
    JobStatus: {
      queuePosition(status: { state: string; jobId?: string }, _: unknown, ctx: GatewayContext) {
        return status.state === 'IN_QUEUE' && status.jobId ? ctx.loaders.queuePosition.load(status.jobId) : null;
      },
    },
    Provider: {
      async utilization(provider: { entry: ProviderEntry | null }, _: unknown, ctx: GatewayContext) {
        if (!provider.entry || ctx.registry.status(provider.entry) === 'DOWN') return null;
        return utilizationView(
          await utilizationOf(provider.entry).catch((error: unknown) => {
            throw error instanceof SwitchyardError ? error : new UnsupportedError('utilization unavailable');
          }),
        );
      },
    },
  };
}
