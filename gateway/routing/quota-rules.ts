/**
 * Quotas as data, and what they mean for one job: which usage counters a job
 * adds to, which limits apply to it, and the sentence that names a limit it
 * would pass. Pure: the store counts atomically (see Store.acquireUsage), the
 * placement decides (placement.ts).
 *
 * Usage is counted per workspace (a project, or a user's own) in cells: the
 * whole workspace or one user in it, times every provider or one, times every
 * product category or one. A job adds to every cell it falls in, so a quota
 * set later reads the usage already there.
 */
import type { Job, Product } from '../../shared/domain.js';
import type { QuotaRecord, UsageCheck } from '../store/store.js';

export type { QuotaRecord, UsageCheck, UsageLease } from '../store/store.js';

export const QUOTA_RESOURCES = ['jobs', 'cpu', 'memoryInGigs', 'gpu'] as const;
export type QuotaResource = (typeof QUOTA_RESOURCES)[number];
export type ResourceAmounts = Record<QuotaResource, number>;

export type UsageCounters = Record<string, number>;

const ANY = '*';

/** The usage key of a job's owner: its project, or its creator's own workspace. */
export function workspaceOf(owner: Job['owner']): string {
  return owner.project ? `project:${owner.project}` : `user:${owner.createdBy}`;
}

/** The usage key a quota counts in. */
export function workspaceOfQuota(quota: Pick<QuotaRecord, 'project' | 'user'>): string {
  return quota.project ? `project:${quota.project}` : `user:${quota.user ?? ''}`;
}

function cell(user: string | null, provider: string | null, category: string | null): string {
  return `${user ?? ANY}\t${provider ?? ANY}\t${category ?? ANY}`;
}

/** The cell a quota reads (in its workspace). */
export function cellOfQuota(quota: Pick<QuotaRecord, 'project' | 'user' | 'provider' | 'category'>): string {
  // A personal workspace is one user: its cells are the workspace's own.
  return cell(quota.project ? quota.user : null, quota.provider, quota.category);
}

/** Every cell a job of `owner` on `providerId`/`category` adds to. */
export function cellsOf(owner: Job['owner'], providerId: string, category: string): string[] {
  const users = owner.project ? [null, owner.createdBy] : [null];
  return users.flatMap((user) => [
    cell(user, null, null),
    cell(user, providerId, null),
    cell(user, null, category),
    cell(user, providerId, category),
  ]);
}

export function counterField(cellKey: string, resource: QuotaResource): string {
  return `${cellKey}\t${resource}`;
}

/** What a job of this product holds while it runs: one job, and the product's resources times its replicas. */
export function amountsOf(product: Pick<Product, 'cpu' | 'memoryInGigs' | 'gpu'>, replicas: number): ResourceAmounts {
  return { jobs: 1, cpu: product.cpu * replicas, memoryInGigs: product.memoryInGigs * replicas, gpu: product.gpu * replicas };
}

/** Whether a quota applies to a job of `owner` on `providerId`/`category`. */
export function appliesTo(quota: QuotaRecord, owner: Job['owner'], providerId: string, category: string): boolean {
  if (workspaceOfQuota(quota) !== workspaceOf(owner)) return false;
  if (quota.project && quota.user !== null && quota.user !== owner.createdBy) return false;
  return (quota.provider === null || quota.provider === providerId) && (quota.category === null || quota.category === category);
}

/** The limits a job must stay within, one check per limited resource of each quota that applies, in the quotas' order. */
export function checksFor(
  quotas: QuotaRecord[],
  owner: Job['owner'],
  providerId: string,
  category: string,
  amounts: ResourceAmounts,
): { check: UsageCheck; quota: QuotaRecord; resource: QuotaResource }[] {
  return quotas
    .filter((quota) => appliesTo(quota, owner, providerId, category))
    .flatMap((quota) =>
      QUOTA_RESOURCES.filter((resource) => quota.limits[resource] !== undefined && amounts[resource] > 0).map((resource) => ({
        check: { field: counterField(cellOfQuota(quota), resource), delta: amounts[resource], limit: quota.limits[resource]! },
        quota,
        resource,
      })),
    );
}

/** Tolerance for memory sums in floating point. */
const EPSILON = 1e-9;

/** The first check a job would fail against `counters`; -1 when it passes all (as the store's scripts decide). */
export function firstExceeded(checks: UsageCheck[], counters: UsageCounters): number {
  return checks.findIndex((check) => (counters[check.field] ?? 0) + check.delta > check.limit + EPSILON);
}

const NOUNS: Record<QuotaResource, [string, string]> = {
  jobs: ['job', 'jobs'],
  cpu: ['CPU', 'CPUs'],
  memoryInGigs: ['GB of memory', 'GB of memory'],
  gpu: ['GPU', 'GPUs'],
};

/** Whose limit it is, as a user reads it: "project genomics", "user ana in project genomics", "ana's workspace". */
export function quotaOwner(quota: Pick<QuotaRecord, 'project' | 'user'>): string {
  if (!quota.project) return `${quota.user}'s workspace`;
  return quota.user ? `user ${quota.user} in project ${quota.project}` : `project ${quota.project}`;
}

/** Where it counts: "on hpc", "on hpc in category gpu", "in category gpu", "in all". */
export function quotaScope(quota: Pick<QuotaRecord, 'provider' | 'category'>): string {
  const parts = [quota.provider ? `on ${quota.provider}` : '', quota.category ? `in category ${quota.category}` : ''].filter(Boolean);
  return parts.length > 0 ? parts.join(' ') : 'on all providers';
}

/** "project genomics: 8 of 8 GPUs in use on hpc" */
export function quotaReason(quota: QuotaRecord, resource: QuotaResource, inUse: number): string {
  const limit = quota.limits[resource]!;
  const noun = NOUNS[resource][limit === 1 && resource !== 'memoryInGigs' ? 0 : 1];
  return `${quotaOwner(quota)}: ${round(inUse)} of ${round(limit)} ${noun} in use ${quotaScope(quota)}`;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
