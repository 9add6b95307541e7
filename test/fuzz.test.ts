/**
 * Property-based fuzzing of the gateway's edges, in-process: every mutation of
 * the schema (read from the schema, so a new one is fuzzed without a change
 * here) with random, boundary, hostile and mutated known-good arguments, as an
 * administrator, an ordinary user and a caller without a valid token; raw HTTP
 * to /graphql and to POST /api/v1/token. For every input:
 *
 * - no 5xx, and the gateway still answers /healthz;
 * - no stack trace, source location or path of this machine in the answer;
 * - every error carries a code from the contract (shared/errors.ts), and none is INTERNAL;
 * - nothing a request refused changed the store: jobs, users, tokens, the
 *   waiting room, wallets, transactions and projects are snapshotted before and after,
 *   and an accepted item may change only what it names (its job, its user,
 *   the ledger for a grant); the world otherwise stands still (see
 *   support/fuzz-gateway.ts), so a late change is caught by the next input;
 * - only an administrator creates users or projects or grants credits, nobody
 *   changes a job it holds no right on (docs/TENANCY.md), a token is issued only for the right password, and
 *   an unauthenticated caller gets nothing done.
 *
 * Runs with a random seed, printed with the number of inputs each property
 * tried; FUZZ_SEED=<seed> repeats the inputs (the gateway's own ids and
 * timings still differ), FUZZ_RUNS=<n> tries n inputs per property with the
 * memory store and n/4 with Redis.
 */
import { request as httpRequest } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { buildClientSchema, getIntrospectionQuery, getNamedType, isObjectType, type GraphQLSchema, type IntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createBaseSchema } from '../gateway/graphql/yoga.js';
import type { Job } from '../shared/domain.js';
import { ERROR_CODES } from '../shared/errors.js';
import { FUZZ_PROVIDERS, startFuzzGateway, type FuzzGateway, type StateSnapshot } from './support/fuzz-gateway.js';
import {
  anyString,
  findLeak,
  hostileValue,
  mutationArgs,
  mutationDocument,
  type Hint,
  type InputOptions,
  type MutationCall,
} from './support/graphql-arbitraries.js';

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const RUNS = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : null;
/** Inputs per property: the default for the memory store, a quarter of it for Redis, or FUZZ_RUNS. */
const runs = (memoryDefault: number, storage: 'memory' | 'redis') => {
  const base = RUNS ?? memoryDefault;
  return storage === 'memory' ? base : Math.max(3, Math.ceil(base / 4));
};
/** A property's time limit: generous, and longer for a larger FUZZ_RUNS. */
const timeoutFor = (inputs: number) => 60_000 + inputs * 1_500;

/** The contract's mutations, read from the schema the gateway serves before any provider joins. */
const BASE_MUTATIONS = Object.keys(createBaseSchema().getMutationType()!.getFields());
/** Default inputs per mutation: createJobs has the most to get wrong. */
const MUTATION_RUNS: Record<string, number> = {
  createJobs: 100,
  terminateJobs: 30,
  extendJobs: 30,
  suspendJobs: 30,
  unsuspendJobs: 30,
  grantCredits: 30,
};

/** What each property tried: inputs, time, answers by HTTP status, and how many were accepted (and so changed something). */
const tried: { property: string; storage: string; inputs: number; ms: number; statuses: Map<number, number>; accepted: number }[] = [];

afterAll(() => {
  const total = tried.reduce((sum, t) => sum + t.inputs, 0);
  const ms = tried.reduce((sum, t) => sum + t.ms, 0);
  const lines = tried.map((t) => {
    const statuses = [...t.statuses]
      .sort(([a], [b]) => a - b)
      .map(([status, n]) => `${status}×${n}`)
      .join(' ');
    return `  ${t.storage.padEnd(6)} ${t.property.padEnd(34)} ${String(t.inputs).padStart(5)} inputs ${(t.ms / 1000).toFixed(1).padStart(5)} s  ${String(t.accepted).padStart(4)} accepted  ${statuses}`;
  });
  console.log(`fuzz (seed ${SEED}): ${total} inputs in ${(ms / 1000).toFixed(1)} s\n${lines.join('\n')}`);
});

// ---------------------------------------------------------------- who calls

type Role = 'admin' | 'user' | 'other' | 'anonymous' | 'badToken';
const ROLES: Role[] = ['admin', 'user', 'other', 'anonymous', 'badToken'];
const roleArb = fc.constantFrom<Role>(...ROLES);

function authorizationOf(env: FuzzGateway, role: Role): string | undefined {
  switch (role) {
    case 'admin':
      return `Bearer ${env.admin.token}`;
    case 'user':
    case 'other':
      return `Bearer ${env.users[role].client.token}`;
    case 'anonymous':
      return undefined;
    case 'badToken':
      return 'Bearer not-a-token-of-this-gateway';
  }
}

function usernameOf(env: FuzzGateway, role: Role): string | null {
  if (role === 'admin') return 'admin';
  if (role === 'user' || role === 'other') return env.users[role].name;
  return null;
}

// ---------------------------------------------------------------- what they send

/** Commands the local provider may run: each ends at once. Any other is made a path that does not exist. */
const SAFE_COMMANDS = [['true'], ['sh', '-c', 'exit 3'], ['echo', 'fuzz'], ['/nonexistent-fuzz/program']];

/** The local provider runs real processes: keep generated commands harmless, wherever they are. */
function harmless<T>(value: T, depth = 0): T {
  // A specification is never deeper than this; deeper values are hostile nesting, left as it is.
  if (depth > 50) return value;
  if (Array.isArray(value)) return value.map((v) => harmless(v, depth + 1)) as T;
  if (value === null || typeof value !== 'object') return value;
  const safe = (key: string, v: unknown): unknown => {
    if (key !== 'command') return harmless(v, depth + 1);
    if (Array.isArray(v) && SAFE_COMMANDS.some((command) => isDeepStrictEqual(command, v))) return v;
    if (typeof v === 'string') return `/nonexistent-fuzz/${v}`;
    if (Array.isArray(v) && typeof v[0] === 'string') return [`/nonexistent-fuzz/${v[0]}`, ...v.slice(1)];
    return v;
  };
  // fromEntries, not assignment: a "__proto__" key stays an own key, as JSON.parse makes it.
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, safe(key, v)])) as T;
}

/** The pools hints draw from: what exists on the gateway, refreshed as requests create more. */
interface Pools {
  jobs: { id: string; owner: string }[];
  usernames: string[];
  products: { id: string; category: string; provider: string }[];
}

const fromPool = <T>(pool: () => T[], fallback: T) => fc.nat().map((i) => (pool().length ? pool()[i % pool().length]! : fallback));

/** Specifications that are accepted as they are: the starting points of mutated ones. */
const GOOD_SPECIFICATIONS: Record<string, unknown>[] = [
  { product: { id: 'local-small', provider: 'local' }, command: ['true'], allowDuplicateJob: true },
  { product: { id: 'local-small', provider: 'local', category: 'local-cpu' }, command: ['sh', '-c', 'exit 3'], name: 'fuzz', tags: ['a'] },
  { product: { id: 'standard-8', provider: 'sim-hpc' }, command: ['true'], timeAllocation: { hours: 1 }, allowDuplicateJob: true },
  { product: { id: 'c5-large', provider: 'sim-cloud' }, command: ['true'], allowDuplicateJob: true, parameters: { simulatedDurationMs: 600_000 } },
  { requirements: { cpu: 1 }, command: ['true'], timeAllocation: { hours: 1 }, allowDuplicateJob: true },
  { requirements: { cpu: 2, backend: 'VIRTUAL_MACHINE', features: ['suspension'] }, command: ['true'], scheduleTimeout: 60, allowDuplicateJob: true },
];

/** What a caller sends: values that know the gateway (its products, users and jobs, the caller's own first), and examples that work. */
function generationFor(env: FuzzGateway, pools: Pools, role: Role): { hint: Hint; examples: NonNullable<InputOptions['examples']> } {
  const me = usernameOf(env, role);
  const jobId = fc.oneof(
    { weight: 4, arbitrary: fromPool(() => pools.jobs.filter((j) => j.owner === me).map((j) => j.id), 'no-job') },
    { weight: 3, arbitrary: fromPool(() => pools.jobs.map((j) => j.id), 'no-job') },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: anyString },
  );
  const provider = fc.oneof({ weight: 5, arbitrary: fc.constantFrom<string>(...FUZZ_PROVIDERS) }, { weight: 1, arbitrary: anyString });
  const productId = fc.oneof({ weight: 5, arbitrary: fromPool(() => pools.products.map((p) => p.id), 'none') }, { weight: 1, arbitrary: anyString });
  const category = fc.oneof(
    { weight: 5, arbitrary: fromPool(() => [...new Set(pools.products.map((p) => p.category))], 'none') },
    { weight: 1, arbitrary: anyString },
  );
  const username = fc.oneof(
    { weight: 4, arbitrary: fromPool(() => pools.usernames, 'nobody') },
    { weight: 2, arbitrary: fc.stringMatching(/^[a-z][a-z0-9._-]{1,20}$/) },
    { weight: 1, arbitrary: anyString },
  );
  const project = fc.oneof({ weight: 3, arbitrary: fc.constantFrom('fuzz-project', 'other-project') }, { weight: 1, arbitrary: anyString });
  const ids = fc.oneof(
    { weight: 12, arbitrary: fc.array(jobId, { maxLength: 3 }) },
    { weight: 1, arbitrary: fc.constant(Array.from({ length: 1_001 }, (_, i) => `id-${i}`)) },
  );
  const command = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...SAFE_COMMANDS) },
    { weight: 1, arbitrary: fc.array(anyString, { maxLength: 3 }) },
  );
  const features = fc.array(
    fc.oneof(fc.constantFrom('terminal', 'suspension', 'timeExtension', 'logs', 'web', 'vnc', 'peers', 'utilization'), anyString),
    { maxLength: 3 },
  );
  const duration = fc.record(
    { hours: fc.integer({ min: 0, max: 3 }), minutes: fc.integer({ min: 0, max: 59 }), seconds: fc.integer({ min: 0, max: 59 }) },
    { requiredKeys: [] },
  );
  const password = fc.oneof(
    { weight: 3, arbitrary: fc.string({ minLength: 8, maxLength: 40 }) },
    { weight: 1, arbitrary: fc.constantFrom(env.users.user.password, env.users.other.password) },
    { weight: 1, arbitrary: anyString },
  );
  const envVars = fc.oneof(fc.dictionary(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,10}$/), fc.string({ maxLength: 20 }), { maxKeys: 3 }), hostileValue);
  const parameters = fc.oneof(
    fc.record({ simulatedDurationMs: fc.oneof(fc.integer({ min: 0, max: 3_600_000 }), hostileValue) }),
    fc.jsonValue({ maxDepth: 2 }),
  );

  const hint: Hint = ({ parent, field }) => {
    if (parent.startsWith('Mutation.') && field === 'ids') return ids;
    // Disabling the fuzz's own users would revoke the tokens every later input uses: other names only.
    if (parent === 'Mutation.disableUser' && field === 'username') return fc.oneof(fc.constantFrom('nobody', 'admin'), anyString);
    if (field === 'jobId') return jobId;
    if (field === 'provider') return provider;
    if (field === 'providers') return fc.array(provider, { maxLength: 3 });
    if (parent === 'ProductRefInput' && field === 'id') return productId;
    if (field === 'category') return category;
    if (field === 'username' || field === 'entity' || (parent === 'GrantInput' && field === 'owner')) return fc.oneof(username, project);
    if (field === 'password') return password;
    if (field === 'project') return project;
    if (field === 'command') return command;
    if (field === 'features') return features;
    if (field === 'timeAllocation' || field === 'requestedTime') return duration;
    if (field === 'env') return envVars;
    if (field === 'parameters') return parameters;
    if (field === 'workingDir') return fc.oneof(fc.constantFrom('/', '/tmp', 'relative/dir', '/nonexistent-fuzz'), anyString);
    if (field === 'image') return fc.oneof(fc.constantFrom('debian:12', 'alpine'), anyString);
    if (field === 'scheduleTimeout') return fc.oneof(fc.integer({ min: 0, max: 120 }), fc.integer());
    return undefined;
  };
  const examples: NonNullable<InputOptions['examples']> = {
    JobSpecificationInput: fc.constantFrom(...GOOD_SPECIFICATIONS),
    // A grant names a category its provider sells.
    GrantInput: fc
      .record({
        owner: fc.oneof(username, project),
        isProject: fc.boolean(),
        product: fromPool(() => pools.products, { id: 'none', category: 'none', provider: 'none' }),
        amount: fc.integer({ min: 1, max: 1_000_000 }),
      })
      .map(({ product, ...grant }) => ({ ...grant, provider: product.provider, category: product.category })),
    JobExtendInput: fc.record({ jobId, requestedTime: duration }),
    OpenSessionInput: fc.record({ jobId, sessionType: fc.constantFrom('SHELL', 'WEB', 'VNC') }),
  };
  return { hint, examples };
}

interface Fuzzer {
  env: FuzzGateway;
  schema: GraphQLSchema;
  pools: Pools;
  /** The state every request must find: what the last one left (settled, when it was accepted). */
  baseline: StateSnapshot;
  /** The last request, to name when the state changed after it. */
  lastRequest: string;
  /** Arbitraries of one call, by role and field: built once. */
  calls: Map<string, fc.Arbitrary<MutationCall>>;
  /** Output fields of the JSON scalar: what the caller sent, echoed. */
  opaqueFields: ReadonlySet<string>;
}

/** One call of `field` by `role`: well-shaped (a third of the time) or hostile arguments. */
function callArb(fuzzer: Fuzzer, role: Role, field: string): fc.Arbitrary<MutationCall> {
  const key = `${role}\n${field}`;
  let arbitrary = fuzzer.calls.get(key);
  if (!arbitrary) {
    const generation = generationFor(fuzzer.env, fuzzer.pools, role);
    arbitrary = fc.record({
      field: fc.constant(field),
      args: fc
        .oneof(
          { weight: 1, arbitrary: mutationArgs(fuzzer.schema, field, { ...generation, hostile: false }) },
          { weight: 2, arbitrary: mutationArgs(fuzzer.schema, field, { ...generation, hostile: true }) },
        )
        .map((args) => harmless(args)),
      style: fc.constantFrom<MutationCall['style']>('variables', 'literals'),
    });
    fuzzer.calls.set(key, arbitrary);
  }
  return arbitrary;
}

/** A caller and the calls of one document: `fields` picks the mutation of each. */
function requestArb(fuzzer: Fuzzer, fields: fc.Arbitrary<string[]>): fc.Arbitrary<{ role: Role; calls: MutationCall[] }> {
  return fc
    .tuple(roleArb, fields)
    .chain(([role, names]) => fc.tuple(...names.map((name) => callArb(fuzzer, role, name))).map((calls) => ({ role, calls })));
}

// ---------------------------------------------------------------- what comes back

interface Answer {
  status: number;
  contentType: string;
  text: string;
  /** JSON payloads of the answer: the body, or each event of a stream. */
  payloads: unknown[];
}

/** An HTTP exchange with nothing in between (no fetch rules on methods, headers or bodies). */
function exchange(
  env: FuzzGateway,
  options: { method: string; path: string; headers: Record<string, string>; body?: Buffer | string },
): Promise<Answer> {
  const url = new URL(env.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method: options.method, path: options.path, headers: options.headers });
    const chunks: Buffer[] = [];
    let size = 0;
    let finished = false;
    const finish = (res: { statusCode?: number; headers: Record<string, unknown> }) => {
      if (finished) return;
      finished = true;
      clearTimeout(hang);
      clearTimeout(streamCut);
      req.destroy();
      const text = Buffer.concat(chunks).toString('utf8');
      const contentType = String(res.headers['content-type'] ?? '');
      resolve({ status: res.statusCode ?? 0, contentType, text, payloads: payloadsOf(contentType, text) });
    };
    let streamCut: NodeJS.Timeout | undefined;
    const hang = setTimeout(() => {
      finished = true;
      req.destroy();
      reject(new Error(`no complete answer within 15 s to ${options.method} ${options.path}`));
    }, 15_000);
    req.on('response', (res) => {
      // A stream (a subscription, an incremental result) may rightly go on: read what comes in 1.5 s.
      if (/event-stream|multipart\/mixed/.test(String(res.headers['content-type']))) streamCut = setTimeout(() => finish(res), 1_500);
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= 4_000_000) chunks.push(chunk);
      });
      res.on('end', () => finish(res));
      res.on('error', () => finish(res));
    });
    req.on('error', (error) => {
      if (finished) return;
      finished = true;
      clearTimeout(hang);
      reject(error);
    });
    req.end(options.body);
  });
}

function payloadsOf(contentType: string, text: string): unknown[] {
  const parse = (s: string) => {
    try {
      return [JSON.parse(s)];
    } catch {
      return [];
    }
  };
  if (/event-stream/.test(contentType))
    return text
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .flatMap((l) => parse(l.slice(5)));
  if (/multipart\/mixed/.test(contentType))
    return text
      .split(/\r\n\r\n/)
      .slice(1)
      .flatMap((part) => parse(part.split(/\r\n--/)[0]!));
  return text.length ? parse(text) : [];
}

const CODES: readonly string[] = ERROR_CODES;

/**
 * The shared answer properties: no 5xx, no leak, contract codes on every error. Returns what is wrong.
 * `opaque`: fields whose value is the caller's own JSON, echoed back (an "error" in it is not ours).
 */
function answerProblems(answer: Answer, extraLeaks: string[], opaque: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  if (answer.status >= 500) problems.push(`HTTP ${answer.status}`);
  const leak = findLeak(answer.text) ?? (extraLeaks.find((path) => answer.text.includes(path)) ? 'a path of the gateway host' : null);
  if (leak) problems.push(`leaks ${leak}`);
  const checkCode = (where: string, code: unknown) => {
    if (typeof code !== 'string' || !CODES.includes(code)) problems.push(`${where} has code ${JSON.stringify(code)}, not one of the contract's`);
    else if (code === 'INTERNAL') problems.push(`${where} is INTERNAL: an unexpected error`);
  };
  const walk = (value: unknown, path: string) => {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}[${i}]`));
    else if (value && typeof value === 'object') {
      for (const [key, v] of Object.entries(value)) {
        // Per-item results: `error { code message }` wherever it is in the data.
        if (key === 'error' && v && typeof v === 'object') checkCode(`${path}.error`, (v as { code?: unknown }).code);
        else if (!opaque.has(key)) walk(v, `${path}.${key}`);
      }
    }
  };
  for (const payload of answer.payloads) {
    for (const response of Array.isArray(payload) ? payload : [payload]) {
      if (!response || typeof response !== 'object') continue;
      const { errors, data, error } = response as { errors?: unknown; data?: unknown; error?: { code?: unknown } };
      if (errors !== undefined) {
        if (!Array.isArray(errors)) problems.push('errors is not a list');
        else
          errors.forEach((e, i) =>
            checkCode(
              `errors[${i}] ("${String((e as { message?: unknown })?.message).slice(0, 120)}")`,
              (e as { extensions?: { code?: unknown } })?.extensions?.code,
            ),
          );
      }
      if (data) walk(data, 'data');
      // The REST endpoints' { error: { code, message } }.
      if (error !== undefined) checkCode('error', error?.code);
    }
  }
  return problems;
}

// ---------------------------------------------------------------- what may change

interface Probed {
  answer: Answer;
  /** The request was (at least in part) accepted: it was allowed to change something. */
  accepted: boolean;
}

interface Allowance {
  /** Something accepted that this test cannot attribute (a new mutation, a raw request): anything may change. */
  anything: boolean;
  jobs: Set<string>;
  createdJobs: Set<string>;
  /** A job was created whose id the answer does not give. */
  anyNewJobs: boolean;
  users: Set<string>;
  ledger: boolean;
  tokens: boolean;
}

const nothingAllowed = (): Allowance => ({
  anything: false,
  jobs: new Set(),
  createdJobs: new Set(),
  anyNewJobs: false,
  users: new Set(),
  ledger: false,
  tokens: false,
});
const isAllowed = (a: Allowance) =>
  a.anything || a.anyNewJobs || a.jobs.size > 0 || a.createdJobs.size > 0 || a.users.size > 0 || a.ledger || a.tokens;
const asList = (value: unknown): unknown[] => (Array.isArray(value) ? value : value === null || value === undefined ? [] : [value]);

function accepted(item: unknown): boolean {
  if (item === null || item === undefined) return false;
  if (typeof item !== 'object') return true;
  const { error, ok } = item as { error?: unknown; ok?: unknown };
  return !error && ok !== false;
}

const JOB_VERBS: Record<string, (args: Record<string, unknown>) => unknown[]> = {
  terminateJobs: (args) => asList(args.ids),
  suspendJobs: (args) => asList(args.ids),
  unsuspendJobs: (args) => asList(args.ids),
  extendJobs: (args) => asList(args.items).map((item) => (item as { jobId?: unknown } | null)?.jobId),
};

/** What a call may have changed when it ran but its result is not in the answer. */
function allowWhateverItNames(allow: Allowance, call: MutationCall): void {
  const verb = JOB_VERBS[call.field];
  if (verb) {
    for (const id of verb(call.args)) allow.jobs.add(String(id));
    allow.ledger = true;
  } else if (call.field === 'createJobs') allow.anyNewJobs = true;
  else if (call.field === 'createUser') allow.users.add(String(call.args.username));
  else if (call.field === 'grantCredits') allow.ledger = true;
  else allow.anything = true;
}

interface GraphQLAnswer {
  data?: Record<string, unknown> | null;
  errors?: { path?: unknown }[];
}

/**
 * What the accepted parts of an answer to `calls` may have changed. Mutation
 * fields run one after another, and an error in one whose type is non-null
 * nulls all of `data` and stops the rest: the fields before it ran, and their
 * results are lost, so they may have changed what they name.
 */
function allowanceOf(calls: MutationCall[], response: GraphQLAnswer | undefined, caller: { authenticated: boolean; admin: boolean }): Allowance {
  const allow = nothingAllowed();
  // Nothing runs for a caller without a valid token, and only an administrator creates users or grants.
  if (!caller.authenticated) return allow;
  const mayRun = (call: MutationCall) => caller.admin || !ADMIN_ONLY.has(call.field);
  const data = response?.data;
  const paths = (Array.isArray(response?.errors) ? response.errors : []).map((e) => e?.path).filter((p): p is unknown[] => Array.isArray(p));
  const errorsAt = (alias: string) => paths.filter((p) => p[0] === alias);
  const firstFailed = calls.findIndex((_, i) => errorsAt(`m${i}`).length > 0);
  calls.forEach((call, index) => {
    const alias = `m${index}`;
    const result = data?.[alias];
    if (result === null || result === undefined) {
      // It ran when a later field failed, or when its own error is in its result, not in the field itself.
      if (mayRun(call) && ((data === null && firstFailed > index) || errorsAt(alias).some((p) => p.length > 1))) allowWhateverItNames(allow, call);
      return;
    }
    const items = asList(result);
    const verb = JOB_VERBS[call.field];
    if (verb) {
      const ids = verb(call.args);
      items.forEach((item, k) => {
        if (accepted(item)) {
          allow.jobs.add(String(ids[k]));
          // A job that ends is charged its last part.
          allow.ledger = true;
        }
      });
    } else if (call.field === 'createJobs') {
      for (const item of items) {
        if (!accepted(item)) continue;
        const job = (item as { job?: { id?: unknown } | null }).job;
        if (typeof job?.id === 'string') allow.createdJobs.add(job.id);
        else allow.anyNewJobs = true;
      }
    } else if (call.field === 'createUser') {
      if (accepted(result)) allow.users.add(String((result as { username?: unknown }).username ?? call.args.username));
    } else if (call.field === 'grantCredits') {
      if (accepted(result)) allow.ledger = true;
    } else if (items.some(accepted)) {
      allow.anything = true;
    }
  });
  return allow;
}

function describeJob(job: { state: string; owner: { createdBy: string }; providerId: string; updates: { status: string | null }[] }): string {
  return `${job.state} at ${job.providerId}, of ${job.owner.createdBy}, last status "${job.updates.at(-1)?.status}"`;
}

/** What changed from `before` to `after` that `allow` does not cover. */
function stateProblems(before: StateSnapshot, after: StateSnapshot, allow: Allowance): string[] {
  if (allow.anything) return [];
  const problems: string[] = [];
  for (const [id, job] of after.jobs) {
    const old = before.jobs.get(id);
    if (!old) {
      if (!allow.createdJobs.has(id) && !allow.anyNewJobs)
        problems.push(`job ${id} was stored, but no item was accepted for it: ${describeJob(job)}`);
    } else if (!isDeepStrictEqual(old, job) && !allow.jobs.has(id)) {
      problems.push(`job ${id} changed (${describeJob(old)} → ${describeJob(job)})`);
    }
  }
  for (const id of before.jobs.keys()) if (!after.jobs.has(id)) problems.push(`job ${id} disappeared`);
  for (const [id, project] of after.projects) {
    if (!isDeepStrictEqual(before.projects.get(id), project)) problems.push(`project ${id} was created or changed`);
  }
  for (const [name, user] of after.users) {
    if (!isDeepStrictEqual(before.users.get(name) ?? null, user) && !allow.users.has(name))
      problems.push(`user "${name}" was ${user ? 'created or changed' : 'removed'}`);
  }
  if (after.tokensIssued !== before.tokensIssued && !allow.tokens) problems.push(`${after.tokensIssued - before.tokensIssued} token(s) issued`);
  if (!isDeepStrictEqual(before.waiting, after.waiting) && allow.jobs.size === 0 && allow.createdJobs.size === 0 && !allow.anyNewJobs)
    problems.push('the waiting room changed');
  if (!allow.ledger) {
    const known = new Set(before.transactions.map((t) => t.id));
    const added = after.transactions.filter((t) => !known.has(t.id));
    if (added.length)
      problems.push(`transactions recorded: ${added.map((t) => `${t.kind} ${t.amount} to ${t.owner} (${t.description})`).join('; ')}`);
    else if (!isDeepStrictEqual(before.transactions, after.transactions)) problems.push('transactions changed');
    if (!isDeepStrictEqual(before.wallets, after.wallets)) problems.push('wallets changed');
  }
  return problems;
}

/** A request as it will be printed when a property fails: short enough to read. */
function shown(value: unknown): string {
  const text = JSON.stringify(value, (_k, v) => (typeof v === 'string' && v.length > 200 ? `${v.slice(0, 60)}…(${v.length} chars)` : v));
  return text.length > 3_000 ? `${text.slice(0, 3_000)}…` : text;
}

/**
 * Send one request and check every property; throws with what went wrong and the request.
 * `judge` reads the answer: what the request may have changed, and any rule it broke.
 */
async function probe(
  fuzzer: Fuzzer,
  request: { method: string; path: string; headers: Record<string, string>; body?: Buffer | string },
  describe: string,
  judge: (answer: Answer, before: StateSnapshot) => { allow: Allowance; problems: string[] },
): Promise<Probed> {
  const { env } = fuzzer;
  const fail = async (problems: string[], answer?: Answer): Promise<never> => {
    // Start the next input (a shrunk one, or the next property's) from a state at rest.
    try {
      fuzzer.baseline = await env.settle();
    } catch (error) {
      problems.push(`and then: ${(error as Error).message}`);
      fuzzer.baseline = await env.snapshot();
    }
    fuzzer.lastRequest = describe;
    const body = answer ? ` → HTTP ${answer.status} ${answer.text.slice(0, 1_500)}` : '';
    throw new Error(`${problems.join('\n')}\nrequest: ${describe}${body}`);
  };
  const before = await env.snapshot();
  const late = stateProblems(fuzzer.baseline, before, nothingAllowed());
  if (late.length) await fail([`the state changed after the previous request, which was refused: ${fuzzer.lastRequest}`, ...late]);
  let answer: Answer;
  try {
    answer = await exchange(env, request);
  } catch (error) {
    return fail([`no answer: ${(error as Error).message}`]);
  }
  const problems = answerProblems(answer, [env.stateDir], fuzzer.opaqueFields);
  const judged = judge(answer, before);
  problems.push(...judged.problems);
  const after = await env.snapshot();
  problems.push(...stateProblems(before, after, judged.allow));
  const health = await fetch(`${env.url}/healthz`, { signal: AbortSignal.timeout(5_000) }).then(
    (r) => r.status,
    (e: Error) => e.message,
  );
  if (health !== 200) problems.push(`/healthz answers ${health} afterwards`);
  if (problems.length) await fail(problems, answer);
  fuzzer.lastRequest = describe;
  if (isAllowed(judged.allow)) {
    fuzzer.baseline = await env.settle();
    refreshPools(fuzzer);
  } else {
    fuzzer.baseline = after;
  }
  return { answer, accepted: isAllowed(judged.allow) };
}

function refreshPools(fuzzer: Fuzzer): void {
  const { env, baseline, pools } = fuzzer;
  pools.jobs = [...baseline.jobs.values()].map((job) => ({ id: job.id, owner: job.owner.createdBy }));
  pools.usernames = [...new Set(['admin', env.users.user.name, env.users.other.name, ...[...baseline.users].filter(([, u]) => u).map(([n]) => n)])];
}

/** Mutations only an administrator may have accepted. */
const ADMIN_ONLY = new Set(['createUser', 'grantCredits', 'createProject']);

/**
 * Whether a user may act on a job with `needed`, by the rules of docs/TENANCY.md read from the
 * state before the request (an oracle of its own, not the gateway's code): a personal job its
 * creator; a project job a member who is its creator, the PI or an ADMIN, or whom an ACL entry
 * (by name or group) gives `needed` or more.
 */
function mayChangeJob(before: StateSnapshot, username: string, job: Job, needed: 'EDIT' | 'ADMIN'): boolean {
  const projectId = job.owner.project;
  if (!projectId) return job.owner.createdBy === username;
  const project = before.projects.get(projectId);
  const member = project?.members.find((m) => m.username === username);
  if (!project || !member) return false;
  if (member.role !== 'USER' || job.owner.createdBy === username) return true;
  const entities = [username, ...project.groups.filter((g) => g.members.includes(username)).map((g) => `${projectId}/${g.name}`)];
  const levels = needed === 'ADMIN' ? ['ADMIN'] : ['EDIT', 'ADMIN'];
  return job.acl.some((entry) => entities.includes(entry.entity) && entry.permissions.some((p) => levels.includes(p)));
}

/** Rules of who may do what, on the answer to `calls` by `role`. */
function authorizationProblems(
  fuzzer: Fuzzer,
  role: Role,
  calls: MutationCall[],
  data: Record<string, unknown> | null | undefined,
  before: StateSnapshot,
): string[] {
  const problems: string[] = [];
  const username = usernameOf(fuzzer.env, role);
  calls.forEach((call, index) => {
    const result = data?.[`m${index}`];
    const items = asList(result);
    if (!items.some(accepted)) return;
    if (username === null) problems.push(`${call.field} accepted from a caller without a valid token`);
    else if (role !== 'admin' && ADMIN_ONLY.has(call.field)) problems.push(`${call.field} accepted from ${username}, not an administrator`);
    const verb = JOB_VERBS[call.field];
    if (verb && role !== 'admin') {
      const ids = verb(call.args);
      items.forEach((item, k) => {
        const job = before.jobs.get(String(ids[k]));
        if (accepted(item) && job && (username === null || !mayChangeJob(before, username, job, call.field === 'terminateJobs' ? 'ADMIN' : 'EDIT')))
          problems.push(`${call.field} accepted from ${username} for job ${job.id} of ${job.owner.createdBy} (project ${job.owner.project})`);
      });
    }
    if (call.field === 'updateJobAcl' && role !== 'admin') {
      const job = before.jobs.get(String(call.args.jobId));
      if (job && (username === null || !mayChangeJob(before, username, job, 'ADMIN')))
        problems.push(`updateJobAcl accepted from ${username} for job ${job.id} of ${job.owner.createdBy} (project ${job.owner.project})`);
    }
  });
  return problems;
}

async function mutationProbe(fuzzer: Fuzzer, input: { role: Role; calls: MutationCall[] }) {
  const { query, variables } = mutationDocument(fuzzer.schema, input.calls);
  const authorization = authorizationOf(fuzzer.env, input.role);
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
  if (authorization) headers.authorization = authorization;
  return probe(
    fuzzer,
    { method: 'POST', path: '/graphql', headers, body: JSON.stringify({ query, variables }) },
    shown({ role: input.role, query, variables }),
    (answer, before) => {
      const response = answer.payloads[0] as GraphQLAnswer | undefined;
      const problems = authorizationProblems(fuzzer, input.role, input.calls, response?.data, before);
      if (!response) problems.push('the answer is not a GraphQL response');
      const caller = { authenticated: usernameOf(fuzzer.env, input.role) !== null, admin: input.role === 'admin' };
      return { allow: allowanceOf(input.calls, response, caller), problems };
    },
  );
}

async function startFuzzer(storage: 'memory' | 'redis'): Promise<Fuzzer> {
  const env = await startFuzzGateway({ storage });
  const introspection = await env.admin.ok<IntrospectionQuery>(getIntrospectionQuery());
  const schema = buildClientSchema(introspection);
  const products = await env.admin.ok<{ products: { id: string; category: string; provider: string }[] }>(
    `{ products(first: 500) { id category provider } }`,
  );
  const pools: Pools = { jobs: [], usernames: ['admin', env.users.user.name, env.users.other.name], products: products.products };
  const opaqueFields = new Set(
    Object.values(schema.getTypeMap())
      .filter(isObjectType)
      .flatMap((type) =>
        Object.values(type.getFields())
          .filter((field) => getNamedType(field.type).name === 'JSON')
          .map((field) => field.name),
      ),
  );
  const fuzzer: Fuzzer = { env, schema, pools, baseline: await env.snapshot(), lastRequest: '(none)', calls: new Map(), opaqueFields };
  await seedJobs(fuzzer);
  return fuzzer;
}

/**
 * Fresh jobs of each caller, running, suspended and ended, for the verbs to find
 * (their own and others'): each property starts with some, whatever the ones
 * before it terminated.
 */
async function seedJobs(fuzzer: Fuzzer): Promise<void> {
  const { env } = fuzzer;
  const seed = async (client: typeof env.admin, specs: Record<string, unknown>[]) => {
    const data = await client.ok(
      `mutation ($s: [JobSpecificationInput!]!) { createJobs(specifications: $s) { job { id } error { code message } } }`,
      { s: specs },
    );
    return (data.createJobs as { job: { id: string } | null; error: unknown }[]).map((r) => {
      if (!r.job) throw new Error(`a seed job was refused: ${JSON.stringify(r.error)}`);
      return r.job.id;
    });
  };
  const [cloud, hpc, local] = [GOOD_SPECIFICATIONS[3]!, GOOD_SPECIFICATIONS[2]!, GOOD_SPECIFICATIONS[0]!];
  const [suspended] = await seed(env.users.user.client, [cloud, cloud, hpc, local]);
  await seed(env.users.other.client, [cloud, cloud, hpc]);
  await seed(env.admin, [cloud, hpc]);
  await env.settle();
  await env.users.user.client.ok(`mutation ($id: ID!) { suspendJobs(ids: [$id]) { ok } }`, { id: suspended });
  fuzzer.baseline = await env.settle();
  fuzzer.lastRequest = '(the seed jobs)';
  refreshPools(fuzzer);
}

async function check<T>(property: string, storage: string, inputs: number, arbitrary: fc.Arbitrary<T>, predicate: (value: T) => Promise<Probed>) {
  const record = { property, storage, inputs: 0, ms: 0, statuses: new Map<number, number>(), accepted: 0 };
  tried.push(record);
  const started = Date.now();
  try {
    await fc.assert(
      fc.asyncProperty(arbitrary, async (value) => {
        record.inputs += 1;
        const { answer, accepted } = await predicate(value);
        record.statuses.set(answer.status, (record.statuses.get(answer.status) ?? 0) + 1);
        if (accepted) record.accepted += 1;
      }),
      { numRuns: inputs, seed: SEED },
    );
  } finally {
    record.ms = Date.now() - started;
  }
}

// ---------------------------------------------------------------- raw HTTP

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/graphql',
  'application/graphql-response+json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=fuzz',
  'multipart/form-data',
  'application/octet-stream',
  'application/json; charset=latin1',
  'text/event-stream',
  '*/*',
  'application/json; boundary=',
  ';;;',
];
const ACCEPTS = [
  'application/json',
  'application/graphql-response+json',
  'text/event-stream',
  'multipart/mixed',
  'text/html',
  '*/*',
  'application/xml',
  ';q=0',
];
const QUERIES = [
  '{ me { createdBy } }',
  '{ __typename }',
  'query { jobs(first: 5) { totalCount edges { node { id status { state } } } } }',
  'query ($id: ID!) { job(id: $id) { id } }',
  'subscription ($id: ID!) { followJob(id: $id) { jobId } }',
  'query A { me { createdBy } } query B { products { id } }',
  'mutation { terminateJobs(ids: ["x"]) { ok error { code } } }',
  '{ jobs(first: 5 { totalCount } }',
  '{ noSuchField }',
  '',
  '#',
  '{ me { createdBy } } extra',
  'fragment F on Query { me { createdBy } } { ...F ...F }',
  'query { ...on Query { ...on Query { me { createdBy } } } }',
  '{ a: me { createdBy } b: me { createdBy } }',
  getIntrospectionQuery(),
];
const PATHS = ['/graphql', '/graphql/', '/graphql?', '/graphql;x', '/graphql#x', '/GRAPHQL', '/graphql/../graphql', '//graphql', '/graphql%00'];

function rawGraphQLArb(fuzzer: Fuzzer) {
  const operation = fc.oneof(
    {
      weight: 3,
      arbitrary: requestArb(
        fuzzer,
        fc.constantFrom(...BASE_MUTATIONS).map((f) => [f]),
      ).map(({ calls }) => mutationDocument(fuzzer.schema, calls)),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        query: fc.constantFrom(...QUERIES),
        variables: fc.option(fc.record({ id: fromPool(() => fuzzer.pools.jobs.map((j) => j.id), 'x') })),
      }),
    },
  );
  const operationBody = fc.oneof(
    { weight: 4, arbitrary: operation },
    { weight: 2, arbitrary: mutatedJson(operation, ['query', 'variables', 'operationName', 'extensions']) },
  );
  const json = (value: unknown) => JSON.stringify(value) ?? 'undefined';
  const body = fc.oneof(
    { weight: 6, arbitrary: operationBody.map(json) },
    { weight: 2, arbitrary: fc.array(operationBody, { minLength: 0, maxLength: 4 }).map(json) },
    { weight: 1, arbitrary: hostileValue.map(json) },
    { weight: 2, arbitrary: fc.tuple(operationBody.map(json), fc.nat()).map(([text, cut]) => text.slice(0, cut % Math.max(1, text.length))) },
    {
      weight: 1,
      arbitrary: fc.tuple(operationBody.map(json), fc.constantFrom(',', '}', '\u0000', 'garbage', '\ufeff')).map(([text, tail]) => text + tail),
    },
    { weight: 1, arbitrary: operationBody.map((op) => `\ufeff${json(op)}`) },
    { weight: 2, arbitrary: anyString },
    { weight: 1, arbitrary: fc.constantFrom(...QUERIES) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)) },
    {
      weight: 1,
      arbitrary: operationBody.map((op) =>
        new URLSearchParams(Object.entries(op as Record<string, unknown>).map(([k, v]) => [k, typeof v === 'string' ? v : json(v)])).toString(),
      ),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(operationBody, fc.constantFrom('{"0":["variables.file"]}', '{"0":["nowhere"]}', 'not json', '{}', '{"0":[]}'))
        .map(([op, map]) => multipart(json(op), map)),
    },
    { weight: 1, arbitrary: fc.constant('x'.repeat(2_000_000)) },
  );
  const params = fc.oneof(
    { weight: 3, arbitrary: operation.map((op) => ({ query: op.query, variables: op.variables ? json(op.variables) : undefined })) },
    {
      weight: 2,
      arbitrary: fc.record(
        {
          query: fc.oneof(fc.constantFrom(...QUERIES), anyString),
          variables: fc.oneof(fc.constant('{"id":"x"}'), anyString, hostileValue.map(json)),
          operationName: fc.oneof(fc.constantFrom('A', 'B', 'Fuzz'), anyString),
          extensions: fc.oneof(fc.constant('{"persistedQuery":{"version":1,"sha256Hash":"abc"}}'), anyString, hostileValue.map(json)),
        },
        { requiredKeys: [] },
      ),
    },
  );
  return fc.record({
    role: roleArb,
    method: fc.oneof(
      { weight: 6, arbitrary: fc.constant('POST') },
      { weight: 3, arbitrary: fc.constant('GET') },
      { weight: 1, arbitrary: fc.constantFrom('PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'PROPFIND') },
    ),
    path: fc.oneof({ weight: 8, arbitrary: fc.constant('/graphql') }, { weight: 1, arbitrary: fc.constantFrom(...PATHS) }),
    // A query string: what a GET sends; now and then on a POST too.
    params: fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 3, arbitrary: params }),
    paramsOnPost: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    contentType: fc.oneof(
      { weight: 8, arbitrary: fc.constant('application/json') },
      { weight: 1, arbitrary: fc.constant(null) },
      { weight: 4, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
    ),
    accept: fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 3, arbitrary: fc.constantFrom(...ACCEPTS) }),
    // Now and then a malformed Authorization header instead of the role's.
    authorization: fc.oneof(
      { weight: 8, arbitrary: fc.constant(null) },
      {
        weight: 1,
        arbitrary: fc.constantFrom('Bearer', 'Bearer  ', 'Basic YWRtaW46YWRtaW4=', 'bearer x', 'Bearer a b', `Bearer ${'x'.repeat(10_000)}`),
      },
    ),
    body,
  });
}

/** A graphql-multipart-request-spec upload around `operations`. */
function multipart(operations: string, map: string): string {
  const part = (name: string, content: string, extra = '') =>
    `--fuzz\r\nContent-Disposition: form-data; name="${name}"${extra}\r\n\r\n${content}\r\n`;
  return part('operations', operations) + part('map', map) + part('0', 'hello', '; filename="a.txt"\r\nContent-Type: text/plain') + '--fuzz--\r\n';
}

/** A JSON object with up to two of its keys (or others) set to hostile values or removed. */
function mutatedJson(base: fc.Arbitrary<Record<string, unknown>>, keys: string[]): fc.Arbitrary<Record<string, unknown>> {
  const edit = fc.tuple(fc.constantFrom(...keys, 'extra'), fc.option(hostileValue, { freq: 4 }));
  return fc.tuple(base, fc.array(edit, { minLength: 1, maxLength: 2 })).map(([value, edits]) => {
    const out: Record<string, unknown> = { ...value };
    for (const [key, v] of edits) {
      if (v === null) delete out[key];
      else out[key] = v;
    }
    return out;
  });
}

type RawGraphQL = ReturnType<typeof rawGraphQLArb> extends fc.Arbitrary<infer T> ? T : never;

async function rawGraphQLProbe(fuzzer: Fuzzer, input: RawGraphQL) {
  const headers: Record<string, string> = {};
  if (input.contentType) headers['content-type'] = input.contentType;
  if (input.accept) headers.accept = input.accept;
  const authorization = input.authorization ?? authorizationOf(fuzzer.env, input.role);
  if (authorization) headers.authorization = authorization;
  const sendParams = input.params && (input.method !== 'POST' || input.paramsOnPost);
  const query = sendParams
    ? `${input.path.includes('?') ? '&' : '?'}${new URLSearchParams(Object.entries(input.params!).filter((e): e is [string, string] => typeof e[1] === 'string')).toString()}`
    : '';
  const withBody = input.method !== 'GET' && input.method !== 'HEAD';
  const body = withBody ? harmlessBody(input.body) : undefined;
  const shownBody = typeof body === 'string' ? body : body ? `<${body.length} bytes>` : undefined;
  return probe(
    fuzzer,
    { method: input.method, path: input.path + query, headers, body },
    shown({ method: input.method, path: input.path + query, headers, body: shownBody }),
    (answer) => {
      // A raw request that got data back may have been a mutation that did something: allow anything then.
      const gotData = answer.payloads
        .flatMap((p) => (Array.isArray(p) ? p : [p]))
        .some((r) => r && typeof r === 'object' && (r as { data?: unknown }).data);
      const problems: string[] = [];
      if (!authorizationOf(fuzzer.env, input.role) || input.authorization) {
        if (gotData && answer.status === 200 && /mutation/.test(String(body ?? '')))
          problems.push('a request without a valid token got data back from a mutation');
      }
      return { allow: { ...nothingAllowed(), anything: gotData }, problems };
    },
  );
}

/** JSON bodies with a command pass through harmless(); others go as they are (duplicate keys, odd numbers and all). */
function harmlessBody(body: string | Buffer): string | Buffer {
  if (typeof body !== 'string' || !body.includes('"command"')) return body;
  try {
    return JSON.stringify(harmless(JSON.parse(body)));
  } catch {
    // Not JSON: it cannot be a createJobs that runs anything.
    return body;
  }
}

// ---------------------------------------------------------------- POST /api/v1/token

function tokenArb(fuzzer: Fuzzer) {
  const { users } = fuzzer.env;
  const credentialValue = (known: string[]) =>
    fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...known) }, { weight: 2, arbitrary: anyString }, { weight: 1, arbitrary: hostileValue });
  const credentials = fc.record({
    username: credentialValue([users.user.name, users.other.name, 'admin']),
    password: credentialValue([users.user.password, users.other.password]),
  });
  const json = (value: unknown) => JSON.stringify(value) ?? 'undefined';
  const body = fc.oneof(
    { weight: 6, arbitrary: credentials.map(json) },
    { weight: 2, arbitrary: mutatedJson(credentials, ['username', 'password']).map(json) },
    { weight: 1, arbitrary: hostileValue.map(json) },
    { weight: 1, arbitrary: fc.tuple(credentials.map(json), fc.nat()).map(([text, cut]) => text.slice(0, cut % text.length)) },
    { weight: 1, arbitrary: fc.constant(`{"username":"${'x'.repeat(70_000)}","password":"y"}`) },
    { weight: 1, arbitrary: fc.constant(`{"username":"${users.user.name}","username":"admin","password":"${users.user.password}"}`) },
    { weight: 1, arbitrary: anyString },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) },
  );
  return fc.record({
    method: fc.oneof(
      { weight: 8, arbitrary: fc.constant('POST') },
      { weight: 1, arbitrary: fc.constantFrom('GET', 'PUT', 'DELETE', 'OPTIONS', 'HEAD') },
    ),
    path: fc.oneof(
      { weight: 8, arbitrary: fc.constant('/api/v1/token') },
      { weight: 1, arbitrary: fc.constantFrom('/api/v1/token?x=1', '/api/v1/token/', '/API/V1/TOKEN', '/api/v1/token%00') },
    ),
    contentType: fc.oneof({ weight: 2, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom(...CONTENT_TYPES) }),
    body,
  });
}

type TokenRequest = ReturnType<typeof tokenArb> extends fc.Arbitrary<infer T> ? T : never;

async function tokenProbe(fuzzer: Fuzzer, input: TokenRequest) {
  const { users } = fuzzer.env;
  const headers: Record<string, string> = {};
  if (input.contentType) headers['content-type'] = input.contentType;
  const withBody = input.method !== 'GET' && input.method !== 'HEAD';
  const body = withBody ? input.body : undefined;
  const shownBody = typeof body === 'string' ? body : body ? `<${body.length} bytes>` : undefined;
  return probe(
    fuzzer,
    { method: input.method, path: input.path, headers, body },
    shown({ method: input.method, path: input.path, headers, body: shownBody }),
    (answer) => {
      const problems: string[] = [];
      const issued = answer.status === 200 && input.path.startsWith('/api/v1/token');
      if (issued) {
        let sent: { username?: unknown; password?: unknown } = {};
        try {
          sent = JSON.parse(String(body));
        } catch {
          // not JSON: no token is right
        }
        const right = Object.values(users).some((u) => sent?.username === u.name && sent?.password === u.password);
        if (!right) problems.push("a token was issued for credentials that are not a user's");
        const reply = answer.payloads[0] as { token?: unknown; user?: { username?: unknown } } | undefined;
        if (typeof reply?.token !== 'string' || reply.user?.username !== sent?.username) problems.push('the token answer does not name the user');
      } else if (answer.status < 300 && input.path.startsWith('/api/v1/token') && input.method !== 'OPTIONS') {
        problems.push(`HTTP ${answer.status} without a token`);
      }
      return { allow: { ...nothingAllowed(), tokens: issued }, problems };
    },
  );
}

// ---------------------------------------------------------------- the properties

for (const storage of ['memory', 'redis'] as const) {
  describe(`fuzzing the gateway with the ${storage} store`, () => {
    let fuzzer: Fuzzer;
    beforeAll(async () => {
      fuzzer = await startFuzzer(storage);
    }, 60_000);
    afterAll(async () => {
      await fuzzer?.env.stop();
    });

    it('has a property below for every mutation the gateway serves', () => {
      const served = Object.keys(fuzzer.schema.getMutationType()!.getFields());
      expect(served.length).toBeGreaterThan(0);
      expect(served.filter((field) => !BASE_MUTATIONS.includes(field))).toEqual([]);
    });

    for (const field of BASE_MUTATIONS) {
      const inputs = runs(MUTATION_RUNS[field] ?? 20, storage);
      it(
        `${field}, with any arguments from any caller, answers without 5xx, leaks or unknown codes and changes nothing it refuses`,
        async () => {
          await seedJobs(fuzzer);
          await check(field, storage, inputs, requestArb(fuzzer, fc.constant([field])), (input) => mutationProbe(fuzzer, input));
        },
        timeoutFor(inputs),
      );
    }

    const mixed = runs(30, storage);
    it(
      'documents of several mutations, whatever the schema serves, hold the same properties',
      async () => {
        await seedJobs(fuzzer);
        const fields = Object.keys(fuzzer.schema.getMutationType()!.getFields());
        const names = fc.array(fc.constantFrom(...fields), { minLength: 2, maxLength: 3 });
        await check('several mutations in one document', storage, mixed, requestArb(fuzzer, names), (input) => mutationProbe(fuzzer, input));
      },
      timeoutFor(mixed),
    );

    const raw = runs(100, storage);
    it(
      'raw HTTP to /graphql (any method, content type, body, batch or query string) answers without 5xx, leaks or unknown codes and changes nothing it refuses',
      async () => {
        await check('raw HTTP to /graphql', storage, raw, rawGraphQLArb(fuzzer), (input) => rawGraphQLProbe(fuzzer, input));
      },
      timeoutFor(raw),
    );

    const token = runs(30, storage);
    it(
      'POST /api/v1/token with any body issues a token only for the right password and answers every refusal with a code and no change',
      async () => {
        await check('POST /api/v1/token', storage, token, tokenArb(fuzzer), (input) => tokenProbe(fuzzer, input));
      },
      timeoutFor(token),
    );
  });
}
