import { describe, expect, it } from 'vitest';

import { createManualClock } from '../../shared/clock.js';
import { createMemoryStore } from '../store/memory-store.js';
import type { OidcIdentity } from './oidc-claims.js';
import { syncMemberships } from './oidc-memberships.js';

function identity(roles: Record<string, 'PI' | 'ADMIN' | 'USER'>, mapped: string[]): OidcIdentity {
  return {
    username: 'ann@acme',
    issuer: 'https://idp',
    subject: 'ann',
    admin: null,
    roles: new Map(Object.entries(roles)),
    mappedProjects: new Set(mapped),
  };
}

describe('syncing an OIDC user into the mapped projects', () => {
  it('writes only what changed, skips projects that do not exist, and leaves unmapped projects alone', async () => {
    const store = createMemoryStore();
    const clock = createManualClock(1_000);
    for (const id of ['genomics', 'physics']) {
      await store.createProject({
        id,
        title: id,
        archived: false,
        createdAt: 0,
        createdBy: 'admin',
        members: [{ username: 'pi', role: 'PI', addedAt: 0 }],
        groups: [],
        invites: [],
        version: 1,
      });
    }
    // physics is not mapped: a membership there, added by hand, stays.
    const physics = (await store.getProject('physics'))!;
    await store.updateProject({ ...physics, members: [...physics.members, { username: 'ann@acme', role: 'USER', addedAt: 0 }], version: 2 }, 1);

    const after = await syncMemberships({ store, clock }, identity({ genomics: 'ADMIN', absent: 'USER' }, ['genomics', 'absent']));
    expect(after.map((m) => [m.project, m.role]).sort()).toEqual([
      ['genomics', 'ADMIN'],
      ['physics', 'USER'],
    ]);
    expect((await store.getProject('genomics'))!.version).toBe(2);
    // The same claims again: nothing is written.
    await syncMemberships({ store, clock }, identity({ genomics: 'ADMIN' }, ['genomics']));
    expect((await store.getProject('genomics'))!.version).toBe(2);
    // Out of every mapped group: out of genomics, still in physics.
    const removed = await syncMemberships({ store, clock }, identity({}, ['genomics']));
    expect(removed.map((m) => m.project)).toEqual(['physics']);
    expect((await store.getProject('genomics'))!.members.map((m) => m.username)).toEqual(['pi']);
  });
});
