/**
 * Who may see and who may change a job: the one place for it. A job the
 * caller may not see is NOT_FOUND, never FORBIDDEN, so that its existence
 * stays hidden; one it may see but not act on so is FORBIDDEN.
 *
 * A caller holds one of three permissions on a job, each including the ones
 * before it (the contract's Permission):
 *
 * | permission | allows                                                                  |
 * | ---------- | ----------------------------------------------------------------------- |
 * | READ       | job, jobs, jobStat, its logs, followJob                                 |
 * | EDIT       | extendJobs, suspendJobs, unsuspendJobs, openInteractiveSessions          |
 * | ADMIN      | terminateJobs, updateJobAcl                                             |
 *
 * Terminating is ADMIN, not EDIT: it ends the job for good and throws away
 * what it was doing, while EDIT's verbs can all be undone or only add time.
 *
 * Who holds which:
 * - administrators: ADMIN on every job;
 * - a personal job (no project): its creator ADMIN, nobody else anything
 *   (jobs are shared inside projects, as UCloud does);
 * - a project job: nothing for anyone outside the project, its creator
 *   included once they have left it; the project's PI and ADMINs: ADMIN; its
 *   creator: ADMIN; any other member: the highest permission an ACL entry gives
 *   them by name or through one of their groups ("project/group").
 */
import type { AclEntry, Job } from '../../shared/domain.js';
import { ForbiddenError, NotFoundError } from '../../shared/errors.js';
import type { JobSource } from '../store/job-sources.js';
import type { Store } from '../store/store.js';
import type { Viewer } from './auth.js';

export type Permission = AclEntry['permissions'][number];

/** Weakest first: each includes those before it. */
export const PERMISSIONS: readonly Permission[] = ['READ', 'EDIT', 'ADMIN'];

const rank = (permission: Permission) => PERMISSIONS.indexOf(permission);

/** Whether `held` includes `needed`. */
export function allows(held: Permission | null, needed: Permission): boolean {
  return held !== null && rank(held) >= rank(needed);
}

/** The ACL entity that names a project's group. */
export function groupEntity(project: string, group: string): string {
  return `${project}/${group}`;
}

/** The viewer's permission on the job (see the table above); null: it may not even see it. */
export function permissionOn(viewer: Viewer, job: Pick<Job, 'owner' | 'acl'>): Permission | null {
  if (viewer.admin) return 'ADMIN';
  const project = job.owner.project;
  if (!project) return job.owner.createdBy === viewer.username ? 'ADMIN' : null;
  const membership = viewer.memberships[project];
  if (!membership) return null;
  if (membership.role !== 'USER' || job.owner.createdBy === viewer.username) return 'ADMIN';
  const entities = new Set([viewer.username, ...membership.groups.map((group) => groupEntity(project, group))]);
  let best: Permission | null = null;
  for (const entry of job.acl) {
    if (!entities.has(entry.entity)) continue;
    for (const permission of entry.permissions) if (!allows(best, permission)) best = permission;
  }
  return best;
}

/**
 * The rules above read the other way, for listings: the index sources (store/job-sources.ts)
 * holding exactly the jobs of a workspace the viewer may see, so that a store reads them rather
 * than checking each job. `project` null is the viewer's own workspace: the jobs it created
 * that it may still see (an administrator's: every job, answered null). In a project the caller
 * must be a member (checkProjectMember). test/store-contract.test.ts and job-access.test.ts hold
 * these to {@link canSee}.
 */
export function visibleSources(viewer: Viewer, project: string | null): JobSource[] | null {
  const { username } = viewer;
  if (project === null) {
    if (viewer.admin) return null;
    // Its jobs in a project it has left are the project's now: out of its sight.
    const inProjects = Object.keys(viewer.memberships).map((member): JobSource => ({ kind: 'projectCreator', project: member, createdBy: username }));
    return [{ kind: 'personal', createdBy: username }, ...inProjects];
  }
  const membership = viewer.memberships[project];
  if (viewer.admin || (membership && membership.role !== 'USER')) return [{ kind: 'project', project }];
  if (!membership) return [];
  const entities = [username, ...membership.groups.map((group) => groupEntity(project, group))];
  return [{ kind: 'projectCreator', project, createdBy: username }, ...entities.map((entity): JobSource => ({ kind: 'shared', project, entity }))];
}

export function canSee(viewer: Viewer, job: Job): boolean {
  return permissionOn(viewer, job) !== null;
}

export function canEdit(viewer: Viewer, job: Job): boolean {
  return allows(permissionOn(viewer, job), 'EDIT');
}

/** The job, or NOT_FOUND when it does not exist or the viewer may not see it. */
export async function loadVisible(store: Store, viewer: Viewer, id: string): Promise<Job> {
  const job = await store.getJob(id);
  if (!job || !canSee(viewer, job)) throw new NotFoundError('job', id);
  return job;
}

/** The job, NOT_FOUND as {@link loadVisible}, or FORBIDDEN when the viewer may see it but does not hold `needed`. */
export async function loadPermitted(store: Store, viewer: Viewer, id: string, needed: Permission): Promise<Job> {
  const job = await loadVisible(store, viewer, id);
  if (!allows(permissionOn(viewer, job), needed)) throw new ForbiddenError(`You need ${needed} on job ${id} for this`);
  return job;
}

/** The job, NOT_FOUND as {@link loadVisible}, or FORBIDDEN when the viewer may read it but not change it (EDIT). */
export function loadEditable(store: Store, viewer: Viewer, id: string): Promise<Job> {
  return loadPermitted(store, viewer, id, 'EDIT');
}

/** FORBIDDEN unless the viewer may act in the project (a member, or an administrator). */
export function checkProjectMember(viewer: Viewer, project: string): void {
  if (!viewer.admin && !viewer.memberships[project]) throw new ForbiddenError(`You are not a member of project ${project}`);
}
