import { describe, expect, it } from 'vitest';

import type { Job } from '../../shared/domain.js';
import { sourceName, sourcesOfCreators, sourcesOfJob } from '../store/job-sources.js';
import { viewerOf, type Viewer } from './auth.js';
import { allows, canSee, permissionOn, visibleSources, type Permission } from './job-access.js';

const job = (owner: Job['owner'], acl: Job['acl'] = []) => ({ owner, acl }) as Job;
const viewer = (username: string, memberships: Record<string, { role: 'PI' | 'ADMIN' | 'USER'; groups?: string[] }> = {}, admin = false): Viewer =>
  viewerOf(
    { username, admin },
    Object.entries(memberships).map(([project, m]) => ({ project, role: m.role, groups: m.groups ?? [] })),
  );

describe('permissionOn', () => {
  const shared = job({ createdBy: 'uma', project: 'lab' }, [
    { entity: 'rita', permissions: ['READ'] },
    { entity: 'lab/gpu', permissions: ['EDIT'] },
    { entity: 'eve', permissions: ['ADMIN'] },
  ]);
  it.each<[string, Viewer, Job, Permission | null]>([
    ['an administrator: ADMIN on anything', viewer('root', {}, true), shared, 'ADMIN'],
    ["a personal job's creator: ADMIN", viewer('uma'), job({ createdBy: 'uma', project: null }), 'ADMIN'],
    [
      'anyone else on a personal job: nothing, whatever its ACL says',
      viewer('rita'),
      job({ createdBy: 'uma', project: null }, [{ entity: 'rita', permissions: ['ADMIN'] }]),
      null,
    ],
    ["the project's PI: ADMIN", viewer('pia', { lab: { role: 'PI' } }), shared, 'ADMIN'],
    ["the project's ADMIN: ADMIN", viewer('ada', { lab: { role: 'ADMIN' } }), shared, 'ADMIN'],
    ['its creator, still a member: ADMIN', viewer('uma', { lab: { role: 'USER' } }), shared, 'ADMIN'],
    ['its creator, no longer a member: nothing', viewer('uma'), shared, null],
    ['a USER named READ: READ', viewer('rita', { lab: { role: 'USER' } }), shared, 'READ'],
    ['a USER in a group given EDIT: EDIT', viewer('gus', { lab: { role: 'USER', groups: ['gpu'] } }), shared, 'EDIT'],
    ['the highest of a name and a group entry', viewer('rita', { lab: { role: 'USER', groups: ['gpu'] } }), shared, 'EDIT'],
    ['a USER the ACL does not name: nothing', viewer('ned', { lab: { role: 'USER', groups: ['cpu'] } }), shared, null],
    ['a name in the ACL outside the project: nothing', viewer('eve'), shared, null],
    ['a same-named group of another project: nothing', viewer('gus', { other: { role: 'USER', groups: ['gpu'] } }), shared, null],
  ])('%s', (_what, who, target, expected) => {
    expect(permissionOn(who, target)).toBe(expected);
  });
});

describe('allows', () => {
  it('orders READ < EDIT < ADMIN, and nothing allows nothing', () => {
    expect([
      allows('READ', 'READ'),
      allows('READ', 'EDIT'),
      allows('EDIT', 'READ'),
      allows('EDIT', 'ADMIN'),
      allows('ADMIN', 'EDIT'),
      allows(null, 'READ'),
    ]).toEqual([true, false, true, false, true, false]);
  });
});

describe('visibleSources', () => {
  const owners: Job['owner'][] = ['uma', 'rita', 'pia'].flatMap((createdBy) => [null, 'lab', 'ops'].map((project) => ({ createdBy, project })));
  const acls: Job['acl'][] = [
    [],
    [{ entity: 'rita', permissions: ['READ'] }],
    [{ entity: 'lab/gpu', permissions: ['EDIT'] }],
    [{ entity: 'ops/gpu', permissions: ['ADMIN'] }],
    [{ entity: 'rita', permissions: [] }],
  ];
  const jobs = owners.flatMap((owner) => acls.map((acl) => job(owner, acl)));
  const viewers = [
    viewer('uma', { lab: { role: 'USER', groups: ['gpu'] }, ops: { role: 'ADMIN' } }),
    viewer('rita', { lab: { role: 'USER' } }),
    viewer('pia', { lab: { role: 'PI' } }),
    viewer('nobody'),
  ];

  it.each(viewers.flatMap((who) => [null, 'lab', 'ops'].map((project) => [who.username, project, who] as const)))(
    '%s in %s: the sources hold exactly the jobs of the workspace it may see',
    (_name, project, who) => {
      const sources = new Set(visibleSources(who, project)!.map(sourceName));
      for (const target of jobs) {
        const inWorkspace = project === null ? target.owner.createdBy === who.username : target.owner.project === project;
        const listed = sourcesOfJob(target).some((source) => sources.has(sourceName(source)));
        expect(listed, JSON.stringify(target)).toBe(inWorkspace && canSee(who, target));
      }
    },
  );

  it.each(viewers.flatMap((who) => [null, 'lab', 'ops'].map((project) => [who.username, project, who] as const)))(
    "%s in %s, by creator: the narrowed sources hold exactly those creators' jobs it may see, and only theirs when they say so",
    (_name, project, who) => {
      for (const creators of [['uma'], ['rita'], ['uma', 'pia'], ['nobody']]) {
        const wanted = new Set(creators);
        const narrowed = sourcesOfCreators(visibleSources(who, project)!, wanted);
        const sources = new Set(narrowed.sources.map(sourceName));
        for (const target of jobs) {
          const inWorkspace = project === null ? target.owner.createdBy === who.username : target.owner.project === project;
          const listed = sourcesOfJob(target).some((source) => sources.has(sourceName(source)));
          const created = wanted.has(target.owner.createdBy);
          if (narrowed.onlyTheirs) expect(listed && !created, JSON.stringify(target)).toBe(false);
          if (created) expect(listed, JSON.stringify(target)).toBe(inWorkspace && canSee(who, target));
        }
      }
    },
  );

  it("is every job for an administrator's own workspace, and the whole project in any other", () => {
    const root = viewer('root', {}, true);
    expect(visibleSources(root, null)).toBeNull();
    expect(visibleSources(root, 'lab')).toEqual([{ kind: 'project', project: 'lab' }]);
  });
});
