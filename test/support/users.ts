/** Users in tests: created by an administrator through the API, with a client that carries their own token. */
import { randomBytes } from 'node:crypto';

import { createClient, type TestClient } from './graphql-client.js';

/** Create the user `name` and log it in (POST /api/v1/token): a client acting as that user. */
export async function createUserClient(admin: TestClient, name: string): Promise<TestClient> {
  const password = `pw-${name}-${randomBytes(6).toString('hex')}`;
  await admin.ok(`mutation ($u: String!, $p: String!) { createUser(username: $u, password: $p) { username } }`, { u: name, p: password });
  const res = await fetch(`${admin.baseUrl}/api/v1/token`, { method: 'POST', body: JSON.stringify({ username: name, password }) });
  if (res.status !== 200) throw new Error(`no token for ${name}: HTTP ${res.status} ${await res.text()}`);
  return createClient(admin.baseUrl, ((await res.json()) as { token: string }).token);
}
