/**
 * Who sets and reads quotas, and a workspace's usage against them (the rules
 * are in docs/TENANCY.md; what a quota does to a job is routing's):
 *
 * | action                                             | who                                  |
 * | -------------------------------------------------- | ------------------------------------ |
 * | set or remove a project's or a personal quota      | administrators                       |
 * | set or remove a limit for one member in a project  | administrators and the project's PI  |
 * | read a project's quotas and usage                  | administrators and its members       |
 * | read a personal workspace's quotas and usage       | administrators and its owner         |
 *
 * Anyone else gets FORBIDDEN, the same whether or not the project exists.
 */
import type { Clock } from '../../shared/clock.js';
import type { Job, Product } from '../../shared/domain.js';
import { ForbiddenError, InvalidInputError } from '../../shared/errors.js';
import { checkRange, MAX_JOBS_READ, usageHistory, type ProviderHistory, type UsageRange } from '../accounting/usage-history.js';
import { cellOfQuota, counterField, QUOTA_RESOURCES, workspaceOfQuota, type QuotaResource } from '../routing/quota-rules.js';
import type { QuotaRecord, Store, UsageLease } from '../store/store.js';
import type { Viewer } from './auth.js';
import { checkProjectMember } from './job-access.js';

/** The workspace, user, provider and category a quota is for. */
export interface QuotaTarget {
  project?: string | null;
  user?: string | null;
  provider?: string | null;
  category?: string | null;
}

export type QuotaLimits = Partial<Record<QuotaResource, number | null>>;

export type ResourceTotals = Record<QuotaResource, number>;

export interface QuotaUsage {
  quota: QuotaRecord;
  inUse: ResourceTotals;
}

/** A workspace's usage now: per provider, and against each of its quotas. */
export interface WorkspaceUsageView {
  project: string | null;
  user: string | null;
  inUse: ResourceTotals;
  providers: { provider: string; inUse: ResourceTotals }[];
  quotas: QuotaUsage[];
  /** Decayed fair-share usage (core-seconds) as of `at`. */
  fairShare: { value: number; at: number } | null;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const WHOLE: ReadonlySet<QuotaResource> = new Set(['jobs', 'gpu']);

function checkId(what: string, value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string' || !ID.test(value)) throw new InvalidInputError(`${what} "${String(value).slice(0, 80)}" is not an id`);
  return value;
}

/** The target as stored: a personal workspace's quota names its owner as `user`. */
function normalise(viewer: Viewer, target: QuotaTarget): Pick<QuotaRecord, 'project' | 'user' | 'provider' | 'category'> {
  const project = checkId('project', target.project);
  const user = checkId('user', target.user) ?? (project ? null : viewer.username);
  return { project, user, provider: checkId('provider', target.provider), category: checkId('category', target.category) };
}

function checkLimits(limits: QuotaLimits): QuotaRecord['limits'] {
  const kept: QuotaRecord['limits'] = {};
  for (const resource of QUOTA_RESOURCES) {
    const limit = limits[resource];
    if (limit === null || limit === undefined) continue;
    if (!Number.isFinite(limit) || limit < 0 || (WHOLE.has(resource) && !Number.isInteger(limit)))
      throw new InvalidInputError(`the limit of ${resource} must be a ${WHOLE.has(resource) ? 'whole ' : ''}number, not negative`);
    kept[resource] = limit;
  }
  if (Object.keys(kept).length === 0)
    throw new InvalidInputError('a quota limits at least one of jobs, cpu, memoryInGigs, gpu (removeQuota takes one away)');
  return kept;
}

const zero = (): ResourceTotals => ({ jobs: 0, cpu: 0, memoryInGigs: 0, gpu: 0 });

export function totalsOf(counters: Record<string, number>, cell: string): ResourceTotals {
  const totals = zero();
  // Sums of holds given back can leave a float a hair from zero.
  for (const resource of QUOTA_RESOURCES) totals[resource] = Math.round((counters[counterField(cell, resource)] ?? 0) * 1e6) / 1e6;
  return totals;
}

/** A workspace's usage over a range, per provider. */
export interface UsageHistoryView {
  project: string | null;
  user: string | null;
  providers: ProviderHistory[];
  /** More than {@link MAX_JOBS_READ} jobs: only the newest that many were read. */
  partial: boolean;
}

export interface QuotaAdministration {
  set(viewer: Viewer, target: QuotaTarget, limits: QuotaLimits): Promise<QuotaRecord>;
  /** False when there was no such quota. */
  remove(viewer: Viewer, target: QuotaTarget): Promise<boolean>;
  /** A workspace's quotas: `target.project`'s, or the personal workspace of `target.user` (default: the viewer). */
  list(viewer: Viewer, target: QuotaTarget): Promise<QuotaRecord[]>;
  usage(viewer: Viewer, target: QuotaTarget, providers: string[]): Promise<WorkspaceUsageView>;
  /** What a workspace's jobs ran over `range`, per provider (who may read it: as usage); `providers`: listed even when empty. */
  history(
    viewer: Viewer,
    target: QuotaTarget,
    range: UsageRange,
    productOf: (job: Job) => Pick<Product, 'cpu' | 'memoryInGigs' | 'gpu'> | undefined,
    providers: string[],
  ): Promise<UsageHistoryView>;
}

export function createQuotaAdministration(store: Store, clock: Clock): QuotaAdministration {
  /** FORBIDDEN unless the viewer may change the quota (see the table above); INVALID_INPUT for a user it cannot be for. */
  const checkMaySet = async (viewer: Viewer, quota: Pick<QuotaRecord, 'project' | 'user'>) => {
    if (quota.project) {
      if (!viewer.admin) {
        checkProjectMember(viewer, quota.project);
        if (quota.user === null || viewer.memberships[quota.project]?.role !== 'PI')
          throw new ForbiddenError(
            quota.user === null
              ? `Only administrators set the quotas of project ${quota.project}`
              : `Only the PI sets limits for members of ${quota.project}`,
          );
      }
      const project = await store.getProject(quota.project);
      if (!project) throw new InvalidInputError(`There is no project ${quota.project}`);
      if (quota.user !== null && !project.members.some((m) => m.username === quota.user))
        throw new InvalidInputError(`${quota.user} is not a member of project ${quota.project}`);
      return;
    }
    if (!viewer.admin) throw new ForbiddenError('Only administrators set the quotas of a personal workspace');
    if (!(await store.getUser(quota.user!))) throw new InvalidInputError(`There is no user ${quota.user}`);
  };

  const checkMayRead = (viewer: Viewer, quota: Pick<QuotaRecord, 'project' | 'user'>) => {
    if (quota.project) checkProjectMember(viewer, quota.project);
    else if (!viewer.admin && quota.user !== viewer.username) throw new ForbiddenError(`You may not read the quotas of ${quota.user}'s workspace`);
  };

  const readTarget = (viewer: Viewer, target: QuotaTarget) => {
    const { project, user } = normalise(viewer, target);
    const workspace = { project, user: project ? null : user };
    checkMayRead(viewer, workspace);
    return workspace;
  };

  return {
    async set(viewer, target, limits) {
      const where = normalise(viewer, target);
      const kept = checkLimits(limits);
      await checkMaySet(viewer, where);
      const quota: QuotaRecord = { ...where, limits: kept, setBy: viewer.username, setAt: clock.now() };
      await store.putQuota(workspaceOfQuota(quota), cellOfQuota(quota), quota);
      return quota;
    },

    async remove(viewer, target) {
      const where = normalise(viewer, target);
      await checkMaySet(viewer, where);
      return store.deleteQuota(workspaceOfQuota(where), cellOfQuota(where));
    },

    async list(viewer, target) {
      return store.listQuotas(workspaceOfQuota(readTarget(viewer, target)));
    },

    async usage(viewer, target, providers) {
      const workspace = readTarget(viewer, target);
      const key = workspaceOfQuota(workspace);
      const [[usage], quotas] = await Promise.all([store.readUsage([key]), store.listQuotas(key)]);
      const { counters, leases, fairShare } = usage!;
      const seen = new Set([...providers, ...leases.flatMap((lease: UsageLease) => lease.cells.map((cell) => cell.split('\t')[1]!))]);
      seen.delete('*');
      return {
        ...workspace,
        inUse: totalsOf(counters, cellOfQuota({ project: workspace.project, user: null, provider: null, category: null })),
        providers: [...seen].sort().map((provider) => ({
          provider,
          inUse: totalsOf(counters, cellOfQuota({ project: workspace.project, user: null, provider, category: null })),
        })),
        quotas: quotas.map((quota) => ({ quota, inUse: totalsOf(counters, cellOfQuota(quota)) })),
        fairShare,
      };
    },

    async history(viewer, target, range, productOf, providers) {
      checkRange(range);
      const workspace = readTarget(viewer, target);
      const source = workspace.project
        ? { kind: 'project' as const, project: workspace.project }
        : { kind: 'personal' as const, createdBy: workspace.user! };
      const jobs: Job[] = [];
      let after: string | undefined;
      let partial = false;
      // Newest first: a job created after the range cannot have run in it.
      for (;;) {
        const page = await store.listJobs({ sources: [source], createdBefore: range.to, order: 'DESC', first: 1_000, after });
        jobs.push(...page.jobs);
        if (!page.hasNextPage || page.endCursor === null) break;
        if (jobs.length >= MAX_JOBS_READ) {
          partial = true;
          break;
        }
        after = page.endCursor;
      }
      return { ...workspace, providers: usageHistory(jobs, range, clock.now(), productOf, providers), partial };
    },
  };
}
