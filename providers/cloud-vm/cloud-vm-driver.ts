/**
 * The cloud-VM provider: runs each Switchyard job as a virtual machine under
 * QEMU on this host, the way a cloud's compute service does (OpenStack Nova's
 * libvirt driver is the model of the lifecycle).
 *
 * - create: an instance type (vCPUs, memory) and an image from the catalogue
 *   (a disk image's VM gets its own copy-on-write overlay of the base disk);
 *   the job's command, env and working directory go to the guest as user data
 *   (user-data.ts). At most `maxVms` VMs run at once; the others wait IN_QUEUE.
 * - state: RUNNING when the guest says it has booted, not when QEMU starts;
 *   the command's exit is SUCCESS with its exit code; no command: a long-lived
 *   VM with a shell on its console (cloud-vm-states.ts has the ends).
 * - time: the allocation counts running time; at the deadline the VM is
 *   powered off, EXPIRED. Extensions move the deadline.
 * - terminate: power off with a grace period, then quit; the VM's directory
 *   (its initrd, console log, state, disk overlay) is deleted, as at every end.
 * - suspend/resume: the VM's state saved to a file and QEMU ended, freeing its
 *   memory (Nova's suspend); resume restores it where it stopped.
 * - output: the serial console's lines after boot, as the job's log lines.
 * - sessions: SHELL on the guest's second serial port (serial-shell.ts), the
 *   console and its log untouched; VNC on the VM's display (vnc-session.ts).
 * - watchdog: a VM whose console falls silent while it runs (the guest beats
 *   every 5 s) or whose QEMU stops answering QMP is ended FAILURE, saying so.
 * - restart: records and VM directories (pid file, sockets) live in the state
 *   directory. A provider that starts attaches to the QEMUs still running,
 *   reads what ended meanwhile from the console logs, keeps suspended VMs, and
 *   ends any QEMU it cannot account for.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

import {
  connectTcpSession,
  createDeadlineTimer,
  createJobBook,
  InvalidInputError,
  InvalidStateError,
  isFinalState,
  jobRecordBaseSchema,
  NoCapacityError,
  ProviderUnavailableError,
  requireActive,
  requireNotEnded,
  requireState,
  STATUS,
  unknownJob,
  UnsupportedError,
  type BookEntry,
  type CreateJob,
  type DeadlineTimer,
  type Driver,
  type DriverContext,
  type DriverJobChange,
  type DriverSession,
  type DriverSessionRequest,
  type Manifest,
  type Utilization,
} from '../sdk/index.js';
import {
  buildImages,
  buildInstanceTypes,
  DEFAULT_INSTANCE_TYPES,
  type InstanceTypeConfig,
  type VmImage,
  type VmImageConfig,
  type VmProduct,
} from './cloud-vm-products.js';
import { finalChange } from './cloud-vm-states.js';
import { cloudVmSubschema } from './cloud-vm-subschema.js';
import { findQemu, findQemuImg, vmPaths } from './qemu-command.js';
import { openSerialShell } from './serial-shell.js';
import { userDataProblem, type UserData } from './user-data.js';
import { attachVm, readConsoleLog, runningQemu, startVm, type VmEnd, type VmSupervisor } from './vm-supervisor.js';
import { vncSession } from './vnc-session.js';

export interface CloudVmDriverOptions {
  /** Where job records and VM directories live; a restarted provider finds its VMs here. */
  stateDir: string;
  /** The image catalogue; a job that names no image gets the first. */
  images: VmImageConfig[];
  instanceTypes?: InstanceTypeConfig[];
  /** How many VMs may run at once (under TCG each vCPU is busy emulating). @default 2 */
  maxVms?: number;
  /** The QEMU binary, a path or a name on PATH. @default qemu-system-x86_64 */
  qemu?: string;
  /** qemu-img (makes the disk images' overlays; needed only when an image has a disk), a path or a name on PATH. @default qemu-img */
  qemuImg?: string;
  /** `kvm` where /dev/kvm works; TCG (emulation) everywhere else. @default 'tcg' */
  accel?: 'tcg' | 'kvm';
  /** How long a guest may take to power off before QEMU is told to quit. @default 3000 */
  graceMs?: number;
  /** The watchdog: how long a running guest's console may be silent before the VM counts as hung (its heartbeat comes every 5 s). @default 30000 */
  stallMs?: number;
  /** The host's size. @default this machine's CPUs and memory */
  host?: { cpus: number; memoryMiB: number };
}

const phaseSchema = z.enum(['queued', 'booting', 'running', 'suspending', 'suspended', 'stopping', 'ended']);

const recordSchema = jobRecordBaseSchema.extend({
  /** The VM's name. */
  providerGeneratedId: z.string(),
  productId: z.string(),
  imageId: z.string(),
  vcpus: z.number().int(),
  memoryMiB: z.number().int(),
  /** Marks the guest's own console lines. */
  nonce: z.string(),
  command: z.array(z.string()).nullable(),
  env: z.record(z.string(), z.string()),
  workingDir: z.string().nullable(),
  timeAllocationMs: z.number().nullable(),
  extendedMs: z.number(),
  /** Running time before the last suspension (the allocation counts running time only). */
  ranMs: z.number(),
  runningSince: z.number().nullable(),
  phase: phaseSchema,
  /** The state file holds the VM (it has been suspended after it started). */
  saved: z.boolean(),
  /** Why the provider is stopping the VM. */
  stop: z.union([z.object({ kind: z.literal('terminate'), reason: z.string().nullable() }), z.object({ kind: z.literal('expire') })]).nullable(),
});
type CloudVmRecord = z.infer<typeof recordSchema>;

interface CloudVmEntry extends BookEntry<CloudVmRecord> {
  vm: VmSupervisor | null;
  /** A QEMU is being started for it (it holds a slot). */
  starting: boolean;
  deadline: DeadlineTimer | null;
  /** The suspension under way. */
  suspension: Promise<void> | null;
}

/** What the record of a job the VM has not started for says. */
const NOT_STARTED = { state: 'IN_QUEUE', status: null, exitCode: null, startedAt: null, expiresAt: null } as const;
const WAITING = (ahead: number) => `Waiting for a free VM slot (${ahead === 0 ? 'next' : `${ahead} before it`})`;
const BOOTING = 'Booting the VM';
const RUNNING = 'The VM is running';

export function createCloudVmDriver(options: CloudVmDriverOptions): Driver & {
  /** The directory of a job's VM: for tests and the subschema. */
  vmDir(jobId: string): string;
} {
  const products: VmProduct[] = buildInstanceTypes(options.instanceTypes ?? DEFAULT_INSTANCE_TYPES);
  const images: VmImage[] = buildImages(options.images);
  const maxVms = options.maxVms ?? 2;
  const graceMs = options.graceMs ?? 3_000;
  const host = options.host ?? { cpus: cpus().length, memoryMiB: Math.floor(totalmem() / 1024 ** 2) };
  const jobsDir = join(options.stateDir, 'jobs');
  const vmsDir = join(options.stateDir, 'vms');
  const vmDir = (jobId: string) => join(vmsDir, jobId);
  let qemu = '';
  let qemuImg = '';
  let context: DriverContext | null = null;
  const ctx = () => {
    if (!context) throw new Error('the cloud-VM driver has not started');
    return context;
  };
  const book = createJobBook<CloudVmRecord, CloudVmEntry>({ context: ctx, files: { dir: () => jobsDir, schema: recordSchema } });
  /** Jobs waiting for a slot, first come first served (new VMs and resumes alike). */
  const queue: string[] = [];
  let stopped = false;

  const change = (entry: CloudVmEntry, update: DriverJobChange) =>
    book.change(entry, { providerGeneratedId: entry.record.providerGeneratedId, ...update });
  const now = () => ctx().clock.now();
  const holdsSlot = (entry: CloudVmEntry) => entry.vm !== null || entry.starting;
  const active = () => [...book.values()].filter(holdsSlot);
  const fitsHost = (p: VmProduct) => p.spec.vcpus <= host.cpus && p.spec.memoryMiB <= host.memoryMiB;
  const imageOf = (id: string) => images.find((image) => image.id === id);
  const userData = (record: CloudVmRecord): UserData => ({
    nonce: record.nonce,
    command: record.command,
    env: record.env,
    workingDir: record.workingDir,
    // A hostname holds 64 bytes.
    hostname: record.providerGeneratedId.slice(0, 63),
  });

  const clearDeadline = (entry: CloudVmEntry) => {
    entry.deadline?.cancel();
    entry.deadline = null;
  };
  const armDeadline = (entry: CloudVmEntry) => {
    clearDeadline(entry);
    const { expiresAt } = entry.record;
    if (expiresAt === null || stopped) return;
    entry.deadline = createDeadlineTimer(ctx().clock, expiresAt, () => expire(entry));
  };
  const expire = (entry: CloudVmEntry) => {
    entry.deadline = null;
    const { vm, record } = entry;
    if (!vm || record.stop || (record.phase !== 'running' && record.phase !== 'booting')) return;
    record.stop = { kind: 'expire' };
    record.phase = 'stopping';
    void book.save(entry);
    vm.stop({ graceMs }).catch((error: unknown) => ctx().logger.warn({ jobId: record.id, err: error }, 'could not power off an expired VM'));
  };

  const removeVm = (jobId: string) =>
    rm(vmDir(jobId), { recursive: true, force: true }).catch((error: unknown) =>
      ctx().logger.warn({ jobId, err: error }, 'could not delete the VM’s directory'),
    );

  /** End a job for good: its final change, its directory gone, its slot to the next. */
  const finish = (entry: CloudVmEntry, final: { state: DriverJobChange['state']; status: string; exitCode?: number }) => {
    clearDeadline(entry);
    entry.record.phase = 'ended';
    change(entry, final);
    void removeVm(entry.record.id);
  };

  const stopRunningClock = (record: CloudVmRecord) => {
    if (record.runningSince !== null) record.ranMs += Math.max(0, now() - record.runningSince);
    record.runningSince = null;
  };

  const running = (entry: CloudVmEntry, resumed: boolean) => {
    const { record } = entry;
    const since = now();
    record.phase = 'running';
    record.runningSince = since;
    const expiresAt = record.timeAllocationMs === null ? null : since + record.timeAllocationMs + record.extendedMs - record.ranMs;
    change(entry, {
      state: 'RUNNING',
      status: resumed ? STATUS.resumed : RUNNING,
      startedAt: record.startedAt ?? since,
      expiresAt: expiresAt ?? undefined,
    });
    armDeadline(entry);
  };

  const ended = (entry: CloudVmEntry, vm: VmSupervisor, end: VmEnd) => {
    if (entry.vm !== vm || stopped) return;
    entry.vm = null;
    const { record } = entry;
    stopRunningClock(record);
    clearDeadline(entry);
    if (end.kind === 'suspended') {
      record.saved = true;
      if (record.stop?.kind === 'terminate') finish(entry, { state: 'SUCCESS', status: STATUS.terminated(record.stop.reason) });
      else {
        record.phase = 'suspended';
        change(entry, { state: 'SUSPENDED', status: STATUS.suspended });
      }
    } else {
      finish(entry, finalChange(end, record.stop, record.command === null));
    }
    pump();
  };

  /** Follow a VM: its console as log lines, its boot, its end. */
  const wire = (entry: CloudVmEntry, vm: VmSupervisor) => {
    const jobId = entry.record.id;
    entry.vm = vm;
    vm.onLine((line, afterBoot) => {
      if (afterBoot) ctx().log(jobId, { rank: 0, stdout: line, timestamp: now() });
    });
    void vm.booted.then(() => {
      if (entry.vm === vm && entry.record.phase === 'booting') running(entry, false);
    });
    void vm.ended.then((end) => ended(entry, vm, end));
  };

  /** Start the job's VM (boot it, or restore it from its saved state); throws what QEMU said. */
  const launch = async (entry: CloudVmEntry) => {
    const { record } = entry;
    const image = imageOf(record.imageId);
    if (!image) throw new InvalidInputError(`image ${record.imageId} is no longer offered by ${ctx().providerId}`);
    const resume = record.saved;
    entry.starting = true;
    try {
      const vm = await startVm({
        qemu,
        kernel: image.kernel,
        initrd: image.initrd,
        append: image.append,
        disk: image.disk,
        qemuImg,
        vcpus: record.vcpus,
        memoryMiB: record.memoryMiB,
        accel: options.accel,
        name: record.providerGeneratedId,
        dir: vmDir(record.id),
        userData: userData(record),
        resume,
        stallMs: options.stallMs,
      });
      if (stopped) {
        // The provider is stopping: the VM runs on, and the next provider process attaches to it.
        record.phase = resume ? 'running' : 'booting';
        await book.save(entry);
        vm.detach();
        return;
      }
      wire(entry, vm);
      if (record.stop) {
        // Terminated while QEMU was starting.
        record.phase = 'stopping';
        vm.stop({ graceMs }).catch((error: unknown) => ctx().logger.warn({ jobId: record.id, err: error }, 'could not stop a VM'));
      } else if (resume) running(entry, true);
      else {
        record.phase = 'booting';
        change(entry, { state: 'IN_QUEUE', status: BOOTING });
      }
    } finally {
      entry.starting = false;
    }
  };

  /** Start waiting jobs while there are free slots. */
  const pump = () => {
    while (!stopped && queue.length > 0 && active().length < maxVms) {
      const entry = book.get(queue.shift()!);
      if (!entry || entry.record.phase !== 'queued') continue;
      launch(entry).catch((error: unknown) => {
        const detail = error instanceof Error ? error.message : String(error);
        ctx().logger.warn({ jobId: entry.record.id, err: error }, 'a VM could not start');
        if (entry.record.saved) {
          // The saved state is still there: the job stays suspended, saying why.
          entry.record.phase = 'suspended';
          change(entry, { state: 'SUSPENDED', status: `The VM could not be resumed: ${detail}` });
        } else finish(entry, { state: 'FAILURE', status: `The VM could not start: ${detail}` });
        pump();
      });
    }
    queue.forEach((jobId, ahead) => {
      const entry = book.get(jobId);
      const status = WAITING(ahead);
      if (entry && entry.record.status !== status) change(entry, { state: 'IN_QUEUE', status });
    });
  };

  /** The host, the VMs it runs and how many more of each instance type would start now. */
  const utilization = (): Utilization => {
    const vms = active();
    const used = vms.reduce((sum, e) => ({ cpu: sum.cpu + e.record.vcpus, memoryMiB: sum.memoryMiB + e.record.memoryMiB }), { cpu: 0, memoryMiB: 0 });
    const slots = Math.max(0, maxVms - vms.length);
    const freeMiB = Math.max(0, host.memoryMiB - used.memoryMiB);
    const gigs = (mib: number) => Math.round((mib / 1024) * 1000) / 1000;
    const all = [...book.values()];
    return {
      capacity: { cpu: host.cpus, memoryInGigs: gigs(host.memoryMiB), gpu: 0 },
      usedCapacity: { cpu: used.cpu, memoryInGigs: gigs(used.memoryMiB), gpu: 0 },
      queueStatus: {
        running: all.filter((e) => e.record.state === 'RUNNING').length,
        pending: all.filter((e) => e.record.state === 'IN_QUEUE').length,
      },
      observedAt: now(),
      capacityByProduct: Object.fromEntries(
        products.map((p) => [p.product.id, fitsHost(p) ? Math.min(slots, Math.floor(freeMiB / p.spec.memoryMiB)) : 0]),
      ),
    };
  };

  /** Suspend a job: a queued one at once, a running VM by saving its state and ending its QEMU. */
  const suspendEntry = async (entry: CloudVmEntry) => {
    const { record } = entry;
    if (record.phase === 'queued') {
      queue.splice(queue.indexOf(record.id), 1);
      record.phase = 'suspended';
      change(entry, { state: 'SUSPENDED', status: STATUS.suspended });
      pump();
      return;
    }
    const vm = entry.vm;
    if (!vm || (record.phase !== 'running' && record.phase !== 'booting')) requireState(record, 'RUNNING', 'suspend');
    const before = record.phase;
    record.phase = 'suspending';
    clearDeadline(entry);
    try {
      await vm!.suspend();
    } catch (error) {
      record.phase = before;
      armDeadline(entry);
      throw new ProviderUnavailableError(
        ctx().providerId,
        `could not save the VM's state: ${error instanceof Error ? error.message : String(error)}`,
        {
          cause: error,
        },
      );
    }
  };

  const lookupActive = async (jobId: string, action: string) => {
    const entry = await book.lookup(jobId);
    requireActive(entry.record, action);
    return entry;
  };

  /** Take up a job found in the state directory at start: attach to its QEMU, or say how it ended. */
  const recover = async (entry: CloudVmEntry) => {
    const { record } = entry;
    const dir = vmDir(record.id);
    // A QEMU may run whatever the record says (a provider stopped while it started one): attach to it then.
    if (record.phase === 'queued' && (await runningQemu(dir)) === null) {
      queue.push(record.id);
      return;
    }
    const stateSaved = (await stat(vmPaths(dir).stateFile).catch(() => null)) !== null;
    if (record.phase === 'suspended' && (await runningQemu(dir)) === null) {
      if (record.saved && !stateSaved) finish(entry, { state: 'FAILURE', status: 'The suspended VM’s saved state is gone' });
      return;
    }
    let vm: VmSupervisor | null;
    try {
      vm = await attachVm({ dir, nonce: record.nonce, stallMs: options.stallMs });
    } catch (error) {
      const pid = await runningQemu(dir);
      if (pid !== null) process.kill(pid, 'SIGKILL');
      finish(entry, {
        state: 'FAILURE',
        status: `The provider restarted and could not re-attach to the VM, so it was stopped: ${error instanceof Error ? error.message : String(error)}`,
      });
      return;
    }
    if (vm) {
      wire(entry, vm);
      if (record.phase === 'suspending') {
        // A suspend the provider did not see through: the VM was paused for it and goes on.
        await vm.cont().catch((error: unknown) => ctx().logger.warn({ jobId: record.id, err: error }, 'could not continue a VM'));
        record.phase = 'running';
      }
      if (record.phase === 'queued' || record.phase === 'suspended') {
        // Started just before the provider stopped: a resumed VM runs now; a booting one says so when it has booted.
        if (record.saved) running(entry, true);
        else record.phase = 'booting';
      } else if (record.phase === 'running') armDeadline(entry);
      if (record.stop) vm.stop({ graceMs }).catch(() => undefined);
      return;
    }
    // QEMU ended while no provider watched it: what its console says.
    stopRunningClock(record);
    if (record.phase === 'suspending' && stateSaved) {
      record.saved = true;
      record.phase = 'suspended';
      change(entry, { state: 'SUSPENDED', status: STATUS.suspended });
      return;
    }
    const log = await readConsoleLog(vmPaths(dir).serialLog, record.nonce);
    if (log.exitCode !== null) finish(entry, { state: 'SUCCESS', status: STATUS.finished(log.exitCode), exitCode: log.exitCode });
    else if (record.stop) finish(entry, finalChange({ kind: 'stopped' }, record.stop, record.command === null));
    else if (log.panic) finish(entry, { state: 'FAILURE', status: `The guest kernel panicked: ${log.panic}` });
    else finish(entry, { state: 'FAILURE', status: 'The VM’s QEMU ended while the provider was not running' });
  };

  return {
    vmDir,

    async start(driverContext) {
      context = driverContext;
      qemu = findQemu(options.qemu);
      if (images.some((image) => image.disk)) qemuImg = findQemuImg(options.qemuImg);
      // Records and VM directories hold the jobs' environments (user data): the provider's account alone reads them.
      await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
      await mkdir(jobsDir, { recursive: true, mode: 0o700 });
      await mkdir(vmsDir, { recursive: true, mode: 0o700 });
      for (const record of await book.readAll()) {
        const entry: CloudVmEntry = { record, vm: null, starting: false, deadline: null, suspension: null };
        book.set(entry);
        if (!isFinalState(record.state)) await recover(entry);
      }
      // A QEMU (or a directory) no job accounts for: never left behind.
      for (const name of await readdir(vmsDir)) {
        const entry = book.get(name);
        if (entry && !isFinalState(entry.record.state)) continue;
        const pid = await runningQemu(vmDir(name));
        if (pid !== null) {
          driverContext.logger.warn({ jobId: name, pid }, 'ending a QEMU no job accounts for');
          process.kill(pid, 'SIGKILL');
        }
        await removeVm(name);
      }
      pump();
    },

    async manifest(): Promise<Manifest> {
      return { products: products.map((p) => p.product) };
    },

    utilization: async () => utilization(),

    async create(job: CreateJob) {
      const product = products.find((p) => p.product.id === job.product.id);
      if (!product) throw new InvalidInputError(`product ${job.product.id} is not sold by ${ctx().providerId}`);
      const imageId = job.specification.image ?? images[0]!.id;
      if (!imageOf(imageId)) {
        throw new InvalidInputError(`image ${imageId} is not offered by ${ctx().providerId}; it offers ${images.map((i) => i.id).join(', ')}`);
      }
      if (job.specification.replicas !== 1) throw new InvalidInputError('a VM job has exactly one replica');
      const data = { command: job.specification.command, env: job.specification.env ?? {}, workingDir: job.specification.workingDir };
      const problem = userDataProblem(data);
      if (problem) throw new InvalidInputError(`The job cannot be given to the guest: ${problem}`);
      if (!fitsHost(product)) {
        throw new NoCapacityError(
          `instance type ${product.product.id} (${product.spec.vcpus} vCPUs, ${product.spec.memoryMiB} MiB) is larger than this host (${host.cpus} CPUs, ${host.memoryMiB} MiB)`,
        );
      }
      return book.create(job.id, async () => {
        const entry: CloudVmEntry = {
          record: {
            id: job.id,
            ...NOT_STARTED,
            providerGeneratedId: `vm-${job.id}`,
            productId: product.product.id,
            imageId,
            vcpus: product.spec.vcpus,
            memoryMiB: product.spec.memoryMiB,
            nonce: randomUUID().replace(/-/g, '').slice(0, 16),
            ...data,
            timeAllocationMs: job.specification.timeAllocationMs,
            extendedMs: 0,
            ranMs: 0,
            runningSince: null,
            phase: 'queued',
            saved: false,
            stop: null,
          },
          vm: null,
          starting: false,
          deadline: null,
          suspension: null,
        };
        book.set(entry);
        if (active().length < maxVms) {
          try {
            await launch(entry);
          } catch (error) {
            await removeVm(job.id);
            await book.discard(job.id);
            if (error instanceof InvalidInputError) throw error;
            throw new ProviderUnavailableError(
              ctx().providerId,
              `the VM could not start: ${error instanceof Error ? error.message : String(error)}`,
              {
                cause: error,
              },
            );
          }
        } else {
          queue.push(job.id);
          pump();
        }
        return entry;
      });
    },

    async terminate(jobId, reason) {
      const entry = await book.lookup(jobId);
      requireNotEnded(entry.record);
      const { record } = entry;
      if (record.stop?.kind === 'terminate') return;
      const stop = { kind: 'terminate' as const, reason: reason ?? null };
      if (entry.vm || entry.starting) {
        record.stop = stop;
        const suspending = record.phase === 'suspending';
        record.phase = suspending ? 'suspending' : 'stopping';
        change(entry, { state: 'CANCELING', status: STATUS.terminating });
        // A suspend under way ends the VM by itself; its end then finishes the job.
        if (entry.vm && !suspending)
          entry.vm.stop({ graceMs }).catch((error: unknown) => ctx().logger.warn({ jobId, err: error }, 'could not stop a VM'));
        return;
      }
      const queued = queue.indexOf(jobId);
      if (queued >= 0) queue.splice(queued, 1);
      finish(entry, { state: 'SUCCESS', status: STATUS.terminated(stop.reason) });
      pump();
    },

    async extend(jobId, addMs) {
      const entry = await lookupActive(jobId, 'extend');
      const { record } = entry;
      const at = now();
      const ran = record.ranMs + (record.runningSince === null ? 0 : at - record.runningSince);
      // No deadline yet: one from now.
      if (record.timeAllocationMs === null) record.timeAllocationMs = ran;
      record.extendedMs += addMs;
      const expiresAt = record.runningSince === null ? null : record.runningSince + record.timeAllocationMs + record.extendedMs - record.ranMs;
      if (expiresAt !== null) {
        record.expiresAt = expiresAt;
        armDeadline(entry);
      }
      await book.save(entry);
      return { expiresAt };
    },

    async suspend(jobId) {
      const entry = await lookupActive(jobId, 'suspend');
      // Asked again while its state is being saved (a second gateway replica out of credits too, a
      // repeated call): the same save, not a second migration over the first.
      entry.suspension ??= suspendEntry(entry).finally(() => (entry.suspension = null));
      return entry.suspension;
    },

    async unsuspend(jobId) {
      const entry = await book.lookup(jobId);
      requireState(entry.record, 'SUSPENDED', 'resume');
      entry.record.phase = 'queued';
      if (active().length >= maxVms) {
        queue.push(jobId);
        pump();
        return;
      }
      try {
        await launch(entry);
      } catch (error) {
        entry.record.phase = 'suspended';
        await book.save(entry);
        throw new ProviderUnavailableError(
          ctx().providerId,
          `the VM could not be resumed: ${error instanceof Error ? error.message : String(error)}`,
          {
            cause: error,
          },
        );
      }
    },

    async openSession(request: DriverSessionRequest): Promise<DriverSession> {
      const entry = await book.lookup(request.jobId);
      const { vm, record } = entry;
      if (!vm || record.phase !== 'running') throw new InvalidStateError(record.id, `Job ${record.id}'s VM is not running (${record.phase})`);
      const refused = (error: unknown) =>
        new InvalidStateError(
          record.id,
          `The VM's ${request.type} session could not be opened: ${error instanceof Error ? error.message : String(error)}`,
        );
      if (request.type === 'VNC') return vncSession(await vm.connectVnc().catch((error: unknown) => Promise.reject(refused(error))));
      if (request.type === 'WEB') {
        const { port } = request;
        if (port === undefined) throw new InvalidInputError('A WEB session needs the port its app listens on');
        const hostPort = await vm.guestPort(port).catch((error: unknown) => Promise.reject(refused(error)));
        const where = { jobId: record.id, description: `port ${port} of job ${record.id}'s VM` };
        return (await connectTcpSession({ host: '127.0.0.1', port: hostPort }, where)).session;
      }
      if (request.type !== 'SHELL') throw new UnsupportedError(`A VM offers SHELL, VNC and WEB sessions, not ${request.type}`);
      const lines = await vm.shellLines().catch((error: unknown) => Promise.reject(refused(error)));
      return openSerialShell({ lines, nonce: record.nonce, id: randomUUID(), cols: request.cols, rows: request.rows });
    },

    async observe(jobId) {
      await book.createSettled(jobId);
      return book.get(jobId) ? book.observe(jobId) : unknownJob(jobId);
    },

    async stop() {
      stopped = true;
      // The VMs run on (restart safety): the next provider process attaches to them.
      for (const entry of book.values()) {
        clearDeadline(entry);
        entry.vm?.detach();
      }
      await book.flush();
    },

    subschema() {
      return cloudVmSubschema(
        {
          job: (id) => {
            const entry = book.get(id);
            if (!entry) return null;
            const { record, vm } = entry;
            return {
              vmName: record.providerGeneratedId,
              instanceType: record.productId,
              image: record.imageId,
              qemuStatus: async () => {
                if (vm) return (await vm.query().catch(() => null))?.status ?? 'unknown';
                return record.phase === 'suspended' && record.saved ? 'saved' : record.phase === 'ended' ? 'ended' : 'not started';
              },
              guest: async () => (vm ? ((await vm.query().catch(() => null)) ?? null) : null),
              consoleLogBytes: async () => (vm ? vm.consoleBytes() : 0),
              diskBytes: async () => (imageOf(record.imageId)?.disk ? ((await stat(vmPaths(vmDir(id)).disk).catch(() => null))?.size ?? null) : null),
            };
          },
          host: () => {
            const reading = utilization();
            return {
              accel: options.accel ?? 'tcg',
              maxVms,
              runningVms: active().length,
              freeCpus: reading.capacity.cpu - reading.usedCapacity.cpu,
              freeMemoryInGigs: Math.round((reading.capacity.memoryInGigs - reading.usedCapacity.memoryInGigs) * 1000) / 1000,
              images: images.map((image) => ({ id: image.id, description: image.description, disk: image.disk !== undefined })),
            };
          },
        },
        () => context,
      );
    },
  };
}
