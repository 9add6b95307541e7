/** Resolvers of gateway/schema/virtual-clusters.graphql: each maps its arguments onto gateway/access/virtual-clusters.ts and quotas.ts. */
import type { Job } from '../../shared/domain.js';
import { createQuotaAdministration, totalsOf } from '../access/quotas.js';
import { createVirtualClusterAdministration } from '../access/virtual-clusters.js';
import { projectWorkspace, providerCell } from '../routing/virtual-clusters.js';
import type { VirtualClusterRecord } from '../store/store.js';
import { quotaView, targetOf } from './quota-resolvers.js';
import type { GatewayContext } from './resolvers.js';
import type { Resolvers } from './schema-types.js';
import { iso } from './views.js';

const resources = (amounts: VirtualClusterRecord['guaranteed']) => ({
  cpu: amounts.cpu ?? null,
  memoryInGigs: amounts.memoryInGigs ?? null,
  gpu: amounts.gpu ?? null,
});

/** The clusters as the schema shows them, each with what its project holds on its provider now (one read of the usage). */
async function clusterViews(ctx: GatewayContext, clusters: VirtualClusterRecord[]) {
  const usages = await ctx.store.readUsage(clusters.map((c) => projectWorkspace(c.project)));
  return clusters.map((cluster, k) => ({
    project: cluster.project,
    provider: cluster.provider,
    guaranteed: resources(cluster.guaranteed),
    borrowingLimit: resources(cluster.borrowingLimit),
    lendingLimit: resources(cluster.lendingLimit ?? {}),
    inUse: totalsOf(usages[k]!.counters, providerCell(cluster.provider)),
    setBy: cluster.setBy,
    setAt: iso(cluster.setAt),
  }));
}

const clustersOf = (ctx: GatewayContext) => createVirtualClusterAdministration(ctx.store, ctx.clock);

export function virtualClusterQueries(): Pick<NonNullable<Resolvers['Query']>, 'virtualClusters' | 'usageHistory'> {
  return {
    async virtualClusters(_, args, ctx) {
      return clusterViews(ctx, await clustersOf(ctx).list(ctx.viewer, { project: args.project ?? null, provider: args.provider ?? null }));
    },
    async usageHistory(_, args, ctx) {
      const target = targetOf(ctx, { project: args.project, user: args.user });
      const range = { from: args.from, to: args.to, bucket: args.bucket };
      const quotas = createQuotaAdministration(ctx.store, ctx.clock);
      const clusters = target.project ? await clustersOf(ctx).list(ctx.viewer, { project: target.project }) : [];
      // Every provider of its shares (and the one asked for) is listed, with empty buckets when nothing ran there.
      const listed = [...clusters.map((c) => c.provider), ...(args.provider ? [args.provider] : [])];
      const productOf = (job: Job) => ctx.registry.product(job.providerId, job.specification.product.id);
      const [history, workspaceQuotas, views] = await Promise.all([
        quotas.history(ctx.viewer, target, range, productOf, listed),
        quotas.list(ctx.viewer, target),
        clusterViews(ctx, clusters),
      ]);
      const providers = history.providers.filter((p) => !args.provider || p.provider === args.provider);
      return {
        project: history.project,
        user: history.user,
        from: iso(range.from),
        to: iso(range.to),
        bucket: range.bucket,
        partial: history.partial,
        providers: providers.map(({ provider, buckets }) => ({
          provider,
          virtualCluster: views.find((v) => v.provider === provider) ?? null,
          quotas: workspaceQuotas.filter((q) => q.provider === null || q.provider === provider).map(quotaView),
          buckets: buckets.map((b) => ({ ...b, start: iso(b.start) })),
        })),
      };
    },
  };
}

export function virtualClusterMutations(): Pick<NonNullable<Resolvers['Mutation']>, 'setVirtualCluster' | 'removeVirtualCluster'> {
  return {
    async setVirtualCluster(_, { cluster }, ctx) {
      const providers = ctx.registry.list().map((entry) => entry.id);
      const stored = await clustersOf(ctx).set(ctx.viewer, cluster, providers);
      return (await clusterViews(ctx, [stored]))[0]!;
    },
    async removeVirtualCluster(_, args, ctx) {
      return clustersOf(ctx).remove(ctx.viewer, args.project, args.provider);
    },
  };
}
