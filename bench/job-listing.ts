/**
 * Benchmark 2: one user's newest 50 jobs among 100,000 stored jobs, from the
 * Redis store directly and through GraphQL `jobs(first: 50)` as that user.
 */
import type { Store } from '../gateway/store/store.js';
import type { Job } from '../shared/domain.js';
import { createClient } from '../test/support/graphql-client.js';
import { makeJob } from '../test/support/jobs.js';
import type { Rig } from './rig.js';
import { measure, type LatencySummary } from './stats.js';

const LIST = `query { jobs(first: 50) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id createdAt status { state } owner { createdBy } specification { name product { id provider } } } } } }`;

export interface FillOptions {
  /** @default 100000 */
  jobs?: number;
  /** @default 500 */
  creators?: number;
  /** Jobs written at once (Promise.all). @default 1000 */
  batch?: number;
  /** The i-th job, created at `createdAt`. @default a personal job of the i-th creator in turn, as {@link fillStore} says */
  jobAt?: (i: number, createdAt: number) => Job;
}

export interface FillResult {
  jobs: number;
  creators: number;
  seconds: number;
  jobsPerSecond: number;
}

export const creatorName = (n: number) => `user${String(n).padStart(3, '0')}`;

/** Writes the jobs with store.createJob, spread evenly over the creators and over the last `jobs` seconds. */
export async function fillStore(store: Store, options: FillOptions = {}): Promise<FillResult> {
  const total = options.jobs ?? 100_000;
  const creators = options.creators ?? 500;
  const batch = options.batch ?? 1000;
  const base = Date.now() - total * 1000;
  const started = performance.now();
  for (let offset = 0; offset < total; offset += batch) {
    const jobs: Job[] = [];
    for (let i = offset; i < Math.min(total, offset + batch); i++) {
      const createdAt = base + i * 1000;
      jobs.push(options.jobAt ? options.jobAt(i, createdAt) : queuedJob(createdAt, { createdBy: creatorName(i % creators), project: null }));
    }
    const outcomes = await Promise.all(jobs.map((job) => store.createJob(job, { exclusive: false })));
    const refused = outcomes.filter((outcome) => !outcome.created).length;
    if (refused > 0) throw new Error(`fill: the store refused ${refused} of ${jobs.length} jobs`);
  }
  const seconds = (performance.now() - started) / 1000;
  return { jobs: total, creators, seconds, jobsPerSecond: total / seconds };
}

/** The password of every user the benchmarks create. */
export const BENCH_PASSWORD = 'bench-password';

/** Creates `user` through the rig's administrator and logs it in: a GraphQL client with its token. */
export async function signUp(rig: Rig, user: string): Promise<ReturnType<typeof createClient>> {
  await rig.admin.ok(`mutation ($u: String!, $p: String!) { createUser(username: $u, password: $p) { username } }`, { u: user, p: BENCH_PASSWORD });
  return createClient(rig.url, await logIn(rig, user));
}

/** A Switchyard token of `user` (created by {@link signUp}) from POST /api/v1/token. */
export async function logIn(rig: Rig, user: string): Promise<string> {
  const res = await fetch(`${rig.url}/api/v1/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: user, password: BENCH_PASSWORD }),
  });
  if (!res.ok) throw new Error(`POST /api/v1/token answered HTTP ${res.status}`);
  const { token } = (await res.json()) as { token: string };
  return token;
}

/** A job just submitted, as the fill stores them. */
export function queuedJob(createdAt: number, owner: Job['owner'], acl: Job['acl'] = []): Job {
  return makeJob({
    createdAt,
    owner,
    acl,
    updates: [{ state: 'IN_QUEUE', status: 'Job submitted to local/cpu-1', newTimeAllocation: null, timestamp: createdAt }],
  });
}

export interface JobListingResult {
  user: string;
  /** What the user owns, as the store counted it. */
  totalCount: number;
  store: LatencySummary;
  graphql: LatencySummary;
}

/**
 * Measures store.listJobs and GraphQL jobs(first: 50) for `user`, whose jobs
 * are already in the rig's store; creates the user and logs in first.
 */
export async function benchJobListing(rig: Rig, store: Store, user: string, calls = 200): Promise<JobListingResult> {
  let totalCount = -1;
  const storeLatency = await measure(
    calls,
    async () => {
      const page = await store.listJobs({ createdBy: user, order: 'DESC', first: 50 });
      if (page.jobs.length !== 50) throw new Error(`store.listJobs returned ${page.jobs.length} jobs, not 50`);
      totalCount = page.totalCount;
    },
    20,
  );

  const client = await signUp(rig, user);

  const graphqlLatency = await measure(
    calls,
    async () => {
      const data = await client.ok<{ jobs: { totalCount: number; edges: { node: { owner: { createdBy: string } } }[] } }>(LIST);
      if (data.jobs.edges.length !== 50 || data.jobs.edges.some((edge) => edge.node.owner.createdBy !== user)) {
        throw new Error(`jobs(first: 50) returned ${data.jobs.edges.length} jobs, or some of another user`);
      }
    },
    20,
  );
  return { user, totalCount, store: storeLatency, graphql: graphqlLatency };
}
