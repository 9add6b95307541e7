/** The caller's jobs, newest first: filtered by state, a page at a time, each state live. */
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Link, useSearchParams } from 'react-router';

import { ErrorMessage, Loading, StateBadge } from '../components';
import { dateTime, isFinal, JOB_STATES } from '../format';
import { graphql } from '../gql';
import type { JobState } from '../gql/graphql';
import { useLiveStates } from '../live';
import { Pager, useCursorPages } from '../paging';
import { useApi } from '../session';

const PAGE_SIZE = 20;

const JOBS = graphql(`
  query Jobs($filter: JobFilter, $first: Int, $after: String) {
    jobs(filter: $filter, first: $first, after: $after) {
      totalCount
      pageInfo {
        ...PageFields
      }
      edges {
        node {
          id
          createdAt
          creditsCharged
          specification {
            name
            command
            product {
              id
              provider
            }
          }
          status {
            state
            exitCode
          }
        }
      }
    }
  }
`);

export function JobsPage() {
  const api = useApi();
  const [params, setParams] = useSearchParams();
  const state = params.get('state') as JobState | null;
  const pages = useCursorPages();
  const after = pages.after;
  const jobs = useQuery({
    queryKey: ['jobs', state, after],
    queryFn: () => api.request(JOBS, { filter: state ? { states: [state] } : null, first: PAGE_SIZE, after }),
    placeholderData: keepPreviousData,
    // Jobs submitted elsewhere (the command line, another tab) show up without a reload.
    refetchInterval: 30_000,
  });
  const nodes = jobs.data?.jobs.edges.map((edge) => edge.node) ?? [];
  const live = useLiveStates(
    nodes.map((job) => ({ id: job.id, state: job.status.state })),
    isFinal,
  );

  return (
    <>
      <div className="page-head">
        <h1>Jobs</h1>
        <Link className="button" to="/submit">
          Submit a job
        </Link>
      </div>
      <form className="filters" role="search" onSubmit={(event) => event.preventDefault()}>
        <label>
          <span>State</span>
          <select
            name="state"
            value={state ?? ''}
            onChange={(event) => {
              pages.reset();
              setParams(event.target.value ? { state: event.target.value } : {});
            }}
          >
            <option value="">Any</option>
            {JOB_STATES.map((s) => (
              <option key={s} value={s}>
                {s.replace('_', ' ')}
              </option>
            ))}
          </select>
        </label>
        {jobs.data ? (
          <span className="muted" role="status">
            {jobs.data.jobs.totalCount} {jobs.data.jobs.totalCount === 1 ? 'job' : 'jobs'}
          </span>
        ) : null}
      </form>
      {jobs.error ? <ErrorMessage error={jobs.error} title="Jobs not loaded" /> : null}
      {jobs.isPending ? <Loading what="jobs" /> : null}
      {jobs.data && nodes.length === 0 ? <p>No jobs{state ? ` in state ${state.replace('_', ' ')}` : ''} yet.</p> : null}
      {nodes.length > 0 ? (
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">Jobs, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">State</th>
                <th scope="col">Product</th>
                <th scope="col">Command</th>
                <th scope="col">Created</th>
                <th scope="col" className="number">
                  Credits
                </th>
              </tr>
            </thead>
            <tbody>
              {nodes.map((job) => (
                <tr key={job.id} data-job-id={job.id}>
                  <td>
                    <Link to={`/jobs/${encodeURIComponent(job.id)}`}>{job.specification.name || job.id.slice(0, 13)}</Link>
                  </td>
                  <td>
                    {/* A final state read from the list stands; until then the live one is newer. */}
                    <StateBadge state={isFinal(job.status.state) ? job.status.state : (live.get(job.id) ?? job.status.state)} />
                  </td>
                  <td>
                    {job.specification.product.id} <span className="muted">@ {job.specification.product.provider}</span>
                  </td>
                  <td>
                    <code>{job.specification.command?.join(' ') ?? '—'}</code>
                  </td>
                  <td>{dateTime(job.createdAt)}</td>
                  <td className="number">{job.creditsCharged.toLocaleString()}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <Pager label="Pages of jobs" pages={pages} pageInfo={jobs.data?.jobs.pageInfo} />
    </>
  );
}
