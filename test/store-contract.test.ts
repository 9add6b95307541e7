/**
 * The Store contract: one suite, run against the in-memory store and against
 * the Redis store on the suite's own redis-server. Each Redis test owns a key
 * prefix and deletes its keys afterwards.
 */
import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';

import { viewerOf, type Viewer } from '../gateway/access/auth.js';
import { canSee, visibleSources } from '../gateway/access/job-access.js';
import { createMemoryStore } from '../gateway/store/memory-store.js';
import { createRedisStore } from '../gateway/store/redis-store.js';
import type { JobQuery, ProjectRecord, Store, VirtualClusterRecord } from '../gateway/store/store.js';
import type { Job, JobLog, JobState } from '../shared/domain.js';
import { isFinalState } from '../shared/job-state-machine.js';
import { makeJob, makeSpecification } from './support/jobs.js';
import { deleteClusterKeys, useRedisCluster } from './support/redis-cluster.js';
import { deleteKeys, redisUrl, uniquePrefix } from './support/services.js';

interface Implementation {
  name: string;
  /** A fresh, empty store, closed and cleaned up when the test ends. */
  open(options?: { maxLogLinesPerJob?: number }): Promise<Store>;
}

const redisCluster = useRedisCluster();

const implementations: Implementation[] = [
  {
    name: 'memory',
    async open(options) {
      return createMemoryStore(options);
    },
  },
  {
    name: 'redis',
    async open(options) {
      const prefix = uniquePrefix();
      const store = await createRedisStore({ url: redisUrl(), keyPrefix: prefix, ...options });
      onTestFinished(async () => {
        await store.close();
        await deleteKeys(prefix);
      });
      return store;
    },
  },
  {
    name: 'redis cluster',
    async open(options) {
      const prefix = uniquePrefix();
      const clusterNodes = await redisCluster.seeds();
      const store = await createRedisStore({ clusterNodes, keyPrefix: prefix, waitReplicas: 1, ...options });
      onTestFinished(async () => {
        await store.close();
        await deleteClusterKeys(clusterNodes, prefix);
      });
      return store;
    },
  },
];

const T0 = Date.now();

/** Project "lab" at version 1 with these members and groups. */
const labProject = (members: ProjectRecord['members'], groups: ProjectRecord['groups']): ProjectRecord => ({
  id: 'lab',
  title: 'Lab',
  archived: false,
  createdAt: T0,
  createdBy: 'root',
  members,
  groups,
  invites: [],
  version: 1,
});

describe.each(implementations)('the $name store', ({ open }) => {
  describe('jobs', () => {
    it('reads a job back exactly as it was stored, empty arrays, nulls and large numbers included', async () => {
      const store = await open();
      const bare = makeJob({
        createdAt: T0,
        owner: { createdBy: 'team:ops/α', project: null },
        specification: makeSpecification({
          command: [],
          env: {},
          resources: [],
          tags: [],
          parameters: { nested: { list: [], empty: {}, at: T0, sum: 0.1 + 0.2, big: 2 ** 53 - 1, text: 'ünï ✓ "q"' } },
        }),
      });
      const full = makeJob({
        createdAt: T0 + 1,
        owner: { createdBy: 'bob', project: 'physics' },
        state: 'RUNNING',
        startedAt: T0 + 123,
        expiresAt: T0 + 3_600_123,
        exitCode: -1,
        allowRestart: true,
        providerId: 'hpc',
        providerGeneratedId: 'slurm-42',
        updates: [
          { state: 'RUNNING', status: null, newTimeAllocation: null, timestamp: T0 + 123 },
          { state: null, status: 'Extended by an hour', newTimeAllocation: 3_600_000, timestamp: T0 + 456 },
        ],
        acl: [{ entity: 'carol', permissions: ['READ', 'EDIT'] }],
        creditsCharged: 1_234_567_890_123,
      });
      expect(await store.createJob(bare, { exclusive: false })).toEqual({ created: true });
      expect(await store.createJob(full, { exclusive: false })).toEqual({ created: true });

      expect(await store.getJob(bare.id)).toStrictEqual(bare);
      expect(await store.getJob(full.id)).toStrictEqual(full);
      expect(await store.getJobs([full.id, 'no-such-job', bare.id])).toStrictEqual([full, null, bare]);
      expect(await store.getJob('no-such-job')).toBeNull();
    });

    it('never shares objects with its callers', async () => {
      const store = await open();
      const job = makeJob();
      const copy = structuredClone(job);
      await store.createJob(job, { exclusive: false });
      job.updates.push({ state: null, status: 'changed by the caller', newTimeAllocation: null, timestamp: 1 });
      const read = (await store.getJob(job.id))!;
      read.owner.createdBy = 'mallory';
      read.acl.push({ entity: 'mallory', permissions: ['ADMIN'] });
      expect(await store.getJob(job.id)).toStrictEqual(copy);
    });

    it('stores a job id only once', async () => {
      const store = await open();
      const job = makeJob();
      await store.createJob(job, { exclusive: false });
      const again = { ...makeJob({ owner: { createdBy: 'bob', project: null } }), id: job.id };
      expect(await store.createJob(again, { exclusive: false })).toEqual({ created: false, duplicateOf: job.id });
      expect(await store.createJob(again, { exclusive: true })).toEqual({ created: false, duplicateOf: job.id });
      expect(await store.getJob(job.id)).toStrictEqual(job);
      const page = await store.listJobs({ order: 'ASC', first: 10 });
      expect(page.totalCount).toBe(1);
    });

    it('takes the same job stored again (a call repeated after its answer was lost) as stored once', async () => {
      const store = await open();
      const job = makeJob();
      expect(await store.createJob(job, { exclusive: true })).toEqual({ created: true });
      expect(await store.createJob(structuredClone(job), { exclusive: true })).toEqual({ created: true });
      expect((await store.listJobs({ order: 'ASC', first: 10 })).totalCount).toBe(1);
      expect(await store.activeJobIds(job.providerId)).toEqual([job.id]);
    });

    it('refuses an exclusive duplicate while the same spec is active, and allows it once that job is final', async () => {
      const store = await open();
      const spec = { specHash: 'same-spec' };
      const first = makeJob({ ...spec, createdAt: T0 });
      expect(await store.createJob(first, { exclusive: true })).toEqual({ created: true });

      const refused = makeJob({ ...spec, createdAt: T0 + 1 });
      expect(await store.createJob(refused, { exclusive: true })).toEqual({ created: false, duplicateOf: first.id });
      expect(await store.getJob(refused.id)).toBeNull();

      // Another spec, or another creator, is no duplicate.
      expect(await store.createJob(makeJob({ specHash: 'other-spec' }), { exclusive: true })).toEqual({ created: true });
      const bobs = makeJob({ ...spec, owner: { createdBy: 'bob', project: null } });
      expect(await store.createJob(bobs, { exclusive: true })).toEqual({ created: true });

      // A non-exclusive create goes ahead and becomes the one a duplicate points at.
      const second = makeJob({ ...spec, createdAt: T0 + 2 });
      expect(await store.createJob(second, { exclusive: false })).toEqual({ created: true });
      expect(await store.createJob(makeJob(spec), { exclusive: true })).toEqual({ created: false, duplicateOf: second.id });

      await store.changeJob(second.id, { state: 'SUCCESS', timestamp: T0 + 10 });
      expect(await store.createJob(makeJob(spec), { exclusive: true })).toEqual({ created: false, duplicateOf: first.id });

      await store.changeJob(first.id, { state: 'RUNNING', timestamp: T0 + 11 });
      await store.changeJob(first.id, { state: 'FAILURE', timestamp: T0 + 12 });
      const third = makeJob(spec);
      expect(await store.createJob(third, { exclusive: true })).toEqual({ created: true });
      expect(await store.createJob(makeJob(spec), { exclusive: true })).toEqual({ created: false, duplicateOf: third.id });
    });
  });

  describe('changing a job', () => {
    it('moves the state, sets the given fields and records an update', async () => {
      const store = await open();
      const job = makeJob({ createdAt: T0 });
      await store.createJob(job, { exclusive: false });

      const outcome = await store.changeJob(job.id, {
        eventId: 'ev-1',
        state: 'RUNNING',
        expectStates: ['IN_QUEUE'],
        status: 'Your job is running',
        startedAt: T0 + 5_000,
        expiresAt: T0 + 3_605_000,
        providerGeneratedId: 'pid-77',
        timestamp: T0 + 5_000,
      });
      const expected: Job = {
        ...job,
        state: 'RUNNING',
        startedAt: T0 + 5_000,
        expiresAt: T0 + 3_605_000,
        providerGeneratedId: 'pid-77',
        updates: [{ state: 'RUNNING', status: 'Your job is running', newTimeAllocation: null, timestamp: T0 + 5_000 }],
      };
      expect(outcome).toStrictEqual({ kind: 'applied', moved: true, job: expected });
      expect(await store.getJob(job.id)).toStrictEqual(expected);
    });

    it('applies a change that does not move the state, recording an update only for a status or an extension', async () => {
      const store = await open();
      const job = makeJob({ createdAt: T0, state: 'RUNNING' });
      await store.createJob(job, { exclusive: false });

      const status = await store.changeJob(job.id, { status: 'Still running', timestamp: T0 + 1 });
      expect(status).toMatchObject({ kind: 'applied', moved: false });

      const sameState = await store.changeJob(job.id, { state: 'RUNNING', newTimeAllocation: 600_000, timestamp: T0 + 2 });
      expect(sameState).toMatchObject({ kind: 'applied', moved: false });

      const silent = await store.changeJob(job.id, { exitCode: 0, expiresAt: T0 + 9_000, timestamp: T0 + 3 });
      expect(silent).toMatchObject({ kind: 'applied', moved: false });

      expect(await store.getJob(job.id)).toStrictEqual({
        ...job,
        exitCode: 0,
        expiresAt: T0 + 9_000,
        updates: [
          { state: null, status: 'Still running', newTimeAllocation: null, timestamp: T0 + 1 },
          { state: null, status: null, newTimeAllocation: 600_000, timestamp: T0 + 2 },
        ],
      });
    });

    it('applies an event id once: a replay changes nothing', async () => {
      const store = await open();
      const job = makeJob();
      await store.createJob(job, { exclusive: false });
      const change = { eventId: 'ev-start', state: 'RUNNING' as const, status: 'Started', timestamp: T0 };
      const applied = await store.changeJob(job.id, change);
      expect(applied.kind).toBe('applied');

      const replay = await store.changeJob(job.id, { ...change, state: 'SUCCESS', status: 'Replayed' });
      expect(replay).toStrictEqual({ kind: 'duplicate', job: applied.kind === 'applied' ? applied.job : null });
      expect((await store.getJob(job.id))!.updates).toHaveLength(1);

      // The same event id on another job is a different event.
      const other = makeJob();
      await store.createJob(other, { exclusive: false });
      expect(await store.changeJob(other.id, change)).toMatchObject({ kind: 'applied', moved: true });
    });

    it('refuses a change when the job is not in an expected state, and the refusal does not use up the event id', async () => {
      const store = await open();
      const job = makeJob({ state: 'RUNNING' });
      await store.createJob(job, { exclusive: false });

      const refused = await store.changeJob(job.id, {
        eventId: 'ev-suspend',
        state: 'SUSPENDED',
        expectStates: ['IN_QUEUE', 'SUSPENDED'],
        status: 'Suspending',
        timestamp: T0,
      });
      expect(refused).toStrictEqual({ kind: 'refused', job, reason: 'job is RUNNING, expected IN_QUEUE or SUSPENDED' });
      expect(await store.getJob(job.id)).toStrictEqual(job);

      const retried = await store.changeJob(job.id, { eventId: 'ev-suspend', state: 'SUSPENDED', expectStates: ['RUNNING'], timestamp: T0 });
      expect(retried).toMatchObject({ kind: 'applied', moved: true, job: { state: 'SUSPENDED' } });
    });

    it('refuses a move the transition table does not allow', async () => {
      const store = await open();
      const job = makeJob({ state: 'CANCELING' });
      await store.createJob(job, { exclusive: false });
      const refused = await store.changeJob(job.id, { state: 'RUNNING', status: 'Back to work', timestamp: T0 });
      expect(refused).toStrictEqual({ kind: 'refused', job, reason: 'job is CANCELING, cannot become RUNNING' });
      expect(await store.getJob(job.id)).toStrictEqual(job);
    });

    it('never changes a final state, even when the caller expects it', async () => {
      const store = await open();
      const job = makeJob();
      await store.createJob(job, { exclusive: false });
      await store.changeJob(job.id, { state: 'SUCCESS', exitCode: 3, status: 'Exited with 3', timestamp: T0 });
      const done = (await store.getJob(job.id))!;

      for (const state of ['RUNNING', 'FAILURE', 'EXPIRED', 'IN_QUEUE'] as const) {
        const outcome = await store.changeJob(job.id, { state, expectStates: ['SUCCESS'], timestamp: T0 + 1 });
        expect(outcome).toStrictEqual({ kind: 'refused', job: done, reason: `job is SUCCESS, cannot become ${state}` });
      }
      // Saying the state it already has is no move.
      expect(await store.changeJob(job.id, { state: 'SUCCESS', timestamp: T0 + 2 })).toStrictEqual({
        kind: 'applied',
        moved: false,
        job: done,
      });
      expect(await store.getJob(job.id)).toStrictEqual(done);
    });

    it('says a job it does not know is missing', async () => {
      const store = await open();
      expect(await store.changeJob('0190aaaa-0000-7000-8000-000000000000', { state: 'RUNNING', timestamp: T0 })).toEqual({
        kind: 'missing',
      });
    });

    it('lets exactly one of many concurrent conflicting changes win', async () => {
      const store = await open();
      const job = makeJob({ state: 'RUNNING', providerId: 'hpc' });
      await store.createJob(job, { exclusive: false });

      const outcomes = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.changeJob(job.id, {
            eventId: `finish-${i}`,
            state: i % 2 === 0 ? 'SUCCESS' : 'FAILURE',
            expectStates: ['RUNNING'],
            status: `finished by ${i}`,
            timestamp: T0 + i,
          }),
        ),
      );
      const applied = outcomes.filter((outcome) => outcome.kind === 'applied');
      expect(applied).toHaveLength(1);
      expect(applied[0]).toMatchObject({ moved: true });
      expect(outcomes.filter((outcome) => outcome.kind === 'refused')).toHaveLength(19);

      const final = (await store.getJob(job.id))!;
      expect(isFinalState(final.state)).toBe(true);
      expect(final.updates.filter((update) => update.state !== null && isFinalState(update.state))).toHaveLength(1);
      expect(await store.activeJobIds('hpc')).toEqual([]);
      const counts = await store.countJobs();
      expect(counts.find((c) => c.state === final.state)?.count).toBe(1);
      expect(counts.find((c) => c.state === 'RUNNING')?.count).toBe(0);
    });

    it('applies one of many concurrent deliveries of the same event', async () => {
      const store = await open();
      const job = makeJob({ state: 'RUNNING' });
      await store.createJob(job, { exclusive: false });
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, () => store.changeJob(job.id, { eventId: 'ev-once', status: 'Progress 50%', timestamp: T0 })),
      );
      expect(outcomes.filter((outcome) => outcome.kind === 'applied')).toHaveLength(1);
      expect(outcomes.filter((outcome) => outcome.kind === 'duplicate')).toHaveLength(9);
      expect((await store.getJob(job.id))!.updates).toHaveLength(1);
    });

    it('keeps active job ids and counts per provider and state in step with the moves', async () => {
      const store = await open();
      const hpcJob = (i: number) => makeJob({ providerId: 'hpc', createdAt: T0 + i });
      const [a, b, c] = [hpcJob(0), hpcJob(1), hpcJob(2)];
      const d = makeJob({ providerId: 'local', createdAt: T0 + 3 });
      for (const job of [c, a, d, b]) await store.createJob(job, { exclusive: false });
      expect(await store.activeJobIds('hpc')).toEqual([a.id, b.id, c.id]);
      expect(await store.activeJobIds('nowhere')).toEqual([]);

      await store.changeJob(a.id, { state: 'RUNNING', timestamp: T0 });
      await store.changeJob(b.id, { state: 'SUCCESS', timestamp: T0 });
      await store.changeJob(a.id, { state: 'SUSPENDED', timestamp: T0 });
      expect(await store.activeJobIds('hpc')).toEqual([a.id, c.id]);
      await store.changeJob(a.id, { state: 'EXPIRED', timestamp: T0 });
      await store.changeJob(a.id, { state: 'RUNNING', timestamp: T0 }); // refused: final

      expect(await store.activeJobIds('hpc')).toEqual([c.id]);
      expect(await store.activeJobIds('local')).toEqual([d.id]);
      // A pair once counted stays listed at 0, so a metric falls to 0 rather than going stale.
      expect(await store.countJobs()).toEqual([
        { providerId: 'hpc', state: 'IN_QUEUE', count: 1 },
        { providerId: 'hpc', state: 'RUNNING', count: 0 },
        { providerId: 'hpc', state: 'SUCCESS', count: 1 },
        { providerId: 'hpc', state: 'EXPIRED', count: 1 },
        { providerId: 'hpc', state: 'SUSPENDED', count: 0 },
        { providerId: 'local', state: 'IN_QUEUE', count: 1 },
      ]);
    });
  });

  describe('the charging index', () => {
    const run = (job: Job, timestamp: number) => ({
      state: 'RUNNING' as const,
      expectStates: ['IN_QUEUE' as const],
      startedAt: timestamp,
      timestamp,
    });

    it('makes a job due when it moves into a charged state and forgets it when it ends, with what a round needs of it', async () => {
      const store = await open();
      const job = makeJob({ createdAt: T0, owner: { createdBy: 'alice', project: 'lab' } });
      await store.createJob(job, { exclusive: false });
      expect(await store.dueCharges(T0 + 60_000)).toEqual([]);

      await store.changeJob(job.id, run(job, T0 + 1_000));
      expect(await store.dueCharges(T0 + 999)).toEqual([]);
      expect(await store.dueCharges(T0 + 1_000)).toEqual([job.id]);
      const [record] = await store.chargeRecords([job.id]);
      expect(record!.job).toStrictEqual({
        id: job.id,
        owner: { createdBy: 'alice', project: 'lab' },
        providerId: 'local',
        state: 'RUNNING',
        startedAt: T0 + 1_000,
        specification: { product: { id: 'cpu-1' }, replicas: job.specification.replicas },
        updates: [{ state: 'RUNNING', timestamp: T0 + 1_000 }],
      });

      await store.changeJob(job.id, { state: 'SUCCESS', timestamp: T0 + 2_000 });
      expect(await store.dueCharges(T0 + 60_000)).toEqual([]);
      expect(await store.chargeRecords([job.id, 'no-such-job'])).toEqual([null, null]);
    });

    it('schedules a job only at the version read: one that moved meanwhile stays due, a new status alone changes nothing', async () => {
      const store = await open();
      const [a, b] = [makeJob({ createdAt: T0 }), makeJob({ createdAt: T0 + 1 })];
      for (const job of [a, b]) {
        await store.createJob(job, { exclusive: false });
        await store.changeJob(job.id, run(job, T0 + 1_000));
      }
      const [readA, readB] = await store.chargeRecords([a.id, b.id]);
      await store.changeJob(a.id, { status: 'Still running', timestamp: T0 + 1_200 });
      await store.changeJob(b.id, { state: 'SUSPENDED', timestamp: T0 + 1_500 });
      await store.scheduleCharges([
        { id: a.id, version: readA!.version, dueAt: T0 + 61_001 },
        { id: b.id, version: readB!.version, dueAt: T0 + 61_001 },
      ]);
      expect(await store.dueCharges(T0 + 61_000)).toEqual([b.id]);
      expect(await store.dueCharges(T0 + 61_001)).toEqual([b.id, a.id]);

      // Not due while suspended (null), due again at the moment it resumes.
      const [again] = await store.chargeRecords([a.id]);
      await store.changeJob(a.id, { state: 'SUSPENDED', timestamp: T0 + 2_000 });
      const [suspended] = await store.chargeRecords([a.id]);
      expect(suspended!.version).not.toBe(again!.version);
      await store.scheduleCharges([{ id: a.id, version: suspended!.version, dueAt: null }]);
      expect(await store.dueCharges(T0 + 10 * 60_000)).toEqual([b.id]);
      await store.changeJob(a.id, { state: 'RUNNING', timestamp: T0 + 5 * 60_000 });
      expect(await store.dueCharges(T0 + 10 * 60_000)).toEqual([b.id, a.id]);
      const [resumed] = await store.chargeRecords([a.id]);
      expect(resumed!.job.updates.map(({ state }) => state)).toEqual(['RUNNING', 'SUSPENDED', 'RUNNING']);
    });

    it('makes due a job stored in a charged state, and a repair adds nothing the index already holds', async () => {
      const store = await open();
      const job = makeJob({
        createdAt: T0,
        state: 'RUNNING',
        startedAt: T0,
        updates: [{ state: 'RUNNING', status: null, newTimeAllocation: null, timestamp: T0 }],
      });
      await store.createJob(job, { exclusive: false });
      expect(await store.dueCharges(T0)).toEqual([job.id]);
      expect(await store.repairCharges()).toBe(0);
    });
  });

  describe('failover', () => {
    const toCloud = { providerId: 'cloud', product: { id: 'gpu-2', category: 'gpu' } };

    /** What `job` should read as once moved to the cloud provider at `timestamp`. */
    function movedToCloud(job: Job, status: string, timestamp: number): Job {
      return {
        ...job,
        providerId: 'cloud',
        specification: { ...job.specification, product: { id: 'gpu-2', category: 'gpu', provider: 'cloud' } },
        updates: [...job.updates, { state: null, status, newTimeAllocation: null, timestamp }],
      };
    }

    /** The ids `query` lists, all on one page. */
    async function listed(store: Store, query: Omit<JobQuery, 'order' | 'first'>): Promise<string[]> {
      return (await store.listJobs({ ...query, order: 'ASC', first: 100 })).jobs.map((job) => job.id);
    }

    it('refuses a change from a provider the job has left, and applies one from where it is now', async () => {
      const store = await open();
      const job = makeJob({ providerId: 'hpc', owner: { createdBy: 'alice', project: null } });
      await store.createJob(job, { exclusive: false });
      await store.reassignJob(job.id, { from: 'hpc', to: toCloud, status: 'moved', timestamp: T0 + 1 });
      const stale = await store.changeJob(job.id, { expectProvider: 'hpc', state: 'RUNNING', eventId: 'e1', timestamp: T0 + 2 });
      expect(stale.kind).toBe('refused');
      expect(stale.kind === 'refused' && stale.job.providerId).toBe('cloud');
      const fresh = await store.changeJob(job.id, { expectProvider: 'cloud', state: 'RUNNING', eventId: 'e1', timestamp: T0 + 3 });
      expect(fresh.kind === 'applied' && fresh.job.state).toBe('RUNNING');
      expect(await store.activeJobIds('cloud')).toEqual([job.id]);
      expect(await store.changeJob('missing-job', { expectProvider: 'cloud', status: 'x', timestamp: T0 })).toEqual({ kind: 'missing' });
    });

    it('forgets a job its provider refused, from every index, and keeps one that moved on', async () => {
      const store = await open();
      const owner = { createdBy: 'dora', project: null };
      const refused = makeJob({ providerId: 'hpc', owner, specHash: 'same' });
      const started = makeJob({ providerId: 'hpc', owner, specHash: 'other' });
      await store.createJob(refused, { exclusive: true });
      await store.createJob(started, { exclusive: true });
      await store.changeJob(started.id, { expectProvider: 'hpc', state: 'RUNNING', eventId: 'e1', timestamp: T0 + 1 });
      expect(await store.discardJob(refused.id, 'cloud')).toBe(false);
      expect(await store.discardJob(started.id, 'hpc')).toBe(false);
      expect(await store.discardJob(refused.id, 'hpc')).toBe(true);
      expect(await store.discardJob(refused.id, 'hpc')).toBe(false);
      expect(await store.getJob(refused.id)).toBeNull();
      expect(await listed(store, { createdBy: 'dora' })).toEqual([started.id]);
      expect(await listed(store, { states: ['IN_QUEUE'], providers: ['hpc'] })).toEqual([]);
      expect(await store.activeJobIds('hpc')).toEqual([started.id]);
      expect((await store.countJobs()).filter((row) => row.providerId === 'hpc' && row.count !== 0)).toEqual([
        { providerId: 'hpc', state: 'RUNNING', count: 1 },
      ]);
      // Its duplicate guard is gone with it: the same specification may be sent again.
      expect(await store.createJob({ ...makeJob({ providerId: 'hpc', owner, specHash: 'same' }) }, { exclusive: true })).toEqual({ created: true });
    });

    it('moves a job no provider accepted to another provider and product, under every index', async () => {
      const store = await open();
      const job = makeJob({
        providerId: 'hpc',
        owner: { createdBy: 'alice', project: null },
        updates: [{ state: 'IN_QUEUE', status: 'Queued at hpc', newTimeAllocation: null, timestamp: T0 }],
      });
      const stays = makeJob({ providerId: 'hpc', owner: { createdBy: 'alice', project: null } });
      for (const j of [job, stays]) await store.createJob(j, { exclusive: false });

      const moved = movedToCloud(job, 'hpc unavailable: moved to cloud', T0 + 5);
      expect(
        await store.reassignJob(job.id, { from: 'hpc', to: toCloud, status: 'hpc unavailable: moved to cloud', timestamp: T0 + 5 }),
      ).toStrictEqual({ kind: 'applied', job: moved, moved: false });

      expect(await store.getJob(job.id)).toStrictEqual(moved);
      expect(await store.getJobs([stays.id, job.id])).toStrictEqual([stays, moved]);
      expect(await listed(store, { providers: ['cloud'] })).toEqual([job.id]);
      expect(await listed(store, { providers: ['hpc'] })).toEqual([stays.id]);
      expect(await listed(store, { providers: ['cloud'], states: ['IN_QUEUE'] })).toEqual([job.id]);
      expect(await listed(store, { providers: ['hpc'], states: ['IN_QUEUE'] })).toEqual([stays.id]);
      expect(await listed(store, { createdBy: 'alice', providers: ['cloud'] })).toEqual([job.id]);
      expect(await listed(store, { createdBy: 'alice', states: ['IN_QUEUE'] })).toEqual([job.id, stays.id].sort());
      expect(await store.activeJobIds('cloud')).toEqual([job.id]);
      expect(await store.activeJobIds('hpc')).toEqual([stays.id]);
      expect(await store.countJobs()).toEqual([
        { providerId: 'cloud', state: 'IN_QUEUE', count: 1 },
        { providerId: 'hpc', state: 'IN_QUEUE', count: 1 },
      ]);
    });

    it('keeps a moved job in step under its new provider as it runs and ends', async () => {
      const store = await open();
      const job = makeJob({ providerId: 'hpc' });
      await store.createJob(job, { exclusive: false });
      // Seen once at hpc, as a gateway sees its jobs before a failover.
      await store.changeJob(job.id, { status: 'Waiting for hpc', timestamp: T0 });

      await store.reassignJob(job.id, { from: 'hpc', to: toCloud, status: 'moved', timestamp: T0 + 1 });
      expect(await store.changeJob(job.id, { state: 'RUNNING', timestamp: T0 + 2 })).toMatchObject({ kind: 'applied', moved: true });
      expect(await listed(store, { providers: ['cloud'], states: ['RUNNING'] })).toEqual([job.id]);
      expect(await listed(store, { providers: ['hpc'], states: ['RUNNING'] })).toEqual([]);
      expect(await store.activeJobIds('cloud')).toEqual([job.id]);
      expect(await store.changeJob(job.id, { state: 'SUCCESS', timestamp: T0 + 3 })).toMatchObject({ kind: 'applied', moved: true });

      const done = (await store.getJob(job.id))!;
      expect(done).toMatchObject({ state: 'SUCCESS', providerId: 'cloud' });
      expect(await listed(store, { providers: ['cloud'], states: ['SUCCESS'] })).toEqual([job.id]);
      expect(await listed(store, { states: ['SUCCESS'] })).toEqual([job.id]);
      expect(await listed(store, { providers: ['cloud'], states: ['IN_QUEUE', 'RUNNING'] })).toEqual([]);
      expect(await listed(store, { providers: ['hpc'] })).toEqual([]);
      expect(await listed(store, { providers: ['hpc'], states: ['IN_QUEUE', 'RUNNING', 'SUCCESS'] })).toEqual([]);
      expect(await store.activeJobIds('cloud')).toEqual([]);
      expect(await store.activeJobIds('hpc')).toEqual([]);
      expect(await store.countJobs()).toEqual([
        { providerId: 'cloud', state: 'IN_QUEUE', count: 0 },
        { providerId: 'cloud', state: 'RUNNING', count: 0 },
        { providerId: 'cloud', state: 'SUCCESS', count: 1 },
        { providerId: 'hpc', state: 'IN_QUEUE', count: 0 },
      ]);
      // Final, so no longer an active duplicate of its creator's spec.
      expect(await store.createJob(makeJob({ specHash: job.specHash }), { exclusive: true })).toEqual({ created: true });
    });

    it('applies a change sent right after a move, before the move answers, under the new provider', async () => {
      const store = await open();
      const job = makeJob({ providerId: 'hpc' });
      await store.createJob(job, { exclusive: false });
      const [move, change] = await Promise.all([
        store.reassignJob(job.id, { from: 'hpc', to: toCloud, status: 'moved', timestamp: T0 }),
        store.changeJob(job.id, { state: 'RUNNING', expectStates: ['IN_QUEUE'], timestamp: T0 + 1 }),
      ]);
      expect(move).toMatchObject({ kind: 'applied' });
      expect(change).toMatchObject({ kind: 'applied', moved: true, job: { providerId: 'cloud', state: 'RUNNING' } });
      expect(await listed(store, { providers: ['cloud'], states: ['RUNNING'] })).toEqual([job.id]);
      expect(await store.countJobs()).toEqual([
        { providerId: 'cloud', state: 'IN_QUEUE', count: 0 },
        { providerId: 'cloud', state: 'RUNNING', count: 1 },
        { providerId: 'hpc', state: 'IN_QUEUE', count: 0 },
      ]);
    });

    it('refuses to move a job a provider has accepted, or one no longer at the provider named', async () => {
      const store = await open();
      const running = makeJob({ providerId: 'hpc', state: 'RUNNING' });
      const queued = makeJob({ providerId: 'hpc' });
      for (const job of [running, queued]) await store.createJob(job, { exclusive: false });
      const move = { to: toCloud, status: 'moved', timestamp: T0 };

      expect(await store.reassignJob(running.id, { ...move, from: 'hpc' })).toStrictEqual({
        kind: 'refused',
        job: running,
        reason: 'job is RUNNING, not IN_QUEUE',
      });
      expect(await store.reassignJob(queued.id, { ...move, from: 'local' })).toStrictEqual({
        kind: 'refused',
        job: queued,
        reason: 'job is at hpc, not local',
      });
      expect(await store.getJobs([running.id, queued.id])).toStrictEqual([running, queued]);
      expect(await store.activeJobIds('hpc')).toEqual([running.id, queued.id].sort());
      expect(await store.activeJobIds('cloud')).toEqual([]);
      expect(await store.countJobs()).toEqual([
        { providerId: 'hpc', state: 'IN_QUEUE', count: 1 },
        { providerId: 'hpc', state: 'RUNNING', count: 1 },
      ]);
    });

    it('says a job it does not know is missing when asked to move it', async () => {
      const store = await open();
      expect(await store.reassignJob('0190aaaa-0000-7000-8000-000000000000', { from: 'hpc', to: toCloud, status: 'moved', timestamp: T0 })).toEqual({
        kind: 'missing',
      });
      expect(await store.countJobs()).toEqual([]);
    });

    it('moves a job only once when two failovers race from the same provider', async () => {
      const store = await open();
      const job = makeJob({ providerId: 'hpc' });
      await store.createJob(job, { exclusive: false });
      const toLocal = { providerId: 'local', product: { id: 'cpu-1', category: 'cpu' } };
      const outcomes = await Promise.all(
        [toCloud, toLocal].map((to) => store.reassignJob(job.id, { from: 'hpc', to, status: `moved to ${to.providerId}`, timestamp: T0 })),
      );
      const applied = outcomes.filter((outcome) => outcome.kind === 'applied');
      expect(applied).toHaveLength(1);
      const winner = applied[0]!.job.providerId;
      const loser = winner === 'cloud' ? 'local' : 'cloud';
      expect(outcomes.find((outcome) => outcome.kind === 'refused')).toMatchObject({
        reason: `job is at ${winner}, not hpc`,
        job: { providerId: winner },
      });

      const stored = (await store.getJob(job.id))!;
      expect(stored).toMatchObject({ providerId: winner, specification: { product: { provider: winner } } });
      expect(stored.updates).toEqual([{ state: null, status: `moved to ${winner}`, newTimeAllocation: null, timestamp: T0 }]);
      expect(await store.activeJobIds(winner)).toEqual([job.id]);
      expect(await store.activeJobIds(loser)).toEqual([]);
      expect(await store.activeJobIds('hpc')).toEqual([]);
      expect(await listed(store, { providers: [winner, loser, 'hpc'] })).toEqual([job.id]);
      expect((await store.countJobs()).filter((c) => c.count !== 0)).toEqual([{ providerId: winner, state: 'IN_QUEUE', count: 1 }]);
    });
  });

  describe('listing jobs', () => {
    const creators = ['alice', 'bob', 'team:ops/α'];
    const providers = ['local', 'hpc'];

    /** 40 jobs a second apart, created out of order, in every kind of state. */
    async function seed(store: Store): Promise<Job[]> {
      const jobs = Array.from({ length: 40 }, (_, i) =>
        makeJob({
          createdAt: T0 + i * 1000,
          owner: { createdBy: creators[i % 3]!, project: null },
          providerId: providers[(i >> 1) % 2]!,
          specification: makeSpecification({ tags: i % 5 === 0 ? ['gpu'] : [], name: [null, 'train', 'eval'][(i >> 2) % 3]! }),
        }),
      );
      const order = jobs.map((_, i) => (i * 17) % 40);
      for (const i of order) expect(await store.createJob(jobs[i]!, { exclusive: false })).toEqual({ created: true });
      for (const [i, job] of jobs.entries()) {
        const path: JobState[] = [[], ['RUNNING'], ['RUNNING', 'SUCCESS'], ['FAILURE']][i % 4] as JobState[];
        for (const state of path) await store.changeJob(job.id, { state, timestamp: T0 + 100_000 });
      }
      return (await store.getJobs(jobs.map((job) => job.id))) as Job[];
    }

    /** Follows endCursor to the end, checking every page against the whole. */
    async function allPages(store: Store, query: Omit<JobQuery, 'after'>): Promise<{ ids: string[]; totals: number[] }> {
      const ids: string[] = [];
      const totals: number[] = [];
      let after: string | undefined;
      for (let pages = 0; pages < 100; pages++) {
        const page = await store.listJobs({ ...query, after });
        expect(page.jobs.length).toBeLessThanOrEqual(query.first);
        ids.push(...page.jobs.map((job) => job.id));
        totals.push(page.totalCount);
        if (!page.hasNextPage) {
          if (page.jobs.length === 0) expect(page.endCursor).toBeNull();
          return { ids, totals };
        }
        expect(page.jobs).toHaveLength(query.first);
        after = page.endCursor!;
      }
      throw new Error('pagination did not end');
    }

    it('orders jobs by creation, oldest or newest first', async () => {
      const store = await open();
      const jobs = await seed(store);
      const oldestFirst = [...jobs].sort((a, b) => a.createdAt - b.createdAt);
      const asc = await store.listJobs({ order: 'ASC', first: 100 });
      expect(asc.jobs).toStrictEqual(oldestFirst);
      expect(asc).toMatchObject({ totalCount: 40, hasNextPage: false });
      const desc = await store.listJobs({ order: 'DESC', first: 100 });
      expect(desc.jobs).toStrictEqual([...oldestFirst].reverse());
    });

    it('pages through every matching job exactly once, with exact totals, for every kind of filter', async () => {
      const store = await open();
      const jobs = await seed(store);
      const gpu = (job: Job) => job.specification.tags.includes('gpu');
      const queries: Omit<JobQuery, 'order' | 'first'>[] = [
        {},
        { createdBy: 'alice' },
        { createdBy: 'team:ops/α' },
        { createdBy: 'nobody' },
        { states: ['RUNNING'] },
        { states: ['RUNNING', 'SUCCESS'] },
        { states: [] },
        { createdBy: 'bob', states: ['IN_QUEUE', 'FAILURE'] },
        { providers: ['hpc'] },
        { providers: ['hpc', 'local'], states: ['SUCCESS', 'IN_QUEUE'] },
        { createdBy: 'alice', providers: ['local'] },
        { createdBy: 'bob', providers: ['hpc'], states: ['RUNNING', 'SUCCESS'] },
        { createdAfter: T0 + 10_000, createdBefore: T0 + 30_000 },
        { createdAfter: T0 + 9_500 },
        { createdBefore: T0 },
        { createdBy: 'alice', states: ['SUCCESS', 'FAILURE'], createdAfter: T0 + 3_000, createdBefore: T0 + 33_000 },
        { predicate: gpu },
        { createdBy: 'alice', predicate: gpu, createdAfter: T0 + 1 },
        { states: ['IN_QUEUE'], providers: ['local'], predicate: (job) => job.createdAt % 2000 === 0 },
        { createdBy: 'alice', name: 'train' },
        { createdBy: 'bob', name: 'eval', states: ['RUNNING', 'IN_QUEUE'], providers: ['hpc'] },
        { createdBy: 'team:ops/α', name: 'eval', predicate: gpu, createdAfter: T0 + 1 },
        { createdBy: 'alice', name: 'nothing' },
        { name: 'train' },
        { name: 'eval', states: ['SUCCESS'] },
      ];
      const oldestFirst = [...jobs].sort((a, b) => (a.id < b.id ? -1 : 1));
      for (const filter of queries) {
        const expected = oldestFirst
          .filter(
            (job) =>
              (filter.createdBy === undefined || job.owner.createdBy === filter.createdBy) &&
              (filter.name === undefined || job.specification.name === filter.name) &&
              (!filter.states?.length || filter.states.includes(job.state)) &&
              (!filter.providers?.length || filter.providers.includes(job.providerId)) &&
              (filter.createdAfter === undefined || job.createdAt >= filter.createdAfter) &&
              (filter.createdBefore === undefined || job.createdAt < filter.createdBefore) &&
              (filter.predicate === undefined || filter.predicate(job)),
          )
          .map((job) => job.id);
        for (const order of ['ASC', 'DESC'] as const) {
          const { ids, totals } = await allPages(store, { ...filter, order, first: 4 });
          const context = `${JSON.stringify(filter)} ${order}`;
          expect(ids, context).toEqual(order === 'ASC' ? expected : [...expected].reverse());
          expect(new Set(totals), context).toEqual(new Set([expected.length]));
        }
      }
      // Sanity of the seed: each filter above had something to find or exclude.
      expect(jobs.filter((job) => job.state === 'SUCCESS')).toHaveLength(10);
      expect(jobs.filter((job) => job.owner.createdBy === 'alice' && job.specification.name === 'train').length).toBeGreaterThan(1);
    });

    it("forgets a discarded job from its creator's jobs of its name", async () => {
      const store = await open();
      const jobs = await seed(store);
      const target = jobs.find((job) => job.owner.createdBy === 'bob' && job.specification.name === 'train' && job.state === 'IN_QUEUE')!;
      const named = async () => (await store.listJobs({ createdBy: 'bob', name: 'train', order: 'ASC', first: 50 })).jobs.map((job) => job.id);
      expect(await named()).toContain(target.id);
      expect(await store.discardJob(target.id, target.providerId)).toBe(true);
      const rest = jobs.filter((job) => job.owner.createdBy === 'bob' && job.specification.name === 'train' && job.id !== target.id);
      expect(await named()).toEqual(rest.map((job) => job.id).sort());
    });

    it('sees a job under its new state as soon as the state moves', async () => {
      const store = await open();
      const job = makeJob({ owner: { createdBy: 'alice', project: null } });
      await store.createJob(job, { exclusive: false });
      await store.changeJob(job.id, { state: 'RUNNING', timestamp: T0 });
      const running = await store.listJobs({ createdBy: 'alice', states: ['RUNNING'], order: 'DESC', first: 10 });
      expect(running.jobs.map((j) => j.id)).toEqual([job.id]);
      expect(running.jobs[0]?.state).toBe('RUNNING');
      const queued = await store.listJobs({ createdBy: 'alice', states: ['IN_QUEUE'], order: 'DESC', first: 10 });
      expect(queued).toStrictEqual({ jobs: [], endCursor: null, hasNextPage: false, totalCount: 0 });
    });

    it('rejects a cursor it did not make', async () => {
      const store = await open();
      await expect(store.listJobs({ order: 'ASC', first: 10, after: '!!not a cursor' })).rejects.toMatchObject({
        code: 'INVALID_INPUT',
      });
    });
  });

  describe('listing what a viewer may see (job sources)', () => {
    /**
     * Two projects and personal jobs, a second apart and created out of order: lab (PI pia,
     * ADMIN ada, USERs uma in group gpu and rita), ops (USERs uma and ada). Some ACLs name a user,
     * a group, or both a user and her group, so the sources overlap.
     */
    const lab = (members: ProjectRecord['members'], groups: ProjectRecord['groups'] = [{ name: 'gpu', members: ['uma'] }]) =>
      labProject(members, groups);
    const labMembers: ProjectRecord['members'] = [
      { username: 'pia', role: 'PI', addedAt: T0 },
      { username: 'ada', role: 'ADMIN', addedAt: T0 },
      { username: 'uma', role: 'USER', addedAt: T0 },
      { username: 'rita', role: 'USER', addedAt: T0 },
    ];
    const ops: ProjectRecord = {
      ...lab([
        { username: 'ops-pi', role: 'PI', addedAt: T0 },
        { username: 'uma', role: 'USER', addedAt: T0 },
        { username: 'ada', role: 'USER', addedAt: T0 },
      ]),
      id: 'ops',
      title: 'Ops',
      groups: [],
    };
    const creators = ['uma', 'rita', 'pia', 'ada', 'uma', 'stranger'];
    const acls: Job['acl'][] = [
      [],
      [{ entity: 'rita', permissions: ['READ'] }],
      [{ entity: 'lab/gpu', permissions: ['EDIT'] }],
      [
        { entity: 'uma', permissions: ['READ'] },
        { entity: 'lab/gpu', permissions: ['ADMIN'] },
      ],
      [{ entity: 'rita', permissions: [] }],
    ];

    async function seed(store: Store): Promise<Job[]> {
      await store.createProject(lab(labMembers));
      await store.createProject(ops);
      const jobs = Array.from({ length: 36 }, (_, i) => {
        const project = [null, 'lab', 'ops', 'lab'][i % 4]!;
        const createdBy = project === 'ops' ? (['uma', 'ada', 'ops-pi'][i % 3] as string) : creators[(i >> 1) % creators.length]!;
        return makeJob({
          createdAt: T0 + i * 1000,
          owner: { createdBy, project },
          providerId: i % 3 === 0 ? 'hpc' : 'local',
          acl: project === null ? [] : acls[i % acls.length]!,
          specification: makeSpecification({ name: i % 5 < 2 ? 'train' : null }),
        });
      });
      for (const i of jobs.map((_, i) => (i * 13) % 36)) expect(await store.createJob(jobs[i]!, { exclusive: false })).toEqual({ created: true });
      for (const [i, job] of jobs.entries()) if (i % 3 === 1) await store.changeJob(job.id, { state: 'RUNNING', timestamp: T0 + 100_000 });
      return (await store.getJobs(jobs.map((job) => job.id))) as Job[];
    }

    const viewerIn = async (store: Store, username: string, admin = false) => viewerOf({ username, admin }, await store.membershipsOf(username));

    /** What the listing must hold, read from canSee job by job: the contract the indexes stand in for. */
    const expectedFor = (jobs: Job[], viewer: Viewer, project: string | null) =>
      jobs
        .filter(
          (job) =>
            (project === null ? viewer.admin || job.owner.createdBy === viewer.username : job.owner.project === project) && canSee(viewer, job),
        )
        .map((job) => job.id)
        .sort();

    /** Follows endCursor to the end, `first` at a time; every page's totalCount and the ids in order. */
    async function pages(store: Store, query: Omit<JobQuery, 'after'>): Promise<{ ids: string[]; totals: Set<number> }> {
      const ids: string[] = [];
      const totals = new Set<number>();
      let after: string | undefined;
      for (let n = 0; n < 100; n++) {
        const page = await store.listJobs({ ...query, after });
        ids.push(...page.jobs.map((job) => job.id));
        totals.add(page.totalCount);
        if (!page.hasNextPage) return { ids, totals };
        expect(page.jobs).toHaveLength(query.first);
        after = page.endCursor!;
      }
      throw new Error('pagination did not end');
    }

    async function expectListing(store: Store, viewer: Viewer, project: string | null, jobs: Job[], filter: Omit<JobQuery, 'order' | 'first'> = {}) {
      const sources = visibleSources(viewer, project) ?? undefined;
      const matches = (job: Job) =>
        (!filter.states?.length || filter.states.includes(job.state)) &&
        (!filter.providers?.length || filter.providers.includes(job.providerId)) &&
        (filter.createdBy === undefined || job.owner.createdBy === filter.createdBy) &&
        (filter.name === undefined || job.specification.name === filter.name) &&
        (filter.createdAfter === undefined || job.createdAt >= filter.createdAfter) &&
        (filter.predicate === undefined || filter.predicate(job));
      const byId = new Map(jobs.map((job) => [job.id, job]));
      const expected = expectedFor(jobs, viewer, project).filter((id) => matches(byId.get(id)!));
      for (const order of ['ASC', 'DESC'] as const) {
        const { ids, totals } = await pages(store, { ...filter, sources, order, first: 3 });
        const context = `${viewer.username} in ${project ?? 'its own workspace'} ${JSON.stringify(filter)} ${order}`;
        expect(ids, context).toEqual(order === 'ASC' ? expected : [...expected].reverse());
        expect(totals, context).toEqual(new Set([expected.length]));
      }
      return expected;
    }

    it('pages through exactly the jobs each viewer may see, in order across its sources, with exact totals', async () => {
      const store = await open();
      const jobs = await seed(store);
      const filters: Omit<JobQuery, 'order' | 'first'>[] = [
        {},
        { states: ['RUNNING'] },
        { states: ['IN_QUEUE'], providers: ['hpc'] },
        { createdAfter: T0 + 10_000 },
        { createdBy: 'uma' },
        { createdBy: 'uma', name: 'train' },
        { createdBy: 'pia', name: 'train', states: ['RUNNING'] },
        { name: 'train' },
        { predicate: (job) => job.createdAt % 2000 === 0 },
      ];
      const seen = new Map<string, number>();
      for (const [username, admin] of [
        ['uma', false],
        ['rita', false],
        ['pia', false],
        ['ada', false],
        ['stranger', false],
        ['root', true],
      ] as const) {
        const viewer = await viewerIn(store, username, admin);
        for (const project of [null, 'lab', 'ops']) {
          if (project !== null && !admin && !viewer.memberships[project]) continue;
          for (const filter of filters) {
            const expected = await expectListing(store, viewer, project, jobs, filter);
            if (Object.keys(filter).length === 0) seen.set(`${username}@${project}`, expected.length);
          }
        }
      }
      // Sanity of the seed: what the viewers see differs, and sharing reaches beyond a USER's own jobs.
      expect(seen.get('uma@lab')).toBeGreaterThan(jobs.filter((job) => job.owner.project === 'lab' && job.owner.createdBy === 'uma').length);
      expect(seen.get('pia@lab')).toBe(jobs.filter((job) => job.owner.project === 'lab').length);
      expect(seen.get('rita@lab')).toBeLessThan(seen.get('pia@lab')!);
      expect(seen.get('root@null')).toBe(36);
    });

    it('drops a job from a listing when the ACL entry that shared it is revoked, and shows one it newly shares', async () => {
      const store = await open();
      const jobs = await seed(store);
      const rita = await viewerIn(store, 'rita');
      const before = await expectListing(store, rita, 'lab', jobs);
      const sharedWithRita = jobs.find(
        (job) =>
          job.owner.project === 'lab' &&
          !['rita', 'uma'].includes(job.owner.createdBy) &&
          job.acl.some((e) => e.entity === 'rita' && e.permissions.length > 0),
      )!;
      const notShared = jobs.find((job) => job.owner.project === 'lab' && job.owner.createdBy !== 'rita' && job.acl.length === 0)!;
      expect(before).toContain(sharedWithRita.id);
      expect(before).not.toContain(notShared.id);
      await store.setJobAcl(sharedWithRita.id, [{ entity: 'lab/gpu', permissions: ['READ'] }]);
      await store.setJobAcl(notShared.id, [{ entity: 'rita', permissions: ['EDIT'] }]);
      const now = (await store.getJobs(jobs.map((job) => job.id))) as Job[];
      const after = await expectListing(store, rita, 'lab', now);
      expect(after).not.toContain(sharedWithRita.id);
      expect(after).toContain(notShared.id);
      expect(after).toHaveLength(before.length);
      // The group's members see it now, and an ACL emptied shares nothing.
      const uma = await viewerIn(store, 'uma');
      expect(await expectListing(store, uma, 'lab', now)).toContain(sharedWithRita.id);
      await store.setJobAcl(sharedWithRita.id, []);
      expect(await expectListing(store, uma, 'lab', (await store.getJobs(jobs.map((job) => job.id))) as Job[])).not.toContain(sharedWithRita.id);
    });

    it('follows memberships as they are: a member removed loses its project jobs from its own listing, a USER made ADMIN sees them all', async () => {
      const store = await open();
      const jobs = await seed(store);
      const umaBefore = await expectListing(store, await viewerIn(store, 'uma'), null, jobs);
      const umaInLab = jobs.filter((job) => job.owner.createdBy === 'uma' && job.owner.project === 'lab').map((job) => job.id);
      expect(umaInLab.length).toBeGreaterThan(0);
      expect(umaBefore).toEqual(expect.arrayContaining(umaInLab));
      const without = labMembers.filter((member) => member.username !== 'uma');
      const promoted = without.map((member) => (member.username === 'rita' ? { ...member, role: 'ADMIN' as const } : member));
      expect(await store.updateProject({ ...lab(promoted, []), version: 2 }, 1)).toBe(true);
      const uma = await viewerIn(store, 'uma');
      const umaAfter = await expectListing(store, uma, null, jobs);
      expect(umaAfter).toEqual(umaBefore.filter((id) => !umaInLab.includes(id)));
      const rita = await viewerIn(store, 'rita');
      expect(await expectListing(store, rita, 'lab', jobs)).toHaveLength(jobs.filter((job) => job.owner.project === 'lab').length);
    });

    it('forgets a discarded job from every source', async () => {
      const store = await open();
      const jobs = await seed(store);
      const target = jobs.find(
        (job) => job.owner.project === 'lab' && job.owner.createdBy === 'uma' && job.state === 'IN_QUEUE' && job.acl.length > 0,
      )!;
      expect(await store.discardJob(target.id, target.providerId)).toBe(true);
      const rest = jobs.filter((job) => job.id !== target.id);
      for (const [username, project] of [
        ['uma', null],
        ['uma', 'lab'],
        ['pia', 'lab'],
        ['rita', 'lab'],
      ] as const) {
        expect(await expectListing(store, await viewerIn(store, username), project, rest)).not.toContain(target.id);
      }
    });
  });

  describe('logs', () => {
    const line = (timestamp: number, rank = 0): JobLog => ({
      rank,
      stdout: rank === 0 ? `line at ${timestamp}` : null,
      stderr: rank === 0 ? null : `error at ${timestamp}`,
      timestamp,
    });

    it('knows which job and log events it applied, and not one refused or of another job', async () => {
      const store = await open();
      const job = makeJob({ createdAt: T0 });
      await store.createJob(job, { exclusive: false });
      await store.changeJob(job.id, { eventId: 'i:1', state: 'RUNNING', timestamp: T0 + 1 });
      await store.appendLogs(job.id, [line(T0 + 2)], 'i:log:1');
      // Refused by the state machine: IN_QUEUE cannot come back after RUNNING.
      await store.changeJob(job.id, { eventId: 'i:2', state: 'IN_QUEUE', expectStates: ['IN_QUEUE'], timestamp: T0 + 3 });
      expect(await store.hasEvent(job.id, 'i:1')).toBe(true);
      expect(await store.hasEvent(job.id, 'i:log:1')).toBe(true);
      expect(await store.hasEvent(job.id, 'i:2')).toBe(false);
      expect(await store.hasEvent('job-other', 'i:1')).toBe(false);
    });

    it('keeps only the newest lines past the bound', async () => {
      const store = await open({ maxLogLinesPerJob: 5 });
      await store.appendLogs(
        'job-1',
        [1, 2, 3].map((t) => line(t)),
      );
      await store.appendLogs(
        'job-1',
        [4, 5, 6, 7].map((t) => line(t, 1)),
      );
      await store.appendLogs('job-1', []);
      expect(await store.readLogs('job-1', {})).toStrictEqual([line(3), line(4, 1), line(5, 1), line(6, 1), line(7, 1)]);
      expect(await store.readLogs('job-2', {})).toEqual([]);
    });

    it('reads lines after a time, the newest up to a limit, oldest first', async () => {
      const store = await open();
      const lines = Array.from({ length: 10 }, (_, i) => line(T0 + i, i % 2));
      await store.appendLogs('job-1', lines.slice(0, 4));
      await store.appendLogs('job-1', lines.slice(4));
      expect(await store.readLogs('job-1', {})).toStrictEqual(lines);
      expect(await store.readLogs('job-1', { since: T0 + 5 })).toStrictEqual(lines.slice(6));
      expect(await store.readLogs('job-1', { limit: 3 })).toStrictEqual(lines.slice(7));
      expect(await store.readLogs('job-1', { since: T0 + 2, limit: 2 })).toStrictEqual(lines.slice(8));
      expect(await store.readLogs('job-1', { since: T0 + 7, limit: 5 })).toStrictEqual(lines.slice(8));
      expect(await store.readLogs('job-1', { since: T0 + 9 })).toEqual([]);
      expect(await store.readLogs('job-1', { limit: 0 })).toEqual([]);
    });

    it('appends the lines of one log event once, however often the event is delivered', async () => {
      const store = await open();
      await store.appendLogs('job-1', [line(1), line(2)], 'instance:log:1');
      await store.appendLogs('job-1', [line(1), line(2)], 'instance:log:1');
      await store.appendLogs('job-1', [line(3)], 'instance:log:2');
      await store.appendLogs('job-1', [line(3)], 'instance:log:2');
      await store.appendLogs('job-2', [line(1)], 'instance:log:1');
      expect(await store.readLogs('job-1', {})).toStrictEqual([line(1), line(2), line(3)]);
      expect(await store.readLogs('job-2', {})).toStrictEqual([line(1)]);
    });

    it('keeps many lines appended at once', async () => {
      const store = await open();
      const lines = Array.from({ length: 12_000 }, (_, i) => line(T0 + i));
      await store.appendLogs('job-1', lines);
      const kept = await store.readLogs('job-1', {});
      expect(kept).toHaveLength(10_000);
      expect(kept[0]).toStrictEqual(lines[2_000]);
      expect(await store.readLogs('job-1', { since: T0 + 11_990, limit: 100 })).toStrictEqual(lines.slice(11_991));
    });
  });

  describe('jobs stored in a batch', () => {
    const recordOf = (job: Job, claim = `held-${job.id}`) => ({
      jobId: job.id,
      deadline: T0 + 5_000,
      input: { name: job.id },
      heldUntil: T0 + 60_000,
      claim,
    });

    it('stores each job of a batch with its waiting record, in the indexes a single create puts it in', async () => {
      const store = await open();
      const jobs = [
        makeJob({ createdAt: T0, specification: makeSpecification({ name: 'first' }) }),
        makeJob({ createdAt: T0 + 1, owner: { createdBy: 'bob', project: 'physics' }, providerId: 'hpc' }),
        makeJob({ createdAt: T0 + 2, state: 'SUCCESS', exitCode: 0 }),
      ];
      expect(await store.createJobs(jobs.map((job) => ({ job, exclusive: true, waiting: recordOf(job) })))).toEqual(
        jobs.map(() => ({ created: true })),
      );
      expect(await store.getJobs(jobs.map((job) => job.id))).toStrictEqual(jobs);
      expect(await store.listWaiting()).toEqual(jobs.map((job) => recordOf(job)));
      expect((await store.listJobs({ order: 'ASC', first: 10, createdBy: 'alice', name: 'first' })).jobs.map((job) => job.id)).toEqual([jobs[0]!.id]);
      expect(
        (await store.listJobs({ order: 'ASC', first: 10, sources: [{ kind: 'project', project: 'physics' }] })).jobs.map((job) => job.id),
      ).toEqual([jobs[1]!.id]);
      expect((await store.listJobs({ order: 'ASC', first: 10, states: ['SUCCESS'] })).jobs.map((job) => job.id)).toEqual([jobs[2]!.id]);
      // A final job is neither active nor a duplicate.
      expect(await store.activeJobIds('local')).toEqual([jobs[0]!.id]);
      expect(await store.countJobs()).toEqual([
        { providerId: 'hpc', state: 'IN_QUEUE', count: 1 },
        { providerId: 'local', state: 'IN_QUEUE', count: 1 },
        { providerId: 'local', state: 'SUCCESS', count: 1 },
      ]);
    });

    it('refuses a duplicate of a job earlier in the same batch, storing neither it nor its record, and stores the rest', async () => {
      const store = await open();
      const first = makeJob({ specHash: 'same-spec', createdAt: T0 });
      const duplicate = makeJob({ specHash: 'same-spec', createdAt: T0 + 1 });
      const other = makeJob({ createdAt: T0 + 2 });
      const outcomes = await store.createJobs([first, duplicate, other].map((job) => ({ job, exclusive: true, waiting: recordOf(job) })));
      expect(outcomes).toEqual([{ created: true }, { created: false, duplicateOf: first.id }, { created: true }]);
      expect(await store.getJob(duplicate.id)).toBeNull();
      expect((await store.listWaiting()).map((record) => record.jobId)).toEqual([first.id, other.id]);
      expect(await store.countJobs()).toEqual([{ providerId: 'local', state: 'IN_QUEUE', count: 2 }]);
    });

    it('stores a batch sent twice (its answer lost) once, and refuses a job whose id is taken by another', async () => {
      const store = await open();
      const jobs = Array.from({ length: 5 }, (_, i) => makeJob({ createdAt: T0 + i, specHash: `spec-${i}` }));
      const batch = jobs.map((job) => ({ job, exclusive: true, waiting: recordOf(job) }));
      expect(await store.createJobs(batch)).toEqual(jobs.map(() => ({ created: true })));
      expect(await store.createJobs(structuredClone(batch))).toEqual(jobs.map(() => ({ created: true })));
      expect((await store.listJobs({ order: 'ASC', first: 10 })).totalCount).toBe(5);
      expect(await store.countJobs()).toEqual([{ providerId: 'local', state: 'IN_QUEUE', count: 5 }]);
      const impostor = { ...jobs[0]!, specification: makeSpecification({ name: 'another' }) };
      expect(await store.createJobs([{ job: impostor, exclusive: false, waiting: recordOf(impostor, 'impostor') }])).toEqual([
        { created: false, duplicateOf: jobs[0]!.id },
      ]);
      expect(await store.getJob(jobs[0]!.id)).toStrictEqual(jobs[0]);
      expect(await store.getWaiting(jobs[0]!.id)).toEqual(recordOf(jobs[0]!));
    });

    it('sees across a batch larger than one script run: a duplicate of a job stored earlier in the call is refused', async () => {
      const store = await open();
      const jobs = Array.from({ length: 250 }, (_, i) => makeJob({ createdAt: T0 + i, specHash: i === 240 ? 'spec-3' : `spec-${i}` }));
      const outcomes = await store.createJobs(jobs.map((job) => ({ job, exclusive: true })));
      expect(outcomes.filter((outcome) => !outcome.created)).toEqual([{ created: false, duplicateOf: jobs[3]!.id }]);
      expect(outcomes[240]).toEqual({ created: false, duplicateOf: jobs[3]!.id });
      expect((await store.listJobs({ order: 'ASC', first: 1 })).totalCount).toBe(249);
      expect(await store.listWaiting()).toEqual([]);
    });

    it('swaps many waiting records in one call, each only for the caller holding its claim', async () => {
      const store = await open();
      const [a, b, c] = [makeJob({ createdAt: T0 }), makeJob({ createdAt: T0 + 1 }), makeJob({ createdAt: T0 + 2 })];
      for (const job of [a!, b!, c!]) await store.putWaiting(recordOf(job));
      const parked = { ...recordOf(c!, 'parked'), heldUntil: undefined };
      const swaps = [
        { jobId: a!.id, expectClaim: `held-${a!.id}`, next: null },
        { jobId: b!.id, expectClaim: 'not-mine', next: null },
        { jobId: c!.id, expectClaim: `held-${c!.id}`, next: parked },
        { jobId: 'never-waited', expectClaim: '', next: null },
      ];
      expect(await store.swapWaitings(swaps)).toEqual([true, false, true, false]);
      expect(await store.listWaiting()).toEqual([recordOf(b!), parked]);
      // Repeated (its answer lost): the record already carrying the new claim counts as swapped.
      expect(await store.swapWaitings(swaps)).toEqual([false, false, true, false]);
      expect(await store.swapWaitings([])).toEqual([]);
    });
  });

  describe('jobs waiting at the gateway', () => {
    it('lists them oldest first and lets exactly one caller claim each', async () => {
      const store = await open();
      const ids = [makeJob({ createdAt: T0 + 2 }).id, makeJob({ createdAt: T0 + 1 }).id, makeJob({ createdAt: T0 + 3 }).id];
      for (const [i, jobId] of ids.entries()) await store.putWaiting({ jobId, deadline: T0 + 1000 + i, input: { requirements: { cpu: i } } });
      const listed = await store.listWaiting();
      expect(listed.map((r) => r.jobId)).toEqual([...ids].sort());
      expect(listed.find((r) => r.jobId === ids[2])).toEqual({ jobId: ids[2], deadline: T0 + 1002, input: { requirements: { cpu: 2 } } });
      const claims = await Promise.all(Array.from({ length: 10 }, () => store.takeWaiting(ids[0]!)));
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect((await store.listWaiting()).map((r) => r.jobId)).not.toContain(ids[0]);
      expect(await store.takeWaiting('never-waited')).toBe(false);
    });

    it('replaces a record only for the caller that holds its claim, exactly one of many racing', async () => {
      const store = await open();
      const jobId = makeJob().id;
      const record = {
        jobId,
        deadline: T0 + 1000,
        input: { product: { id: 'cpu-1', provider: 'local' } },
        pinned: true,
        heldUntil: T0 - 1,
        claim: 'dead',
      };
      await store.putWaiting(record);
      const takers = Array.from({ length: 10 }, (_, i) => ({ ...record, heldUntil: T0 + 60_000, claim: `taker-${i}` }));
      const won = await Promise.all(takers.map((next) => store.swapWaiting(jobId, 'dead', next)));
      expect(won.filter(Boolean)).toHaveLength(1);
      const winner = takers[won.indexOf(true)]!;
      expect(await store.listWaiting()).toEqual([winner]);
      expect(await store.getWaiting(jobId)).toEqual(winner);
      // The winning call repeated (its answer lost) still wins; a loser repeated still loses.
      expect(await store.swapWaiting(jobId, 'dead', winner)).toBe(true);
      expect(await store.swapWaiting(jobId, 'dead', takers[won.indexOf(false)]!)).toBe(false);
      // Removing needs the claim too; a record from before claims is claimed as ''.
      expect(await store.swapWaiting(jobId, 'dead', null)).toBe(false);
      expect(await store.swapWaiting(jobId, winner.claim, null)).toBe(true);
      expect(await store.listWaiting()).toEqual([]);
      expect(await store.getWaiting(jobId)).toBeNull();
      expect(await store.swapWaiting(jobId, winner.claim, null)).toBe(false);
      await store.putWaiting({ jobId, deadline: T0, input: {} });
      expect(await store.swapWaiting(jobId, '', { jobId, deadline: T0, input: {}, claim: 'new' })).toBe(true);
    });
  });

  describe('users and tokens', () => {
    const user = { username: 'alice', passwordHash: 'scrypt$abc', admin: false, projects: [], createdAt: T0 };

    it('creates a user once and reads it back', async () => {
      const store = await open();
      expect(await store.createUser(user)).toBe(true);
      expect(await store.createUser({ ...user, admin: true, passwordHash: 'other' })).toBe(false);
      expect(await store.getUser('alice')).toStrictEqual(user);
      expect(await store.getUser('bob')).toBeNull();
    });

    it('gives a name to only one of two concurrent sign-ups', async () => {
      const store = await open();
      const results = await Promise.all([
        store.createUser({ ...user, username: 'carol', projects: ['a'] }),
        store.createUser({ ...user, username: 'carol', projects: ['b'] }),
      ]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await store.getUser('carol'))!.projects).toEqual(results[0] ? ['a'] : ['b']);
    });

    it('replaces a stored user only, and lists every user by name', async () => {
      const store = await open();
      expect(await store.updateUser({ ...user, username: 'zed' })).toBe(false);
      expect(await store.getUser('zed')).toBeNull();
      await store.createUser({ ...user, username: 'carol' });
      await store.createUser(user);
      expect(await store.updateUser({ ...user, disabled: true, passwordHash: 'scrypt$new' })).toBe(true);
      expect(await store.getUser('alice')).toStrictEqual({ ...user, disabled: true, passwordHash: 'scrypt$new' });
      expect((await store.listUsers()).map((u) => [u.username, u.disabled ?? false])).toEqual([
        ['alice', true],
        ['carol', false],
      ]);
    });

    it("keeps a user's key pairs: an access key once, listed oldest first, forgotten at once", async () => {
      const store = await open();
      const first = { accessKey: 'AKIAFIRST', secretKey: 'secret-1', username: 'alice', createdAt: T0 + 2 };
      const second = { accessKey: 'AKIASECOND', secretKey: 'secret-2', username: 'alice', createdAt: T0 + 5 };
      expect(await store.putKeypair(second)).toBe(true);
      expect(await store.putKeypair(first)).toBe(true);
      // A taken access key changes nothing, whoever asks.
      expect(await store.putKeypair({ ...first, username: 'bob', secretKey: 'other' })).toBe(false);
      expect(await store.putKeypair({ accessKey: 'AKIABOB', secretKey: 'secret-b', username: 'bob', createdAt: T0 })).toBe(true);
      expect(await store.getKeypair('AKIAFIRST')).toStrictEqual(first);
      expect(await store.getKeypair('AKIANONE')).toBeNull();
      expect(await store.listKeypairs('alice')).toStrictEqual([first, second]);
      expect((await store.listKeypairs('bob')).map((k) => k.accessKey)).toEqual(['AKIABOB']);
      expect(await store.listKeypairs('carol')).toEqual([]);
      expect(await store.deleteKeypair('AKIAFIRST')).toBe(true);
      expect(await store.deleteKeypair('AKIAFIRST')).toBe(false);
      expect(await store.getKeypair('AKIAFIRST')).toBeNull();
      expect(await store.listKeypairs('alice')).toStrictEqual([second]);
    });

    it('gives an access key to only one of two concurrent issues', async () => {
      const store = await open();
      const results = await Promise.all(
        ['alice', 'bob'].map((username) => store.putKeypair({ accessKey: 'AKIARACE', secretKey: `s-${username}`, username, createdAt: T0 })),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = results[0] ? 'alice' : 'bob';
      expect((await store.getKeypair('AKIARACE'))!.username).toBe(winner);
      expect((await store.listKeypairs(winner === 'alice' ? 'bob' : 'alice')).length).toBe(0);
    });

    it("lists a user's live tokens, soonest to expire first, and forgets one at once", async () => {
      const store = await open();
      const now = Date.now();
      await store.putToken('hash-late', { username: 'alice', expiresAt: now + 60_000, issuedAt: now }, now);
      await store.putToken('hash-soon', { username: 'alice', expiresAt: now + 30_000, issuedAt: now }, now);
      await store.putToken('hash-bob', { username: 'bob', expiresAt: now + 60_000 }, now);
      expect((await store.listTokens('alice', now)).map((t) => t.tokenHash)).toEqual(['hash-soon', 'hash-late']);
      expect((await store.listTokens('alice', now + 30_000)).map((t) => t.tokenHash)).toEqual(['hash-late']);
      expect(await store.deleteToken('hash-late')).toBe(true);
      expect(await store.deleteToken('hash-late')).toBe(false);
      expect(await store.getToken('hash-late', now)).toBeNull();
      expect(await store.listTokens('alice', now)).toEqual([{ username: 'alice', expiresAt: now + 30_000, issuedAt: now, tokenHash: 'hash-soon' }]);
      expect((await store.listTokens('bob', now)).map((t) => t.tokenHash)).toEqual(['hash-bob']);
    });

    it('answers a token until it expires by the caller clock', async () => {
      const store = await open();
      const now = Date.now();
      const token = { username: 'alice', expiresAt: now + 60_000 };
      await store.putToken('hash-1', token, now);
      expect(await store.getToken('hash-1', token.expiresAt - 1)).toStrictEqual(token);
      expect(await store.getToken('hash-1', token.expiresAt)).toBeNull();
      expect(await store.getToken('hash-1', Date.now())).toStrictEqual(token);
      expect(await store.getToken('hash-2', Date.now())).toBeNull();
    });

    it('keeps a token for its life on the caller clock, however far that clock is from the wall clock', async () => {
      const store = await open();
      // A driven clock years away from today: the token lives by it, not by the wall clock.
      for (const now of [Date.now() - 5 * 365 * 86_400_000, Date.now() + 5 * 365 * 86_400_000]) {
        const token = { username: 'alice', expiresAt: now + 60_000 };
        await store.putToken(`hash-${now}`, token, now);
        expect(await store.getToken(`hash-${now}`, now + 59_999)).toStrictEqual(token);
        expect(await store.getToken(`hash-${now}`, now + 60_000)).toBeNull();
      }
    });

    it('forgets a token once its time has passed, whatever clock the caller reads', async () => {
      const store = await open();
      const now = Date.now();
      await store.putToken('hash-1', { username: 'alice', expiresAt: now + 50 }, now);
      await new Promise((resolve) => setTimeout(resolve, 120));
      expect(await store.getToken('hash-1', 0)).toBeNull();
    });
  });

  describe('job ACLs', () => {
    it('replaces the ACL of a stored job and nothing else of it', async () => {
      const store = await open();
      const job = makeJob({ createdAt: T0 });
      await store.createJob(job, { exclusive: false });
      const acl: Job['acl'] = [
        { entity: 'bob', permissions: ['READ'] },
        { entity: 'genomics/lab', permissions: ['EDIT', 'ADMIN'] },
      ];
      expect(await store.setJobAcl(job.id, acl)).toStrictEqual({ ...job, acl });
      expect(await store.getJob(job.id)).toStrictEqual({ ...job, acl });
      expect((await store.setJobAcl(job.id, []))!.acl).toEqual([]);
      // A later change keeps it.
      await store.setJobAcl(job.id, acl);
      await store.changeJob(job.id, { state: 'RUNNING', status: 'up', timestamp: T0 + 1 });
      expect((await store.getJob(job.id))!.acl).toStrictEqual(acl);
    });

    it('stores nothing for a job it does not have', async () => {
      const store = await open();
      expect(await store.setJobAcl('0190aaaa-0000-7000-8000-000000000000', [{ entity: 'bob', permissions: ['READ'] }])).toBeNull();
      expect(await store.getJob('0190aaaa-0000-7000-8000-000000000000')).toBeNull();
    });
  });

  describe('projects', () => {
    const project = (overrides: Partial<ProjectRecord> = {}): ProjectRecord => ({
      id: 'genomics',
      title: 'Genomics',
      archived: false,
      createdAt: T0,
      createdBy: 'root',
      members: [
        { username: 'pia', role: 'PI', addedAt: T0 },
        { username: 'ada', role: 'ADMIN', addedAt: T0 },
        { username: 'uma', role: 'USER', addedAt: T0 },
      ],
      groups: [{ name: 'lab', members: ['uma'] }],
      invites: [{ username: 'ivan', role: 'USER', invitedBy: 'pia', invitedAt: T0 }],
      version: 1,
      ...overrides,
    });

    it('creates a project once, reads it back and lists it', async () => {
      const store = await open();
      expect(await store.createProject(project())).toBe(true);
      expect(await store.createProject(project({ title: 'Another' }))).toBe(false);
      expect(await store.getProject('genomics')).toStrictEqual(project());
      expect(await store.getProject('physics')).toBeNull();
      await store.createProject(project({ id: 'astro', members: [{ username: 'pia', role: 'USER', addedAt: T0 }], groups: [], invites: [] }));
      expect(await store.listProjects()).toEqual(['astro', 'genomics']);
    });

    it("keeps each user's memberships, groups and invitations beside the project", async () => {
      const store = await open();
      await store.createProject(project());
      await store.createProject(project({ id: 'astro', members: [{ username: 'pia', role: 'USER', addedAt: T0 }], groups: [], invites: [] }));
      expect(await store.membershipsOf('pia')).toEqual([
        { project: 'astro', role: 'USER', groups: [] },
        { project: 'genomics', role: 'PI', groups: [] },
      ]);
      expect(await store.membershipsOf('uma')).toEqual([{ project: 'genomics', role: 'USER', groups: ['lab'] }]);
      expect(await store.membershipsOf('ivan')).toEqual([]);
      expect(await store.invitationsOf('ivan')).toEqual([{ project: 'genomics', role: 'USER', invitedBy: 'pia', invitedAt: T0 }]);
      expect(await store.invitationsOf('uma')).toEqual([]);
    });

    it('changes a project only at the version the caller read, and moves the indexes with it', async () => {
      const store = await open();
      await store.createProject(project());
      // Ivan accepts, Uma leaves, Ada joins the group.
      const next = project({
        members: [
          { username: 'pia', role: 'PI', addedAt: T0 },
          { username: 'ada', role: 'ADMIN', addedAt: T0 },
          { username: 'ivan', role: 'USER', addedAt: T0 + 1 },
        ],
        groups: [{ name: 'lab', members: ['ada'] }],
        invites: [],
        version: 2,
      });
      expect(await store.updateProject({ ...next, title: 'stale' }, 0)).toBe(false);
      expect(await store.updateProject(next, 1)).toBe(true);
      expect(await store.updateProject({ ...next, version: 3, title: 'stale' }, 1)).toBe(false);
      expect(await store.getProject('genomics')).toStrictEqual(next);
      expect(await store.membershipsOf('uma')).toEqual([]);
      expect(await store.membershipsOf('ivan')).toEqual([{ project: 'genomics', role: 'USER', groups: [] }]);
      expect(await store.membershipsOf('ada')).toEqual([{ project: 'genomics', role: 'ADMIN', groups: ['lab'] }]);
      expect(await store.invitationsOf('ivan')).toEqual([]);
      expect(await store.updateProject(project({ id: 'nowhere', version: 2 }), 1)).toBe(false);
      expect(await store.listProjects()).toEqual(['genomics']);
    });

    it('lets exactly one of many concurrent changes from the same version win', async () => {
      const store = await open();
      await store.createProject(project());
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          store.updateProject(project({ members: [...project().members, { username: `u${i}`, role: 'USER', addedAt: T0 }], version: 2 }), 1),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = results.indexOf(true);
      expect((await store.getProject('genomics'))!.members.map((m) => m.username)).toContain(`u${winner}`);
      const joined = await Promise.all(Array.from({ length: 8 }, (_, i) => store.membershipsOf(`u${i}`)));
      expect(joined.map((m) => m.length)).toEqual(Array.from({ length: 8 }, (_, i) => (i === winner ? 1 : 0)));
    });
  });

  describe('virtual clusters', () => {
    it('keeps one per project and provider, replacing it, listed by provider then project, and forgets a removed one', async () => {
      const store = await open();
      const cluster = (project: string, provider: string, gpu: number): VirtualClusterRecord => ({
        project,
        provider,
        guaranteed: { gpu },
        borrowingLimit: { cpu: 1.5 },
        setBy: 'admin',
        setAt: T0,
      });
      expect(await store.listVirtualClusters()).toEqual([]);
      await store.putVirtualCluster(cluster('physics', 'hpc', 4));
      await store.putVirtualCluster(cluster('genomics', 'hpc', 8));
      await store.putVirtualCluster(cluster('genomics', 'cloud', 1));
      await store.putVirtualCluster(cluster('genomics', 'hpc', 2));
      expect(await store.listVirtualClusters()).toEqual([
        cluster('genomics', 'cloud', 1),
        cluster('genomics', 'hpc', 2),
        cluster('physics', 'hpc', 4),
      ]);
      expect(await store.deleteVirtualCluster('hpc', 'genomics')).toBe(true);
      expect(await store.deleteVirtualCluster('hpc', 'genomics')).toBe(false);
      expect((await store.listVirtualClusters()).map((c) => `${c.provider}/${c.project}`)).toEqual(['cloud/genomics', 'hpc/physics']);
    });

    it("swaps a provider's reclaim ledger by compare-and-set: of many replicas claiming from one view exactly one wins", async () => {
      const store = await open();
      const claim = (forJob: string, victims: string[]) => ({
        forJob,
        workspace: 'p:genomics',
        need: { jobs: 1, cpu: 4, memoryInGigs: 16, gpu: 4 },
        victims,
        at: T0,
      });
      expect(await store.readReclaims('hpc')).toEqual({ version: null, claims: [] });
      const tries = await Promise.all(Array.from({ length: 8 }, (_, i) => store.swapReclaims('hpc', null, [claim(`j${i}`, [`v${i}`])])));
      expect(tries.filter(Boolean)).toHaveLength(1);
      const ledger = await store.readReclaims('hpc');
      expect(ledger.version).not.toBeNull();
      expect(ledger.claims).toEqual([claim(`j${tries.indexOf(true)}`, [`v${tries.indexOf(true)}`])]);
      // A stale version changes nothing; the one read replaces it, and other providers are apart.
      expect(await store.swapReclaims('hpc', null, [])).toBe(false);
      expect(await store.readReclaims('cloud')).toEqual({ version: null, claims: [] });
      expect(await store.swapReclaims('hpc', ledger.version, [...ledger.claims, claim('j9', ['v9'])])).toBe(true);
      const next = await store.readReclaims('hpc');
      expect(next.version).not.toBe(ledger.version);
      expect(next.claims.map((c) => c.forJob)).toEqual([ledger.claims[0]!.forJob, 'j9']);
      expect(await store.swapReclaims('hpc', ledger.version, [])).toBe(false);
      // Emptied, it is gone.
      expect(await store.swapReclaims('hpc', next.version, [])).toBe(true);
      expect(await store.readReclaims('hpc')).toEqual({ version: null, claims: [] });
    });
  });

  describe('recurring records (schedules, services)', () => {
    const record = (id: string, owner: Job['owner'], dueAt: number | null, version = 1) => ({ id, owner, version, dueAt, doc: { n: version } });
    const bob = { createdBy: 'bob', project: null };

    it('stores by compare-and-set on the version: one of many concurrent changes of a version wins', async () => {
      const store = await open();
      const { schedules } = store;
      expect(await schedules.put(record('s1', bob, T0), null)).toBe(true);
      expect(await schedules.put(record('s1', bob, T0), null)).toBe(false);
      const tries = await Promise.all(Array.from({ length: 8 }, (_, i) => schedules.put({ ...record('s1', bob, T0 + i, 2) }, 1)));
      expect(tries.filter(Boolean)).toHaveLength(1);
      const stored = await schedules.get('s1');
      expect(stored).toMatchObject({ version: 2, dueAt: T0 + tries.indexOf(true) });
      expect(await schedules.put(record('s1', bob, T0, 3), 1)).toBe(false);
      expect(await schedules.delete('s1', 1)).toBe(false);
      expect(await schedules.delete('s1', 2)).toBe(true);
      expect(await schedules.get('s1')).toBeNull();
      expect(await schedules.due(T0 + 100, 10)).toEqual([]);
    });

    it('lists by workspace and by due time; schedules and services are apart', async () => {
      const store = await open();
      const lab = { createdBy: 'bob', project: 'lab' };
      await store.schedules.put(record('a', bob, T0 + 2), null);
      await store.schedules.put(record('b', lab, T0 + 1), null);
      await store.schedules.put(record('c', { createdBy: 'eve', project: 'lab' }, null), null);
      await store.services.put(record('d', bob, T0), null);
      expect((await store.schedules.list(bob)).map((r) => r.id)).toEqual(['a']);
      expect((await store.schedules.list({ createdBy: 'anyone', project: 'lab' })).map((r) => r.id)).toEqual(['b', 'c']);
      expect((await store.schedules.due(T0 + 5, 10)).map((r) => r.id)).toEqual(['b', 'a']);
      expect((await store.schedules.due(T0 + 1, 10)).map((r) => r.id)).toEqual(['b']);
      expect((await store.schedules.due(T0 + 5, 1)).map((r) => r.id)).toEqual(['b']);
      expect((await store.services.due(T0 + 5, 10)).map((r) => r.id)).toEqual(['d']);
      // No longer due once its due time is gone.
      await store.schedules.put(record('a', bob, null, 2), 1);
      expect((await store.schedules.due(T0 + 5, 10)).map((r) => r.id)).toEqual(['b']);
      expect(await store.schedules.get('a')).toEqual(record('a', bob, null, 2));
    });
  });

  it('answers a ping', async () => {
    const store = await open();
    await expect(store.ping()).resolves.toBeUndefined();
  });
});

describe('the redis store', () => {
  /** Two replicas of one deployment: stores sharing a key prefix, each with its own route cache. */
  async function replicas(prefix = uniquePrefix()): Promise<[Store, Store]> {
    onTestFinished(() => deleteKeys(prefix));
    const open = () => createRedisStore({ url: redisUrl(), keyPrefix: prefix });
    const stores = await Promise.all([open(), open()]);
    onTestFinished(async () => {
      for (const store of stores) await store.close();
    });
    return stores;
  }

  const toCloud = { providerId: 'cloud', product: { id: 'gpu-2', category: 'gpu' } };

  it('lets a replica that never saw a moved job change it under its new provider', async () => {
    const [a, b] = await replicas();
    const job = makeJob({ providerId: 'hpc' });
    await a.createJob(job, { exclusive: false });
    await a.reassignJob(job.id, { from: 'hpc', to: toCloud, status: 'moved', timestamp: T0 });
    expect(await b.changeJob(job.id, { state: 'SUCCESS', timestamp: T0 + 1 })).toMatchObject({
      kind: 'applied',
      job: { providerId: 'cloud', state: 'SUCCESS' },
    });
    expect(await a.activeJobIds('cloud')).toEqual([]);
    expect((await a.countJobs()).filter((c) => c.count !== 0)).toEqual([{ providerId: 'cloud', state: 'SUCCESS', count: 1 }]);
  });

  it('charges a job stored before the charging index: a repair makes it due, and it is read whole', async () => {
    const prefix = uniquePrefix();
    const [a, b] = await replicas(prefix);
    const job = makeJob({ owner: { createdBy: 'bob', project: null } });
    await a.createJob(job, { exclusive: false });
    await a.changeJob(job.id, { state: 'RUNNING', startedAt: T0, timestamp: T0 });
    const redis = new Redis(redisUrl());
    onTestFinished(async () => {
      await redis.quit();
    });
    // The earlier layout: no charging fields, no index.
    await redis.hdel(`${prefix}:job:${job.id}`, 'charging', 'usage');
    await redis.del(`${prefix}:jobs:charging:due`);
    expect(await b.dueCharges(T0 + 60_000)).toEqual([]);
    expect(await b.repairCharges()).toBe(1);
    expect(await b.repairCharges()).toBe(0);
    expect(await b.dueCharges(T0)).toEqual([job.id]);
    await b.changeJob(job.id, { state: 'SUSPENDED', timestamp: T0 + 1_000 });
    const [record] = await b.chargeRecords([job.id]);
    expect(record!.job).toMatchObject({ owner: { createdBy: 'bob', project: null }, state: 'SUSPENDED', startedAt: T0 });
    expect(record!.job.updates).toEqual([
      { state: 'RUNNING', timestamp: T0 },
      { state: 'SUSPENDED', timestamp: T0 + 1_000 },
    ]);
    // Its change did not begin a usage field of its moves from the middle of its life.
    expect(await redis.hexists(`${prefix}:job:${job.id}`, 'usage')).toBe(0);
  });

  it('reads and moves a job stored before its provider and product had fields of their own', async () => {
    const prefix = uniquePrefix();
    const [a, b] = await replicas(prefix);
    const job = makeJob({ providerId: 'hpc', specification: makeSpecification({ product: { id: 'cpu-1', category: 'cpu', provider: 'hpc' } }) });
    await a.createJob(job, { exclusive: false });
    // The earlier layout: everything but the changing fields in one doc.
    const redis = new Redis(redisUrl());
    onTestFinished(async () => {
      await redis.quit();
    });
    const jobKey = `${prefix}:job:${job.id}`;
    const { state, startedAt, expiresAt, exitCode, providerGeneratedId, updates, creditsCharged, ...doc } = job;
    await redis.hdel(jobKey, 'providerId', 'product');
    await redis.hset(jobKey, 'doc', JSON.stringify(doc));

    expect(await b.getJob(job.id)).toStrictEqual(job);
    expect(await b.reassignJob(job.id, { from: 'local', to: toCloud, status: 'moved', timestamp: T0 })).toMatchObject({
      kind: 'refused',
      reason: 'job is at hpc, not local',
    });
    expect(await b.reassignJob(job.id, { from: 'hpc', to: toCloud, status: 'moved', timestamp: T0 })).toMatchObject({
      kind: 'applied',
      job: { providerId: 'cloud', specification: { product: { id: 'gpu-2', category: 'gpu', provider: 'cloud' } } },
    });
    expect(await b.changeJob(job.id, { state: 'RUNNING', timestamp: T0 + 1 })).toMatchObject({ kind: 'applied', moved: true });
    expect(await a.activeJobIds('cloud')).toEqual([job.id]);
    expect(await a.activeJobIds('hpc')).toEqual([]);
  });

  it('builds the users set, the job sources and the creator+name index once for data stored before them, however many replicas start at once', async () => {
    const prefix = uniquePrefix();
    const [a] = await replicas(prefix);
    const user = (username: string) => ({ username, passwordHash: 'scrypt$abc', admin: false, projects: [], createdAt: T0 });
    for (const name of ['alice', 'uma', 'rita']) await a.createUser(user(name));
    await a.putToken('hash-1', { username: 'alice', expiresAt: T0 + 60_000 }, T0);
    const members: ProjectRecord['members'] = [
      { username: 'alice', role: 'PI', addedAt: T0 },
      { username: 'uma', role: 'USER', addedAt: T0 },
      { username: 'rita', role: 'USER', addedAt: T0 },
    ];
    await a.createProject(labProject(members, []));
    const jobs = [
      makeJob({ createdAt: T0, owner: { createdBy: 'alice', project: null } }),
      makeJob({ createdAt: T0 + 1, owner: { createdBy: 'uma', project: 'lab' }, acl: [{ entity: 'rita', permissions: ['READ'] }] }),
      makeJob({ createdAt: T0 + 2, owner: { createdBy: 'alice', project: 'lab' }, specification: makeSpecification({ name: 'train' }) }),
    ];
    for (const job of jobs) await a.createJob(job, { exclusive: false });

    // The layout before these indexes: no users set, no job sources, no record of a backfill.
    const redis = new Redis(redisUrl());
    onTestFinished(async () => {
      await redis.quit();
    });
    const older: string[] = [`${prefix}:users`, `${prefix}:migrations`];
    for (const pattern of [`${prefix}:jobs:project:*`, `${prefix}:jobs:creator:*:personal`, `${prefix}:jobs:creator:*:name:*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        older.push(...keys);
      } while (cursor !== '0');
    }
    expect(older.length).toBeGreaterThan(4);
    await redis.del(...older);
    expect(await a.listUsers()).toEqual([]);

    const started = await Promise.all([1, 2].map(() => createRedisStore({ url: redisUrl(), keyPrefix: prefix })));
    onTestFinished(async () => {
      for (const store of started) await store.close();
    });
    for (const store of started) {
      expect((await store.listUsers()).map((u) => u.username)).toEqual(['alice', 'rita', 'uma']);
      for (const [username, project, expected] of [
        ['alice', null, [jobs[0], jobs[2]]],
        ['alice', 'lab', jobs.slice(1)],
        ['rita', 'lab', [jobs[1]]],
        ['uma', null, [jobs[1]]],
      ] as const) {
        const viewer = viewerOf({ username, admin: false }, await store.membershipsOf(username));
        const page = await store.listJobs({ sources: visibleSources(viewer, project)!, order: 'ASC', first: 10 });
        expect(
          page.jobs.map((job) => job.id),
          `${username} in ${project}`,
        ).toEqual(expected.map((job) => job!.id));
        expect(page.totalCount).toBe(expected.length);
      }
      const named = await store.listJobs({ createdBy: 'alice', name: 'train', order: 'ASC', first: 10 });
      expect(named.jobs.map((job) => job.id)).toEqual([jobs[2]!.id]);
    }
    expect((await redis.smembers(`${prefix}:migrations`)).sort()).toEqual(['creator-names', 'job-sources', 'users']);
    // Done once: a user who loses its place in the set now is not put back by the next start.
    await redis.srem(`${prefix}:users`, 'rita');
    const later = await createRedisStore({ url: redisUrl(), keyPrefix: prefix });
    onTestFinished(() => later.close());
    expect((await later.listUsers()).map((u) => u.username)).toEqual(['alice', 'uma']);
  });
});

describe('the redis store, across replicas', () => {
  it('keeps a moved job in step when a replica that knew it before the move changes it', async () => {
    const prefix = uniquePrefix();
    onTestFinished(() => deleteKeys(prefix));
    const open = () => createRedisStore({ url: redisUrl(), keyPrefix: prefix });
    const [a, b] = await Promise.all([open(), open()]);
    onTestFinished(async () => {
      await a.close();
      await b.close();
    });
    const job = makeJob({ providerId: 'hpc' });
    await a.createJob(job, { exclusive: false });
    await b.reassignJob(job.id, {
      from: 'hpc',
      to: { providerId: 'cloud', product: { id: 'gpu-2', category: 'gpu' } },
      status: 'moved',
      timestamp: T0,
    });
    expect(await a.changeJob(job.id, { state: 'SUCCESS', timestamp: T0 + 1 })).toMatchObject({ kind: 'applied', moved: true });
    expect(await a.activeJobIds('cloud')).toEqual([]);
    expect((await a.countJobs()).filter((c) => c.count !== 0)).toEqual([{ providerId: 'cloud', state: 'SUCCESS', count: 1 }]);
    expect((await a.listJobs({ providers: ['cloud'], states: ['SUCCESS'], order: 'ASC', first: 10 })).totalCount).toBe(1);
  });
});
