/**
 * Heartbeats (BENCH_ONLY=heartbeats): what 200 providers heartbeating every second, with a
 * utilization that changes at every beat, cost the gateway (issue 15: "gateway CPU under 10% of a
 * core, routing decision p50 unchanged"). The gateway is the rig's (bench/rig.ts), on the bench's
 * own NATS and Redis; the providers run in a child process (bench/heartbeat-providers.ts) that
 * speaks protocol v1 over NATS — announcements in the bucket, manifests of 5 to 20 products,
 * utilization answered on the gateway's polls — so the gateway process's CPU is its own.
 *
 * CPU: process.cpuUsage() of the gateway's process over windows of BENCH_HEARTBEAT_SECONDS in
 * which the bench itself only sleeps, as % of one core: the 200 beating, against the same 200
 * registered and quiet (each re-announced once with a long interval, so they stay UP and the
 * gateway still polls their utilization), alternated for BENCH_HEARTBEAT_ROUNDS rounds; the
 * gateway alone before the providers join is reported beside. CPU time per second hardly depends
 * on what else loads the machine; latency does, so:
 *
 * Routing: the decision the gateway makes per job given by requirements is placement's planning
 * step — planRoute over the registry and the utilization cache, passing over products whose support
 * refuses the job (gateway/routing/placement.ts planFor) — timed here on the rig gateway's own
 * registry and cache, one call every millisecond or so so that beats are handled between calls,
 * in short slices that alternate beating and quiet (BENCH_HEARTBEAT_SLICES). The awaited steps
 * around it (wallet and quota lookups in Redis) do not read anything a heartbeat writes.
 *
 * Measured 2026-12-03 (2-core machine fully busy with other builds and benchmarks, load average
 * 16.9 at the start and 9.8–11.4 at the end; Node 20.20; 200 providers, 2,468 products, two rounds
 * of 30 s windows): the gateway alone 0.75% of a core; the 200 quiet 2.74% (2.00 and 3.48), so
 * merely having them (utilization polled every 2 s, see below) costs about 2%; the 200 beating
 * 4.67% (4.81 and 4.52), 200 beats/s stored, every provider's cached utilization new in every
 * window: under the 10% aim, and about 96 µs of gateway CPU per heartbeat. Routing, ten 5 s
 * slices of about 940 decisions of each kind: p50 549 µs beating against 526 µs quiet (1.04×),
 * with features and a price ceiling 539 against 518 µs (1.04×); p99 4.5–5.8 ms either way, which
 * is the machine's load preempting the process, not the beats.
 *
 * Profile (node --cpu-prof, a beating window against a quiet one): what beating adds is garbage
 * collection (the largest part), the announcement's JSON.parse and zod check, nats.js parsing each
 * watch message (its reply subject split into the stream's sequence numbers), the KV entry, and
 * onAnnouncement itself (a few µs: an Object.assign and one gauge set). Nothing per beat logs,
 * writes to Redis, re-sorts candidates or re-reads a manifest, and planRoute reads the registry as
 * it is, so the aims were met with no change to the gateway. What the quiet providers cost is the
 * utilization polls (a request, a zod check of the reply, a histogram observation each), one
 * opossum rolling-window timer per provider, and the periodic reconciliation (store reads per
 * provider every 15 s).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance as nodePerformance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { supportRefusal, type JobSpecificationInput } from '../gateway/jobs/job-specification.js';
import { planRoute, type RouteContext } from '../gateway/routing/router.js';
import {
  heartbeatProductCount,
  heartbeatProviderId,
  type HeartbeatProvidersCommand,
  type HeartbeatProvidersConfig,
  type HeartbeatProvidersMessage,
} from './heartbeat-providers.js';
import type { Rig } from './rig.js';
import { FILTERED_REQUIREMENTS, PLAIN_REQUIREMENTS } from './routing.js';
import { sleep, summarize, waitFor, type LatencySummary } from './stats.js';
import type { Row } from './table.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHILD = join(ROOT, 'bench/heartbeat-providers.ts');

/** The aims: CPU of one core, and routing p50 beating over quiet. */
export const HEARTBEAT_CPU_AIM_PERCENT = 10;
export const HEARTBEAT_ROUTING_RATIO_AIM = 1.2;
/** Beating, unmeasured, between the join and the first window. */
const WARMUP_SECONDS = 10;

export interface HeartbeatsOptions {
  natsUrl: string;
  subjectPrefix: string;
  /** @default 200 */
  providers?: number;
  /** Length of each CPU window. @default 30 */
  seconds?: number;
  /** Rounds of one beating and one quiet CPU window, in turns. @default 2 */
  rounds?: number;
  /** Routing slices, beating and quiet in turns. @default 10 */
  slices?: number;
  /** Timed part of each routing slice, after a second to settle. @default 5 */
  sliceSeconds?: number;
  /** @default 1000 */
  intervalMs?: number;
  progress: (message: string) => void;
}

export type HeartbeatMode = 'idle' | 'beating' | 'quiet';

/** One CPU window. */
export interface CpuWindow {
  mode: HeartbeatMode;
  seconds: number;
  /** The gateway process's user + system CPU, % of one core. */
  gatewayCpuPercent: number;
  /** The share of the gateway's event loop that was busy (nodePerformance.eventLoopUtilization). */
  eventLoopUtilization: number;
  /** The providers' child's CPU, % of one core (from /proc). */
  providersCpuPercent: number;
  /** Beats the providers stored in the bucket, per second. */
  beatsPerSecond: number;
  /** Providers whose cached utilization changed within the window (the gateway polled a new one). */
  utilizationChanged: number;
  /** Every core's busy share, and the 1-minute load average at the end. */
  machineBusy: number;
  loadAverage: number;
}

export interface RoutingComparison {
  beating: LatencySummary;
  quiet: LatencySummary;
}

export interface HeartbeatsResult {
  providers: number;
  products: number;
  intervalMs: number;
  /** Time from the child's start to all providers UP with manifests and utilization cached. */
  joinMs: number;
  windows: CpuWindow[];
  /** Means over the windows of each mode. */
  cpu: Record<HeartbeatMode, { gatewayCpuPercent: number; eventLoopUtilization: number; providersCpuPercent: number; beatsPerSecond: number }>;
  /** planRoute µs, over the slices of each mode. */
  routing: { plain: RoutingComparison; filtered: RoutingComparison; samplesPerSlice: number };
  /** What the plans found (the same in both modes but for capacities). */
  plan: { fitting: number; usable: number; candidates: number };
  /** Load average at the start and the end. */
  loadAverage: { start: number; end: number };
}

/** Busy and total time of all cores, ms, from /proc/stat (zeros off Linux). */
function machineTimes(): { busy: number; total: number } {
  try {
    const [, ...fields] = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0] = fields.map(Number);
    const busy = user + nice + system + irq + softirq;
    return { busy, total: busy + idle + iowait };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** A process's user + system CPU in ms, from /proc (0 when it cannot be read). */
function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime, in USER_HZ ticks (100 a second on every Linux this runs on).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

/** The providers' child: started, told what to do over IPC, stopped by closing the channel. */
interface ProvidersChild {
  child: ChildProcess;
  /** Sends a command and resolves with the first message that `accept` takes. */
  ask<T extends HeartbeatProvidersMessage>(command: HeartbeatProvidersCommand, accept: (m: HeartbeatProvidersMessage) => m is T): Promise<T>;
  stop(): Promise<void>;
}

function startProvidersChild(config: HeartbeatProvidersConfig): { child: ProvidersChild; ready: Promise<number> } {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(config)], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiters = new Set<(m: HeartbeatProvidersMessage) => boolean>();
  child.on('message', (message: HeartbeatProvidersMessage) => {
    for (const waiter of waiters) if (waiter(message)) waiters.delete(waiter);
  });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code, signal) => reject(new Error(`the heartbeat providers exited (${signal ?? code})`))),
  );
  exited.catch(() => undefined);
  const next = <T extends HeartbeatProvidersMessage>(accept: (m: HeartbeatProvidersMessage) => m is T) =>
    Promise.race([
      new Promise<T>((resolve) =>
        waiters.add((m) => {
          if (!accept(m)) return false;
          resolve(m);
          return true;
        }),
      ),
      exited,
    ]);
  return {
    ready: next((m): m is { ready: number } => 'ready' in m).then((m) => m.ready),
    child: {
      child,
      ask(command, accept) {
        const answer = next(accept);
        child.send(command);
        return answer;
      },
      stop: () =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
          child.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          child.disconnect();
        }),
    },
  };
}

const isMode = (m: HeartbeatProvidersMessage): m is { mode: 'beating' | 'quiet'; beats: number } => 'mode' in m;
const isReport = (m: HeartbeatProvidersMessage): m is { beats: number; failedBeats: number; answers: number } => 'answers' in m;

export async function benchHeartbeats(rig: Rig, options: HeartbeatsOptions): Promise<HeartbeatsResult> {
  const count = options.providers ?? 200;
  const seconds = options.seconds ?? 30;
  const rounds = options.rounds ?? 2;
  const slices = options.slices ?? 10;
  const sliceSeconds = options.sliceSeconds ?? 5;
  const intervalMs = options.intervalMs ?? 1000;
  const { registry, utilization } = rig.gateway;
  const ids = Array.from({ length: count }, (_, k) => heartbeatProviderId(k));
  const products = ids.reduce((sum, _id, k) => sum + heartbeatProductCount(k), 0);
  const loadStart = loadavg()[0]!;
  const windows: CpuWindow[] = [];
  let providers: ProvidersChild | null = null;

  const notUp = () =>
    ids.filter((id) => {
      const entry = registry.get(id);
      return !entry || registry.status(entry) !== 'UP';
    });
  /** One CPU window: the bench only sleeps meanwhile, so the process's CPU is the gateway's. */
  const cpuWindow = async (mode: HeartbeatMode): Promise<CpuWindow> => {
    const observedBefore = ids.map((id) => utilization.get(id)?.observedAt);
    const beatsBefore = providers ? (await providers.ask({ report: true }, isReport)).beats : 0;
    const machineBefore = machineTimes();
    const childBefore = processCpuMs(providers?.child.pid);
    const eluBefore = nodePerformance.eventLoopUtilization();
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    await sleep(seconds * 1000);
    const cpu = process.cpuUsage(cpuBefore);
    const wallMs = performance.now() - started;
    const elu = nodePerformance.eventLoopUtilization(eluBefore);
    const childMs = processCpuMs(providers?.child.pid) - childBefore;
    const machineAfter = machineTimes();
    const beatsAfter = providers ? (await providers.ask({ report: true }, isReport)).beats : 0;
    const down = providers ? notUp() : [];
    if (down.length > 0) throw new Error(`${down.length} providers were not UP at the end of a ${mode} window (first: ${down[0]})`);
    const window: CpuWindow = {
      mode,
      seconds: wallMs / 1000,
      gatewayCpuPercent: ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
      eventLoopUtilization: elu.utilization,
      providersCpuPercent: (childMs / wallMs) * 100,
      beatsPerSecond: ((beatsAfter - beatsBefore) * 1000) / wallMs,
      utilizationChanged: ids.filter((id, k) => providers && utilization.get(id)?.observedAt !== observedBefore[k]).length,
      machineBusy:
        machineAfter.total > machineBefore.total ? (machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total) : 0,
      loadAverage: loadavg()[0]!,
    };
    options.progress(
      `${mode}: gateway ${window.gatewayCpuPercent.toFixed(2)}% of a core (event loop ${(window.eventLoopUtilization * 100).toFixed(1)}% busy), ` +
        `providers ${window.providersCpuPercent.toFixed(1)}%, ${window.beatsPerSecond.toFixed(0)} beats/s, ${window.utilizationChanged} utilizations changed; ` +
        `machine ${(window.machineBusy * 100).toFixed(0)}% busy, load ${window.loadAverage.toFixed(1)}`,
    );
    windows.push(window);
    return window;
  };

  try {
    options.progress(`gateway alone for ${seconds} s`);
    await cpuWindow('idle');

    options.progress(`${count} providers (${products} products) joining, heartbeating every ${intervalMs} ms`);
    const joinStarted = performance.now();
    const started = startProvidersChild({ natsUrl: options.natsUrl, subjectPrefix: options.subjectPrefix, count, intervalMs });
    providers = started.child;
    await started.ready;
    await waitFor(
      () =>
        notUp().length === 0 &&
        ids.every((id, k) => registry.get(id)?.manifest?.products.length === heartbeatProductCount(k) && utilization.get(id) !== null),
      `all ${count} providers UP with their manifests and utilization`,
      120_000,
    );
    const joinMs = performance.now() - joinStarted;
    const setMode = async (mode: 'beating' | 'quiet') => {
      await providers!.ask({ mode }, isMode);
      // What the switch itself set off (a burst of announcements) settles before anything is measured.
      await sleep(Math.max(1000, 2 * intervalMs));
    };

    // Unmeasured: what the join leaves behind (schema rebuild, zod compiling its parsers, the garbage) is done with.
    options.progress(`warming up: ${WARMUP_SECONDS} s beating, unmeasured`);
    await sleep(WARMUP_SECONDS * 1000);
    for (let round = 0; round < rounds; round++) {
      // ABBA: neither mode always comes first, after the other.
      for (const mode of round % 2 === 0 ? (['beating', 'quiet'] as const) : (['quiet', 'beating'] as const)) {
        await setMode(mode);
        await cpuWindow(mode);
      }
    }

    // The routing decision: placement's planning step for a job given by requirements, over the live registry and cache.
    const context = (input: JobSpecificationInput): RouteContext => ({
      registry,
      utilization,
      refusal: (product, providerId) => supportRefusal(input, product, providerId)?.reason ?? null,
    });
    const job = { timeAllocation: { hours: 1 }, image: 'bench/image' };
    const plainContext = context({ ...job, requirements: PLAIN_REQUIREMENTS });
    const filteredContext = context({ ...job, requirements: FILTERED_REQUIREMENTS });
    const firstPlan = planRoute(PLAIN_REQUIREMENTS, plainContext);
    const samples = { plain: { beating: [] as number[], quiet: [] as number[] }, filtered: { beating: [] as number[], quiet: [] as number[] } };
    let sink = 0;
    const time = (requirements: typeof PLAIN_REQUIREMENTS, routeContext: RouteContext, into: number[]) => {
      const t0 = performance.now();
      sink += planRoute(requirements, routeContext).candidates.length;
      into.push((performance.now() - t0) * 1000);
    };
    options.progress(`routing: ${slices} slices of ${sliceSeconds} s, beating and quiet in turns`);
    for (let slice = 0; slice < slices; slice++) {
      const mode = slice % 2 === 0 ? 'beating' : 'quiet';
      await setMode(mode);
      const until = performance.now() + sliceSeconds * 1000;
      while (performance.now() < until) {
        // A timer between decisions: beats and polls are handled in between, as between jobs.
        await sleep(1);
        time(PLAIN_REQUIREMENTS, plainContext, samples.plain[mode]);
        await sleep(1);
        time(FILTERED_REQUIREMENTS, filteredContext, samples.filtered[mode]);
      }
    }
    if (sink < 0) console.log(sink);
    const down = notUp();
    if (down.length > 0) throw new Error(`${down.length} providers were not UP after the routing slices (first: ${down[0]})`);

    const mean = (mode: HeartbeatMode, key: 'gatewayCpuPercent' | 'eventLoopUtilization' | 'providersCpuPercent' | 'beatsPerSecond') => {
      const of = windows.filter((w) => w.mode === mode);
      return of.reduce((sum, w) => sum + w[key], 0) / Math.max(1, of.length);
    };
    const means = (mode: HeartbeatMode) => ({
      gatewayCpuPercent: mean(mode, 'gatewayCpuPercent'),
      eventLoopUtilization: mean(mode, 'eventLoopUtilization'),
      providersCpuPercent: mean(mode, 'providersCpuPercent'),
      beatsPerSecond: mean(mode, 'beatsPerSecond'),
    });
    return {
      providers: count,
      products,
      intervalMs,
      joinMs,
      windows,
      cpu: { idle: means('idle'), beating: means('beating'), quiet: means('quiet') },
      routing: {
        plain: { beating: summarize(samples.plain.beating), quiet: summarize(samples.plain.quiet) },
        filtered: { beating: summarize(samples.filtered.beating), quiet: summarize(samples.filtered.quiet) },
        samplesPerSlice: Math.round((samples.plain.beating.length + samples.plain.quiet.length) / slices),
      },
      plan: { fitting: firstPlan.fitting, usable: firstPlan.usable, candidates: firstPlan.candidates.length },
      loadAverage: { start: loadStart, end: loadavg()[0]! },
    };
  } finally {
    await providers?.stop();
  }
}

export function heartbeatsRows(result: HeartbeatsResult): Row[] {
  const b = 'heartbeats';
  const { cpu, routing } = result;
  const who = `${result.providers} providers`;
  const pct = (value: number) => `${value.toFixed(2)}% of a core`;
  const routingRow = (name: string, comparison: RoutingComparison): Row => {
    const ratio = comparison.beating.p50 / comparison.quiet.p50;
    return {
      benchmark: b,
      metric: `routing decision p50, ${name} (${who} beating)`,
      value: comparison.beating.p50,
      unit: 'µs',
      baseline: `quiet ${comparison.quiet.p50.toFixed(0)} µs`,
      ratio,
      aim: `≤ ${HEARTBEAT_ROUTING_RATIO_AIM}× quiet`,
      meetsAim: ratio <= HEARTBEAT_ROUTING_RATIO_AIM,
    };
  };
  return [
    {
      benchmark: b,
      metric: `gateway CPU, ${who} beating every ${result.intervalMs / 1000} s`,
      value: cpu.beating.gatewayCpuPercent,
      unit: '% core',
      baseline: `quiet ${pct(cpu.quiet.gatewayCpuPercent)}`,
      ratio: cpu.beating.gatewayCpuPercent / cpu.quiet.gatewayCpuPercent,
      aim: `< ${HEARTBEAT_CPU_AIM_PERCENT}% of a core`,
      meetsAim: cpu.beating.gatewayCpuPercent < HEARTBEAT_CPU_AIM_PERCENT,
    },
    {
      benchmark: b,
      metric: `gateway CPU, ${who} registered and quiet (utilization still polled)`,
      value: cpu.quiet.gatewayCpuPercent,
      unit: '% core',
      baseline: `gateway alone ${pct(cpu.idle.gatewayCpuPercent)}`,
      ratio: cpu.quiet.gatewayCpuPercent / cpu.idle.gatewayCpuPercent,
    },
    {
      benchmark: b,
      metric: 'gateway CPU per heartbeat (beating − quiet, over beats stored)',
      value:
        cpu.beating.beatsPerSecond > 0 ? ((cpu.beating.gatewayCpuPercent - cpu.quiet.gatewayCpuPercent) * 10_000) / cpu.beating.beatsPerSecond : null,
      unit: 'µs',
      baseline: 'KV watch entry → registry',
    },
    {
      benchmark: b,
      metric: 'heartbeats stored per second while beating',
      value: cpu.beating.beatsPerSecond,
      unit: '/s',
      baseline: `${result.providers * (1000 / result.intervalMs)} expected`,
      ratio: cpu.beating.beatsPerSecond / (result.providers * (1000 / result.intervalMs)),
    },
    // No slices (BENCH_HEARTBEAT_SLICES=0): no routing rows.
    ...(routing.plain.beating.count > 0 && routing.plain.quiet.count > 0
      ? [
          routingRow(`plain requirements (${result.plan.fitting} fitting of ${result.products})`, routing.plain),
          routingRow('requirements with features and a price ceiling', routing.filtered),
        ]
      : []),
  ];
}
