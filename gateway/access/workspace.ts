/**
 * The workspace a request acts in, as UCloud's clients choose it: the caller's
 * own, or a project it is a member of, named by the `Project` HTTP header. An
 * argument that names a project (JobSpecificationInput.project, JobFilter.project,
 * wallets(project), transactions(project)) wins over the header.
 */
import { InvalidInputError, NotFoundError } from '../../shared/errors.js';
import type { Store } from '../store/store.js';
import type { Viewer } from './auth.js';
import { checkProjectMember } from './job-access.js';

export const PROJECT_HEADER = 'project';
const MAX_PROJECT_ID = 64;

/**
 * The viewer acting in the project the header names (none or empty: its own workspace).
 * FORBIDDEN for a project the viewer is not a member of, whether or not it exists, so that the
 * header tells nobody which projects exist; an administrator may act in any project that exists.
 */
export async function inWorkspace(store: Pick<Store, 'getProject'>, viewer: Viewer, header: string | null | undefined): Promise<Viewer> {
  const project = header?.trim() ?? '';
  if (project === '') return viewer;
  if (project.length > MAX_PROJECT_ID) throw new InvalidInputError(`The Project header names a project id of at most ${MAX_PROJECT_ID} characters`);
  checkProjectMember(viewer, project);
  if (!viewer.memberships[project] && !(await store.getProject(project))) throw new NotFoundError('project', project);
  return { ...viewer, workspace: project };
}

/** The project an operation acts in: the one its argument names, else the request's workspace (null: the caller's own). */
export function projectFor(viewer: Viewer, argument: string | null | undefined): string | null {
  return argument ? argument : viewer.workspace;
}
