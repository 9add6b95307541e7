/**
 * Quotas and fair share through the API, over real NATS and Redis, with a
 * simulated HPC cluster `hpc` (4 nodes of 32 CPUs and 4 GPUs) beside the local
 * provider: a project at its GPU quota parks the next job naming the quota and
 * starts it when one ends, or refuses it with QUOTA_EXCEEDED; limits for one
 * member set by the PI; parallel submissions never pass a quota, however many
 * store connections take holds at once; and the waiting queue fed by three
 * workspaces goes in fair-share order (queuePosition and the starts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FAIR_SHARE_HALF_LIFE_MS } from '../gateway/routing/fair-share.js';
import { cellsOf } from '../gateway/routing/quota-rules.js';
import { createMemoryStore } from '../gateway/store/memory-store.js';
import { createRedisStore } from '../gateway/store/redis-store.js';
import type { Store } from '../gateway/store/store.js';
import { eventually, waitForState, type TestClient } from './support/graphql-client.js';
import { deleteKeys, redisUrl, uniquePrefix } from './support/services.js';
import { errorCode, LOCAL_SMALL, SMALL_HPC, startTenancyGateway, type TenancyGateway } from './support/tenancy-gateway.js';

const GPU_JOB = { id: 'gpu-4', provider: 'hpc' };
const WHOLE_NODE = { id: 'standard-32', provider: 'hpc' };
const CREATE = `mutation ($s: [JobSpecificationInput!]!) { createJobs(specifications: $s) { job { id } error { code message } } }`;
const STATUS = `query ($id: ID!) { job(id: $id) { status { state pendingReason queuePosition } } }`;
const SET_QUOTA = `mutation ($q: QuotaInput!) { setQuota(quota: $q) { project user provider category maxJobs maxGpu setBy } }`;
const USAGE = `query ($p: ID) { workspaceUsage(project: $p) { project inUse { jobs gpu } providers { provider inUse { jobs cpu gpu } } quotas { quota { user provider maxGpu maxJobs } inUse { jobs gpu } } fairShareUsage } }`;

let env: TenancyGateway;
let count = 0;
const fresh = (what: string) => `${what}${++count}`;
const code = errorCode;

beforeAll(async () => {
  env = await startTenancyGateway({
    hpc: SMALL_HPC,
    utilizationIntervalMs: 100,
  });
});
afterAll(async () => {
  await env?.stop();
});

type Result = { job: { id: string } | null; error: { code: string; message: string } | null };

/** A job for `product`, or (null) routed to any hpc product with 32 CPUs, which waits at the gateway for room with a scheduleTimeout. */
async function submit(client: TestClient, product: Record<string, string> | null, spec: Record<string, unknown> = {}): Promise<Result> {
  const target = product ? { product } : { requirements: { cpu: 32, providers: ['hpc'] } };
  const data = await client.ok(CREATE, {
    s: [{ ...target, command: ['true'], timeAllocation: { hours: 1 }, allowDuplicateJob: true, ...spec }],
  });
  return data.createJobs[0] as Result;
}

async function terminate(client: TestClient, ids: string[]) {
  await client.ok(`mutation ($ids: [ID!]!) { terminateJobs(ids: $ids) { ok } }`, { ids });
}

/** A project with its PI (funded at hpc) and one more member. */
async function newProject(): Promise<{ id: string; pi: TestClient; piName: string; member: TestClient; memberName: string }> {
  const [id, piName, memberName] = [fresh('proj'), fresh('pi'), fresh('member')];
  const [pi, member] = await Promise.all([env.user(piName), env.user(memberName)]);
  await env.admin.ok(`mutation ($id: ID!, $pi: String!) { createProject(id: $id, title: "Quotas", pi: $pi) { id } }`, { id, pi: piName });
  await pi.ok(`mutation ($p: ID!, $u: String!) { addProjectMember(project: $p, username: $u) { id } }`, { p: id, u: memberName });
  for (const category of ['sim-hpc-gpu', 'sim-hpc-cpu']) {
    await env.admin.ok(`mutation ($g: GrantInput!) { grantCredits(grant: $g) { balance } }`, {
      g: { owner: id, isProject: true, provider: 'hpc', category, amount: 1_000_000_000 },
    });
  }
  return { id, pi, piName, member, memberName };
}

describe('quotas', () => {
  it('parks the job past a project GPU quota naming the quota, starts it when one ends, and refuses one without a scheduleTimeout', async () => {
    const { id, pi } = await newProject();
    const quota = await env.admin.ok(SET_QUOTA, { q: { project: id, provider: 'hpc', maxGpu: 8 } });
    expect(quota.setQuota).toEqual({ project: id, user: null, provider: 'hpc', category: null, maxJobs: null, maxGpu: 8, setBy: 'admin' });
    const inProject = pi.in(id);
    const [first, second] = [await submit(inProject, GPU_JOB), await submit(inProject, GPU_JOB)];
    expect([first.error, second.error]).toEqual([null, null]);
    await Promise.all([first, second].map((r) => waitForState(inProject, r.job!.id, ['RUNNING'])));

    // The cluster has room for a third (4 nodes), the project's quota has not.
    const refused = await submit(inProject, GPU_JOB);
    expect(refused).toEqual({ job: null, error: { code: 'QUOTA_EXCEEDED', message: `project ${id}: 8 of 8 GPUs in use on hpc` } });
    const waiting = await submit(inProject, GPU_JOB, { scheduleTimeout: 120 });
    expect(waiting.error).toBeNull();
    const parked = await inProject.ok(STATUS, { id: waiting.job!.id });
    expect(parked.job.status).toEqual({
      state: 'IN_QUEUE',
      pendingReason: `Waiting up to 120 s for quota: project ${id}: 8 of 8 GPUs in use on hpc`,
      queuePosition: 1,
    });
    // A sweep later it still waits for the same reason (the waiting room holds it to the quota too).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await inProject.ok(STATUS, { id: waiting.job!.id })).job.status.pendingReason).toMatch(/8 of 8 GPUs in use on hpc$/);

    const usage = (await inProject.ok(USAGE, { p: id })).workspaceUsage;
    expect(usage.inUse).toEqual({ jobs: 2, gpu: 8 });
    expect(usage.providers).toContainEqual({ provider: 'hpc', inUse: { jobs: 2, cpu: 32, gpu: 8 } });
    expect(usage.providers).toContainEqual({ provider: 'local', inUse: { jobs: 0, cpu: 0, gpu: 0 } });
    expect(usage.quotas).toEqual([{ quota: { user: null, provider: 'hpc', maxGpu: 8, maxJobs: null }, inUse: { jobs: 2, gpu: 8 } }]);
    expect(usage.fairShareUsage).toBeGreaterThan(0);

    await terminate(inProject, [first.job!.id]);
    await waitForState(inProject, waiting.job!.id, ['RUNNING'], 20_000);
    expect((await inProject.ok(USAGE, { p: id })).workspaceUsage.inUse).toEqual({ jobs: 2, gpu: 8 });

    await terminate(inProject, [second.job!.id, waiting.job!.id]);
    await eventually(async () => (await inProject.ok(USAGE, { p: id })).workspaceUsage.inUse.jobs === 0, { what: 'the holds given back' });
    expect(code(await env.admin.gql(`mutation ($p: ID!) { removeQuota(quota: { project: $p, provider: "hpc" }) }`, { p: id }))).toBeUndefined();
    const after = await submit(inProject, GPU_JOB);
    expect(after.error).toBeNull();
    await terminate(inProject, [after.job!.id]);
  });

  it('holds one member to the limit its PI set, inside the project, and lets only the PI and administrators set it', async () => {
    const { id, pi, piName, member, memberName } = await newProject();
    // The PI sets limits for members, not the project's own; a USER sets none.
    expect(code(await pi.gql(SET_QUOTA, { q: { project: id, maxJobs: 100 } }))).toBe('FORBIDDEN');
    expect(code(await member.gql(SET_QUOTA, { q: { project: id, user: piName, maxJobs: 100 } }))).toBe('FORBIDDEN');
    expect(code(await pi.gql(SET_QUOTA, { q: { project: id, user: 'nobody-here', maxJobs: 1 } }))).toBe('INVALID_INPUT');
    expect(code(await pi.gql(SET_QUOTA, { q: { project: id, user: memberName } }))).toBe('INVALID_INPUT');
    expect(code(await pi.gql(SET_QUOTA, { q: { project: id, user: memberName, maxGpu: 1.5 } }))).toBe('INVALID_INPUT');
    const set = await pi.ok(SET_QUOTA, { q: { project: id, user: memberName, category: 'sim-hpc-cpu', maxJobs: 1 } });
    expect(set.setQuota).toMatchObject({ project: id, user: memberName, category: 'sim-hpc-cpu', maxJobs: 1, setBy: piName });
    expect((await member.ok(`query ($p: ID!) { quotas(project: $p) { user category maxJobs } }`, { p: id })).quotas).toEqual([
      { user: memberName, category: 'sim-hpc-cpu', maxJobs: 1 },
    ]);

    const memberIn = member.in(id);
    const small = { id: 'standard-8', provider: 'hpc' };
    const one = await submit(memberIn, small);
    expect(one.error).toBeNull();
    const two = await submit(memberIn, small);
    expect(two.error).toEqual({ code: 'QUOTA_EXCEEDED', message: `user ${memberName} in project ${id}: 1 of 1 job in use in category sim-hpc-cpu` });
    // Another category, and other members, are not limited by it.
    const gpu = await submit(memberIn, GPU_JOB);
    const others = await submit(pi.in(id), small);
    expect([gpu.error, others.error]).toEqual([null, null]);
    // In the member's own workspace the project's limit does not apply.
    const own = await submit(member, small);
    expect(own.error).toBeNull();
    await terminate(env.admin, [one.job!.id, gpu.job!.id, others.job!.id, own.job!.id]);
    await eventually(async () => (await memberIn.ok(USAGE, { p: id })).workspaceUsage.inUse.jobs === 0, { what: 'the holds given back' });
    const again = await submit(memberIn, small);
    expect(again.error).toBeNull();
    await terminate(memberIn, [again.job!.id]);
  });

  it('gives back a hold lost with its replica (taken for a job never stored) when the quota refuses a job', async () => {
    const { id, pi, piName } = await newProject();
    await env.admin.ok(SET_QUOTA, { q: { project: id, provider: 'hpc', maxJobs: 1 } });
    const owner = { createdBy: piName, project: id };
    const amounts = { jobs: 1, cpu: 8, memoryInGigs: 32, gpu: 0 };
    const lost = { jobId: 'never-stored', cells: cellsOf(owner, 'hpc', 'sim-hpc-cpu'), amounts, at: Date.now() - 120_000, weight: 8, cost: 0 };
    expect(await env.store.acquireUsage(`project:${id}`, lost, [], FAIR_SHARE_HALF_LIFE_MS)).toEqual({ acquired: true });
    expect((await pi.ok(USAGE, { p: id })).workspaceUsage.inUse.jobs).toBe(1);

    const inProject = pi.in(id);
    const job = await submit(inProject, { id: 'standard-8', provider: 'hpc' });
    expect(job.error).toBeNull();
    expect((await pi.ok(USAGE, { p: id })).workspaceUsage.inUse.jobs).toBe(1);
    expect((await submit(inProject, { id: 'standard-8', provider: 'hpc' })).error?.code).toBe('QUOTA_EXCEEDED');
    await terminate(inProject, [job.job!.id]);
  });

  it('never passes a quota under parallel submissions', async () => {
    const { id, pi } = await newProject();
    await env.admin.ok(SET_QUOTA, { q: { project: id, maxJobs: 3 } });
    const inProject = pi.in(id);
    const results = await Promise.all(Array.from({ length: 24 }, () => submit(inProject, { id: 'standard-8', provider: 'hpc' })));
    const started = results.filter((r) => r.error === null);
    expect(started).toHaveLength(3);
    expect(results.filter((r) => r.error?.code === 'QUOTA_EXCEEDED')).toHaveLength(21);
    expect((await inProject.ok(USAGE, { p: id })).workspaceUsage.inUse.jobs).toBe(3);
    await terminate(
      inProject,
      started.map((r) => r.job!.id),
    );
    await eventually(async () => (await inProject.ok(USAGE, { p: id })).workspaceUsage.inUse.jobs === 0, { what: 'the holds given back' });
  });
});

const HOLDERS = [
  {
    name: 'three Redis connections (as gateway replicas take them)',
    open: async () => {
      const prefix = uniquePrefix();
      const stores = await Promise.all([0, 1, 2].map(() => createRedisStore({ url: redisUrl(), keyPrefix: prefix })));
      return { stores, close: async () => (await Promise.all(stores.map((store) => store.close())), await deleteKeys(prefix)) };
    },
  },
  {
    name: 'the memory store (embedded mode)',
    open: async () => {
      const store = createMemoryStore();
      return { stores: [store, store, store], close: async () => {} };
    },
  },
];

describe.each(HOLDERS)('holds on $name', ({ open }) => {
  let stores: Store[] = [];
  let close: () => Promise<void> = async () => {};
  beforeAll(async () => {
    ({ stores, close } = await open());
  });
  afterAll(async () => {
    await close();
  });

  it('grants exactly the limit when three connections race, and gives each hold back once', async () => {
    const cells = ['*\t*\t*', '*\thpc\t*'];
    const lease = (k: number) => ({
      jobId: `job-${k}`,
      cells,
      amounts: { jobs: 1, cpu: 4, memoryInGigs: 0.5, gpu: 1 },
      at: 1_000,
      weight: 12,
      cost: 100,
    });
    const checks = [{ field: '*\thpc\t*\tgpu', delta: 1, limit: 5 }];
    const outcomes = await Promise.all(Array.from({ length: 60 }, (_, k) => stores[k % 3]!.acquireUsage('project:race', lease(k), checks, 1e9)));
    const held = outcomes.flatMap((outcome, k) => (outcome.acquired ? [k] : []));
    expect(held).toHaveLength(5);
    expect(outcomes.find((outcome) => !outcome.acquired)).toEqual({ acquired: false, check: 0, inUse: 5 });
    const [usage] = await stores[0]!.readUsage(['project:race']);
    expect(usage!.counters['*\thpc\t*\tgpu']).toBe(5);
    expect(usage!.counters['*\t*\t*\tmemoryInGigs']).toBeCloseTo(2.5);
    expect(usage!.leases).toHaveLength(5);
    // Charged once per hold: 5 × 100.
    expect(usage!.fairShare).toEqual({ value: 500, at: 1_000 });

    // Released twice each, from different connections: counted back once.
    const released = await Promise.all(held.flatMap((k) => [0, 1].map((s) => stores[s]!.releaseUsage('project:race', `job-${k}`, 2_000, 1e9))));
    expect(released.filter(Boolean)).toHaveLength(5);
    const [after] = await stores[1]!.readUsage(['project:race']);
    expect(after!.counters['*\thpc\t*\tgpu']).toBe(0);
    expect(after!.leases).toEqual([]);
    // Each held 1 s at weight 12 instead of the 100 charged (decay over 1 s of a 1e9 ms half-life is below the tolerance).
    expect(after!.fairShare!.value).toBeCloseTo(60, 3);
  });
});

describe('fair share between workspaces waiting at the gateway', () => {
  it('places the waiting jobs of three workspaces least-used first, then by priority, then age; queuePosition says so', async () => {
    const [aName, bName, cName, dName] = [fresh('ana'), fresh('ben'), fresh('cai'), fresh('dot')];
    const [a, b, c, d] = await Promise.all([env.user(aName), env.user(bName), env.user(cName), env.user(dName)]);
    // Recent usage: Ana's job on the local provider is charged 1 CPU × 1000 h, Ben's 1 CPU × 40 h, Cai nothing.
    const usageJobs = [
      await a.ok(CREATE, { s: [{ product: LOCAL_SMALL, command: ['sleep', '300'], timeAllocation: { hours: 1000 } }] }),
      await b.ok(CREATE, { s: [{ product: LOCAL_SMALL, command: ['sleep', '300'], timeAllocation: { hours: 40 } }] }),
    ].map((data) => data.createJobs[0].job.id as string);
    // Dot fills the cluster: every node runs one of its whole-node jobs.
    const blockers: string[] = [];
    for (let k = 0; k < 4; k++) blockers.push((await submit(d, WHOLE_NODE)).job!.id);
    await Promise.all(blockers.map((id) => waitForState(d, id, ['RUNNING'])));
    await eventually(async () => env.gateway.utilization.capacity('hpc', 'standard-32') === 0, { what: 'hpc to be full' });

    // Created in turn a1 b1 c1 a2 b2 c2 a3 b3 c3; b3 is HIGH priority (Apolo's 1).
    const queued = new Map<string, string>();
    for (const round of [1, 2, 3]) {
      for (const [client, name] of [
        [a, 'a'],
        [b, 'b'],
        [c, 'c'],
      ] as const) {
        const label = `${name}${round}`;
        const result = await submit(client, null, { scheduleTimeout: 300, name: label, ...(label === 'b3' ? { priority: 1 } : {}) });
        expect(result.error).toBeNull();
        queued.set(label, result.job!.id);
      }
    }
    // 1 h on 32 CPUs costs 115,200: Cai (0) takes two before Ben (144,000), whose HIGH job goes first; Ana (3,600,000) last.
    const expected = ['c1', 'c2', 'b3', 'c3', 'b1', 'b2', 'a1', 'a2', 'a3'];
    const positionOf = async (label: string) => (await env.admin.ok(STATUS, { id: queued.get(label) })).job.status.queuePosition as number;
    const positions = await Promise.all(expected.map(positionOf));
    expect(positions).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);

    // Free one node at a time: the jobs start in that order.
    const started: string[] = [];
    for (const blocker of blockers) {
      await terminate(d, [blocker]);
      const next = await eventually(
        async () => {
          const states = await Promise.all(
            [...queued].map(async ([label, id]) => [label, (await env.admin.ok(STATUS, { id })).job.status.state] as const),
          );
          const gone = states.filter(([label, state]) => state !== 'IN_QUEUE' && !started.includes(label));
          return gone.length > 0 ? gone.map(([label]) => label) : null;
        },
        { timeoutMs: 20_000, what: 'a waiting job to start' },
      );
      started.push(...next);
    }
    expect(started).toEqual(expected.slice(0, 4));
    // The rest moved up: the next to go is b1.
    expect(await positionOf('b1')).toBe(1);

    await terminate(env.admin, [...queued.values(), ...usageJobs]);
  });
});
