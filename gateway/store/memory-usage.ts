/**
 * Quotas and usage holds for the embedded Store, answering as
 * lua/acquire-usage-2.lua and lua/release-usage-2.lua do: each call runs to
 * its end before another starts, which is what makes it atomic here.
 */
import { randomUUID } from 'node:crypto';

import type { QuotaRecord, ReclaimLedger, Store, UsageLease, VirtualClusterRecord, WorkspaceUsage } from './store.js';

const RESOURCES = ['jobs', 'cpu', 'memoryInGigs', 'gpu'] as const;

interface Usage {
  counters: Map<string, number>;
  leases: Map<string, string>;
  fairShare: { value: number; at: number } | null;
}

type UsageMethods = Pick<
  Store,
  | 'putQuota'
  | 'deleteQuota'
  | 'listQuotas'
  | 'acquireUsage'
  | 'releaseUsage'
  | 'readUsage'
  | 'putVirtualCluster'
  | 'deleteVirtualCluster'
  | 'listVirtualClusters'
  | 'readReclaims'
  | 'swapReclaims'
>;

const decay = (value: number, elapsedMs: number, halfLifeMs: number) => value * 2 ** (-Math.max(0, elapsedMs) / halfLifeMs);

export function createMemoryUsage(): UsageMethods {
  const quotas = new Map<string, Map<string, QuotaRecord>>();
  const usages = new Map<string, Usage>();
  /** By `<provider>\t<project>`, as the Redis hash keeps them. */
  const clusters = new Map<string, VirtualClusterRecord>();
  /** By provider. */
  const reclaims = new Map<string, ReclaimLedger & { version: string }>();

  const usageOf = (workspace: string): Usage => {
    let usage = usages.get(workspace);
    if (!usage) usages.set(workspace, (usage = { counters: new Map(), leases: new Map(), fairShare: null }));
    return usage;
  };

  const add = (usage: Usage, lease: UsageLease, sign: 1 | -1) => {
    for (const cell of lease.cells) {
      for (const resource of RESOURCES) {
        const amount = lease.amounts[resource];
        if (amount === 0) continue;
        const field = `${cell}\t${resource}`;
        usage.counters.set(field, (usage.counters.get(field) ?? 0) + sign * amount);
      }
    }
  };

  const chargeFairShare = (usage: Usage, now: number, halfLifeMs: number, amount: number) => {
    const at = usage.fairShare?.at ?? now;
    const value = Math.max(0, decay(usage.fairShare?.value ?? 0, now - at, halfLifeMs) + amount);
    usage.fairShare = { value, at: Math.max(now, at) };
  };

  return {
    async putVirtualCluster(cluster) {
      clusters.set(`${cluster.provider}\t${cluster.project}`, structuredClone(cluster));
    },

    async deleteVirtualCluster(provider, project) {
      return clusters.delete(`${provider}\t${project}`);
    },

    async listVirtualClusters() {
      return [...clusters].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, cluster]) => structuredClone(cluster));
    },

    async readReclaims(providerId) {
      const ledger = reclaims.get(providerId);
      return ledger ? structuredClone(ledger) : { version: null, claims: [] };
    },

    async swapReclaims(providerId, expectVersion, claims) {
      if ((reclaims.get(providerId)?.version ?? null) !== expectVersion) return false;
      if (claims.length === 0) reclaims.delete(providerId);
      else reclaims.set(providerId, { version: randomUUID(), claims: structuredClone(claims) });
      return true;
    },

    async putQuota(workspace, key, quota) {
      let entries = quotas.get(workspace);
      if (!entries) quotas.set(workspace, (entries = new Map()));
      entries.set(key, structuredClone(quota));
    },

    async deleteQuota(workspace, key) {
      return quotas.get(workspace)?.delete(key) ?? false;
    },

    async listQuotas(workspace) {
      return [...(quotas.get(workspace) ?? [])].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, quota]) => structuredClone(quota));
    },

    async acquireUsage(workspace, lease, checks, halfLifeMs) {
      const usage = usageOf(workspace);
      const doc = JSON.stringify(lease);
      const previous = usage.leases.get(lease.jobId);
      if (previous === doc) return { acquired: true };
      const old = previous === undefined ? null : (JSON.parse(previous) as UsageLease);
      if (old) add(usage, old, -1);
      const check = checks.findIndex((c) => (usage.counters.get(c.field) ?? 0) + c.delta > c.limit + 1e-9);
      if (check >= 0) {
        const inUse = usage.counters.get(checks[check]!.field) ?? 0;
        if (old) add(usage, old, 1);
        return { acquired: false, check, inUse };
      }
      add(usage, lease, 1);
      usage.leases.set(lease.jobId, doc);
      if (!old) chargeFairShare(usage, lease.at, halfLifeMs, lease.cost);
      return { acquired: true };
    },

    async releaseUsage(workspace, jobId, now, halfLifeMs) {
      const usage = usages.get(workspace);
      const previous = usage?.leases.get(jobId);
      if (!usage || previous === undefined) return false;
      const lease = JSON.parse(previous) as UsageLease;
      add(usage, lease, -1);
      usage.leases.delete(jobId);
      const elapsed = Math.max(0, now - lease.at);
      chargeFairShare(usage, now, halfLifeMs, (lease.weight * elapsed) / 1000 - decay(lease.cost, elapsed, halfLifeMs));
      return true;
    },

    async readUsage(workspaces): Promise<WorkspaceUsage[]> {
      return workspaces.map((workspace) => {
        const usage = usages.get(workspace);
        return {
          counters: Object.fromEntries(usage?.counters ?? []),
          leases: [...(usage?.leases.values() ?? [])].map((lease) => JSON.parse(lease) as UsageLease),
          fairShare: usage?.fairShare ? { ...usage.fairShare } : null,
        };
      });
    },
  };
}
