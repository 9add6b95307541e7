/**
 * The cross-tenant suite, over real NATS and Redis: two projects (each with a
 * PI, an ADMIN or USER, a group, a pending invitation, running jobs and a
 * project wallet) and a stranger in no project. Every root field of the served
 * schema — each query, mutation and subscription, read from its introspection
 * — is tried by every outsider against each project's jobs, wallets and
 * members: from the outsider's own workspace, and with the Project header
 * naming the project. For each attempt:
 *
 * - it is refused with the code its case names (NOT_FOUND for a job, FORBIDDEN
 *   for a project, its wallets and its members), or answers only what the
 *   outsider may see;
 * - no answer holds anything of the project the request did not send (member
 *   and group names, invitees, job names, tags and commands, balances), nor a
 *   job id of the project in its data;
 * - and nothing changes: jobs and their ACLs, projects, memberships,
 *   invitations, transactions, wallets, users with their tokens and Backend.AI key pairs are the same
 *   before and after.
 *
 * A root field with no case here fails the suite: a new field cannot escape it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { buildClientSchema, getIntrospectionQuery, type IntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitForState, type GraphQLResponse, type TestClient } from './support/graphql-client.js';
import { LOCAL_SMALL, startTenancyGateway, type TenancyGateway, type TenancySnapshot } from './support/tenancy-gateway.js';

let env: TenancyGateway;
const tag = randomBytes(3).toString('hex');

interface Tenant {
  id: string;
  pi: { name: string; client: TestClient };
  member: { name: string; client: TestClient };
  group: string;
  invitee: string;
  jobs: string[];
  /** Its people's token ids (the SHA-256 of each token, as myTokens shows them). */
  tokenIds: string[];
  /** A paused schedule and a stopped service of the project, by its PI. */
  schedule: string;
  service: string;
  /** The access key of its PI's Backend.AI key pair. */
  accessKey: string;
  balance: number;
  /** What only the project's people may learn: names, job details, its balance. */
  secrets: string[];
}

const tenants: Tenant[] = [];
/** Outsiders by name: the other project's two people and the stranger. */
const outsiders = new Map<string, TestClient>();

async function makeTenant(letter: string, balance: number, memberRole: 'ADMIN' | 'USER'): Promise<Tenant> {
  const id = `x${letter}-${tag}`;
  const names = { pi: `x${letter}-pi-${tag}`, member: `x${letter}-member-${tag}`, invitee: `x${letter}-invitee-${tag}` };
  const pi = await env.user(names.pi);
  const member = await env.user(names.member);
  await env.user(names.invitee);
  const accessKey = (await env.admin.ok(`mutation ($u: ID!) { issueBackendAiKeypair(user: $u) { accessKey } }`, { u: names.pi }))
    .issueBackendAiKeypair.accessKey as string;
  await env.admin.ok(`mutation { createProject(id: "${id}", title: "Project ${letter}", pi: "${names.pi}") { id } }`);
  await pi.ok(`mutation { addProjectMember(project: "${id}", username: "${names.member}", role: ${memberRole}) { id } }`);
  const group = `x${letter}-group-${tag}`;
  await pi.ok(`mutation { createProjectGroup(project: "${id}", name: "${group}") { id } }`);
  await pi.ok(`mutation { addProjectGroupMember(project: "${id}", group: "${group}", username: "${names.member}") { id } }`);
  await pi.ok(`mutation { inviteProjectMember(project: "${id}", username: "${names.invitee}") { username } }`);
  // Before the project has credits: the service's first run makes no job (nothing is charged), and it is stopped at once.
  const secretName = `x${letter}-jobname-${tag}`;
  const inProject = pi.in(id);
  const schedule = (
    await inProject.ok(`mutation ($s: ScheduleInput!) { createSchedule(schedule: $s) { id } }`, {
      s: { name: secretName, cron: '0 0 1 1 *', specification: { product: LOCAL_SMALL, command: ['true'], name: secretName } },
    })
  ).createSchedule.id;
  await inProject.ok(`mutation ($id: ID!) { pauseSchedule(id: $id) { id } }`, { id: schedule });
  const service = (
    await inProject.ok(`mutation ($s: ServiceInput!) { createService(service: $s) { id } }`, {
      s: { name: secretName, specification: { product: LOCAL_SMALL, command: ['sleep', '300'], name: secretName, allowDuplicateJob: true } },
    })
  ).createService;
  await inProject.ok(`mutation ($id: ID!) { stopService(id: $id) { id } }`, { id: service.id });
  await env.admin.ok(
    `mutation { grantCredits(grant: { owner: "${id}", isProject: true, provider: "local", category: "local-cpu", amount: ${balance} }) { balance } }`,
  );
  // A share of the local provider whose size (its balance, so a secret) an outsider must not learn.
  await env.admin.ok(`mutation { setVirtualCluster(cluster: { project: "${id}", provider: "local", guaranteed: { cpu: ${balance} } }) { project } }`);
  const jobs: string[] = [];
  for (const [who, client] of [
    ['pi', pi],
    ['member', member],
  ] as const) {
    const data = await client
      .in(id)
      .ok(`mutation ($s: [JobSpecificationInput!]!) { createJobs(specifications: $s) { job { id } error { message } } }`, {
        s: [
          {
            product: LOCAL_SMALL,
            command: ['sleep', '300'],
            name: secretName,
            tags: [`x${letter}-tag-${tag}`],
            description: `x${letter}-${who}-desc-${tag}`,
            allowDuplicateJob: true,
          },
        ],
      });
    jobs.push(data.createJobs[0].job.id);
  }
  // Shared with the group: an ACL an outsider must neither see nor change.
  await pi.ok(`mutation ($id: ID!, $e: String!) { updateJobAcl(jobId: $id, acl: [{ entity: $e, permissions: [READ] }]) { ok } }`, {
    id: jobs[0],
    e: `${id}/${group}`,
  });
  for (const job of jobs) await waitForState(pi, job, ['RUNNING']);
  const tokenIds = [pi, member].map((c) => createHash('sha256').update(c.token!).digest('hex'));
  return {
    id,
    pi: { name: names.pi, client: pi },
    member: { name: names.member, client: member },
    group,
    invitee: names.invitee,
    jobs,
    tokenIds,
    schedule,
    service: service.id,
    accessKey,
    balance,
    secrets: [
      ...tokenIds,
      accessKey,
      names.pi,
      names.member,
      names.invitee,
      group,
      secretName,
      `x${letter}-tag-${tag}`,
      `x${letter}-pi-desc-${tag}`,
      String(balance),
    ],
  };
}

/** One request an outsider sends, and what must come back: a refusal with that code, or an answer that leaks nothing. */
interface Attempt {
  query: string;
  variables?: Record<string, unknown>;
  expect: 'NOT_FOUND' | 'FORBIDDEN' | 'clean';
  subscription?: boolean;
}

/** For each root field, the attempts of `attacker` (a user name) on `target`. */
type Case = (target: Tenant, attacker: string) => Attempt[];

const refusedJobs = (mutation: string, t: Tenant): Attempt => ({
  query: `mutation ($ids: [ID!]!) { ${mutation}(ids: $ids) { ok error { code } } }`,
  variables: { ids: t.jobs },
  expect: 'NOT_FOUND',
});
const forbidden = (query: string, variables?: Record<string, unknown>): Attempt => ({ query, variables, expect: 'FORBIDDEN' });
const clean = (query: string, variables?: Record<string, unknown>): Attempt => ({ query, variables, expect: 'clean' });
const PRODUCT_FIELDS = `id balance capacity queueStatus`;

const QUERIES: Record<string, Case> = {
  products: () => [clean(`{ products { ${PRODUCT_FIELDS} } }`)],
  product: () => [clean(`{ product(ref: { id: "local-small", provider: "local" }) { ${PRODUCT_FIELDS} } }`)],
  providers: () => [clean(`{ providers { id status products { id balance } } }`)],
  provider: () => [clean(`{ provider(id: "local") { id products { id balance } utilization { queueStatus { running pending } } } }`)],
  utilization: () => [clean(`{ utilization { queueStatus { running pending } usedCapacity { cpu } } }`)],
  job: (t) =>
    t.jobs.map((id) => ({
      query: `query ($id: ID!) { job(id: $id) { id owner { createdBy } acl { entity } logs { stdout } } }`,
      variables: { id },
      expect: 'NOT_FOUND' as const,
    })),
  jobs: (t) => [
    clean(`query ($ids: [ID!]) { jobs(filter: { ids: $ids }) { totalCount edges { node { id } } } }`, { ids: t.jobs }),
    clean(`{ jobs(first: 500) { totalCount edges { node { id specification { name } } } } }`),
    clean(`query ($c: [String!]) { jobs(filter: { createdBy: $c }) { totalCount edges { node { id } } } }`, { c: [t.pi.name, t.member.name] }),
    forbidden(`query ($p: String) { jobs(filter: { project: $p }) { totalCount } }`, { p: t.id }),
  ],
  jobStat: (t) => [
    clean(`query ($ids: [ID!]) { jobStat(stat: COUNT_ALL, filter: { ids: $ids }) }`, { ids: t.jobs }),
    forbidden(`query ($p: String) { jobStat(stat: COUNT_RUNNING, filter: { project: $p }) }`, { p: t.id }),
  ],
  wallets: (t) => [
    clean(`{ wallets { owner { createdBy project } balance } }`),
    forbidden(`query ($p: String) { wallets(project: $p) { balance } }`, { p: t.id }),
  ],
  me: () => [clean(`{ me { createdBy project } }`)],
  transactions: (t) => [
    clean(`{ transactions(first: 1000) { totalCount edges { node { owner amount description by } } } }`),
    forbidden(`query ($p: String) { transactions(project: $p) { totalCount } }`, { p: t.id }),
    forbidden(`query ($o: String) { transactions(owner: $o) { totalCount } }`, { o: t.pi.name }),
  ],
  projects: () => [
    clean(`{ projects { id members { username } groups { name } invites { username } } }`),
    forbidden(`{ projects(all: true) { id } }`),
  ],
  project: (t) => [forbidden(`query ($id: ID!) { project(id: $id) { id members { username } } }`, { id: t.id })],
  projectInvites: () => [clean(`{ projectInvites { project username invitedBy } }`)],
  users: () => [forbidden(`{ users { username disabled projects } }`)],
  backendAiKeypairs: (t) => [forbidden(`query ($u: ID!) { backendAiKeypairs(user: $u) { accessKey } }`, { u: t.pi.name })],
  myTokens: () => [clean(`{ myTokens { id issuedAt expiresAt current } }`)],
  quotas: (t) => [
    forbidden(`query ($p: ID!) { quotas(project: $p) { maxGpu } }`, { p: t.id }),
    forbidden(`query ($u: String!) { quotas(user: $u) { maxGpu } }`, { u: t.member.name }),
  ],
  schedule: (t) => [{ query: `query ($id: ID!) { schedule(id: $id) { id name } }`, variables: { id: t.schedule }, expect: 'NOT_FOUND' }],
  schedules: (t) => [clean(`query ($p: ID) { schedules(project: $p) { id name } }`, { p: t.id }), clean(`{ schedules { id name } }`)],
  service: (t) => [{ query: `query ($id: ID!) { service(id: $id) { id name } }`, variables: { id: t.service }, expect: 'NOT_FOUND' }],
  services: (t) => [clean(`query ($p: ID) { services(project: $p) { id name } }`, { p: t.id }), clean(`{ services { id name } }`)],
  workspaceUsage: (t) => [
    forbidden(`query ($p: ID!) { workspaceUsage(project: $p) { inUse { jobs } } }`, { p: t.id }),
    forbidden(`query ($u: String!) { workspaceUsage(user: $u) { inUse { jobs } } }`, { u: t.member.name }),
  ],
  virtualClusters: (t) => [
    forbidden(`query ($p: ID!) { virtualClusters(project: $p) { provider guaranteed { cpu } } }`, { p: t.id }),
    clean(`{ virtualClusters { project provider guaranteed { cpu } inUse { jobs cpu } } }`),
  ],
  usageHistory: (t) => {
    const range = { from: new Date(Date.now() - 3_600_000).toISOString(), to: new Date(Date.now() + 3_600_000).toISOString() };
    const fields = `providers { provider virtualCluster { guaranteed { cpu } } quotas { maxGpu } buckets { cpuHours jobs } }`;
    return [
      forbidden(`query ($p: ID!, $f: DateTime!, $t: DateTime!) { usageHistory(project: $p, from: $f, to: $t, bucket: HOUR) { ${fields} } }`, {
        p: t.id,
        f: range.from,
        t: range.to,
      }),
      forbidden(`query ($u: String!, $f: DateTime!, $t: DateTime!) { usageHistory(user: $u, from: $f, to: $t, bucket: HOUR) { ${fields} } }`, {
        u: t.member.name,
        f: range.from,
        t: range.to,
      }),
    ];
  },
};

const MUTATIONS: Record<string, Case> = {
  createJobs: (t) => [
    forbidden(
      `mutation ($p: String) { createJobs(specifications: [{ product: { id: "local-small", provider: "local" }, command: ["true"], project: $p }]) { job { id } error { code } } }`,
      {
        p: t.id,
      },
    ),
  ],
  terminateJobs: (t) => [refusedJobs('terminateJobs', t)],
  suspendJobs: (t) => [refusedJobs('suspendJobs', t)],
  unsuspendJobs: (t) => [refusedJobs('unsuspendJobs', t)],
  extendJobs: (t) => [
    {
      query: `mutation ($items: [JobExtendInput!]!) { extendJobs(items: $items) { ok error { code } } }`,
      variables: { items: t.jobs.map((jobId) => ({ jobId, requestedTime: { hours: 1 } })) },
      expect: 'NOT_FOUND',
    },
  ],
  openInteractiveSessions: (t) => [
    {
      query: `mutation ($items: [OpenSessionInput!]!) { openInteractiveSessions(items: $items) { session { url } error { code } } }`,
      variables: { items: t.jobs.map((jobId) => ({ jobId, sessionType: 'SHELL' })) },
      expect: 'NOT_FOUND',
    },
  ],
  updateJobAcl: (t, attacker) =>
    t.jobs.map((id) => ({
      query: `mutation ($id: ID!, $e: String!) { updateJobAcl(jobId: $id, acl: [{ entity: $e, permissions: [ADMIN] }]) { ok error { code } } }`,
      variables: { id, e: attacker },
      expect: 'NOT_FOUND' as const,
    })),
  grantCredits: (t, attacker) => [
    forbidden(
      `mutation ($o: String!) { grantCredits(grant: { owner: $o, isProject: true, provider: "local", category: "local-cpu", amount: 5 }) { balance } }`,
      { o: t.id },
    ),
    forbidden(`mutation ($o: String!) { grantCredits(grant: { owner: $o, provider: "local", category: "local-cpu", amount: 5 }) { balance } }`, {
      o: attacker,
    }),
  ],
  createUser: (t) => [
    forbidden(`mutation ($u: String!) { createUser(username: $u, password: "a-long-password", admin: true) { username } }`, { u: `${t.id}-new` }),
  ],
  createProject: (t, attacker) => [
    forbidden(`mutation ($id: ID!, $pi: String!) { createProject(id: $id, title: "Mine now", pi: $pi) { id } }`, { id: t.id, pi: attacker }),
  ],
  addProjectMember: (t, attacker) => [
    forbidden(`mutation ($p: ID!, $u: String!) { addProjectMember(project: $p, username: $u, role: ADMIN) { id } }`, { p: t.id, u: attacker }),
  ],
  inviteProjectMember: (t, attacker) => [
    forbidden(`mutation ($p: ID!, $u: String!) { inviteProjectMember(project: $p, username: $u) { project } }`, { p: t.id, u: attacker }),
  ],
  acceptProjectInvite: (t) => [
    { query: `mutation ($p: ID!) { acceptProjectInvite(project: $p) { id } }`, variables: { p: t.id }, expect: 'NOT_FOUND' },
  ],
  declineProjectInvite: (t) => [{ query: `mutation ($p: ID!) { declineProjectInvite(project: $p) }`, variables: { p: t.id }, expect: 'NOT_FOUND' }],
  removeProjectMember: (t) =>
    [t.member.name, t.invitee].map((u) =>
      forbidden(`mutation ($p: ID!, $u: String!) { removeProjectMember(project: $p, username: $u) { id } }`, { p: t.id, u }),
    ),
  leaveProject: (t) => [forbidden(`mutation ($p: ID!) { leaveProject(project: $p) }`, { p: t.id })],
  changeProjectRole: (t) => [
    forbidden(`mutation ($p: ID!, $u: String!) { changeProjectRole(project: $p, username: $u, role: USER) { id } }`, { p: t.id, u: t.member.name }),
  ],
  transferProjectPi: (t, attacker) => [
    forbidden(`mutation ($p: ID!, $u: String!) { transferProjectPi(project: $p, username: $u) { id } }`, { p: t.id, u: attacker }),
  ],
  createProjectGroup: (t) => [forbidden(`mutation ($p: ID!) { createProjectGroup(project: $p, name: "intruders") { id } }`, { p: t.id })],
  deleteProjectGroup: (t) => [
    forbidden(`mutation ($p: ID!, $g: String!) { deleteProjectGroup(project: $p, name: $g) { id } }`, { p: t.id, g: t.group }),
  ],
  addProjectGroupMember: (t, attacker) => [
    forbidden(`mutation ($p: ID!, $g: String!, $u: String!) { addProjectGroupMember(project: $p, group: $g, username: $u) { id } }`, {
      p: t.id,
      g: t.group,
      u: attacker,
    }),
  ],
  removeProjectGroupMember: (t) => [
    forbidden(`mutation ($p: ID!, $g: String!, $u: String!) { removeProjectGroupMember(project: $p, group: $g, username: $u) { id } }`, {
      p: t.id,
      g: t.group,
      u: t.member.name,
    }),
  ],
  archiveProject: (t) => [forbidden(`mutation ($p: ID!) { archiveProject(project: $p) { id } }`, { p: t.id })],
  setQuota: (t) => [
    forbidden(`mutation ($p: ID!) { setQuota(quota: { project: $p, maxJobs: 0 }) { maxJobs } }`, { p: t.id }),
    forbidden(`mutation ($p: ID!, $u: String!) { setQuota(quota: { project: $p, user: $u, maxJobs: 0 }) { maxJobs } }`, {
      p: t.id,
      u: t.member.name,
    }),
    forbidden(`mutation ($u: String!) { setQuota(quota: { user: $u, maxJobs: 0 }) { maxJobs } }`, { u: t.member.name }),
  ],
  createSchedule: (t) => [
    forbidden(
      `mutation ($p: String) { createSchedule(schedule: { cron: "0 0 * * *", specification: { product: { id: "local-small", provider: "local" }, command: ["true"], project: $p } }) { id } }`,
      {
        p: t.id,
      },
    ),
  ],
  pauseSchedule: (t) => [{ query: `mutation ($id: ID!) { pauseSchedule(id: $id) { id } }`, variables: { id: t.schedule }, expect: 'NOT_FOUND' }],
  resumeSchedule: (t) => [{ query: `mutation ($id: ID!) { resumeSchedule(id: $id) { id } }`, variables: { id: t.schedule }, expect: 'NOT_FOUND' }],
  deleteSchedule: (t) => [{ query: `mutation ($id: ID!) { deleteSchedule(id: $id) }`, variables: { id: t.schedule }, expect: 'NOT_FOUND' }],
  createService: (t) => [
    forbidden(
      `mutation ($p: String) { createService(service: { specification: { product: { id: "local-small", provider: "local" }, command: ["true"], project: $p } }) { id } }`,
      {
        p: t.id,
      },
    ),
  ],
  stopService: (t) => [{ query: `mutation ($id: ID!) { stopService(id: $id) { id } }`, variables: { id: t.service }, expect: 'NOT_FOUND' }],
  removeQuota: (t) => [
    forbidden(`mutation ($p: ID!) { removeQuota(quota: { project: $p }) }`, { p: t.id }),
    forbidden(`mutation ($u: String!) { removeQuota(quota: { user: $u }) }`, { u: t.member.name }),
  ],
  setVirtualCluster: (t) => [
    forbidden(`mutation ($p: ID!) { setVirtualCluster(cluster: { project: $p, provider: "local", guaranteed: { cpu: 0 } }) { project } }`, {
      p: t.id,
    }),
  ],
  removeVirtualCluster: (t) => [forbidden(`mutation ($p: ID!) { removeVirtualCluster(project: $p, provider: "local") }`, { p: t.id })],
  disableUser: (t) =>
    [t.pi.name, t.member.name].map((u) => forbidden(`mutation ($u: String!) { disableUser(username: $u, terminateJobs: true) { disabled } }`, { u })),
  issueBackendAiKeypair: (t) => [forbidden(`mutation ($u: ID!) { issueBackendAiKeypair(user: $u) { accessKey secretKey } }`, { u: t.pi.name })],
  revokeBackendAiKeypair: (t) => [forbidden(`mutation ($k: String!) { revokeBackendAiKeypair(accessKey: $k) }`, { k: t.accessKey })],
  // Tokens another user's dialect clients would sign in with: only an administrator hands them out.
  issueApoloToken: (t) => [forbidden(`mutation ($u: ID!) { issueApoloToken(user: $u) }`, { u: t.pi.name })],
  issueUcloudRefreshToken: (t) => [forbidden(`mutation ($u: ID!) { issueUcloudRefreshToken(user: $u) }`, { u: t.pi.name })],
  enableUser: (t) => [forbidden(`mutation ($u: String!) { enableUser(username: $u) { disabled } }`, { u: t.member.name })],
  // The only password a caller may change is its own, and only knowing it.
  changePassword: () => [forbidden(`mutation { changePassword(currentPassword: "not-the-password", newPassword: "a-new-long-password") }`)],
  revokeToken: (t) =>
    t.tokenIds.map((id) => ({ query: `mutation ($id: ID!) { revokeToken(id: $id) }`, variables: { id }, expect: 'NOT_FOUND' as const })),
};

const SUBSCRIPTIONS: Record<string, Case> = {
  followJob: (t) =>
    t.jobs.map((id) => ({
      query: `subscription ($id: ID!) { followJob(id: $id) { jobId updates { status } logs { stdout } newStatus { state } } }`,
      variables: { id },
      expect: 'NOT_FOUND' as const,
      subscription: true,
    })),
};

/** The codes an answer carries: the request's errors, else every item's error in its data. */
function codesOf(response: GraphQLResponse): string[] {
  if (response.errors?.length) return response.errors.map((e) => e.extensions?.code ?? 'NONE');
  const codes: string[] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') {
      const { error, ...rest } = value as { error?: { code?: string } | null };
      if (error) codes.push(error.code ?? 'NONE');
      Object.values(rest).forEach(walk);
    }
  };
  walk(response.data);
  return codes;
}

async function send(client: TestClient, attempt: Attempt): Promise<GraphQLResponse[]> {
  if (!attempt.subscription) return [await client.gql(attempt.query, attempt.variables)];
  return (await client.subscribe(attempt.query, attempt.variables ?? {}, { until: () => true, timeoutMs: 5_000 })).payloads;
}

/** What is wrong with the answers to one attempt. */
function problemsOf(attempt: Attempt, expectedCode: string, target: Tenant, answers: GraphQLResponse[]): string[] {
  const problems: string[] = [];
  const sent = JSON.stringify([attempt.query, attempt.variables ?? {}]);
  if (answers.length === 0) problems.push('no answer');
  for (const answer of answers) {
    const codes = codesOf(answer);
    if (expectedCode === 'clean') {
      if (codes.length) problems.push(`refused with ${codes.join(', ')}, expected an answer`);
    } else if (codes.length === 0 || codes.some((c) => c !== expectedCode)) {
      problems.push(`answered ${codes.length ? codes.join(', ') : JSON.stringify(answer.data).slice(0, 200)}, expected ${expectedCode}`);
    }
    const text = JSON.stringify(answer);
    for (const secret of target.secrets) if (!sent.includes(secret) && text.includes(secret)) problems.push(`leaks "${secret}"`);
    const data = JSON.stringify(answer.data ?? null);
    for (const id of target.jobs) if (data.includes(id)) problems.push(`leaks job ${id} in its data`);
  }
  return problems;
}

function diff(before: TenancySnapshot, after: TenancySnapshot): string[] {
  const changed: string[] = [];
  for (const key of [
    'jobs',
    'projects',
    'memberships',
    'invitations',
    'transactions',
    'wallets',
    'users',
    'tokens',
    'keypairs',
    'virtualClusters',
  ] as const) {
    try {
      expect(after[key]).toStrictEqual(before[key]);
    } catch {
      changed.push(key);
    }
  }
  return changed;
}

let served: Record<'query' | 'mutation' | 'subscription', string[]>;

beforeAll(async () => {
  env = await startTenancyGateway();
  tenants.push(await makeTenant('a', 7_654_321, 'ADMIN'), await makeTenant('b', 8_765_432, 'USER'));
  outsiders.set(`xs-stranger-${tag}`, await env.user(`xs-stranger-${tag}`));
  const schema = buildClientSchema(await env.admin.ok<IntrospectionQuery>(getIntrospectionQuery()));
  served = {
    query: Object.keys(schema.getQueryType()!.getFields()),
    mutation: Object.keys(schema.getMutationType()!.getFields()),
    subscription: Object.keys(schema.getSubscriptionType()!.getFields()),
  };
}, 60_000);
afterAll(async () => {
  if (env) for (const t of tenants) await t.pi.client.ok(`mutation ($ids: [ID!]!) { terminateJobs(ids: $ids) { ok } }`, { ids: t.jobs });
  await env?.stop();
});

describe('the cross-tenant suite', () => {
  it('has a case for every query, mutation and subscription the gateway serves, and none for a field it does not', () => {
    expect(served.query.length).toBeGreaterThan(10);
    expect([...served.query].sort()).toEqual(Object.keys(QUERIES).sort());
    expect([...served.mutation].sort()).toEqual(Object.keys(MUTATIONS).sort());
    expect([...served.subscription].sort()).toEqual(Object.keys(SUBSCRIPTIONS).sort());
  });

  it('shows each project its own jobs: the targets of the attempts are real', async () => {
    for (const t of tenants) {
      for (const id of t.jobs) expect((await t.pi.client.ok(`query ($id: ID!) { job(id: $id) { id } }`, { id })).job.id).toBe(id);
      expect((await t.pi.client.in(t.id).ok(`{ wallets { balance } }`)).wallets[0].balance).toBe(t.balance);
      // The project's people see its members, its group and its invitation: the secrets are real too.
      const project = JSON.stringify(
        await t.pi.client.ok(`query ($id: ID!) { project(id: $id) { members { username } groups { name } invites { username } } }`, { id: t.id }),
      );
      for (const secret of [t.member.name, t.group, t.invitee]) expect(project).toContain(secret);
    }
  });

  for (const [kind, cases] of [
    ['query', QUERIES],
    ['mutation', MUTATIONS],
    ['subscription', SUBSCRIPTIONS],
  ] as const) {
    it(`lets no outsider learn or change anything of a project through any ${kind}`, async () => {
      const problems: string[] = [];
      for (const target of tenants) {
        const others = tenants.filter((t) => t !== target).flatMap((t) => [t.pi, t.member]);
        const attackers: [string, TestClient][] = [...others.map((o) => [o.name, o.client] as [string, TestClient]), ...outsiders];
        for (const [field, makeAttempts] of Object.entries(cases)) {
          for (const [attacker, client] of attackers) {
            for (const attempt of makeAttempts(target, attacker)) {
              // From the outsider's own workspace, then claiming the project's with the Project header.
              for (const [where, as, code] of [
                ['own workspace', client, attempt.expect],
                ['Project header', client.in(target.id), 'FORBIDDEN'],
              ] as const) {
                const before = await env.snapshot();
                const answers = await send(as, attempt);
                const found = problemsOf(attempt, code, target, answers);
                const changed = diff(before, await env.snapshot());
                if (changed.length) found.push(`changed ${changed.join(', ')}`);
                for (const p of found) problems.push(`${kind} ${field} by ${attacker} on ${target.id} (${where}): ${p}\n  ${attempt.query}`);
              }
            }
          }
        }
      }
      expect(problems).toEqual([]);
    }, 180_000);
  }
});
