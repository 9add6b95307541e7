/**
 * The followJob subscription: a snapshot of the job (its updates, its latest
 * log lines, its status), then every change from the feed until the job ends,
 * each update and log line once. Events that arrive while the snapshot is read
 * are buffered and replayed after it, so nothing falls between the two.
 * Access is checked again as events come (at most once a second, with the
 * viewer's memberships as they are then): a follower who loses sight of the job
 * (its ACL entry revoked, removed from the project) gets NOT_FOUND and the end.
 */
import { Repeater } from 'graphql-yoga';

import type { Job, JobLog } from '../../shared/domain.js';
import { isFinalState } from '../../shared/job-state-machine.js';
import type { Auth, Viewer } from '../access/auth.js';
import type { FeedEvent, JobFeed } from '../jobs/job-feed.js';
import type { JobQueries } from '../jobs/job-queries.js';
import type { Store } from '../store/store.js';
import { iso, logView } from './views.js';

export interface FollowContext {
  viewer: Viewer;
  orchestrator: Pick<JobQueries, 'getJob'>;
  store: Pick<Store, 'readLogs'>;
  feed: JobFeed;
  auth: Pick<Auth, 'refresh'>;
}

/** How long a follower's access, once checked, is taken to hold (elapsed time). */
const ACCESS_RECHECK_MS = 1_000;

const FOLLOW_BACKLOG_LOGS = 1_000;
/** How long followJob waits, at a job's end, for log lines another replica may still be applying. */
const FINAL_LOGS_GRACE_MS = 250;

function statusView(status: FeedEvent['status']) {
  if (!status) return null;
  return { ...status, startedAt: iso(status.startedAt), expiresAt: iso(status.expiresAt), resolvedProduct: null, resolvedSupport: null };
}

function followEventView(event: FeedEvent) {
  return {
    jobId: event.jobId,
    updates: event.updates.map((u) => ({ ...u, timestamp: iso(u.timestamp) })),
    logs: event.logs.map(logView),
    newStatus: statusView(event.status),
  };
}

// Module-level, not per follower: thousands of followers need not each hold a copy.
const keyOfUpdate = (u: { timestamp: number; state: unknown; status: unknown }) => `u|${u.timestamp}|${u.state}|${u.status}`;
const keyOfLog = (l: JobLog) => `l|${l.timestamp}|${l.rank}|${l.stdout}|${l.stderr}`;

/** The snapshot, then live events until the job reaches a final state. */
export function followJob(ctx: FollowContext, id: string) {
  return followJobEvents(ctx, id, (event) => ({ followJob: followEventView(event) }));
}

/**
 * followJob's events as `view` shows them: the snapshot (the job's updates, its latest logs and
 * its status), then each change once, until the job ends. Dialects follow jobs through it too.
 */
export function followJobEvents<T>(ctx: FollowContext, id: string, view: (event: FeedEvent) => T) {
  return new Repeater<T>(async (repeaterPush, stop) => {
    const push = (event: FeedEvent) => repeaterPush(view(event));
    const buffered: FeedEvent[] = [];
    let live = false;
    const seen = new Set<string>();
    let ended = false;
    let checkedAt = performance.now();
    const deliver = async (event: FeedEvent) => {
      if (ended) return;
      if (performance.now() - checkedAt >= ACCESS_RECHECK_MS) {
        // Throws NOT_FOUND once the viewer may no longer see the job: the subscription ends with it.
        await ctx.orchestrator.getJob(await ctx.auth.refresh(ctx.viewer), id);
        checkedAt = performance.now();
      }
      const final = event.status !== null && isFinalState(event.status.state);
      if (final) {
        // Another replica may still be applying the job's last log lines (events reach
        // replicas in any order): give them a moment, and send what the store has first.
        ended = true;
        await new Promise((resolve) => setTimeout(resolve, FINAL_LOGS_GRACE_MS));
        const late = (await ctx.store.readLogs(id, { limit: FOLLOW_BACKLOG_LOGS })).filter((l) => !seen.has(keyOfLog(l)));
        for (const l of late) seen.add(keyOfLog(l));
        if (late.length > 0) await push({ jobId: id, updates: [], logs: late, status: null });
      }
      const updates = event.updates.filter((u) => !seen.has(keyOfUpdate(u)));
      const logs = event.logs.filter((l) => !seen.has(keyOfLog(l)));
      for (const u of updates) seen.add(keyOfUpdate(u));
      for (const l of logs) seen.add(keyOfLog(l));
      if (updates.length > 0 || logs.length > 0 || event.status) await push({ ...event, updates, logs });
      if (final) stop();
    };
    // One event at a time, in the order they came.
    let delivering: Promise<void> = Promise.resolve();
    const unlisten = ctx.feed.listen(id, (event) => {
      if (live) delivering = delivering.then(() => deliver(event)).catch((error: unknown) => stop(error));
      else buffered.push(event);
    });
    try {
      const job: Job = await ctx.orchestrator.getJob(ctx.viewer, id);
      const logs = await ctx.store.readLogs(id, { limit: FOLLOW_BACKLOG_LOGS });
      for (const u of job.updates) seen.add(keyOfUpdate(u));
      for (const l of logs) seen.add(keyOfLog(l));
      await push({
        jobId: job.id,
        updates: job.updates,
        logs,
        status: { state: job.state, startedAt: job.startedAt, expiresAt: job.expiresAt, exitCode: job.exitCode, allowRestart: job.allowRestart },
      });
      if (isFinalState(job.state)) {
        ended = true;
        stop();
      }
      // Events that came while the snapshot was read, then live ones (set synchronously: none is missed).
      while (buffered.length > 0) await deliver(buffered.shift()!);
      live = true;
    } catch (error) {
      stop(error);
    }
    await stop;
    unlisten();
  });
}
