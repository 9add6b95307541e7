/**
 * Resolvers for the contract's queries, mutations and followJob. They hold no
 * logic of their own beyond mapping: decisions live in the orchestrator.
 */
import DataLoader from 'dataloader';
import { GraphQLScalarType, valueFromASTUntyped } from 'graphql';
import { JSONResolver } from 'graphql-scalars';

import type { Clock } from '../../shared/clock.js';
import { sessionTypesOf, type Utilization } from '../../shared/domain.js';
import { InvalidInputError, NotFoundError, SwitchyardError, toErrorBody, UnsupportedError, type ErrorBody } from '../../shared/errors.js';
import type { JobState } from '../../shared/job-state-machine.js';
import { disableUser } from '../access/accounts.js';
import type { Auth, TokenView, Viewer } from '../access/auth.js';
import { updateJobAcl } from '../access/job-acl.js';
import type { Projects } from '../access/projects.js';
import { projectFor } from '../access/workspace.js';
import { toTransactionConnection, toWalletView, type Accounting } from '../accounting/accounting.js';
import { apoloMutations } from '../dialects/apolo/apolo-resolvers.js';
import type { ApoloTokens } from '../dialects/apolo/apolo-tokens.js';
import { ucloudMutations } from '../dialects/ucloud/ucloud-resolvers.js';
import type { ItemOutcome } from '../jobs/bulk.js';
import type { JobFeed } from '../jobs/job-feed.js';
import type { JobListInput } from '../jobs/job-queries.js';
import type { Orchestrator } from '../jobs/orchestrator.js';
import { queuePositions } from '../jobs/waiting-room.js';
import type { ProviderEntry, ProviderRegistry } from '../registry/provider-registry.js';
import type { UtilizationCache } from '../registry/utilization-cache.js';
import type { QuotaGate } from '../routing/quota-gate.js';
import type { Schedules } from '../schedules/schedules.js';
import type { Services } from '../services/services.js';
import type { SessionOpener } from '../sessions/session-opener.js';
import type { Store, UserRecord } from '../store/store.js';
import { dialectCredentialMutations, dialectCredentialQueries } from './dialect-credential-resolvers.js';
import { followJob } from './follow-job.js';
import { quotaMutations, quotaQueries } from './quota-resolvers.js';
import { recurringMutations, recurringQueries, recurringTypes } from './recurring-resolvers.js';
import type { JobStat, Resolvers, TimeFrame } from './schema-types.js';
import { inviteView, iso, jobView, logView, productView, projectView, providerView, unknownProviderView } from './views.js';
import { virtualClusterMutations, virtualClusterQueries } from './virtual-cluster-resolvers.js';

export interface GatewayContext {
  viewer: Viewer;
  orchestrator: Orchestrator;
  registry: ProviderRegistry;
  store: Store;
  auth: Auth;
  projects: Projects;
  feed: JobFeed;
  utilization: UtilizationCache;
  accounting: Accounting;
  loaders: RequestLoaders;
  clock: Clock;
  sessions: SessionOpener;
  schedules: Schedules;
  services: Services;
  /** Apolo's tokens while the Apolo dialect is served (issueApoloToken). */
  apoloTokens: ApoloTokens | null;
  /** The gateway's URL as the request reached it; null over a websocket. */
  origin: string | null;
}

export interface RequestLoaders {
  /** Credits charged per job, batched per request. */
  jobCharged: DataLoader<string, number>;
  /** Place among the jobs waiting at the gateway (null: not waiting); one read of the list per request. */
  queuePosition: DataLoader<string, number | null>;
}

/**
 * Per-request batching: one read for every job in a page. `queue`: what orders the waiting room (fair share).
 * Each loader is made on first use: most requests (every followJob, held open for hours) use neither.
 */
export function createRequestLoaders(
  accounting: Accounting,
  store: Store,
  queue: { registry: Pick<ProviderRegistry, 'product'>; quotas?: Pick<QuotaGate, 'snapshot'> },
): RequestLoaders {
  let jobCharged: RequestLoaders['jobCharged'] | undefined;
  let queuePosition: RequestLoaders['queuePosition'] | undefined;
  return {
    get jobCharged() {
      return (jobCharged ??= new DataLoader((ids: readonly string[]) => accounting.jobCharged(ids)));
    },
    get queuePosition() {
      return (queuePosition ??= new DataLoader(async (ids: readonly string[]) => {
        const positions = await queuePositions(store, queue.registry, queue.quotas);
        return ids.map((id) => positions.get(id) ?? null);
      }));
    },
  };
}

const STAT_STATES: Record<JobStat, JobState[] | null> = {
  COUNT_ALL: null,
  COUNT_IN_QUEUE: ['IN_QUEUE'],
  COUNT_RUNNING: ['RUNNING'],
  COUNT_SUSPENDED: ['SUSPENDED'],
  COUNT_SUCCESS: ['SUCCESS'],
  COUNT_FAILURE: ['FAILURE'],
  COUNT_EXPIRED: ['EXPIRED'],
  COUNT_CANCELED: ['SUCCESS', 'FAILURE', 'EXPIRED'],
};
const TIME_FRAMES_MS: Record<TimeFrame, number | null> = { T_10M: 600_000, T_1H: 3_600_000, T_24H: 86_400_000, TOTAL: null };

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

function itemError(error: ErrorBody) {
  return { code: error.code, message: error.message };
}

function okResults(outcomes: ItemOutcome<true>[]) {
  return outcomes.map((o) => (o.ok ? { ok: true, error: null } : { ok: false, error: itemError(o.error) }));
}

async function utilizationOf(entry: ProviderEntry): Promise<Utilization> {
  return entry.client.call('utilization', {}, { background: true });
}

function utilizationView(u: Utilization) {
  return { ...u, observedAt: iso(u.observedAt) };
}

/** The project mutations: each maps its arguments onto the Projects service (gateway/access/projects.ts). */
function projectMutations(): NonNullable<Resolvers['Mutation']> {
  return {
    createProject: async (_, args, ctx) => projectView(await ctx.projects.create(ctx.viewer, args), ctx.viewer),
    addProjectMember: async (_, args, ctx) =>
      projectView(await ctx.projects.addMember(ctx.viewer, args.project, args.username, invitedRole(args.role)), ctx.viewer),
    async inviteProjectMember(_, args, ctx) {
      const invite = await ctx.projects.invite(ctx.viewer, args.project, args.username, invitedRole(args.role));
      return inviteView({ project: args.project, ...invite });
    },
    acceptProjectInvite: async (_, args, ctx) => projectView(await ctx.projects.accept(ctx.viewer, args.project), ctx.viewer),
    async declineProjectInvite(_, args, ctx) {
      await ctx.projects.decline(ctx.viewer, args.project);
      return true;
    },
    removeProjectMember: async (_, args, ctx) => projectView(await ctx.projects.removeMember(ctx.viewer, args.project, args.username), ctx.viewer),
    async leaveProject(_, args, ctx) {
      await ctx.projects.leave(ctx.viewer, args.project);
      return true;
    },
    changeProjectRole: async (_, args, ctx) =>
      projectView(await ctx.projects.changeRole(ctx.viewer, args.project, args.username, invitedRole(args.role)), ctx.viewer),
    transferProjectPi: async (_, args, ctx) => projectView(await ctx.projects.transferPi(ctx.viewer, args.project, args.username), ctx.viewer),
    createProjectGroup: async (_, args, ctx) => projectView(await ctx.projects.createGroup(ctx.viewer, args.project, args.name), ctx.viewer),
    deleteProjectGroup: async (_, args, ctx) => projectView(await ctx.projects.deleteGroup(ctx.viewer, args.project, args.name), ctx.viewer),
    addProjectGroupMember: async (_, args, ctx) =>
      projectView(await ctx.projects.addGroupMember(ctx.viewer, args.project, args.group, args.username), ctx.viewer),
    removeProjectGroupMember: async (_, args, ctx) =>
      projectView(await ctx.projects.removeGroupMember(ctx.viewer, args.project, args.group, args.username), ctx.viewer),
    async archiveProject(_, args, ctx) {
      const project = await ctx.projects.archive(ctx.viewer, args.project, args.archived ?? true);
      // Nothing new runs in an archived project: its jobs still waiting at the gateway for room end unstarted.
      if (project.archived) {
        await ctx.orchestrator.waitingRoom.cancelProject(
          project.id,
          `Your job has been terminated before it started (project ${project.id} was archived)`,
        );
      }
      return projectView(project, ctx.viewer);
    },
  };
}

function accountView(user: UserRecord, projects: string[]) {
  return { username: user.username, admin: user.admin, disabled: user.disabled ?? false, createdAt: iso(user.createdAt), projects };
}

function tokenView(token: TokenView) {
  return { ...token, issuedAt: iso(token.issuedAt), expiresAt: iso(token.expiresAt) };
}

/** A role a member is given: ADMIN or USER (the PI role is transferred, never given). */
function invitedRole(role: string | null | undefined): 'ADMIN' | 'USER' {
  if (role === 'ADMIN' || role === 'USER' || role === null || role === undefined) return role ?? 'USER';
  throw new InvalidInputError('A member is added as ADMIN or USER; the PI role is transferred with transferProjectPi');
}

export function createResolvers(): Resolvers {
  return {
    DateTime: DateTimeScalar,
    JSON: JSONResolver,
    Query: {
      products(_, args, ctx) {
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
      product(_, args, ctx) {
        const product = ctx.registry.product(args.ref.provider, args.ref.id);
        if (!product || (args.ref.category && product.category !== args.ref.category)) return null;
        return productView(product, args.ref.provider, ctx.utilization);
      },
      providers: (_, __, ctx) => ctx.registry.list().map((e) => providerView(e, ctx.registry, ctx.utilization)),
      provider(_, args, ctx) {
        const entry = ctx.registry.get(args.id);
        return entry ? providerView(entry, ctx.registry, ctx.utilization) : null;
      },
      async utilization(_, args, ctx) {
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
      async job(_, args, ctx) {
        return jobView(await ctx.orchestrator.getJob(ctx.viewer, args.id), ctx.registry, ctx.utilization);
      },
      async jobs(_, args, ctx) {
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
      async jobStat(_, args, ctx) {
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
      async wallets(_, args, ctx) {
        return (await ctx.accounting.wallets(ctx.viewer, projectFor(ctx.viewer, args.project))).map(toWalletView);
      },
      async transactions(_, args, ctx) {
        // A named owner is a user's transactions: the workspace does not apply to it.
        const project = args.owner ? args.project : projectFor(ctx.viewer, args.project);
        return toTransactionConnection(await ctx.accounting.transactions(ctx.viewer, { ...args, project }));
      },
      me: (_, __, ctx) => ({ createdBy: ctx.viewer.username, project: ctx.viewer.workspace }),
      async projects(_, args, ctx) {
        return (await ctx.projects.list(ctx.viewer, args.all ?? false)).map((p) => projectView(p, ctx.viewer));
      },
      async project(_, args, ctx) {
        return projectView(await ctx.projects.get(ctx.viewer, args.id), ctx.viewer);
      },
      async users(_, __, ctx) {
        const users = await ctx.auth.listUsers(ctx.viewer);
        const memberships = await Promise.all(users.map((user) => ctx.store.membershipsOf(user.username)));
        return users.map((user, i) =>
          accountView(
            user,
            memberships[i]!.map((m) => m.project),
          ),
        );
      },
      myTokens: async (_, __, ctx) => (await ctx.auth.listTokens(ctx.viewer)).map(tokenView),
      async projectInvites(_, __, ctx) {
        return (await ctx.projects.invitations(ctx.viewer)).map((invite) => inviteView({ ...invite, username: ctx.viewer.username }));
      },
      ...quotaQueries(),
      ...virtualClusterQueries(),
      ...recurringQueries(),
      ...dialectCredentialQueries(),
    },
    Mutation: {
      async createJobs(_, args, ctx) {
        const outcomes = await ctx.orchestrator.createJobs(ctx.viewer, args.specifications);
        return outcomes.map((o) =>
          o.ok ? { job: jobView(o.value, ctx.registry, ctx.utilization), error: null } : { job: null, error: itemError(o.error) },
        );
      },
      async terminateJobs(_, args, ctx) {
        return okResults(await ctx.orchestrator.terminateJobs(ctx.viewer, args.ids));
      },
      async suspendJobs(_, args, ctx) {
        return okResults(await ctx.orchestrator.suspendJobs(ctx.viewer, args.ids));
      },
      async unsuspendJobs(_, args, ctx) {
        return okResults(await ctx.orchestrator.unsuspendJobs(ctx.viewer, args.ids));
      },
      async extendJobs(_, args, ctx) {
        return okResults(await ctx.orchestrator.extendJobs(ctx.viewer, args.items));
      },
      async openInteractiveSessions(_, args, ctx) {
        const items = args.items.map((item) => ({
          jobId: item.jobId,
          rank: item.rank ?? 0,
          sessionType: item.sessionType,
          port: item.port ?? null,
          keepPathPrefix: item.keepPathPrefix ?? null,
        }));
        const outcomes = await ctx.sessions.open(ctx.viewer, items, ctx.origin);
        return outcomes.map((o) =>
          o.ok ? { session: { ...o.value, expiresAt: iso(o.value.expiresAt) }, error: null } : { session: null, error: itemError(o.error) },
        );
      },
      async updateJobAcl(_, args, ctx) {
        try {
          await updateJobAcl(ctx.store, ctx.viewer, args.jobId, args.acl);
          return { ok: true, error: null };
        } catch (error) {
          // A result with an error, as the contract's OkResult says; anything unexpected stays a GraphQL error.
          if (!(error instanceof SwitchyardError)) throw error;
          return { ok: false, error: itemError(toErrorBody(error)) };
        }
      },
      async grantCredits(_, args, ctx) {
        return toWalletView(await ctx.accounting.grant(ctx.viewer, args.grant, categoriesOf(ctx.registry)));
      },
      async createUser(_, args, ctx) {
        return ctx.auth.createUser(ctx.viewer, args.username, args.password, args.admin);
      },
      ...projectMutations(),
      ...quotaMutations(),
      ...virtualClusterMutations(),
      ...recurringMutations(),
      ...ucloudMutations(),
      ...apoloMutations(),
      ...dialectCredentialMutations(),
      async disableUser(_, args, ctx) {
        const user = await disableUser(
          { auth: ctx.auth, store: ctx.store, actions: ctx.orchestrator },
          ctx.viewer,
          args.username,
          args.terminateJobs,
        );
        return accountView(
          user,
          (await ctx.store.membershipsOf(user.username)).map((m) => m.project),
        );
      },
      async enableUser(_, args, ctx) {
        const user = await ctx.auth.setDisabled(ctx.viewer, args.username, false);
        return accountView(
          user,
          (await ctx.store.membershipsOf(user.username)).map((m) => m.project),
        );
      },
      async changePassword(_, args, ctx) {
        await ctx.auth.changePassword(ctx.viewer, args.currentPassword, args.newPassword);
        return true;
      },
      async revokeToken(_, args, ctx) {
        await ctx.auth.revokeToken(ctx.viewer, args.id);
        return true;
      },
    },
    ...recurringTypes(),
    Subscription: {
      followJob: {
        subscribe: (_, args, ctx) => followJob(ctx, args.id),
      },
    },
    Product: {
      async balance(product, _, ctx) {
        const known = ctx.registry.product(product.provider, product.id);
        if (!known) return null;
        return ctx.accounting.balanceFor({ createdBy: ctx.viewer.username, project: ctx.viewer.workspace }, known, product.provider);
      },
    },
    Job: {
      creditsCharged: (job, _, ctx) => ctx.loaders.jobCharged.load(job.id),
      provider(job, _, ctx) {
        const entry = ctx.registry.get(job.providerId);
        return entry ? providerView(entry, ctx.registry, ctx.utilization) : unknownProviderView(job.providerId);
      },
      async logs(job, args, ctx) {
        if (args.limit != null && (args.limit < 1 || args.limit > 10_000)) throw new InvalidInputError('limit must be between 1 and 10000');
        const lines = await ctx.store.readLogs(job.id, { since: args.since ?? undefined, limit: args.limit ?? undefined });
        return lines.map(logView);
      },
    },
    JobStatus: {
      queuePosition(status, _, ctx) {
        return status.state === 'IN_QUEUE' && status.jobId ? ctx.loaders.queuePosition.load(status.jobId) : null;
      },
    },
    ComputeSupport: {
      sessionTypes: (support) => sessionTypesOf(support),
    },
    Provider: {
      async utilization(provider, _, ctx) {
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
