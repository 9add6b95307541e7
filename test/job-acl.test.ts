/**
 * updateJobAcl over real NATS and Redis: a project job shared with members by
 * name and through a group, with READ, EDIT or ADMIN. Each permission allows
 * exactly what gateway/access/job-access.ts says and no more: every verb is
 * tried by each holder, and a refused one changes nothing. Revoked, a share
 * gives nothing, an open followJob included.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { eventually, waitForState, type TestClient } from './support/graphql-client.js';
import { LOCAL_SMALL, startTenancyGateway, type TenancyGateway } from './support/tenancy-gateway.js';

const CREATE_JOB = `mutation ($s: [JobSpecificationInput!]!) { createJobs(specifications: $s) { job { id } error { code message } } }`;
const SET_ACL = `mutation ($id: ID!, $acl: [AclEntryInput!]!) { updateJobAcl(jobId: $id, acl: $acl) { ok error { code message } } }`;
const FOLLOW = `subscription ($id: ID!) { followJob(id: $id) { jobId logs { stdout } } }`;

let env: TenancyGateway;
const project = 'acl-lab';
const people = ['pi', 'reader', 'editor', 'owner2', 'grouped', 'plain', 'stranger'] as const;
type Person = (typeof people)[number];
const client = {} as Record<Person, TestClient>;
const name = (who: Person) => `acl-${who}`;

beforeAll(async () => {
  env = await startTenancyGateway();
  for (const who of people) client[who] = (await env.user(name(who))).in(who === 'stranger' ? null : project);
  await env.admin.ok(`mutation { createProject(id: "${project}", title: "ACL lab", pi: "${name('pi')}") { id } }`);
  for (const who of ['reader', 'editor', 'owner2', 'grouped', 'plain'] as const) {
    await client.pi.ok(`mutation { addProjectMember(project: "${project}", username: "${name(who)}") { id } }`);
  }
  await client.pi.ok(`mutation { createProjectGroup(project: "${project}", name: "lab") { id } }`);
  await client.pi.ok(`mutation { addProjectGroupMember(project: "${project}", group: "lab", username: "${name('grouped')}") { id } }`);
  await env.admin.ok(
    `mutation { grantCredits(grant: { owner: "${project}", isProject: true, provider: "local", category: "local-cpu", amount: 100000000 }) { balance } }`,
  );
});
afterAll(async () => {
  await env?.stop();
});

/** A running job of the PI's in the project, shared as `acl` says. */
async function sharedJob(acl: { entity: string; permissions: string[] }[], command = ['sleep', '60']): Promise<string> {
  const data = await client.pi.ok(CREATE_JOB, { s: [{ product: LOCAL_SMALL, command, allowDuplicateJob: true, timeAllocation: { hours: 1 } }] });
  const id = data.createJobs[0].job.id as string;
  expect((await client.pi.ok(SET_ACL, { id, acl })).updateJobAcl).toEqual({ ok: true, error: null });
  await waitForState(client.pi, id, ['RUNNING']);
  return id;
}

const itemCode = (item: { ok?: boolean; error: { code: string } | null }) => item.error?.code ?? 'OK';
const topCode = (res: { errors?: { extensions?: { code?: string } }[] }) => res.errors?.[0]?.extensions?.code ?? 'OK';

/**
 * Every verb a holder could try on a job, each answering OK or its code: `prepare` puts the job
 * where the verb applies, `cleanup` (given the answer) puts it back to RUNNING.
 */
interface Verb {
  prepare?: (id: string) => Promise<void>;
  call: (c: TestClient, id: string) => Promise<string>;
  cleanup?: (id: string, answer: string) => Promise<void>;
}
const asPi = (mutation: string) => (id: string) =>
  client.pi.ok(`mutation ($id: ID!) { ${mutation}(ids: [$id]) { ok } }`, { id }).then(() => undefined);
const reach = (state: string) => (id: string) => waitForState(client.pi, id, [state]).then(() => undefined);

const VERBS: Record<string, Verb> = {
  job: {
    call: async (c, id) => topCode(await c.gql(`query ($id: ID!) { job(id: $id) { id status { state } logs { stdout } acl { entity } } }`, { id })),
  },
  jobs: {
    call: async (c, id) =>
      (await c.ok(`query ($id: ID!) { jobs(filter: { ids: [$id] }) { totalCount } }`, { id })).jobs.totalCount === 1 ? 'OK' : 'NOT_FOUND',
  },
  jobStat: {
    call: async (c, id) =>
      (await c.ok(`query ($id: ID!) { jobStat(stat: COUNT_RUNNING, filter: { ids: [$id] }) }`, { id })).jobStat === 1 ? 'OK' : 'NOT_FOUND',
  },
  followJob: {
    call: async (c, id) => {
      const { payloads } = await c.subscribe(FOLLOW, { id }, { until: () => true, timeoutMs: 5_000 });
      return payloads[0]?.data?.followJob ? 'OK' : (payloads[0]?.errors?.[0]?.extensions?.code ?? 'NONE');
    },
  },
  extendJobs: {
    call: async (c, id) =>
      itemCode(
        (await c.ok(`mutation ($id: ID!) { extendJobs(items: [{ jobId: $id, requestedTime: { minutes: 1 } }]) { ok error { code } } }`, { id }))
          .extendJobs[0],
      ),
  },
  suspendJobs: {
    call: async (c, id) => itemCode((await c.ok(`mutation ($id: ID!) { suspendJobs(ids: [$id]) { ok error { code } } }`, { id })).suspendJobs[0]),
    async cleanup(id, answer) {
      if (answer !== 'OK') return;
      await reach('SUSPENDED')(id);
      await asPi('unsuspendJobs')(id);
      await reach('RUNNING')(id);
    },
  },
  unsuspendJobs: {
    async prepare(id) {
      await asPi('suspendJobs')(id);
      await reach('SUSPENDED')(id);
    },
    call: async (c, id) => itemCode((await c.ok(`mutation ($id: ID!) { unsuspendJobs(ids: [$id]) { ok error { code } } }`, { id })).unsuspendJobs[0]),
    async cleanup(id, answer) {
      if (answer !== 'OK') await asPi('unsuspendJobs')(id);
      await reach('RUNNING')(id);
    },
  },
  // Who may open a session is who may change the job (EDIT): the local provider's products offer SHELL.
  openInteractiveSessions: {
    call: async (c, id) =>
      itemCode(
        (await c.ok(`mutation ($id: ID!) { openInteractiveSessions(items: [{ jobId: $id, sessionType: SHELL }]) { error { code } } }`, { id }))
          .openInteractiveSessions[0],
      ),
  },
  updateJobAcl: {
    async call(c, id) {
      const current = (await client.pi.ok(`query ($id: ID!) { job(id: $id) { acl { entity permissions } } }`, { id })).job.acl;
      // Passing it means setting the ACL it already has.
      return itemCode((await c.ok(SET_ACL, { id, acl: current })).updateJobAcl);
    },
  },
  // Last: it ends the job.
  terminateJobs: {
    call: async (c, id) => itemCode((await c.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok error { code } } }`, { id })).terminateJobs[0]),
  },
};

const EXPECTED: Record<string, Record<string, string>> = {
  none: Object.fromEntries(Object.keys(VERBS).map((verb) => [verb, 'NOT_FOUND'])),
  READ: { ...Object.fromEntries(Object.keys(VERBS).map((verb) => [verb, 'FORBIDDEN'])), job: 'OK', jobs: 'OK', jobStat: 'OK', followJob: 'OK' },
  EDIT: {
    job: 'OK',
    jobs: 'OK',
    jobStat: 'OK',
    followJob: 'OK',
    extendJobs: 'OK',
    suspendJobs: 'OK',
    unsuspendJobs: 'OK',
    openInteractiveSessions: 'OK',
    updateJobAcl: 'FORBIDDEN',
    terminateJobs: 'FORBIDDEN',
  },
  ADMIN: Object.fromEntries(Object.keys(VERBS).map((verb) => [verb, 'OK'])),
};

/** Each verb by `who` on `id`: what it answered, and that a refused verb left the job as it was. */
async function tryEverything(who: Person, id: string): Promise<Record<string, string>> {
  const answers: Record<string, string> = {};
  for (const [name, verb] of Object.entries(VERBS)) {
    await verb.prepare?.(id);
    const before = (await env.snapshot()).jobs.get(id);
    const answer = await verb.call(client[who], id);
    answers[name] = answer;
    if (answer !== 'OK' && answer !== 'UNSUPPORTED') expect((await env.snapshot()).jobs.get(id), `${name} by ${who}`).toStrictEqual(before);
    await verb.cleanup?.(id, answer);
  }
  return answers;
}

describe('what each permission allows', () => {
  it.each([
    ['READ by name', 'reader', 'READ'],
    ['EDIT by name', 'editor', 'EDIT'],
    ['ADMIN by name', 'owner2', 'ADMIN'],
    ['EDIT through a group', 'grouped', 'EDIT'],
    ['nothing to a member the job is not shared with', 'plain', 'none'],
    ['nothing to a user outside the project', 'stranger', 'none'],
  ] as const)('%s', async (_what, who, permission) => {
    const acl =
      who === 'grouped'
        ? [{ entity: `${project}/lab`, permissions: ['EDIT'] }]
        : permission === 'none'
          ? [{ entity: name('reader'), permissions: ['READ'] }]
          : [{ entity: name(who), permissions: [permission] }];
    const id = await sharedJob(acl);
    expect(await tryEverything(who, id)).toEqual(EXPECTED[permission]);
    await client.pi.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id });
  });
});

describe('revoking', () => {
  it('takes every right away at once, and ends a followJob the holder had open', async () => {
    const id = await sharedJob(
      [
        { entity: name('reader'), permissions: ['READ'] },
        { entity: name('editor'), permissions: ['EDIT'] },
      ],
      ['sh', '-c', 'while true; do echo tick; sleep 0.2; done'],
    );
    const open = client.reader.subscribe(FOLLOW, { id }, { until: (payload) => Boolean(payload.errors), timeoutMs: 15_000 });
    await eventually(async () => (await client.reader.ok(`query ($id: ID!) { job(id: $id) { logs { stdout } } }`, { id })).job.logs.length > 0);
    expect((await client.pi.ok(SET_ACL, { id, acl: [] })).updateJobAcl.ok).toBe(true);
    expect(await tryEverything('reader', id)).toEqual(EXPECTED.none);
    expect(await tryEverything('editor', id)).toEqual(EXPECTED.none);
    const { payloads } = await open;
    expect(payloads[0]?.data?.followJob.jobId).toBe(id);
    expect(payloads.at(-1)?.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    await client.pi.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id });
  });

  it('takes a group share away from a member taken out of the group', async () => {
    const id = await sharedJob([{ entity: `${project}/lab`, permissions: ['READ'] }]);
    expect(await VERBS.job!.call(client.grouped, id)).toBe('OK');
    await client.pi.ok(`mutation { removeProjectGroupMember(project: "${project}", group: "lab", username: "${name('grouped')}") { id } }`);
    expect(await VERBS.job!.call(client.grouped, id)).toBe('NOT_FOUND');
    await client.pi.ok(`mutation { addProjectGroupMember(project: "${project}", group: "lab", username: "${name('grouped')}") { id } }`);
    await client.pi.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id });
  });
});

describe('what an ACL may name', () => {
  it('refuses entities outside the project, doubles and empty permissions, and shares no personal job; each refusal changes nothing', async () => {
    const id = await sharedJob([{ entity: name('reader'), permissions: ['READ'] }]);
    const before = (await env.snapshot()).jobs.get(id);
    for (const acl of [
      [{ entity: name('stranger'), permissions: ['READ'] }],
      [{ entity: 'other-project/lab', permissions: ['READ'] }],
      [{ entity: `${project}/no-such-group`, permissions: ['READ'] }],
      [
        { entity: name('reader'), permissions: ['READ'] },
        { entity: name('reader'), permissions: ['EDIT'] },
      ],
      [{ entity: name('reader'), permissions: [] }],
    ]) {
      expect((await client.pi.ok(SET_ACL, { id, acl })).updateJobAcl.error.code).toBe('INVALID_INPUT');
    }
    expect((await env.snapshot()).jobs.get(id)).toStrictEqual(before);
    const personal = await client.pi.in(null).ok(CREATE_JOB, { s: [{ product: LOCAL_SMALL, command: ['sleep', '30'], allowDuplicateJob: true }] });
    const personalId = personal.createJobs[0].job.id;
    expect((await client.pi.ok(SET_ACL, { id: personalId, acl: [{ entity: name('reader'), permissions: ['READ'] }] })).updateJobAcl.error.code).toBe(
      'INVALID_INPUT',
    );
    // Repeated permissions are kept once, weakest first.
    await client.pi.ok(SET_ACL, { id, acl: [{ entity: name('reader'), permissions: ['ADMIN', 'READ', 'ADMIN'] }] });
    expect((await client.pi.ok(`query ($id: ID!) { job(id: $id) { acl { entity permissions } } }`, { id })).job.acl).toEqual([
      { entity: name('reader'), permissions: ['READ', 'ADMIN'] },
    ]);
    await client.pi.ok(`mutation ($ids: [ID!]!) { terminateJobs(ids: $ids) { ok } }`, { ids: [id, personalId] });
  });
});
