/**
 * Virtual clusters through the API, over real NATS and Redis, with a simulated
 * HPC cluster `hpc` of 4 nodes of 4 GPUs (a gpu-4 job takes one node): a
 * project without a guarantee borrows the idle share of one that has one, and
 * gives it back when the owner's job finds no room — its newest jobs are the
 * ones stopped, each ending with the reason, and the owner's job starts; a
 * job past its own guarantee reclaims nothing; a borrowing limit holds like a
 * quota; only administrators set a virtual cluster, members read their own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createClient, eventually, waitForState, type TestClient } from './support/graphql-client.js';
import { errorCode, SMALL_HPC, startTenancyGateway, type TenancyGateway } from './support/tenancy-gateway.js';

const GPU_JOB = { id: 'gpu-4', provider: 'hpc' };
const CREATE = `mutation ($s: [JobSpecificationInput!]!) { createJobs(specifications: $s) { job { id } error { code message } } }`;
const STATUS = `query ($id: ID!) { job(id: $id) { status { state pendingReason } updates { state status } } }`;
const SET = `mutation ($c: VirtualClusterInput!) { setVirtualCluster(cluster: $c) { project provider guaranteed { gpu cpu } borrowingLimit { gpu } inUse { gpu } setBy } }`;
const LIST = `query ($p: ID) { virtualClusters(project: $p) { project provider guaranteed { gpu } inUse { jobs gpu } } }`;

let envOne: TenancyGateway;
let env: TenancyGateway;
const names = (() => {
  let n = 0;
  return (what: string) => `${what}-vc${++n}`;
})();

beforeAll(async () => {
  env = envOne = await startTenancyGateway({ hpc: SMALL_HPC, utilizationIntervalMs: 100 });
});
afterAll(async () => {
  await envOne?.stop();
});

/** A project with its PI, funded for GPU jobs at hpc; the PI's client acts in it. */
async function gpuProject(): Promise<{ id: string; client: TestClient; pi: TestClient }> {
  const [id, piName] = [names('share'), names('pi')];
  const pi = await env.user(piName);
  await env.admin.ok(`mutation ($id: ID!, $pi: String!) { createProject(id: $id, title: "Shares", pi: $pi) { id } }`, { id, pi: piName });
  await env.admin.ok(`mutation ($g: GrantInput!) { grantCredits(grant: $g) { balance } }`, {
    g: { owner: id, isProject: true, provider: 'hpc', category: 'sim-hpc-gpu', amount: 1_000_000_000 },
  });
  return { id, client: pi.in(id), pi };
}

async function submit(client: Pick<TestClient, 'ok'>, spec: Record<string, unknown> = {}) {
  const data = await client.ok(CREATE, {
    s: [{ product: GPU_JOB, command: ['true'], timeAllocation: { hours: 1 }, allowDuplicateJob: true, ...spec }],
  });
  return data.createJobs[0] as { job: { id: string } | null; error: { code: string; message: string } | null };
}

/** Start one job after another, so that their order (oldest first) is the order given. */
async function runInOrder(client: TestClient, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let k = 0; k < n; k++) {
    const result = await submit(client);
    expect(result.error).toBeNull();
    await waitForState(client, result.job!.id, ['RUNNING']);
    ids.push(result.job!.id);
  }
  return ids;
}

/** Every replica has read that hpc has no room for a gpu-4 job (a job sent while it thought otherwise would queue at hpc). */
async function hpcFull() {
  for (const { utilization } of [env.gateway, ...env.replicas.map((replica) => replica.gateway)]) {
    await eventually(async () => (await utilization.refresh(), utilization.capacity('hpc', 'gpu-4') === 0), { what: 'hpc full' });
  }
}

const state = async (client: TestClient, id: string) => (await client.ok(STATUS, { id })).job;

async function terminateAll(client: TestClient, ids: string[]) {
  await client.ok(`mutation ($ids: [ID!]!) { terminateJobs(ids: $ids) { ok } }`, { ids });
  for (const id of ids) await waitForState(client, id, ['SUCCESS', 'FAILURE']);
}

describe('virtual clusters', () => {
  it("lets another project borrow an idle guarantee and reclaims it, newest borrowed jobs first, when the owner's job finds no room", async () => {
    const owner = await gpuProject();
    const borrower = await gpuProject();
    const set = await env.admin.ok(SET, { c: { project: owner.id, provider: 'hpc', guaranteed: { gpu: 8 } } });
    expect(set.setVirtualCluster).toEqual({
      project: owner.id,
      provider: 'hpc',
      guaranteed: { gpu: 8, cpu: null },
      borrowingLimit: { gpu: null },
      inUse: { gpu: 0 },
      setBy: 'admin',
    });

    // The borrower takes the whole cluster: 8 GPUs of its own (no guarantee) and the owner's idle 8.
    const borrowed = await runInOrder(borrower.client, 4);
    await hpcFull();

    // The owner's job (no scheduleTimeout) is owed room: the borrower's newest job is stopped for it.
    const first = await submit(owner.client);
    expect(first.error).toBeNull();
    const waiting = await state(owner.client, first.job!.id);
    expect(waiting.status).toEqual({
      state: 'IN_QUEUE',
      pendingReason: `Waiting for room on hpc: reclaiming project ${owner.id}'s guarantee on hpc from borrowers (1 job stopped)`,
    });
    await waitForState(owner.client, first.job!.id, ['RUNNING'], 20_000);
    const reclaimed = await waitForState(borrower.client, borrowed[3]!, ['SUCCESS']);
    expect(reclaimed.updates.at(-1).status).toBe(`Your job has been terminated (preempted: reclaimed by project ${owner.id}'s guarantee on hpc)`);

    // A second job within the guarantee, routed by its requirements, waits at the gateway for room; the waiting room reclaims the next newest.
    await hpcFull();
    const second = await submit(owner.client, { product: undefined, requirements: { gpu: 4, providers: ['hpc'] }, scheduleTimeout: 60 });
    expect(second.error).toBeNull();
    await waitForState(owner.client, second.job!.id, ['RUNNING'], 20_000);
    const next = await waitForState(borrower.client, borrowed[2]!, ['SUCCESS']);
    expect(next.updates.at(-1).status).toBe(reclaimed.updates.at(-1).status);
    for (const id of borrowed.slice(0, 2)) expect((await state(borrower.client, id)).status.state).toBe('RUNNING');

    // Past its guarantee the owner borrows like anyone: nothing is reclaimed, its job queues at hpc for room.
    const third = await submit(owner.client, { scheduleTimeout: 60 });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await state(owner.client, third.job!.id)).status).toEqual({
      state: 'IN_QUEUE',
      pendingReason: 'Waiting for resources: 16 CPUs, 128 GiB of memory and 4 GPUs on 1 node',
    });
    for (const id of borrowed.slice(0, 2)) expect((await state(borrower.client, id)).status.state).toBe('RUNNING');

    // Members read their project's share and what it holds there now (the job queued at hpc holds its share too).
    const listed = await owner.client.ok(LIST, { p: owner.id });
    expect(listed.virtualClusters).toEqual([{ project: owner.id, provider: 'hpc', guaranteed: { gpu: 8 }, inUse: { jobs: 3, gpu: 12 } }]);
    // The stopped jobs hold nothing any more.
    const usage = await borrower.client.ok(`query ($p: ID) { workspaceUsage(project: $p) { inUse { jobs gpu } } }`, { p: borrower.id });
    expect(usage.workspaceUsage.inUse).toEqual({ jobs: 2, gpu: 8 });

    await terminateAll(owner.client, [first.job!.id, second.job!.id, third.job!.id]);
    await terminateAll(borrower.client, borrowed.slice(0, 2));
  });

  it('reclaims for a job routed by its requirements that may not wait, and refuses one with no guarantee left as before', async () => {
    const owner = await gpuProject();
    const borrower = await gpuProject();
    await env.admin.ok(SET, { c: { project: owner.id, provider: 'hpc', guaranteed: { gpu: 4 } } });
    const borrowed = await runInOrder(borrower.client, 4);
    await hpcFull();

    // No scheduleTimeout, no named product: it is owed its guarantee, so the borrower's newest job is stopped for it.
    const routed = { product: undefined, requirements: { gpu: 4, providers: ['hpc'] } };
    const owed = await submit(owner.client, routed);
    expect(owed.error).toBeNull();
    expect((await state(owner.client, owed.job!.id)).status).toEqual({
      state: 'IN_QUEUE',
      pendingReason: `Waiting for room on hpc: reclaiming project ${owner.id}'s guarantee on hpc from borrowers (1 job stopped)`,
    });
    const stopped = await waitForState(borrower.client, borrowed[3]!, ['SUCCESS']);
    expect(stopped.updates.at(-1).status).toBe(`Your job has been terminated (preempted: reclaimed by project ${owner.id}'s guarantee on hpc)`);
    await waitForState(owner.client, owed.job!.id, ['RUNNING'], 20_000);

    // Its guarantee is used now: the next such job is refused for want of room, and nothing more is stopped.
    await hpcFull();
    const refused = await submit(owner.client, routed);
    expect(refused.job).toBeNull();
    expect(refused.error?.code).toBe('NO_CAPACITY');
    for (const id of borrowed.slice(0, 3)) expect((await state(borrower.client, id)).status.state).toBe('RUNNING');
    const usage = await owner.client.ok(`query ($p: ID) { workspaceUsage(project: $p) { inUse { jobs gpu } } }`, { p: owner.id });
    expect(usage.workspaceUsage.inUse).toEqual({ jobs: 1, gpu: 4 });
    // The refused job is not kept: the project's only job is the one that reclaimed.
    const listed = await owner.client.ok(`{ jobs(first: 50) { edges { node { id } } } }`);
    expect(listed.jobs.edges.map((edge: { node: { id: string } }) => edge.node.id)).toEqual([owed.job!.id]);

    await terminateAll(owner.client, [owed.job!.id]);
    await terminateAll(borrower.client, borrowed.slice(0, 3));
  });

  it('holds a project to its guarantee plus its borrowing limit, waiting or refused as over a quota', async () => {
    const limited = await gpuProject();
    await env.admin.ok(SET, { c: { project: limited.id, provider: 'hpc', guaranteed: { gpu: 4 }, borrowingLimit: { gpu: 4 } } });
    const running = await runInOrder(limited.client, 2);
    const message = `project ${limited.id}: borrowing limit on hpc: 8 of 8 GPUs in use (4 guaranteed, 4 borrowable)`;
    // The cluster has room for two more; the borrowing limit has not.
    expect(env.gateway.utilization.capacity('hpc', 'gpu-4')).toBeGreaterThan(0);
    expect(await submit(limited.client)).toEqual({ job: null, error: { code: 'QUOTA_EXCEEDED', message } });
    const parked = await submit(limited.client, { scheduleTimeout: 60 });
    expect((await state(limited.client, parked.job!.id)).status).toEqual({
      state: 'IN_QUEUE',
      pendingReason: `Waiting up to 60 s for quota: ${message}`,
    });
    await terminateAll(limited.client, [running[0]!]);
    await waitForState(limited.client, parked.job!.id, ['RUNNING'], 20_000);
    await terminateAll(limited.client, [running[1]!, parked.job!.id]);
  });

  it('keeps the part of an idle guarantee past its lending limit free for the project, refusing or parking borrowers as for room', async () => {
    const lender = await gpuProject();
    const borrower = await gpuProject();
    const cluster = { project: lender.id, provider: 'hpc', guaranteed: { gpu: 8 }, lendingLimit: { gpu: 4 } };
    const set = await env.admin.ok(
      `mutation ($c: VirtualClusterInput!) { setVirtualCluster(cluster: $c) { guaranteed { gpu } lendingLimit { gpu cpu } } }`,
      { c: cluster },
    );
    expect(set.setVirtualCluster).toEqual({ guaranteed: { gpu: 8 }, lendingLimit: { gpu: 4, cpu: null } });
    // 16 GPUs: 8 not guaranteed and 4 lent may be borrowed, 4 are kept.
    const borrowed = await runInOrder(borrower.client, 3);
    await eventually(async () => (await env.gateway.utilization.refresh(), env.gateway.utilization.get('hpc')?.usedCapacity.gpu === 12), {
      what: 'hpc reported 12 GPUs in use',
    });
    const kept = `hpc keeps 4 of its 4 free GPUs for guarantees it does not lend: 4 for project ${lender.id} (it lends 4 of its 8)`;
    expect(await submit(borrower.client)).toEqual({ job: null, error: { code: 'NO_CAPACITY', message: `No room now: ${kept}` } });
    const routed = await submit(borrower.client, { product: undefined, requirements: { gpu: 4, providers: ['hpc'] } });
    expect(routed).toEqual({ job: null, error: { code: 'NO_CAPACITY', message: `No room now: ${kept}` } });
    const parked = await submit(borrower.client, { scheduleTimeout: 60 });
    expect((await state(borrower.client, parked.job!.id)).status).toEqual({
      state: 'IN_QUEUE',
      pendingReason: `Waiting up to 60 s for capacity: ${kept}`,
    });
    // The lender's own job takes the kept room at once: nothing is reclaimed.
    const own = await submit(lender.client);
    expect(own.error).toBeNull();
    await waitForState(lender.client, own.job!.id, ['RUNNING'], 20_000);
    expect(await Promise.all(borrowed.map(async (id) => (await state(borrower.client, id)).status.state))).toEqual(['RUNNING', 'RUNNING', 'RUNNING']);
    // Kept again once it ends and its hold is given back (a step after its end is stored, see
    // docs/TENANCY.md): the borrower's parked job still waits, until the lending limit is lifted.
    await terminateAll(lender.client, [own.job!.id]);
    const lenderUse = `query ($p: ID) { workspaceUsage(project: $p) { inUse { gpu } } }`;
    await eventually(async () => (await lender.client.ok(lenderUse, { p: lender.id })).workspaceUsage.inUse.gpu === 0, {
      what: "the lender's hold given back",
    });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await state(borrower.client, parked.job!.id)).status.state).toBe('IN_QUEUE');
    await env.admin.ok(SET, { c: { ...cluster, lendingLimit: null } });
    await waitForState(borrower.client, parked.job!.id, ['RUNNING'], 20_000);
    await terminateAll(borrower.client, [...borrowed, parked.job!.id]);
  });

  it('lets only administrators set and remove a virtual cluster, its members read it, and refuses bad input changing nothing', async () => {
    const project = await gpuProject();
    const other = await gpuProject();
    const input = { project: project.id, provider: 'hpc', guaranteed: { gpu: 4 } };
    expect(errorCode(await project.pi.gql(SET, { c: input }))).toBe('FORBIDDEN');
    expect(errorCode(await project.pi.gql(`mutation ($p: ID!) { removeVirtualCluster(project: $p, provider: "hpc") }`, { p: project.id }))).toBe(
      'FORBIDDEN',
    );
    for (const bad of [
      { ...input, guaranteed: { gpu: -1 } },
      { ...input, guaranteed: { gpu: 1.5 } },
      { ...input, lendingLimit: { gpu: 5 } },
      { ...input, lendingLimit: { cpu: 1 } },
      { ...input, guaranteed: {} },
      { ...input, provider: 'nowhere' },
      { ...input, project: 'no-such-project' },
    ])
      expect(errorCode(await env.admin.gql(SET, { c: bad }))).toBe('INVALID_INPUT');
    expect((await env.admin.ok(LIST, { p: project.id })).virtualClusters).toEqual([]);
    await env.admin.ok(SET, { c: input });
    expect((await project.client.ok(LIST, { p: project.id })).virtualClusters).toHaveLength(1);
    // Another project's PI: FORBIDDEN by name, and nothing of it in a listing of its own.
    expect(errorCode(await other.pi.gql(LIST, { p: project.id }))).toBe('FORBIDDEN');
    expect(JSON.stringify((await other.pi.ok(LIST, {})).virtualClusters)).not.toContain(project.id);
    expect(
      (await env.admin.ok(`mutation ($p: ID!) { removeVirtualCluster(project: $p, provider: "hpc") }`, { p: project.id })).removeVirtualCluster,
    ).toBe(true);
    expect(
      (await env.admin.ok(`mutation ($p: ID!) { removeVirtualCluster(project: $p, provider: "hpc") }`, { p: project.id })).removeVirtualCluster,
    ).toBe(false);
  });
});

describe('virtual clusters on two gateway replicas', () => {
  let two: TenancyGateway;
  beforeAll(async () => {
    // The second replica reads hpc's room late: while it still sees hpc full, its waiting room looks at jobs the first has reclaimed for.
    two = await startTenancyGateway({ hpc: SMALL_HPC, utilizationIntervalMs: 100, replicas: 1, replicaUtilizationIntervalMs: 3_000 });
    env = two;
  });
  afterAll(async () => {
    env = envOne;
    await two?.stop();
  });
  /** The same caller through the second replica. */
  const onReplica = (client: TestClient, project: string) => createClient(two.replicas[0]!.url, client.token, { project });
  const states = async (client: TestClient, ids: string[]) => Promise.all(ids.map(async (id) => (await state(client, id)).status.state));

  it("claims distinct borrowed jobs for two owners' jobs sent through both replicas at once, and only as many as they need", async () => {
    const owner = await gpuProject();
    const borrower = await gpuProject();
    await two.admin.ok(SET, { c: { project: owner.id, provider: 'hpc', guaranteed: { gpu: 8 } } });
    const borrowed = await runInOrder(borrower.client, 4);
    await hpcFull();

    // Both replicas decide at once, for a job each; both waiting rooms then sweep both jobs while the room frees.
    const [a, b] = await Promise.all([submit(owner.client), submit(onReplica(owner.pi, owner.id))]);
    expect([a.error, b.error]).toEqual([null, null]);
    for (const id of [a.job!.id, b.job!.id]) await waitForState(owner.client, id, ['RUNNING'], 20_000);
    // The two newest were stopped, one for each; a few more sweeps of both replicas stop nothing more.
    for (const id of borrowed.slice(2)) await waitForState(borrower.client, id, ['SUCCESS']);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await states(borrower.client, borrowed)).toEqual(['RUNNING', 'RUNNING', 'SUCCESS', 'SUCCESS']);
    await terminateAll(owner.client, [a.job!.id, b.job!.id]);
    await terminateAll(borrower.client, borrowed.slice(0, 2));
  });

  it("counts the guarantee one replica claimed for an owner's job as used when the other decides for the next", async () => {
    const owner = await gpuProject();
    const borrower = await gpuProject();
    await two.admin.ok(SET, { c: { project: owner.id, provider: 'hpc', guaranteed: { gpu: 4 } } });
    const borrowed = await runInOrder(borrower.client, 4);
    await hpcFull();

    // Room for one of them in the guarantee: one waits for the borrower's newest job, the other is refused; nothing else stops.
    const routed = { product: undefined, requirements: { gpu: 4, providers: ['hpc'] } };
    const results = await Promise.all([submit(owner.client, routed), submit(onReplica(owner.pi, owner.id), routed)]);
    const accepted = results.filter((r) => r.job !== null);
    expect(accepted).toHaveLength(1);
    expect(results.find((r) => r.job === null)?.error?.code).toBe('NO_CAPACITY');
    await waitForState(owner.client, accepted[0]!.job!.id, ['RUNNING'], 20_000);
    await waitForState(borrower.client, borrowed[3]!, ['SUCCESS']);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await states(borrower.client, borrowed)).toEqual(['RUNNING', 'RUNNING', 'RUNNING', 'SUCCESS']);
    const listed = await owner.client.ok(`{ jobs(first: 50) { edges { node { id } } } }`);
    expect(listed.jobs.edges.map((edge: { node: { id: string } }) => edge.node.id)).toEqual([accepted[0]!.job!.id]);
    await terminateAll(owner.client, [accepted[0]!.job!.id]);
    await terminateAll(borrower.client, borrowed.slice(0, 3));
  });
});
