/**
 * Who sets and reads virtual clusters (a project's guaranteed share of a
 * provider, its borrowing limit there, and how much of it it lends; the policy is docs/TENANCY.md's,
 * what they do to jobs routing/virtual-clusters.ts's):
 *
 * | action                                        | who                              |
 * | --------------------------------------------- | -------------------------------- |
 * | set or remove a project's virtual cluster     | administrators                   |
 * | read a project's virtual clusters             | administrators and its members   |
 * | read every virtual cluster                    | administrators (others: theirs)  |
 *
 * Anyone else gets FORBIDDEN, the same whether or not the project exists.
 */
import type { Clock } from '../../shared/clock.js';
import { ForbiddenError, InvalidInputError } from '../../shared/errors.js';
import { GUARANTEED_RESOURCES, type GuaranteedResource } from '../routing/virtual-clusters.js';
import type { Store, VirtualClusterRecord } from '../store/store.js';
import type { Viewer } from './auth.js';
import { checkProjectMember } from './job-access.js';

export type ClusterResources = Partial<Record<GuaranteedResource, number | null>>;

export interface VirtualClusterInput {
  project: string;
  provider: string;
  guaranteed: ClusterResources;
  borrowingLimit?: ClusterResources | null;
  lendingLimit?: ClusterResources | null;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function checkId(what: string, value: string): string {
  if (typeof value !== 'string' || !ID.test(value)) throw new InvalidInputError(`${what} "${String(value).slice(0, 80)}" is not an id`);
  return value;
}

function checkResources(what: string, resources: ClusterResources | null | undefined): VirtualClusterRecord['guaranteed'] {
  const kept: VirtualClusterRecord['guaranteed'] = {};
  for (const resource of GUARANTEED_RESOURCES) {
    const value = resources?.[resource];
    if (value === null || value === undefined) continue;
    if (!Number.isFinite(value) || value < 0 || (resource === 'gpu' && !Number.isInteger(value)))
      throw new InvalidInputError(`${what} ${resource} must be a ${resource === 'gpu' ? 'whole ' : ''}number, not negative`);
    kept[resource] = value;
  }
  return kept;
}

export interface VirtualClusterAdministration {
  /** Set a project's virtual cluster on a provider the gateway knows (`providers`), replacing the one there. */
  set(viewer: Viewer, input: VirtualClusterInput, providers: string[]): Promise<VirtualClusterRecord>;
  /** False when there was none. */
  remove(viewer: Viewer, project: string, provider: string): Promise<boolean>;
  /** `project`'s; with none, every one the viewer may read (administrators: all; others: their projects'). */
  list(viewer: Viewer, filter: { project?: string | null; provider?: string | null }): Promise<VirtualClusterRecord[]>;
}

export function createVirtualClusterAdministration(store: Store, clock: Clock): VirtualClusterAdministration {
  const checkMaySet = async (viewer: Viewer, project: string) => {
    if (!viewer.admin) throw new ForbiddenError(`Only administrators set the virtual clusters of project ${project}`);
    if (!(await store.getProject(project))) throw new InvalidInputError(`There is no project ${project}`);
  };

  return {
    async set(viewer, input, providers) {
      const project = checkId('project', input.project);
      const provider = checkId('provider', input.provider);
      const guaranteed = checkResources('the guaranteed', input.guaranteed);
      const borrowingLimit = checkResources('the borrowing limit of', input.borrowingLimit);
      const lendingLimit = checkResources('the lending limit of', input.lendingLimit);
      for (const [resource, limit] of Object.entries(lendingLimit) as [GuaranteedResource, number][]) {
        const share = guaranteed[resource];
        if (share === undefined || limit > share)
          throw new InvalidInputError(`the lending limit of ${resource} (${limit}) must be at most its guarantee (${share ?? 'none'})`);
      }
      if (Object.keys(guaranteed).length === 0 && Object.keys(borrowingLimit).length === 0)
        throw new InvalidInputError(
          'a virtual cluster guarantees or limits at least one of cpu, memoryInGigs, gpu (removeVirtualCluster takes one away)',
        );
      await checkMaySet(viewer, project);
      if (!providers.includes(provider)) throw new InvalidInputError(`There is no provider ${provider}`);
      const cluster: VirtualClusterRecord = {
        project,
        provider,
        guaranteed,
        borrowingLimit,
        ...(Object.keys(lendingLimit).length > 0 ? { lendingLimit } : {}),
        setBy: viewer.username,
        setAt: clock.now(),
      };
      await store.putVirtualCluster(cluster);
      return cluster;
    },

    async remove(viewer, project, provider) {
      checkId('project', project);
      checkId('provider', provider);
      await checkMaySet(viewer, project);
      return store.deleteVirtualCluster(provider, project);
    },

    async list(viewer, filter) {
      const project = filter.project ? checkId('project', filter.project) : null;
      if (project) checkProjectMember(viewer, project);
      const all = await store.listVirtualClusters();
      return all.filter(
        (c) =>
          (project ? c.project === project : viewer.admin || viewer.memberships[c.project] !== undefined) &&
          (!filter.provider || c.provider === filter.provider),
      );
    },
  };
}
