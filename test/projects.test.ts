/**
 * Projects through the API, over real NATS and Redis: members and roles,
 * invitations, leaving, removing, the PI role, groups, archiving; the
 * workspace a request acts in (the Project header, or an argument); which
 * jobs each role sees; project jobs paid by the project's wallets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TestClient } from './support/graphql-client.js';
import { makeJob } from './support/jobs.js';
import { LOCAL_SMALL, startTenancyGateway, type TenancyGateway } from './support/tenancy-gateway.js';

const PROJECT_FIELDS = `id title archived myRole members { username role groups } groups { name members } invites { username role invitedBy }`;
const CREATE_JOB = `mutation ($s: [JobSpecificationInput!]!) { createJobs(specifications: $s) { job { id owner { createdBy project } } error { code message } } }`;
const GRANT = `mutation ($g: GrantInput!) { grantCredits(grant: $g) { balance } }`;

let env: TenancyGateway;
let count = 0;
const fresh = (what: string) => `${what}${++count}`;

beforeAll(async () => {
  env = await startTenancyGateway();
});
afterAll(async () => {
  await env?.stop();
});

async function newProject(pi: string): Promise<string> {
  const id = fresh('proj');
  await env.admin.ok(`mutation ($id: ID!, $pi: String!) { createProject(id: $id, title: "A project", pi: $pi) { id } }`, { id, pi });
  return id;
}

const code = (res: { errors?: { extensions?: { code?: string } }[] }) => res.errors?.[0]?.extensions?.code;

async function createJob(client: TestClient, spec: Record<string, unknown> = {}) {
  const data = await client.ok(CREATE_JOB, { s: [{ product: LOCAL_SMALL, command: ['sleep', '30'], allowDuplicateJob: true, ...spec }] });
  return data.createJobs[0] as {
    job: { id: string; owner: { createdBy: string; project: string | null } } | null;
    error: { code: string; message: string } | null;
  };
}

describe('members and roles', () => {
  it('lets only administrators create a project, with the PI it names', async () => {
    const pia = await env.user(fresh('pia'));
    const refused = await pia.gql(`mutation { createProject(id: "mine", title: "Mine", pi: "${fresh('x')}") { id } }`);
    expect(code(refused)).toBe('FORBIDDEN');
    const piName = (await pia.ok(`{ me { createdBy } }`)).me.createdBy;
    const id = await newProject(piName);
    const project = await pia.ok(`query ($id: ID!) { project(id: $id) { ${PROJECT_FIELDS} } }`, { id });
    expect(project.project).toMatchObject({ id, archived: false, myRole: 'PI', members: [{ username: piName, role: 'PI', groups: [] }] });
    expect((await pia.ok(`{ projects { id } }`)).projects).toEqual([{ id }]);
    const again = await env.admin.gql(`mutation ($id: ID!, $pi: String!) { createProject(id: $id, title: "Again", pi: $pi) { id } }`, {
      id,
      pi: piName,
    });
    expect(code(again)).toBe('INVALID_INPUT');
    expect(code(await env.admin.gql(`mutation { createProject(id: "Bad Id", title: "x", pi: "${piName}") { id } }`))).toBe('INVALID_INPUT');
    expect(code(await env.admin.gql(`mutation { createProject(id: "${fresh('p')}", title: "x", pi: "no-such-user") { id } }`))).toBe('INVALID_INPUT');
  });

  it('adds members directly, by the rules of each role, and lets them leave', async () => {
    const [piName, adaName, umaName, vicName] = [fresh('pi'), fresh('ada'), fresh('uma'), fresh('vic')];
    const [pi, ada, uma] = await Promise.all([env.user(piName), env.user(adaName), env.user(umaName), env.user(vicName)]);
    const id = await newProject(piName);
    const add = (client: TestClient, username: string, role: string) =>
      client.gql(
        `mutation ($p: ID!, $u: String!, $r: ProjectRole!) { addProjectMember(project: $p, username: $u, role: $r) { ${PROJECT_FIELDS} } }`,
        {
          p: id,
          u: username,
          r: role,
        },
      );
    expect(code(await add(pi, adaName, 'ADMIN'))).toBeUndefined();
    // An ADMIN adds USERs, not ADMINs; a USER adds nobody; nobody is added as PI.
    expect(code(await add(ada, umaName, 'ADMIN'))).toBe('FORBIDDEN');
    expect(code(await add(ada, umaName, 'USER'))).toBeUndefined();
    expect(code(await add(uma, vicName, 'USER'))).toBe('FORBIDDEN');
    expect(code(await add(pi, vicName, 'PI'))).toBe('INVALID_INPUT');
    expect(code(await add(pi, umaName, 'USER'))).toBe('INVALID_INPUT');
    const project = (await uma.ok(`query ($id: ID!) { project(id: $id) { ${PROJECT_FIELDS} } }`, { id })).project;
    expect(project.myRole).toBe('USER');
    expect(project.members.map((m: { username: string; role: string }) => [m.username, m.role])).toEqual([
      [piName, 'PI'],
      [adaName, 'ADMIN'],
      [umaName, 'USER'],
    ]);
    // Leaving: anyone but the PI.
    expect(code(await pi.gql(`mutation ($p: ID!) { leaveProject(project: $p) }`, { p: id }))).toBe('INVALID_STATE');
    expect((await uma.ok(`mutation ($p: ID!) { leaveProject(project: $p) }`, { p: id })).leaveProject).toBe(true);
    expect(code(await uma.gql(`query ($id: ID!) { project(id: $id) { id } }`, { id }))).toBe('FORBIDDEN');
    expect((await uma.ok(`{ projects { id } }`)).projects).toEqual([]);
  });

  it('invites: the invitee accepts or declines, and only the invitee', async () => {
    const [piName, ivanName, dinaName] = [fresh('pi'), fresh('ivan'), fresh('dina')];
    const [pi, ivan, dina] = await Promise.all([env.user(piName), env.user(ivanName), env.user(dinaName)]);
    const id = await newProject(piName);
    for (const name of [ivanName, dinaName]) {
      await pi.ok(`mutation ($p: ID!, $u: String!) { inviteProjectMember(project: $p, username: $u, role: USER) { username } }`, { p: id, u: name });
    }
    expect((await ivan.ok(`{ projectInvites { project role invitedBy } }`)).projectInvites).toEqual([
      { project: id, role: 'USER', invitedBy: piName },
    ]);
    // Invited is not a member yet.
    expect(code(await ivan.gql(`query ($id: ID!) { project(id: $id) { id } }`, { id }))).toBe('FORBIDDEN');
    // Dina cannot accept Ivan's invitation (she has her own), and one without any gets NOT_FOUND.
    const outsider = await env.user(fresh('out'));
    expect(code(await outsider.gql(`mutation ($p: ID!) { acceptProjectInvite(project: $p) { id } }`, { p: id }))).toBe('NOT_FOUND');
    const accepted = await ivan.ok(`mutation ($p: ID!) { acceptProjectInvite(project: $p) { myRole invites { username } } }`, { p: id });
    expect(accepted.acceptProjectInvite.myRole).toBe('USER');
    // A USER sees no invitations.
    expect(accepted.acceptProjectInvite.invites).toEqual([]);
    expect((await dina.ok(`mutation ($p: ID!) { declineProjectInvite(project: $p) }`, { p: id })).declineProjectInvite).toBe(true);
    expect((await dina.ok(`{ projectInvites { project } }`)).projectInvites).toEqual([]);
    expect(code(await dina.gql(`mutation ($p: ID!) { acceptProjectInvite(project: $p) { id } }`, { p: id }))).toBe('NOT_FOUND');
    const members = (await pi.ok(`query ($id: ID!) { project(id: $id) { members { username } invites { username } } }`, { id })).project;
    expect(members.members.map((m: { username: string }) => m.username)).toEqual([piName, ivanName]);
    expect(members.invites).toEqual([]);
  });

  it('removes members by the rules of each role, and transfers the PI role', async () => {
    const [piName, adaName, umaName] = [fresh('pi'), fresh('ada'), fresh('uma')];
    const [pi, ada, uma] = await Promise.all([env.user(piName), env.user(adaName), env.user(umaName)]);
    const id = await newProject(piName);
    await pi.ok(
      `mutation { a: addProjectMember(project: "${id}", username: "${adaName}", role: ADMIN) { id } u: addProjectMember(project: "${id}", username: "${umaName}") { id } }`,
    );
    const remove = (client: TestClient, username: string) =>
      client.gql(`mutation ($p: ID!, $u: String!) { removeProjectMember(project: $p, username: $u) { members { username } } }`, {
        p: id,
        u: username,
      });
    expect(code(await uma.gql(`mutation { transferProjectPi(project: "${id}", username: "${umaName}") { id } }`))).toBe('FORBIDDEN');
    expect(code(await ada.gql(`mutation { changeProjectRole(project: "${id}", username: "${umaName}", role: ADMIN) { id } }`))).toBe('FORBIDDEN');
    expect(code(await remove(ada, piName))).toBe('INVALID_STATE');
    expect(code(await remove(uma, adaName))).toBe('FORBIDDEN');
    // The PI hands the role to Ada and becomes an ADMIN; Ada, now PI, removes her.
    const transferred = await pi.ok(`mutation { transferProjectPi(project: "${id}", username: "${adaName}") { members { username role } } }`);
    expect(transferred.transferProjectPi.members).toEqual([
      { username: piName, role: 'ADMIN' },
      { username: adaName, role: 'PI' },
      { username: umaName, role: 'USER' },
    ]);
    expect(code(await remove(ada, piName))).toBeUndefined();
    expect(code(await pi.gql(`query { project(id: "${id}") { id } }`))).toBe('FORBIDDEN');
    await ada.ok(`mutation { changeProjectRole(project: "${id}", username: "${umaName}", role: ADMIN) { id } }`);
    expect((await uma.ok(`query { project(id: "${id}") { myRole } }`)).project.myRole).toBe('ADMIN');
  });

  it('keeps groups of members, and takes a removed member out of them', async () => {
    const [piName, umaName] = [fresh('pi'), fresh('uma')];
    const [pi, uma] = await Promise.all([env.user(piName), env.user(umaName)]);
    const id = await newProject(piName);
    await pi.ok(`mutation { addProjectMember(project: "${id}", username: "${umaName}") { id } }`);
    await pi.ok(`mutation { createProjectGroup(project: "${id}", name: "lab") { id } }`);
    expect(code(await uma.gql(`mutation { createProjectGroup(project: "${id}", name: "mine") { id } }`))).toBe('FORBIDDEN');
    expect(code(await pi.gql(`mutation { addProjectGroupMember(project: "${id}", group: "lab", username: "nobody-here") { id } }`))).toBe(
      'INVALID_INPUT',
    );
    const filled = await pi.ok(
      `mutation { addProjectGroupMember(project: "${id}", group: "lab", username: "${umaName}") { groups { name members } members { username groups } } }`,
    );
    expect(filled.addProjectGroupMember.groups).toEqual([{ name: 'lab', members: [umaName] }]);
    expect(filled.addProjectGroupMember.members).toContainEqual({ username: umaName, groups: ['lab'] });
    const removed = await pi.ok(`mutation { removeProjectMember(project: "${id}", username: "${umaName}") { groups { name members } } }`);
    expect(removed.removeProjectMember.groups).toEqual([{ name: 'lab', members: [] }]);
    const deleted = await pi.ok(`mutation { deleteProjectGroup(project: "${id}", name: "lab") { groups { name } } }`);
    expect(deleted.deleteProjectGroup.groups).toEqual([]);
  });
});

describe('workspaces', () => {
  it('puts a job made with the Project header in the project, paid by its wallet, and me says where', async () => {
    const piName = fresh('pi');
    const pi = await env.user(piName);
    const id = await newProject(piName);
    const inProject = pi.in(id);
    expect((await inProject.ok(`{ me { createdBy project } }`)).me).toEqual({ createdBy: piName, project: id });
    // The PI has credits of its own, the project none yet: the job is refused for want of the project's.
    const refused = await createJob(inProject);
    expect(refused.error?.code).toBe('INSUFFICIENT_FUNDS');
    expect(refused.error?.message).toContain(`Project ${id}`);
    await env.admin.ok(GRANT, { g: { owner: id, isProject: true, provider: 'local', category: 'local-cpu', amount: 1_000 } });
    const balance = await inProject.ok(
      `{ product(ref: { id: "local-small", provider: "local" }) { balance } wallets { owner { project } balance } }`,
    );
    expect(balance.product.balance).toBe(1_000);
    expect(balance.wallets).toEqual([{ owner: { project: id }, balance: 1_000 }]);
    const { job } = await createJob(inProject);
    expect(job?.owner).toEqual({ createdBy: piName, project: id });
    // The argument wins over the header: a job in another project of the caller's, from inside this one's workspace.
    const other = await newProject(piName);
    await env.admin.ok(GRANT, { g: { owner: other, isProject: true, provider: 'local', category: 'local-cpu', amount: 1_000 } });
    const elsewhere = await createJob(inProject, { project: other });
    expect(elsewhere.job?.owner).toEqual({ createdBy: piName, project: other });
    const listed = async (client: TestClient, filter: Record<string, unknown> = {}) =>
      (
        (await client.ok(`query ($f: JobFilter) { jobs(filter: $f) { edges { node { id } } } }`, { f: filter })).jobs.edges as {
          node: { id: string };
        }[]
      ).map((e) => e.node.id);
    expect(await listed(inProject)).toEqual([job!.id]);
    expect(await listed(inProject, { project: other })).toEqual([elsewhere.job!.id]);
    // Its own workspace lists the jobs it made, wherever.
    expect((await listed(pi)).sort()).toEqual([job!.id, elsewhere.job!.id].sort());
    await pi.ok(`mutation ($ids: [ID!]!) { terminateJobs(ids: $ids) { ok } }`, { ids: [job!.id, elsewhere.job!.id] });
  });

  it('takes the workspace from the Project connection parameter over a websocket', async () => {
    const { createClient: createWsClient } = await import('graphql-ws');
    const { default: WebSocket } = await import('ws');
    const piName = fresh('pi');
    const pi = await env.user(piName);
    const id = await newProject(piName);
    const ask = async (project: string) => {
      const ws = createWsClient({
        url: env.url.replace('http', 'ws') + '/graphql',
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        connectionParams: { Authorization: `Bearer ${pi.token}`, Project: project },
      });
      try {
        return await new Promise<unknown>((resolve, reject) => {
          ws.subscribe({ query: `{ me { createdBy project } }` }, { next: resolve, error: reject, complete: () => undefined });
        });
      } finally {
        await ws.dispose();
      }
    };
    expect(await ask(id)).toEqual({ data: { me: { createdBy: piName, project: id } } });
    const refused = (await ask('not-a-project-of-mine').catch((error: unknown) => error)) as unknown;
    expect(JSON.stringify(refused)).toContain('FORBIDDEN');
  });

  it('refuses a Project header naming a project the caller is not in, whether or not it exists', async () => {
    const stranger = await env.user(fresh('s'));
    const piName = fresh('pi');
    await env.user(piName);
    const id = await newProject(piName);
    for (const project of [id, 'no-such-project']) {
      const res = await stranger.in(project).gql(`{ me { createdBy } }`);
      expect(code(res)).toBe('FORBIDDEN');
      expect(res.errors?.[0]?.message).toBe(`You are not a member of project ${project}`);
    }
    // An administrator may act in any project that exists.
    expect((await env.admin.in(id).ok(`{ me { project } }`)).me.project).toBe(id);
    expect(code(await env.admin.in('no-such-project').gql(`{ me { project } }`))).toBe('NOT_FOUND');
  });

  it('refuses new jobs in an archived project with INVALID_STATE and keeps its records', async () => {
    const piName = fresh('pi');
    const pi = await env.user(piName);
    const id = await newProject(piName);
    await env.admin.ok(GRANT, { g: { owner: id, isProject: true, provider: 'local', category: 'local-cpu', amount: 1_000 } });
    const { job } = await createJob(pi.in(id), { command: ['true'] });
    const umaName = fresh('uma');
    await env.user(umaName);
    await pi.ok(`mutation { addProjectMember(project: "${id}", username: "${umaName}") { id } }`);
    expect(code(await env.admin.gql(`mutation { archiveProject(project: "nope") { id } }`))).toBe('NOT_FOUND');
    // A job of the project waiting at the gateway for room (stored as the waiting room keeps one), and one of another
    // project; the waiting room's timer stops first, so that only the archiving moves them.
    await env.gateway.orchestrator.waitingRoom.stop();
    const waiting = makeJob({ owner: { createdBy: piName, project: id }, providerId: 'local' });
    const elsewhere = makeJob({ owner: { createdBy: piName, project: 'another-project' }, providerId: 'local' });
    for (const parked of [waiting, elsewhere]) {
      await env.store.putWaiting({ jobId: parked.id, deadline: Date.now() + 600_000, input: {}, claim: 'parked' });
      await env.store.createJob(parked, { exclusive: false });
    }
    expect((await pi.ok(`mutation { archiveProject(project: "${id}") { archived } }`)).archiveProject.archived).toBe(true);
    // Nothing new runs in it: its waiting job ends unstarted, the other project's waits on.
    expect(await env.store.getJob(waiting.id)).toMatchObject({ state: 'SUCCESS' });
    expect((await env.store.getJob(waiting.id))!.updates.at(-1)!.status).toBe(
      `Your job has been terminated before it started (project ${id} was archived)`,
    );
    expect(await env.store.getWaiting(waiting.id)).toBeNull();
    expect((await env.store.getJob(elsewhere.id))!.state).toBe('IN_QUEUE');
    expect(await env.store.getWaiting(elsewhere.id)).not.toBeNull();
    await env.store.swapWaiting(elsewhere.id, 'parked', null);
    const before = await env.snapshot();
    const refused = await createJob(pi.in(id));
    expect(refused.error).toEqual({ code: 'INVALID_STATE', message: `Project ${id} is archived: nothing new runs in it` });
    expect((await env.snapshot()).jobs.size).toBe(before.jobs.size);
    // Its job, members and wallet stay.
    expect((await pi.ok(`query ($id: ID!) { job(id: $id) { id } }`, { id: job!.id })).job.id).toBe(job!.id);
    expect((await pi.ok(`query { project(id: "${id}") { members { username } } }`)).project.members).toHaveLength(2);
    expect((await pi.in(id).ok(`{ wallets { balance } }`)).wallets).toHaveLength(1);
    await pi.ok(`mutation { archiveProject(project: "${id}", archived: false) { archived } }`);
    expect((await createJob(pi.in(id), { command: ['true'] })).error).toBeNull();
  });
});

describe('who sees which jobs of a project', () => {
  it('shows the PI and ADMINs every job, a USER only its own, and nobody outside anything', async () => {
    const [piName, adaName, umaName, uliName] = [fresh('pi'), fresh('ada'), fresh('uma'), fresh('uli')];
    const [pi, ada, uma, uli] = await Promise.all([env.user(piName), env.user(adaName), env.user(umaName), env.user(uliName)]);
    const stranger = await env.user(fresh('stranger'));
    const id = await newProject(piName);
    await pi.ok(
      `mutation { a: addProjectMember(project: "${id}", username: "${adaName}", role: ADMIN) { id } u: addProjectMember(project: "${id}", username: "${umaName}") { id } v: addProjectMember(project: "${id}", username: "${uliName}") { id } }`,
    );
    await env.admin.ok(GRANT, { g: { owner: id, isProject: true, provider: 'local', category: 'local-cpu', amount: 1_000_000 } });
    const umaJob = (await createJob(uma.in(id))).job!.id;
    const uliJob = (await createJob(uli.in(id))).job!.id;
    const ids = async (client: TestClient) =>
      ((await client.in(id).ok(`{ jobs { totalCount edges { node { id } } } }`)).jobs.edges as { node: { id: string } }[])
        .map((e) => e.node.id)
        .sort();
    expect(await ids(pi)).toEqual([umaJob, uliJob].sort());
    expect(await ids(ada)).toEqual([umaJob, uliJob].sort());
    expect(await ids(uma)).toEqual([umaJob]);
    expect(code(await uma.gql(`query ($id: ID!) { job(id: $id) { id } }`, { id: uliJob }))).toBe('NOT_FOUND');
    expect((await uma.ok(`mutation ($id: ID!) { suspendJobs(ids: [$id]) { error { code } } }`, { id: uliJob })).suspendJobs[0].error.code).toBe(
      'NOT_FOUND',
    );
    expect(code(await stranger.gql(`query ($id: ID!) { job(id: $id) { id } }`, { id: umaJob }))).toBe('NOT_FOUND');
    expect(code(await stranger.gql(`{ jobs(filter: { project: "${id}" }) { totalCount } }`))).toBe('FORBIDDEN');
    // The ADMIN may stop a USER's job; once the USER has left, its job is the project's alone.
    expect((await ada.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: uliJob })).terminateJobs[0].ok).toBe(true);
    await uma.ok(`mutation ($p: ID!) { leaveProject(project: $p) }`, { p: id });
    expect(code(await uma.gql(`query ($id: ID!) { job(id: $id) { id } }`, { id: umaJob }))).toBe('NOT_FOUND');
    expect((await uma.ok(`{ jobs { totalCount } }`)).jobs.totalCount).toBe(0);
    expect((await pi.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: umaJob })).terminateJobs[0].ok).toBe(true);
  });
});
