/**
 * Reading jobs: one by id, or a page of those the viewer may see, filtered.
 * The store filters by what the viewer may see (job-access.ts's visibleSources),
 * owner, state, provider and creation time itself; the rest of the filter is a
 * predicate it applies while it pages.
 *
 * Which jobs a page holds depends on the workspace: in a project (JobFilter.project,
 * else the Project header), the project's jobs the viewer may see (job-access.ts);
 * in the viewer's own, the jobs it created (an administrator's: every job).
 */
import type { Job } from '../../shared/domain.js';
import { InvalidInputError, SwitchyardError } from '../../shared/errors.js';
import type { JobState } from '../../shared/job-state-machine.js';
import type { Viewer } from '../access/auth.js';
import { checkProjectMember, loadVisible, visibleSources } from '../access/job-access.js';
import { projectFor } from '../access/workspace.js';
import { sourcesOfCreators } from '../store/job-sources.js';
import type { JobPage, JobQuery, Store } from '../store/store.js';

export const MAX_PAGE_SIZE = 500;

export interface JobListInput {
  createdBy?: string[] | null;
  states?: JobState[] | null;
  providers?: string[] | null;
  productIds?: string[] | null;
  productCategories?: string[] | null;
  application?: string | null;
  name?: string | null;
  tags?: string[] | null;
  project?: string | null;
  createdAfter?: number | null;
  createdBefore?: number | null;
  ids?: string[] | null;
  /** Only jobs outside any project, as a platform whose own workspace is personal lists them (UCloud). */
  outsideProjects?: boolean;
}

export interface JobPageInput {
  first: number;
  after?: string | null;
  order: 'ASC' | 'DESC';
}

export interface JobQueries {
  /** The job or NOT_FOUND, also for another user's job. */
  getJob(viewer: Viewer, id: string): Promise<Job>;
  listJobs(viewer: Viewer, filter: JobListInput, page: JobPageInput, extra?: (job: Job) => boolean): Promise<JobPage>;
}

/** The filter's checks the store cannot index, as predicates. */
function predicates(filter: JobListInput): ((job: Job) => boolean)[] {
  const checks: ((job: Job) => boolean)[] = [];
  const anyOf = (values: string[] | null | undefined, of: (job: Job) => string) => {
    if (!values?.length) return;
    const set = new Set(values);
    checks.push((job) => set.has(of(job)));
  };
  anyOf(filter.ids, (job) => job.id);
  anyOf(filter.productIds, (job) => job.specification.product.id);
  anyOf(filter.productCategories, (job) => job.specification.product.category);
  if (filter.application) checks.push((job) => job.specification.application?.name === filter.application);
  const tags = filter.tags;
  if (tags?.length) checks.push((job) => tags.every((t) => job.specification.tags.includes(t)));
  return checks;
}

export function createJobQueries(store: Store): JobQueries {
  return {
    getJob: (viewer, id) => loadVisible(store, viewer, id),

    async listJobs(viewer, filter, page, extra) {
      if (!Number.isInteger(page.first) || page.first < 1 || page.first > MAX_PAGE_SIZE) {
        throw new InvalidInputError(`first must be between 1 and ${MAX_PAGE_SIZE}`);
      }
      const checks: ((job: Job) => boolean)[] = [];
      let createdBy: string | undefined;
      const project = projectFor(viewer, filter.project);
      if (project) checkProjectMember(viewer, project);
      // What the viewer may see, as the store indexes it: no job is checked one by one for it.
      let sources = visibleSources(viewer, project) ?? undefined;
      if (filter.outsideProjects) {
        if (sources) sources = sources.filter((source) => source.kind === 'personal');
        else checks.push((job) => job.owner.project === null);
      }
      if (filter.createdBy?.length) {
        const creators = new Set(filter.createdBy);
        const narrowed = sources && sourcesOfCreators(sources, creators);
        if (narrowed) sources = narrowed.sources;
        // When every source left is the creators' own, no job is checked for its creator (a
        // name is still looked up in its creator's index).
        if (!narrowed?.onlyTheirs || filter.name) {
          if (creators.size === 1) createdBy = filter.createdBy[0];
          else checks.push((job) => creators.has(job.owner.createdBy));
        }
      }
      checks.push(...predicates(filter));
      if (extra) checks.push(extra);
      const query: JobQuery = {
        sources,
        createdBy,
        // The store reads one creator's jobs of a name from an index, and checks the name otherwise.
        name: filter.name || undefined,
        states: filter.states?.length ? filter.states : undefined,
        providers: filter.providers?.length ? filter.providers : undefined,
        createdAfter: filter.createdAfter ?? undefined,
        createdBefore: filter.createdBefore ?? undefined,
        order: page.order,
        first: page.first,
        after: page.after ?? undefined,
        predicate: checks.length ? (job) => checks.every((check) => check(job)) : undefined,
      };
      try {
        return await store.listJobs(query);
      } catch (error) {
        if (error instanceof SwitchyardError) throw error;
        if (page.after) throw new InvalidInputError('after: not a cursor from this API');
        throw error;
      }
    },
  };
}
