/**
 * followJob, kept once per item: the subscription starts with a snapshot of the job (its updates,
 * its latest log lines, its status) and replays it after a reconnect, so updates and log lines
 * are kept by the same key the gateway uses to send each one once.
 */
import { useEffect, useState } from 'react';

import type { ApiError } from './api';
import { graphql } from './gql';
import type { FollowJobSubscription, JobState } from './gql/graphql';
import { useApi } from './session';

const FOLLOW_JOB = graphql(`
  subscription FollowJob($id: ID!) {
    followJob(id: $id) {
      jobId
      updates {
        state
        status
        newTimeAllocation
        timestamp
      }
      logs {
        rank
        stdout
        stderr
        timestamp
      }
      newStatus {
        state
        startedAt
        expiresAt
        exitCode
      }
    }
  }
`);

type FollowEvent = FollowJobSubscription['followJob'];
export type LiveUpdate = FollowEvent['updates'][number];
export type LiveLog = FollowEvent['logs'][number];
export type LiveStatus = NonNullable<FollowEvent['newStatus']>;

export interface FollowedJob {
  updates: LiveUpdate[];
  logs: LiveLog[];
  status: LiveStatus | null;
  /** The subscription ended (the job reached a final state). */
  ended: boolean;
  error: ApiError | null;
}

const NOTHING_YET: FollowedJob = { updates: [], logs: [], status: null, ended: false, error: null };

const updateKey = (u: LiveUpdate) => `${u.timestamp}|${u.state}|${u.status}`;
const logKey = (l: LiveLog) => `${l.timestamp}|${l.rank}|${l.stdout}|${l.stderr}`;

function addNew<T>(list: T[], more: T[], key: (item: T) => string): T[] {
  if (more.length === 0) return list;
  const seen = new Set(list.map(key));
  const fresh = more.filter((item) => !seen.has(key(item)));
  return fresh.length ? [...list, ...fresh] : list;
}

/** One job's story, logs and status as they happen. */
export function useFollowJob(id: string): FollowedJob {
  const api = useApi();
  // Kept with the job it is of: another job's page starts from nothing.
  const [followed, setFollowed] = useState<FollowedJob & { id: string }>({ id, ...NOTHING_YET });
  useEffect(
    () =>
      api.subscribe(
        FOLLOW_JOB,
        { id },
        {
          next: ({ followJob: event }) =>
            setFollowed((now) => {
              const base = now.id === id ? now : { id, ...NOTHING_YET };
              return {
                ...base,
                updates: addNew(base.updates, event.updates, updateKey),
                logs: addNew(base.logs, event.logs, logKey),
                status: event.newStatus ?? base.status,
              };
            }),
          error: (error) => setFollowed((now) => ({ ...(now.id === id ? now : { id, ...NOTHING_YET }), error })),
          complete: () => setFollowed((now) => ({ ...(now.id === id ? now : { id, ...NOTHING_YET }), ended: true })),
        },
      ),
    [api, id],
  );
  return followed.id === id ? followed : NOTHING_YET;
}

/** The live state of each listed job that has not ended (one followJob each, over one websocket). */
export function useLiveStates(jobs: { id: string; state: JobState }[], isFinal: (state: JobState) => boolean): Map<string, JobState> {
  const api = useApi();
  const [states, setStates] = useState(new Map<string, JobState>());
  const watched = jobs
    .filter((job) => !isFinal(job.state))
    .map((job) => job.id)
    .join(',');
  useEffect(() => {
    if (!watched) return;
    const stops = watched.split(',').map((id) =>
      api.subscribe(
        FOLLOW_JOB,
        { id },
        {
          next: ({ followJob: event }) => {
            const state = event.newStatus?.state;
            if (state) setStates((now) => (now.get(id) === state ? now : new Map(now).set(id, state)));
          },
        },
      ),
    );
    return () => stops.forEach((stop) => stop());
  }, [api, watched]);
  return states;
}
