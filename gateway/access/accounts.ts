/**
 * Disabling a user, as an administrator asks it: the account (auth.ts: its
 * tokens revoked, none accepted from its next request on) and, only when asked,
 * its jobs — every job it created that has not ended is terminated, as the
 * administrator terminating them would.
 */
import { FINAL_STATES, JOB_STATES } from '../../shared/job-state-machine.js';
import type { JobActions } from '../jobs/job-actions.js';
import type { Store, UserRecord } from '../store/store.js';
import type { Auth, Viewer } from './auth.js';

/** Ids terminated per call: the bulk limit. */
const BATCH = 1_000;

export async function disableUser(
  deps: { auth: Auth; store: Store; actions: Pick<JobActions, 'terminateJobs'> },
  viewer: Viewer,
  username: string,
  terminateJobs: boolean,
): Promise<UserRecord> {
  const user = await deps.auth.setDisabled(viewer, username, true);
  if (!terminateJobs) return user;
  const active = JOB_STATES.filter((state) => !FINAL_STATES.has(state) && state !== 'CANCELING');
  const ids: string[] = [];
  let after: string | undefined;
  do {
    const page = await deps.store.listJobs({ createdBy: username, states: active, order: 'ASC', first: BATCH, after });
    ids.push(...page.jobs.map((job) => job.id));
    after = page.hasNextPage && page.endCursor ? page.endCursor : undefined;
  } while (after);
  for (let i = 0; i < ids.length; i += BATCH) await deps.actions.terminateJobs(viewer, ids.slice(i, i + BATCH));
  return user;
}
