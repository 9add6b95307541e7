/** Resolvers of gateway/schema/quotas.graphql: each maps its arguments onto gateway/access/quotas.ts. */
import { createQuotaAdministration, type QuotaTarget } from '../access/quotas.js';
import { projectFor } from '../access/workspace.js';
import { decayedValue } from '../routing/fair-share.js';
import type { QuotaRecord } from '../store/store.js';
import type { GatewayContext } from './resolvers.js';
import type { QuotaTargetInput, Resolvers } from './schema-types.js';
import { iso } from './views.js';

export function quotaView(quota: QuotaRecord) {
  const { limits, setAt, ...target } = quota;
  const { jobs = null, cpu = null, memoryInGigs = null, gpu = null } = limits;
  return { ...target, maxJobs: jobs, maxCpu: cpu, maxMemoryInGigs: memoryInGigs, maxGpu: gpu, setAt: iso(setAt) };
}

/** A target from arguments: a project named, else the request's workspace; a user named alone is that user's own workspace. */
export function targetOf(ctx: GatewayContext, args: QuotaTargetInput): QuotaTarget {
  const project = args.project ?? (args.user ? null : projectFor(ctx.viewer, null));
  return { project, user: args.user ?? null, provider: args.provider ?? null, category: args.category ?? null };
}

const administration = (ctx: GatewayContext) => createQuotaAdministration(ctx.store, ctx.clock);

export function quotaQueries(): Pick<NonNullable<Resolvers['Query']>, 'quotas' | 'workspaceUsage'> {
  return {
    async quotas(_, args, ctx) {
      return (await administration(ctx).list(ctx.viewer, targetOf(ctx, args))).map(quotaView);
    },
    async workspaceUsage(_, args, ctx) {
      const providers = ctx.registry.list().map((entry) => entry.id);
      const usage = await administration(ctx).usage(ctx.viewer, targetOf(ctx, args), providers);
      return {
        project: usage.project,
        user: usage.user,
        inUse: usage.inUse,
        providers: usage.providers,
        quotas: usage.quotas.map(({ quota, inUse }) => ({ quota: quotaView(quota), inUse })),
        fairShareUsage: decayedValue(usage.fairShare, ctx.clock.now()),
      };
    },
  };
}

export function quotaMutations(): Pick<NonNullable<Resolvers['Mutation']>, 'setQuota' | 'removeQuota'> {
  return {
    async setQuota(_, { quota }, ctx) {
      const limits = { jobs: quota.maxJobs, cpu: quota.maxCpu, memoryInGigs: quota.maxMemoryInGigs, gpu: quota.maxGpu };
      return quotaView(await administration(ctx).set(ctx.viewer, targetOf(ctx, quota), limits));
    },
    async removeQuota(_, { quota }, ctx) {
      return administration(ctx).remove(ctx.viewer, targetOf(ctx, quota));
    },
  };
}
