import { describe, expect, it } from 'vitest';

import { distinctSources, overlapGroups, sourcesOverlap, type JobSource } from './job-sources.js';

const project = (p: string): JobSource => ({ kind: 'project', project: p });
const creator = (p: string, u: string): JobSource => ({ kind: 'projectCreator', project: p, createdBy: u });
const shared = (p: string, e: string): JobSource => ({ kind: 'shared', project: p, entity: e });
const personal = (u: string): JobSource => ({ kind: 'personal', createdBy: u });

describe('the sources a listing reads', () => {
  it('are read once each, and not beside the whole project that holds them', () => {
    const sources = distinctSources([
      creator('a', 'ann'),
      project('a'),
      shared('a', 'ann'),
      creator('b', 'ann'),
      creator('b', 'ann'),
      personal('ann'),
    ]);
    expect(sources).toEqual([personal('ann'), project('a'), creator('b', 'ann')]);
    // What is left cannot hold a job twice: counts are summed.
    expect(sourcesOverlap(sources)).toBe(false);
  });

  it("group a project's sources, which may share a job, and keep each personal source alone", () => {
    const sources = [personal('ann'), creator('b', 'ann'), project('a'), shared('b', 'ann'), shared('b', 'b/gpu'), personal('bob')];
    expect(overlapGroups(sources)).toEqual([[0], [1, 3, 4], [2], [5]]);
  });
});
