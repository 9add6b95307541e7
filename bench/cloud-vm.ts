/**
 * Benchmark 10: the cloud-VM provider (providers/cloud-vm) with real QEMU
 * (TCG unless SWITCHYARD_VM_ACCEL=kvm) and the guest image of
 * deploy/vm/build-images.sh. A gateway over NATS and Redis as in bench/rig.ts,
 * the cloud-VM driver behind the provider runtime as providers/cloud-vm/main.ts
 * builds it (its default instance types and VM slots). Beside it, in the same
 * run: the same VM booted with a bare QEMU command (bench/bare-qemu.ts: same
 * kernel, initrd and user data, same QEMU arguments, spawned directly).
 *
 * (a) Rounds, the sides alternating which goes first, one VM at a time (so
 *     that they never share the CPU). A round of a side: boot a vm-tiny VM
 *     whose command prints a line, then counts once a second; suspend it;
 *     resume it; end it.
 *     - Switchyard: createJobs → the gateway publishes the job RUNNING to its
 *       followers (the fanout subject followJob listens to), and → the
 *       command's first line published as a log line. suspendJobs → SUSPENDED
 *       published; unsuspendJobs → RUNNING published again.
 *     - Bare: from writing the initrd → the guest's booted marker on the
 *       serial socket (what the driver calls RUNNING), and → the command's
 *       first line there. Suspend: QMP stop, migrate to a file, quit, until
 *       QEMU has exited. Resume: QEMU with -incoming defer, migrate-incoming,
 *       until `cont` returned.
 *     Each figure is the p50 over the rounds; the ratio is Switchyard's p50 /
 *     bare's p50. Beside each boot, where the machine's CPU went meanwhile
 *     (bench/cpu.ts): QEMU's own time, this process's, how busy the machine
 *     was. Under TCG a boot is QEMU's CPU time when the machine has a core to
 *     spare, and slower when others take it: that tells a slow side from a
 *     busy machine.
 * (b) Capacity: VMs created one at a time (their command sleeps) while the
 *     provider's utilization (read from it over NATS, as the gateway polls it)
 *     says how many more of the instance type would start; when it says 0, the
 *     gateway's product must say FULL, and one more create must wait IN_QUEUE
 *     for a slot with no QEMU of its own.
 *
 * Run alone with `npx tsx bench/cloud-vm.ts [--rounds=3] [--max-vms=2] [--out=file.json]`
 * or `BENCH_ONLY=cloud-vm npm run bench`. Without SWITCHYARD_VM_IMAGE_DIR it
 * builds the guest image (test/support/vm-setup.ts). Everything of the run
 * (its state directory, every QEMU under it) is removed at the end.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';

import { createCloudVmDriver } from '../providers/cloud-vm/cloud-vm-driver.js';
import { DEFAULT_INSTANCE_TYPES, defaultImages } from '../providers/cloud-vm/cloud-vm-products.js';
import { findQemu, vmPaths } from '../providers/cloud-vm/qemu-command.js';
import { createProviderRuntime, type ProviderRuntime } from '../providers/sdk/runtime.js';
import { systemClock } from '../shared/clock.js';
import { silentLogger } from '../shared/logger.js';
import { createSubjects } from '../shared/subjects.js';
import type { Closable, Transport } from '../shared/transport.js';
import { createNatsTransport } from '../shared/transport/nats-transport.js';
import { fund } from '../test/support/credits.js';
import { setup as buildGuestImages, guestImages, qemusUnder } from '../test/support/vm-setup.js';
import { bareVm, type BareMachine } from './bare-qemu.js';
import { cpuPerJob, readCpu, type CpuFigures } from './cpu.js';
import { runWithRig, startRig, type Rig, type RigOptions, type SectionOutcome } from './rig.js';
import { startServices } from './services.js';
import { numberOption, runWhenMain, writeOut } from './standalone.js';
import { median, summarize, waitFor, type LatencySummary } from './stats.js';
import { printTable, type Row } from './table.js';

export const CLOUD_VM_PROVIDER_ID = 'bench-vm';
/** The instance type of every VM of the run: the smallest default one. */
const INSTANCE_TYPE = 'vm-tiny';
const FIRST_LINE = 'switchyard-bench-first-line';
/** Prints the line, then counts once a second: a guest that runs on until it is stopped. */
const COMMAND = ['sh', '-c', `echo ${FIRST_LINE}; i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 1; done`];
/** The capacity step's VMs: they run until they are stopped. */
const SLEEP = ['sleep', '3600'];
/** How long a boot may take on a busy machine under TCG (they take 9-14 s here). */
const BOOT_TIMEOUT_MS = 120_000;
const STEP_TIMEOUT_MS = 60_000;
/** The provider's grace before QEMU quits: a busybox guest has no ACPI handler, so every stop waits it out. */
const GRACE_MS = 500;

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { id } error { code message } } }`;
const BULK = (mutation: string) => `mutation ($ids: [ID!]!) { ${mutation}(ids: $ids) { ok error { code message } } }`;

/** Why the benchmark cannot run here, or null: the guest image (built when SWITCHYARD_VM_IMAGE_DIR is unset) and QEMU. */
export function cloudVmSkipReason(): string | null {
  buildGuestImages();
  try {
    guestImages();
    findQemu(process.env.SWITCHYARD_VM_QEMU);
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

interface Seen {
  at: number;
  state: string;
}

export interface CloudVmRig extends Rig {
  runtime: ProviderRuntime;
  /** The directory of a job's VM. */
  vmDir(jobId: string): string;
  /** The bare QEMU of the run, in a directory of its own. */
  bare: ReturnType<typeof bareVm>;
  machine: BareMachine;
  maxVms: number;
  /** The job states the gateway published, in order (performance.now()). */
  states: Map<string, Seen[]>;
  /** When the gateway published each job's first log line that is FIRST_LINE. */
  firstLines: Map<string, number>;
  /**
   * What `check` answers once it answers something, checked now and after each event the gateway
   * publishes (no polling beside the VM that boots); a rejection naming `what` after `timeoutMs`.
   */
  seen<T>(check: () => T | undefined, what: () => string, timeoutMs: number): Promise<T>;
  /** When the driver told the runtime a job was RUNNING, and when the driver's create was called. */
  emitted: Map<string, number[]>;
  creates: Map<string, number>;
  /** The provider's utilization, over NATS as the gateway reads it. */
  utilization(): Promise<{ capacityByProduct?: Record<string, number> }>;
  /** QEMUs running under the provider's state directory. */
  qemus(): Promise<number[]>;
  stop(): Promise<void>;
}

export async function startCloudVmRig(options: Omit<RigOptions, 'withProvider'> & { maxVms?: number }): Promise<CloudVmRig> {
  const images = guestImages();
  const [image] = defaultImages(images.dir);
  const tiny = DEFAULT_INSTANCE_TYPES.find((t) => t.id === INSTANCE_TYPE)!;
  const accel = process.env.SWITCHYARD_VM_ACCEL === 'kvm' ? 'kvm' : 'tcg';
  const qemu = findQemu(process.env.SWITCHYARD_VM_QEMU);
  const maxVms = options.maxVms ?? 2;
  const workDir = await mkdtemp(join(tmpdir(), 'switchyard-bench-vm-'));
  const stateDir = join(workDir, 'provider');
  const machine: BareMachine = {
    qemu,
    kernel: image!.kernel,
    initrd: image!.initrd,
    append: image!.append,
    vcpus: tiny.vcpus,
    memoryMiB: tiny.memoryMiB,
    accel,
  };
  const bare = bareVm(machine, join(workDir, 'bare'));
  const subjects = createSubjects(options.subjectPrefix);
  const states = new Map<string, Seen[]>();
  const firstLines = new Map<string, number>();
  const checks = new Set<() => void>();
  const seen = <T>(check: () => T | undefined, what: () => string, timeoutMs: number) =>
    new Promise<T>((resolve, reject) => {
      const attempt = () => {
        const value = check();
        if (value === undefined) return;
        checks.delete(attempt);
        clearTimeout(timer);
        resolve(value);
      };
      const timer = setTimeout(() => {
        checks.delete(attempt);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`));
      }, timeoutMs);
      checks.add(attempt);
      attempt();
    });
  const emitted = new Map<string, number[]>();
  const creates = new Map<string, number>();
  const closers: (() => Promise<unknown>)[] = [];
  let rig: Rig | null = null;

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      await bare.quit().catch(() => undefined);
      for (const close of closers.splice(0).reverse()) await close().catch((error: unknown) => console.error('bench: stopping failed:', error));
      await rig?.stop();
      // The provider leaves its VMs running when it stops (restart safety): none of this run's outlives it.
      for (const pid of await qemusUnder(stateDir)) process.kill(pid, 'SIGKILL');
      await rm(workDir, { recursive: true, force: true });
    })());

  try {
    rig = await startRig({ ...options, withProvider: false });
    const observer: Transport = await createNatsTransport({
      url: options.natsUrl,
      subjects,
      name: 'bench-vm-observer',
      onError: options.onTransportError,
    });
    closers.push(() => observer.close());
    // What followJob subscribers are told, as soon as the gateway has applied it.
    const fanout: Closable = observer.subscribe(subjects.fanoutAll(), (body) => {
      const event = body as { jobId?: string; status?: { state?: string } | null; logs?: { stdout?: string | null }[] };
      if (!event?.jobId) return;
      const at = performance.now();
      const state = event.status?.state;
      if (state) states.set(event.jobId, [...(states.get(event.jobId) ?? []), { at, state }]);
      if (!firstLines.has(event.jobId) && event.logs?.some((line) => line.stdout === FIRST_LINE)) firstLines.set(event.jobId, at);
      for (const check of [...checks]) check();
    });
    closers.push(() => fanout.close());

    const providerTransport = await createNatsTransport({
      url: options.natsUrl,
      subjects,
      name: 'bench-vm-provider',
      onError: options.onTransportError,
    });
    closers.push(() => providerTransport.close());
    const driver = createCloudVmDriver({
      stateDir,
      images: [image!],
      instanceTypes: DEFAULT_INSTANCE_TYPES,
      maxVms,
      qemu,
      accel,
      graceMs: GRACE_MS,
    });
    const runtime = createProviderRuntime({
      transport: providerTransport,
      // The driver as it is, but for the moments it is asked to create a job and says one runs.
      driver: {
        ...driver,
        create: (job) => {
          creates.set(job.id, performance.now());
          return driver.create(job);
        },
        start: (context) =>
          driver.start({
            ...context,
            emit: (jobId, change) => {
              if (change.state === 'RUNNING') emitted.set(jobId, [...(emitted.get(jobId) ?? []), performance.now()]);
              context.emit(jobId, change);
            },
          }),
      },
      id: CLOUD_VM_PROVIDER_ID,
      kind: 'CLOUD_VM',
      version: 'bench',
      clock: systemClock,
      logger: silentLogger(),
    });
    await runtime.start();
    closers.push(() => runtime.stop());
    await waitFor(() => {
      const entry = rig!.gateway.registry.get(CLOUD_VM_PROVIDER_ID);
      return entry?.manifest && rig!.gateway.registry.status(entry) === 'UP';
    }, 'the gateway to see the cloud-VM provider and its manifest');
    await fund(rig.admin, 'admin', CLOUD_VM_PROVIDER_ID);
    const utilization = async () => {
      const reply = (await observer.request(subjects.providerCall(CLOUD_VM_PROVIDER_ID, 'utilization'), { v: 1 }, { timeoutMs: 10_000 })) as {
        result?: { capacityByProduct?: Record<string, number> };
      };
      if (!reply.result) throw new Error(`the provider did not answer utilization: ${JSON.stringify(reply)}`);
      return reply.result;
    };
    return {
      ...rig,
      stop,
      runtime,
      vmDir: (jobId) => driver.vmDir(jobId),
      bare,
      machine,
      maxVms,
      states,
      firstLines,
      seen,
      emitted,
      creates,
      utilization,
      qemus: () => qemusUnder(stateDir),
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** One round of one side, ms. */
export interface VmRound {
  toRunningMs: number;
  toFirstLineMs: number;
  suspendMs: number;
  resumeMs: number;
  stateBytes: number;
  /** Where the machine's CPU went from the start of the boot to the first line (bench/cpu.ts), ms. */
  bootCpu: CpuFigures;
}

/** The QEMU of a boot's CPU time, ms: it runs (unreaped) when the boot's reading ends, so it is one of the "other" processes. */
const qemuCpuMs = (round: VmRound) => round.bootCpu.otherByCommand['qemu-system-x86'] ?? 0;

export interface CloudVmResult {
  rounds: number;
  accel: 'tcg' | 'kvm';
  instanceType: { id: string; vcpus: number; memoryMiB: number };
  switchyard: VmRound[];
  bare: VmRound[];
  /** Switchyard's share of a boot: createJobs → the driver's create; the driver's RUNNING → the gateway publishes it. */
  split: { toDriverCreate: LatencySummary; emittedToPublished: LatencySummary };
  p50: { switchyard: ReturnType<typeof p50Of>; bare: ReturnType<typeof p50Of> };
  /** Switchyard p50 / bare p50. */
  ratios: { toRunning: number; toFirstLine: number; suspend: number; resume: number };
  capacity: {
    maxVms: number;
    host: { cpus: number; memoryMiB: number };
    /** capacityByProduct[INSTANCE_TYPE] before the first create and after each. */
    readings: number[];
    /** VMs created when the provider said 0 more. */
    heldBeforeFull: number;
    /** What the gateway's product said then. */
    gatewayQueueStatus: string | null;
    /** The next create: its state and status, and how many QEMUs ran. */
    next: { state: string | null; status: string | null; qemus: number; queued: boolean };
  };
  seconds: number;
}

const p50Of = (rounds: VmRound[]) => ({
  toRunningMs: median(rounds.map((r) => r.toRunningMs)),
  toFirstLineMs: median(rounds.map((r) => r.toFirstLineMs)),
  suspendMs: median(rounds.map((r) => r.suspendMs)),
  resumeMs: median(rounds.map((r) => r.resumeMs)),
});

export async function benchCloudVm(rig: CloudVmRig, options: { rounds?: number; progress?: (message: string) => void } = {}): Promise<CloudVmResult> {
  const rounds = options.rounds ?? 3;
  const progress = options.progress ?? (() => undefined);
  const started = performance.now();
  const seenStates = (id: string) => JSON.stringify(rig.states.get(id)?.map((s) => s.state) ?? []);
  /** When the gateway published the job's `nth` change to `state`. */
  const published = (id: string, state: string, nth = 1, timeoutMs = STEP_TIMEOUT_MS) =>
    rig.seen(
      () => rig.states.get(id)?.filter((s) => s.state === state)[nth - 1]?.at,
      () => `job ${id} to be ${state}${nth > 1 ? ` (#${nth})` : ''}; seen ${seenStates(id)}`,
      timeoutMs,
    );
  const createJob = async (spec: Record<string, unknown>) => {
    const data = await rig.admin.ok<{ createJobs: { job: { id: string } | null; error: { code: string; message: string } | null }[] }>(CREATE, {
      specs: [{ product: { id: INSTANCE_TYPE, provider: CLOUD_VM_PROVIDER_ID }, timeAllocation: { minutes: 30 }, allowDuplicateJob: true, ...spec }],
    });
    const [result] = data.createJobs;
    if (!result?.job) throw new Error(`createJobs refused the VM: ${JSON.stringify(result?.error)}`);
    return result.job.id;
  };
  const bulk = async (mutation: string, id: string) => {
    const data = await rig.admin.ok<Record<string, { ok: boolean; error: unknown }[]>>(BULK(mutation), { ids: [id] });
    if (!data[mutation]?.[0]?.ok) throw new Error(`${mutation} refused job ${id}: ${JSON.stringify(data[mutation]?.[0]?.error)}`);
  };
  const ended = (id: string) =>
    rig.seen(
      () => rig.states.get(id)?.find((s) => ['SUCCESS', 'FAILURE', 'EXPIRED'].includes(s.state)),
      () => `job ${id} to end; seen ${seenStates(id)}`,
      STEP_TIMEOUT_MS,
    );

  const switchyardRounds: VmRound[] = [];
  const bareRounds: VmRound[] = [];
  const toDriverCreate: number[] = [];
  const emittedToPublished: number[] = [];

  const switchyardRound = async (round: number): Promise<VmRound> => {
    const cpu0 = readCpu();
    const t0 = performance.now();
    const id = await createJob({ command: COMMAND, name: `bench-vm-${round}` });
    const running = await published(id, 'RUNNING', 1, BOOT_TIMEOUT_MS);
    const firstLine = await rig.seen(
      () => rig.firstLines.get(id),
      () => `the first console line of job ${id}`,
      STEP_TIMEOUT_MS,
    );
    const bootCpu = cpuPerJob(cpu0, readCpu(), 1);
    toDriverCreate.push(rig.creates.get(id)! - t0);
    emittedToPublished.push(running - rig.emitted.get(id)![0]!);
    const s0 = performance.now();
    await bulk('suspendJobs', id);
    const suspended = await published(id, 'SUSPENDED');
    const stateBytes = (await stat(vmPaths(rig.vmDir(id)).stateFile)).size;
    const r0 = performance.now();
    await bulk('unsuspendJobs', id);
    const resumed = await published(id, 'RUNNING', 2);
    await bulk('terminateJobs', id);
    await ended(id);
    return { toRunningMs: running - t0, toFirstLineMs: firstLine - t0, suspendMs: suspended - s0, resumeMs: resumed - r0, stateBytes, bootCpu };
  };
  const bareRound = async (): Promise<VmRound> => {
    const nonce = randomUUID().replace(/-/g, '').slice(0, 16);
    const cpu0 = readCpu();
    const boot = await rig.bare.boot({ nonce, command: COMMAND, env: {}, workingDir: null }, FIRST_LINE, BOOT_TIMEOUT_MS);
    const bootCpu = cpuPerJob(cpu0, readCpu(), 1);
    const suspend = await rig.bare.suspend();
    const resume = await rig.bare.resume(STEP_TIMEOUT_MS);
    await rig.bare.quit();
    return {
      toRunningMs: boot.bootedMs,
      toFirstLineMs: boot.firstLineMs,
      suspendMs: suspend.ms,
      resumeMs: resume.ms,
      stateBytes: suspend.stateBytes,
      bootCpu,
    };
  };

  const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  for (let round = 0; round < rounds; round++) {
    // Which side goes first alternates, so that a machine that slows down over the run favours neither.
    const order = round % 2 === 0 ? (['bare', 'switchyard'] as const) : (['switchyard', 'bare'] as const);
    for (const side of order) {
      const result = side === 'bare' ? await bareRound() : await switchyardRound(round);
      (side === 'bare' ? bareRounds : switchyardRounds).push(result);
      progress(
        `round ${round + 1}/${rounds} ${side}: RUNNING ${seconds(result.toRunningMs)}, first line ${seconds(result.toFirstLineMs)}, suspend ${seconds(result.suspendMs)} (${(result.stateBytes / 2 ** 20).toFixed(1)} MiB), resume ${seconds(result.resumeMs)}; while booting: QEMU CPU ${seconds(qemuCpuMs(result))}, this process ${seconds(result.bootCpu.benchProcess)}, machine ${(result.bootCpu.busyShare * 100).toFixed(0)}% busy`,
      );
    }
  }

  // --- (b) capacity ------------------------------------------------------------
  const capacityNow = async () => (await rig.utilization()).capacityByProduct?.[INSTANCE_TYPE] ?? 0;
  const readings = [await capacityNow()];
  const held: string[] = [];
  // VMs that sleep (the gateway wants a command); a bound on the loop in case the provider never says 0.
  while (readings.at(-1)! > 0 && held.length < 64) {
    held.push(await createJob({ command: SLEEP, name: `bench-vm-capacity-${held.length}` }));
    readings.push(await capacityNow());
  }
  const product = async () =>
    (
      await rig.admin.ok<{ product: { capacity: number | null; queueStatus: string | null } | null }>(
        `query ($ref: ProductRefInput!) { product(ref: $ref) { capacity queueStatus } }`,
        { ref: { id: INSTANCE_TYPE, provider: CLOUD_VM_PROVIDER_ID } },
      )
    ).product;
  // The gateway polls utilization every 2 s.
  const gatewayQueueStatus = await waitFor(async () => (await product())?.queueStatus === 'FULL' && 'FULL', 'the gateway to say FULL', 10_000).catch(
    async () => (await product())?.queueStatus ?? null,
  );
  const nextId = await createJob({ command: SLEEP, name: 'bench-vm-capacity-next' });
  const job = async () =>
    (
      await rig.admin.ok<{ job: { status: { state: string }; updates: { state: string | null; status: string | null }[] } | null }>(
        `query ($id: ID!) { job(id: $id) { status { state } updates { state status } } }`,
        { id: nextId },
      )
    ).job;
  // The provider's own word on it: the queue's status, once the gateway has applied it.
  const waiting = await waitFor(
    async () => (await job())?.updates.find((u) => u.status?.startsWith('Waiting for a free VM slot')),
    'the extra VM to wait for a slot',
    10_000,
  ).catch(() => null);
  const nextJob = await job();
  const qemus = (await rig.qemus()).length;
  const next = {
    state: nextJob?.status.state ?? null,
    status: waiting?.status ?? nextJob?.updates.at(-1)?.status ?? null,
    qemus,
    queued: nextJob?.status.state === 'IN_QUEUE' && waiting !== null && qemus === held.length,
  };
  progress(
    `capacity: ${held.length} VMs, then the provider said 0 more (${readings.join(' → ')}); the gateway says ${gatewayQueueStatus}; the next one is ${next.state}, "${next.status}", ${qemus} QEMUs run`,
  );
  // The queued one first, so that it does not start in a slot the others leave.
  for (const id of [nextId, ...held]) await bulk('terminateJobs', id);
  for (const id of [nextId, ...held]) await ended(id);

  const p50 = { switchyard: p50Of(switchyardRounds), bare: p50Of(bareRounds) };
  return {
    rounds,
    accel: rig.machine.accel,
    instanceType: { id: INSTANCE_TYPE, vcpus: rig.machine.vcpus, memoryMiB: rig.machine.memoryMiB },
    switchyard: switchyardRounds,
    bare: bareRounds,
    split: { toDriverCreate: summarize(toDriverCreate), emittedToPublished: summarize(emittedToPublished) },
    p50,
    ratios: {
      toRunning: p50.switchyard.toRunningMs / p50.bare.toRunningMs,
      toFirstLine: p50.switchyard.toFirstLineMs / p50.bare.toFirstLineMs,
      suspend: p50.switchyard.suspendMs / p50.bare.suspendMs,
      resume: p50.switchyard.resumeMs / p50.bare.resumeMs,
    },
    capacity: {
      maxVms: rig.maxVms,
      host: { cpus: cpus().length, memoryMiB: Math.floor(totalmem() / 2 ** 20) },
      readings,
      heldBeforeFull: held.length,
      gatewayQueueStatus,
      next,
    },
    seconds: (performance.now() - started) / 1000,
  };
}

export type CloudVmOutcome = SectionOutcome<CloudVmResult>;

export function cloudVmRows(outcome: CloudVmOutcome): Row[] {
  const benchmark = '10 cloud VM';
  if (!('result' in outcome)) return [{ benchmark, metric: 'not run', value: null, unit: '', baseline: outcome.notRun }];
  const r = outcome.result;
  const { switchyard: sy, bare } = r.p50;
  const of = `p50 of ${r.rounds}, ${r.instanceType.id} under ${r.accel.toUpperCase()}`;
  const msText = (v: number) => `${v.toFixed(0)} ms`;
  const mib = (bytes: number) => bytes / 2 ** 20;
  const busy = (rounds: VmRound[]) => `${(median(rounds.map((x) => x.bootCpu.busyShare)) * 100).toFixed(0)}%`;
  const rows: Row[] = [
    {
      benchmark,
      metric: `createJobs → RUNNING published (${of})`,
      value: sy.toRunningMs,
      unit: 'ms',
      baseline: `bare QEMU → booted marker ${msText(bare.toRunningMs)}`,
      ratio: r.ratios.toRunning,
      aim: '≤ 1.2×',
      meetsAim: r.ratios.toRunning <= 1.2,
    },
    {
      benchmark,
      metric: `createJobs → first console line published (${of})`,
      value: sy.toFirstLineMs,
      unit: 'ms',
      baseline: `bare QEMU → the line on the serial socket ${msText(bare.toFirstLineMs)}`,
      ratio: r.ratios.toFirstLine,
      aim: '≤ 1.2×',
      meetsAim: r.ratios.toFirstLine <= 1.2,
    },
    {
      benchmark,
      metric: 'of which createJobs → the driver’s create, p50',
      value: r.split.toDriverCreate.p50,
      unit: 'ms',
      baseline: `the driver’s RUNNING → the gateway publishes it p50 ${msText(r.split.emittedToPublished.p50)}`,
    },
    {
      benchmark,
      metric: 'while booting: QEMU’s CPU time, p50',
      value: median(r.switchyard.map(qemuCpuMs)),
      unit: 'ms',
      baseline: `bare ${msText(median(r.bare.map(qemuCpuMs)))}; this process ${msText(median(r.switchyard.map((x) => x.bootCpu.benchProcess)))} (bare ${msText(median(r.bare.map((x) => x.bootCpu.benchProcess)))}); machine busy ${busy(r.switchyard)} (bare ${busy(r.bare)})`,
    },
    {
      benchmark,
      metric: `suspendJobs → SUSPENDED published (${of})`,
      value: sy.suspendMs,
      unit: 'ms',
      baseline: `bare QMP stop, migrate to a file, quit ${msText(bare.suspendMs)}`,
      ratio: r.ratios.suspend,
    },
    {
      benchmark,
      metric: 'state file of a suspended VM (median)',
      value: mib(median(r.switchyard.map((x) => x.stateBytes))),
      unit: 'MiB',
      baseline: `bare ${mib(median(r.bare.map((x) => x.stateBytes))).toFixed(1)} MiB; guest memory ${r.instanceType.memoryMiB} MiB`,
    },
    {
      benchmark,
      metric: `unsuspendJobs → RUNNING published (${of})`,
      value: sy.resumeMs,
      unit: 'ms',
      baseline: `bare QEMU -incoming, migrate-incoming, cont ${msText(bare.resumeMs)}`,
      ratio: r.ratios.resume,
    },
  ];
  const c = r.capacity;
  const expected = Math.min(c.maxVms, Math.floor(c.host.memoryMiB / r.instanceType.memoryMiB));
  rows.push({
    benchmark,
    metric: `${r.instanceType.id} VMs held before capacity says FULL`,
    value: c.heldBeforeFull,
    unit: 'VMs',
    baseline: `capacityByProduct ${c.readings.join(' → ')}; max VMs ${c.maxVms}, host ${c.host.cpus} CPUs ${(c.host.memoryMiB / 1024).toFixed(1)} GiB; gateway says ${c.gatewayQueueStatus}`,
    aim: `${expected} (min of slots, memory)`,
    meetsAim: c.heldBeforeFull === expected && c.gatewayQueueStatus === 'FULL',
  });
  rows.push({
    benchmark,
    metric: 'one more create: QEMUs running',
    value: c.next.qemus,
    unit: 'QEMUs',
    baseline: `${c.next.state}, "${c.next.status}"`,
    aim: `queued, ${c.heldBeforeFull} QEMUs`,
    meetsAim: c.next.queued,
  });
  return rows;
}

export function cloudVmWarnings(outcome: CloudVmOutcome): string[] {
  if (!('result' in outcome)) return outcome.notRun.startsWith('failed') ? [`the cloud-VM benchmark ${outcome.notRun}`] : [];
  const { capacity } = outcome.result;
  return capacity.next.queued
    ? []
    : [
        `cloud VM: the create past capacity was ${capacity.next.state} ("${capacity.next.status}") with ${capacity.next.qemus} QEMUs running, not queued`,
      ];
}

/**
 * The whole benchmark as bench/run.ts runs it: the image and QEMU (or why not), the rig, the steps,
 * the cleanup. The rig is in `rigs` while it runs, so that the run's own cleanup stops it on a signal.
 */
export async function runCloudVmBench(
  options: Omit<RigOptions, 'withProvider'> & { rigs: Rig[]; progress: (message: string) => void; rounds?: number; maxVms?: number },
): Promise<CloudVmOutcome> {
  const skip = cloudVmSkipReason();
  if (skip) {
    options.progress(`cloud VM: not run (${skip})`);
    return { notRun: skip };
  }
  const rounds = options.rounds ?? 3;
  options.progress(`cloud VM: ${rounds} rounds of boot, suspend, resume through Switchyard and with bare QEMU, then VMs up to capacity`);
  return runWithRig({
    name: 'cloud VM',
    rigs: options.rigs,
    progress: options.progress,
    start: () => startCloudVmRig(options),
    bench: (rig, progress) => benchCloudVm(rig, { rounds, progress }),
  });
}

/** This benchmark alone, with servers of its own: `npx tsx bench/cloud-vm.ts [--rounds=N] [--max-vms=N] [--out=file]`. */
async function runAlone(argv: readonly string[]): Promise<void> {
  const runId = randomBytes(4).toString('hex');
  const services = await startServices();
  const t0 = Date.now();
  const progress = (message: string) => process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${message}\n`);
  const rigs: Rig[] = [];
  // The run's QEMUs do not outlive an interrupted one.
  process.once('SIGINT', () => void Promise.all(rigs.map((rig) => rig.stop())).finally(() => process.exit(130)));
  try {
    const outcome = await runCloudVmBench({
      natsUrl: services.natsUrl,
      redisUrl: services.redisUrl,
      subjectPrefix: `bench${runId}v`,
      keyPrefix: `bench${runId}-vm`,
      onTransportError: (error, where) => console.error(`bench: transport error at ${where}:`, error),
      rigs,
      progress,
      rounds: numberOption(argv, 'rounds', 3),
      maxVms: numberOption(argv, 'max-vms', 2),
    });
    printTable(cloudVmRows(outcome));
    for (const warning of cloudVmWarnings(outcome)) console.log(`warning: ${warning}`);
    if (!('result' in outcome)) throw new Error(`the cloud-VM benchmark was not run: ${outcome.notRun}`);
    writeOut(argv, outcome.result);
  } finally {
    await services.stop();
  }
}

runWhenMain(import.meta.url, runAlone);
