/**
 * Abuse limits at the edge, against real gateways: GraphQL limits (aliases,
 * depth, tokens, directives, cost) over HTTP, SSE and websockets; the body
 * limit on /graphql and on the REST endpoint, with and without
 * Content-Length; login throttling on POST /api/v1/token, in memory and on
 * real Redis shared by two replicas; and the metric that counts each refusal.
 * Every legitimate query we know of (the README's, the suite's largest, a
 * dashboard's, the introspection query) must still pass with the defaults.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { getIntrospectionQuery } from 'graphql';
import { createClient as createWsClient } from 'graphql-ws';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import type { LoginThrottleOptions } from '../gateway/access/auth.js';
import type { Ledger } from '../gateway/accounting/ledger.js';
import { createMemoryLedger } from '../gateway/accounting/memory-ledger.js';
import { createRedisLedger } from '../gateway/accounting/redis-ledger.js';
import { createGateway, type Gateway } from '../gateway/gateway.js';
import { DEFAULT_REQUEST_LIMITS } from '../gateway/graphql/plugins/use-request-limits.js';
import { clientAddress } from '../gateway/http-server.js';
import { createMemoryStore } from '../gateway/store/memory-store.js';
import { createRedisStore } from '../gateway/store/redis-store.js';
import type { Store } from '../gateway/store/store.js';
import { systemClock } from '../shared/clock.js';
import { silentLogger } from '../shared/logger.js';
import { createSubjects } from '../shared/subjects.js';
import type { Transport } from '../shared/transport.js';
import { createMemoryTransport } from '../shared/transport/memory-transport.js';
import { createNatsTransport } from '../shared/transport/nats-transport.js';
import { startEmbeddedGateway, type EmbeddedGateway } from './support/embedded-gateway.js';
import { readEventStream } from './support/event-stream.js';
import { createClient, eventually, type TestClient } from './support/graphql-client.js';
import { deleteKeys, natsUrl, redisUrl, uniquePrefix } from './support/services.js';

// ---------------------------------------------------------------- helpers

interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: any;
}

/**
 * One HTTP request through node:http, so that the test can choose the local
 * address (another loopback address is another client) and stream a body in
 * chunks without Content-Length.
 */
function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer | Buffer[]; localAddress?: string },
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest(
      url,
      { method: options.method ?? 'POST', headers: options.headers, localAddress: options.localAddress, agent: false },
      (res) => {
        answered = true;
        const parts: Buffer[] = [];
        res.on('data', (chunk: Buffer) => parts.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          let json: unknown = null;
          try {
            json = JSON.parse(text);
          } catch {
            // not JSON: the test looks at text
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    // The server may close while the rest of a refused body is still on its way.
    req.on('error', (error) => (answered ? undefined : reject(error)));
    const body = options.body;
    if (Array.isArray(body)) {
      // No Content-Length: node:http sends these as chunks (Transfer-Encoding: chunked).
      (async () => {
        for (const chunk of body) {
          if (req.destroyed || answered) return;
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        }
        req.end();
      })().catch(() => undefined);
    } else {
      req.end(body);
    }
  });
}

const json = (value: unknown) => ({ 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(JSON.stringify(value))) });

function postToken(baseUrl: string, username: string, password: string, localAddress = '127.0.0.1'): Promise<RawAnswer> {
  const body = JSON.stringify({ username, password });
  return send(`${baseUrl}/api/v1/token`, { headers: { 'content-type': 'application/json' }, body, localAddress });
}

async function metricsText(baseUrl: string): Promise<string> {
  return (await fetch(`${baseUrl}/metrics`)).text();
}

/** switchyard_requests_refused_total for one reason. */
async function refusals(baseUrl: string, reason: string): Promise<number> {
  const match = new RegExp(`^switchyard_requests_refused_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(await metricsText(baseUrl));
  if (!match) throw new Error(`no switchyard_requests_refused_total{reason="${reason}"} in /metrics`);
  return Number(match[1]);
}

/** GraphQL operations executed so far (every one is observed by the duration histogram). */
async function executedOperations(baseUrl: string): Promise<number> {
  const text = await metricsText(baseUrl);
  return [...text.matchAll(/^switchyard_graphql_operation_duration_seconds_count\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

/**
 * The README's GraphQL requests, in its order: each `gql '...'`/`gql "..."`
 * and `curl ... -d "..."` whose body is a {"query": ...} document, the shell's
 * double-quote escapes undone.
 */
function readmeRequests(): string[] {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const bodies: string[] = [];
  for (const line of readme.split('\n')) {
    const single = /(?:gql|-d) '(\{"query".*\})'\s*$/.exec(line);
    const double = /(?:gql|-d) "(\{\\"query.*\})"\s*$/.exec(line);
    if (single) bodies.push(single[1]!);
    else if (double) bodies.push(double[1]!.replace(/\\(["\\$`])/g, '$1'));
  }
  return bodies;
}

const STATS = [
  'COUNT_ALL',
  'COUNT_IN_QUEUE',
  'COUNT_RUNNING',
  'COUNT_SUSPENDED',
  'COUNT_SUCCESS',
  'COUNT_FAILURE',
  'COUNT_EXPIRED',
  'COUNT_CANCELED',
];
const FRAMES = ['T_10M', 'T_1H', 'T_24H', 'TOTAL'];
/** Every field of a job a list view could show, down to its product's time limit (depth 8 under jobs). */
const EVERY_JOB_FIELD = `id createdAt providerGeneratedId creditsCharged owner { createdBy project }
  specification { product { id category provider } application { name version } command image env workingDir name replicas allowDuplicateJob
    parameters resources timeAllocation { hours minutes seconds } restartOnExit sshEnabled tags description priority scheduleTimeout }
  status { state startedAt expiresAt allowRestart exitCode pendingReason queuePosition
    resolvedProduct { id category provider name pricePerUnit unitOfPrice support { backend maxReplicas maxTimeAllocation { hours minutes seconds } } }
    resolvedSupport { backend logs terminal suspension timeExtension } }
  updates { state status newTimeAllocation timestamp } provider { id kind status circuit } acl { entity permissions }`;
/** What a dashboard would ask in one request: 32 job counts (aliases), 100 jobs with every field, products, providers, wallets, transactions. */
const DASHBOARD = `query Dashboard {
  me { createdBy project }
  providers { id kind domain version status circuit lastHeartbeat utilization { capacity { cpu memoryInGigs gpu } usedCapacity { cpu memoryInGigs gpu } queueStatus { running pending } observedAt } }
  products(first: 100) { id category provider name description cpu memoryInGigs gpu pricePerUnit unitOfPrice freeToUse priority capacity balance queueStatus
    support { backend logs terminal web vnc peers timeExtension suspension utilization maxReplicas maxTimeAllocation { hours minutes seconds } } }
  utilization { capacity { cpu memoryInGigs gpu } usedCapacity { cpu memoryInGigs gpu } queueStatus { running pending } observedAt }
  wallets { owner { createdBy project } category provider balance allocations { id initialBalance balance startDate endDate } }
  ${STATS.flatMap((stat) => FRAMES.map((frame) => `${stat.toLowerCase()}_${frame.toLowerCase()}: jobStat(stat: ${stat}, timeFrame: ${frame})`)).join('\n  ')}
  jobs(first: 100) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { ${EVERY_JOB_FIELD} } } }
  transactions(first: 20) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id kind owner isProject provider category amount jobId allocationIds by timestamp description } } }
}`;

/** A mutation that would create a job: a refused document containing it must leave no job behind. */
const CREATE_ONE = `createJobs(specifications: [{ product: { id: "local-small", provider: "local" }, command: ["true"], allowDuplicateJob: true }]) { job { id } error { code } }`;

const hostile = {
  // 60 aliases > 50, in few enough tokens that the alias limit is the one that speaks.
  aliases: `mutation { createJobs(specifications: [{ product: { id: "local-small", provider: "local" }, command: ["true"] }]) { ${Array.from({ length: 60 }, (_, i) => `a${i}: job { id }`).join(' ')} } }`,
  // A type reference followed 11 deep > 10 (the data schema has no cycle deeper than 8), beside the mutation:
  // a document with any refused operation runs none of them.
  depth: `mutation Create { ${CREATE_ONE} } query Deep { __type(name: "Job") { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } }`,
  // 2,100 tags in the query text: over 2,000 tokens.
  tokens: `mutation { createJobs(specifications: [{ product: { id: "local-small", provider: "local" }, command: ["true"], tags: [${Array.from({ length: 2100 }, (_, i) => `"t${i}"`).join(',')}] }]) { job { id } } }`,
  // 60 directives > 50 (one per repeated __typename, so no alias and no duplicate directive).
  directives: `mutation { createJobs(specifications: [{ product: { id: "local-small", provider: "local" }, command: ["true"] }]) { job { id ${'__typename @include(if: true) '.repeat(60)}} } }`,
  // Two full pages of 500 jobs: cost about 540,000 > 300,000.
  cost: `mutation Create { ${CREATE_ONE} } query Pages { a: jobs(first: 500) { edges { node { ${EVERY_JOB_FIELD} } } } b: jobs(first: 500) { edges { node { ${EVERY_JOB_FIELD} } } } }`,
} as const;

// ---------------------------------------------------------------- GraphQL limits

describe('GraphQL limits with the default settings', () => {
  let env: EmbeddedGateway;
  let alice: TestClient;
  const countJobs = async (client: TestClient) => (await client.ok(`{ jobs(first: 500) { totalCount } }`)).jobs.totalCount as number;

  beforeAll(async () => {
    env = await startEmbeddedGateway();
    alice = await env.user('edgealice');
  });
  afterAll(async () => {
    await env?.stop();
  });

  it("answers every request of the README's walk-through, in its order", async () => {
    const requests = readmeRequests();
    // createUser, grantCredits, products, createJobs, followJob, job, suspend, unsuspend, extend, terminate, a routed createJobs.
    expect(requests.length).toBeGreaterThanOrEqual(11);
    const admin = (body: string) =>
      send(`${env.url}/graphql`, { headers: { ...json(JSON.parse(body)), authorization: `Bearer ${env.admin.token}` }, body });
    let token = '';
    let jobId = '';
    for (const original of requests) {
      const body = original.replace(/\$JOB/g, jobId);
      const query = JSON.parse(body).query as string;
      if (query.includes('createUser') || query.includes('grantCredits')) {
        const res = await admin(body);
        expect(res.status, res.text).toBe(200);
        expect(res.json.errors, res.text).toBeUndefined();
        if (query.includes('grantCredits')) {
          // As the README does next: the user exchanges name and password for a token (curl -d sends it as a form; the endpoint reads JSON).
          const login = await send(`${env.url}/api/v1/token`, {
            body: '{"username":"alice","password":"a-long-password"}',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
          });
          expect(login.status, login.text).toBe(200);
          token = login.json.token;
        }
        continue;
      }
      const headers: Record<string, string> = { ...json(JSON.parse(body)), authorization: `Bearer ${token}` };
      if (query.startsWith('subscription')) {
        const res = await fetch(`${env.url}/graphql`, { method: 'POST', headers: { ...headers, accept: 'text/event-stream' }, body });
        expect(res.status).toBe(200);
        let first: any = null;
        await readEventStream(res.body as unknown as AsyncIterable<Uint8Array>, (data) => ((first = JSON.parse(data)), true));
        await res.body?.cancel().catch(() => undefined);
        expect(first.errors, JSON.stringify(first)).toBeUndefined();
        expect(first.data.followJob).toBeTruthy();
        continue;
      }
      const res = await send(`${env.url}/graphql`, { headers, body });
      expect(res.status, `${query}: ${res.text}`).toBe(200);
      expect(res.json.errors, `${query}: ${res.text}`).toBeUndefined();
      if (!jobId && query.includes('createJobs')) {
        expect(res.json.data.createJobs[0].error, res.text).toBeNull();
        jobId = res.json.data.createJobs[0].job.id;
      }
    }
    expect(jobId).not.toBe('');
  });

  it('answers a dashboard, the largest page of jobs with every field, the bench and stitched queries and the introspection query', async () => {
    await env.admin.ok(
      `mutation { createJobs(specifications: [{ product: { id: "local-small", provider: "local" }, command: ["true"], allowDuplicateJob: true }]) { job { id } } }`,
    );
    const queries = {
      dashboard: DASHBOARD,
      fullPage: `{ jobs(first: 500) { totalCount edges { node { ${EVERY_JOB_FIELD} } } } }`,
      benchListing: `query { jobs(first: 50) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id createdAt status { state } owner { createdBy } specification { name product { id provider } } } } } }`,
      stitched: `{ jobs(first: 50) { edges { node { id status { state } local { host pids } } } } }`,
      countAll: `{ jobs(first: 500) { totalCount } }`,
      introspection: getIntrospectionQuery({
        descriptions: true,
        specifiedByUrl: true,
        directiveIsRepeatable: true,
        schemaDescription: true,
        inputValueDeprecation: true,
      }),
    };
    for (const [name, query] of Object.entries(queries)) {
      const res = await env.admin.gql(query);
      expect(res.errors, `${name}: ${JSON.stringify(res.errors)}`).toBeUndefined();
      expect(res.status, name).toBe(200);
    }
  });

  it('fits a bulk createJobs of 1,000 specifications in one request body', async () => {
    // A typical small specification, ~240 bytes; an unknown product, so that the request is answered per item without starting 1,000 processes.
    const spec = (i: number) => ({
      product: { id: 'no-such-product', provider: 'local' },
      command: ['sh', '-c', `echo item ${i} && sleep 1`],
      name: `bulk-item-${i}`,
      env: { STAGE: 'test', ITEM: String(i) },
      tags: ['bulk', 'edge'],
      timeAllocation: { minutes: 10 },
      allowDuplicateJob: true,
    });
    const body = {
      query: `mutation ($s: [JobSpecificationInput!]!) { createJobs(specifications: $s) { job { id } error { code } } }`,
      variables: { s: Array.from({ length: 1000 }, (_, i) => spec(i)) },
    };
    const bytes = Buffer.byteLength(JSON.stringify(body));
    expect(bytes).toBeGreaterThan(200_000);
    expect(bytes).toBeLessThan(DEFAULT_REQUEST_LIMITS.maxBodyBytes / 4);
    const res = await alice.gql(body.query, body.variables);
    expect(res.status).toBe(200);
    expect(res.data?.createJobs).toHaveLength(1000);
    expect(res.data?.createJobs.every((r: any) => r.error?.code === 'INVALID_INPUT')).toBe(true);
  });

  it.each(Object.keys(hostile) as (keyof typeof hostile)[])(
    'refuses a query over the %s limit with INVALID_INPUT before it executes',
    async (limit) => {
      const jobsBefore = await countJobs(alice);
      const refusedBefore = await refusals(env.url, limit);
      const executedBefore = await executedOperations(env.url);
      const document = hostile[limit];
      const res = await send(`${env.url}/graphql`, {
        headers: {
          ...json({ query: document, operationName: document.includes('mutation Create') ? 'Create' : undefined }),
          authorization: `Bearer ${alice.token}`,
        },
        body: JSON.stringify({ query: document, operationName: document.includes('mutation Create') ? 'Create' : undefined }),
      });
      expect(res.status, res.text).toBe(400);
      expect(res.json.data, res.text).toBeUndefined();
      const error = res.json.errors.find((e: any) => e.extensions?.limit === limit);
      expect(error, res.text).toBeDefined();
      expect(error.extensions.code).toBe('INVALID_INPUT');
      expect(error.message).toMatch(/limit/i);
      expect(error.message).not.toMatch(/^Syntax Error/);
      expect(await executedOperations(env.url)).toBe(executedBefore);
      expect(await refusals(env.url, limit)).toBe(refusedBefore + 1);
      expect(await countJobs(alice)).toBe(jobsBefore);
    },
  );

  it('holds a page size given as a variable to the cost limit, by its value', async () => {
    const pages = `query Pages($n: Int) { a: jobs(first: $n) { edges { node { ${EVERY_JOB_FIELD} } } } b: jobs(first: $n) { edges { node { ${EVERY_JOB_FIELD} } } } }`;
    // Small pages fit: the same document, cheap by its values.
    const small = await alice.gql(pages, { n: 5 });
    expect(small.errors, JSON.stringify(small.errors)).toBeUndefined();
    expect(small.status).toBe(200);

    const refusedBefore = await refusals(env.url, 'cost');
    const executedBefore = await executedOperations(env.url);
    // Two full pages, as the literal document above: over the limit once $n is known.
    const request = { query: pages, variables: { n: 500 } };
    const res = await send(`${env.url}/graphql`, {
      headers: { ...json(request), authorization: `Bearer ${alice.token}` },
      body: JSON.stringify(request),
    });
    expect(res.status, res.text).toBe(400);
    expect(res.json.data, res.text).toBeUndefined();
    expect(res.json.errors[0].extensions).toMatchObject({ code: 'INVALID_INPUT', limit: 'cost' });
    expect(res.json.errors[0].message).toMatch(/Cost limit of 300000 exceeded/);
    expect(await refusals(env.url, 'cost')).toBe(refusedBefore + 1);
    expect(await executedOperations(env.url)).toBe(executedBefore);
  });

  it('counts a refusal each time it is repeated (past Yoga’s parse and validation caches)', async () => {
    for (const limit of ['aliases', 'tokens'] as const) {
      const before = await refusals(env.url, limit);
      for (let i = 0; i < 3; i++) expect((await alice.gql(hostile[limit])).errors?.[0]?.extensions?.code).toBe('INVALID_INPUT');
      expect(await refusals(env.url, limit)).toBe(before + 3);
    }
  });

  it("answers the issue's 3,000-alias query with a short refusal instead of 1.7 MB", async () => {
    const query = `{ ${Array.from({ length: 3000 }, (_, i) => `a${i}: me { createdBy }`).join(' ')} }`;
    const res = await send(`${env.url}/graphql`, {
      headers: { ...json({ query }), authorization: `Bearer ${alice.token}` },
      body: JSON.stringify({ query }),
    });
    expect(res.status).toBe(400);
    expect(res.json.errors[0].extensions.code).toBe('INVALID_INPUT');
    expect(res.text.length).toBeLessThan(1_000);
  });

  it('hides field suggestions, so that typos do not read the schema out', async () => {
    const res = await alice.gql(`{ jobz { totalCount } }`);
    expect(res.errors?.[0]?.extensions?.code).toBe('INVALID_INPUT');
    expect(res.errors?.[0]!.message).not.toMatch(/Did you mean/);
    expect(res.errors?.[0]?.message).toMatch(/jobz/);
  });

  const hostileFollow = `subscription ($id: ID!) { followJob(id: $id) { ${Array.from({ length: 60 }, (_, i) => `a${i}: jobId`).join(' ')} } }`;

  it('refuses a hostile followJob over SSE before it subscribes', async () => {
    const { job } = (await alice.ok(`mutation { ${CREATE_ONE} }`)).createJobs[0];
    const before = await refusals(env.url, 'aliases');
    const res = await fetch(`${env.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${alice.token}` },
      body: JSON.stringify({ query: hostileFollow, variables: { id: job.id } }),
    });
    const payloads: any[] = [];
    await readEventStream(res.body as unknown as AsyncIterable<Uint8Array>, (data) => void payloads.push(JSON.parse(data)));
    expect(payloads.length).toBeGreaterThan(0);
    expect(payloads.every((p) => p.data === undefined)).toBe(true);
    expect(payloads[0].errors[0].extensions).toMatchObject({ code: 'INVALID_INPUT', limit: 'aliases' });
    expect(await refusals(env.url, 'aliases')).toBe(before + 1);
  });

  it('refuses a hostile followJob over a websocket with an error, and the connection still serves', async () => {
    const { job } = (await alice.ok(`mutation { ${CREATE_ONE} }`)).createJobs[0];
    const ws = createWsClient({
      url: env.url.replace('http', 'ws') + '/graphql',
      webSocketImpl: WebSocket,
      connectionParams: { Authorization: `Bearer ${alice.token}` },
      retryAttempts: 0,
    });
    const subscribe = (query: string) =>
      new Promise<{ events: any[]; error: any }>((resolve) => {
        const events: any[] = [];
        ws.subscribe(
          { query, variables: { id: job.id } },
          {
            next: (value) => void events.push(value),
            error: (error) => resolve({ events, error }),
            complete: () => resolve({ events, error: null }),
          },
        );
      });
    try {
      const aliasesBefore = await refusals(env.url, 'aliases');
      const tokensBefore = await refusals(env.url, 'tokens');
      const byAliases = await subscribe(hostileFollow);
      expect(byAliases.events).toEqual([]);
      expect(byAliases.error[0].extensions).toMatchObject({ code: 'INVALID_INPUT', limit: 'aliases' });
      // Over the token limit the parse itself throws: still an error message, not a dropped socket.
      const byTokens = await subscribe(`subscription ($id: ID!) { followJob(id: $id) { ${'jobId '.repeat(2100)}} }`);
      expect(byTokens.events).toEqual([]);
      expect(byTokens.error[0].extensions).toMatchObject({ code: 'INVALID_INPUT', limit: 'tokens' });
      expect(await refusals(env.url, 'aliases')).toBe(aliasesBefore + 1);
      expect(await refusals(env.url, 'tokens')).toBe(tokensBefore + 1);
      // The same socket then follows the job to its end.
      const fine = await subscribe(`subscription ($id: ID!) { followJob(id: $id) { newStatus { state } } }`);
      expect(fine.error).toBeNull();
      expect(fine.events.at(-1).data.followJob.newStatus.state).toBe('SUCCESS');
    } finally {
      await ws.dispose();
    }
  });

  it('closes a websocket whose message is over the body limit (1009) and counts it', async () => {
    const before = await refusals(env.url, 'body_size');
    const socket = new WebSocket(env.url.replace('http', 'ws') + '/graphql', 'graphql-transport-ws');
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    socket.send(JSON.stringify({ type: 'connection_init', payload: { pad: 'x'.repeat(DEFAULT_REQUEST_LIMITS.maxBodyBytes + 1) } }));
    expect(await closed).toBe(1009);
    await eventually(async () => (await refusals(env.url, 'body_size')) === before + 1, { what: 'the refusal to be counted' });
  });

  describe('a 20 MB body', () => {
    const twentyMegabytes = Buffer.alloc(20 * 1024 * 1024, 'a');
    const inChunks = () => Array.from({ length: 20 }, (_, i) => twentyMegabytes.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024));
    // A JSON document that is valid up to where the limit cuts it: the refusal is the size, not the syntax.
    const graphqlBody = (chunked: boolean) => {
      const head = Buffer.from('{"query":"{ me { createdBy } }","variables":{"pad":"');
      return chunked ? [head, ...inChunks()] : Buffer.concat([head, twentyMegabytes, Buffer.from('"}}')]);
    };
    const cases = [
      ['/graphql', 'Content-Length', false],
      ['/graphql', 'chunked, no Content-Length', true],
      ['/api/v1/token', 'Content-Length', false],
      ['/api/v1/token', 'chunked, no Content-Length', true],
    ] as const;

    it.each(cases)('on %s (%s) gets 413 with a message naming the limit', async (path, _how, chunked) => {
      const before = await refusals(env.url, 'body_size');
      const body = path === '/graphql' ? graphqlBody(chunked) : chunked ? inChunks() : twentyMegabytes;
      const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${alice.token}` };
      if (!chunked) headers['content-length'] = String((body as Buffer).length);
      const res = await send(`${env.url}${path}`, { headers, body });
      expect(res.status, res.text).toBe(413);
      const error = path === '/graphql' ? res.json.errors[0] : res.json.error;
      expect(path === '/graphql' ? error.extensions.code : error.code).toBe('INVALID_INPUT');
      expect(error.message).toContain(String(DEFAULT_REQUEST_LIMITS.maxBodyBytes));
      expect(await refusals(env.url, 'body_size')).toBe(before + 1);
    });
  });
});

// ---------------------------------------------------------------- login throttling

interface LoginRig {
  url: string;
  admin: TestClient;
  gateway: Gateway;
  stop(): Promise<void>;
}

const THROTTLE: LoginThrottleOptions = {
  maxConsecutiveFailures: 10,
  maxFailuresPerAddress: 30,
  maxFailuresPerUsername: 25,
  blockSeconds: 2,
  windowSeconds: 60,
};

/** A gateway without providers: enough for logins. With `redisPrefix`, on real NATS and Redis with the throttle's counts in Redis. */
async function startLoginRig(adminToken: string, redisPrefix?: string): Promise<LoginRig> {
  const closers: (() => Promise<unknown>)[] = [];
  let transport: Transport;
  let store: Store;
  let loginThrottle: LoginThrottleOptions = THROTTLE;
  let ledger: Ledger;
  if (redisPrefix) {
    transport = await createNatsTransport({ url: natsUrl(), subjects: createSubjects(redisPrefix) });
    store = await createRedisStore({ url: redisUrl(), keyPrefix: redisPrefix });
    const redis = new Redis(redisUrl(), { enableAutoPipelining: true });
    ledger = await createRedisLedger({ redis, keyPrefix: redisPrefix });
    loginThrottle = { ...THROTTLE, redis, keyPrefix: redisPrefix };
    closers.push(() => redis.quit());
  } else {
    transport = createMemoryTransport({ subjects: createSubjects(uniquePrefix()) });
    store = createMemoryStore();
    ledger = createMemoryLedger();
  }
  const gateway = createGateway({ transport, store, ledger, clock: systemClock, logger: silentLogger(), adminToken, loginThrottle });
  const address = await gateway.start(0, '127.0.0.1');
  closers.unshift(
    () => gateway.stop(),
    () => transport.close(),
    () => store.close(),
    () => ledger.close(),
  );
  const url = `http://127.0.0.1:${address.port}`;
  return {
    url,
    admin: createClient(url, adminToken),
    gateway,
    async stop() {
      for (const close of closers) await close();
    },
  };
}

describe.each([
  ['in memory (embedded)', false],
  ['on Redis, shared by two replicas', true],
])('login throttling %s', (_where, onRedis) => {
  const prefix = uniquePrefix();
  const adminToken = randomBytes(24).toString('base64url');
  let rigs: LoginRig[] = [];
  let url: string;
  let nextAddress = 10;
  /** Another loopback address: another client, as far as the gateway can tell. */
  const newAddress = () => `127.0.0.${nextAddress++}`;
  const createUser = async (username: string) =>
    rigs[0]!.admin.ok(`mutation ($u: String!) { createUser(username: $u, password: "the-right-password") { username } }`, { u: username });
  /** Each replica counts the refusals it answered. */
  const throttledCount = async () => (await Promise.all(rigs.map((rig) => refusals(rig.url, 'login_throttled')))).reduce((a, b) => a + b, 0);

  beforeAll(async () => {
    rigs = [await startLoginRig(adminToken, onRedis ? prefix : undefined)];
    if (onRedis) rigs.push(await startLoginRig(adminToken, prefix));
    url = rigs[0]!.url;
  });
  afterAll(async () => {
    for (const rig of rigs) await rig.stop();
    if (onRedis) await deleteKeys(prefix);
  });

  it('answers 60 wrong passwords 401 ten times, then 429 with Retry-After; others log in meanwhile; the right password works after the block', async () => {
    await createUser('victim');
    await createUser('bystander');
    const attacker = newAddress();
    const before = await throttledCount();
    const answers: RawAnswer[] = [];
    // On Redis the attempts alternate between the replicas: the counts are shared.
    for (let i = 0; i < 60; i++) answers.push(await postToken(rigs[i % rigs.length]!.url, 'victim', `wrong-${i}`, attacker));
    expect(answers.slice(0, 10).map((a) => a.status)).toEqual(Array(10).fill(401));
    expect(answers.slice(10).map((a) => a.status)).toEqual(Array(50).fill(429));
    const throttled = answers[10]!;
    expect(throttled.json.error.code).toBe('UNAUTHENTICATED');
    expect(throttled.json.error.message).toMatch(/too many failed logins/i);
    const retryAfter = Number(throttled.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(THROTTLE.blockSeconds!);
    expect(await throttledCount()).toBe(before + 50);

    // The right password from the same address waits too: the password is not even looked at.
    expect((await postToken(url, 'victim', 'the-right-password', attacker)).status).toBe(429);
    // Another user logs in, from the same address and from another one; the victim logs in from elsewhere.
    expect((await postToken(url, 'bystander', 'the-right-password', attacker)).status).toBe(200);
    expect((await postToken(url, 'bystander', 'the-right-password', newAddress())).status).toBe(200);
    expect((await postToken(url, 'victim', 'the-right-password', newAddress())).status).toBe(200);

    // After the block, the right password works from the attacked address too.
    await new Promise((r) => setTimeout(r, retryAfter * 1000 + 200));
    const after = await postToken(url, 'victim', 'the-right-password', attacker);
    expect(after.status, after.text).toBe(200);
    expect(typeof after.json.token).toBe('string');
  });

  it('forgets failures in a row after a success, so a user who mistypes now and then is not blocked', async () => {
    await createUser('typist');
    const from = newAddress();
    // 18 failures from one address, never 10 in a row: without the reset the 11th would be 429.
    for (const round of [1, 2]) {
      for (let i = 0; i < 9; i++) expect((await postToken(url, 'typist', `typo-${round}-${i}`, from)).status).toBe(401);
      expect((await postToken(url, 'typist', 'the-right-password', from)).status).toBe(200);
    }
  });

  it('throttles an address that fails for many user names, and only that address', async () => {
    const names = ['spray-a', 'spray-b', 'spray-c', 'spray-d'];
    for (const name of names) await createUser(name);
    const sprayer = newAddress();
    // 8 failures per name stay under the 10 in a row; 32 in all pass the 30 per address.
    const statuses: number[] = [];
    for (let i = 0; i < 32; i++) statuses.push((await postToken(url, names[i % names.length]!, `guess-${i}`, sprayer)).status);
    expect(statuses.slice(0, 30)).toEqual(Array(30).fill(401));
    expect(statuses.slice(30)).toEqual([429, 429]);
    expect((await postToken(url, 'spray-a', 'the-right-password', sprayer)).status).toBe(429);
    expect((await postToken(url, 'spray-a', 'the-right-password', newAddress())).status).toBe(200);
  });

  it('throttles a user name attacked from many addresses for a while, not other user names', async () => {
    await createUser('target');
    await createUser('neighbour');
    // 26 failures from 13 addresses, 2 each: no pair comes near its limit; the name passes its 25.
    const statuses: number[] = [];
    for (let i = 0; i < 26; i++) statuses.push((await postToken(url, 'target', `guess-${i}`, `127.0.1.${1 + Math.floor(i / 2)}`)).status);
    expect(statuses.slice(0, 25)).toEqual(Array(25).fill(401));
    expect(statuses[25]).toBe(429);
    const elsewhere = await postToken(url, 'target', 'the-right-password', newAddress());
    expect(elsewhere.status).toBe(429);
    expect((await postToken(url, 'neighbour', 'the-right-password', newAddress())).status).toBe(200);
    await new Promise((r) => setTimeout(r, Number(elsewhere.headers['retry-after']) * 1000 + 200));
    expect((await postToken(url, 'target', 'the-right-password', newAddress())).status).toBe(200);
  });
});

describe('login throttling on Redis', () => {
  it("keeps its counts under the gateway's key prefix, where two replicas share them", async () => {
    const prefix = uniquePrefix();
    const adminToken = randomBytes(24).toString('base64url');
    const rigs: [LoginRig, LoginRig] = [await startLoginRig(adminToken, prefix), await startLoginRig(adminToken, prefix)];
    const redis = new Redis(redisUrl());
    try {
      await rigs[0].admin.ok(`mutation { createUser(username: "shared", password: "the-right-password") { username } }`);
      // Ten failures through one replica; the next failure, through the other, is one too many.
      for (let i = 0; i < 10; i++) expect((await postToken(rigs[0].url, 'shared', `wrong-${i}`, '127.0.2.1')).status).toBe(401);
      expect((await postToken(rigs[1].url, 'shared', 'wrong-again', '127.0.2.1')).status).toBe(429);
      expect((await postToken(rigs[0].url, 'shared', 'the-right-password', '127.0.2.1')).status).toBe(429);
      const keys = await redis.keys(`*login-failures*`);
      expect(keys.filter((key) => key.startsWith(`${prefix}:login-failures:`)).length).toBeGreaterThanOrEqual(3);
      // Every key of this kind, from this test or another, lives under some test's prefix.
      expect(keys.every((key) => /^t[0-9a-f]{16}:login-failures:/.test(key))).toBe(true);
    } finally {
      await redis.quit();
      for (const rig of rigs) await rig.stop();
      await deleteKeys(prefix);
    }
  });
});

describe('the client address', () => {
  const fakeRequest = (remoteAddress: string, forwarded?: string) =>
    ({ socket: { remoteAddress }, headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded } }) as unknown as Parameters<
      typeof clientAddress
    >[0];

  it('is the peer unless proxies are trusted, and then the entry the farthest trusted proxy saw', () => {
    expect(clientAddress(fakeRequest('::ffff:10.0.0.9', '1.2.3.4'))).toBe('10.0.0.9');
    expect(clientAddress(fakeRequest('10.0.0.9', 'forged, 203.0.113.7'), 1)).toBe('203.0.113.7');
    expect(clientAddress(fakeRequest('10.0.0.9', 'forged, 203.0.113.7, 198.51.100.2'), 2)).toBe('203.0.113.7');
    expect(clientAddress(fakeRequest('10.0.0.9'), 1)).toBe('10.0.0.9');
  });
});
