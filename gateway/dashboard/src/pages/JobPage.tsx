/**
 * One job: its state and details, its story (updates) and logs as they happen (followJob), its
 * charges, and what can be done to it now: extend, suspend, resume, terminate, open a terminal.
 */
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { Link, useParams } from 'react-router';

import { ApiError } from '../api';
import { ErrorMessage, Loading, StateBadge } from '../components';
import { credits, dateTime, duration, isFinal } from '../format';
import { graphql } from '../gql';
import type { InteractiveSessionType } from '../gql/graphql';
import { JobSharing } from '../job-sharing';
import { useFollowJob } from '../live';
import { ProviderDetails } from '../provider-details';
import { useApi } from '../session';

const JOB = graphql(`
  query Job($id: ID!) {
    job(id: $id) {
      id
      createdAt
      creditsCharged
      providerGeneratedId
      owner {
        createdBy
        project
      }
      provider {
        id
        kind
        status
      }
      specification {
        name
        command
        image
        replicas
        tags
        timeAllocation {
          hours
          minutes
          seconds
        }
        product {
          id
          provider
          category
        }
      }
      status {
        state
        startedAt
        expiresAt
        exitCode
        pendingReason
        queuePosition
        resolvedSupport {
          timeExtension
          suspension
          logs
          sessionTypes
        }
      }
    }
  }
`);

const CHARGES = graphql(`
  query JobCharges {
    transactions(first: 200) {
      edges {
        node {
          id
          kind
          jobId
          amount
          provider
          category
          timestamp
          description
        }
      }
    }
  }
`);

graphql(`
  fragment OkResultFields on OkResult {
    ok
    error {
      code
      message
    }
  }
`);
const EXTEND = graphql(`
  mutation ExtendJob($id: ID!, $minutes: Int!) {
    extendJobs(items: [{ jobId: $id, requestedTime: { minutes: $minutes } }]) {
      ...OkResultFields
    }
  }
`);
const SUSPEND = graphql(`
  mutation SuspendJob($id: ID!) {
    suspendJobs(ids: [$id]) {
      ...OkResultFields
    }
  }
`);
const RESUME = graphql(`
  mutation ResumeJob($id: ID!) {
    unsuspendJobs(ids: [$id]) {
      ...OkResultFields
    }
  }
`);
const TERMINATE = graphql(`
  mutation TerminateJob($id: ID!) {
    terminateJobs(ids: [$id]) {
      ...OkResultFields
    }
  }
`);
const OPEN_SESSION = graphql(`
  mutation OpenSession($id: ID!, $type: InteractiveSessionType!) {
    openInteractiveSessions(items: [{ jobId: $id, sessionType: $type }]) {
      session {
        url
        expiresAt
      }
      error {
        code
        message
      }
    }
  }
`);

const SESSION_LABELS: Partial<Record<InteractiveSessionType, string>> = { SHELL: 'Open terminal', VNC: 'Open display' };

export function JobPage() {
  const id = useParams().id!;
  const api = useApi();
  const queryClient = useQueryClient();
  const job = useQuery({ queryKey: ['job', id], queryFn: () => api.request(JOB, { id }) });
  const charges = useQuery({ queryKey: ['charges'], queryFn: () => api.request(CHARGES, {}) });
  const followed = useFollowJob(id);
  const [actionError, setActionError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [sessionUrl, setSessionUrl] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [minutes, setMinutes] = useState(10);

  // A new state is a new moment to read the job again (its charges, its deadline, what it supports now).
  const liveState = followed.status?.state;
  useEffect(() => {
    if (!liveState) return;
    void queryClient.invalidateQueries({ queryKey: ['job', id] });
    if (isFinal(liveState)) void queryClient.invalidateQueries({ queryKey: ['charges'] });
  }, [liveState, id, queryClient]);

  if (job.error) return <ErrorMessage error={job.error} title="Job not loaded" />;
  if (job.isPending) return <Loading what="the job" />;
  const data = job.data.job;
  if (!data) return <ErrorMessage error={{ code: 'NOT_FOUND', message: `There is no job ${id} that you can see.` }} />;

  const state = followed.status?.state ?? data.status.state;
  const support = data.status.resolvedSupport;
  const ended = isFinal(state);

  const act = async (what: string, run: () => Promise<{ ok?: boolean; error?: { code: string; message: string } | null } | undefined>) => {
    setBusy(true);
    setActionError(null);
    setNotice(null);
    try {
      const result = await run();
      if (result?.error) setActionError(new ApiError(result.error.message, result.error.code));
      else setNotice(`${what}: done.`);
    } catch (error) {
      setActionError(ApiError.from(error));
    } finally {
      setBusy(false);
      void queryClient.invalidateQueries({ queryKey: ['job', id] });
    }
  };

  const openSession = (type: InteractiveSessionType) =>
    act(SESSION_LABELS[type] ?? type, async () => {
      const [result] = (await api.request(OPEN_SESSION, { id, type })).openInteractiveSessions;
      if (result?.session) {
        // The session's URL is a websocket's; opened as http(s) it is the gateway's page for it.
        const page = result.session.url.replace(/^ws/, 'http');
        setSessionUrl(page);
        window.open(page, '_blank', 'noopener');
      }
      return { error: result?.error };
    });

  const charged = (charges.data?.transactions.edges ?? []).map((edge) => edge.node).filter((t) => t.kind === 'CHARGE' && t.jobId === id);

  return (
    <>
      <p>
        <Link to="/jobs">← All jobs</Link>
      </p>
      <div className="page-head">
        <h1>
          {data.specification.name || 'Job'} <span className="muted mono">{data.id}</span>
        </h1>
        <span aria-live="polite" data-testid="job-state">
          <StateBadge state={state} />
        </span>
      </div>

      <section aria-labelledby="actions-heading" className="card">
        <h2 id="actions-heading">Actions</h2>
        <div className="actions">
          {support?.timeExtension && !ended ? (
            <form
              className="inline"
              onSubmit={(event) => {
                event.preventDefault();
                void act('Extend', async () => (await api.request(EXTEND, { id, minutes })).extendJobs[0]);
              }}
            >
              <label>
                <span>Minutes</span>
                <input type="number" min={1} max={10_000} value={minutes} onChange={(event) => setMinutes(Number(event.target.value))} required />
              </label>
              <button type="submit" disabled={busy}>
                Extend
              </button>
            </form>
          ) : null}
          {support?.suspension && state === 'RUNNING' ? (
            <button type="button" disabled={busy} onClick={() => act('Suspend', async () => (await api.request(SUSPEND, { id })).suspendJobs[0])}>
              Suspend
            </button>
          ) : null}
          {state === 'SUSPENDED' ? (
            <button type="button" disabled={busy} onClick={() => act('Resume', async () => (await api.request(RESUME, { id })).unsuspendJobs[0])}>
              Resume
            </button>
          ) : null}
          {state === 'RUNNING'
            ? (support?.sessionTypes ?? [])
                .filter((type) => SESSION_LABELS[type])
                .map((type) => (
                  <button key={type} type="button" disabled={busy} onClick={() => openSession(type)}>
                    {SESSION_LABELS[type]}
                  </button>
                ))
            : null}
          {!ended && state !== 'CANCELING' ? (
            <button
              type="button"
              className="danger"
              disabled={busy}
              onClick={() => act('Terminate', async () => (await api.request(TERMINATE, { id })).terminateJobs[0])}
            >
              Terminate
            </button>
          ) : null}
          {ended ? (
            <span className="muted">The job has ended{data.status.exitCode != null ? ` with exit code ${data.status.exitCode}` : ''}.</span>
          ) : null}
        </div>
        <div aria-live="polite">
          {notice ? <p className="notice">{notice}</p> : null}
          {sessionUrl ? (
            <p>
              The session opened in a new tab; if it did not,{' '}
              <a href={sessionUrl} target="_blank" rel="noopener noreferrer">
                open it here
              </a>
              .
            </p>
          ) : null}
        </div>
        {actionError ? <ErrorMessage error={actionError} title="Refused" /> : null}
      </section>

      <div className="columns">
        <section aria-labelledby="details-heading" className="card">
          <h2 id="details-heading">Details</h2>
          <dl className="details">
            <dt>Product</dt>
            <dd>
              {data.specification.product.id} ({data.specification.product.category}) at {data.provider.id}{' '}
              <span className="muted">({data.provider.kind})</span>
            </dd>
            <dt>Command</dt>
            <dd>
              <code>{data.specification.command?.join(' ') ?? '—'}</code>
            </dd>
            {data.specification.image ? (
              <>
                <dt>Image</dt>
                <dd>{data.specification.image}</dd>
              </>
            ) : null}
            <dt>Replicas</dt>
            <dd>{data.specification.replicas}</dd>
            <dt>Time allocation</dt>
            <dd>{duration(data.specification.timeAllocation)}</dd>
            <dt>Owner</dt>
            <dd>
              {data.owner.createdBy}
              {data.owner.project ? ` (project ${data.owner.project})` : ''}
            </dd>
            <dt>Created</dt>
            <dd>{dateTime(data.createdAt)}</dd>
            <dt>Started</dt>
            <dd>{dateTime(followed.status?.startedAt ?? data.status.startedAt)}</dd>
            <dt>Deadline</dt>
            <dd>{dateTime(followed.status?.expiresAt ?? data.status.expiresAt)}</dd>
            {data.status.pendingReason ? (
              <>
                <dt>Waiting because</dt>
                <dd>{data.status.pendingReason}</dd>
              </>
            ) : null}
            {data.specification.tags.length ? (
              <>
                <dt>Tags</dt>
                <dd>{data.specification.tags.join(', ')}</dd>
              </>
            ) : null}
            <dt>At the provider</dt>
            <dd className="mono">{data.providerGeneratedId ?? '—'}</dd>
          </dl>
        </section>

        <section aria-labelledby="charges-heading" className="card">
          <h2 id="charges-heading">Charges</h2>
          <p>
            Charged so far: <strong data-testid="credits-charged">{credits(data.creditsCharged)}</strong> credits
          </p>
          {charged.length ? (
            <ul className="plain">
              {charged.map((t) => (
                <li key={t.id}>
                  {dateTime(t.timestamp)}: {credits(t.amount)} from {t.category} at {t.provider}
                </li>
              ))}
            </ul>
          ) : (
            <p className="muted">No charge recorded yet.</p>
          )}
        </section>
      </div>

      <ProviderDetails jobId={id} kind={data.provider.kind} state={state} />

      <JobSharing jobId={id} />

      <section aria-labelledby="story-heading" className="card">
        <h2 id="story-heading">Story</h2>
        {followed.error ? <ErrorMessage error={followed.error} title="Live updates stopped" /> : null}
        <ol className="story" data-testid="story">
          {followed.updates.map((u) => (
            <li key={`${u.timestamp}|${u.state}|${u.status}`}>
              <time dateTime={u.timestamp}>{dateTime(u.timestamp)}</time> {u.state ? <StateBadge state={u.state} /> : null} {u.status ?? ''}
              {u.newTimeAllocation ? ` (extended by ${Math.round(u.newTimeAllocation / 60_000)} min)` : ''}
            </li>
          ))}
        </ol>
      </section>

      <LogSection logs={followed.logs} live={!followed.ended} supported={support?.logs ?? true} />
    </>
  );
}

function LogSection({ logs, live, supported }: { logs: ReturnType<typeof useFollowJob>['logs']; live: boolean; supported: boolean }) {
  const box = useRef<HTMLPreElement>(null);
  // Keep the newest line in view unless the reader scrolled up.
  useEffect(() => {
    const el = box.current;
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 80) el.scrollTop = el.scrollHeight;
  }, [logs]);
  return (
    <section aria-labelledby="logs-heading" className="card">
      <h2 id="logs-heading">Logs {live ? <span className="muted">(live)</span> : null}</h2>
      {!supported ? <p className="muted">This product keeps no logs.</p> : null}
      <pre className="logs" ref={box} tabIndex={0} role="log" aria-label="Job output" data-testid="logs">
        {logs.map((l) => (
          <span key={`${l.timestamp}|${l.rank}|${l.stdout}|${l.stderr}`} className={l.stderr ? 'stderr' : undefined}>
            {l.rank > 0 ? `[${l.rank}] ` : ''}
            {l.stdout ?? l.stderr ?? ''}
            {'\n'}
          </span>
        ))}
      </pre>
    </section>
  );
}
