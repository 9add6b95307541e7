/**
 * Benchmark: the dialects' cost over the core API. Each dialect the gateway serves against the
 * same through GraphQL, in the same run, alternating call by call: submitting one job per call,
 * and listing 50 of a user's jobs among `fill` jobs in the store. The job is the same in each, as
 * far as each can say it: one replica of `true` in busybox, 1 CPU and 1 GB, on the instant
 * provider. Each dialect signs in as its platform's clients do and sends what they send:
 * - OpenPAI: basic login; POST /api/v2/jobs, protocol v2 YAML (parsed, its name checked for a
 *   conflict); GET /api/v2/jobs?username=…&limit=50.
 * - Backend.AI: a key pair from issueBackendAiKeypair, each request signed by its npm JS SDK;
 *   POST /session (enqueueOnly; its name checked among the active sessions);
 *   compute_session_list(limit: 50) over /admin/gql.
 * - Apolo: a JWT from issueApoloToken; POST /jobs?from_preset, the instant product as the preset
 *   (its name checked among the user's jobs that have not ended); GET /jobs?owner=…&limit=50 as
 *   NDJSON, as apolo-sdk streams it.
 * - UCloud: a refresh token from issueUcloudRefreshToken traded at /auth/refresh for an access JWT
 *   (10 minutes: each phase signs in afresh); POST /api/jobs with one item;
 *   GET /api/jobs/browse?itemsPerPage=50.
 * - Shakudo: the Keycloak token endpoint's password grant; the documented CreatePipelineJob (an
 *   immediate pipeline job, routed by its resources); pipelineJobs(take: 50), newest first, which
 *   reads the user's jobs from the store page by page only as far as the 50 need.
 * Each API submits as a user of its own, so that one dialect's name checks do not read another's
 * jobs; every submitted job must be on the instant provider. All list as the same user of the
 * fill. `BENCH_ONLY=dialects`.
 *
 * Measured 2026-12-03 (2-core machine, a Go build running beside it), p50 ÷ GraphQL's p50: submit
 * 0.87–1.01× (GraphQL 4.45 ms); list 50 of 100,000 (the user has 200) OpenPAI 0.63×, Backend.AI
 * 0.99×, Apolo 0.88×, UCloud 0.76×, Shakudo 1.21× (GraphQL 4.16 ms). Before listings by creator
 * read the creator's own indexes (gateway/jobs/job-queries.ts) they were 1.7–2.7×: each checked
 * every one of the user's jobs for its creator, to count them.
 */
import { createRequire } from 'node:module';

import type { DialectName } from '../gateway/dialects/index.js';
import type { Store } from '../gateway/store/store.js';
import { must } from '../shared/errors.js';
import { fund } from '../test/support/credits.js';
import { documentedOperations } from '../test/support/shakudo-reference.js';
import { INSTANT_PRODUCT } from './instant-driver.js';
import { BENCH_PASSWORD, creatorName, fillStore, logIn, signUp } from './job-listing.js';
import { INSTANT_PROVIDER_ID, type Rig } from './rig.js';
import { measureAlternating, type LatencySummary } from './stats.js';
import type { Row } from './table.js';

export interface DialectsOptions {
  /** Jobs submitted through each API (one a call). @default 1000 */
  jobs?: number;
  /** Jobs put in the store before the listing. @default 100000 */
  fill?: number;
  /** Timed listings through each API. @default 200 */
  listings?: number;
}

/** Each dialect's latency and its p50 ÷ GraphQL's p50, beside GraphQL's latency. */
export interface AgainstGraphql {
  graphql: LatencySummary;
  dialects: Record<DialectName, { latency: LatencySummary; ratioP50: number }>;
}

export interface DialectsResult {
  jobs: number;
  submit: AgainstGraphql;
  list: AgainstGraphql & { fill: number; userJobs: number };
}

type ApiName = 'graphql' | DialectName;

/** One API as the bench drives it: a user signs in, then submits one job a call or lists a page of its jobs. */
interface ApiClient {
  /** As the table names the API. */
  label: string;
  /** The submit and list calls, as the table names them. */
  submitCall: string;
  listCall: string;
  /** Signs `user` in (made by signUp, with the bench password). */
  signIn(rig: Rig, user: string): Promise<ApiSession>;
}

interface ApiSession {
  /** Submits one job named `name` for the instant provider; throws unless the API accepted it. */
  submit(name: string): Promise<void>;
  /** Asks for 50 of the user's jobs; throws unless it got exactly `expected`. */
  list(expected: number): Promise<void>;
}

async function expectStatus(res: Response, status: number, what: string): Promise<void> {
  if (res.status !== status) throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`);
}

/** The status expected, and the body read to its end (so the connection is free for the next call). */
async function accepted(res: Response, status: number, what: string): Promise<void> {
  await expectStatus(res, status, what);
  await res.arrayBuffer();
}

async function jsonOf<T>(res: Response, status: number, what: string): Promise<T> {
  await expectStatus(res, status, what);
  return (await res.json()) as T;
}

function expectCount(got: number, expected: number, what: string): void {
  if (got !== expected) throw new Error(`${what} answered ${got} jobs, not ${expected}`);
}

/** A GraphQL operation at `url`; its data, or a throw on another status than 200 or any error. */
async function graphqlData<T>(url: string, token: string, query: string, variables: Record<string, unknown>, what: string): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await jsonOf<{ data?: T | null; errors?: unknown[] }>(res, 200, what);
  if (body.errors?.length || !body.data) throw new Error(`${what}: ${JSON.stringify(body.errors)}`);
  return body.data;
}

const CORE_CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { id } error { code message } } }`;
const CORE_LIST = `query { jobs(first: 50) { totalCount edges { node { id createdAt status { state } owner { createdBy } specification { name replicas } } } } }`;

const graphqlClient: ApiClient = {
  label: 'GraphQL',
  submitCall: 'createJobs',
  listCall: 'jobs(first: 50)',
  async signIn(rig, user) {
    const token = await logIn(rig, user);
    const url = `${rig.url}/graphql`;
    return {
      async submit(name) {
        const spec = {
          requirements: { cpu: 1, memoryInGigs: 1, gpu: 0, providers: [INSTANT_PROVIDER_ID] },
          command: ['sh', '-c', 'true'],
          image: 'busybox',
          name,
          allowDuplicateJob: true,
        };
        const data = await graphqlData<{ createJobs: { error: { message: string } | null }[] }>(
          url,
          token,
          CORE_CREATE,
          { specs: [spec] },
          'createJobs',
        );
        if (data.createJobs[0]?.error) throw new Error(`createJobs: ${data.createJobs[0].error.message}`);
      },
      async list(expected) {
        const data = await graphqlData<{ jobs: { edges: unknown[] } }>(url, token, CORE_LIST, {}, 'jobs(first: 50)');
        expectCount(data.jobs.edges.length, expected, 'jobs(first: 50)');
      },
    };
  },
};

/** OpenPAI's protocol v2: the virtual cluster is the provider. */
function openpaiYaml(name: string): string {
  return [
    'protocolVersion: 2',
    `name: ${name}`,
    'type: job',
    'prerequisites: [{ type: dockerimage, name: img, uri: "busybox" }]',
    `defaults: { virtualCluster: ${INSTANT_PROVIDER_ID} }`,
    'taskRoles:',
    '  main: { instances: 1, dockerImage: img, resourcePerInstance: { cpu: 1, memoryMB: 1024, gpu: 0 }, commands: ["true"] }',
  ].join('\n');
}

const openpaiClient: ApiClient = {
  label: 'OpenPAI',
  submitCall: 'POST /api/v2/jobs',
  listCall: 'GET /api/v2/jobs?limit=50',
  async signIn(rig, user) {
    const api = `${rig.url}/openpai/api/v2`;
    const login = await fetch(`${api}/authn/basic/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: user, password: BENCH_PASSWORD, expiration: '4000' }),
    });
    const { token } = await jsonOf<{ token: string }>(login, 200, 'OpenPAI login');
    const headers = { authorization: `Bearer ${token}` };
    return {
      async submit(name) {
        const res = await fetch(`${api}/jobs`, { method: 'POST', headers: { ...headers, 'content-type': 'text/yaml' }, body: openpaiYaml(name) });
        await accepted(res, 202, 'OpenPAI submit');
      },
      async list(expected) {
        const res = await fetch(`${api}/jobs?username=${user}&limit=50&withTotalCount=true`, { headers });
        expectCount((await jsonOf<{ data: unknown[] }>(res, 200, 'OpenPAI list')).data.length, expected, 'OpenPAI list');
      },
    };
  },
};

/** The Backend.AI JS SDK's request signing (what its client sends), for requests made here with fetch. */
interface BaiSigner {
  newSignedRequest(method: string, path: string, body: unknown): { uri: string; method: string; headers: Headers; body: string };
}

function backendaiSigner(endpoint: string, accessKey: string, secretKey: string): BaiSigner {
  const ai = createRequire(import.meta.url)('backend.ai-client/backend.ai-client-node.js') as {
    Client: new (config: unknown, agent: string) => BaiSigner;
    ClientConfig: new (accessKey: string, secretKey: string, endpoint: string) => unknown;
  };
  return new ai.Client(new ai.ClientConfig(accessKey, secretKey, endpoint), 'switchyard-bench');
}

const SESSION_LIST = `query ($ak: String) { compute_session_list(limit: 50, offset: 0, access_key: $ak) { items { id name status created_at } total_count } }`;

const backendaiClient: ApiClient = {
  label: 'Backend.AI',
  submitCall: 'POST /session (signed, enqueueOnly)',
  listCall: 'compute_session_list(limit: 50)',
  async signIn(rig, user) {
    const { issueBackendAiKeypair: keys } = await rig.admin.ok<{ issueBackendAiKeypair: { accessKey: string; secretKey: string } }>(
      `mutation ($u: ID!) { issueBackendAiKeypair(user: $u) { accessKey secretKey } }`,
      { u: user },
    );
    const signer = backendaiSigner(`${rig.url}/backendai`, keys.accessKey, keys.secretKey);
    const send = (method: string, path: string, body: unknown) => {
      const request = signer.newSignedRequest(method, path, body);
      return fetch(request.uri, { method: request.method, headers: request.headers, body: request.body || undefined });
    };
    return {
      async submit(name) {
        // A batch session, enqueued only, in the instant provider's scaling group.
        const res = await send('POST', '/session', {
          name,
          image: 'busybox',
          type: 'batch',
          startupCommand: 'true',
          enqueueOnly: true,
          config: { resources: { cpu: 1, mem: '1g' }, scalingGroup: INSTANT_PROVIDER_ID },
        });
        await accepted(res, 201, 'Backend.AI create');
      },
      async list(expected) {
        const res = await send('POST', '/admin/gql', { query: SESSION_LIST, variables: { ak: keys.accessKey } });
        const body = await jsonOf<{ data: { compute_session_list: { items: unknown[] } } | null; errors?: unknown[] }>(res, 200, 'Backend.AI list');
        if (!body.data) throw new Error(`compute_session_list: ${JSON.stringify(body.errors)}`);
        expectCount(body.data.compute_session_list.items.length, expected, 'compute_session_list');
      },
    };
  },
};

const apoloClient: ApiClient = {
  label: 'Apolo',
  submitCall: 'POST /jobs?from_preset',
  listCall: 'GET /jobs?owner=…&limit=50 (NDJSON)',
  async signIn(rig, user) {
    const { issueApoloToken: token } = await rig.admin.ok<{ issueApoloToken: string }>(`mutation ($u: ID!) { issueApoloToken(user: $u) }`, {
      u: user,
    });
    const api = `${rig.url}/apolo/api/v1`;
    const headers = { authorization: `Bearer ${token}` };
    return {
      async submit(name) {
        // jobs.start's body: the cluster is the provider, the preset its product.
        const body = {
          image: 'busybox',
          cluster_name: INSTANT_PROVIDER_ID,
          preset_name: INSTANT_PRODUCT.id,
          project_name: user,
          command: 'true',
          name,
        };
        const res = await fetch(`${api}/jobs?from_preset`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        await accepted(res, 202, 'Apolo start');
      },
      async list(expected) {
        const res = await fetch(`${api}/jobs?owner=${user}&limit=50&reverse=1`, { headers: { ...headers, accept: 'application/x-ndjson' } });
        await expectStatus(res, 200, 'Apolo list');
        const lines = (await res.text()).split('\n').filter(Boolean);
        // A failure after the first page is a last line {"error": …}, with the status already 200.
        const failed = lines.find((line) => line.startsWith('{"error"'));
        if (failed) throw new Error(`Apolo list: ${failed}`);
        expectCount(lines.length, expected, 'Apolo list');
      },
    };
  },
};

const ucloudClient: ApiClient = {
  label: 'UCloud',
  submitCall: 'POST /api/jobs (one item)',
  listCall: 'GET /api/jobs/browse?itemsPerPage=50',
  async signIn(rig, user) {
    const { issueUcloudRefreshToken: refreshToken } = await rig.admin.ok<{ issueUcloudRefreshToken: string }>(
      `mutation ($u: ID!) { issueUcloudRefreshToken(user: $u) }`,
      { u: user },
    );
    const base = `${rig.url}/ucloud`;
    const refreshed = await fetch(`${base}/auth/refresh`, { method: 'POST', headers: { authorization: `Bearer ${refreshToken}` } });
    const { accessToken } = await jsonOf<{ accessToken: string }>(refreshed, 200, 'UCloud refresh');
    const headers = { authorization: `Bearer ${accessToken}` };
    return {
      async submit(name) {
        // A JobSpecification as UCloud's reference writes one; what runs is the `command` parameter.
        const item = {
          application: { name: 'bench', version: '1' },
          product: { id: INSTANT_PRODUCT.id, category: INSTANT_PRODUCT.category, provider: INSTANT_PROVIDER_ID },
          name,
          replicas: 1,
          allowDuplicateJob: true,
          parameters: { command: { type: 'text', value: 'true' } },
        };
        const res = await fetch(`${base}/api/jobs`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify({ items: [item] }),
        });
        await accepted(res, 200, 'UCloud create');
      },
      async list(expected) {
        const res = await fetch(`${base}/api/jobs/browse?itemsPerPage=50`, { headers });
        expectCount((await jsonOf<{ items: unknown[] }>(res, 200, 'UCloud browse')).items.length, expected, 'UCloud browse');
      },
    };
  },
};

/** The documented CreatePipelineJob and its first sample variables (an immediate pipeline job, without a git server), from the reference itself. */
const SHAKUDO_CREATE = must(
  documentedOperations().find((operation) => operation.name === 'CreatePipelineJob' && operation.variables.length > 0),
  'the documented CreatePipelineJob',
);
/** The documented pipeline jobs list's page (take, skip) and fields, without its filter to services, newest first. */
const SHAKUDO_LIST = `query jobs($offset: Int, $limit: Int!) {
pipelineJobs(orderBy: [{ startTime: desc }], take: $limit, skip: $offset) {
id exposedPort pinned pipelineYamlPath schedule status statusReason startTime completionTime daskDashboardUrl timeout output
outputNotebooksPath activeTimeout duration jobType estimatedCost owner maxRetries
}
}`;

const shakudoClient: ApiClient = {
  label: 'Shakudo',
  submitCall: 'createPipelineJob',
  listCall: 'pipelineJobs(take: 50)',
  async signIn(rig, user) {
    // Shakudo users sign in with their email; its local part is the Switchyard user.
    const email = `${user}@shakudo.io`;
    const login = await fetch(`${rig.url}/shakudo/auth/realms/Hyperplane/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username: email, password: BENCH_PASSWORD, client_id: 'istio' }),
    });
    const { access_token: token } = await jsonOf<{ access_token: string }>(login, 200, 'Shakudo token');
    const url = `${rig.url}/shakudo/graphql`;
    return {
      async submit() {
        // It has no name to give: the documented variables, as this user.
        const variables = { ...SHAKUDO_CREATE.variables[0]!.value, hyperplaneUserEmail: email };
        await graphqlData(url, token, SHAKUDO_CREATE.text, variables, 'Shakudo createPipelineJob');
      },
      async list(expected) {
        const data = await graphqlData<{ pipelineJobs: unknown[] }>(url, token, SHAKUDO_LIST, { limit: 50, offset: 0 }, 'Shakudo pipelineJobs');
        expectCount(data.pipelineJobs.length, expected, 'Shakudo pipelineJobs');
      },
    };
  },
};

/** Every dialect, in the table's order. */
const DIALECT_CLIENTS: Record<DialectName, ApiClient> = {
  openpai: openpaiClient,
  backendai: backendaiClient,
  apolo: apoloClient,
  ucloud: ucloudClient,
  shakudo: shakudoClient,
};

/** The dialects the rig must serve. */
export const BENCHED_DIALECTS = Object.keys(DIALECT_CLIENTS) as DialectName[];

const APIS: Record<ApiName, ApiClient> = { graphql: graphqlClient, ...DIALECT_CLIENTS };
const API_NAMES = Object.keys(APIS) as ApiName[];

/** Each API signed in as the user `userOf` names (who exists). */
async function signInAll(rig: Rig, userOf: (api: ApiName) => string): Promise<Record<ApiName, ApiSession>> {
  const sessions: Partial<Record<ApiName, ApiSession>> = {};
  for (const api of API_NAMES) sessions[api] = await APIS[api].signIn(rig, userOf(api));
  return sessions as Record<ApiName, ApiSession>;
}

/** `call` on each API's session, alternating round after round: each API's latency. */
async function timeEach(
  rounds: number,
  sessions: Record<ApiName, ApiSession>,
  call: (session: ApiSession, api: ApiName) => Promise<void>,
): Promise<Record<ApiName, LatencySummary>> {
  const summaries = await measureAlternating(
    rounds,
    API_NAMES.map((api) => () => call(sessions[api], api)),
  );
  return Object.fromEntries(API_NAMES.map((api, k) => [api, summaries[k]!])) as Record<ApiName, LatencySummary>;
}

function againstGraphql(latency: Record<ApiName, LatencySummary>): AgainstGraphql {
  const dialects = Object.fromEntries(BENCHED_DIALECTS.map((d) => [d, { latency: latency[d], ratioP50: latency[d].p50 / latency.graphql.p50 }]));
  return { graphql: latency.graphql, dialects: dialects as AgainstGraphql['dialects'] };
}

/** A funded user of each API, who submits through it alone. */
async function createSubmitters(rig: Rig): Promise<(api: ApiName) => string> {
  const userOf = (api: ApiName) => `${api}bench`;
  for (const api of API_NAMES) {
    await signUp(rig, userOf(api));
    await fund(rig.admin, userOf(api), INSTANT_PROVIDER_ID);
  }
  return userOf;
}

/** Every job in the store is one of the `submitted` and on the instant provider: each API created one a call and routed it there. */
async function checkAllOnInstant(store: Store, submitted: number): Promise<void> {
  const counts = await store.countJobs();
  const elsewhere = counts.filter((row) => row.providerId !== INSTANT_PROVIDER_ID);
  const stored = counts.reduce((sum, row) => sum + row.count, 0);
  if (elsewhere.length || stored !== submitted)
    throw new Error(`${submitted} jobs submitted, the store holds ${stored}, not all on ${INSTANT_PROVIDER_ID}: ${JSON.stringify(counts)}`);
}

export async function benchDialects(rig: Rig, progress: (message: string) => void, options: DialectsOptions = {}): Promise<DialectsResult> {
  const jobs = options.jobs ?? 1000;
  const fill = options.fill ?? 100_000;
  const listings = options.listings ?? 200;
  if (!rig.gateway.registry.product(INSTANT_PROVIDER_ID, INSTANT_PRODUCT.id)) throw new Error('the rig has no instant provider');
  const labels = API_NAMES.map((api) => APIS[api].label).join(', ');

  const submitting = await signInAll(rig, await createSubmitters(rig));
  progress(`submitting ${jobs} jobs through each of ${labels}, alternating`);
  let submitted = 0;
  const submit = await timeEach(jobs, submitting, (session, api) => session.submit(`${api}-${submitted++}`));
  await checkAllOnInstant(rig.store, submitted);

  progress(`filling the store with ${fill} jobs for the listing`);
  await fillStore(rig.store, { jobs: fill });
  const lister = creatorName(7);
  await signUp(rig, lister);
  const listing = await signInAll(rig, () => lister);
  const { totalCount: userJobs } = await rig.store.listJobs({ createdBy: lister, order: 'DESC', first: 1 });
  // The fill spreads its jobs over 500 creators.
  const page = Math.min(50, Math.floor(fill / 500));
  progress(`listing 50 of ${lister}'s ${userJobs} jobs through each of ${labels}, ${listings} times each`);
  const list = await timeEach(listings, listing, (session) => session.list(page));
  return { jobs, submit: againstGraphql(submit), list: { fill, userJobs, ...againstGraphql(list) } };
}

const SUBMIT_AIM = 1.2;
const LIST_AIM = 1.5;

export function dialectsRows(result: DialectsResult): Row[] {
  const benchmark = 'Dialects vs GraphQL';
  const submitOf = (client: ApiClient) => `submit one job, ${client.label} ${client.submitCall}`;
  const listOf = (client: ApiClient) => `list 50 of ${result.list.fill}, ${client.label} ${client.listCall}`;
  const baseline = (metric: string, latency: LatencySummary): Row => ({
    benchmark,
    metric: `${metric} p50`,
    value: latency.p50,
    unit: 'ms',
    baseline: 'baseline',
  });
  const ratio = (metric: string, figures: { latency: LatencySummary; ratioP50: number }, baselineName: string, aim: number): Row => ({
    benchmark,
    metric: `${metric} p50`,
    value: figures.latency.p50,
    unit: 'ms',
    baseline: baselineName,
    ratio: figures.ratioP50,
    aim: `≤ ${aim}×`,
    meetsAim: figures.ratioP50 <= aim,
  });
  return [
    baseline(`${submitOf(graphqlClient)} (${result.jobs})`, result.submit.graphql),
    ...BENCHED_DIALECTS.flatMap((d) => {
      const client = DIALECT_CLIENTS[d];
      const figures = result.submit.dialects[d];
      return [
        ratio(submitOf(client), figures, 'GraphQL createJobs p50', SUBMIT_AIM),
        { benchmark, metric: `submit one job, ${client.label} p99`, value: figures.latency.p99, unit: 'ms' },
      ];
    }),
    baseline(listOf(graphqlClient), result.list.graphql),
    ...BENCHED_DIALECTS.map((d) => ratio(listOf(DIALECT_CLIENTS[d]), result.list.dialects[d], 'GraphQL jobs p50', LIST_AIM)),
  ];
}
