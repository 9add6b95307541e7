/**
 * Single sign-on over real NATS and Redis, against a real OpenID provider
 * (oidc-provider) run by the test: users log in there through the
 * authorization-code flow and call the gateway with the JWT access tokens it
 * issues. Tokens of an untrusted issuer, of an impostor claiming the trusted
 * issuer, for another audience, or expired are refused; groups become project
 * memberships on each sign-in; a disabled user's tokens stop working.
 */
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { oidcIssuers } from '../gateway/access/oidc-config.js';
import { createClient, eventually, type TestClient } from './support/graphql-client.js';
import { GATEWAY_AUDIENCE, OTHER_AUDIENCE, startIdentityProvider, type IdentityProvider } from './support/identity-provider.js';
import { LOCAL_SMALL, startTenancyGateway, type TenancyGateway } from './support/tenancy-gateway.js';

let idp: IdentityProvider;
let untrusted: IdentityProvider;
let impostor: IdentityProvider;
let env: TenancyGateway;
let count = 0;

const NAMESPACE = 'acme';
const GRANT = `mutation ($g: GrantInput!) { grantCredits(grant: $g) { balance } }`;
const CREATE_JOB = `mutation ($s: [JobSpecificationInput!]!) { createJobs(specifications: $s) { job { id owner { createdBy project } } error { code message } } }`;

beforeAll(async () => {
  idp = await startIdentityProvider();
  untrusted = await startIdentityProvider();
  impostor = await startIdentityProvider({ issuer: idp.issuer });
  env = await startTenancyGateway({
    oidcIssuers: oidcIssuers([
      {
        issuer: idp.issuer,
        audience: GATEWAY_AUDIENCE,
        namespace: NAMESPACE,
        usernameClaim: 'preferred_username',
        memberships: [
          { group: 'genomics', project: 'genomics', role: 'USER' },
          { group: 'genomics-leads', project: 'genomics', role: 'ADMIN' },
        ],
        adminGroups: ['switchyard-admins'],
        algorithms: ['ES256'],
        clockToleranceSeconds: 0,
      },
    ]),
  });
}, 60_000);
afterAll(async () => {
  await env?.stop();
  await Promise.all([idp, untrusted, impostor].map((p) => p?.stop()));
});

const code = (res: { errors?: { extensions?: { code?: string } }[] }) => res.errors?.[0]?.extensions?.code;

/** A new user at the identity provider, in these groups; its Switchyard name. */
function person(groups: string[] = [], at: IdentityProvider = idp): { login: string; username: string } {
  const login = `sso${++count}`;
  at.accounts.set(login, { password: `pw-${login}`, groups });
  return { login, username: `${login}@${NAMESPACE}` };
}

async function signedIn(login: string, at: IdentityProvider = idp): Promise<TestClient> {
  return createClient(env.url, await at.login(login));
}

/** A 401 UNAUTHENTICATED answer whose message says why. */
async function expectRefused(client: TestClient, why: RegExp): Promise<void> {
  const res = await client.gql(`{ me { createdBy } }`);
  expect(res.status).toBe(401);
  expect(code(res)).toBe('UNAUTHENTICATED');
  expect(res.errors?.[0]?.message).toMatch(why);
}

describe('signing in', () => {
  it('creates the user on its first request with a token from the identity provider, with no password of its own', async () => {
    const { login, username } = person();
    expect(await env.store.getUser(username)).toBeNull();
    const client = await signedIn(login);
    expect((await client.ok(`{ me { createdBy project } }`)).me).toEqual({ createdBy: username, project: null });
    const stored = await env.store.getUser(username);
    expect(stored).toMatchObject({ username, admin: false, passwordHash: '', oidcSubjects: { [idp.issuer]: login } });
    expect((await env.admin.ok(`{ users { username } }`)).users).toContainEqual({ username });
    // The same user on its next token; it has no password to log in with here, nor to change.
    const again = await signedIn(login);
    expect((await again.ok(`{ me { createdBy } }`)).me.createdBy).toBe(username);
    expect((await env.store.listUsers()).filter((u) => u.username === username)).toHaveLength(1);
    const password = await fetch(`${env.url}/api/v1/token`, {
      method: 'POST',
      body: JSON.stringify({ username, password: 'a-password-it-never-had' }),
    });
    expect(password.status).toBe(401);
    expect(code(await again.gql(`mutation { changePassword(currentPassword: "", newPassword: "a-new-password") }`))).toBe('FORBIDDEN');
  });

  it('takes the token over a websocket too, and refuses the connection for an untrusted one', async () => {
    const { createClient: createWsClient } = await import('graphql-ws');
    const { default: WebSocket } = await import('ws');
    const ask = async (token: string) => {
      const ws = createWsClient({
        url: env.url.replace('http', 'ws') + '/graphql',
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        connectionParams: { Authorization: `Bearer ${token}` },
      });
      try {
        return await new Promise<unknown>((resolve, reject) => {
          ws.subscribe({ query: `{ me { createdBy } }` }, { next: resolve, error: reject, complete: () => undefined });
        });
      } finally {
        await ws.dispose();
      }
    };
    const { login, username } = person();
    expect(await ask(await idp.login(login))).toEqual({ data: { me: { createdBy: username } } });
    const stranger = person([], untrusted);
    const refused = (await ask(await untrusted.login(stranger.login)).catch((error: unknown) => error)) as { code?: number };
    expect(refused.code).toBe(4403);
  });

  it('makes administrators of the groups configured for it', async () => {
    const admin = person(['switchyard-admins']);
    const plain = person(['genomics']);
    const adminClient = await signedIn(admin.login);
    expect((await adminClient.ok(`{ users { username } }`)).users).toContainEqual({ username: admin.username });
    expect(code(await (await signedIn(plain.login)).gql(`{ users { username } }`))).toBe('FORBIDDEN');
    // Out of the group, the next sign-in takes the flag away.
    idp.accounts.get(admin.login)!.groups = [];
    expect(code(await (await signedIn(admin.login)).gql(`{ users { username } }`))).toBe('FORBIDDEN');
    expect((await env.store.getUser(admin.username))!.admin).toBe(false);
  });

  it('refuses a token from an issuer it does not trust, and one signed by an impostor of the trusted issuer', async () => {
    const stranger = person([], untrusted);
    await expectRefused(await signedIn(stranger.login, untrusted), /issuer .* is not one this gateway trusts/);
    await expectRefused(createClient(env.url, await untrusted.serviceToken()), /not one this gateway trusts/);
    const fake = person([], impostor);
    const forged = await impostor.login(fake.login);
    expect(decodeJwt(forged).iss).toBe(idp.issuer);
    await expectRefused(createClient(env.url, forged), /signature does not verify/);
    expect(await env.store.getUser(stranger.username)).toBeNull();
    expect(await env.store.getUser(fake.username)).toBeNull();
  });

  it('refuses a token issued for another audience', async () => {
    const { login, username } = person();
    const token = await idp.login(login, { resource: OTHER_AUDIENCE });
    expect(decodeJwt(token).aud).toBe(OTHER_AUDIENCE);
    await expectRefused(createClient(env.url, token), /another audience/);
    expect(await env.store.getUser(username)).toBeNull();
  });

  it('refuses a token once it has expired', async () => {
    const { login } = person();
    const token = await idp.login(login, { client: 'short-lived' });
    const { exp } = decodeJwt(token);
    // The gateway's clock is the system's here: wait until the token's last second is over.
    await eventually(async () => Date.now() >= (exp! + 1) * 1000 || undefined, { what: 'the token to expire', timeoutMs: 10_000 });
    await expectRefused(createClient(env.url, token), /expired/);
  });

  it('refuses a token without the claim that names the user', async () => {
    // A client-credentials token has a subject (the client) but no preferred_username.
    await expectRefused(createClient(env.url, await idp.serviceToken()), /no preferred_username claim/);
  });
});

describe('project memberships from claims', () => {
  it("maps groups to the project's roles on each sign-in: a USER sees its own jobs, an ADMIN all of them, and leaving the group removes it", async () => {
    const pi = await env.user(`pi${++count}`, { fund: false });
    const piName = (await pi.ok(`{ me { createdBy } }`)).me.createdBy as string;
    await env.admin.ok(`mutation ($pi: String!) { createProject(id: "genomics", title: "Genomics", pi: $pi) { id } }`, { pi: piName });
    await env.admin.ok(GRANT, { g: { owner: 'genomics', isProject: true, provider: 'local', category: 'local-cpu', amount: 1_000_000 } });
    const spec = { product: LOCAL_SMALL, command: ['sleep', '30'], allowDuplicateJob: true };
    const piJob = (await pi.in('genomics').ok(CREATE_JOB, { s: [spec] })).createJobs[0].job.id as string;

    const member = person(['genomics']);
    const user = (await signedIn(member.login)).in('genomics');
    const project = await user.ok(`{ project(id: "genomics") { myRole members { username role } } }`);
    expect(project.project.myRole).toBe('USER');
    expect(project.project.members).toContainEqual({ username: member.username, role: 'USER' });
    const created = (await user.ok(CREATE_JOB, { s: [spec] })).createJobs[0];
    expect(created.error).toBeNull();
    expect(created.job.owner).toEqual({ createdBy: member.username, project: 'genomics' });
    const visible = async (client: TestClient) =>
      ((await client.ok(`{ jobs(first: 100) { edges { node { id } } } }`)).jobs.edges as { node: { id: string } }[]).map((e) => e.node.id).sort();
    expect(await visible(user)).toEqual([created.job.id]);
    expect(code(await user.gql(`query ($id: ID!) { job(id: $id) { id } }`, { id: piJob }))).toBe('NOT_FOUND');

    // A group that maps to ADMIN: on the next sign-in the user sees every job of the project.
    idp.accounts.get(member.login)!.groups = ['genomics', 'genomics-leads'];
    const lead = (await signedIn(member.login)).in('genomics');
    expect((await lead.ok(`{ project(id: "genomics") { myRole } }`)).project.myRole).toBe('ADMIN');
    expect(await visible(lead)).toEqual([piJob, created.job.id].sort());

    // Out of the groups: the next sign-in removes it from the project, and the project is closed to it.
    idp.accounts.get(member.login)!.groups = [];
    const gone = await signedIn(member.login);
    expect(code(await gone.in('genomics').gql(`{ me { createdBy } }`))).toBe('FORBIDDEN');
    expect(code(await gone.gql(`query ($id: ID!) { job(id: $id) { id } }`, { id: created.job.id }))).toBe('NOT_FOUND');
    expect((await env.store.getProject('genomics'))!.members.map((m) => m.username)).toEqual([piName]);
    await env.admin.ok(`mutation ($ids: [ID!]!) { terminateJobs(ids: $ids) { ok } }`, { ids: [piJob, created.job.id] });
  });

  it('leaves memberships in projects the mapping does not name alone', async () => {
    const { login, username } = person([]);
    await (await signedIn(login)).ok(`{ me { createdBy } }`);
    const pi = `pi${++count}`;
    await env.user(pi, { fund: false });
    const id = `other${count}`;
    await env.admin.ok(`mutation ($id: ID!, $pi: String!) { createProject(id: $id, title: "Other", pi: $pi) { id } }`, { id, pi });
    await env.admin.ok(`mutation ($p: ID!, $u: String!) { addProjectMember(project: $p, username: $u, role: USER) { id } }`, { p: id, u: username });
    const again = await signedIn(login);
    expect((await again.in(id).ok(`{ project(id: "${id}") { myRole } }`)).project.myRole).toBe('USER');
  });
});

describe('disabled users', () => {
  it("refuses a disabled user's OIDC token on the next request, and its new ones, until it is enabled", async () => {
    const { login, username } = person(['genomics']);
    const client = await signedIn(login);
    await client.ok(`{ me { createdBy } }`);
    await env.admin.ok(`mutation ($u: String!) { disableUser(username: $u) { disabled } }`, { u: username });
    await expectRefused(client, /disabled/);
    await expectRefused(await signedIn(login), /disabled/);
    await env.admin.ok(`mutation ($u: String!) { enableUser(username: $u) { disabled } }`, { u: username });
    expect((await client.ok(`{ me { createdBy } }`)).me.createdBy).toBe(username);
  });
});
