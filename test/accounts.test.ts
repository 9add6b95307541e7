/**
 * Accounts over real NATS and Redis: administrators list, disable and enable
 * users (a disabled user's token stops working on its next request, its jobs
 * run on unless the administrator says otherwise); users change their password
 * and list and revoke their own tokens.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createClient, waitForState, type TestClient } from './support/graphql-client.js';
import { LOCAL_SMALL, startTenancyGateway, type TenancyGateway } from './support/tenancy-gateway.js';

let env: TenancyGateway;
let count = 0;

beforeAll(async () => {
  env = await startTenancyGateway();
});
afterAll(async () => {
  await env?.stop();
});

const code = (res: { errors?: { extensions?: { code?: string } }[] }) => res.errors?.[0]?.extensions?.code;

function login(username: string, password: string): Promise<Response> {
  return fetch(`${env.url}/api/v1/token`, { method: 'POST', body: JSON.stringify({ username, password }) });
}

/** A new user with credits, its password, and a client holding a fresh token. */
async function account(): Promise<{ name: string; password: string; client: TestClient; again: () => Promise<TestClient> }> {
  const name = `acct${++count}`;
  const password = `pw-${name}-long-enough`;
  await env.user(name, { password });
  const again = async () => {
    const res = await login(name, password);
    return createClient(env.url, ((await res.json()) as { token: string }).token);
  };
  return { name, password, client: await again(), again };
}

async function runningJob(client: TestClient): Promise<string> {
  const data = await client.ok(`mutation ($s: [JobSpecificationInput!]!) { createJobs(specifications: $s) { job { id } } }`, {
    s: [{ product: LOCAL_SMALL, command: ['sleep', '60'], allowDuplicateJob: true }],
  });
  const id = data.createJobs[0].job.id as string;
  await waitForState(client, id, ['RUNNING']);
  return id;
}

describe('administrators and users', () => {
  it('lists users for administrators only', async () => {
    const { name, client } = await account();
    const listed = await env.admin.ok(`{ users { username admin disabled projects } }`);
    expect(listed.users).toContainEqual({ username: name, admin: false, disabled: false, projects: [] });
    expect(code(await client.gql(`{ users { username } }`))).toBe('FORBIDDEN');
  });

  it("stops a disabled user's token on its next request and its login, keeps its job running, and lets it back in when enabled", async () => {
    const { name, password, client, again } = await account();
    const job = await runningJob(client);
    expect(code(await client.gql(`mutation { disableUser(username: "${name}") { disabled } }`))).toBe('FORBIDDEN');
    const disabled = await env.admin.ok(`mutation { disableUser(username: "${name}") { username disabled } }`);
    expect(disabled.disableUser).toEqual({ username: name, disabled: true });
    const refused = await client.gql(`{ me { createdBy } }`);
    expect(refused.status).toBe(401);
    expect(code(refused)).toBe('UNAUTHENTICATED');
    expect((await login(name, password)).status).toBe(401);
    expect((await env.admin.ok(`query ($id: ID!) { job(id: $id) { status { state } } }`, { id: job })).job.status.state).toBe('RUNNING');
    expect(code(await env.admin.gql(`mutation { disableUser(username: "no-such-user") { disabled } }`))).toBe('NOT_FOUND');
    await env.admin.ok(`mutation { enableUser(username: "${name}") { disabled } }`);
    // The old token stays revoked; a new login works.
    expect((await client.gql(`{ me { createdBy } }`)).status).toBe(401);
    const back = await again();
    expect((await back.ok(`{ me { createdBy } }`)).me.createdBy).toBe(name);
    await back.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id: job });
  });

  it('terminates the jobs of a disabled user when the administrator says so', async () => {
    const { name, client } = await account();
    const jobs = [await runningJob(client), await runningJob(client)];
    await env.admin.ok(`mutation { disableUser(username: "${name}", terminateJobs: true) { disabled } }`);
    for (const id of jobs) expect((await waitForState(env.admin, id, ['SUCCESS'])).updates.at(-1).status).toMatch(/terminated/i);
  });

  it('ends a followJob of a user disabled while it follows', async () => {
    const { name, client } = await account();
    const data = await client.ok(`mutation ($s: [JobSpecificationInput!]!) { createJobs(specifications: $s) { job { id } } }`, {
      s: [{ product: LOCAL_SMALL, command: ['sh', '-c', 'while true; do echo tick; sleep 0.2; done'], allowDuplicateJob: true }],
    });
    const id = data.createJobs[0].job.id as string;
    const following = client.subscribe(
      `subscription ($id: ID!) { followJob(id: $id) { jobId } }`,
      { id },
      { until: (p) => Boolean(p.errors), timeoutMs: 15_000 },
    );
    await waitForState(client, id, ['RUNNING']);
    await env.admin.ok(`mutation { disableUser(username: "${name}") { disabled } }`);
    const { payloads } = await following;
    expect(payloads.at(-1)?.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    await env.admin.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { ok } }`, { id });
  });
});

describe('passwords and tokens', () => {
  it('changes a password only given the current one, and revokes the other tokens', async () => {
    const { name, password, client, again } = await account();
    const other = await again();
    const before = await env.snapshot();
    expect(code(await client.gql(`mutation { changePassword(currentPassword: "wrong-password", newPassword: "a-new-long-password") }`))).toBe(
      'FORBIDDEN',
    );
    expect(code(await client.gql(`mutation ($p: String!) { changePassword(currentPassword: $p, newPassword: "short") }`, { p: password }))).toBe(
      'INVALID_INPUT',
    );
    expect(await env.snapshot()).toStrictEqual(before);
    await client.ok(`mutation ($p: String!) { changePassword(currentPassword: $p, newPassword: "a-new-long-password") }`, { p: password });
    expect((await client.ok(`{ me { createdBy } }`)).me.createdBy).toBe(name);
    expect((await other.gql(`{ me { createdBy } }`)).status).toBe(401);
    expect((await login(name, password)).status).toBe(401);
    expect((await login(name, 'a-new-long-password')).status).toBe(200);
  });

  it("lists the caller's tokens, revokes its own, and none of another user's", async () => {
    const alice = await account();
    const second = await alice.again();
    const bob = await account();
    const tokens = (await alice.client.ok(`{ myTokens { id current expiresAt issuedAt } }`)).myTokens as { id: string; current: boolean }[];
    // The one made with the user, the client's and the second: ids are the tokens' SHA-256, never the tokens.
    expect(tokens).toHaveLength(3);
    const idOf = (token: string) => createHash('sha256').update(token).digest('hex');
    expect(tokens.filter((t) => t.current).map((t) => t.id)).toEqual([idOf(alice.client.token!)]);
    const secondId = idOf(second.token!);
    expect(tokens.map((t) => t.id)).toContain(secondId);
    expect(JSON.stringify(tokens)).not.toContain(second.token!);
    const bobId = ((await bob.client.ok(`{ myTokens { id } }`)).myTokens as { id: string }[])[0]!.id;
    expect(code(await alice.client.gql(`mutation ($id: ID!) { revokeToken(id: $id) }`, { id: bobId }))).toBe('NOT_FOUND');
    expect((await bob.client.ok(`{ me { createdBy } }`)).me.createdBy).toBe(bob.name);
    await alice.client.ok(`mutation ($id: ID!) { revokeToken(id: $id) }`, { id: secondId });
    expect((await second.gql(`{ me { createdBy } }`)).status).toBe(401);
    expect((await alice.client.ok(`{ myTokens { id } }`)).myTokens).toHaveLength(2);
  });
});
