/**
 * Bringing an OIDC user's memberships in line with its token: in each project
 * the issuer's mapping names, the user holds the role its groups give it, or
 * none. Projects the mapping does not name are left alone (members added by
 * hand stay). A project always keeps one PI: a user mapped to PI takes the
 * role over (the previous PI becomes an ADMIN, as transferPi does), and a PI
 * keeps the role whatever its claims say until it is transferred.
 */
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { MembershipRecord, ProjectRecord, ProjectRole, Store } from '../store/store.js';
import type { OidcIdentity } from './oidc-claims.js';
import { withoutUser } from './projects.js';

/** Compare-and-set attempts on one project before the sign-in leaves it for the next one. */
const ATTEMPTS = 10;

/** The project with `username` in the role `wanted` (null: not a member); null when nothing changes. */
export function reconcileMembership(project: ProjectRecord, username: string, wanted: ProjectRole | null, now: number): ProjectRecord | null {
  const member = project.members.find((m) => m.username === username);
  if (member ? member.role === 'PI' || member.role === wanted : wanted === null) return null;
  if (wanted === null) return withoutUser(project, username);
  const members = project.members.map((m) => {
    if (m.username === username) return { ...m, role: wanted };
    return wanted === 'PI' && m.role === 'PI' ? { ...m, role: 'ADMIN' as const } : m;
  });
  if (!member) members.push({ username, role: wanted, addedAt: now });
  return { ...project, members, invites: project.invites.filter((i) => i.username !== username) };
}

/**
 * Applies {@link reconcileMembership} to every project the identity's issuer maps (a project that
 * does not exist is skipped), and answers the user's memberships after it.
 */
export async function syncMemberships(deps: { store: Store; clock: Clock; logger?: Logger }, identity: OidcIdentity): Promise<MembershipRecord[]> {
  const { store, clock } = deps;
  const before = await store.membershipsOf(identity.username);
  const held = new Map(before.map((m) => [m.project, m.role]));
  let changed = false;
  for (const id of identity.mappedProjects) {
    const wanted = identity.roles.get(id) ?? null;
    const role = held.get(id) ?? null;
    if (role === wanted || role === 'PI') continue;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const project = await store.getProject(id);
      if (!project) {
        deps.logger?.warn({ project: id, issuer: identity.issuer }, 'the OIDC membership mapping names a project that does not exist');
        break;
      }
      const next = reconcileMembership(project, identity.username, wanted, clock.now());
      if (!next) break;
      if (await store.updateProject({ ...next, version: project.version + 1 }, project.version)) {
        changed = true;
        break;
      }
    }
  }
  return changed ? store.membershipsOf(identity.username) : before;
}
