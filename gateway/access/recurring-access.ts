/**
 * Who may see and change a schedule or a service: the rules of a job
 * (job-access.ts) without an ACL. Its creator (while still in its project) and,
 * in a project, the PI and ADMINs hold ADMIN; administrators hold ADMIN on all;
 * nobody else sees it: NOT_FOUND, so that its existence stays hidden.
 */
import { ForbiddenError, NotFoundError } from '../../shared/errors.js';
import type { RecurringRecord, RecurringRecords } from '../store/store.js';
import type { Viewer } from './auth.js';
import { allows, permissionOn, type Permission } from './job-access.js';
import { projectFor } from './workspace.js';

/** Whether the viewer may see the record. */
export function canSeeRecord(viewer: Viewer, record: Pick<RecurringRecord<unknown>, 'owner'>): boolean {
  return permissionOn(viewer, { owner: record.owner, acl: [] }) !== null;
}

/** The record, NOT_FOUND when it is not stored or the viewer may not see it, FORBIDDEN without `needed`. */
export async function loadPermittedRecord<Doc>(
  records: RecurringRecords<Doc>,
  viewer: Viewer,
  kind: 'schedule' | 'service',
  id: string,
  needed: Permission,
): Promise<RecurringRecord<Doc>> {
  const record = await records.get(id);
  const held = record ? permissionOn(viewer, { owner: record.owner, acl: [] }) : null;
  if (!record || held === null) throw new NotFoundError(kind, id);
  if (!allows(held, needed)) throw new ForbiddenError(`You need ${needed} on ${kind} ${id} for this`);
  return record;
}

/** Reading one kind of record: one the viewer may see (NOT_FOUND otherwise), and those of a workspace it may see, oldest first. */
export function recordReads<Doc>(records: RecurringRecords<Doc>, kind: 'schedule' | 'service') {
  return {
    get: (viewer: Viewer, id: string) => loadPermittedRecord(records, viewer, kind, id, 'READ'),
    /** The workspace `project` names, else the request's. */
    async list(viewer: Viewer, project: string | null | undefined): Promise<RecurringRecord<Doc>[]> {
      const workspace = { createdBy: viewer.username, project: projectFor(viewer, project) };
      return (await records.list(workspace)).filter((record) => canSeeRecord(viewer, record));
    },
  };
}
