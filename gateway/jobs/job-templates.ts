/**
 * A job specification kept to make jobs later on its owner's behalf (a
 * schedule's firings, a service's runs): checked when it is kept, and each job
 * made through the normal submission path (routing, quotas, credits), as its
 * owner is then, in its workspace.
 */
import type { Job, JobOrigin } from '../../shared/domain.js';
import { InvalidInputError } from '../../shared/errors.js';
import type { Viewer } from '../access/auth.js';
import { checkCanRunIn } from '../access/projects.js';
import { projectFor } from '../access/workspace.js';
import type { Store } from '../store/store.js';
import type { ItemOutcome } from './bulk.js';
import { checkSpecificationInput, type JobSpecificationInput } from './job-specification.js';

/**
 * The owner a template of `viewer` belongs to (the workspace its input names, else the request's),
 * and the input to keep, naming that workspace; INVALID_INPUT for a specification refused on its
 * own, FORBIDDEN / NOT_FOUND for a project the viewer may not run in.
 */
export async function checkTemplate(
  store: Pick<Store, 'getProject'>,
  viewer: Viewer,
  input: JobSpecificationInput,
): Promise<{ owner: Job['owner']; input: JobSpecificationInput }> {
  const project = projectFor(viewer, input.project);
  if (project) await checkCanRunIn(store, viewer, project);
  checkSpecificationInput(input);
  return { owner: { createdBy: viewer.username, project }, input: { ...input, project } };
}

const MAX_NAME = 200;

/** INVALID_INPUT unless a template's name is absent or 1 to 200 characters. */
export function checkTemplateName(name: string | null | undefined, kind: string): void {
  if (name != null && (name.length === 0 || name.length > MAX_NAME)) throw new InvalidInputError(`A ${kind}'s name has 1 to ${MAX_NAME} characters`);
}

export interface TemplateJobMaker {
  /** One job of the template for its owner, as the owner is now; an error when the owner is gone, disabled or refused. */
  make(owner: Job['owner'], input: JobSpecificationInput, origin: JobOrigin): Promise<ItemOutcome<Job>>;
}

export function createTemplateJobMaker(options: {
  viewerByName(username: string): Promise<Viewer | null>;
  createJobs(viewer: Viewer, inputs: JobSpecificationInput[], origin: JobOrigin): Promise<ItemOutcome<Job>[]>;
}): TemplateJobMaker {
  return {
    async make(owner, input, origin) {
      const viewer = await options.viewerByName(owner.createdBy);
      if (!viewer) return { ok: false, error: { code: 'FORBIDDEN', message: `User ${owner.createdBy} is gone or disabled: no job made` } };
      const [outcome] = await options.createJobs({ ...viewer, workspace: owner.project }, [{ ...input, project: owner.project }], origin);
      return outcome ?? { ok: false, error: { code: 'INTERNAL', message: 'no outcome for the job' } };
    },
  };
}
