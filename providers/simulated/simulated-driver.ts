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
import { z } from 'zod';
import type { Clock } from '../../shared/clock.js';
import { productSchema, type Manifest, type Product, type ProductPriceUnit, type Utilization } from '../../shared/domain.js';
import { InvalidInputError, InvalidStateError, NotFoundError, SwitchyardError, UnsupportedError } from '../../shared/errors.js';
import { isFinalState, type JobState } from '../../shared/job-state-machine.js';
import type { CreateJob, JobObservation } from '../../shared/protocol.js';
import type { Driver, DriverContext, DriverJobChange } from '../sdk/driver.js';

/** Identical nodes the simulated cluster is made of; each product must fit on one. */
export interface SimulatedNodes {
  count: number;
  cpu: number;
  memoryInGigs: number;
  gpu: number;
}

export interface SimulatedConfig {
  /** What the simulation stands for, in statuses and logs ("HPC", "cloud"). */
  name: string;
  nodes: SimulatedNodes;
  /** What is sold; each product is the size of one replica, and a job's replicas go on distinct nodes. */
  products: Product[];
  /**
   * FIFO: a job that does not fit waits behind the ones before it (no backfill).
   * NONE: a job that does not fit now is refused with NO_CAPACITY.
   */
  queueing: 'FIFO' | 'NONE';
  /** Virtual time between placement on nodes and RUNNING (a cloud's boot, a scheduler's prolog). */
  startLatencyMs: number;
  /** Probability in [0, 1] that a job ends FAILURE "Simulated node failure" part-way through its run. */
  failureRate: number;
  /** Virtual running time of a job whose `parameters.simulatedDurationMs` is absent. */
  defaultDurationMs: number;
}

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

const simulatedConfigSchema = z
  .object({
    name: z.string().min(1),
    nodes: z.object({
      count: z.number().int().positive(),
      cpu: z.number().positive(),
      memoryInGigs: z.number().nonnegative(),
      gpu: z.number().int().nonnegative(),
    }),
    products: z.array(productSchema).min(1),
    queueing: z.enum(['FIFO', 'NONE']),
    startLatencyMs: z.number().int().nonnegative(),
    failureRate: z.number().min(0).max(1),
    defaultDurationMs: z.number().int().nonnegative(),
  })
  .superRefine((config, issues) => {
    const seen = new Set<string>();
    for (const [index, product] of config.products.entries()) {
      if (seen.has(product.id)) issues.addIssue({ code: 'custom', path: ['products', index, 'id'], message: `duplicate product id ${product.id}` });
      seen.add(product.id);
      const { cpu, memoryInGigs, gpu } = config.nodes;
      if (product.cpu > cpu || product.memoryInGigs > memoryInGigs || product.gpu > gpu) {
        issues.addIssue({ code: 'custom', path: ['products', index], message: `${product.id} does not fit on one node, so it could never run` });
      }
    }
  });

const UNIT_MS: Record<ProductPriceUnit, number> = {
  CREDITS_PER_MINUTE: 60_000,
  CREDITS_PER_HOUR: 3_600_000,
  CREDITS_PER_DAY: 86_400_000,
};

const STATUS_TERMINATED = 'Your job has been terminated';
const STATUS_FAILED = 'Simulated node failure';
const STATUS_EXPIRED = 'The job reached the end of its time allocation';
/** Longest delay setTimeout takes; a later wake-up is re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const MAX_GRAPHQL_INT = 2 ** 31 - 1;
/** Rounding slack when free capacity is compared with fractional needs. */
const EPSILON = 1e-9;

interface SimulatedJob {
  id: string;
  product: Product;
  replicas: number;
  state: JobState;
  status: string | null;
  exitCode: number | null;
  providerGeneratedId: string;
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
  /** Clock time, as reported to the gateway. */
  startedAt: number | null;
  expiresAt: number | null;
  usageUnits: number;
  /** Bumped on every reschedule, so stale wake-ups are skipped. */
  generation: number;
}

interface Wakeup {
  at: number;
  seq: number;
  jobId: string;
  generation: number;
}

function earlier(a: Wakeup, b: Wakeup): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** A binary min-heap of wake-ups by (virtual time, insertion order). */
function createAgenda() {
  const heap: Wakeup[] = [];
  return {
    get size() {
      return heap.length;
    },
    peek: (): Wakeup | undefined => heap[0],
    push(item: Wakeup) {
      heap.push(item);
      let i = heap.length - 1;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!earlier(heap[i], heap[parent])) break;
        [heap[i], heap[parent]] = [heap[parent], heap[i]];
        i = parent;
      }
    },
    pop(): Wakeup | undefined {
      const top = heap[0];
      const last = heap.pop();
      if (heap.length > 0 && last) {
        heap[0] = last;
        let i = 0;
        for (;;) {
          const left = 2 * i + 1;
          const right = left + 1;
          let smallest = i;
          if (left < heap.length && earlier(heap[left], heap[smallest])) smallest = left;
          if (right < heap.length && earlier(heap[right], heap[smallest])) smallest = right;
          if (smallest === i) break;
          [heap[i], heap[smallest]] = [heap[smallest], heap[i]];
          i = smallest;
        }
      }
      return top;
    },
  };
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** "16 CPUs, 64 GiB of memory and 4 GPUs on 4 nodes" */
function describeNeed(product: Product, replicas: number): string {
  const parts: string[] = [];
  if (product.cpu > 0) parts.push(plural(product.cpu * replicas, 'CPU'));
  if (product.memoryInGigs > 0) parts.push(`${product.memoryInGigs * replicas} GiB of memory`);
  if (product.gpu > 0) parts.push(plural(product.gpu * replicas, 'GPU'));
  const what = parts.length <= 1 ? (parts[0] ?? 'a slot') : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
  return `${what} on ${plural(replicas, 'node')}`;
}

/** `parameters.simulatedDurationMs` (parameters as an object or as JSON text), or null when absent. */
function requestedDuration(parameters: unknown): number | null {
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
  const parsed = simulatedConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new Error(`invalid simulated configuration: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`).join('; ')}`);
  }
  const timeScale = options.timeScale ?? 1;
  if (!(timeScale > 0 && Number.isFinite(timeScale))) throw new Error(`timeScale must be a positive number, not ${timeScale}`);
  const random = options.random ?? Math.random;
  const createDelayMs = options.createDelayMs ?? 0;
  const products = config.products.map((product) => structuredClone(product));
  const { nodes: nodeSpec } = config;
  const nodeName = (index: number) => `node-${index + 1}`;

  const freeCpu = new Array<number>(nodeSpec.count).fill(nodeSpec.cpu);
  const freeMemory = new Array<number>(nodeSpec.count).fill(nodeSpec.memoryInGigs);
  const freeGpu = new Array<number>(nodeSpec.count).fill(nodeSpec.gpu);

  const jobs = new Map<string, SimulatedJob>();
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

  // --- nodes ------------------------------------------------------------------

  const fitsOn = (index: number, product: Product) =>
    freeCpu[index] + EPSILON >= product.cpu && freeMemory[index] + EPSILON >= product.memoryInGigs && freeGpu[index] >= product.gpu;

  /** The first `replicas` nodes with room for one replica each, or null. */
  const findNodes = (product: Product, replicas: number): number[] | null => {
    const found: number[] = [];
    for (let index = 0; index < nodeSpec.count && found.length < replicas; index++) {
      if (fitsOn(index, product)) found.push(index);
    }
    return found.length === replicas ? found : null;
  };

  const allocate = (job: SimulatedJob, nodes: number[]) => {
    for (const index of nodes) {
      freeCpu[index] -= job.product.cpu;
      freeMemory[index] -= job.product.memoryInGigs;
      freeGpu[index] -= job.product.gpu;
    }
    job.nodes = nodes;
  };

  const release = (job: SimulatedJob) => {
    for (const index of job.nodes) {
      freeCpu[index] += job.product.cpu;
      freeMemory[index] += job.product.memoryInGigs;
      freeGpu[index] += job.product.gpu;
    }
    job.nodes = [];
  };

  /** Not yet placed on nodes: in the waiting queue. */
  const isWaiting = (job: SimulatedJob) => job.state === 'IN_QUEUE' && job.nodes.length === 0;

  const nodeNames = (job: SimulatedJob) => job.nodes.map(nodeName).join(', ');

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

  const waitingReason = (job: SimulatedJob) => {
    const position = waiting.indexOf(job);
    const ahead = position > 0 ? `; ${plural(position, 'job')} ahead in the queue` : '';
    return `Waiting for resources: ${describeNeed(job.product, job.replicas)}${ahead}`;
  };

  const change = (job: SimulatedJob, update: DriverJobChange) => {
    if (update.state) job.state = update.state;
    if (update.status !== undefined) job.status = update.status;
    if (update.exitCode !== undefined) job.exitCode = update.exitCode;
    context().emit(job.id, update);
  };

  const log = (job: SimulatedJob, text: string, stream: 'stdout' | 'stderr' = 'stdout') =>
    context().log(job.id, { rank: 0, [stream]: text, timestamp: realNow() });

  // --- scheduling ---------------------------------------------------------------

  /** Put the job's next wake-up on the agenda (the end of its boot, or of its run); older ones go stale. */
  const schedule = (job: SimulatedJob) => {
    job.generation += 1;
    let at: number;
    if (job.bootUntil !== null) at = job.bootUntil;
    else if (job.state === 'RUNNING' && job.runningSince !== null) at = job.runningSince + Math.max(0, plannedEnd(job).afterMs - job.ranMs);
    else return;
    agenda.push({ at, seq: wakeupSeq++, jobId: job.id, generation: job.generation });
  };

  const startRunning = (job: SimulatedJob) => {
    job.bootUntil = null;
    job.runningSince = vnow;
    job.virtualStartedAt = vnow;
    job.startedAt = realNow();
    job.state = 'RUNNING';
    if (config.failureRate > 0 && random() < config.failureRate) job.failAfterMs = Math.floor(random() * job.runForMs);
    job.expiresAt = deadlineOf(job);
    log(job, `[simulated] started on ${nodeNames(job)}`);
    change(job, {
      state: 'RUNNING',
      status: `Running on ${nodeNames(job)} (simulated ${config.name})`,
      startedAt: job.startedAt,
      providerGeneratedId: job.providerGeneratedId,
      ...(job.expiresAt !== null ? { expiresAt: job.expiresAt } : {}),
    });
    schedule(job);
  };

  const place = (job: SimulatedJob, nodes: number[]) => {
    allocate(job, nodes);
    if (config.startLatencyMs === 0) return startRunning(job);
    job.bootUntil = vnow + config.startLatencyMs;
    change(job, { status: `Starting on ${nodeNames(job)}`, providerGeneratedId: job.providerGeneratedId });
    schedule(job);
  };

  /** Start waiting jobs in order while the oldest fits; a job that does not fit holds up the rest (no backfill). */
  const dispatch = () => {
    while (waiting.length > 0) {
      const head = waiting[0];
      const nodes = findNodes(head.product, head.replicas);
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
    if (state === 'FAILURE' && job.nodes.length > 0) log(job, `[simulated] ${nodeName(job.nodes[Math.floor(random() * job.nodes.length)])} failed`, 'stderr');
    else log(job, logLine);
    release(job);
    job.usageUnits = usageOf(job);
    change(job, { state, status, usageUnits: job.usageUnits, ...(exitCode !== null ? { exitCode } : {}) });
    dispatch();
  };

  /** A wake-up fell due: a boot ended, or a run did. */
  const wake = (job: SimulatedJob) => {
    if (job.bootUntil !== null) return startRunning(job);
    if (job.state !== 'RUNNING') return;
    const end = plannedEnd(job);
    if (end.state === 'SUCCESS') finish(job, 'SUCCESS', 'Job finished (simulated)', '[simulated] finished', 0);
    else if (end.state === 'FAILURE') finish(job, 'FAILURE', STATUS_FAILED, '', null);
    else finish(job, 'EXPIRED', STATUS_EXPIRED, '[simulated] time allocation reached', null);
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

  const lookup = (jobId: string): SimulatedJob => {
    const job = jobs.get(jobId);
    if (!job) throw new NotFoundError('Job', jobId);
    return job;
  };

  const requireState = (job: SimulatedJob, allowed: JobState, action: string) => {
    if (job.state !== allowed) throw new InvalidStateError(job.id, `Cannot ${action} job ${job.id}: it is ${job.state}, not ${allowed}`);
  };

  const validate = (job: CreateJob): { product: Product; runForMs: number } => {
    const spec = job.specification;
    const product = products.find((candidate) => candidate.id === job.product.id);
    if (!product) throw new InvalidInputError(`The simulated ${config.name} provider does not sell product ${job.product.id}`);
    if (spec.replicas > product.support.maxReplicas) {
      throw new InvalidInputError(`${product.id} runs at most ${plural(product.support.maxReplicas, 'replica')}`);
    }
    if (spec.replicas > nodeSpec.count) {
      throw new InvalidInputError(`The simulated cluster has ${plural(nodeSpec.count, 'node')}; a job of ${spec.replicas} replicas could never start`);
    }
    const max = product.support.maxTimeAllocationMs;
    if (max !== null && spec.timeAllocationMs === null) throw new InvalidInputError(`${product.id} needs a time allocation (at most ${max} ms)`);
    if (max !== null && spec.timeAllocationMs !== null && spec.timeAllocationMs > max) {
      throw new InvalidInputError(`${product.id} allows a time allocation of at most ${max} ms`);
    }
    return { product, runForMs: requestedDuration(spec.parameters) ?? config.defaultDurationMs };
  };

  const observation = (jobId: string): JobObservation => {
    const job = jobs.get(jobId);
    if (!job) return { id: jobId, state: null, status: null, exitCode: null, startedAt: null, expiresAt: null, providerGeneratedId: null };
    return {
      id: jobId,
      state: job.state,
      status: isWaiting(job) ? waitingReason(job) : job.status,
      exitCode: job.exitCode,
      startedAt: job.startedAt,
      expiresAt: job.expiresAt,
      providerGeneratedId: job.providerGeneratedId,
    };
  };

  const totalFree = () => {
    let cpu = 0;
    let memoryInGigs = 0;
    let gpu = 0;
    for (let index = 0; index < nodeSpec.count; index++) {
      cpu += freeCpu[index];
      memoryInGigs += freeMemory[index];
      gpu += freeGpu[index];
    }
    return { cpu, memoryInGigs, gpu };
  };

  /** How many one-replica jobs of the product could start now: none while others wait (FIFO, no backfill). */
  const capacityFor = (product: Product): number => {
    if (waiting.length > 0) return 0;
    let count = 0;
    for (let index = 0; index < nodeSpec.count; index++) {
      const limits = [
        product.cpu > 0 ? Math.floor((freeCpu[index] + EPSILON) / product.cpu) : Number.POSITIVE_INFINITY,
        product.memoryInGigs > 0 ? Math.floor((freeMemory[index] + EPSILON) / product.memoryInGigs) : Number.POSITIVE_INFINITY,
        product.gpu > 0 ? Math.floor(freeGpu[index] / product.gpu) : Number.POSITIVE_INFINITY,
      ];
      const fits = Math.min(...limits);
      if (!Number.isFinite(fits)) return Number.MAX_SAFE_INTEGER;
      count += fits;
    }
    return count;
  };

  const subschemaDetails = (jobId: string) => {
    const job = jobs.get(jobId);
    if (!job || !started) return null;
    let remaining: number | null = null;
    if (!isFinalState(job.state) && job.bootUntil === null && job.virtualStartedAt !== null) remaining = Math.max(0, plannedEnd(job).afterMs - ranNow(job));
    else if (job.bootUntil !== null) remaining = plannedEnd(job).afterMs;
    return {
      nodes: job.nodes.map(nodeName),
      virtualStartedAt: job.virtualStartedAt !== null ? new Date(job.virtualStartedAt).toISOString() : null,
      virtualRemainingMs: remaining === null ? null : Math.min(MAX_GRAPHQL_INT, Math.round(remaining)),
    };
  };

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
        const free = totalFree();
        const capacity = { cpu: nodeSpec.cpu * nodeSpec.count, memoryInGigs: nodeSpec.memoryInGigs * nodeSpec.count, gpu: nodeSpec.gpu * nodeSpec.count };
        let running = 0;
        let pending = 0;
        for (const job of jobs.values()) {
          if (job.state === 'RUNNING') running += 1;
          else if (job.state === 'IN_QUEUE') pending += 1;
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
      return step(() => {
        // The gateway's id is the key: a repeated create answers what the first one made.
        const known = jobs.get(job.id);
        if (known) return { providerGeneratedId: known.providerGeneratedId };
        const { product, runForMs } = validate(job);
        const replicas = job.specification.replicas;
        if (config.queueing === 'NONE' && (waiting.length > 0 || !findNodes(product, replicas))) {
          throw new SwitchyardError('NO_CAPACITY', `No room for ${product.id} now: it needs ${describeNeed(product, replicas)}`);
        }
        const record: SimulatedJob = {
          id: job.id,
          product,
          replicas,
          state: 'IN_QUEUE',
          status: null,
          exitCode: null,
          providerGeneratedId: `sim-${++jobSeq}`,
          nodes: [],
          runForMs,
          failAfterMs: null,
          allocationMs: job.specification.timeAllocationMs,
          ranMs: 0,
          runningSince: null,
          bootUntil: null,
          virtualStartedAt: null,
          startedAt: null,
          expiresAt: null,
          usageUnits: 0,
          generation: 0,
        };
        jobs.set(job.id, record);
        waiting.push(record);
        dispatch();
        if (isWaiting(record)) change(record, { status: waitingReason(record), providerGeneratedId: record.providerGeneratedId });
        return { providerGeneratedId: record.providerGeneratedId };
      });
    },

    async terminate(jobId, reason) {
      step(() => {
        const job = lookup(jobId);
        if (isFinalState(job.state)) throw new InvalidStateError(jobId, `Job ${jobId} has already ended (${job.state})`);
        finish(job, 'SUCCESS', reason ? `${STATUS_TERMINATED} (${reason})` : STATUS_TERMINATED, '[simulated] terminated', null);
      });
    },

    async extend(jobId, addMs) {
      return step(() => {
        const job = lookup(jobId);
        if (!job.product.support.timeExtension) throw new UnsupportedError(`${job.product.id} does not support time extension`);
        if (isFinalState(job.state) || job.state === 'CANCELING') throw new InvalidStateError(jobId, `Cannot extend job ${jobId}: it is ${job.state}`);
        // No deadline yet: it becomes addMs of running time from now.
        job.allocationMs = job.allocationMs !== null ? job.allocationMs + addMs : ranNow(job) + addMs;
        if (job.virtualStartedAt !== null) job.expiresAt = deadlineOf(job);
        if (job.state === 'RUNNING') schedule(job);
        return { expiresAt: job.expiresAt };
      });
    },

    async suspend(jobId) {
      step(() => {
        const job = lookup(jobId);
        if (!job.product.support.suspension) throw new UnsupportedError(`${job.product.id} does not support suspension`);
        requireState(job, 'RUNNING', 'suspend');
        // The nodes stay allocated; only the job's own clock stops.
        job.ranMs += vnow - (job.runningSince ?? vnow);
        job.runningSince = null;
        job.generation += 1;
        job.usageUnits = usageOf(job);
        change(job, { state: 'SUSPENDED', status: `Job suspended; ${nodeNames(job)} stay allocated`, usageUnits: job.usageUnits });
      });
    },

    async unsuspend(jobId) {
      step(() => {
        const job = lookup(jobId);
        requireState(job, 'SUSPENDED', 'resume');
        job.runningSince = vnow;
        job.expiresAt = deadlineOf(job);
        change(job, { state: 'RUNNING', status: 'Job resumed', ...(job.expiresAt !== null ? { expiresAt: job.expiresAt } : {}) });
        schedule(job);
      });
    },

    async observe(jobId) {
      return step(() => observation(jobId));
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

    subschema() {
      return {
        typeDefs: /* GraphQL */ `
          "Where a simulated job runs in its virtual cluster, and its virtual time."
          type SimulatedJobDetails {
            "The virtual nodes the job holds, one per replica; empty once it ended."
            nodes: [String!]!
            "When it started in virtual time (ISO-8601); null until it runs."
            virtualStartedAt: String
            "Virtual running time left until it ends or expires; null when it is not running."
            virtualRemainingMs: Int
          }
          "A simulated provider's virtual cluster right now."
          type SimulatedCluster {
            nodes: Int!
            freeCpu: Float!
            queueLength: Int!
          }
          type Job @key(selectionSet: "{ id }") {
            id: ID!
            "Null for jobs this provider does not run."
            simulated: SimulatedJobDetails
          }
          type Provider @key(selectionSet: "{ id }") {
            id: ID!
            "Null for other providers."
            simulatedCluster: SimulatedCluster
          }
          type Query {
            _simulatedJobs(ids: [ID!]!): [Job]! @merge(keyField: "id")
            _simulatedProviders(ids: [ID!]!): [Provider]! @merge(keyField: "id")
          }
        `,
        resolvers: {
          Query: {
            _simulatedJobs: (_: unknown, { ids }: { ids: string[] }) => ids.map((id) => (jobs.has(id) ? { id } : null)),
            _simulatedProviders: (_: unknown, { ids }: { ids: string[] }) => ids.map((id) => (ctx && id === ctx.providerId ? { id } : null)),
          },
          Job: {
            simulated: ({ id }: { id: string }) => (started ? step(() => subschemaDetails(id)) : null),
          },
          Provider: {
            simulatedCluster: ({ id }: { id: string }) => {
              if (!ctx || id !== ctx.providerId) return null;
              return step(() => ({ nodes: nodeSpec.count, freeCpu: totalFree().cpu, queueLength: waiting.length }));
            },
          },
        },
      };
    },
  };
}
