/**
 * updateJobAcl: who a job is shared with, and how far (READ, EDIT or ADMIN; see
 * job-access.ts for what each allows). The ACL given replaces the job's whole
 * ACL. Jobs are shared inside their project, as UCloud does: an entry names a
 * member of the job's project or one of its groups ("project/group"); a
 * personal job is shared with nobody.
 */
import type { AclEntry, Job } from '../../shared/domain.js';
import { InvalidInputError, NotFoundError } from '../../shared/errors.js';
import type { Store } from '../store/store.js';
import type { Viewer } from './auth.js';
import { groupEntity, loadPermitted, PERMISSIONS } from './job-access.js';

export const MAX_ACL_ENTRIES = 100;

/** Replaces the job's ACL; the viewer needs ADMIN on it. Returns the job as stored after. */
export async function updateJobAcl(store: Store, viewer: Viewer, jobId: string, acl: readonly AclEntry[]): Promise<Job> {
  const job = await loadPermitted(store, viewer, jobId, 'ADMIN');
  if (acl.length > MAX_ACL_ENTRIES) throw new InvalidInputError(`An ACL has at most ${MAX_ACL_ENTRIES} entries`);
  const project = job.owner.project;
  if (!project) {
    if (acl.length > 0) throw new InvalidInputError(`Job ${jobId} is personal: jobs are shared inside a project; create it in one to share it`);
    return job;
  }
  const record = await store.getProject(project);
  const members = new Set(record?.members.map((m) => m.username));
  const groups = new Set(record?.groups.map((g) => groupEntity(project, g.name)));
  const seen = new Set<string>();
  const entries = acl.map(({ entity, permissions }) => {
    if (seen.has(entity)) throw new InvalidInputError(`${entity} is named twice in the ACL`);
    seen.add(entity);
    if (!members.has(entity) && !groups.has(entity)) {
      throw new InvalidInputError(`"${entity.slice(0, 80)}" is neither a member nor a group ("${project}/<group>") of project ${project}`);
    }
    if (permissions.length === 0) throw new InvalidInputError(`The entry for ${entity} gives no permission`);
    // Each permission once, weakest first.
    return { entity, permissions: PERMISSIONS.filter((p) => permissions.includes(p)) };
  });
  const stored = await store.setJobAcl(jobId, entries);
  if (!stored) throw new NotFoundError('job', jobId);
  return stored;
}
