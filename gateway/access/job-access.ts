/**
 * Who may see and who may change a job: its owner, its project's members, an
 * ACL entry (EDIT or ADMIN to change it) and administrators. A job the caller
 * may not see is NOT_FOUND, never FORBIDDEN, so that its existence stays hidden.
 */
import type { Job } from '../../shared/domain.js';
import { ForbiddenError, NotFoundError } from '../../shared/errors.js';
import type { Store } from '../store/store.js';
import type { Viewer } from './auth.js';

export function canSee(viewer: Viewer, job: Job): boolean {
  if (viewer.admin || job.owner.createdBy === viewer.username) return true;
  if (job.owner.project && viewer.projects.includes(job.owner.project)) return true;
  return job.acl.some((entry) => entry.entity === viewer.username);
}

export function canEdit(viewer: Viewer, job: Job): boolean {
  if (viewer.admin || job.owner.createdBy === viewer.username) return true;
  if (job.owner.project && viewer.projects.includes(job.owner.project)) return true;
  return job.acl.some((entry) => entry.entity === viewer.username && entry.permissions.some((p) => p === 'EDIT' || p === 'ADMIN'));
}

/** The job, or NOT_FOUND when it does not exist or the viewer may not see it. */
export async function loadVisible(store: Store, viewer: Viewer, id: string): Promise<Job> {
  const job = await store.getJob(id);
  if (!job || !canSee(viewer, job)) throw new NotFoundError('job', id);
  return job;
}

/** The job, NOT_FOUND as {@link loadVisible}, or FORBIDDEN when the viewer may read it but not change it. */
export async function loadEditable(store: Store, viewer: Viewer, id: string): Promise<Job> {
  const job = await loadVisible(store, viewer, id);
  if (!canEdit(viewer, job)) throw new ForbiddenError(`You may read job ${id} but not change it`);
  return job;
}

/** FORBIDDEN unless the viewer may act in the project (a member, or an administrator). */
export function checkProjectMember(viewer: Viewer, project: string): void {
  if (!viewer.admin && !viewer.projects.includes(project)) throw new ForbiddenError(`You are not a member of project ${project}`);
}
