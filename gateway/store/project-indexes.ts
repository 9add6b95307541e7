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

/** One user's entry in one index that must change: its new value, or null to remove it. */
export interface IndexChange {
  index: keyof ProjectIndexes;
  username: string;
  value: MembershipRecord | InvitationRecord | null;
}

/** The entries of the users' indexes that differ between the project's last version (null: none) and its next. */
export function indexChanges(before: ProjectRecord | null, after: ProjectRecord): IndexChange[] {
  const old = projectIndexes(before);
  const now = projectIndexes(after);
  const changes: IndexChange[] = [];
  for (const index of ['memberships', 'invitations'] as const) {
    const from: Map<string, MembershipRecord | InvitationRecord> = old[index];
    const to: Map<string, MembershipRecord | InvitationRecord> = now[index];
    for (const [username, value] of to) if (JSON.stringify(from.get(username)) !== JSON.stringify(value)) changes.push({ index, username, value });
    for (const username of from.keys()) if (!to.has(username)) changes.push({ index, username, value: null });
  }
  return changes;
}
