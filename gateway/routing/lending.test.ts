import { describe, expect, it } from 'vitest';

import type { VirtualClusterRecord } from '../store/store.js';
import { lendingClusters, lendingRefusal, lendingView, takeLent } from './lending.js';

const cluster = (project: string, gpu: number, lend: number | undefined): VirtualClusterRecord => ({
  project,
  provider: 'hpc',
  guaranteed: { gpu },
  borrowingLimit: {},
  ...(lend === undefined ? {} : { lendingLimit: { gpu: lend } }),
  setBy: 'admin',
  setAt: 0,
});
const gpu4 = { cpu: 16, memoryInGigs: 64, gpu: 4 };
/** 16 GPUs, `used` of them in use. */
const hpc = (used: number) => ({ capacity: { cpu: 128, memoryInGigs: 1024, gpu: 16 }, usedCapacity: { cpu: 0, memoryInGigs: 0, gpu: used } });
const genomics = { project: 'genomics', createdBy: 'ana' };
const physics = { project: 'physics', createdBy: 'bo' };

describe('lending limits', () => {
  const clusters = lendingClusters([cluster('genomics', 8, 4), cluster('chem', 4, undefined)]);
  const view = (genomicsUses: number) => lendingView(clusters, [{ '*\thpc\t*\tgpu': genomicsUses }]);

  it('keep the part of an idle guarantee past its lending limit from every other workspace', () => {
    expect(clusters.map((c) => c.project)).toEqual(['genomics']);
    // 8 free, 4 kept: one more job of 4 fits, the next would take the kept ones.
    expect(lendingRefusal(view(0), physics, 'hpc', gpu4, 1, hpc(8))).toBeNull();
    expect(lendingRefusal(view(0), physics, 'hpc', gpu4, 1, hpc(12))).toBe(
      'hpc keeps 4 of its 4 free GPUs for guarantees it does not lend: 4 for project genomics (it lends 4 of its 8)',
    );
    expect(lendingRefusal(view(0), { project: null, createdBy: 'bo' }, 'hpc', gpu4, 2, hpc(8))).not.toBeNull();
    // Not from the project itself, not on another provider, not when the room is not known.
    expect(lendingRefusal(view(0), genomics, 'hpc', gpu4, 1, hpc(12))).toBeNull();
    expect(lendingRefusal(view(0), physics, 'cloud', gpu4, 1, hpc(12))).toBeNull();
    expect(lendingRefusal(view(0), physics, 'hpc', gpu4, 1, null)).toBeNull();
  });

  it('keep nothing of what the project uses itself, and count what a sweep placed', () => {
    expect(lendingRefusal(view(4), physics, 'hpc', gpu4, 1, hpc(12))).toBeNull();
    const sweep = view(0);
    takeLent(sweep, physics, 'hpc', gpu4, 1);
    expect(lendingRefusal(sweep, physics, 'hpc', gpu4, 1, hpc(8))).not.toBeNull();
    // The project's own job uses its kept share: the rest may be lent.
    const own = view(0);
    takeLent(own, genomics, 'hpc', gpu4, 1);
    expect(lendingRefusal(own, physics, 'hpc', gpu4, 1, hpc(8))).toBeNull();
  });
});
