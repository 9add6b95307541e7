/**
 * Benchmark: the cost of authorisation in a listing. `jobs(first: 50)` for a
 * member of 50 projects among 100,000 jobs, beside the same query for a user
 * in no project (the baseline), from the store directly and through GraphQL.
 * The member is ADMIN of 25 projects and USER of 25, with jobs shared with it
 * and with a group of it; it asks in its own workspace and in one project of
 * each role. Each user created 1,000 of the jobs.
 *
 * "Per-job check" rows time the plan listings had before the job sources
 * (gateway/store/job-sources.ts): the creator's or every job, with canSee
 * applied to each (gateway/jobs/job-queries.ts at that time). The same store,
 * the same data, the same run; the results of both plans are compared.
 */
import { viewerOf, type Viewer } from '../gateway/access/auth.js';
import { canSee, visibleSources } from '../gateway/access/job-access.js';
import { createMemoryStore } from '../gateway/store/memory-store.js';
import type { JobPage, JobQuery, ProjectRecord, Store } from '../gateway/store/store.js';
import type { Job } from '../shared/domain.js';
import { creatorName, fillStore, queuedJob, signUp, type FillResult } from './job-listing.js';
import type { Rig } from './rig.js';
import { measure, measureAlternating, type LatencySummary } from './stats.js';
import type { Row } from './table.js';

const JOBS = 100_000;
const PROJECTS = 100;
const MEMBER = 'member50';
const LONER = 'loner';
/** The member is ADMIN of projects 0 to 24 and USER of 25 to 49 (in their group "gpu"). */
const ADMIN_OF = 25;
const MEMBER_OF = 50;

const projectName = (k: number) => `p${String(k).padStart(3, '0')}`;

/**
 * The i-th of the jobs: every 100th the member's (in one of its projects, or personal), the
 * 50th of each hundred the loner's (personal), the rest spread over 500 creators, a third of
 * them personal, the others over 100 projects; in the member's USER projects one in ten shared
 * with it by name and one in ten with its group.
 */
function jobAt(i: number, createdAt: number): Job {
  if (i % 100 === 0) {
    const k = (i / 100) % (MEMBER_OF + 1);
    return queuedJob(createdAt, { createdBy: MEMBER, project: k === MEMBER_OF ? null : projectName(k) });
  }
  if (i % 100 === 50) return queuedJob(createdAt, { createdBy: LONER, project: null });
  const project = i % 3 === 0 ? null : projectName((i * 7 + Math.floor(i / 100)) % PROJECTS);
  const acl: Job['acl'] = [];
  const k = project === null ? -1 : Number(project.slice(1));
  if (k >= ADMIN_OF && k < MEMBER_OF && i % 10 === 1) acl.push({ entity: MEMBER, permissions: ['READ'] });
  if (k >= ADMIN_OF && k < MEMBER_OF && i % 10 === 2) acl.push({ entity: `${project}/gpu`, permissions: ['READ'] });
  return queuedJob(createdAt, { createdBy: creatorName(i % 500), project }, acl);
}

function projectAt(k: number, createdAt: number): ProjectRecord {
  const member = k < ADMIN_OF ? 'ADMIN' : 'USER';
  const inProject = k < MEMBER_OF;
  return {
    id: projectName(k),
    title: `Project ${k}`,
    archived: false,
    createdAt,
    createdBy: 'admin',
    members: [
      { username: `pi${k}`, role: 'PI', addedAt: createdAt },
      ...(inProject ? [{ username: MEMBER, role: member, addedAt: createdAt } as const] : []),
    ],
    groups: inProject && member === 'USER' ? [{ name: 'gpu', members: [MEMBER] }] : [],
    invites: [],
    version: 1,
  };
}

/** One listing measured: who asks, in which workspace. */
interface Case {
  name: string;
  user: string;
  project: string | null;
}

const CASES: Case[] = [
  { name: 'no projects, own workspace', user: LONER, project: null },
  { name: '50 projects, own workspace', user: MEMBER, project: null },
  { name: '50 projects, in one it is ADMIN of', user: MEMBER, project: projectName(0) },
  { name: '50 projects, in one it is USER of', user: MEMBER, project: projectName(ADMIN_OF) },
];

export interface CaseResult extends Case {
  totalCount: number;
  store: LatencySummary;
  /** The plan before the job sources. */
  perJobCheck: LatencySummary;
  graphql: LatencySummary | null;
}

export interface AuthorisationResult {
  fill: FillResult;
  redis: CaseResult[];
  memory: CaseResult[];
}

const LIST = `query { jobs(first: 50) { totalCount edges { node { id owner { createdBy project } } } } }`;

/** The listing as job-queries.ts asks for it now: the viewer's sources. */
const bySources = (viewer: Viewer, project: string | null): JobQuery => ({
  sources: visibleSources(viewer, project) ?? undefined,
  order: 'DESC',
  first: 50,
});

/** The listing as job-queries.ts asked for it before: the creator's jobs, or every job, each checked with canSee. */
const perJobCheck = (viewer: Viewer, project: string | null): JobQuery =>
  project === null
    ? { createdBy: viewer.username, predicate: (job) => canSee(viewer, job), order: 'DESC', first: 50 }
    : { predicate: (job) => job.owner.project === project && canSee(viewer, job), order: 'DESC', first: 50 };

const idsOf = (page: JobPage) => page.jobs.map((job) => job.id).join();

async function measureCases(store: Store, rig: Rig | null, calls: number): Promise<CaseResult[]> {
  const prepared = [];
  const clients = new Map<string, Awaited<ReturnType<typeof signUp>>>();
  for (const c of CASES) {
    const viewer = viewerOf({ username: c.user, admin: false }, await store.membershipsOf(c.user));
    const expected = await store.listJobs(bySources(viewer, c.project));
    const before = await store.listJobs(perJobCheck(viewer, c.project));
    if (idsOf(expected) !== idsOf(before) || expected.totalCount !== before.totalCount || expected.jobs.length !== 50) {
      throw new Error(
        `${c.name}: the sources answered ${expected.jobs.length} of ${expected.totalCount}, the per-job check ${before.jobs.length} of ${before.totalCount}`,
      );
    }
    let client = clients.get(c.user);
    if (rig && !client) clients.set(c.user, (client = await signUp(rig, c.user)));
    const inWorkspace = client?.in(c.project);
    prepared.push({
      c,
      expected,
      viaStore: () => store.listJobs(bySources(viewer, c.project)),
      perJob: () => store.listJobs(perJobCheck(viewer, c.project)),
      viaGraphql: async () => {
        const data = await inWorkspace!.ok<{ jobs: { totalCount: number; edges: { node: { id: string } }[] } }>(LIST);
        if (data.jobs.totalCount !== expected.totalCount || data.jobs.edges.map((edge) => edge.node.id).join() !== idsOf(expected)) {
          throw new Error(`${c.name}: GraphQL answered ${data.jobs.edges.length} of ${data.jobs.totalCount}, the store ${expected.totalCount}`);
        }
      },
    });
  }
  // Every case in turns, call after call: the ratios compare calls made at the same time.
  const viaStore = await measureAlternating(
    calls,
    prepared.map((p) => p.viaStore),
  );
  const viaGraphql = rig
    ? await measureAlternating(
        calls,
        prepared.map((p) => p.viaGraphql),
      )
    : null;
  const results: CaseResult[] = [];
  for (const [i, p] of prepared.entries()) {
    // Scanning every job per call: a few calls are enough to see it.
    const perJobCheck = await measure(p.c.project === null ? 20 : 3, p.perJob, 0);
    results.push({ ...p.c, totalCount: p.expected.totalCount, store: viaStore[i]!, perJobCheck, graphql: viaGraphql?.[i] ?? null });
  }
  return results;
}

/**
 * Fills `redisStore` (whose key prefix `rig` shares) and a memory store with the same jobs and
 * projects, and measures every case on both; GraphQL through `rig` only (the Redis store).
 */
export async function benchAuthorisation(redisStore: Store, rig: Rig, progress: (message: string) => void): Promise<AuthorisationResult> {
  const memoryStore = createMemoryStore();
  const base = Date.now() - JOBS * 1000;
  for (const store of [redisStore, memoryStore]) {
    for (let k = 0; k < PROJECTS; k++) {
      if (!(await store.createProject(projectAt(k, base)))) throw new Error(`project ${projectName(k)} exists already`);
    }
  }
  progress('authorisation: filling 100,000 jobs over 100 projects into Redis and memory');
  const fill = await fillStore(redisStore, { jobs: JOBS, jobAt });
  await fillStore(memoryStore, { jobs: JOBS, jobAt });
  progress(`authorisation: filled Redis in ${fill.seconds.toFixed(1)} s; measuring`);
  const redis = await measureCases(redisStore, rig, 200);
  const memory = await measureCases(memoryStore, null, 200);
  return { fill, redis, memory };
}

export function authorisationRows(result: AuthorisationResult): Row[] {
  const rows: Row[] = [];
  const bench = 'authorisation cost';
  for (const [storeName, cases] of [
    ['Redis', result.redis],
    ['memory', result.memory],
  ] as const) {
    const [baseline] = cases;
    for (const c of cases) {
      const isBaseline = c === baseline;
      const label = `${storeName} store.listJobs first 50, ${c.name} (${c.totalCount} visible), p50`;
      rows.push({
        benchmark: bench,
        metric: label,
        value: c.store.p50,
        unit: 'ms',
        ...(isBaseline
          ? { baseline: 'baseline' }
          : {
              baseline: `no projects ${baseline!.store.p50.toFixed(3)} ms`,
              ratio: c.store.p50 / baseline!.store.p50,
              aim: '≤ 1.3×',
              meetsAim: c.store.p50 / baseline!.store.p50 <= 1.3,
            }),
      });
      rows.push({
        benchmark: bench,
        metric: `${storeName} per-job check (the plan before), ${c.name}, p50 (${c.perJobCheck.count})`,
        value: c.perJobCheck.p50,
        unit: 'ms',
        baseline: `job sources ${c.store.p50.toFixed(3)} ms`,
        ratio: c.perJobCheck.p50 / c.store.p50,
      });
      if (c.graphql) {
        rows.push({
          benchmark: bench,
          metric: `GraphQL jobs(first: 50), ${c.name}, p50 (${c.graphql.count})`,
          value: c.graphql.p50,
          unit: 'ms',
          ...(isBaseline
            ? { baseline: 'baseline' }
            : {
                baseline: `no projects ${baseline!.graphql!.p50.toFixed(3)} ms`,
                ratio: c.graphql.p50 / baseline!.graphql!.p50,
                aim: '≤ 1.3×',
                meetsAim: c.graphql.p50 / baseline!.graphql!.p50 <= 1.3,
              }),
        });
      }
    }
  }
  return rows;
}
