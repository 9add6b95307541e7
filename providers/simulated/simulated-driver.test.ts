import { makeExecutableSchema } from '@graphql-tools/schema';
import { stitchingDirectives } from '@graphql-tools/stitching-directives';
import { graphql } from 'graphql';
import { afterEach, describe, expect, it } from 'vitest';

import { createManualClock, systemClock, type Clock } from '../../shared/clock.js';
import { ConfigError } from '../../shared/config.js';
import { computeSupport, manifestSchema, utilizationSchema, type JobSpecification, type Product } from '../../shared/domain.js';
import type { SwitchyardError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import { jobEventSchema, logEventSchema, type CreateJob, type JobEvent, type LogEvent } from '../../shared/protocol.js';
import { createSubjects } from '../../shared/subjects.js';
import { createMemoryTransport } from '../../shared/transport/memory-transport.js';
import { makeCreateJob } from '../../test/support/jobs.js';
import { uniquePrefix } from '../../test/support/services.js';
import type { DriverContext, DriverJobChange, DriverLogLine } from '../sdk/driver.js';
import { createProviderRuntime } from '../sdk/runtime.js';
import { CLOUD_CONFIG, HPC_CONFIG } from './configs.js';
import { readSimulatedSettings } from './main.js';
import { createSimulatedDriver, type SimulatedConfig, type SimulatedDriver, type SimulatedDriverOptions } from './simulated-driver.js';

const PROVIDER = 'sim-test';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** mulberry32: a small seeded generator, so failures are the same on every run. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SUPPORT = computeSupport({ backend: 'NATIVE', timeExtension: true, suspension: true, maxReplicas: 4 });

function product(id: string, fields: Partial<Product>): Product {
  return {
    id,
    category: 'sim-test',
    name: id,
    description: `Simulated ${id}`,
    cpu: 1,
    memoryInGigs: 1,
    gpu: 0,
    pricePerUnit: 1,
    unitOfPrice: 'CREDITS_PER_MINUTE',
    freeToUse: false,
    priority: 0,
    support: SUPPORT,
    ...fields,
  };
}

/** Four nodes of 16 CPUs, 64 GiB and 2 GPUs: small enough to count by hand. */
const TEST_CONFIG: SimulatedConfig = {
  name: 'test',
  nodes: { count: 4, cpu: 16, memoryInGigs: 64, gpu: 2 },
  products: [
    product('small', { cpu: 4, memoryInGigs: 8 }),
    product('whole', { cpu: 16, memoryInGigs: 32 }),
    product('gpu', { cpu: 4, memoryInGigs: 16, gpu: 1 }),
    product('hourly', { cpu: 2, memoryInGigs: 4, unitOfPrice: 'CREDITS_PER_HOUR' }),
    product('fixed', { cpu: 1, memoryInGigs: 1, support: { ...SUPPORT, suspension: false, timeExtension: false } }),
  ],
  queueing: 'FIFO',
  startLatencyMs: 0,
  failureRate: 0,
  defaultDurationMs: 10 * MINUTE,
};

interface Recorded extends DriverJobChange {
  jobId: string;
  at: number;
}

/** A driver on a manual clock with a context that records every change and log line. */
async function simulation(config: Partial<SimulatedConfig> = {}, options: SimulatedDriverOptions = {}) {
  const clock = createManualClock();
  const t0 = clock.now();
  const full = { ...TEST_CONFIG, ...config };
  const changes: Recorded[] = [];
  const lines: Array<DriverLogLine & { jobId: string }> = [];
  const context: DriverContext = {
    providerId: PROVIDER,
    clock,
    logger: silentLogger(),
    emit: (jobId, change) => changes.push({ jobId, at: clock.now(), ...change }),
    log: (jobId, line) => lines.push({ jobId, ...line }),
  };
  const driver = createSimulatedDriver(full, { clock, random: seededRandom(42), ...options });
  await driver.start(context);
  const byId = (id: string) => full.products.find((p) => p.id === id)!;
  const submit = async (productId: string, spec: Partial<JobSpecification> = {}, durationMs?: number): Promise<CreateJob> => {
    const job = makeCreateJob(byId(productId), PROVIDER, {
      ...(durationMs !== undefined ? { parameters: { simulatedDurationMs: durationMs } } : {}),
      ...spec,
    });
    await driver.create(job);
    return job;
  };
  const state = async (job: CreateJob) => (await driver.observe(job.id)).state;
  const changesOf = (job: CreateJob) => changes.filter((c) => c.jobId === job.id);
  const last = (job: CreateJob) =>
    changesOf(job)
      .filter((c) => c.state)
      .at(-1);
  const stdout = (job: CreateJob) => lines.filter((l) => l.jobId === job.id).map((l) => l.stdout ?? l.stderr);
  return { clock, t0, driver, changes, lines, submit, state, changesOf, last, stdout };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as SwitchyardError).code;
  }
  throw new Error('expected a refusal');
}

const drivers: SimulatedDriver[] = [];
afterEach(async () => {
  for (const driver of drivers.splice(0)) await driver.stop();
});

describe('simulated provider', () => {
  it('a job runs for its virtual duration, then ends SUCCESS with its log lines', async () => {
    const sim = await simulation();
    const job = await sim.submit('small', {}, 5 * MINUTE);
    expect(sim.last(job)).toMatchObject({ state: 'RUNNING', startedAt: sim.t0, providerGeneratedId: expect.stringMatching(/^sim-/) });
    await sim.driver.advance(5 * MINUTE - 1);
    expect(await sim.state(job)).toBe('RUNNING');
    await sim.driver.advance(1);
    expect(sim.last(job)).toMatchObject({ state: 'SUCCESS', exitCode: 0, at: sim.t0 + 5 * MINUTE });
    expect(sim.stdout(job)).toEqual(['[simulated] started on node-1', '[simulated] finished']);
    // The command is never run; without simulatedDurationMs the configured default applies.
    const plain = await sim.submit('small', { command: ['false'] });
    await sim.driver.advance(TEST_CONFIG.defaultDurationMs - 1);
    expect(await sim.state(plain)).toBe('RUNNING');
    await sim.driver.advance(1);
    expect(await sim.state(plain)).toBe('SUCCESS');
  });

  it('a job boots for the start latency before it runs, and its duration counts from then', async () => {
    const sim = await simulation({ startLatencyMs: 2_000 });
    const job = await sim.submit('small', {}, MINUTE);
    expect(sim.changesOf(job)).toEqual([expect.objectContaining({ status: 'Starting on node-1' })]);
    expect(await sim.state(job)).toBe('IN_QUEUE');
    await sim.driver.advance(1_999);
    expect(await sim.state(job)).toBe('IN_QUEUE');
    await sim.driver.advance(1);
    expect(sim.last(job)).toMatchObject({ state: 'RUNNING', startedAt: sim.t0 + 2_000 });
    await sim.driver.advance(MINUTE - 1);
    expect(await sim.state(job)).toBe('RUNNING');
    await sim.driver.advance(1);
    expect(sim.last(job)).toMatchObject({ state: 'SUCCESS', at: sim.t0 + 2_000 + MINUTE });
  });

  it('jobs beyond the free capacity wait in FIFO order with the reason, and start as others finish', async () => {
    const sim = await simulation();
    const a = await sim.submit('whole', { replicas: 2 }, 10 * MINUTE);
    const b = await sim.submit('whole', { replicas: 1 }, 20 * MINUTE);
    const c = await sim.submit('whole', { replicas: 4 }, 5 * MINUTE);
    // Node 4 is free and `small` would fit there, but nothing jumps the queue.
    const d = await sim.submit('small', {}, MINUTE);
    expect(sim.last(a)?.state).toBe('RUNNING');
    expect(sim.last(b)?.state).toBe('RUNNING');
    expect(sim.changesOf(c)).toEqual([expect.objectContaining({ status: 'Waiting for resources: 64 CPUs and 128 GiB of memory on 4 nodes' })]);
    expect(sim.changesOf(d)).toEqual([
      expect.objectContaining({ status: 'Waiting for resources: 4 CPUs and 8 GiB of memory on 1 node; 1 job ahead in the queue' }),
    ]);
    expect(await sim.driver.observe(d.id)).toMatchObject({ state: 'IN_QUEUE', status: expect.stringContaining('1 job ahead') });

    // One step over all of it: each job still starts at the moment room appeared.
    await sim.driver.advance(HOUR);
    expect(sim.last(a)).toMatchObject({ state: 'SUCCESS', at: sim.t0 + 10 * MINUTE });
    expect(sim.last(b)).toMatchObject({ state: 'SUCCESS', at: sim.t0 + 20 * MINUTE });
    expect(sim.changesOf(c).find((ch) => ch.state === 'RUNNING')).toMatchObject({ startedAt: sim.t0 + 20 * MINUTE });
    expect(sim.last(c)).toMatchObject({ state: 'SUCCESS', at: sim.t0 + 25 * MINUTE });
    expect(sim.changesOf(d).find((ch) => ch.state === 'RUNNING')).toMatchObject({ startedAt: sim.t0 + 25 * MINUTE });
    expect(sim.stdout(c)[0]).toBe('[simulated] started on node-1, node-2, node-3, node-4');
  });

  it('a failure rate of 1 ends every job FAILURE with a simulated node failure, before its end, and frees its nodes', async () => {
    const sim = await simulation({ failureRate: 1 });
    const jobs = [await sim.submit('small', {}, HOUR), await sim.submit('whole', {}, HOUR)];
    await sim.driver.advance(HOUR);
    for (const job of jobs) {
      const final = sim.last(job)!;
      expect(final).toMatchObject({ state: 'FAILURE', status: 'Simulated node failure' });
      expect(final.at).toBeLessThan(sim.t0 + HOUR);
      expect(sim.stdout(job).at(-1)).toMatch(/^\[simulated\] node-\d+ failed$/);
    }
    const utilization = await sim.driver.utilization();
    expect(utilization.usedCapacity).toEqual({ cpu: 0, memoryInGigs: 0, gpu: 0 });
  });

  it('failures follow the seeded random: the same seed gives the same outcomes, rate 0 gives none', async () => {
    const outcomes = async (failureRate: number) => {
      const sim = await simulation({ failureRate, nodes: { count: 40, cpu: 16, memoryInGigs: 64, gpu: 2 } });
      const jobs = [];
      for (let i = 0; i < 40; i++) jobs.push(await sim.submit('whole', {}, HOUR));
      await sim.driver.advance(HOUR);
      return jobs.map((job) => sim.last(job)!.state);
    };
    const first = await outcomes(0.5);
    expect(await outcomes(0.5)).toEqual(first);
    const failures = first.filter((s) => s === 'FAILURE').length;
    expect(failures).toBeGreaterThan(5);
    expect(failures).toBeLessThan(35);
    expect((await outcomes(0)).every((s) => s === 'SUCCESS')).toBe(true);
  });

  it('suspension keeps the nodes, stops the job clock and moves its end and deadline later', async () => {
    const sim = await simulation();
    const job = await sim.submit('small', { timeAllocationMs: 2 * HOUR }, HOUR);
    expect(sim.last(job)?.expiresAt).toBe(sim.t0 + 2 * HOUR);
    await sim.driver.advance(10 * MINUTE);
    await sim.driver.suspend(job.id);
    expect(sim.last(job)).toMatchObject({ state: 'SUSPENDED', usageUnits: 10 });
    expect((await sim.driver.utilization()).usedCapacity.cpu).toBe(4);
    await sim.driver.advance(30 * MINUTE);
    expect(await sim.state(job)).toBe('SUSPENDED');
    await sim.driver.unsuspend(job.id);
    // 110 minutes of the allocation are left, from now (40 minutes in).
    expect(sim.last(job)).toMatchObject({ state: 'RUNNING', expiresAt: sim.t0 + 150 * MINUTE });
    await sim.driver.advance(50 * MINUTE - 1);
    expect(await sim.state(job)).toBe('RUNNING');
    await sim.driver.advance(1);
    // 60 running minutes on a per-minute product: the 30 suspended ones are not counted.
    expect(sim.last(job)).toMatchObject({ state: 'SUCCESS', usageUnits: 60, at: sim.t0 + 90 * MINUTE });
  });

  it('suspension and extension are refused where the product lacks them or the state is wrong', async () => {
    const sim = await simulation();
    const fixed = await sim.submit('fixed', {}, HOUR);
    expect(await codeOf(sim.driver.suspend(fixed.id))).toBe('UNSUPPORTED');
    expect(await codeOf(sim.driver.extend(fixed.id, MINUTE))).toBe('UNSUPPORTED');
    const job = await sim.submit('small', {}, HOUR);
    expect(await codeOf(sim.driver.unsuspend(job.id))).toBe('INVALID_STATE');
    expect(await codeOf(sim.driver.suspend('no-such-job'))).toBe('NOT_FOUND');
  });

  it('a job past its time allocation ends EXPIRED; an extension before then lets it finish', async () => {
    const sim = await simulation();
    const short = await sim.submit('small', { timeAllocationMs: 5 * MINUTE }, 10 * MINUTE);
    const extended = await sim.submit('small', { timeAllocationMs: 5 * MINUTE }, 10 * MINUTE);
    await sim.driver.advance(4 * MINUTE);
    expect(await sim.driver.extend(extended.id, 10 * MINUTE)).toEqual({ expiresAt: sim.t0 + 15 * MINUTE });
    await sim.driver.advance(MINUTE);
    expect(sim.last(short)).toMatchObject({ state: 'EXPIRED', status: 'The job reached the end of its time allocation', usageUnits: 5 });
    expect(sim.stdout(short).at(-1)).toBe('[simulated] time allocation reached');
    expect(await sim.state(extended)).toBe('RUNNING');
    await sim.driver.advance(5 * MINUTE);
    expect(sim.last(extended)).toMatchObject({ state: 'SUCCESS', at: sim.t0 + 10 * MINUTE });
    expect(await codeOf(sim.driver.extend(short.id, MINUTE))).toBe('INVALID_STATE');
  });

  it('terminate ends a job SUCCESS with the reason, and a terminated waiting job lets the next one start', async () => {
    const sim = await simulation();
    const running = await sim.submit('whole', { replicas: 4 }, HOUR);
    const waiting = await sim.submit('whole', { replicas: 4 }, HOUR);
    const behind = await sim.submit('small', {}, HOUR);
    await sim.driver.advance(MINUTE);
    await sim.driver.terminate(waiting.id);
    expect(sim.last(waiting)).toMatchObject({ state: 'SUCCESS', status: 'Your job has been terminated', usageUnits: 0 });
    expect(await sim.state(behind)).toBe('IN_QUEUE');
    await sim.driver.terminate(running.id, 'No more credits');
    expect(sim.last(running)).toMatchObject({ state: 'SUCCESS', status: 'Your job has been terminated (No more credits)', usageUnits: 4 });
    expect(sim.last(behind)).toMatchObject({ state: 'RUNNING', startedAt: sim.t0 + MINUTE });
    expect(await codeOf(sim.driver.terminate(running.id))).toBe('INVALID_STATE');
    expect(await codeOf(sim.driver.terminate('no-such-job'))).toBe('NOT_FOUND');
  });

  it('utilization counts capacity, use and queue, and how many more jobs of each product fit now', async () => {
    const sim = await simulation();
    const empty = await sim.driver.utilization();
    expect(utilizationSchema.parse(empty)).toEqual(empty);
    expect(empty).toMatchObject({
      capacity: { cpu: 64, memoryInGigs: 256, gpu: 8 },
      usedCapacity: { cpu: 0, memoryInGigs: 0, gpu: 0 },
      queueStatus: { running: 0, pending: 0 },
      observedAt: sim.t0,
      // small: 4 per node by CPU; whole: 1 per node; gpu: 2 per node by GPU; hourly: 8 per node; fixed: 16.
      capacityByProduct: { small: 16, whole: 4, gpu: 8, hourly: 32, fixed: 64 },
    });
    await sim.submit('whole', {}, HOUR); // node-1 full
    await sim.submit('gpu', {}, HOUR); // node-2: 12 CPUs, 48 GiB, 1 GPU left
    const busy = await sim.driver.utilization();
    expect(busy).toMatchObject({
      usedCapacity: { cpu: 20, memoryInGigs: 48, gpu: 1 },
      queueStatus: { running: 2, pending: 0 },
      capacityByProduct: { small: 3 + 4 + 4, whole: 2, gpu: 1 + 2 + 2, hourly: 6 + 8 + 8 },
    });
    // A job that cannot start blocks the queue: nothing more could start now (no backfill).
    await sim.submit('whole', { replicas: 4 }, HOUR);
    const queued = await sim.driver.utilization();
    expect(queued.queueStatus).toEqual({ running: 2, pending: 1 });
    expect(Object.values(queued.capacityByProduct)).toEqual([0, 0, 0, 0, 0]);
  });

  it('observe answers null for unknown jobs and the current view of known ones', async () => {
    const sim = await simulation();
    expect(await sim.driver.observe('never-heard-of')).toEqual({
      id: 'never-heard-of',
      state: null,
      status: null,
      exitCode: null,
      startedAt: null,
      expiresAt: null,
      providerGeneratedId: null,
    });
    const job = await sim.submit('small', { timeAllocationMs: HOUR }, MINUTE);
    expect(await sim.driver.observe(job.id)).toMatchObject({ state: 'RUNNING', startedAt: sim.t0, expiresAt: sim.t0 + HOUR });
    await sim.driver.advance(MINUTE);
    expect(await sim.driver.observe(job.id)).toMatchObject({ state: 'SUCCESS', exitCode: 0 });
  });

  it('a repeated create of the same id starts the job once', async () => {
    const sim = await simulation();
    const job = await sim.submit('small', {}, HOUR);
    const first = (await sim.driver.observe(job.id)).providerGeneratedId;
    expect(await sim.driver.create(job)).toEqual({ providerGeneratedId: first });
    expect(await sim.driver.create(job)).toEqual({ providerGeneratedId: first });
    expect(sim.changesOf(job).filter((c) => c.state === 'RUNNING')).toHaveLength(1);
    expect((await sim.driver.utilization()).queueStatus.running).toBe(1);
  });

  it('usage counts started price units times replicas', async () => {
    const sim = await simulation();
    const long = await sim.submit('hourly', { replicas: 2 }, 61 * MINUTE);
    const exact = await sim.submit('hourly', { replicas: 2 }, 60 * MINUTE);
    const instant = await sim.submit('hourly', {}, 0);
    await sim.driver.advance(2 * HOUR);
    expect(sim.last(long)?.usageUnits).toBe(4);
    expect(sim.last(exact)?.usageUnits).toBe(2);
    expect(sim.last(instant)).toMatchObject({ state: 'SUCCESS', usageUnits: 0 });
  });

  it('refuses what it cannot run, naming why', async () => {
    const sim = await simulation();
    const small = TEST_CONFIG.products[0]!;
    const unknown = makeCreateJob({ ...small, id: 'nope' }, PROVIDER);
    expect(await codeOf(sim.driver.create(unknown))).toBe('INVALID_INPUT');
    expect(await codeOf(sim.submit('small', { parameters: { simulatedDurationMs: 'soon' } }))).toBe('INVALID_INPUT');
    expect(await codeOf(sim.submit('small', { replicas: 5 }))).toBe('INVALID_INPUT');
    // JSON text works as well as an object.
    const textual = await sim.submit('small', { parameters: JSON.stringify({ simulatedDurationMs: 1_000 }) });
    await sim.driver.advance(1_000);
    expect(await sim.state(textual)).toBe('SUCCESS');

    const hpc = await simulation(HPC_CONFIG);
    const standard = HPC_CONFIG.products[0]!;
    await expect(hpc.driver.create(makeCreateJob(standard, PROVIDER, {}))).rejects.toThrow(/needs a time allocation/);
    expect(await codeOf(hpc.driver.create(makeCreateJob(standard, PROVIDER, { timeAllocationMs: 49 * HOUR })))).toBe('INVALID_INPUT');
    expect(await codeOf(hpc.driver.suspend('x'))).toBe('NOT_FOUND');
  });

  it('without a queue, a job that does not fit now is refused with NO_CAPACITY', async () => {
    const sim = await simulation({ queueing: 'NONE' });
    await sim.submit('whole', { replicas: 3 }, HOUR);
    expect(await codeOf(sim.submit('whole', { replicas: 2 }, HOUR))).toBe('NO_CAPACITY');
    expect(await sim.state(await sim.submit('whole', {}, HOUR))).toBe('RUNNING');
  });

  it('a configuration whose product fits on no node is refused at once', () => {
    expect(() => createSimulatedDriver({ ...TEST_CONFIG, products: [product('huge', { cpu: 17 })] })).toThrow(/huge does not fit on one node/);
    expect(() => createSimulatedDriver({ ...TEST_CONFIG, failureRate: 2 })).toThrow(/failureRate/);
    expect(() => createSimulatedDriver(TEST_CONFIG, { timeScale: 0 })).toThrow(/timeScale/);
  });

  it('with a time scale, virtual time runs faster than the clock and deadlines are in clock time', async () => {
    const sim = await simulation({}, { timeScale: 60 });
    const job = await sim.submit('small', { timeAllocationMs: 2 * HOUR }, HOUR);
    // Two virtual hours are two real minutes.
    expect(sim.last(job)?.expiresAt).toBe(sim.t0 + 2 * MINUTE);
    await sim.driver.advance(HOUR);
    expect(sim.clock.now()).toBe(sim.t0 + MINUTE);
    expect(sim.last(job)).toMatchObject({ state: 'SUCCESS', usageUnits: 60, at: sim.t0 + MINUTE });
  });

  it('tick() runs what fell due when the test moves the clock itself', async () => {
    const sim = await simulation();
    const job = await sim.submit('small', {}, MINUTE);
    sim.clock.advance(MINUTE);
    expect(sim.changesOf(job).some((c) => c.state === 'SUCCESS')).toBe(false);
    await sim.driver.tick();
    expect(sim.last(job)?.state).toBe('SUCCESS');
  });

  it('in real time, a scaled job ends by itself (real timers)', async () => {
    const changes: Array<DriverJobChange & { jobId: string }> = [];
    const driver = createSimulatedDriver({ ...TEST_CONFIG, startLatencyMs: 1_000 }, { clock: systemClock, timeScale: 1_000 });
    drivers.push(driver);
    await driver.start({
      providerId: PROVIDER,
      clock: systemClock,
      logger: silentLogger(),
      emit: (jobId, c) => changes.push({ jobId, ...c }),
      log: () => {},
    });
    const job = makeCreateJob(TEST_CONFIG.products[0]!, PROVIDER, { parameters: { simulatedDurationMs: 20_000 } });
    const began = Date.now();
    await driver.create(job);
    // 1 s of boot and 20 s of running are 21 ms of real time.
    for (let i = 0; i < 200 && !changes.some((c) => c.state === 'SUCCESS'); i++) await new Promise((r) => setTimeout(r, 5));
    const elapsed = Date.now() - began;
    expect(changes.map((c) => c.state).filter(Boolean)).toEqual(['RUNNING', 'SUCCESS']);
    expect(elapsed).toBeGreaterThanOrEqual(20);
    expect(elapsed).toBeLessThan(1_000);
  });

  it('serves its stitched subschema: job details and the cluster, null for what is not its own', async () => {
    const sim = await simulation();
    const job = await sim.submit('whole', { replicas: 2 }, 10 * MINUTE);
    await sim.submit('whole', { replicas: 4 }, MINUTE); // waits
    await sim.driver.advance(4 * MINUTE);
    const { typeDefs, resolvers } = sim.driver.subschema();
    expect(typeDefs).not.toMatch(/directive @/);
    const { allStitchingDirectivesTypeDefs, stitchingDirectivesValidator } = stitchingDirectives();
    const schema = stitchingDirectivesValidator(
      makeExecutableSchema({ typeDefs: [allStitchingDirectivesTypeDefs, typeDefs], resolvers: resolvers as never }),
    );
    const result = await graphql({
      schema,
      source: `query($jobs: [ID!]!, $providers: [ID!]!) {
        _simulatedJobs(ids: $jobs) { id simulated { nodes virtualStartedAt virtualRemainingMs } }
        _simulatedProviders(ids: $providers) { id simulatedCluster { nodes freeCpu queueLength } }
      }`,
      variableValues: { jobs: [job.id, 'elsewhere'], providers: [PROVIDER, 'other'] },
    });
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      _simulatedJobs: [
        { id: job.id, simulated: { nodes: ['node-1', 'node-2'], virtualStartedAt: new Date(sim.t0).toISOString(), virtualRemainingMs: 6 * MINUTE } },
        null,
      ],
      _simulatedProviders: [{ id: PROVIDER, simulatedCluster: { nodes: 4, freeCpu: 32, queueLength: 1 } }, null],
    });
  });
});

describe('simulated configurations', () => {
  it('both ready-made configurations build, are valid manifests and say they are simulations', async () => {
    for (const config of [HPC_CONFIG, CLOUD_CONFIG]) {
      const driver = createSimulatedDriver(config, { clock: createManualClock() });
      const manifest = manifestSchema.parse(await driver.manifest());
      for (const p of manifest.products) expect(p.description).toMatch(/simulat/i);
    }
    expect(HPC_CONFIG.products.map((p) => [p.id, p.category])).toEqual([
      ['standard-8', 'sim-hpc-cpu'],
      ['standard-32', 'sim-hpc-cpu'],
      ['highmem-16', 'sim-hpc-cpu'],
      ['gpu-4', 'sim-hpc-gpu'],
    ]);
    expect(HPC_CONFIG.products.every((p) => p.unitOfPrice === 'CREDITS_PER_HOUR' && p.support.maxTimeAllocationMs === 48 * HOUR)).toBe(true);
    expect(CLOUD_CONFIG.products.map((p) => p.id)).toEqual(['c5-large', 'c5-xlarge', 'm5-2xlarge', 'p3-2xlarge']);
    expect(
      CLOUD_CONFIG.products.every((p) => p.support.backend === 'VIRTUAL_MACHINE' && p.support.suspension && p.support.maxTimeAllocationMs === null),
    ).toBe(true);
  });

  it('settings pick the configuration, time scale and failure rate, and name a bad one', () => {
    const base = { NATS_URL: 'nats://127.0.0.1:4222' };
    expect(readSimulatedSettings(base)).toMatchObject({ config: HPC_CONFIG, timeScale: 1 });
    const cloud = readSimulatedSettings({
      ...base,
      SWITCHYARD_SIM_CONFIG: 'cloud',
      SWITCHYARD_SIM_TIME_SCALE: '60',
      SWITCHYARD_SIM_FAILURE_RATE: '0.25',
    });
    expect(cloud.timeScale).toBe(60);
    expect(cloud.config).toMatchObject({ name: 'cloud', failureRate: 0.25 });
    expect(CLOUD_CONFIG.failureRate).toBe(0.01);
    expect(() => readSimulatedSettings({ ...base, SWITCHYARD_SIM_CONFIG: 'mainframe' })).toThrow(ConfigError);
    expect(() => readSimulatedSettings({ ...base, SWITCHYARD_SIM_TIME_SCALE: '-1' })).toThrow(/SWITCHYARD_SIM_TIME_SCALE/);
  });
});

describe('simulated provider through the provider runtime', () => {
  it('publishes a job’s updates, output and usage as durable events over the in-process bus', async () => {
    const clock: Clock & { advance(ms: number): void } = createManualClock();
    const transport = createMemoryTransport({ subjects: createSubjects(uniquePrefix()) });
    const events: JobEvent[] = [];
    const logs: LogEvent[] = [];
    const consumer = await transport.consumeDurable(async (body, subject) => {
      if (subject.includes('.events.')) events.push(jobEventSchema.parse(body));
      else logs.push(logEventSchema.parse(body));
    });
    const driver = createSimulatedDriver(HPC_CONFIG, { clock, random: seededRandom(7) });
    const runtime = createProviderRuntime({ transport, driver, id: PROVIDER, kind: 'SIMULATED', version: '0.1.0', clock, logger: silentLogger() });
    await runtime.start();
    try {
      const call = (verb: Parameters<typeof transport.subjects.providerCall>[1], body: unknown) =>
        transport.request(transport.subjects.providerCall(PROVIDER, verb), body, { timeoutMs: 5_000 }) as Promise<any>;
      const gpu = HPC_CONFIG.products.find((p) => p.id === 'gpu-4')!;
      const job = makeCreateJob(gpu, PROVIDER, { replicas: 2, timeAllocationMs: 2 * HOUR, parameters: { simulatedDurationMs: 61 * MINUTE } });
      const created = await call('jobs.create', { v: 1, jobs: [job] });
      expect(created).toMatchObject({ ok: true, result: { results: [{ ok: true, providerGeneratedId: expect.stringMatching(/^sim-/) }] } });

      const utilization = await call('utilization', { v: 1 });
      expect(utilization.result.capacityByProduct['gpu-4']).toBe(64 - 2);
      expect(utilization.result.queueStatus).toEqual({ running: 0, pending: 1 });

      await driver.advance(2 * HOUR);
      await runtime.flush();
      // Stored is not yet consumed: the durable consumer hands messages on asynchronously.
      for (let i = 0; i < 500 && !(events.some((e) => e.state === 'SUCCESS') && logs.length >= 1); i++) await new Promise((r) => setTimeout(r, 5));
      const mine = events.filter((e) => e.jobId === job.id);
      expect(mine.map((e) => e.state)).toEqual([null, 'RUNNING', 'SUCCESS']);
      expect(mine[0]?.status).toBe('Starting on node-1, node-2');
      expect(mine[1]).toMatchObject({ startedAt: clock.now() - 2 * HOUR + 200, providerId: PROVIDER });
      expect(mine[2]).toMatchObject({ usageUnits: 4, exitCode: 0 });
      expect(logs.filter((l) => l.jobId === job.id).flatMap((l) => l.lines.map((line) => line.stdout))).toEqual([
        '[simulated] started on node-1, node-2',
        '[simulated] finished',
      ]);

      const reconciled = await call('jobs.reconcile', { v: 1, ids: [job.id, 'unknown-job'] });
      expect(reconciled.result.jobs.map((o: { state: string | null }) => o.state)).toEqual(['SUCCESS', null]);
      const terminated = await call('jobs.terminate', { v: 1, ids: [job.id], reason: null });
      expect(terminated.result.results[0]).toMatchObject({ ok: false, error: { code: 'INVALID_STATE' } });
    } finally {
      await runtime.stop();
      await consumer.close();
      await transport.close();
    }
  });
});
