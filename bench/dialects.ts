/**
 * Benchmark: the dialects' cost over the core API. Through the OpenPAI and
 * Backend.AI dialects against the same through GraphQL, in the same run,
 * alternating call by call: submitting one job per call (OpenPAI submits one
 * job a request, its YAML parsed and its name checked for a conflict;
 * Backend.AI one session a signed request, its signature verified and its name
 * checked among the active sessions), and listing 50 of a user's jobs among
 * `fill` jobs in the store (Backend.AI: compute_session_list over /admin/gql).
 * Backend.AI's requests are signed by its npm JS SDK. `BENCH_ONLY=dialects`.
 */
import { createRequire } from 'node:module';

import { fund } from '../test/support/credits.js';
import { createClient } from '../test/support/graphql-client.js';
import { INSTANT_PRODUCT } from './instant-driver.js';
import { creatorName, fillStore, signUp } from './job-listing.js';
import { INSTANT_PROVIDER_ID, type Rig } from './rig.js';
import { measureAlternating, type LatencySummary } from './stats.js';
import type { Row } from './table.js';

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { id } error { code message } } }`;
const LIST = `query { jobs(first: 50) { totalCount edges { node { id createdAt status { state } owner { createdBy } specification { name replicas } } } } }`;

export interface DialectsOptions {
  /** Jobs submitted through each API (one a call). @default 500 */
  jobs?: number;
  /** Jobs put in the store before the listing. @default 100000 */
  fill?: number;
  /** Timed listings through each API. @default 200 */
  listings?: number;
}

export interface DialectsResult {
  jobs: number;
  submit: { openpai: LatencySummary; backendai: LatencySummary; graphql: LatencySummary; ratioP50: number; backendaiRatioP50: number };
  list: {
    fill: number;
    userJobs: number;
    openpai: LatencySummary;
    backendai: LatencySummary;
    graphql: LatencySummary;
    ratioP50: number;
    backendaiRatioP50: number;
  };
}

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

async function backendaiKeys(rig: Rig, user: string): Promise<{ accessKey: string; secretKey: string }> {
  const data = await rig.admin.ok<{ issueBackendAiKeypair: { accessKey: string; secretKey: string } }>(
    `mutation ($u: ID!) { issueBackendAiKeypair(user: $u) { accessKey secretKey } }`,
    { u: user },
  );
  return data.issueBackendAiKeypair;
}

async function sendSigned(signer: BaiSigner, method: string, path: string, body: unknown): Promise<Response> {
  const request = signer.newSignedRequest(method, path, body);
  return fetch(request.uri, { method: request.method, headers: request.headers, body: request.body || undefined });
}

/** The same job as a Backend.AI batch session: enqueued only, in the instant provider's scaling group. */
function sessionBody(name: string) {
  return {
    name,
    image: 'busybox',
    type: 'batch',
    startupCommand: 'true',
    enqueueOnly: true,
    config: { resources: { cpu: 1, mem: '1g' }, scalingGroup: INSTANT_PROVIDER_ID },
  };
}

const SESSION_LIST = `query ($ak: String) { compute_session_list(limit: 50, offset: 0, access_key: $ak) { items { id name status created_at } total_count } }`;

/** The same job in both APIs: one replica of `true`, routed by its resources to the instant provider. */
function yamlJob(name: string): string {
  return [
    'protocolVersion: 2',
    `name: ${name}`,
    'type: job',
    'prerequisites: [{ type: dockerimage, name: img, uri: "busybox" }]',
    'defaults: { virtualCluster: instant }',
    'taskRoles:',
    '  main: { instances: 1, dockerImage: img, resourcePerInstance: { cpu: 1, memoryMB: 1024, gpu: 0 }, commands: ["true"] }',
  ].join('\n');
}

function coreSpec(name: string) {
  return {
    requirements: { cpu: 1, memoryInGigs: 1, gpu: 0, providers: [INSTANT_PROVIDER_ID] },
    command: ['sh', '-c', 'true'],
    image: 'busybox',
    name,
    allowDuplicateJob: true,
  };
}

async function check(res: Response, status: number, what: string): Promise<void> {
  if (res.status !== status) throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
}

export async function benchDialects(rig: Rig, progress: (message: string) => void, options: DialectsOptions = {}): Promise<DialectsResult> {
  const jobs = options.jobs ?? 500;
  const fill = options.fill ?? 100_000;
  const listings = options.listings ?? 200;
  const pai = `${rig.url}/openpai`;
  if (!rig.gateway.registry.product(INSTANT_PROVIDER_ID, INSTANT_PRODUCT.id)) throw new Error('the rig has no instant provider');

  // One user for both APIs: a Switchyard token from the OpenPAI login works on GraphQL as well.
  const submitter = 'paibench';
  await signUp(rig, submitter);
  await fund(rig.admin, submitter, INSTANT_PROVIDER_ID);
  const login = await fetch(`${pai}/api/v2/authn/basic/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username: submitter, password: 'bench-password', expiration: '4000' }),
  });
  if (login.status !== 200) throw new Error(`OpenPAI login: HTTP ${login.status}`);
  const { token } = (await login.json()) as { token: string };
  const graphql = createClient(rig.url, token);
  const headers = { authorization: `Bearer ${token}` };
  const baiEndpoint = `${rig.url}/backendai`;
  const submitterKeys = await backendaiKeys(rig, submitter);
  const bai = backendaiSigner(baiEndpoint, submitterKeys.accessKey, submitterKeys.secretKey);

  progress(`submitting ${jobs} jobs through OpenPAI, as many through Backend.AI and through GraphQL, alternating`);
  let n = 0;
  const [paiSubmit, coreSubmit, baiSubmit] = await measureAlternating(jobs, [
    async () => {
      const res = await fetch(`${pai}/api/v2/jobs`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'text/yaml' },
        body: yamlJob(`pai-${n++}`),
      });
      await check(res, 202, 'OpenPAI submit');
    },
    async () => {
      const data = await graphql.ok<{ createJobs: { error: { message: string } | null }[] }>(CREATE, { specs: [coreSpec(`core-${n++}`)] });
      if (data.createJobs[0]?.error) throw new Error(`createJobs: ${data.createJobs[0].error.message}`);
    },
    async () => check(await sendSigned(bai, 'POST', '/session', sessionBody(`bai-${n++}`)), 201, 'Backend.AI create'),
  ]);

  progress(`filling the store with ${fill} jobs for the listing`);
  await fillStore(rig.store, { jobs: fill });
  const lister = creatorName(7);
  const listClient = await signUp(rig, lister);
  const listHeaders = { authorization: `Bearer ${listClient.token}` };
  const listerKeys = await backendaiKeys(rig, lister);
  const baiLister = backendaiSigner(baiEndpoint, listerKeys.accessKey, listerKeys.secretKey);
  progress(`listing 50 of ${lister}'s jobs through OpenPAI, Backend.AI and GraphQL, ${listings} times each`);
  let userJobs = 0;
  // The fill spreads its jobs over 500 creators.
  const page = Math.min(50, Math.floor(fill / 500));
  const [paiList, coreList, baiList] = await measureAlternating(listings, [
    async () => {
      const res = await fetch(`${pai}/api/v2/jobs?username=${lister}&limit=50&withTotalCount=true`, { headers: listHeaders });
      if (res.status !== 200) throw new Error(`OpenPAI list: HTTP ${res.status}`);
      const body = (await res.json()) as { totalCount: number; data: unknown[] };
      if (body.data.length !== page) throw new Error(`OpenPAI list answered ${body.data.length} jobs, not ${page}`);
      userJobs = body.totalCount;
    },
    async () => {
      const data = await listClient.ok<{ jobs: { edges: unknown[] } }>(LIST);
      if (data.jobs.edges.length !== page) throw new Error(`jobs(first: 50) answered ${data.jobs.edges.length} jobs, not ${page}`);
    },
    async () => {
      const res = await sendSigned(baiLister, 'POST', '/admin/gql', { query: SESSION_LIST, variables: { ak: listerKeys.accessKey } });
      if (res.status !== 200) throw new Error(`Backend.AI list: HTTP ${res.status}`);
      const body = (await res.json()) as { data: { compute_session_list: { items: unknown[] } } | null; errors?: unknown[] };
      const items = body.data?.compute_session_list.items ?? [];
      if (items.length !== page)
        throw new Error(`compute_session_list answered ${items.length} sessions, not ${page}: ${JSON.stringify(body.errors)}`);
    },
  ]);
  return {
    jobs,
    submit: {
      openpai: paiSubmit!,
      backendai: baiSubmit!,
      graphql: coreSubmit!,
      ratioP50: paiSubmit!.p50 / coreSubmit!.p50,
      backendaiRatioP50: baiSubmit!.p50 / coreSubmit!.p50,
    },
    list: {
      fill,
      userJobs,
      openpai: paiList!,
      backendai: baiList!,
      graphql: coreList!,
      ratioP50: paiList!.p50 / coreList!.p50,
      backendaiRatioP50: baiList!.p50 / coreList!.p50,
    },
  };
}

export function dialectsRows(result: DialectsResult): Row[] {
  const b = 'Dialects: OpenPAI and Backend.AI vs GraphQL';
  return [
    {
      benchmark: b,
      metric: `submit one job, GraphQL createJobs p50 (${result.jobs})`,
      value: result.submit.graphql.p50,
      unit: 'ms',
      baseline: 'baseline',
    },
    {
      benchmark: b,
      metric: `submit one job, OpenPAI POST /api/v2/jobs p50 (${result.jobs})`,
      value: result.submit.openpai.p50,
      unit: 'ms',
      baseline: 'GraphQL createJobs p50',
      ratio: result.submit.ratioP50,
      aim: '≤ 1.2×',
      meetsAim: result.submit.ratioP50 <= 1.2,
    },
    { benchmark: b, metric: 'submit one job, OpenPAI p99', value: result.submit.openpai.p99, unit: 'ms' },
    {
      benchmark: b,
      metric: `submit one job, Backend.AI POST /session (signed, enqueueOnly) p50 (${result.jobs})`,
      value: result.submit.backendai.p50,
      unit: 'ms',
      baseline: 'GraphQL createJobs p50',
      ratio: result.submit.backendaiRatioP50,
      aim: '≤ 1.2×',
      meetsAim: result.submit.backendaiRatioP50 <= 1.2,
    },
    { benchmark: b, metric: 'submit one job, Backend.AI p99', value: result.submit.backendai.p99, unit: 'ms' },
    {
      benchmark: b,
      metric: `list 50 of ${result.list.fill}, GraphQL jobs(first: 50) p50`,
      value: result.list.graphql.p50,
      unit: 'ms',
      baseline: 'baseline',
    },
    {
      benchmark: b,
      metric: `list 50 of ${result.list.fill}, OpenPAI GET /api/v2/jobs?limit=50 p50`,
      value: result.list.openpai.p50,
      unit: 'ms',
      baseline: 'GraphQL jobs p50',
      ratio: result.list.ratioP50,
      aim: '≤ 1.5×',
      meetsAim: result.list.ratioP50 <= 1.5,
    },
    {
      benchmark: b,
      metric: `list 50 of ${result.list.fill}, Backend.AI compute_session_list(limit: 50) p50`,
      value: result.list.backendai.p50,
      unit: 'ms',
      baseline: 'GraphQL jobs p50',
      ratio: result.list.backendaiRatioP50,
      aim: '≤ 1.5×',
      meetsAim: result.list.backendaiRatioP50 <= 1.5,
    },
  ];
}
