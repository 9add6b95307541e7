/**
 * The simulated provider: many virtual nodes and virtual time, for routing,
 * scale and load tests. Nothing runs. A job waits in a FIFO queue until its
 * replicas fit on free nodes (one replica per node, no backfill), boots for
 * the configured start latency, "runs" for a virtual duration and ends —
 * SUCCESS, FAILURE (a simulated node failure), EXPIRED or terminated — with the
 * usage a real backend would count. It is a simulation and says so in every
 * product description; it is never presented as a real backend.
 *
 * Time: the simulation keeps its own virtual time, which runs `timeScale`
 * times as fast as the clock. Timestamps the gateway sees (startedAt,
 * expiresAt, log lines) are the clock's, so a deadline says when the job
 * really ends; durations, time allocations and extensions are virtual.
 */
import {
  createJobBook,
  InvalidInputError,
  InvalidStateError,
  isFinalState,
  NoCapacityError,
  requireActive,
  requireState,
  STATUS,
  UnsupportedError,
  type Clock,
  type CreateJob,
  type Driver,
  type DriverContext,
  type DriverJobChange,
  type JobRecordBase,
  type Manifest,
  type Product,
  type ProductPriceUnit,
  type Utilization,
} from '../sdk/index.js';
import { createAgenda } from './agenda.js';
import { checkSimulatedConfig, type SimulatedConfig } from './simulated-config.js';
import { simulatedSubschema } from './simulated-subschema.js';
import { createVirtualCluster } from './virtual-cluster.js';

export type { SimulatedConfig, SimulatedNodes } from './simulated-config.js';

export interface SimulatedDriverOptions {
  /** Where timestamps come from. @default the runtime's clock */
  clock?: Clock;
  /** Decides failures; pass a seeded one for repeatable runs. @default Math.random */
  random?: () => number;
  /** Virtual milliseconds per clock millisecond: 60 makes a virtual minute last a real second. @default 1 */
  timeScale?: number;
  /**
   * real: virtual time follows the clock, paced by setTimeout(virtualMs / timeScale).
   * manual: it moves only by advance() and tick(), and no timer is ever set (tests).
   * @default 'manual' when the clock has an advance() method (createManualClock), else 'real'
   */
  timers?: 'real' | 'manual';
  /**
   * Fault injection: every create answers only after this many real milliseconds, so a
   * gateway with a shorter timeout sees a provider that does not answer. @default 0
   */
  createDelayMs?: number;
}
/** The driver plus the handles that move virtual time, for tests and load scenarios. */
export interface SimulatedDriver extends Driver {
  /**
   * Move virtual time forward by `ms`, running everything that falls due, each
   * at its own moment; a manual clock is moved along by ms / timeScale.
   */
  advance(ms: number): Promise<void>;
  /** Catch up with the clock: run what fell due since the clock last moved. */
  tick(): Promise<void>;
  subschema(): { typeDefs: string; resolvers: Record<string, unknown> };
}

const UNIT_MS: Record<ProductPriceUnit, number> = {
  CREDITS_PER_MINUTE: 60_000,
  CREDITS_PER_HOUR: 3_600_000,
  CREDITS_PER_DAY: 86_400_000,
};

const STATUS_FAILED = 'Simulated node failure';
/** Longest delay setTimeout takes; a later wake-up is re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const MAX_GRAPHQL_INT = 2 ** 31 - 1;

/** What the gateway observes of a simulated job. */
interface SimulatedRecord extends JobRecordBase {
  providerGeneratedId: string;
}

interface SimulatedJob {
  record: SimulatedRecord;
  product: Product;
  replicas: number;
  /** Node index per replica while the job holds them (booting, running, suspended). */
  nodes: number[];
  /** Virtual running time it asked for. */
  runForMs: number;
  /** Running time after which a simulated node fails it; null: it will not fail. */
  failAfterMs: number | null;
  /** Virtual running time allowed; null: no deadline. */
  allocationMs: number | null;
  /** Running time before the current run segment; suspended time never counts. */
  ranMs: number;
  /** Virtual start of the current run segment; null unless RUNNING. */
  runningSince: number | null;
  /** Virtual end of the boot; non-null only while booting. */
  bootUntil: number | null;
  virtualStartedAt: number | null;
  usageUnits: number;
  /** Bumped on every reschedule, so stale wake-ups are skipped. */
  generation: number;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** "16 CPUs, 64 GiB of memory and 4 GPUs on 4 nodes" */
export function describeNeed(product: Product, replicas: number): string {
  const parts: string[] = [];
  if (product.cpu > 0) parts.push(plural(product.cpu * replicas, 'CPU'));
  if (product.memoryInGigs > 0) parts.push(`${product.memoryInGigs * replicas} GiB of memory`);
  if (product.gpu > 0) parts.push(plural(product.gpu * replicas, 'GPU'));
  const what = parts.length <= 1 ? (parts[0] ?? 'a slot') : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
  return `${what} on ${plural(replicas, 'node')}`;
}

/** `parameters.simulatedDurationMs` (parameters as an object or as JSON text), or null when absent. */
export function requestedDuration(parameters: unknown): number | null {
  let value = parameters;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return null;
    }
  }
  if (value === null || typeof value !== 'object' || !('simulatedDurationMs' in value)) return null;
  const duration = (value as { simulatedDurationMs: unknown }).simulatedDurationMs;
  if (typeof duration !== 'number' || !Number.isSafeInteger(duration) || duration < 0) {
    throw new InvalidInputError('parameters.simulatedDurationMs must be a whole, non-negative number of milliseconds');
  }
  return duration;
}

/** Create a simulated provider's driver. Throws at once when the configuration is inconsistent. */
export function createSimulatedDriver(config: SimulatedConfig, options: SimulatedDriverOptions = {}): SimulatedDriver {
  checkSimulatedConfig(config);
  const timeScale = options.timeScale ?? 1;
  if (!(timeScale > 0 && Number.isFinite(timeScale))) throw new Error(`timeScale must be a positive number, not ${timeScale}`);
  const random = options.random ?? Math.random;
  const createDelayMs = options.createDelayMs ?? 0;
  const products = config.products.map((product) => structuredClone(product));
  const cluster = createVirtualCluster(config.nodes);

  /** Jobs not yet placed, oldest first. */
  const waiting: SimulatedJob[] = [];
  const agenda = createAgenda();
  let wakeupSeq = 0;
  let jobSeq = 0;

  let ctx: DriverContext | null = null;
  let clock: Clock | null = null;
  let manualClock: { advance(ms: number): void } | null = null;
  let mode: 'real' | 'manual' = 'real';
  let started = false;
  /** Virtual now, and the clock reading it was last brought up to. */
  let vnow = 0;
  let lastReal = 0;
  let timer: NodeJS.Timeout | null = null;

  const context = (): DriverContext => {
    if (!ctx) throw new Error('the simulated driver is not started');
    return ctx;
  };
  const realNow = () => (clock ?? context().clock).now();

  /** Not yet placed on nodes: in the waiting queue. */
  const isWaiting = (job: SimulatedJob) => job.record.state === 'IN_QUEUE' && job.nodes.length === 0;

  const waitingReason = (job: SimulatedJob) => {
    const position = waiting.indexOf(job);
    const ahead = position > 0 ? `; ${plural(position, 'job')} ahead in the queue` : '';
    return `Waiting for resources: ${describeNeed(job.product, job.replicas)}${ahead}`;
  };

  // Jobs live in memory only: a simulation has nothing to find again after a restart.
  const jobs = createJobBook<SimulatedRecord, SimulatedJob>({
    context,
    observe: (job) => (isWaiting(job) ? { status: waitingReason(job) } : {}),
  });

  const nodeNames = (job: SimulatedJob) => job.nodes.map(cluster.nodeName).join(', ');

  // --- job arithmetic -----------------------------------------------------------

  const ranNow = (job: SimulatedJob) => job.ranMs + (job.runningSince !== null ? vnow - job.runningSince : 0);

  /** When (in running time) and how the job ends if nothing else happens to it. */
  const plannedEnd = (job: SimulatedJob): { afterMs: number; state: 'SUCCESS' | 'FAILURE' | 'EXPIRED' } => {
    let end: { afterMs: number; state: 'SUCCESS' | 'FAILURE' | 'EXPIRED' } = { afterMs: job.runForMs, state: 'SUCCESS' };
    if (job.failAfterMs !== null && job.failAfterMs < end.afterMs) end = { afterMs: job.failAfterMs, state: 'FAILURE' };
    if (job.allocationMs !== null && job.allocationMs < end.afterMs) end = { afterMs: job.allocationMs, state: 'EXPIRED' };
    return end;
  };

  /** Started price units × replicas over the running time so far. */
  const usageOf = (job: SimulatedJob) => {
    const ran = ranNow(job);
    return ran > 0 ? Math.ceil(ran / UNIT_MS[job.product.unitOfPrice]) * job.replicas : 0;
  };

  /** The clock time the deadline falls on if the job keeps running from now. */
  const deadlineOf = (job: SimulatedJob): number | null =>
    job.allocationMs === null ? null : Math.round(realNow() + Math.max(0, job.allocationMs - ranNow(job)) / timeScale);

  const change = (job: SimulatedJob, update: DriverJobChange) => jobs.change(job, update);

  const log = (job: SimulatedJob, text: string, stream: 'stdout' | 'stderr' = 'stdout') =>
    context().log(job.record.id, { rank: 0, [stream]: text, timestamp: realNow() });

  // --- scheduling ---------------------------------------------------------------

  /** Put the job's next wake-up on the agenda (the end of its boot, or of its run); older ones go stale. */
  const schedule = (job: SimulatedJob) => {
    job.generation += 1;
    let at: number;
    if (job.bootUntil !== null) at = job.bootUntil;
    else if (job.record.state === 'RUNNING' && job.runningSince !== null) at = job.runningSince + Math.max(0, plannedEnd(job).afterMs - job.ranMs);
    else return;
    agenda.push({ at, seq: wakeupSeq++, jobId: job.record.id, generation: job.generation });
  };

  const startRunning = (job: SimulatedJob) => {
    job.bootUntil = null;
    job.runningSince = vnow;
    job.virtualStartedAt = vnow;
    if (config.failureRate > 0 && random() < config.failureRate) job.failAfterMs = Math.floor(random() * job.runForMs);
    const expiresAt = deadlineOf(job);
    log(job, `[simulated] started on ${nodeNames(job)}`);
    change(job, {
      state: 'RUNNING',
      status: `Running on ${nodeNames(job)} (simulated ${config.name})`,
      startedAt: realNow(),
      providerGeneratedId: job.record.providerGeneratedId,
      ...(expiresAt !== null ? { expiresAt } : {}),
    });
    schedule(job);
  };

  const place = (job: SimulatedJob, nodes: number[]) => {
    cluster.allocate(job.product, nodes);
    job.nodes = nodes;
    if (config.startLatencyMs === 0) return startRunning(job);
    job.bootUntil = vnow + config.startLatencyMs;
    change(job, { status: `Starting on ${nodeNames(job)}`, providerGeneratedId: job.record.providerGeneratedId });
    schedule(job);
  };

  /** Start waiting jobs in order while the oldest fits; a job that does not fit holds up the rest (no backfill). */
  const dispatch = () => {
    while (waiting.length > 0) {
      const head = waiting[0]!;
      const nodes = cluster.findNodes(head.product, head.replicas);
      if (!nodes) return;
      waiting.shift();
      place(head, nodes);
    }
  };

  const finish = (job: SimulatedJob, state: 'SUCCESS' | 'FAILURE' | 'EXPIRED', status: string, logLine: string, exitCode: number | null) => {
    if (job.runningSince !== null) job.ranMs += vnow - job.runningSince;
    job.runningSince = null;
    job.bootUntil = null;
    job.generation += 1;
    const position = waiting.indexOf(job);
    if (position >= 0) waiting.splice(position, 1);
    if (state === 'FAILURE' && job.nodes.length > 0)
      log(job, `[simulated] ${cluster.nodeName(job.nodes[Math.floor(random() * job.nodes.length)]!)} failed`, 'stderr');
    else log(job, logLine);
    cluster.release(job.product, job.nodes);
    job.nodes = [];
    job.usageUnits = usageOf(job);
    change(job, { state, status, usageUnits: job.usageUnits, ...(exitCode !== null ? { exitCode } : {}) });
    dispatch();
  };

  /** A wake-up fell due: a boot ended, or a run did. */
  const wake = (job: SimulatedJob) => {
    if (job.bootUntil !== null) return startRunning(job);
    if (job.record.state !== 'RUNNING') return;
    const end = plannedEnd(job);
    if (end.state === 'SUCCESS') finish(job, 'SUCCESS', 'Job finished (simulated)', '[simulated] finished', 0);
    else if (end.state === 'FAILURE') finish(job, 'FAILURE', STATUS_FAILED, '', null);
    else finish(job, 'EXPIRED', STATUS.expired, '[simulated] time allocation reached', null);
  };

  /** Run every wake-up up to virtual `target`, each at its own virtual time. */
  const runUntil = (target: number, moveClock: boolean) => {
    const step = (to: number) => {
      if (to <= vnow) return;
      if (moveClock && manualClock) manualClock.advance((to - vnow) / timeScale);
      vnow = to;
    };
    for (let next = agenda.peek(); next && next.at <= target; next = agenda.peek()) {
      agenda.pop();
      const job = jobs.get(next.jobId);
      if (!job || job.generation !== next.generation) continue;
      step(next.at);
      wake(job);
    }
    step(target);
  };

  /** Bring virtual time up to the clock. */
  const sync = () => {
    if (!started) return;
    const real = realNow();
    const target = vnow + Math.max(0, real - lastReal) * timeScale;
    lastReal = real;
    runUntil(target, false);
  };

  /** Real mode: one timer for the earliest live wake-up. */
  const arm = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (!started || mode !== 'real') return;
    let next = agenda.peek();
    while (next && jobs.get(next.jobId)?.generation !== next.generation) {
      agenda.pop();
      next = agenda.peek();
    }
    if (!next) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil((next.at - vnow) / timeScale - (realNow() - lastReal))));
    timer = setTimeout(() => {
      timer = null;
      try {
        sync();
      } catch (error) {
        ctx?.logger.error({ err: error }, 'simulation step failed');
      }
      arm();
    }, delay);
    // unref: pending simulated work alone must not keep the process alive.
    timer.unref();
  };

  /** Every entry point: catch up with the clock, act, then re-arm the timer. */
  const step = <T>(action: () => T): T => {
    context();
    sync();
    try {
      return action();
    } finally {
      arm();
    }
  };

  /** A job by id, in a step: NOT_FOUND when unknown. */
  const stepOn = <T>(jobId: string, action: (job: SimulatedJob) => T): Promise<T> => jobs.lookup(jobId).then((job) => step(() => action(job)));

  const validate = (job: CreateJob): { product: Product; runForMs: number } => {
    const spec = job.specification;
    const product = products.find((candidate) => candidate.id === job.product.id);
    if (!product) throw new InvalidInputError(`The simulated ${config.name} provider does not sell product ${job.product.id}`);
    if (spec.replicas > product.support.maxReplicas) {
      throw new InvalidInputError(`${product.id} runs at most ${plural(product.support.maxReplicas, 'replica')}`);
    }
    if (spec.replicas > config.nodes.count) {
      throw new InvalidInputError(
        `The simulated cluster has ${plural(config.nodes.count, 'node')}; a job of ${spec.replicas} replicas could never start`,
      );
    }
    const max = product.support.maxTimeAllocationMs;
    if (max !== null && spec.timeAllocationMs === null) throw new InvalidInputError(`${product.id} needs a time allocation (at most ${max} ms)`);
    if (max !== null && spec.timeAllocationMs !== null && spec.timeAllocationMs > max) {
      throw new InvalidInputError(`${product.id} allows a time allocation of at most ${max} ms`);
    }
    return { product, runForMs: requestedDuration(spec.parameters) ?? config.defaultDurationMs };
  };

  /** How many one-replica jobs of the product could start now: none while others wait (FIFO, no backfill). */
  const capacityFor = (product: Product): number => (waiting.length > 0 ? 0 : cluster.roomFor(product));

  const launch = (job: CreateJob): SimulatedJob => {
    const { product, runForMs } = validate(job);
    const replicas = job.specification.replicas;
    if (config.queueing === 'NONE' && (waiting.length > 0 || !cluster.findNodes(product, replicas))) {
      throw new NoCapacityError(`No room for ${product.id} now: it needs ${describeNeed(product, replicas)}`);
    }
    const entry: SimulatedJob = {
      record: {
        id: job.id,
        state: 'IN_QUEUE',
        status: null,
        exitCode: null,
        startedAt: null,
        expiresAt: null,
        providerGeneratedId: `sim-${++jobSeq}`,
      },
      product,
      replicas,
      nodes: [],
      runForMs,
      failAfterMs: null,
      allocationMs: job.specification.timeAllocationMs,
      ranMs: 0,
      runningSince: null,
      bootUntil: null,
      virtualStartedAt: null,
      usageUnits: 0,
      generation: 0,
    };
    // In the book before it is dispatched: its wake-ups look it up there.
    jobs.set(entry);
    waiting.push(entry);
    dispatch();
    if (isWaiting(entry)) change(entry, { status: waitingReason(entry), providerGeneratedId: entry.record.providerGeneratedId });
    return entry;
  };

  const details = (jobId: string) => {
    const job = jobs.get(jobId);
    if (!job || !started) return null;
    return step(() => {
      let remaining: number | null = null;
      if (!isFinalState(job.record.state) && job.bootUntil === null && job.virtualStartedAt !== null)
        remaining = Math.max(0, plannedEnd(job).afterMs - ranNow(job));
      else if (job.bootUntil !== null) remaining = plannedEnd(job).afterMs;
      return {
        nodes: job.nodes.map(cluster.nodeName),
        virtualStartedAt: job.virtualStartedAt !== null ? new Date(job.virtualStartedAt).toISOString() : null,
        virtualRemainingMs: remaining === null ? null : Math.min(MAX_GRAPHQL_INT, Math.round(remaining)),
      };
    });
  };

  const clusterView = () =>
    started ? step(() => ({ nodes: config.nodes.count, freeCpu: cluster.totalFree().cpu, queueLength: waiting.length })) : null;

  return {
    async start(driverContext) {
      ctx = driverContext;
      clock = options.clock ?? driverContext.clock;
      const candidate = clock as Clock & { advance?: unknown };
      manualClock = typeof candidate.advance === 'function' ? (candidate as Clock & { advance(ms: number): void }) : null;
      mode = options.timers ?? (manualClock ? 'manual' : 'real');
      // Virtual time starts at the clock; after a stop, the time stopped is not simulated.
      if (jobSeq === 0 && jobs.size === 0) vnow = clock.now();
      lastReal = clock.now();
      started = true;
      arm();
    },

    async manifest(): Promise<Manifest> {
      return { products: products.map((product) => structuredClone(product)) };
    },

    async utilization(): Promise<Utilization> {
      return step(() => {
        const free = cluster.totalFree();
        const { count, cpu, memoryInGigs, gpu } = config.nodes;
        const capacity = { cpu: cpu * count, memoryInGigs: memoryInGigs * count, gpu: gpu * count };
        let running = 0;
        let pending = 0;
        for (const { record } of jobs.values()) {
          if (record.state === 'RUNNING') running += 1;
          else if (record.state === 'IN_QUEUE') pending += 1;
        }
        const capacityByProduct: Record<string, number> = {};
        for (const product of products) capacityByProduct[product.id] = capacityFor(product);
        return {
          capacity,
          usedCapacity: {
            cpu: Math.max(0, capacity.cpu - free.cpu),
            memoryInGigs: Math.max(0, capacity.memoryInGigs - free.memoryInGigs),
            gpu: Math.max(0, capacity.gpu - free.gpu),
          },
          queueStatus: { running, pending },
          observedAt: realNow(),
          capacityByProduct,
        };
      });
    },

    async create(job) {
      if (createDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, createDelayMs));
      return jobs.create(job.id, async () => step(() => launch(job)));
    },

    terminate: (jobId, reason) =>
      stepOn(jobId, (job) => {
        if (isFinalState(job.record.state)) throw new InvalidStateError(jobId, `Job ${jobId} has already ended (${job.record.state})`);
        finish(job, 'SUCCESS', STATUS.terminated(reason), '[simulated] terminated', null);
      }),

    extend: (jobId, addMs) =>
      stepOn(jobId, (job) => {
        if (!job.product.support.timeExtension) throw new UnsupportedError(`${job.product.id} does not support time extension`);
        requireActive(job.record, 'extend');
        // No deadline yet: it becomes addMs of running time from now.
        job.allocationMs = job.allocationMs !== null ? job.allocationMs + addMs : ranNow(job) + addMs;
        if (job.virtualStartedAt !== null) job.record.expiresAt = deadlineOf(job);
        if (job.record.state === 'RUNNING') schedule(job);
        return { expiresAt: job.record.expiresAt };
      }),

    suspend: (jobId) =>
      stepOn(jobId, (job) => {
        if (!job.product.support.suspension) throw new UnsupportedError(`${job.product.id} does not support suspension`);
        requireState(job.record, 'RUNNING', 'suspend');
        // The nodes stay allocated; only the job's own clock stops.
        job.ranMs += vnow - (job.runningSince ?? vnow);
        job.runningSince = null;
        job.generation += 1;
        job.usageUnits = usageOf(job);
        change(job, { state: 'SUSPENDED', status: `${STATUS.suspended}; ${nodeNames(job)} stay allocated`, usageUnits: job.usageUnits });
      }),

    unsuspend: (jobId) =>
      stepOn(jobId, (job) => {
        requireState(job.record, 'SUSPENDED', 'resume');
        job.runningSince = vnow;
        const expiresAt = deadlineOf(job);
        change(job, { state: 'RUNNING', status: STATUS.resumed, ...(expiresAt !== null ? { expiresAt } : {}) });
        schedule(job);
      }),

    async observe(jobId) {
      return step(() => jobs.observe(jobId));
    },

    async stop() {
      if (timer) clearTimeout(timer);
      timer = null;
      // Jobs stay in memory; virtual time stands still until the next start.
      started = false;
      ctx = null;
      clock = null;
    },

    async advance(ms) {
      if (!(ms >= 0)) throw new RangeError(`advance takes a non-negative number of milliseconds, not ${ms}`);
      step(() => {
        runUntil(vnow + ms, true);
        lastReal = realNow();
      });
    },

    async tick() {
      step(() => undefined);
    },

    subschema: () => simulatedSubschema({ context: () => ctx, details, clusterView }),
  };
}
