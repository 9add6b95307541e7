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
import { join } from 'node:path';
import { parse, type FieldNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createManualClock } from '../shared/clock.js';
import { eventually, type TestClient } from './support/graphql-client.js';
import { documentedOperations, isPlaceholder, type DocumentedOperation } from './support/shakudo-reference.js';
import { startTenancyGateway, type TenancyGateway } from './support/tenancy-gateway.js';

const PASSWORD = 'demo-secret-1';
/** The account the local provider runs unmapped users' jobs as. */
const NOBODY = 65534;
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

/** The response keys an operation selects, by its selection set (aliases are response keys). */
function selected(set: SelectionSetNode | undefined): Map<string, { field: string; set: SelectionSetNode | undefined }> {
  const keys = new Map<string, { field: string; set: SelectionSetNode | undefined }>();
  for (const selection of set?.selections ?? []) {
    const field = selection as FieldNode;
    keys.set(field.alias?.value ?? field.name.value, { field: field.name.value, set: field.selectionSet });
  }
  return keys;
}

const kind = (value: unknown) => (Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value);

/**
 * The answer has exactly the selected keys; where the sample response has a value for a key
 * (by response key or field name), a non-null answer has its JSON type, objects and list
 * items recursively. Sample keys the operation does not select are returned (the doc's own slips).
 */
function checkShape(answer: unknown, sample: unknown, set: SelectionSetNode | undefined, path: string, unselected: string[]): void {
  if (answer === null) return;
  if (sample === undefined || sample === null) {
    // No sample value: the answer still has exactly the selected keys.
    if (set) checkShape(answer, Array.isArray(answer) ? [] : {}, set, path, unselected);
    return;
  }
  if (Array.isArray(sample) || Array.isArray(answer)) {
    expect(kind(answer), path).toBe(kind(sample));
    for (const item of answer as unknown[]) checkShape(item, (sample as unknown[])[0] ?? null, set, `${path}[]`, unselected);
    return;
  }
  if (!set) {
    expect(kind(answer), path).toBe(kind(sample));
    return;
  }
  expect(kind(answer), path).toBe('object');
  const keys = selected(set);
  expect(Object.keys(answer as object).sort(), path).toEqual([...keys.keys()].sort());
  const sampleObject = (kind(sample) === 'object' ? sample : {}) as Record<string, unknown>;
  for (const key of Object.keys(sampleObject))
    if (!keys.has(key) && ![...keys.values()].some((k) => k.field === key)) unselected.push(`${path}.${key}`);
  for (const [key, { field, set: inner }] of keys) {
    const expected = key in sampleObject ? sampleObject[key] : sampleObject[field];
    checkShape((answer as Record<string, unknown>)[key], expected, inner, `${path}.${key}`, unselected);
  }
}

/** Runs a documented operation verbatim; its answer must be data of its sample response's shape. */
async function runDocumented(operation: DocumentedOperation, variables: Record<string, unknown>) {
  const { status, body } = await gql(operation.text, variables);
  expect(body.errors, `operation ${operation.index} ${operation.name ?? operation.rootField}`).toBeUndefined();
  expect(status).toBe(200);
  const definition = parse(operation.text).definitions[0] as OperationDefinitionNode;
  const unselected: string[] = [];
  const sample = (operation.responses[0] as { data?: unknown } | undefined)?.data ?? {};
  // A sample of one getJobStat stands for each aliased one.
  const stats = operation.rootField === 'getJobStat' ? Object.fromEntries(Object.keys(body.data).map((k) => [k, 0])) : {};
  checkShape(body.data, { ...stats, ...(sample as object) }, definition.selectionSet, 'data', unselected);
  return { data: body.data, unselected };
}

const variablesOf = (operation: DocumentedOperation, which = 0) => structuredClone(operation.variables[which]?.value ?? {});

/**
 * A git repository with a Shakudo pipeline YAML: its one bash task prints its parameter and, with HOLD set, keeps running.
 * Jobs clone it from inside the local provider's sandbox, as `nobody`: so it lives outside `/tmp` (an empty tmpfs
 * there) and belongs to that account (git refuses to serve a repository another account owns).
 */
function makeRepository(): string {
  // A checkout under one of the sandbox's private directories (a clone in /tmp) is out of the jobs' sight.
  const hidden = ['/tmp', '/var/tmp', '/dev/shm'].some((dir) => process.cwd() === dir || process.cwd().startsWith(`${dir}/`));
  const parent = hidden ? '/var/lib/switchyard-test-artifacts' : join(process.cwd(), 'test-artifacts');
  mkdirSync(parent, { recursive: true });
  chmodSync(parent, 0o755);
  const dir = mkdtempSync(join(parent, 'shakudo-repo-'));
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
  execFileSync('chown', ['-R', `${NOBODY}:${NOBODY}`, dir]);
  chmodSync(dir, 0o755);
  return dir;
}

beforeAll(async () => {
  // Room for the sessions, services and pipeline jobs the run holds at once (they mostly sleep), not this host's CPUs.
  env = await startTenancyGateway({ dialects: ['shakudo'], clock, recurringIntervalMs: 0, localHostSize: { cpu: 64, memoryInGigs: 256 } });
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

  it('runs every documented operation verbatim with its sample variables, answering data of the sample responses shape', async () => {
    const ids: Record<string, string> = {};
    const podSpecs: Record<string, unknown> = {};
    const ran = new Set<number>();
    const allUnselected: string[] = [];
    const run = async (index: number, variables: Record<string, unknown>) => {
      const result = await runDocumented(op(index), variables);
      ran.add(index);
      allUnselected.push(...result.unselected.map((path) => `${index}:${path}`));
      return result.data;
    };
    const placeholders = (vars: Record<string, unknown>, value: unknown) => {
      for (const [key, given] of Object.entries(vars)) if (isPlaceholder(given)) vars[key] = value;
      return vars;
    };

    // The git server first (op 34, 35): the service and scheduled jobs below check it out.
    const git = await run(34, { data: { ...(variablesOf(op(34)).data as object), url: `file://${repoDir}` } });
    ids.git = git.createHyperplaneVCServer.id;
    expect((await run(35, variablesOf(op(35)))).hyperplaneVCServers).toEqual([expect.objectContaining({ id: ids.git, pipelineJobs: [] })]);

    // Sessions: ids from the documented lookups.
    const users = await run(1, variablesOf(op(1), 0) && { hyperplaneUserEmail: EMAIL });
    expect(users.hyperplaneUsers).toEqual([{ id: 'demo', email: EMAIL }]);
    const projects = await run(2, { billingProjectName: 'demo billing' });
    expect(projects.billingProjects).toEqual([{ id: PROJECT, name: 'demo billing' }]);
    expect((await run(3, {})).userPvcs).toEqual([]);
    const defaultDrive = { ...variablesOf(op(4), 0), hyperplaneUserId: 'demo', billingProjectId: PROJECT };
    const session = (await run(4, defaultDrive)).createHyperHubSession;
    expect(session).toMatchObject({ hyperplaneUserEmail: EMAIL, status: 'pending', timeout: 900, billingProjectId: PROJECT });
    ids.session = session.id;
    // The custom drive: Switchyard keeps no drives.
    const customDrive = await gql(op(4).text, { ...variablesOf(op(4), 1), hyperplaneUserId: 'demo', billingProjectId: PROJECT });
    expect(customDrive.body.errors?.[0]?.extensions?.code).toBe('UNSUPPORTED');
    await eventually(
      async () => (await demo.ok(`query ($id: ID!) { job(id: $id) { status { state } } }`, { id: ids.session })).job.status.state === 'RUNNING',
      {
        what: 'the session to run',
      },
    );
    const listed = (await run(0, variablesOf(op(0)))).hyperHubSessions;
    expect(listed.map((s: { id: string }) => s.id)).toContain(ids.session);
    expect(listed[0]).toMatchObject({ status: 'in progress', imageType: 'basic' });
    expect((await run(28, variablesOf(op(28)))).countHyperHubSessions).toBe(1);
    podSpecs.session = (await run(5, variablesOf(op(5)))).getHyperhubSessionPodSpec;
    await run(6, { userEmail: EMAIL });
    const fromPodSpec = (await run(7, placeholders({ ...variablesOf(op(7)), hyperplaneUserId: 'demo' }, podSpecs.session))).createHyperHubSession;
    ids.podSpecSession = fromPodSpec.id;
    expect((await run(9, variablesOf(op(9)))).countHyperHubSessions).toBeGreaterThanOrEqual(1);
    expect((await run(8, { id: ids.session })).updateHyperHubSession).toEqual({ id: ids.session, status: 'cancelled' });
    expect((await run(30, { id: ids.podSpecSession })).updateHyperHubSession.status).toBe('cancelled');
    // The local provider's room comes back as the stopped sessions end.
    for (const id of [ids.session, ids.podSpecSession])
      await eventually(
        async () =>
          ['SUCCESS', 'FAILURE'].includes((await demo.ok(`query ($id: ID!) { job(id: $id) { status { state } } }`, { id })).job.status.state),
        {
          what: 'a stopped session to end',
        },
      );
    const input = {
      ...(variablesOf(op(29)).input as Record<string, unknown>),
      hyperplaneUserId: 'demo',
      billingProjectId: { connect: { id: PROJECT } },
    };
    ids.thirdSession = (await run(29, { input })).createHyperHubSession.id;
    expect((await run(30, { id: ids.thirdSession })).updateHyperHubSession.status).toBe('cancelled');

    // Pipeline jobs: immediate, then scheduled (same operation, the second sample).
    const immediate = (await run(10, variablesOf(op(10), 0))).createPipelineJob;
    expect(immediate).toMatchObject({ schedule: 'immediate', status: 'pending', timeout: 86400, maxRetries: 2, jobType: 'basic', parameters: [] });
    const scheduled = (await run(10, variablesOf(op(10), 1))).createPipelineJob;
    expect(scheduled).toMatchObject({ schedule: '* * * * *', status: 'scheduled' });
    // The pod spec names the git server and a HOLD parameter: the job made from it runs until it is cancelled.
    podSpecs.pipeline = (
      await run(11, {
        ...variablesOf(op(11)),
        gitServerName: 'examples-graphql-test',
        branchName: 'main',
        parameters: { parameters: [{ key: 'HOLD', value: '1' }] },
      })
    ).getPipelineJobPodSpec;
    const named = (await run(12, placeholders(variablesOf(op(12)), podSpecs.pipeline))).createPipelineJob;
    expect(named).toMatchObject({ jobName: 'test-create-pipeline-job-with-podSpec', pipelineYamlPath: 'examples/pipeline.yaml' });
    const found = (await run(13, { jobName: 'test-create-pipeline-job-with-podSpec' })).pipelineJobs;
    expect(found.map((j: { id: string }) => j.id)).toEqual([named.id]);
    expect((await run(14, { id: named.id })).updatePipelineJob).toEqual({ id: named.id });
    const status = await eventually(async () => {
      const s = (await run(15, { id: named.id })).pipelineJob;
      return s.status === 'cancelled' ? s : null;
    });
    expect(status).toEqual({ status: 'cancelled', statusReason: expect.anything() });
    const stats = (await run(16, {})) as Record<string, number>;
    expect(stats.COUNT_ALL_TOTAL).toBe(3);
    expect(stats.COUNT_SCHEDULED_TOTAL).toBe(1);
    expect(stats.COUNT_CANCELLED_TOTAL).toBe(1);
    const scheduledStats = (await run(17, {})) as Record<string, number>;
    expect(scheduledStats.COUNT_ALL_TOTAL).toBe(1);
    expect(scheduledStats.COUNT_SCHEDULED_TOTAL).toBe(1);
    expect((await run(31, {})).getJobStat).toBe(3);

    // Services: one checked out from the git server that keeps running, one from a pod spec.
    const service = (
      await run(18, {
        ...variablesOf(op(18)),
        branchName: 'main',
        gitServer: { connect: { id: ids.git } },
        parameters: {
          create: [
            { key: 'HOLD', value: '1' },
            { key: 'GREETING', value: 'service' },
          ],
        },
      })
    ).createPipelineJob;
    expect(service).toMatchObject({ timeout: -1, activeTimeout: -1, exposedPort: '8787', schedule: 'immediate' });
    ids.service = service.id;
    podSpecs.service = (await run(19, variablesOf(op(19)))).getUserServicePodSpec;
    ids.podSpecService = (await run(20, placeholders(variablesOf(op(20)), podSpecs.service))).createPipelineJob.id;
    const services = await eventually(
      async () => {
        const list = (await run(21, variablesOf(op(21)))).pipelineJobs;
        return list.some((j: { id: string }) => j.id === ids.service) ? list : null;
      },
      { what: 'the service to be in progress', timeoutMs: 30_000 },
    );
    expect(services.every((j: { status: string; exposedPort: string }) => j.status === 'in progress' && j.exposedPort === '8787')).toBe(true);

    // Parameters, on a scheduled job (the template its next jobs are made from).
    const withParameters = (
      await run(10, {
        ...variablesOf(op(10), 1),
        gitServer: { connect: { id: ids.git } },
        parameters: {
          create: [
            { key: 'GREETING', value: 'hi' },
            { key: 'OTHER', value: 'x' },
            { key: 'THIRD', value: 'y' },
          ],
        },
      })
    ).createPipelineJob;
    ids.withParameters = withParameters.id;
    const parameters = (await run(24, { id: ids.withParameters })).pipelineJobs[0].parameters;
    expect(parameters.map((p: { key: string }) => p.key)).toEqual(['GREETING', 'OTHER', 'THIRD']);
    expect((await run(25, { jobId: ids.withParameters })).pipelineJob.parameters).toHaveLength(3);
    const other = parameters.find((p: { key: string }) => p.key === 'OTHER').id;
    expect((await run(26, { jobId: ids.withParameters, parameterId: other })).deleteParameter).toMatchObject({ key: 'OTHER', value: 'x' });
    const greeting = parameters.find((p: { key: string }) => p.key === 'GREETING').id;
    const renamed = (await run(27, { ...variablesOf(op(27)), parameterId: greeting })).updateParameter;
    expect(renamed).toMatchObject({ key: 'newKey', value: 'newValue' });
    expect((await run(33, { ...variablesOf(op(33)), parameterId: renamed.id })).updateParameter).toMatchObject({ key: 'newKey' });
    const third = parameters.find((p: { key: string }) => p.key === 'THIRD').id;
    expect((await run(32, { jobId: ids.withParameters, parameterId: third })).updatePipelineJob).toEqual({ id: ids.withParameters });
    const after = (await run(25, { jobId: ids.withParameters })).pipelineJob.parameters;
    expect(after).toEqual([expect.objectContaining({ key: 'newKey', value: 'newValue' })]);
    // The schedule's template changed in the core.
    const schedule = await demo.ok(`query ($id: ID!) { schedule(id: $id) { specification } }`, { id: ids.withParameters });
    expect(schedule.schedule.specification.env).toEqual({ newKey: 'newValue' });

    // Cancelling every scheduled job, then the user's (none are left).
    expect((await run(22, {})).updateManyPipelineJob.count).toBe(2);
    expect((await run(23, { userEmail: EMAIL })).updateManyPipelineJob.count).toBe(0);
    const paused = await demo.ok(`query ($id: ID!) { schedule(id: $id) { paused } }`, { id: ids.withParameters });
    expect(paused.schedule.paused).toBe(true);

    for (const index of [36, 37, 38]) await run(index, variablesOf(op(index)));
    expect([...ran].sort((a, b) => a - b)).toEqual(operations.map((o) => o.index));
    // Where the documentation's sample response names fields its operation does not select.
    expect(allUnselected.sort()).toEqual([
      '27:data.updateParameter.keyValue',
      '27:data.updateParameter.valueValue',
      '33:data.updateParameter.keyValue',
      '33:data.updateParameter.valueValue',
      '34:data.createHyperplaneVCServer.pipelineJobs',
      '34:data.createHyperplaneVCServer.status',
    ]);
    // Stop the services, so nothing keeps running.
    await run(14, { id: ids.service });
    await run(14, { id: ids.podSpecService });
  }, 120_000);
});

describe('Shakudo scheduled jobs and services on the core', () => {
  it('fires a scheduled pipeline job through the core schedules: its child job runs the pipeline from the git server', async () => {
    const created = (
      await ok(op(10).text, {
        ...variablesOf(op(10), 1),
        branchName: 'main',
        gitServer: { connect: { id: (await ok('{ hyperplaneVCServers { id } }')).hyperplaneVCServers[0].id } },
        parameters: { create: [{ key: 'GREETING', value: 'scheduled' }] },
      })
    ).createPipelineJob;
    const minute = 60_000;
    clock.set(Math.ceil((clock.now() + 1) / minute) * minute + 1_000);
    await env.gateway.schedules.sweep();
    const child = await eventually(
      async () => {
        const data = await ok(`query ($id: String!) { pipelineJob(where: {id: $id}) { childJobs { id status schedule parentJobId } } }`, {
          id: created.id,
        });
        const job = data.pipelineJob.childJobs[0];
        return job && ['done', 'failed'].includes(job.status) ? job : null;
      },
      { what: 'the firing to end', timeoutMs: 30_000 },
    );
    // The firing is a core job of the schedule, with the parameters as its environment; it checked the
    // repository out and ran the YAML's bash task.
    const core = await demo.ok(
      `query ($id: ID!) { job(id: $id) { scheduleId status { state exitCode } specification { env } logs { stdout stderr } } }`,
      { id: child.id },
    );
    expect(core.job, JSON.stringify(core.job.logs)).toMatchObject({
      scheduleId: created.id,
      status: { state: 'SUCCESS', exitCode: 0 },
      specification: { env: { GREETING: 'scheduled' } },
    });
    expect(child).toEqual({ id: child.id, status: 'done', schedule: '* * * * *', parentJobId: created.id });
    expect(core.job.logs.map((line: { stdout: string | null }) => line.stdout)).toContain('pipeline ran with GREETING=scheduled');
    // The next minute fires again: a second child.
    clock.advance(minute);
    await env.gateway.schedules.sweep();
    await eventually(
      async () => {
        const data = await ok(`query ($id: String!) { pipelineJob(where: {id: $id}) { childJobs { id status } } }`, { id: created.id });
        return data.pipelineJob.childJobs.length === 2 && data.pipelineJob.childJobs.every((job: { status: string }) => job.status === 'done');
      },
      { what: 'the second firing to end', timeoutMs: 30_000 },
    );
    expect((await ok(op(14).text, { id: created.id })).updatePipelineJob).toEqual({ id: created.id });
  }, 60_000);

  it("shows a pipeline that exits non-zero as failed (the core: SUCCESS with its exit code), and a checkout that fails with git's own status", async () => {
    const vcs = (await ok(op(34).text, { data: { ...(variablesOf(op(34)).data as object), name: 'missing', url: 'file:///nonexistent/repo' } }))
      .createHyperplaneVCServer;
    const missingYaml = (await ok(op(10).text, { ...variablesOf(op(10), 0), pipelineYamlPath: 'no/such.yaml' })).createPipelineJob;
    const badCheckout = (await ok(op(10).text, { ...variablesOf(op(10), 0), gitServer: { connect: { id: vcs.id } } })).createPipelineJob;
    const ended = async (id: string) =>
      eventually(
        async () => {
          const job = (await ok(`query ($id: String!) { pipelineJob(where: {id: $id}) { status } }`, { id })).pipelineJob;
          return job.status === 'failed' ? job : null;
        },
        { what: `pipeline job ${id} to fail`, timeoutMs: 30_000 },
      );
    await ended(missingYaml.id);
    await ended(badCheckout.id);
    const core = async (id: string) => (await demo.ok(`query ($id: ID!) { job(id: $id) { status { state exitCode } logs { stderr } } }`, { id })).job;
    // The contract: a job that exits non-zero is SUCCESS with its exit code (FAILURE is the provider's fault).
    expect(await core(missingYaml.id)).toMatchObject({ status: { state: 'SUCCESS', exitCode: 2 } });
    const clone = await core(badCheckout.id);
    // git's own status (128), not the pipeline runner's "file not found" after a checkout that did not happen.
    expect(clone.status, JSON.stringify(clone.logs)).toEqual({ state: 'SUCCESS', exitCode: 128 });
    expect(clone.logs.map((line: { stderr: string | null }) => line.stderr).join('\n')).toMatch(/nonexistent/);
  }, 60_000);

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

  it('pages pipelineJobs read newest first from the store exactly as the whole list sorted and sliced', async () => {
    // Newer jobs on either side of a schedule, a second apart: pages of the newest end before it and after it.
    const create = async (which: number) => {
      clock.advance(1_000);
      return (await ok(op(10).text, variablesOf(op(10), which))).createPipelineJob.id as string;
    };
    for (let i = 0; i < 5; i++) await create(0);
    const scheduled = await create(1);
    await demo.ok(`mutation ($id: ID!) { pauseSchedule(id: $id) { id } }`, { id: scheduled });
    for (let i = 0; i < 5; i++) await create(0);
    const list = async (...args: string[]) => {
      const given = args.filter(Boolean).join(', ');
      // Fields that stay put while the jobs run: a status can change between two reads.
      const data = await ok(`query { pipelineJobs${given ? `(${given})` : ''} { id schedule jobType } }`);
      return data.pipelineJobs as { id: string; schedule: string }[];
    };
    for (const [order, where] of <[string, string][]>[
      ['orderBy: [{ startTime: desc }]', ''],
      ['', ''],
      ['orderBy: { startTime: desc }', 'where: { schedule: { not: { equals: "immediate" } } }'],
      ['orderBy: [{ startTime: desc }]', 'where: { schedule: { equals: "immediate" } }'],
    ]) {
      const whole = await list(order, where);
      if (!where) {
        // Jobs, schedules and services together, so that a page's merge is tried.
        expect(whole.length, order).toBeGreaterThanOrEqual(12);
        expect(new Set(whole.map((row) => row.schedule)).size, order).toBeGreaterThan(1);
      }
      // Every window, so that some page stops before a schedule or service that belongs in it.
      const windows = whole.flatMap((_, skip) => [1, 3].map((take): [number, number] => [skip, take]));
      for (const [skip, take] of [...windows, [0, whole.length + 2], [whole.length, 1]] as [number, number][]) {
        expect(await list(order, where, `skip: ${skip}, take: ${take}`), `${order} ${where} skip ${skip} take ${take}`).toEqual(
          whole.slice(skip, skip + take),
        );
      }
    }
  });
});

describe('Shakudo refusals', () => {
  it('answers malformed operations, what cannot be mapped and requests over the limits with GraphQL errors, changing nothing', async () => {
    // Jobs stopped by the tests above still end (and are charged) on their own: compare once everything has ended.
    const final = new Set(['SUCCESS', 'FAILURE', 'EXPIRED']);
    const before = await eventually(
      async () => {
        const snapshot = await env.snapshot();
        const running = [...snapshot.jobs.values()].filter((job) => !final.has(job.state));
        return running.length === 0 ? snapshot : null;
      },
      { what: 'every job to end', timeoutMs: 30_000, intervalMs: 200 },
    );
    const malformed = await gql('mutation { createPipelineJob(data: { jobType: "basic" ');
    expect(malformed.body.errors?.length).toBeGreaterThan(0);
    const unknownField = await gql('{ pipelineJobs { id nonsense } }');
    expect(unknownField.body.errors?.[0]?.message).toMatch(/nonsense/);
    const badType = await gql(op(10).text, { ...variablesOf(op(10), 0), timeout: 'soon' });
    expect(badType.body.errors?.length).toBeGreaterThan(0);
    const badCron = await gql(op(10).text, { ...variablesOf(op(10), 1), schedule: 'every tuesday' });
    expect(badCron.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const otherUser = await gql(op(10).text, { ...variablesOf(op(10), 0), hyperplaneUserEmail: 'mallory@shakudo.io' });
    expect(otherUser.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const triggered = await gql('{ getJobStat(stat: COUNT_TRIGGERED, timeFrame: TOTAL) }');
    expect(triggered.body.errors?.[0]?.extensions?.code).toBe('UNSUPPORTED');
    const kubernetesPodSpec = await gql(op(12).text, { ...variablesOf(op(12)), podSpec: { containers: [{ image: 'x' }] } });
    expect(kubernetesPodSpec.body.errors?.[0]?.extensions?.code).toBe('UNSUPPORTED');
    const deep = await gql(
      `{ pipelineJobs { childJobs { childJobs { childJobs { childJobs { childJobs { childJobs { childJobs { childJobs { childJobs { childJobs { id } } } } } } } } } } } }`,
    );
    expect(deep.status).toBe(400);
    expect(deep.body.errors?.[0]?.message).toMatch(/depth/i);
    const after = await env.snapshot();
    expect(after.jobs).toEqual(before.jobs);
    expect(after.wallets).toEqual(before.wallets);
  });
});
