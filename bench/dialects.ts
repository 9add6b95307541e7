/**
 * Benchmark: the dialects' cost over the core API. Through the OpenPAI dialect
 * against the same through GraphQL, in the same run, alternating call by call:
 * submitting one job per call (OpenPAI submits one job a request; its YAML
 * parsed and its name checked for a conflict), and listing 50 of a user's
 * jobs among `fill` jobs in the store. `BENCH_ONLY=dialects`.
 */
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
  submit: { openpai: LatencySummary; graphql: LatencySummary; ratioP50: number };
  list: { fill: number; userJobs: number; openpai: LatencySummary; graphql: LatencySummary; ratioP50: number };
}

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

  progress(`submitting ${jobs} jobs through OpenPAI and as many through GraphQL, alternating`);
  let n = 0;
  const [paiSubmit, coreSubmit] = await measureAlternating(jobs, [
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
  ]);

  progress(`filling the store with ${fill} jobs for the listing`);
  await fillStore(rig.store, { jobs: fill });
  const lister = creatorName(7);
  const listClient = await signUp(rig, lister);
  const listHeaders = { authorization: `Bearer ${listClient.token}` };
  progress(`listing 50 of ${lister}'s jobs through OpenPAI and GraphQL, ${listings} times each`);
  let userJobs = 0;
  // The fill spreads its jobs over 500 creators.
  const page = Math.min(50, Math.floor(fill / 500));
  const [paiList, coreList] = await measureAlternating(listings, [
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
  ]);
  return {
    jobs,
    submit: { openpai: paiSubmit!, graphql: coreSubmit!, ratioP50: paiSubmit!.p50 / coreSubmit!.p50 },
    list: { fill, userJobs, openpai: paiList!, graphql: coreList!, ratioP50: paiList!.p50 / coreList!.p50 },
  };
}

export function dialectsRows(result: DialectsResult): Row[] {
  const b = 'Dialects: OpenPAI vs GraphQL';
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
  ];
}
