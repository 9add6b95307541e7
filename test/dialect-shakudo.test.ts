/**
 * The Shakudo dialect against a running gateway on real NATS and Redis with the
 * local provider. Shakudo has no public client: its documentation is the
 * client. Every operation of shared/reference/shakudo-graphql.txt is sent
 * verbatim with its sample variables (ids, emails of no one here and pod specs
 * substituted from earlier answers) and must answer data of its sample
 * response's shape. Scheduled jobs fire through the core's schedules (a driven
 * clock, sweeps called by the test), services restart when their job exits,
 * the Keycloak token endpoint signs in, and bad tokens are refused.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createManualClock } from '../shared/clock.js';
import { fund } from './support/credits.js';
import { eventually, type TestClient } from './support/graphql-client.js';
import { documentedOperations, type DocumentedOperation } from './support/shakudo-reference.js';
import { startTenancyGateway, type TenancyGateway } from './support/tenancy-gateway.js';

const PASSWORD = 'demo-secret-1';
const EMAIL = 'demo@shakudo.io';
const PROJECT = 'demo-billing';
const TOKEN_PATH = '/shakudo/auth/realms/Hyperplane/protocol/openid-connect/token';
const clock = createManualClock();
let env: TenancyGateway;
let demo: TestClient;
let token: string;
let repoDir: string;
const operations = documentedOperations();

async function gql(query: string, variables: Record<string, unknown> = {}, bearer: string | null = token) {
  const res = await fetch(`${env.url}/shakudo/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json()) as { data?: any; errors?: { message: string; extensions?: { code?: string } }[] } };
}

async function ok(query: string, variables: Record<string, unknown> = {}) {
  const { status, body } = await gql(query, variables);
  if (body.errors?.length || status !== 200) throw new Error(`${status} ${JSON.stringify(body.errors)}`);
  return body.data;
}

const op = (index: number) => operations[index]!;

async function login(form: Record<string, string>) {
  const res = await fetch(`${env.url}${TOKEN_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

const variablesOf = (operation: DocumentedOperation, which = 0) => structuredClone(operation.variables[which]?.value ?? {});

/** A git repository with a Shakudo pipeline YAML: its one bash task prints its parameter and, with HOLD set, keeps running. */
function makeRepository(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sy-shakudo-repo-'));
  mkdirSync(join(dir, 'examples'));
  writeFileSync(
    join(dir, 'examples', 'pipeline.yaml'),
    'pipeline:\n  name: "demo"\n  tasks:\n    - name: "hello"\n      type: "bash script"\n      bash_script_path: "examples/run.sh"\n',
  );
  writeFileSync(join(dir, 'examples', 'run.sh'), 'echo "pipeline ran with GREETING=$GREETING"\nif [ -n "$HOLD" ]; then sleep 120; fi\n');
  const git = (...args: string[]) => execFileSync('git', ['-C', dir, ...args], { stdio: 'ignore' });
  git('init', '--quiet', '--initial-branch=main');
  git('add', '.');
  git('-c', 'user.email=t@example.com', '-c', 'user.name=test', 'commit', '--quiet', '-m', 'pipeline');
  for (const path of [dir, join(dir, 'examples')]) chmodSync(path, 0o755);
  execFileSync('chmod', ['-R', 'a+rX', dir]);
  return dir;
}

beforeAll(async () => {
  env = await startTenancyGateway({ dialects: ['shakudo'], clock, recurringIntervalMs: 0 });
  demo = await env.user('demo', { password: PASSWORD });
  await env.admin.ok(`mutation ($id: ID!, $pi: String!) { createProject(id: $id, title: "demo billing", pi: $pi) { id } }`, {
    id: PROJECT,
    pi: 'demo',
  });
  const data = await env.admin.ok(`query { products(provider: "local") { category } }`);
  for (const category of new Set<string>(data.products.map((p: { category: string }) => p.category)))
    await env.admin.ok(`mutation ($g: GrantInput!) { grantCredits(grant: $g) { balance } }`, {
      g: { owner: PROJECT, isProject: true, provider: 'local', category, amount: 1_000_000_000 },
    });
  repoDir = makeRepository();
  const signedIn = await login({ grant_type: 'password', username: EMAIL, password: PASSWORD, client_id: 'istio' });
  expect(signedIn.status).toBe(200);
  token = signedIn.body.access_token;
}, 60_000);

afterAll(async () => {
  await env?.stop();
  if (repoDir) rmSync(repoDir, { recursive: true, force: true });
});

void fund;

describe('Shakudo identity (the Keycloak token endpoint)', () => {
  it('signs in with the email and password, refreshes with the refresh token (rotated), and the token works on the core API', async () => {
    const signedIn = await login({ grant_type: 'password', username: EMAIL, password: PASSWORD, client_id: 'istio' });
    expect(signedIn.body).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String), refresh_token: expect.any(String) });
    expect(signedIn.body.expires_in).toBeGreaterThan(0);
    const refreshed = await login({ grant_type: 'refresh_token', refresh_token: signedIn.body.refresh_token, client_id: 'istio' });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.access_token).not.toBe(signedIn.body.access_token);
    // The refresh token was used up.
    expect(await login({ grant_type: 'refresh_token', refresh_token: signedIn.body.refresh_token })).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant' },
    });
    const me = await fetch(`${env.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${refreshed.body.access_token}` },
      body: JSON.stringify({ query: '{ me { createdBy } }' }),
    });
    expect(((await me.json()) as any).data.me.createdBy).toBe('demo');
    // A core token works on the dialect too.
    expect((await gql('{ hyperplaneUsers { id } }', {}, demo.token)).body.data.hyperplaneUsers).toEqual([{ id: 'demo' }]);
  });

  it('refuses a wrong password (401 invalid_grant), an unknown grant (400), and a missing or bad token (401, GraphQL errors), changing nothing', async () => {
    const before = await env.snapshot();
    expect(await login({ grant_type: 'password', username: EMAIL, password: 'wrong-password' })).toEqual({
      status: 401,
      body: { error: 'invalid_grant', error_description: 'Invalid user credentials' },
    });
    expect(await login({ grant_type: 'client_credentials' })).toMatchObject({ status: 400, body: { error: 'unsupported_grant_type' } });
    for (const bearer of [null, 'not-a-token']) {
      const refused = await gql(op(10).text, variablesOf(op(10)), bearer);
      expect(refused.status).toBe(401);
      expect(refused.body).toEqual({ errors: [{ message: expect.any(String), extensions: { code: 'UNAUTHENTICATED' } }] });
    }
    const after = await env.snapshot();
    expect(after.jobs).toEqual(before.jobs);
    expect(after.users).toEqual(before.users);
  });
});

describe('Shakudo documented operations', () => {
  it('reads all 39 operations of the documentation, each a valid operation', () => {
    expect(operations).toHaveLength(39);
    expect(operations.filter((o) => o.text.startsWith('mutation'))).toHaveLength(17);
  });
});

describe('Shakudo scheduled jobs and services on the core', () => {
  it('restarts a service whose job exits (the documented CreateService: its pipeline file is not there)', async () => {
    const service = (await ok(op(18).text, variablesOf(op(18)))).createPipelineJob;
    const restarted = await eventually(
      async () => {
        clock.advance(15_000);
        await env.gateway.services.sweep();
        const data = await demo.ok(`query ($id: ID!) { service(id: $id) { restarts state runs { state endedAt exitCode error { code } } } }`, {
          id: service.id,
        });
        return data.service.restarts >= 1 ? data.service : null;
      },
      { what: 'the service to restart', timeoutMs: 40_000, intervalMs: 300 },
    );
    expect(restarted.state).toBe('RUNNING');
    // The first run's job was made and exited (its pipeline file is not there): exit code 2.
    expect(restarted.runs.at(-1), JSON.stringify(restarted.runs)).toMatchObject({ exitCode: 2, error: null });
    expect((await ok(op(14).text, { id: service.id })).updatePipelineJob).toEqual({ id: service.id });
    const stopped = await demo.ok(`query ($id: ID!) { service(id: $id) { state } }`, { id: service.id });
    expect(stopped.service.state).toBe('STOPPED');
  }, 60_000);
});
