/**
 * Projects and their people, after UCloud's projects: one PI who leads the
 * project, ADMINs who manage it with the PI, USERs who work in it, and groups
 * of members that jobs are shared with. Every change is a compare-and-set on
 * the stored project (retried on a conflict), checked against the project as
 * stored, never against what the caller's token was issued with.
 *
 * Who may do what (site administrators may do all of it to any project):
 *
 * | change                                     | who                                              |
 * | ------------------------------------------ | ------------------------------------------------ |
 * | create a project, naming its PI            | administrators                                   |
 * | add or invite a USER; remove a USER        | the PI and ADMINs                                |
 * | add or invite an ADMIN; remove an ADMIN    | the PI                                           |
 * | change a member's role (ADMIN ⇄ USER)      | the PI                                           |
 * | transfer the PI role (the old PI: ADMIN)   | the PI                                           |
 * | create and delete groups, fill and empty   | the PI and ADMINs                                |
 * | accept or decline an invitation            | the invitee                                      |
 * | leave                                      | any member but the PI (who transfers the role first) |
 * | archive and unarchive                      | the PI                                           |
 *
 * Anyone else is FORBIDDEN: an outsider learns the same whether or not the
 * project exists. An archived project keeps its members, jobs and wallets;
 * nothing new runs in it (see {@link checkCanRunIn}).
 */
import type { Clock } from '../../shared/clock.js';
import { ForbiddenError, InternalError, InvalidInputError, NotFoundError, SwitchyardError } from '../../shared/errors.js';
import type { InvitationRecord, ProjectInviteRecord, ProjectRecord, ProjectRole, Store } from '../store/store.js';
import type { Viewer } from './auth.js';
import { checkProjectMember } from './job-access.js';

const NAME = /^[a-z][a-z0-9._-]{1,63}$/;
const MAX_TITLE = 200;
/** Compare-and-set attempts before a change gives up on a project that keeps changing under it. */
const ATTEMPTS = 10;

export type InvitedRole = ProjectInviteRecord['role'];

export interface Projects {
  create(viewer: Viewer, input: { id: string; title: string; pi: string }): Promise<ProjectRecord>;
  /** A project the viewer is a member of (administrators: any); FORBIDDEN otherwise, NOT_FOUND for an administrator when it does not exist. */
  get(viewer: Viewer, id: string): Promise<ProjectRecord>;
  /** The viewer's projects; with `all`, every project (administrators only). */
  list(viewer: Viewer, all: boolean): Promise<ProjectRecord[]>;
  /** Invitations waiting for the viewer's answer. */
  invitations(viewer: Viewer): Promise<InvitationRecord[]>;
  addMember(viewer: Viewer, project: string, username: string, role: InvitedRole): Promise<ProjectRecord>;
  invite(viewer: Viewer, project: string, username: string, role: InvitedRole): Promise<ProjectInviteRecord>;
  accept(viewer: Viewer, project: string): Promise<ProjectRecord>;
  decline(viewer: Viewer, project: string): Promise<void>;
  /** Removes a member (from its groups too), or withdraws an invitation not yet answered. */
  removeMember(viewer: Viewer, project: string, username: string): Promise<ProjectRecord>;
  leave(viewer: Viewer, project: string): Promise<void>;
  changeRole(viewer: Viewer, project: string, username: string, role: InvitedRole): Promise<ProjectRecord>;
  transferPi(viewer: Viewer, project: string, username: string): Promise<ProjectRecord>;
  createGroup(viewer: Viewer, project: string, name: string): Promise<ProjectRecord>;
  deleteGroup(viewer: Viewer, project: string, name: string): Promise<ProjectRecord>;
  addGroupMember(viewer: Viewer, project: string, group: string, username: string): Promise<ProjectRecord>;
  removeGroupMember(viewer: Viewer, project: string, group: string, username: string): Promise<ProjectRecord>;
  archive(viewer: Viewer, project: string, archived: boolean): Promise<ProjectRecord>;
}

/** The viewer's role in the stored project: null for an outsider (a site administrator counts as PI). */
function roleIn(viewer: Viewer, project: ProjectRecord): ProjectRole | null {
  if (viewer.admin) return 'PI';
  return project.members.find((m) => m.username === viewer.username)?.role ?? null;
}

function checkName(what: string, name: string): void {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new InvalidInputError(`${what} "${String(name).slice(0, 80)}" must be 2-64 characters of a-z, 0-9, ".", "_", "-", starting with a letter`);
  }
}

function checkRole(role: string): asserts role is InvitedRole {
  if (role !== 'ADMIN' && role !== 'USER') throw new InvalidInputError('A member is added as ADMIN or USER; the PI role is transferred');
}

/** FORBIDDEN unless the viewer's role may manage members of `targetRole` (see the table above). */
function checkManages(viewer: Viewer, project: ProjectRecord, targetRole: ProjectRole): void {
  const role = roleIn(viewer, project);
  const may = role === 'PI' ? targetRole !== 'PI' : role === 'ADMIN' && targetRole === 'USER';
  if (!may) throw new ForbiddenError(`You may not manage ${targetRole === 'USER' ? 'users' : 'administrators'} of project ${project.id}`);
}

function checkRoleAtLeast(viewer: Viewer, project: ProjectRecord, needed: 'PI' | 'ADMIN', what: string): void {
  const role = roleIn(viewer, project);
  if (role !== 'PI' && !(needed === 'ADMIN' && role === 'ADMIN'))
    throw new ForbiddenError(`Only the PI${needed === 'ADMIN' ? ' and ADMINs' : ''} may ${what}`);
}

function memberOf(project: ProjectRecord, username: string) {
  const member = project.members.find((m) => m.username === username);
  if (!member) throw new InvalidInputError(`${username} is not a member of project ${project.id}`);
  return member;
}

function groupOf(project: ProjectRecord, name: string) {
  const group = project.groups.find((g) => g.name === name);
  if (!group) throw new InvalidInputError(`Project ${project.id} has no group ${name}`);
  return group;
}

export function createProjects(options: { store: Store; clock: Clock }): Projects {
  const { store, clock } = options;

  /** The stored project for a member (or an administrator); FORBIDDEN for anyone else, as {@link Projects.get}. */
  const load = async (viewer: Viewer, id: string): Promise<ProjectRecord> => {
    if (typeof id !== 'string' || id.length > 64) throw new InvalidInputError('A project id has at most 64 characters');
    const project = await store.getProject(id);
    if (!project || (!viewer.admin && !project.members.some((m) => m.username === viewer.username))) {
      checkProjectMember(viewer, id);
      throw new NotFoundError('project', id);
    }
    return project;
  };

  const requireUser = async (username: string): Promise<void> => {
    if (typeof username !== 'string' || !(await store.getUser(username)))
      throw new InvalidInputError(`There is no user ${String(username).slice(0, 80)}`);
  };

  /**
   * Read, check and change the project until the compare-and-set takes. `change` throws to refuse,
   * and gets the project as stored on each attempt.
   */
  const update = async (
    viewer: Viewer,
    id: string,
    change: (project: ProjectRecord) => ProjectRecord,
    read: (viewer: Viewer, id: string) => Promise<ProjectRecord> = load,
  ): Promise<ProjectRecord> => {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const project = await read(viewer, id);
      const next = { ...change(structuredClone(project)), version: project.version + 1 };
      if (await store.updateProject(next, project.version)) return next;
    }
    throw new InternalError(`Project ${id} kept changing; try again`);
  };

  /** The project as an invitee reads it: its invitation is its ticket. */
  const loadInvited = async (viewer: Viewer, id: string): Promise<ProjectRecord> => {
    const project = await store.getProject(id);
    if (!project || !project.invites.some((i) => i.username === viewer.username)) throw new NotFoundError('invitation to project', id);
    return project;
  };

  return {
    async create(viewer, input) {
      if (!viewer.admin) throw new ForbiddenError('Only administrators create projects');
      checkName('project id', input.id);
      const title = typeof input.title === 'string' ? input.title.trim() : '';
      if (title === '' || title.length > MAX_TITLE) throw new InvalidInputError(`title must be 1 to ${MAX_TITLE} characters`);
      await requireUser(input.pi);
      const now = clock.now();
      const project: ProjectRecord = {
        id: input.id,
        title,
        archived: false,
        createdAt: now,
        createdBy: viewer.username,
        members: [{ username: input.pi, role: 'PI', addedAt: now }],
        groups: [],
        invites: [],
        version: 1,
      };
      if (!(await store.createProject(project))) throw new InvalidInputError(`project id "${input.id}" is taken`);
      return project;
    },

    get: load,

    async list(viewer, all) {
      if (all && !viewer.admin) throw new ForbiddenError('Only administrators list every project');
      const ids = all ? await store.listProjects() : (await store.membershipsOf(viewer.username)).map((m) => m.project);
      const projects = await Promise.all(ids.map((id) => store.getProject(id)));
      return projects.filter((p): p is ProjectRecord => p !== null);
    },

    invitations: (viewer) => store.invitationsOf(viewer.username),

    async addMember(viewer, id, username, role) {
      checkRole(role);
      await requireUser(username);
      return update(viewer, id, (project) => {
        checkManages(viewer, project, role);
        if (project.members.some((m) => m.username === username)) throw new InvalidInputError(`${username} is already a member of project ${id}`);
        project.members.push({ username, role, addedAt: clock.now() });
        project.invites = project.invites.filter((i) => i.username !== username);
        return project;
      });
    },

    async invite(viewer, id, username, role) {
      checkRole(role);
      await requireUser(username);
      const invite: ProjectInviteRecord = { username, role, invitedBy: viewer.username, invitedAt: clock.now() };
      await update(viewer, id, (project) => {
        checkManages(viewer, project, role);
        if (project.members.some((m) => m.username === username)) throw new InvalidInputError(`${username} is already a member of project ${id}`);
        project.invites = [...project.invites.filter((i) => i.username !== username), invite];
        return project;
      });
      return invite;
    },

    accept(viewer, id) {
      return update(
        viewer,
        id,
        (project) => {
          const invite = project.invites.find((i) => i.username === viewer.username)!;
          project.invites = project.invites.filter((i) => i !== invite);
          project.members.push({ username: viewer.username, role: invite.role, addedAt: clock.now() });
          return project;
        },
        loadInvited,
      );
    },

    async decline(viewer, id) {
      await update(
        viewer,
        id,
        (project) => {
          project.invites = project.invites.filter((i) => i.username !== viewer.username);
          return project;
        },
        loadInvited,
      );
    },

    removeMember(viewer, id, username) {
      return update(viewer, id, (project) => {
        const invite = project.invites.find((i) => i.username === username);
        const member = project.members.find((m) => m.username === username);
        if (!member && !invite) throw new InvalidInputError(`${username} is neither a member of project ${id} nor invited to it`);
        const role = member?.role ?? invite!.role;
        if (role === 'PI') throw new SwitchyardError('INVALID_STATE', `The PI cannot be removed from project ${id}; transfer the PI role first`);
        checkManages(viewer, project, role);
        return withoutUser(project, username);
      });
    },

    async leave(viewer, id) {
      await update(viewer, id, (project) => {
        const member = memberOf(project, viewer.username);
        if (member.role === 'PI') throw new SwitchyardError('INVALID_STATE', `The PI cannot leave project ${id}; transfer the PI role first`);
        return withoutUser(project, viewer.username);
      });
    },

    changeRole(viewer, id, username, role) {
      checkRole(role);
      return update(viewer, id, (project) => {
        checkRoleAtLeast(viewer, project, 'PI', "change members' roles");
        const member = memberOf(project, username);
        if (member.role === 'PI') throw new SwitchyardError('INVALID_STATE', `The PI's role changes only by transferring it`);
        member.role = role;
        return project;
      });
    },

    transferPi(viewer, id, username) {
      return update(viewer, id, (project) => {
        checkRoleAtLeast(viewer, project, 'PI', 'transfer the PI role');
        const next = memberOf(project, username);
        if (next.role === 'PI') throw new InvalidInputError(`${username} is the PI of project ${id} already`);
        for (const member of project.members) if (member.role === 'PI') member.role = 'ADMIN';
        next.role = 'PI';
        return project;
      });
    },

    createGroup(viewer, id, name) {
      checkName('group name', name);
      return update(viewer, id, (project) => {
        checkRoleAtLeast(viewer, project, 'ADMIN', 'manage groups');
        if (project.groups.some((g) => g.name === name)) throw new InvalidInputError(`Project ${id} has a group ${name} already`);
        project.groups.push({ name, members: [] });
        return project;
      });
    },

    deleteGroup(viewer, id, name) {
      return update(viewer, id, (project) => {
        checkRoleAtLeast(viewer, project, 'ADMIN', 'manage groups');
        groupOf(project, name);
        project.groups = project.groups.filter((g) => g.name !== name);
        return project;
      });
    },

    addGroupMember(viewer, id, name, username) {
      return update(viewer, id, (project) => {
        checkRoleAtLeast(viewer, project, 'ADMIN', 'manage groups');
        const group = groupOf(project, name);
        memberOf(project, username);
        if (group.members.includes(username)) throw new InvalidInputError(`${username} is in group ${name} already`);
        group.members.push(username);
        return project;
      });
    },

    removeGroupMember(viewer, id, name, username) {
      return update(viewer, id, (project) => {
        checkRoleAtLeast(viewer, project, 'ADMIN', 'manage groups');
        const group = groupOf(project, name);
        if (!group.members.includes(username)) throw new InvalidInputError(`${username} is not in group ${name}`);
        group.members = group.members.filter((m) => m !== username);
        return project;
      });
    },

    archive(viewer, id, archived) {
      return update(viewer, id, (project) => {
        checkRoleAtLeast(viewer, project, 'PI', `${archived ? 'archive' : 'unarchive'} the project`);
        project.archived = archived;
        return project;
      });
    },
  };
}

/** The project with the user taken out of its members, invitations and groups. */
export function withoutUser(project: ProjectRecord, username: string): ProjectRecord {
  return {
    ...project,
    members: project.members.filter((m) => m.username !== username),
    invites: project.invites.filter((i) => i.username !== username),
    groups: project.groups.map((g) => ({ ...g, members: g.members.filter((m) => m !== username) })),
  };
}

/**
 * FORBIDDEN unless the viewer may run jobs in the project (a member, or an administrator);
 * NOT_FOUND for a project that does not exist; INVALID_STATE for an archived one.
 */
export async function checkCanRunIn(store: Pick<Store, 'getProject'>, viewer: Viewer, id: string): Promise<void> {
  checkProjectMember(viewer, id);
  const project = await store.getProject(id);
  if (!project) throw new NotFoundError('project', id);
  if (project.archived) throw new SwitchyardError('INVALID_STATE', `Project ${id} is archived: nothing new runs in it`);
}
