/**
 * Domain records → the contract's GraphQL shapes: epoch ms become ISO-8601,
 * milliseconds become SimpleDurations, provider ids become Provider objects.
 */
import { msToDuration, type ComputeSupport, type Job, type JobLog, type Product } from '../../shared/domain.js';
import type { Viewer } from '../access/auth.js';
import type { ProviderEntry, ProviderRegistry } from '../registry/provider-registry.js';
import type { UtilizationCache } from '../registry/utilization-cache.js';
import type { InvitationRecord, ProjectRecord } from '../store/store.js';

export function iso(ms: number): string;
export function iso(ms: number | null | undefined): string | null;
export function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

export function logView(line: JobLog) {
  return { ...line, timestamp: iso(line.timestamp) };
}

export function supportView(support: ComputeSupport) {
  const { maxTimeAllocationMs, ...rest } = support;
  return { ...rest, maxTimeAllocation: maxTimeAllocationMs === null ? null : msToDuration(maxTimeAllocationMs) };
}

/** AVAILABLE, BUSY or FULL from whether one and two more jobs fit; null when capacity is unknown. */
export function queueStatusOf(capacity: number | null): 'AVAILABLE' | 'BUSY' | 'FULL' | null {
  if (capacity === null) return null;
  return capacity >= 2 ? 'AVAILABLE' : capacity === 1 ? 'BUSY' : 'FULL';
}

export function productView(product: Product, providerId: string, utilization?: UtilizationCache) {
  const capacity = utilization?.capacity(providerId, product.id) ?? null;
  return { ...product, provider: providerId, support: supportView(product.support), capacity, queueStatus: queueStatusOf(capacity), balance: null };
}

export function providerView(entry: ProviderEntry, registry: ProviderRegistry, utilization?: UtilizationCache) {
  return {
    id: entry.id,
    kind: entry.kind,
    domain: entry.domain,
    version: entry.version,
    status: registry.status(entry),
    circuit: registry.circuit(entry),
    lastHeartbeat: iso(entry.lastHeartbeat),
    products: (entry.manifest?.products ?? []).map((p) => productView(p, entry.id, utilization)),
    entry,
  };
}

/** A provider the gateway has not seen since it started (it left while the gateway was down). */
export function unknownProviderView(id: string) {
  return { id, kind: 'LOCAL', domain: null, version: 'unknown', status: 'DOWN', circuit: 'CLOSED', lastHeartbeat: null, products: [], entry: null };
}

export function jobView(job: Job, registry: ProviderRegistry, utilization?: UtilizationCache) {
  const spec = job.specification;
  const product = registry.product(job.providerId, spec.product.id);
  return {
    id: job.id,
    owner: job.owner,
    specification: {
      ...spec,
      timeAllocation: spec.timeAllocationMs === null ? null : msToDuration(spec.timeAllocationMs),
    },
    status: {
      state: job.state,
      startedAt: iso(job.startedAt),
      expiresAt: iso(job.expiresAt),
      allowRestart: job.allowRestart,
      exitCode: job.exitCode,
      resolvedProduct: product ? productView(product, job.providerId, utilization) : null,
      resolvedSupport: product ? supportView(product.support) : null,
      pendingReason: job.state === 'IN_QUEUE' ? (job.updates.at(-1)?.status ?? null) : null,
      jobId: job.id,
    },
    updates: job.updates.map((u) => ({ ...u, timestamp: iso(u.timestamp) })),
    createdAt: iso(job.createdAt),
    providerId: job.providerId,
    providerGeneratedId: job.providerGeneratedId,
    acl: job.acl,
    scheduleId: job.origin?.kind === 'schedule' ? job.origin.id : null,
    serviceId: job.origin?.kind === 'service' ? job.origin.id : null,
  };
}

export type ProductView = ReturnType<typeof productView>;
export type ProviderView = ReturnType<typeof providerView> | ReturnType<typeof unknownProviderView>;
export type JobView = ReturnType<typeof jobView>;
/** A job's status; followJob's events carry it without the job id and pending reason (they have no queue position). */
export type JobStatusView = Omit<JobView['status'], 'jobId' | 'pendingReason'> & { jobId?: string; pendingReason?: string | null };

/** A project as the viewer may see it: invitations only for its PI, ADMINs and administrators. */
export function projectView(project: ProjectRecord, viewer: Viewer) {
  const myRole = project.members.find((m) => m.username === viewer.username)?.role ?? null;
  const manages = viewer.admin || myRole === 'PI' || myRole === 'ADMIN';
  return {
    id: project.id,
    title: project.title,
    archived: project.archived,
    createdAt: iso(project.createdAt),
    createdBy: project.createdBy,
    myRole,
    members: project.members.map((m) => ({
      username: m.username,
      role: m.role,
      groups: project.groups.filter((g) => g.members.includes(m.username)).map((g) => g.name),
      addedAt: iso(m.addedAt),
    })),
    groups: project.groups.map((g) => ({ name: g.name, members: [...g.members] })),
    invites: manages ? project.invites.map((invite) => inviteView({ project: project.id, ...invite })) : [],
  };
}

export function inviteView(invite: InvitationRecord & { username: string }) {
  return { ...invite, invitedAt: iso(invite.invitedAt) };
}
