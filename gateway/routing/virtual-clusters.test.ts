import { describe, expect, it } from 'vitest';

import { firstExceeded, type ResourceAmounts } from './quota-rules.js';
import { borrowingChecks, chooseReclaim, reclaimReason, type Holder, type VirtualClusterRecord } from './virtual-clusters.js';

const cluster = (project: string, guaranteed: VirtualClusterRecord['guaranteed'], borrowingLimit = {}): VirtualClusterRecord => ({
  project,
  provider: 'hpc',
  guaranteed,
  borrowingLimit,
  setBy: 'admin',
  setAt: 0,
});
const gpus = (gpu: number, jobs = 1): ResourceAmounts => ({ jobs, cpu: 16 * gpu, memoryInGigs: 0, gpu });
const holder = (jobId: string, workspace: string, at: number, gpu = 4, started = true): Holder => ({
  jobId,
  workspace,
  at,
  amounts: gpus(gpu),
  started,
});

describe('reclaim', () => {
  const genomics = cluster('genomics', { gpu: 8 });
  // physics borrows 12 GPUs (no guarantee), chem holds 4 within its own guarantee of 4.
  const holders = [
    holder('p1', 'project:physics', 1),
    holder('p2', 'project:physics', 2),
    holder('p3', 'project:physics', 3),
    holder('c1', 'project:chem', 4),
  ];
  const inUse = new Map([
    ['project:physics', gpus(12, 3)],
    ['project:chem', gpus(4)],
    ['project:genomics', gpus(0, 0)],
  ]);
  const clusters = [genomics, cluster('chem', { gpu: 4 })];

  it("stops the borrowers' newest jobs until the owner's job fits, never a job within its own workspace's guarantee", () => {
    const answer = chooseReclaim({ cluster: genomics, need: gpus(8), inUse, holders, clusters, stopping: new Set() });
    // chem's c1 is the newest but within chem's guarantee; physics's p3 then p2 go.
    expect(answer).toEqual({ kind: 'reclaim', victims: [holders[2], holders[1]], pending: 0 });
  });

  it('stops nothing for a job beyond its project guarantee, or when the borrowers could not free enough', () => {
    const full = new Map([...inUse, ['project:genomics', gpus(8, 2)]]);
    expect(chooseReclaim({ cluster: genomics, need: gpus(4), inUse: full, holders, clusters, stopping: new Set() }).kind).toBe('none');
    const few = [holder('p1', 'project:physics', 1)];
    const little = new Map([...inUse, ['project:physics', gpus(4)]]);
    const answer = chooseReclaim({
      cluster: cluster('genomics', { gpu: 12 }),
      need: gpus(8),
      inUse: little,
      holders: few,
      clusters,
      stopping: new Set(),
    });
    expect(answer.kind).toBe('none');
  });

  it('counts jobs already stopping for this job instead of stopping more, and a queued job frees no room', () => {
    const stopping = new Set(['p3']);
    expect(chooseReclaim({ cluster: genomics, need: gpus(4), inUse, holders, clusters, stopping })).toEqual({
      kind: 'reclaim',
      victims: [],
      pending: 1,
    });
    const queued = [...holders.slice(0, 2), holder('p3', 'project:physics', 3, 4, false)];
    const answer = chooseReclaim({ cluster: genomics, need: gpus(4), inUse, holders: queued, clusters, stopping: new Set() });
    // p3 waits at the provider and would take the room first: it goes too, and p2 frees the room.
    expect(answer).toEqual({ kind: 'reclaim', victims: [queued[2], queued[1]], pending: 0 });
  });

  it('says why in the status a reclaimed job ends with', () => {
    expect(reclaimReason(genomics)).toBe("preempted: reclaimed by project genomics's guarantee on hpc");
  });
});

describe('borrowing limits', () => {
  it('hold a project to its guarantee plus its borrowing limit on the provider, naming both', () => {
    const clusters = [cluster('genomics', { gpu: 4 }, { gpu: 2 })];
    const checks = borrowingChecks(clusters, { project: 'genomics', createdBy: 'ana' }, 'hpc', gpus(4));
    expect(checks.map((c) => c.check)).toEqual([{ field: '*\thpc\t*\tgpu', delta: 4, limit: 6 }]);
    expect(firstExceeded([checks[0]!.check], { '*\thpc\t*\tgpu': 4 })).toBe(0);
    expect(firstExceeded([checks[0]!.check], { '*\thpc\t*\tgpu': 2 })).toBe(-1);
    expect(checks[0]!.reason(4)).toBe('project genomics: borrowing limit on hpc: 4 of 6 GPUs in use (4 guaranteed, 2 borrowable)');
    // Not for another project, another provider, a personal workspace, or a resource without a limit.
    expect(borrowingChecks(clusters, { project: 'physics', createdBy: 'ana' }, 'hpc', gpus(4))).toEqual([]);
    expect(borrowingChecks(clusters, { project: 'genomics', createdBy: 'ana' }, 'cloud', gpus(4))).toEqual([]);
    expect(borrowingChecks(clusters, { project: null, createdBy: 'ana' }, 'hpc', gpus(4))).toEqual([]);
    expect(borrowingChecks([cluster('genomics', { gpu: 4 })], { project: 'genomics', createdBy: 'ana' }, 'hpc', gpus(4))).toEqual([]);
  });
});
