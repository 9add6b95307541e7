/**
 * The indexes a job listing reads who-may-see-what from. Each job is in the
 * sources its owner and ACL place it in (facts of the job, no rule); which of
 * them a viewer may read is the rule, in gateway/access/job-access.ts. Both
 * stores keep one id index per source, in step with create, discard and
 * setJobAcl (a job's owner never changes; memberships are read per request,
 * so changing a project moves no job).
 */
import type { AclEntry, Job } from '../../shared/domain.js';

export type JobSource =
  /** Jobs created outside any project by this user. */
  | { kind: 'personal'; createdBy: string }
  /** Every job of the project. */
  | { kind: 'project'; project: string }
  /** The project's jobs this user created. */
  | { kind: 'projectCreator'; project: string; createdBy: string }
  /** The project's jobs whose ACL gives this entity (a user name or "project/group") any permission. */
  | { kind: 'shared'; project: string; entity: string };

/** The sources of a job that its ACL places it in: one per entity that holds a permission. */
export function sharedSources(project: string | null, acl: readonly AclEntry[]): JobSource[] {
  if (!project) return [];
  const entities = new Set(acl.filter((entry) => entry.permissions.length > 0).map((entry) => entry.entity));
  return [...entities].sort().map((entity) => ({ kind: 'shared', project, entity }));
}

/** Every source the job is in. */
export function sourcesOfJob(job: Pick<Job, 'owner' | 'acl'>): JobSource[] {
  const { project, createdBy } = job.owner;
  if (!project) return [{ kind: 'personal', createdBy }];
  return [{ kind: 'project', project }, { kind: 'projectCreator', project, createdBy }, ...sharedSources(project, job.acl)];
}

/** Whether a job is in at least one of `sources`: the check a listing read from another index makes. */
export function inSources(sources: readonly JobSource[]): (job: Pick<Job, 'owner' | 'acl'>) => boolean {
  const wanted = new Set(sources.map(sourceName));
  return (job) => sourcesOfJob(job).some((source) => wanted.has(sourceName(source)));
}

/**
 * A name for the source, equal for equal sources: its parts joined by NUL, which no user, project or
 * group name holds (a listing names every source it reads, so this is kept cheap).
 */
export function sourceName(source: JobSource): string {
  switch (source.kind) {
    case 'personal':
      return `personal\u0000${source.createdBy}`;
    case 'project':
      return `project\u0000${source.project}`;
    case 'projectCreator':
      return `projectCreator\u0000${source.project}\u0000${source.createdBy}`;
    case 'shared':
      return `shared\u0000${source.project}\u0000${source.entity}`;
  }
}

/**
 * The sources once each, in a stable order, without those a project source
 * covers: every job of a project is in its project source, so its creators'
 * and ACL sources beside it add nothing.
 */
export function distinctSources(sources: readonly JobSource[]): JobSource[] {
  const wholeProjects = new Set(sources.flatMap((source) => (source.kind === 'project' ? [source.project] : [])));
  const covered = (source: JobSource) => (source.kind === 'projectCreator' || source.kind === 'shared') && wholeProjects.has(source.project);
  return [...new Map(sources.filter((source) => !covered(source)).map((source) => [sourceName(source), source])).entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([, source]) => source);
}

/**
 * The sources' positions in groups that share no job: a project's sources
 * together (its creators' and its ACL sources can hold the same job), each
 * personal source alone. Only within a group must a union be counted.
 */
export function overlapGroups(sources: readonly JobSource[]): number[][] {
  const groups = new Map<string, number[]>();
  sources.forEach((source, at) => {
    const group = source.kind === 'personal' ? `personal:${at}` : `project:${source.project}`;
    groups.set(group, [...(groups.get(group) ?? []), at]);
  });
  return [...groups.values()];
}

/**
 * Whether two of these (distinct) sources can hold the same job, so that their union is
 * counted rather than summed: an ACL source, or a project beside one of its creators.
 */
export function sourcesOverlap(sources: readonly JobSource[]): boolean {
  const projects = new Set(sources.flatMap((source) => (source.kind === 'project' ? [source.project] : [])));
  return sources.some((source) => source.kind === 'shared' || (source.kind === 'projectCreator' && projects.has(source.project)));
}

/**
 * When every source is one user's own jobs (personal, or in a project), that user and
 * the projects (null: personal) they cover; else null. A store can then read the
 * creator's indexes, which it keeps per state, and check the project of each job.
 */
export function soleCreator(sources: readonly JobSource[]): { createdBy: string; projects: Set<string | null> } | null {
  const creators = new Set<string>();
  const projects = new Set<string | null>();
  for (const source of sources) {
    if (source.kind === 'personal') projects.add(null);
    else if (source.kind === 'projectCreator') projects.add(source.project);
    else return null;
    creators.add(source.createdBy);
  }
  return creators.size === 1 ? { createdBy: [...creators][0]!, projects } : null;
}

/**
 * The sources that can hold jobs of `creators`, and whether every one of them holds only
 * theirs (a user's personal or in-project source), so that a listing by creator reads
 * those indexes alone and checks the creator on no job.
 */
export function sourcesOfCreators(sources: readonly JobSource[], creators: ReadonlySet<string>): { sources: JobSource[]; onlyTheirs: boolean } {
  const kept = sources.filter((source) => !('createdBy' in source) || creators.has(source.createdBy));
  return { sources: kept, onlyTheirs: kept.every((source) => 'createdBy' in source) };
}
