/**
 * `GET /events/session` as Server-Sent Events: the lifecycle events of one
 * session (session_enqueued, session_started, session_terminating,
 * session_success / session_failure, session_terminated, session_cancelled,
 * and the kernel_* events of its main kernel) derived from its job's changes,
 * as the manager sends them (manager/api/events.py). Events the session has
 * already passed are sent first, so a client that subscribes after creating
 * misses none. Once the session has ended comes `event: server_close`, after
 * which Backend.AI's clients stop instead of reconnecting.
 */
import type { ServerResponse } from 'node:http';

import type { Job } from '../../../shared/domain.js';
import type { JobFeed } from '../../jobs/job-feed.js';
import { baiParameters, isEnded, sessionName, sessionStatus, statusInfo, succeeded, type SessionStatus } from './backendai-sessions.js';

/** A comment line this often keeps proxies from closing an idle stream (aiohttp_sse pings likewise). */
const PING_MS = 15_000;

export type EventScope = 'session' | 'kernel';

/** `*` is both, as the manager reads it. */
export function parseScope(scope: string): Set<EventScope> | null {
  const parts = scope.split(',').map((part) => part.trim());
  const scopes = new Set<EventScope>();
  for (const part of parts) {
    if (part === '*') {
      scopes.add('session');
      scopes.add('kernel');
    } else if (part === 'session' || part === 'kernel') scopes.add(part);
    else return null;
  }
  return scopes;
}

/** The events a session in `status` has sent, in order: session events and those of its main kernel. */
function eventsUpTo(job: Job, status: SessionStatus): { name: string; kernel: boolean }[] {
  const events: { name: string; kernel: boolean }[] = [{ name: 'session_enqueued', kernel: false }];
  const ran = job.startedAt !== null;
  if (ran || status === 'RUNNING' || status === 'TERMINATING') {
    events.push({ name: 'kernel_started', kernel: true }, { name: 'session_started', kernel: false });
  }
  if (status === 'TERMINATING' || (isEnded(status) && job.updates.some((update) => update.state === 'CANCELING'))) {
    events.push({ name: 'kernel_terminating', kernel: true }, { name: 'session_terminating', kernel: false });
  }
  if (status === 'CANCELLED' || status === 'ERROR')
    events.push({ name: 'kernel_cancelled', kernel: true }, { name: 'session_cancelled', kernel: false });
  if (status === 'TERMINATED') {
    // A batch session reports how its task ended before it is terminated.
    if (baiParameters(job).type === 'batch') events.push({ name: succeeded(job) ? 'session_success' : 'session_failure', kernel: false });
    events.push({ name: 'kernel_terminated', kernel: true }, { name: 'session_terminated', kernel: false });
  }
  return events;
}

export interface SessionEventStream {
  res: ServerResponse;
  job: Job;
  ownerAccessKey: string | null;
  scopes: Set<EventScope>;
  feed: JobFeed;
  /** The job again, with the caller's access (throws when it may no longer see it). */
  reload(): Promise<Job>;
  onError(error: unknown): void;
}

/** Streams until the session ends (then server_close) or the client goes away. */
export async function streamSessionEvents(stream: SessionEventStream): Promise<void> {
  const { res, scopes } = stream;
  const sent = new Set<string>();
  let ended = false;
  let job = stream.job;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const close = () => {
    if (ended) return;
    ended = true;
    unlisten();
    clearInterval(ping);
    if (!res.writableEnded) res.end();
  };
  const emit = (current: Job) => {
    const status = sessionStatus(current);
    for (const { name, kernel } of eventsUpTo(current, status)) {
      if (sent.has(name)) continue;
      sent.add(name);
      if (!scopes.has(kernel ? 'kernel' : 'session')) continue;
      send(name, {
        reason: statusInfo(current) ?? '',
        sessionName: sessionName(current),
        ownerAccessKey: stream.ownerAccessKey,
        sessionId: current.id,
        exitCode: current.exitCode,
        ...(kernel ? { kernelId: current.id, clusterRole: 'main', clusterIdx: 0 } : {}),
      });
    }
    if (isEnded(status)) {
      send('server_close', {});
      close();
    }
  };
  // Each change is read back whole (with the caller's access) and turned into the events it adds, one at a time.
  let reading: Promise<void> = Promise.resolve();
  const unlisten = stream.feed.listen(job.id, (event) => {
    if (!event.status && event.updates.length === 0) return;
    reading = reading
      .then(async () => {
        if (ended) return;
        job = await stream.reload();
        emit(job);
      })
      .catch((error: unknown) => {
        stream.onError(error);
        close();
      });
  });
  const ping = setInterval(() => res.write(': ping\n\n'), PING_MS);
  ping.unref();
  res.on('close', close);
  // Read again after subscribing, so a change between the caller's read and the subscription is not missed.
  job = await stream.reload().catch((error: unknown) => {
    stream.onError(error);
    close();
    return job;
  });
  if (!ended) emit(job);
}
