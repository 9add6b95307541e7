/**
 * Every change the gateway makes to a job goes through here: the store's
 * compare-and-set, then the followers hear of it on every replica.
 */
import type { Job, JobUpdate } from '../../shared/domain.js';
import { isFinalState } from '../../shared/job-state-machine.js';
import type { QuotaGate } from '../routing/quota-gate.js';
import type { ChangeOutcome, JobChange, Store } from '../store/store.js';
import type { FeedEvent, JobFeed } from './job-feed.js';

export function feedEventOf(job: Job, updates: JobUpdate[], logs: FeedEvent['logs'] = []): FeedEvent {
  return {
    jobId: job.id,
    updates,
    logs,
    status: { state: job.state, startedAt: job.startedAt, expiresAt: job.expiresAt, exitCode: job.exitCode, allowRestart: job.allowRestart },
  };
}

export type ChangeJob = (id: string, change: JobChange, before?: Job) => Promise<ChangeOutcome>;

/** Publish the updates an applied outcome added (those past `before`'s). */
export function publishOutcome(feed: JobFeed, outcome: ChangeOutcome, before?: Job): void {
  if (outcome.kind !== 'applied') return;
  const known = before?.updates.length ?? outcome.job.updates.length - 1;
  const added = outcome.job.updates.slice(Math.max(0, known));
  if (added.length > 0 || outcome.moved) feed.publish(feedEventOf(outcome.job, added));
}

/** `quotas`: a job that ends gives its hold on its workspace's usage back. */
export function createJobChanger(store: Store, feed: JobFeed, quotas?: Pick<QuotaGate, 'release'>): ChangeJob {
  return async (id, change, before) => {
    const outcome = await store.changeJob(id, change);
    if (quotas && outcome.kind === 'applied' && outcome.moved && isFinalState(outcome.job.state)) await quotas.release(outcome.job.owner, id);
    publishOutcome(feed, outcome, before);
    return outcome;
  };
}
