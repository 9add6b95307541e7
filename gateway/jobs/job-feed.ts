/**
 * Fans job changes out to followers on every gateway replica. The replica
 * that applies an event publishes it on the job's fanout subject; every
 * replica subscribes once and hands it to its local followers.
 */
import type { JobLog, JobState, JobUpdate } from '../../shared/domain.js';
import type { Closable, Transport } from '../../shared/transport.js';
import { decodeBody } from '../../shared/transport/wire.js';

const utf8 = new TextDecoder();

export interface FeedStatus {
  state: JobState;
  startedAt: number | null;
  expiresAt: number | null;
  exitCode: number | null;
  allowRestart: boolean;
}

export interface FeedEvent {
  jobId: string;
  updates: JobUpdate[];
  logs: JobLog[];
  status: FeedStatus | null;
}

export type FeedListener = (event: FeedEvent) => void;

export interface JobFeed {
  start(): void;
  stop(): Promise<void>;
  publish(event: FeedEvent): void;
  /** Listen to one job's events on this replica; returns the unsubscribe. */
  listen(jobId: string, listener: FeedListener): () => void;
}

export function createJobFeed(transport: Transport): JobFeed {
  const listeners = new Map<string, Set<FeedListener>>();
  let subscription: Closable | null = null;

  return {
    start() {
      // As bytes: most events are for jobs nobody follows on this replica, and are not decoded at all.
      subscription = transport.subscribeBytes(transport.subjects.fanoutAll(), (payload, subject) => {
        const set = listeners.get(subject.slice(subject.lastIndexOf('.') + 1));
        if (!set) return;
        let event: FeedEvent;
        try {
          event = decodeBody(utf8.decode(payload)) as FeedEvent;
        } catch {
          return;
        }
        for (const listener of set) listener(event);
      });
    },
    async stop() {
      await subscription?.close();
      listeners.clear();
    },
    publish(event) {
      transport.publish(transport.subjects.fanout(event.jobId), event);
    },
    listen(jobId, listener) {
      let set = listeners.get(jobId);
      if (!set) listeners.set(jobId, (set = new Set()));
      set.add(listener);
      return () => {
        set.delete(listener);
        if (set.size === 0) listeners.delete(jobId);
      };
    },
  };
}
