/**
 * `npm run bench`: starts its own nats-server (JetStream) and redis-server,
 * runs every benchmark against a gateway and provider in this process (the
 * last, faults under load, against processes and servers of its own that it
 * kills), prints a table and writes it to bench/results/latest.json, then stops
 * everything. Numbers are reported, and compared with baselines measured in
 * the same run — never asserted: a slow run still exits 0. `BENCH_ONLY=slurm`
 * runs the Slurm benchmark alone and writes bench/results/slurm.json;
 * `BENCH_ONLY=kubernetes` the Kubernetes one alone, `BENCH_ONLY=cloud-vm` the
 * cloud-VM one (bench/results/cloud-vm.json), `BENCH_ONLY=fair-share` the
 * waiting room's fair-share placement (bench/results/fair-share.json),
 * `BENCH_ONLY=authorisation` the authorisation cost of a listing
 * (bench/results/authorisation.json), `BENCH_ONLY=sessions` the interactive
 * sessions one (bench/results/sessions.json), `BENCH_ONLY=dialects` each
 * dialect (OpenPAI, Backend.AI, Apolo, UCloud, Shakudo) against the core API
 * (bench/results/dialects.json; BENCH_DIALECT_JOBS, BENCH_DIALECT_FILL,
 * BENCH_DIALECT_LISTINGS),
 * `BENCH_ONLY=hot-paths` the gateway's hot paths against a minimal Yoga
 * server, NATS and Redis (bench/results/hot-paths.json),
 * `BENCH_ONLY=million` jobs(first: 50) among 1,000,000 stored jobs against
 * 100,000, the fill rate and Redis memory (bench/results/million.json;
 * BENCH_MILLION_SMALL, BENCH_MILLION_LARGE),
 * `BENCH_ONLY=memory` Redis bytes per job and gateway memory per follower,
 * beside a bare node:http SSE server's and a minimal Yoga's
 * (bench/results/memory.json; BENCH_MEMORY_JOBS, BENCH_MEMORY_FOLLOWERS),
 * `BENCH_ONLY=charging` the charging round alone (bench/results/charging.json;
 * BENCH_CHARGE_JOBS, BENCH_CHARGE_OWNERS, BENCH_CHARGE_BATCH),
 * `BENCH_ONLY=replicas` bulk createJobs through 1, 2 and 3 gateway processes on
 * one NATS and Redis, and followers on every replica (bench/results/replicas.json;
 * BENCH_REPLICAS_JOBS jobs per replica count and round, default 20000;
 * BENCH_REPLICAS_CLIENTS concurrent callers, 6; BENCH_REPLICAS_FOLLOWERS per
 * replica, 30; BENCH_REPLICAS_ROUNDS, 2; BENCH_REPLICAS_COUNTS, "1,2,3"),
 * `BENCH_ONLY=heartbeats` the gateway's CPU and routing decision with many
 * providers heartbeating, against the same providers quiet
 * (bench/results/heartbeats.json; BENCH_HEARTBEAT_PROVIDERS, default 200;
 * BENCH_HEARTBEAT_SECONDS, each CPU window, default 30; BENCH_HEARTBEAT_ROUNDS,
 * beating and quiet windows in turns, default 2; BENCH_HEARTBEAT_SLICES and
 * BENCH_HEARTBEAT_SLICE_SECONDS, the routing slices, default 10 of 5 s;
 * BENCH_HEARTBEAT_INTERVAL_MS, default 1000).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';

import { createRedisStore } from '../gateway/store/redis-store.js';
import type { Store } from '../gateway/store/store.js';
import { createSubjects } from '../shared/subjects.js';
import { authorisationRows, benchAuthorisation } from './authorisation.js';
import { jetstreamLatency, natsRoundTrip, redisRoundTrip } from './baselines.js';
import { benchChaos, CHAOS_JOBS, type ChaosResult } from './chaos.js';
import { benchCharging, chargingOptionsFromEnv, chargingRows, chargingWarnings, type ChargingResult } from './charging.js';
import { cloudVmRows, cloudVmWarnings, runCloudVmBench } from './cloud-vm.js';
import { benchDialects, BENCHED_DIALECTS, dialectsRows } from './dialects.js';
import { benchFairShare, fairShareRows } from './fair-share.js';
import { benchFollowLatency } from './follow-latency.js';
import { benchHeartbeats, heartbeatsRows } from './heartbeats.js';
import { hotPathsRows, runHotPathsBench } from './hot-paths.js';
import { benchJobCreation } from './job-creation.js';
import { benchJobListing, creatorName, fillStore } from './job-listing.js';
import { kubernetesRows, kubernetesWarnings, runKubernetesBench } from './kubernetes.js';
import { benchBareSseFloor, benchFollowerMemory, benchMinimalYoga, benchRedisMemory, memoryRows } from './memory.js';
import { benchMillion, millionRows } from './million.js';
import { replicasRows, runReplicasBench } from './replicas.js';
import { runWithRig, startRig, type Rig } from './rig.js';
import { benchRouting } from './routing.js';
import { startServices, type BenchServices } from './services.js';
import { runSessionsBench, sessionsRows } from './sessions.js';
import { benchSlurm, slurmSkipReason, startSlurmRig, type SlurmResult } from './slurm.js';
import { measure, type LatencySummary } from './stats.js';
import { benchStitching, startLocalRig } from './stitching.js';
import { ms, printTable, type Row } from './table.js';

const runId = randomBytes(4).toString('hex');
/** Subjects, JetStream names and Redis keys of this run all start with it. */
const prefix = `bench${runId}`;
const mainSubjects = createSubjects(prefix);
const listSubjects = createSubjects(`${prefix}l`);
const stitchSubjects = createSubjects(`${prefix}s`);
const slurmSubjects = createSubjects(`${prefix}y`);
const kubeSubjects = createSubjects(`${prefix}k`);
const vmSubjects = createSubjects(`${prefix}v`);
const sessionSubjects = createSubjects(`${prefix}e`);
const hotSubjects = createSubjects(`${prefix}h`);
const beatSubjects = createSubjects(`${prefix}b`);
/** The routing bench's in-memory bus: nothing of it reaches the servers. */
const routingPrefix = `${prefix}r`;
const mainKeyPrefix = prefix;
const listKeyPrefix = `${prefix}-list`;
const accessKeyPrefix = `${prefix}-access`;
const accessSubjects = createSubjects(`${prefix}a`);
const stitchKeyPrefix = `${prefix}-stitch`;
const chargeKeyPrefix = `${prefix}-charge`;
const slurmKeyPrefix = `${prefix}-slurm`;
const baselineStream = `${prefix.toUpperCase()}_BASELINE`;

const transportErrors: string[] = [];
const onTransportError = (error: unknown, where: string) => {
  transportErrors.push(`${where}: ${error instanceof Error ? error.message : String(error)}`);
};

const startedAt = Date.now();
const progress = (message: string) => process.stderr.write(`[bench ${((Date.now() - startedAt) / 1000).toFixed(1).padStart(5)} s] ${message}\n`);

let services: BenchServices | null = null;
const rigs: Rig[] = [];
/** Benchmarks' processes (the sessions benchmark's gateway and provider), stopped like the rigs. */
const processes: { stop(): Promise<void> }[] = [];
const stores: Store[] = [];

/** Rigs stopped, this run's streams and buckets deleted, its Redis keys removed unless the server is ours anyway, servers stopped. */
async function cleanup(): Promise<void> {
  for (const rig of [...rigs.splice(0), ...processes.splice(0)])
    await rig.stop().catch((error: unknown) => console.error('bench: could not stop a rig:', error));
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
  if (!services) return;
  try {
    const nc = await connect({ servers: services.natsUrl, name: 'bench-cleanup' });
    const jsm = await jetstreamManager(nc);
    const streams = [baselineStream];
    for (const subjects of [
      mainSubjects,
      listSubjects,
      accessSubjects,
      stitchSubjects,
      slurmSubjects,
      kubeSubjects,
      vmSubjects,
      sessionSubjects,
      hotSubjects,
      beatSubjects,
    ])
      streams.push(subjects.eventStream, `KV_${subjects.providerBucket}`);
    for (const stream of streams) await jsm.streams.delete(stream).catch(() => undefined);
    await nc.close();
  } catch (error) {
    console.error('bench: could not delete the JetStream streams of this run:', error);
  }
  if (!services.owned.redis) {
    // Someone else's Redis: remove exactly this run's keys.
    const redis = new Redis(services.redisUrl);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
    await redis.quit();
  }
  await services.stop();
  services = null;
}

/** A benchmark's table printed, and its rows and raw figures written to bench/results/<name>. */
function report(name: string, results: { rows: Row[]; raw: unknown }): void {
  printTable(results.rows);
  writeResults(name, results);
}

/** One benchmark's results alone, in bench/results/<name>. */
function writeResults(name: string, results: { rows: Row[]; raw: unknown }): void {
  const file = fileURLToPath(new URL(`./results/${name}`, import.meta.url));
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ runId, startedAt: new Date(startedAt).toISOString(), ...results }, null, 2)}\n`);
  console.log(`results written to ${file}`);
}

const describeLatency = (name: string, summary: LatencySummary, which: 'p50' | 'p99') => `${name} ${which} ${ms(summary[which])} ms`;
/** For summaries already in µs. */
const describeMicros = (name: string, summary: LatencySummary, which: 'p50' | 'p99') => `${name} ${which} ${ms(summary[which])} µs`;

/** Benchmark 7, only with a Slurm cluster (SLURM_CONF); otherwise it says why it was not run. */
async function runSlurmSection(natsUrl: string, redisUrl: string): Promise<{ slurm: SlurmResult | null; slurmNotRun: string | null }> {
  let slurm: SlurmResult | null = null;
  let slurmNotRun = slurmSkipReason();
  if (slurmNotRun) {
    progress(`7/8 Slurm: not run (${slurmNotRun})`);
  } else {
    progress(`7/8 Slurm: 200 jobs through Switchyard and 200 bare sbatch, then submission → RUNNING (SLURM_CONF=${process.env.SLURM_CONF})`);
    let slurmRig: Awaited<ReturnType<typeof startSlurmRig>> | null = null;
    try {
      slurmRig = await startSlurmRig({
        natsUrl,
        redisUrl,
        subjectPrefix: slurmSubjects.prefix,
        keyPrefix: slurmKeyPrefix,
        onTransportError,
        slurmConf: process.env.SLURM_CONF!,
        runId,
      });
      rigs.push(slurmRig);
      slurm = await benchSlurm(slurmRig);
    } catch (error) {
      // A cluster that is named but broken does not cost the other benchmarks their results.
      slurmNotRun = `failed: ${error instanceof Error ? error.message : String(error)}`;
      progress(`7/8 Slurm ${slurmNotRun}`);
    } finally {
      if (slurmRig) {
        rigs.splice(rigs.indexOf(slurmRig), 1);
        await slurmRig.stop();
      }
    }
  }
  return { slurm, slurmNotRun };
}

/** The table's rows of benchmark 7. */
function slurmRows(slurm: SlurmResult | null, slurmNotRun: string | null): Row[] {
  const rows: Row[] = [];
  const b7 = '7 Slurm';
  if (!slurm) {
    rows.push({ benchmark: b7, metric: 'not run', value: null, unit: '', baseline: slurmNotRun ?? 'not run' });
  } else {
    const tp = slurm.throughput;
    const fastestBare = tp.bareConcurrent.jobsPerSecond >= tp.bareSequential.jobsPerSecond ? tp.bareConcurrent : tp.bareSequential;
    const fastestLabel = fastestBare === tp.bareConcurrent ? `${tp.bareConcurrent.concurrency} at once` : 'one by one';
    const perSecond = (m: { jobsPerSecond: number }) => `${m.jobsPerSecond.toFixed(0)} jobs/s`;
    rows.push({
      benchmark: b7,
      metric: `Switchyard createJobs ${tp.switchyardBulk.jobs / tp.switchyardBulk.bulkSize} × ${tp.switchyardBulk.bulkSize}`,
      value: tp.switchyardBulk.jobsPerSecond,
      unit: 'jobs/s',
      baseline: `bare sbatch ${fastestLabel} ${perSecond(fastestBare)}`,
      ratio: tp.switchyardBulk.jobsPerSecond / fastestBare.jobsPerSecond,
      aim: '≥ 0.9× (within 1.1×)',
      meetsAim: tp.switchyardBulk.jobsPerSecond / fastestBare.jobsPerSecond >= 1 / 1.1,
    });
    // The same against a shell's xargs, which has no fork() of this process in the way: of
    // `--wrap=true`, and of Switchyard's own jobs; the median of the rounds' own ratios.
    const rounds = `median of ${tp.rounds.count} rounds`;
    rows.push({
      benchmark: b7,
      metric: `Switchyard createJobs ${tp.switchyardBulk.jobs / tp.switchyardBulk.bulkSize} × ${tp.switchyardBulk.bulkSize}, vs bare from a shell`,
      value: tp.switchyardBulk.jobsPerSecond,
      unit: 'jobs/s',
      baseline: `bare sbatch --wrap=true ${tp.bareShell.concurrency} at once from a shell ${perSecond(tp.bareShell)} (${rounds})`,
      ratio: tp.rounds.bulkVsShell,
      aim: '≥ 0.9× (within 1.1×)',
      meetsAim: tp.rounds.bulkVsShell >= 1 / 1.1,
    });
    rows.push({
      benchmark: b7,
      metric: `Switchyard createJobs ${tp.switchyardBulk.jobs / tp.switchyardBulk.bulkSize} × ${tp.switchyardBulk.bulkSize}, vs its own jobs from a shell`,
      value: tp.switchyardBulk.jobsPerSecond,
      unit: 'jobs/s',
      baseline: `bare sbatch of the driver's scripts ${tp.bareShellSameJob.concurrency} at once from a shell ${perSecond(tp.bareShellSameJob)} (${rounds})`,
      ratio: tp.rounds.bulkVsSameJob,
      aim: '≥ 0.9× (within 1.1×)',
      meetsAim: tp.rounds.bulkVsSameJob >= 1 / 1.1,
    });
    rows.push({
      benchmark: b7,
      metric: `Switchyard createJobs ${tp.switchyardBulk.jobs / tp.switchyardBulk.bulkSize} × ${tp.switchyardBulk.bulkSize}: call p50`,
      value: tp.switchyardBulk.callLatency.p50,
      unit: 'ms',
    });
    // Where the machine's CPU went while the jobs were submitted (bench/cpu.ts), beside the shell's.
    const cpu = tp.rounds.cpuMsPerJob;
    rows.push({
      benchmark: b7,
      metric: `Switchyard createJobs ${tp.switchyardBulk.jobs / tp.switchyardBulk.bulkSize} × ${tp.switchyardBulk.bulkSize}: CPU per job, whole machine`,
      value: cpu.switchyardBulk.machine,
      unit: 'ms',
      baseline:
        `its own jobs from a shell ${ms(cpu.bareShellSameJob.machine)} ms (sbatch ${ms(cpu.bareShellSameJob.benchCommands)}); ` +
        `Switchyard: gateway + provider ${ms(cpu.switchyardBulk.benchProcess)}, runners ${ms(cpu.switchyardBulk.commandRunners)}, ` +
        `sbatch ${ms(cpu.switchyardBulk.runnerCommands)}, slurmctld ${ms(cpu.switchyardBulk.slurmctld)} (machine ${(cpu.switchyardBulk.busyShare * 100).toFixed(0)}% busy)`,
      ratio: cpu.switchyardBulk.machine / cpu.bareShellSameJob.machine,
    });
    const calls = slurm.slurmCallsPerJob;
    for (const [counts, when] of [
      [calls.switchyardBulk, 'bulk (until the jobs ended)'],
      [calls.toRunning, 'one at a time to RUNNING'],
    ] as const) {
      rows.push({
        benchmark: b7,
        metric: `squeue and sacct calls per job, ${when}`,
        value: counts.squeue + counts.squeueOneJob + counts.sacct,
        unit: 'calls',
        baseline: `squeue ${counts.squeue.toFixed(2)}, one job ${counts.squeueOneJob.toFixed(2)}, sacct ${counts.sacct.toFixed(2)}`,
      });
    }
    rows.push({
      benchmark: b7,
      metric: `provider alone: jobs.create over NATS ${tp.providerBulk.jobs / tp.providerBulk.bulkSize} × ${tp.providerBulk.bulkSize}`,
      value: tp.providerBulk.jobsPerSecond,
      unit: 'jobs/s',
      baseline: `bare sbatch ${fastestLabel} ${perSecond(fastestBare)}`,
      ratio: tp.providerBulk.jobsPerSecond / fastestBare.jobsPerSecond,
    });
    rows.push({
      benchmark: b7,
      metric: `Switchyard createJobs 1 job × ${tp.switchyardSingle.jobs}, one by one`,
      value: tp.switchyardSingle.jobsPerSecond,
      unit: 'jobs/s',
      baseline: `bare sbatch one by one ${perSecond(tp.bareSequential)}`,
      ratio: tp.switchyardSingle.jobsPerSecond / tp.bareSequential.jobsPerSecond,
    });
    rows.push({
      benchmark: b7,
      metric: `bare sbatch --wrap=true × ${tp.bareSequential.jobs}, one by one`,
      value: tp.bareSequential.jobsPerSecond,
      unit: 'jobs/s',
      baseline: 'baseline',
    });
    rows.push({
      benchmark: b7,
      metric: `bare sbatch --wrap=true × ${tp.bareConcurrent.jobs}, ${tp.bareConcurrent.concurrency} at once`,
      value: tp.bareConcurrent.jobsPerSecond,
      unit: 'jobs/s',
      baseline: 'baseline',
    });
    const tr = slurm.toRunning;
    rows.push({
      benchmark: b7,
      metric: `submission → RUNNING, Switchyard p50 (${tr.switchyard.count}; driver polls every ${slurm.pollIntervalMs} ms)`,
      value: tr.switchyard.p50,
      unit: 'ms',
      baseline: describeLatency('bare sbatch', tr.bare, 'p50'),
      ratio: tr.ratioP50,
      aim: '≤ 1.3× bare',
      meetsAim: tr.ratioP50 <= 1.3,
    });
    rows.push({
      benchmark: b7,
      metric: 'submission → RUNNING, Switchyard max',
      value: tr.switchyard.max,
      unit: 'ms',
      baseline: `bare sbatch max ${ms(tr.bare.max)} ms`,
      ratio: tr.switchyard.max / tr.bare.max,
    });
    rows.push({ benchmark: b7, metric: `sbatch → squeue shows R, p50 (${tr.bare.count})`, value: tr.bare.p50, unit: 'ms', baseline: 'baseline' });
    rows.push({ benchmark: b7, metric: 'sbatch → squeue shows R, max', value: tr.bare.max, unit: 'ms', baseline: 'baseline' });
  }
  return rows;
}

/** The authorisation cost of jobs(first: 50): its own store and gateway on its own key prefix. */
async function runAuthorisationSection(natsUrl: string, redisUrl: string) {
  const store = await createRedisStore({ url: redisUrl, keyPrefix: accessKeyPrefix });
  stores.push(store);
  const rig = await startRig({
    natsUrl,
    redisUrl,
    subjectPrefix: accessSubjects.prefix,
    keyPrefix: accessKeyPrefix,
    withProvider: false,
    onTransportError,
  });
  rigs.push(rig);
  const raw = await benchAuthorisation(store, rig, progress);
  rigs.splice(rigs.indexOf(rig), 1);
  await rig.stop();
  return { rows: authorisationRows(raw), raw };
}

async function main(): Promise<void> {
  progress('starting nats-server and redis-server');
  services = await startServices();
  const { natsUrl, redisUrl } = services;
  const kube = { natsUrl, redisUrl, subjectPrefix: kubeSubjects.prefix, keyPrefix: `${prefix}-kube`, onTransportError, runId, rigs, progress };
  const vm = { natsUrl, redisUrl, subjectPrefix: vmSubjects.prefix, keyPrefix: `${prefix}-vm`, onTransportError, rigs, progress };
  const sessionsOptions = { natsUrl, redisUrl, subjectPrefix: sessionSubjects.prefix, processes, progress };
  // BENCH_ONLY=<one of these>: that benchmark alone (the others share baselines, so they run together).
  const alone = [
    'slurm',
    'kubernetes',
    'cloud-vm',
    'fair-share',
    'authorisation',
    'sessions',
    'dialects',
    'hot-paths',
    'memory',
    'million',
    'charging',
    'replicas',
    'heartbeats',
  ];
  const only = process.env.BENCH_ONLY;
  if (only !== undefined && !alone.includes(only))
    throw new Error(`BENCH_ONLY=${only}: only ${alone.map((name) => `"${name}"`).join(', ')} runs alone`);
  if (only === 'heartbeats') {
    const subjectPrefix = beatSubjects.prefix;
    const outcome = await runWithRig({
      name: 'heartbeats',
      rigs,
      progress,
      start: () => startRig({ natsUrl, redisUrl, subjectPrefix, keyPrefix: `${prefix}-beats`, withProvider: false, onTransportError }),
      bench: (rig, say) =>
        benchHeartbeats(rig, {
          natsUrl,
          subjectPrefix,
          progress: say,
          providers: Number(process.env.BENCH_HEARTBEAT_PROVIDERS ?? 200),
          seconds: Number(process.env.BENCH_HEARTBEAT_SECONDS ?? 30),
          rounds: Number(process.env.BENCH_HEARTBEAT_ROUNDS ?? 2),
          slices: Number(process.env.BENCH_HEARTBEAT_SLICES ?? 10),
          sliceSeconds: Number(process.env.BENCH_HEARTBEAT_SLICE_SECONDS ?? 5),
          intervalMs: Number(process.env.BENCH_HEARTBEAT_INTERVAL_MS ?? 1000),
        }),
    });
    if (!('result' in outcome)) throw new Error(`heartbeats benchmark ${outcome.notRun}`);
    const rows = heartbeatsRows(outcome.result);
    report('heartbeats.json', { rows, raw: outcome.result });
    return;
  }
  if (only === 'replicas') {
    const result = await runReplicasBench({
      natsUrl,
      redisUrl,
      prefix,
      processes,
      progress,
      jobs: Number(process.env.BENCH_REPLICAS_JOBS ?? 20_000),
      clients: Number(process.env.BENCH_REPLICAS_CLIENTS ?? 6),
      followersPerReplica: Number(process.env.BENCH_REPLICAS_FOLLOWERS ?? 30),
      rounds: Number(process.env.BENCH_REPLICAS_ROUNDS ?? 2),
      replicaCounts: (process.env.BENCH_REPLICAS_COUNTS ?? '1,2,3').split(',').map(Number),
    });
    const rows = replicasRows(result);
    report('replicas.json', { rows, raw: result });
    const missed = result.phases.flatMap((p) => p.followers).filter((f) => !f.sawEveryChange);
    if (missed.length > 0) console.log(`warning: ${missed.length} followers missed a change; first: ${missed[0]!.problem}`);
    return;
  }
  if (only === 'hot-paths') {
    const result = await runHotPathsBench({
      natsUrl,
      redisUrl,
      subjectPrefix: hotSubjects.prefix,
      keyPrefix: `${prefix}-hot`,
      onTransportError,
      rigs,
      progress,
      rounds: Number(process.env.BENCH_HOT_ROUNDS ?? 5),
    });
    const rows = hotPathsRows(result);
    report('hot-paths.json', { rows, raw: result });
    return;
  }
  if (only === 'memory') {
    const followers = Number(process.env.BENCH_MEMORY_FOLLOWERS ?? 10_000);
    const redisFigures = await benchRedisMemory(redisUrl, `${prefix}-memory`, Number(process.env.BENCH_MEMORY_JOBS ?? 20_000));
    const outcome = await runWithRig({
      name: 'memory',
      rigs,
      progress,
      start: () => startRig({ natsUrl, redisUrl, subjectPrefix: `${prefix}m`, keyPrefix: `${prefix}-memrig`, withProvider: true, onTransportError }),
      bench: (rig) => benchFollowerMemory(rig, followers),
    });
    if (!('result' in outcome)) throw new Error(`memory benchmark ${outcome.notRun}`);
    // Over websockets, on a rig of its own: the SSE streams' memory, once freed, is not all returned to the system.
    const perConnection = Number(process.env.BENCH_MEMORY_PER_CONNECTION ?? 100);
    const overWebsockets = await runWithRig({
      name: 'memory (websocket followers)',
      rigs,
      progress,
      start: () => startRig({ natsUrl, redisUrl, subjectPrefix: `${prefix}w`, keyPrefix: `${prefix}-memws`, withProvider: true, onTransportError }),
      bench: (rig) => benchFollowerMemory(rig, followers, { kind: 'websocket', perConnection }),
    });
    if (!('result' in overWebsockets)) throw new Error(`memory benchmark over websockets ${overWebsockets.notRun}`);
    // The baselines after the rig has stopped: each is a process of its own, measured alone.
    progress('memory: bare node:http and minimal Yoga baselines');
    const floor = await benchBareSseFloor(followers);
    const yoga = await benchMinimalYoga(followers);
    const websocket = { ...overWebsockets.result, perConnection };
    const rows = memoryRows(redisFigures, { gateway: outcome.result, websocket, floor, yoga });
    report('memory.json', { rows, raw: { ...redisFigures, gateway: outcome.result, websocket, floor, yoga } });
    return;
  }
  if (only === 'million') {
    const started: Rig[] = [];
    try {
      const start = async (suffix: string) => {
        const rig = await startRig({
          natsUrl,
          redisUrl,
          subjectPrefix: `${prefix}${suffix}`,
          keyPrefix: `${prefix}-${suffix}`,
          withProvider: false,
          onTransportError,
        });
        rigs.push(rig);
        started.push(rig);
        return rig;
      };
      const [small, large] = [await start('m100k'), await start('m1m')];
      const result = await benchMillion(redisUrl, small, large, (message) => progress(`million: ${message}`), {
        small: Number(process.env.BENCH_MILLION_SMALL ?? 100_000),
        large: Number(process.env.BENCH_MILLION_LARGE ?? 1_000_000),
      });
      const rows = millionRows(result);
      report('million.json', { rows, raw: result });
    } finally {
      for (const rig of started) {
        rigs.splice(rigs.indexOf(rig), 1);
        await rig.stop();
      }
    }
    return;
  }
  if (only === 'dialects') {
    const outcome = await runWithRig({
      name: 'dialects',
      rigs,
      progress,
      start: () =>
        startRig({
          natsUrl,
          redisUrl,
          subjectPrefix: `${prefix}d`,
          keyPrefix: `${prefix}-dialects`,
          withProvider: true,
          onTransportError,
          // One gateway needs no SWITCHYARD_APOLO_SIGNING_KEY: Apolo's tokens are signed with a key of this process,
          // UCloud's access JWTs with one derived from the administrator token; Shakudo's are Switchyard tokens.
          dialects: BENCHED_DIALECTS,
        }),
      bench: (rig, say) =>
        benchDialects(rig, say, {
          jobs: Number(process.env.BENCH_DIALECT_JOBS ?? 1000),
          fill: Number(process.env.BENCH_DIALECT_FILL ?? 100_000),
          listings: Number(process.env.BENCH_DIALECT_LISTINGS ?? 200),
        }),
    });
    if (!('result' in outcome)) throw new Error(`dialects benchmark ${outcome.notRun}`);
    const rows = dialectsRows(outcome.result);
    report('dialects.json', { rows, raw: outcome.result });
    return;
  }
  if (only === 'authorisation') {
    const { rows, raw } = await runAuthorisationSection(natsUrl, redisUrl);
    report('authorisation.json', { rows, raw });
    return;
  }
  if (only === 'charging') {
    const result = await benchCharging({ redisUrl, keyPrefix: chargeKeyPrefix, ...chargingOptionsFromEnv() });
    const rows = chargingRows(result);
    report('charging.json', { rows, raw: result });
    for (const warning of chargingWarnings(result)) console.log(`warning: ${warning}`);
    return;
  }
  if (only === 'fair-share') {
    const result = benchFairShare();
    const rows = fairShareRows(result);
    report('fair-share.json', { rows, raw: result });
    return;
  }
  if (only === 'sessions') {
    const outcome = await runSessionsBench(sessionsOptions);
    const rows = sessionsRows(outcome);
    report('sessions.json', { rows, raw: 'result' in outcome ? outcome.result : outcome });
    return;
  }
  if (only === 'cloud-vm') {
    const outcome = await runCloudVmBench(vm);
    const rows = cloudVmRows(outcome);
    report('cloud-vm.json', { rows, raw: 'result' in outcome ? outcome.result : outcome });
    for (const warning of cloudVmWarnings(outcome)) console.log(`warning: ${warning}`);
    return;
  }
  if (only === 'kubernetes') {
    const outcome = await runKubernetesBench(kube);
    printTable(kubernetesRows(outcome));
    for (const warning of kubernetesWarnings(outcome)) console.log(`warning: ${warning}`);
    return;
  }
  if (only === 'slurm') {
    const { slurm, slurmNotRun } = await runSlurmSection(natsUrl, redisUrl);
    const rows = slurmRows(slurm, slurmNotRun);
    report('slurm.json', { rows, raw: slurm ?? { notRun: slurmNotRun } });
    return;
  }

  progress('baselines: NATS request/reply, Redis SET, JetStream publish → consume');
  const natsRtt = await natsRoundTrip(natsUrl, `${prefix}.baseline.echo`);
  const redisSet = await redisRoundTrip(redisUrl, (redis, i) => redis.set(`${prefix}:baseline:set`, `value-${i}`));
  const jsLatency = await jetstreamLatency(natsUrl, { stream: baselineStream, subject: `${prefix}.baseline.js` });

  progress('1/8 job creation: gateway + instant provider over NATS and Redis');
  const rig = await startRig({
    natsUrl,
    redisUrl,
    subjectPrefix: mainSubjects.prefix,
    keyPrefix: mainKeyPrefix,
    withProvider: true,
    onTransportError,
  });
  rigs.push(rig);
  // The floor of any GraphQL call: HTTP, Yoga, auth, a resolver that touches nothing.
  const graphqlFloor = await measure(300, () => rig.admin.ok('{ me { createdBy } }'), 30);
  const creation = await benchJobCreation(rig);

  progress('3/8 followJob latency: provider event → SSE subscriber');
  const follow = await benchFollowLatency(rig);
  rigs.splice(rigs.indexOf(rig), 1);
  await rig.stop();

  progress('2/8 jobs(first: 50): filling 100,000 jobs over 500 creators');
  const listStore = await createRedisStore({ url: redisUrl, keyPrefix: listKeyPrefix });
  stores.push(listStore);
  const fill = await fillStore(listStore);
  progress(`2/8 filled in ${fill.seconds.toFixed(1)} s; measuring store.listJobs and GraphQL jobs(first: 50)`);
  const listRig = await startRig({
    natsUrl,
    redisUrl,
    subjectPrefix: listSubjects.prefix,
    keyPrefix: listKeyPrefix,
    withProvider: false,
    onTransportError,
  });
  rigs.push(listRig);
  const user = creatorName(123);
  const zcard = await redisRoundTrip(redisUrl, (redis) => redis.zcard(`${listKeyPrefix}:jobs:creator:${user}`));
  const listing = await benchJobListing(listRig, listStore, user);

  progress('2/8 authorisation cost: jobs(first: 50) for a member of 50 projects beside a user of none');
  const authorisation = await runAuthorisationSection(natsUrl, redisUrl);

  progress('4/8 routing: planRoute among 100 providers × 20 products, beside a plain sort');
  const routing = await benchRouting({ subjectPrefix: routingPrefix });

  progress('5/8 stitched field on 50 jobs: gateway + local provider running 50 × sleep 120');
  const localRig = await startLocalRig({ natsUrl, redisUrl, subjectPrefix: stitchSubjects.prefix, keyPrefix: stitchKeyPrefix, onTransportError });
  rigs.push(localRig);
  const stitching = await benchStitching(localRig);
  rigs.splice(rigs.indexOf(localRig), 1);
  await localRig.stop();

  progress('6/8 charging round: 100,000 running jobs over 1,000 wallets on the Redis ledger, beside bare EVALSHA');
  const charging: ChargingResult = await benchCharging({ redisUrl, keyPrefix: chargeKeyPrefix, ...chargingOptionsFromEnv() });

  // Only with a Slurm cluster (SLURM_CONF); otherwise a row says why it was not run.
  const { slurm, slurmNotRun } = await runSlurmSection(natsUrl, redisUrl);

  const kubernetes = await runKubernetesBench(kube);

  const cloudVm = await runCloudVmBench(vm);

  const sessions = await runSessionsBench(sessionsOptions);

  // Last: it kills and restarts servers of its own, so nothing else runs beside it.
  progress(
    `8/8 faults under load: ${CHAOS_JOBS.toLocaleString('en')} jobs over 30 s while a gateway, NATS, the provider and Redis are SIGKILLed and restarted`,
  );
  let chaos: ChaosResult | null = null;
  let chaosFailed: string | null = null;
  try {
    chaos = await benchChaos((message) => progress(`8/8 ${message}`));
  } catch (error) {
    // A run that could not be made (no bwrap for the local provider, say) costs the others nothing.
    chaosFailed = `failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
    progress(`8/8 faults under load ${chaosFailed}`);
  }

  const rows: Row[] = [];
  const b1 = '1 job creation';
  rows.push({
    benchmark: b1,
    metric: `bulk createJobs (${creation.bulk.calls} × ${creation.bulk.jobsPerCall})`,
    value: creation.bulk.jobsPerSecond,
    unit: 'jobs/s',
    aim: '≥ 1000 jobs/s',
    meetsAim: creation.bulk.jobsPerSecond >= 1000,
  });
  rows.push({ benchmark: b1, metric: 'bulk call p50', value: creation.bulk.callLatency.p50, unit: 'ms' });
  rows.push({
    benchmark: b1,
    metric: 'RUNNING events applied (bulk phase)',
    value: creation.events.appliedPerSecond,
    unit: 'events/s',
    baseline: `drained ${ms(creation.events.drainAfterLastCallMs)} ms after last call`,
  });
  rows.push({
    benchmark: b1,
    metric: `single-job createJobs p50 (${creation.single.count})`,
    value: creation.single.p50,
    unit: 'ms',
    baseline: describeLatency('NATS RTT', natsRtt, 'p50'),
    ratio: creation.single.p50 / natsRtt.p50,
    aim: '≤ 5× NATS p50',
    meetsAim: creation.single.p50 / natsRtt.p50 <= 5,
  });
  rows.push({
    benchmark: b1,
    metric: 'single-job createJobs p99',
    value: creation.single.p99,
    unit: 'ms',
    baseline: describeLatency('NATS RTT', natsRtt, 'p99'),
    ratio: creation.single.p99 / natsRtt.p99,
  });
  rows.push({
    benchmark: b1,
    metric: `GraphQL { me } p50 (${graphqlFloor.count})`,
    value: graphqlFloor.p50,
    unit: 'ms',
    baseline: describeLatency('NATS RTT', natsRtt, 'p50'),
    ratio: graphqlFloor.p50 / natsRtt.p50,
  });
  rows.push({ benchmark: b1, metric: `NATS request/reply p50 (${natsRtt.count})`, value: natsRtt.p50, unit: 'ms', baseline: 'baseline' });
  rows.push({ benchmark: b1, metric: 'NATS request/reply p99', value: natsRtt.p99, unit: 'ms', baseline: 'baseline' });
  rows.push({ benchmark: b1, metric: `Redis SET p50 (${redisSet.count})`, value: redisSet.p50, unit: 'ms', baseline: 'baseline' });
  rows.push({ benchmark: b1, metric: 'Redis SET p99', value: redisSet.p99, unit: 'ms', baseline: 'baseline' });

  const b2 = '2 jobs(first: 50)';
  rows.push({
    benchmark: b2,
    metric: `fill ${fill.jobs} jobs / ${fill.creators} creators`,
    value: fill.jobsPerSecond,
    unit: 'jobs/s',
    baseline: `store.createJob, ${ms(fill.seconds)} s`,
  });
  rows.push({
    benchmark: b2,
    metric: `store.listJobs p50 (${listing.store.count})`,
    value: listing.store.p50,
    unit: 'ms',
    baseline: describeLatency('ZCARD', zcard, 'p50'),
    ratio: listing.store.p50 / zcard.p50,
    aim: 'p50 < 10 ms',
    meetsAim: listing.store.p50 < 10,
  });
  rows.push({
    benchmark: b2,
    metric: 'store.listJobs p99',
    value: listing.store.p99,
    unit: 'ms',
    baseline: describeLatency('ZCARD', zcard, 'p50'),
    ratio: listing.store.p99 / zcard.p50,
  });
  rows.push({
    benchmark: b2,
    metric: `GraphQL jobs(first: 50) p50 (${listing.graphql.count})`,
    value: listing.graphql.p50,
    unit: 'ms',
    baseline: describeLatency('ZCARD', zcard, 'p50'),
    ratio: listing.graphql.p50 / zcard.p50,
    aim: 'p50 < 10 ms',
    meetsAim: listing.graphql.p50 < 10,
  });
  rows.push({
    benchmark: b2,
    metric: 'GraphQL jobs(first: 50) p99',
    value: listing.graphql.p99,
    unit: 'ms',
    baseline: describeLatency('ZCARD', zcard, 'p50'),
    ratio: listing.graphql.p99 / zcard.p50,
  });
  rows.push({ benchmark: b2, metric: `Redis ZCARD p50 (${zcard.count})`, value: zcard.p50, unit: 'ms', baseline: 'baseline' });
  rows.push(...authorisation.rows);

  const b3 = '3 followJob latency';
  rows.push({
    benchmark: b3,
    metric: `emit → SSE p50 (${follow.received}/${follow.events} events)`,
    value: follow.latency.p50,
    unit: 'ms',
    baseline: describeLatency('JetStream', jsLatency, 'p50'),
    ratio: follow.latency.p50 / jsLatency.p50,
  });
  rows.push({
    benchmark: b3,
    metric: 'emit → SSE p99',
    value: follow.latency.p99,
    unit: 'ms',
    baseline: describeLatency('JetStream', jsLatency, 'p99'),
    ratio: follow.latency.p99 / jsLatency.p99,
    aim: 'p99 < 20 ms',
    meetsAim: follow.latency.p99 < 20,
  });
  rows.push({
    benchmark: b3,
    metric: `JetStream publish → consume p50 (${jsLatency.count})`,
    value: jsLatency.p50,
    unit: 'ms',
    baseline: 'baseline',
  });
  rows.push({ benchmark: b3, metric: 'JetStream publish → consume p99', value: jsLatency.p99, unit: 'ms', baseline: 'baseline' });

  const b4 = '4 routing decision';
  const sortP50 = describeMicros(`sort ${routing.products}`, routing.sortUs, 'p50');
  const sortP99 = describeMicros(`sort ${routing.products}`, routing.sortUs, 'p99');
  for (const [label, plan] of [
    ['cpu 2, 4 GiB', routing.plain],
    ['+ logs, terminal, ≤ 5 credits/min', routing.filtered],
  ] as const) {
    rows.push({
      benchmark: b4,
      metric: `planRoute ${label} p50 (${plan.latencyUs.count}; ${plan.fitting} fit, ${plan.excluded} excluded)`,
      value: plan.latencyUs.p50,
      unit: 'µs',
      baseline: sortP50,
      ratio: plan.latencyUs.p50 / routing.sortUs.p50,
      aim: 'p50 < 100 µs',
      meetsAim: plan.latencyUs.p50 < 100,
    });
    rows.push({
      benchmark: b4,
      metric: `planRoute ${label} p99`,
      value: plan.latencyUs.p99,
      unit: 'µs',
      baseline: sortP99,
      ratio: plan.latencyUs.p99 / routing.sortUs.p99,
    });
  }
  rows.push({
    benchmark: b4,
    metric: `registry.list() p50 (${routing.providers} providers)`,
    value: routing.registryListUs.p50,
    unit: 'µs',
    baseline: sortP50,
    ratio: routing.registryListUs.p50 / routing.sortUs.p50,
  });
  rows.push({
    benchmark: b4,
    metric: `sort ${routing.products} candidates by price p50 (${routing.sortUs.count})`,
    value: routing.sortUs.p50,
    unit: 'µs',
    baseline: 'baseline',
  });
  rows.push({
    benchmark: b4,
    metric: `sort ${routing.products} candidates by price p99`,
    value: routing.sortUs.p99,
    unit: 'µs',
    baseline: 'baseline',
  });

  const b5 = `5 stitched field, ${stitching.jobs} jobs`;
  const calls = stitching.graphqlCalls;
  rows.push({
    benchmark: b5,
    metric: `jobs(first: 50) + local { host pids } p50 (${stitching.stitched.count})`,
    value: stitching.stitched.p50,
    unit: 'ms',
    baseline: describeLatency('without', stitching.plain, 'p50'),
    ratio: stitching.ratioP50,
    aim: '< 2× without',
    meetsAim: stitching.ratioP50 < 2,
  });
  rows.push({
    benchmark: b5,
    metric: 'jobs(first: 50) + local { host pids } p99',
    value: stitching.stitched.p99,
    unit: 'ms',
    baseline: describeLatency('without', stitching.plain, 'p99'),
    ratio: stitching.stitched.p99 / stitching.plain.p99,
  });
  rows.push({
    benchmark: b5,
    metric: 'graphql calls to the provider per query',
    value: calls.stitched.perQuery,
    unit: 'calls',
    baseline: `min ${calls.stitched.min}, max ${calls.stitched.max}; ${calls.plain.perQuery} without`,
    aim: '1 (batched)',
    meetsAim: calls.stitched.min === 1 && calls.stitched.max === 1,
  });
  rows.push({
    benchmark: b5,
    metric: 'graphql call to the provider, mean as the gateway timed it',
    value: calls.stitched.meanMs,
    unit: 'ms',
    baseline: describeLatency('NATS RTT', natsRtt, 'p50'),
    ratio: calls.stitched.meanMs / natsRtt.p50,
  });
  rows.push({
    benchmark: b5,
    metric: `jobs(first: 50) without it p50 (${stitching.plain.count})`,
    value: stitching.plain.p50,
    unit: 'ms',
    baseline: 'baseline',
  });
  rows.push({ benchmark: b5, metric: 'jobs(first: 50) without it p99', value: stitching.plain.p99, unit: 'ms', baseline: 'baseline' });

  rows.push(...chargingRows(charging));

  rows.push(...slurmRows(slurm, slurmNotRun));

  const b8 = `8 faults under load, ${CHAOS_JOBS.toLocaleString('en')} jobs`;
  if (!chaos) {
    rows.push({ benchmark: b8, metric: 'not run', value: null, unit: '', baseline: chaosFailed ?? 'not run' });
  } else {
    const refused = Object.values(chaos.refused).reduce((a, b) => a + b, 0);
    const faults = chaos.faults.map((f) => `${f.what} ${f.recoveredSeconds.toFixed(1)} s`).join(', ');
    const zero = (metric: string, value: number, unit: string, baseline?: string) =>
      rows.push({ benchmark: b8, metric, value, unit, baseline, aim: '0', meetsAim: value === 0 });
    rows.push({
      benchmark: b8,
      metric: 'jobs accepted',
      value: chaos.accepted,
      unit: 'jobs',
      baseline: `of ${chaos.submitted} submitted; ${chaos.waitedForProvider} waited for the provider, ${chaos.resentForDeadReplica} sent again for a replica that died`,
    });
    zero('refused for an unreachable provider', chaos.refusedUnavailable, 'jobs', `${refused} refused in all`);
    zero(
      'accepted jobs not final',
      chaos.notFinal.length,
      'jobs',
      `within ${chaos.seconds.settling.toFixed(1)} s of the last fault; ${Object.entries(chaos.finalStates)
        .map(([state, n]) => `${state} ${n}`)
        .join(', ')}`,
    );
    zero('log lines lost', chaos.lostLines, 'lines', `in ${chaos.jobsWithLostLines.length} jobs`);
    zero('log lines stored twice', chaos.duplicatedLines, 'lines');
    zero('jobs that ran twice', chaos.doubleRuns.length, 'jobs');
    zero(
      'charged − expected from run times',
      chaos.charges.jobsCharged - chaos.charges.expected,
      'credits',
      `expected ${chaos.charges.expected}; ${chaos.charges.jobsOff} jobs off, by at most ${chaos.charges.maxJobDifference}`,
    );
    zero(
      'fall in wallet − charge records',
      chaos.charges.walletFall - chaos.charges.chargeRecords,
      'credits',
      `fell ${chaos.charges.walletFall}, records ${chaos.charges.chargeRecords}`,
    );
    rows.push({
      benchmark: b8,
      metric: 'faults: kill → everything ready again',
      value: chaos.faults.reduce((sum, f) => sum + f.recoveredSeconds, 0),
      unit: 's',
      baseline: faults,
    });
    rows.push({
      benchmark: b8,
      metric: 'last fault over → every job final',
      value: chaos.seconds.settling,
      unit: 's',
      baseline: `submitting took ${chaos.seconds.submitting.toFixed(1)} s`,
    });
  }

  rows.push(...kubernetesRows(kubernetes));
  rows.push(...cloudVmRows(cloudVm));
  rows.push(...sessionsRows(sessions));

  const durationS = (Date.now() - startedAt) / 1000;
  console.log('');
  printTable(rows);
  console.log('');
  const failures = creation.bulk.failed + creation.single.failed;
  if (failures > 0) console.log(`warning: ${failures} job creations came back with an error`);
  if (follow.received < follow.events) console.log(`warning: followJob delivered ${follow.received} of ${follow.events} events`);
  for (const plan of [routing.plain, routing.filtered]) {
    if (!plan.chosenIsBest) console.log(`warning: planRoute(${JSON.stringify(plan.requirements)}) chose ${plan.chosen}, not the best of a full sort`);
  }
  if (stitching.badAnswers.plain + stitching.badAnswers.stitched > 0) {
    console.log(
      `warning: jobs(first: 50) answered with errors or missing jobs ${stitching.badAnswers.plain} times without and ${stitching.badAnswers.stitched} times with local { host pids }`,
    );
  }
  for (const warning of chargingWarnings(charging)) console.log(`warning: ${warning}`);
  if (slurm) {
    const tp = slurm.throughput;
    const failed =
      tp.switchyardBulk.failed + tp.switchyardSingle.failed + tp.providerBulk.failed + tp.bareSequential.failed + tp.bareConcurrent.failed;
    if (failed > 0) {
      console.log(
        `warning: Slurm: ${failed} submissions failed (Switchyard bulk ${tp.switchyardBulk.failed}, single ${tp.switchyardSingle.failed}, provider alone ${tp.providerBulk.failed}; bare ${tp.bareSequential.failed} + ${tp.bareConcurrent.failed})`,
      );
    }
    if (slurm.otherJobsSeen > 0)
      console.log(`warning: Slurm: up to ${slurm.otherJobsSeen} jobs of others were in the queue between steps: the cluster was not idle`);
  } else if (slurmNotRun?.startsWith('failed')) {
    console.log(`warning: the Slurm benchmark ${slurmNotRun}`);
  }
  if (chaos) {
    const bad =
      chaos.refusedUnavailable + chaos.notFinal.length + chaos.lostLines + chaos.duplicatedLines + chaos.doubleRuns.length + chaos.charges.jobsOff;
    if (bad > 0)
      console.log(
        `warning: faults under load: ${chaos.refusedUnavailable} refused for an unreachable provider, ${chaos.notFinal.length} not final, ${chaos.lostLines} lines lost, ${chaos.duplicatedLines} doubled, ${chaos.doubleRuns.length} ran twice, ${chaos.charges.jobsOff} charged wrong`,
      );
  } else if (chaosFailed) {
    console.log(`warning: the faults-under-load benchmark ${chaosFailed}`);
  }
  for (const warning of kubernetesWarnings(kubernetes)) console.log(`warning: ${warning}`);
  for (const warning of cloudVmWarnings(cloudVm)) console.log(`warning: ${warning}`);
  if (!('result' in sessions)) console.log(`warning: the sessions benchmark ${sessions.notRun}`);
  if (transportErrors.length > 0) console.log(`warning: ${transportErrors.length} transport errors, first: ${transportErrors[0]}`);

  const results = {
    runId,
    startedAt: new Date(startedAt).toISOString(),
    durationSeconds: durationS,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? null, memoryBytes: totalmem(), node: process.version, platform: process.platform },
    servers: services.versions,
    rows,
    raw: {
      baselines: { natsRequestReply: natsRtt, graphqlMe: graphqlFloor, redisSet, redisZcard: zcard, jetstreamPublishConsume: jsLatency },
      jobCreation: creation,
      jobListing: { fill, ...listing },
      authorisation: authorisation.raw,
      followLatency: follow,
      routing,
      stitching,
      charging,
      slurm: slurm ?? { notRun: slurmNotRun },
      kubernetes,
      cloudVm: 'result' in cloudVm ? cloudVm.result : cloudVm,
      sessions: 'result' in sessions ? sessions.result : sessions,
      chaos: chaos ?? { notRun: chaosFailed },
    },
    transportErrors: transportErrors.slice(0, 20),
  };
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}latest.json`;
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`results written to ${file} (${durationS.toFixed(1)} s)`);
}

let exiting = false;
// Whatever ends the process, the servers it started do not outlive it.
process.on('exit', () => services?.killNow());
for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(event, (error: unknown) => {
    console.error(`bench: ${event}:`, error);
    if (exiting) return;
    exiting = true;
    void cleanup().finally(() => process.exit(1));
  });
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (exiting) return;
    exiting = true;
    progress(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

main()
  .then(
    () => 0,
    (error: unknown) => {
      console.error('bench failed:', error);
      return 1;
    },
  )
  .then(async (code) => {
    exiting = true;
    progress('cleaning up');
    await cleanup().catch((error: unknown) => console.error('bench: cleanup failed:', error));
    // Sockets and timers of the libraries may linger; everything of ours is closed.
    process.exit(code);
  });
