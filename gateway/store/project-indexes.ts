/**
 * What each user's indexes hold for one project: their membership (role and
 * groups) and their invitation. Both stores derive them from the project with
 * this, and rewrite only the entries that differ from the project's last version.
 */
import type { InvitationRecord, MembershipRecord, ProjectRecord } from './store.js';

export interface ProjectIndexes {
  memberships: Map<string, MembershipRecord>;
  invitations: Map<string, InvitationRecord>;
}

export function projectIndexes(project: ProjectRecord | null): ProjectIndexes {
  const memberships = new Map<string, MembershipRecord>();
  const invitations = new Map<string, InvitationRecord>();
  if (!project) return { memberships, invitations };
  for (const member of project.members) {
    const groups = project.groups.filter((group) => group.members.includes(member.username)).map((group) => group.name);
    memberships.set(member.username, { project: project.id, role: member.role, groups });
  }
  for (const { username, ...invite } of project.invites) invitations.set(username, { project: project.id, ...invite });
  return { memberships, invitations };
}

/** Per user, the entry's new value (null: remove it) wherever `before` and `after` differ. */
export function changedEntries<T>(before: Map<string, T>, after: Map<string, T>): Map<string, T | null> {
  const changed = new Map<string, T | null>();
  for (const [username, value] of after) if (JSON.stringify(before.get(username)) !== JSON.stringify(value)) changed.set(username, value);
  for (const username of before.keys()) if (!after.has(username)) changed.set(username, null);
  return changed;
}
