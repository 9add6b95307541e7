/**
 * One supervisor per VM. It spawns QEMU as a direct child (its own process
 * group, never -daemonize), owns the one connection to the VM's serial socket
 * and always drains it, fanning the output out to listeners (so no reader can
 * stall the guest), reads the guest's marker lines (booted, the command's exit
 * code) and kernel panics, and drives QEMU over QMP: power off with a grace
 * period, then quit; suspend (stop, migrate the state to a file, quit); resume
 * (a new QEMU with the same arguments, `-incoming`, the state read back).
 *
 * It owns the VM's other lines too: the serial line of SHELL sessions and its
 * control line (one shell at a time: a new session takes the lines from the
 * one before), and the VNC display's socket (QEMU serves several viewers).
 *
 * A supervisor can also attach to a QEMU an earlier provider process started
 * (found by its pid file in the VM's directory): it then watches the pid
 * instead of waiting for the child. The serial log file (QEMU's `logfile=`)
 * keeps every byte whoever is connected, and is read back for markers a
 * supervisor was not there to see.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';

import { createOverlay } from './disk-overlay.js';
import { guestPorts } from './guest-ports.js';
import { qemuArgs, vmPaths, type VmPaths } from './qemu-command.js';
import { connectQmp, type QmpClient } from './qmp-client.js';
import type { SerialShellLines } from './serial-shell.js';
import { userDataArchive, type UserData } from './user-data.js';

/** What the guest says it has (its booted marker): CPUs online, memory the kernel manages. */
export interface GuestShape {
  vcpus: number;
  memoryKiB: number;
}

/** How a VM's QEMU ended. */
export type VmEnd =
  /** The guest's command exited with this code and the guest powered off. */
  | { kind: 'exited'; exitCode: number }
  /** Suspended: the state file holds the VM. */
  | { kind: 'suspended' }
  /** Stopped by the supervisor (power off, quit). */
  | { kind: 'stopped' }
  /** The guest kernel panicked. */
  | { kind: 'panic'; detail: string }
  /** The guest shut down without reporting an exit code. */
  | { kind: 'powered-off' }
  /** QEMU died or failed: what it said, or how it ended. */
  | { kind: 'crashed'; detail: string }
  /** The watchdog ended a VM that stopped responding (its console silent while it runs, QMP unanswered). */
  | { kind: 'unresponsive'; detail: string };

export type VmPhase = 'booting' | 'running' | 'paused' | 'suspending' | 'stopping' | 'ended';

export interface VmMachine {
  /** The QEMU binary (findQemu()). */
  qemu: string;
  kernel: string;
  /** The image's initrd; the VM's user data is appended to a copy of it. */
  initrd: string;
  vcpus: number;
  memoryMiB: number;
  /** @default 'tcg' */
  accel?: 'tcg' | 'kvm';
  /** The kernel command line. @default 'console=ttyS0 quiet panic=-1' */
  append?: string;
  name?: string;
  /** The image's base disk (qcow2): the VM boots with an overlay of it of its own (disk-overlay.ts) as /dev/vda. */
  disk?: string;
  /** qemu-img, which makes that overlay (findQemuImg()). @default 'qemu-img' */
  qemuImg?: string;
}

export interface StartVmOptions extends VmMachine {
  /** The VM's own directory (created): sockets, pid file, serial log, initrd, state file, disk overlay. */
  dir: string;
  /** The guest's user data; its nonce marks the guest's lines. Required to boot; a resume reads back the state. */
  userData: UserData;
  /** Restore the VM from the state file in its directory instead of booting it. */
  resume?: boolean;
  /** How long QEMU may take to open its sockets (and a resume to read its state). @default 30000 */
  startTimeoutMs?: number;
  /** The watchdog: how long a running guest's console may be silent (its heartbeat comes every 5 s). @default 30000 */
  stallMs?: number;
  /** How long a guest may take to say it has booted. @default 180000 */
  bootTimeoutMs?: number;
}

export interface VmSupervisor {
  readonly paths: VmPaths;
  readonly pid: number;
  /** Whether QEMU is this process's child (false when attached after a restart). */
  readonly child: boolean;
  phase(): VmPhase;
  /** Resolves when the guest has booted (at once for a resumed VM that had). */
  readonly booted: Promise<GuestShape>;
  /** Resolves when QEMU has ended, saying how. */
  readonly ended: Promise<VmEnd>;
  /** Every console line (without its line end), and whether the guest had booted when it came. */
  onLine(listener: (line: string, afterBoot: boolean) => void): () => void;
  /** The console's bytes as they come (a terminal). */
  onOutput(listener: (chunk: Buffer) => void): () => void;
  /** Type on the VM's console. */
  write(data: string | Buffer): void;
  /**
   * The serial lines of a SHELL session (ttyS1 and its control line ttyS2: serial-shell.ts),
   * connected. A session that holds them still loses them: the line carries one shell at a time.
   */
  shellLines(): Promise<SerialShellLines>;
  /** A connection to the VM's display, speaking RFB (QEMU's VNC server, on a unix socket). */
  connectVnc(): Promise<Socket>;
  /** Where on the host's loopback a port of the guest is reached (a forward QEMU adds the first time: guest-ports.ts). */
  guestPort(port: number): Promise<number>;
  /** Bytes in the console log so far. */
  consoleBytes(): Promise<number>;
  /** QEMU's view: its run state, and the vCPUs and memory the guest has. */
  query(): Promise<{ status: string; vcpus: number; memoryBytes: number }>;
  /** Power the guest off, waiting `graceMs` for it, then quit QEMU (then kill it). */
  stop(options?: { graceMs?: number }): Promise<VmEnd>;
  /** Save the VM's state to the state file and end QEMU, freeing its memory; answers the state's size and how long it took. */
  suspend(): Promise<{ stateBytes: number; ms: number }>;
  /** Let a paused VM run again (QMP `cont`). */
  cont(): Promise<void>;
  /** SIGKILL QEMU. */
  kill(): void;
  /** Let go of the VM, leaving it running (a provider that stops): its sockets are free for the next supervisor. */
  detach(): void;
}

/** QEMU refused to start or to resume: what it said. */
export class VmStartError extends Error {
  constructor(detail: string, options?: ErrorOptions) {
    super(detail, options);
    this.name = 'VmStartError';
  }
}

const MARKER = (nonce: string) => `SWITCHYARD-${nonce} `;
const PANIC = /Kernel panic - not syncing.*/;
/** Paths QEMU's `exec:` migration URIs hand to a shell. */
const SHELL_SAFE = /^[\w/.+-]+$/;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Connect to a unix socket, retrying while it is not there yet; gives up when `alive()` says so or at the deadline. */
async function connectWhenReady<T>(attempt: () => Promise<T>, alive: () => boolean, deadline: number, what: string): Promise<T> {
  let last: unknown;
  while (Date.now() < deadline && alive()) {
    try {
      return await attempt();
    } catch (error) {
      last = error;
      await delay(50);
    }
  }
  throw new VmStartError(`${what}: ${alive() ? 'timed out' : 'QEMU ended'}${last instanceof Error ? ` (${last.message})` : ''}`);
}

const connectSocket = (path: string) =>
  new Promise<Socket>((resolve, reject) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });

/** Whether a process of this pid is the QEMU of this VM directory (not another process that reused the pid). */
export async function isQemuOf(pid: number, dir: string): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
  return cmdline !== null && cmdline.split('\0').some((arg) => arg.includes(`${dir}/qmp.sock`));
}

/** The pid in the VM's pid file, if QEMU of that directory runs under it. */
export async function runningQemu(dir: string): Promise<number | null> {
  const text = await readFile(vmPaths(dir).pidFile, 'utf8').catch(() => null);
  const pid = text === null ? NaN : Number(text.trim());
  return Number.isInteger(pid) && pid > 0 && (await isQemuOf(pid, dir)) ? pid : null;
}

/** What the serial log says: whether the guest booted, its exit code, a panic. */
export async function readConsoleLog(
  path: string,
  nonce: string,
): Promise<{ shape: GuestShape | null; exitCode: number | null; panic: string | null }> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const result: { shape: GuestShape | null; exitCode: number | null; panic: string | null } = { shape: null, exitCode: null, panic: null };
  for (const raw of text.split('\n')) {
    const marker = parseMarker(raw.replace(/\r$/, ''), nonce);
    if (marker?.kind === 'booted') result.shape = marker.shape;
    else if (marker?.kind === 'exit') result.exitCode = marker.exitCode;
    const panic = PANIC.exec(raw);
    if (panic) result.panic = panic[0].trim();
  }
  return result;
}

type Marker = { kind: 'booted'; shape: GuestShape } | { kind: 'exit'; exitCode: number } | { kind: 'alive' };

function parseMarker(line: string, nonce: string): Marker | null {
  const at = line.indexOf(MARKER(nonce));
  if (at < 0) return null;
  const [what, a, b] = line
    .slice(at + MARKER(nonce).length)
    .trim()
    .split(/\s+/);
  if (what === 'booted') return { kind: 'booted', shape: { vcpus: Number(a) || 0, memoryKiB: Number(b) || 0 } };
  if (what === 'exit' && a !== undefined && /^\d+$/.test(a)) return { kind: 'exit', exitCode: Number(a) };
  if (what === 'alive') return { kind: 'alive' };
  return null;
}

interface Watch {
  pid: number;
  child: ChildProcess | null;
  /** Resolves when the process has gone, with what is known of how (QEMU's own words, when a child). */
  gone: Promise<string>;
  /** Aborted when the supervisor lets go of the VM. */
  detached: AbortController;
}

/** Start a VM (boot it, or resume it from its state file); resolves once QEMU's sockets are connected (and a resume has its state). */
export async function startVm(options: StartVmOptions): Promise<VmSupervisor> {
  const paths = vmPaths(options.dir);
  if (!SHELL_SAFE.test(options.dir)) throw new VmStartError(`the VM directory ${options.dir} has characters QEMU's exec: URIs cannot take`);
  await mkdir(options.dir, { recursive: true });
  if (!options.resume) {
    // The image's initrd, then the user data: the kernel unpacks both (user-data.ts). It looks for an
    // uncompressed archive after a compressed one only at a 4-byte boundary, skipping zeros: pad to one.
    const image = await readFile(options.initrd);
    await writeFile(paths.initrd, Buffer.concat([image, Buffer.alloc((512 - (image.length % 512)) % 512), userDataArchive(options.userData)]));
    if (options.disk) {
      await createOverlay({ qemuImg: options.qemuImg ?? 'qemu-img', base: options.disk, overlay: paths.disk }).catch((error: unknown) => {
        throw new VmStartError((error as Error).message, { cause: error });
      });
    }
  } else if (!(await stat(paths.stateFile).catch(() => null))) {
    throw new VmStartError(`no saved state at ${paths.stateFile}`);
  } else if (options.disk && !(await stat(paths.disk).catch(() => null))) {
    // The saved state refers to its disk's contents: without them the guest would not carry on.
    throw new VmStartError(`the suspended VM's disk ${paths.disk} is gone`);
  }
  await rm(paths.qmpSocket, { force: true });
  await rm(paths.serialSocket, { force: true });
  await Promise.all([paths.shellSocket, paths.shellControlSocket, paths.vncSocket].map((path) => rm(path, { force: true })));
  const args = qemuArgs({
    paths,
    kernel: options.kernel,
    vcpus: options.vcpus,
    memoryMiB: options.memoryMiB,
    accel: options.accel,
    append: options.append,
    name: options.name,
    incoming: options.resume,
    disk: options.disk !== undefined,
  });
  const child = spawn(options.qemu, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  let exited = false;
  const gone = new Promise<string>((resolve) => {
    child.once('error', (error) => {
      exited = true;
      resolve(`QEMU could not be started: ${error.message}`);
    });
    child.once('exit', (code, signal) => {
      exited = true;
      // stderr may still be arriving.
      setImmediate(() => resolve(stderr.trim() || (signal ? `QEMU was killed by ${signal}` : `QEMU exited with code ${code}`)));
    });
  });
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  try {
    const qmp = await connectWhenReady(
      () => connectQmp({ path: paths.qmpSocket, timeoutMs: 5_000 }),
      () => !exited,
      deadline,
      'QMP',
    );
    const serial = await connectWhenReady(
      () => connectSocket(paths.serialSocket),
      () => !exited,
      deadline,
      'the serial console',
    );
    if (options.resume) await receiveState(qmp, paths, deadline);
    return supervise({
      paths,
      qmp,
      serial,
      watch: { pid: child.pid!, child, gone, detached: new AbortController() },
      nonce: options.userData.nonce,
      resumed: !!options.resume,
      stallMs: options.stallMs,
      bootTimeoutMs: options.bootTimeoutMs,
    });
  } catch (error) {
    if (!exited) child.kill('SIGKILL');
    const why = await gone;
    throw new VmStartError(`${error instanceof Error ? error.message : String(error)}: ${why}`, { cause: error });
  }
}

/** Read the state back into a QEMU started with `-incoming defer`, then let it run (it was saved paused). */
async function receiveState(qmp: QmpClient, paths: VmPaths, deadline: number): Promise<void> {
  await qmp.execute('migrate-incoming', { uri: `exec:cat ${paths.stateFile}` });
  while (Date.now() < deadline) {
    const { status } = await qmp.execute<{ status: string }>('query-status');
    if (status === 'running') return;
    if (status === 'paused') {
      const migration = await qmp.execute<{ status?: string }>('query-migrate');
      if (migration.status === 'completed') {
        await qmp.execute('cont');
        return;
      }
      if (migration.status === 'failed') throw new VmStartError('the saved state could not be read back');
    } else if (status !== 'inmigrate' && status !== 'prelaunch') throw new VmStartError(`the resumed VM is ${status}`);
    await delay(50);
  }
  throw new VmStartError('the saved state was not read back in time');
}

/** Attach to the running QEMU of a VM directory (a provider restarted); null when none runs there. */
export async function attachVm(options: { dir: string; nonce: string; stallMs?: number }): Promise<VmSupervisor | null> {
  const paths = vmPaths(options.dir);
  const pid = await runningQemu(options.dir);
  if (pid === null) return null;
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + 10_000;
  const qmp = await connectWhenReady(() => connectQmp({ path: paths.qmpSocket, timeoutMs: 5_000 }), alive, deadline, 'QMP');
  const serial = await connectWhenReady(() => connectSocket(paths.serialSocket), alive, deadline, 'the serial console').catch((error: unknown) => {
    qmp.close();
    throw error;
  });
  // Not a child: watch the pid until it has gone (QMP closes first, then the process goes); never, once let go.
  const detached = new AbortController();
  const gone = (async () => {
    await qmp.closed;
    while (!detached.signal.aborted && alive() && (await isQemuOf(pid, options.dir))) await delay(100);
    if (detached.signal.aborted) await new Promise<never>(() => undefined);
    return 'QEMU ended';
  })();
  const known = await readConsoleLog(paths.serialLog, options.nonce);
  return supervise({
    paths,
    qmp,
    serial,
    watch: { pid, child: null, gone, detached },
    nonce: options.nonce,
    resumed: known.shape !== null,
    known,
    stallMs: options.stallMs,
  });
}

function supervise(options: {
  paths: VmPaths;
  qmp: QmpClient;
  serial: Socket;
  watch: Watch;
  nonce: string;
  /** The guest booted before this supervisor (a resume, an attach). */
  resumed: boolean;
  known?: { shape: GuestShape | null; exitCode: number | null; panic: string | null };
  stallMs?: number;
  bootTimeoutMs?: number;
}): VmSupervisor {
  const { paths, qmp, serial, watch, nonce } = options;
  const forwards = guestPorts(qmp);
  let phase: VmPhase = options.resumed ? 'running' : 'booting';
  let exitCode: number | null = options.known?.exitCode ?? null;
  let panic: string | null = options.known?.panic ?? null;
  let intent: 'stop' | 'suspend' | null = null;
  /** Why the watchdog ended the VM. */
  let unresponsive: string | null = null;
  let lastOutputAt = Date.now();
  const supervisedSince = Date.now();
  const lineListeners = new Set<(line: string, afterBoot: boolean) => void>();
  const outputListeners = new Set<(chunk: Buffer) => void>();
  let onBoot: (shape: GuestShape) => void = () => undefined;
  const booted = new Promise<GuestShape>((resolve) => (onBoot = resolve));
  if (options.known?.shape) onBoot(options.known.shape);
  else if (options.resumed) onBoot({ vcpus: 0, memoryKiB: 0 });

  let pending = '';
  const takeLine = (raw: string) => {
    let line = raw.replace(/\r$/, '');
    const at = line.indexOf(MARKER(nonce));
    if (at > 0) {
      // A marker written into a line the command had not ended: the command's part is output.
      takeLine(line.slice(0, at));
      line = line.slice(at);
    }
    const marker = parseMarker(line, nonce);
    if (marker?.kind === 'booted') {
      if (phase === 'booting') phase = 'running';
      onBoot(marker.shape);
      return;
    }
    if (marker?.kind === 'exit') {
      exitCode = marker.exitCode;
      return;
    }
    if (marker?.kind === 'alive') return;
    const match = PANIC.exec(line);
    if (match) panic = match[0].trim();
    const afterBoot = phase !== 'booting';
    for (const listener of lineListeners) listener(line, afterBoot);
  };
  // Always drained, whoever listens: a full socket buffer would stall the guest's serial port.
  serial.on('data', (chunk: Buffer) => {
    lastOutputAt = Date.now();
    for (const listener of outputListeners) listener(chunk);
    pending += chunk.toString('utf8');
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      takeLine(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
    }
  });
  serial.on('error', () => undefined);
  const serialClosed = new Promise<void>((resolve) => serial.once('close', () => resolve()));

  let shellLines: SerialShellLines | null = null;
  const live = () => phase !== 'ended' && phase !== 'suspending' && phase !== 'stopping';

  const kill = () => {
    try {
      if (watch.child) watch.child.kill('SIGKILL');
      else process.kill(watch.pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  };
  // The watchdog: a running guest's console is never silent for long (its heartbeat), and QEMU always answers QMP.
  const stallMs = options.stallMs ?? 30_000;
  const bootTimeoutMs = options.bootTimeoutMs ?? 180_000;
  let unanswered = 0;
  let checking = false;
  const watchdog = setInterval(
    () => {
      if (phase === 'booting' && unresponsive === null && Date.now() - supervisedSince > bootTimeoutMs) {
        unresponsive = `the guest did not say it had booted within ${Math.round(bootTimeoutMs / 1000)} s`;
        kill();
      }
      if (checking || phase !== 'running' || unresponsive !== null) return;
      checking = true;
      qmp
        .execute<{ status: string }>('query-status', undefined, { timeoutMs: Math.max(1_000, stallMs / 3) })
        .then(({ status }) => {
          unanswered = 0;
          const silent = Date.now() - lastOutputAt;
          if (status === 'running' && silent > stallMs && phase === 'running') {
            unresponsive = `its console has been silent for ${Math.round(silent / 1000)} s while it runs`;
          } else if (status === 'guest-panicked' || status === 'internal-error') unresponsive = `QEMU says ${status}`;
        })
        .catch(() => {
          if (++unanswered >= 2 && phase === 'running') unresponsive = 'QEMU stopped answering QMP';
        })
        .finally(() => {
          checking = false;
          if (unresponsive !== null) kill();
        });
    },
    Math.max(500, Math.floor(Math.min(stallMs, bootTimeoutMs) / 3)),
  );
  watchdog.unref();

  const ended: Promise<VmEnd> = (async () => {
    const why = await watch.gone;
    clearInterval(watchdog);
    // The console's last bytes may come after the exit: wait for the socket's end, briefly, then the log.
    await Promise.race([serialClosed, delay(1_000)]);
    if (pending) takeLine(pending);
    pending = '';
    serial.destroy();
    qmp.close();
    if (exitCode === null && panic === null && intent === null) {
      const log = await readConsoleLog(paths.serialLog, nonce);
      exitCode = log.exitCode;
      panic = log.panic;
    }
    phase = 'ended';
    if (intent === 'suspend' && (await stat(paths.stateFile).catch(() => null))) return { kind: 'suspended' } as const;
    if (unresponsive !== null) return { kind: 'unresponsive', detail: unresponsive } as const;
    if (exitCode !== null) return { kind: 'exited', exitCode } as const;
    if (panic !== null) return { kind: 'panic', detail: panic } as const;
    if (intent === 'stop') return { kind: 'stopped' } as const;
    const code = watch.child?.exitCode;
    if (watch.child && code === 0) return { kind: 'powered-off' } as const;
    return { kind: 'crashed', detail: why } as const;
  })();

  const endedWithin = (ms: number) => Promise.race([ended.then(() => true), delay(ms).then(() => false)]);
  const quit = async () => {
    await qmp.execute('quit', undefined, { timeoutMs: 5_000 }).catch(() => undefined);
    if (!(await endedWithin(5_000))) kill();
    return ended;
  };

  return {
    paths,
    pid: watch.pid,
    child: watch.child !== null,
    phase: () => phase,
    booted,
    ended,
    onLine(listener) {
      lineListeners.add(listener);
      return () => void lineListeners.delete(listener);
    },
    onOutput(listener) {
      outputListeners.add(listener);
      return () => void outputListeners.delete(listener);
    },
    write(data) {
      if (!serial.destroyed) serial.write(data);
    },
    async shellLines() {
      if (!live()) throw new Error(`the VM is ${phase}`);
      if (shellLines) {
        // QEMU takes one connection per line: the session before lets go first.
        const before = shellLines;
        before.shell.destroy();
        before.control.destroy();
      }
      const [shell, control] = await Promise.all([connectSocket(paths.shellSocket), connectSocket(paths.shellControlSocket)]).catch(
        (error: unknown) => {
          throw new Error(`the VM's shell line is not there (a VM started before SHELL sessions?): ${(error as Error).message}`);
        },
      );
      const lines = { shell, control };
      shellLines = lines;
      shell.once('close', () => {
        if (shellLines === lines) shellLines = null;
      });
      return lines;
    },
    async connectVnc() {
      if (!live()) throw new Error(`the VM is ${phase}`);
      return connectSocket(paths.vncSocket).catch((error: unknown) => {
        throw new Error(`the VM's display is not there (a VM started before VNC sessions?): ${(error as Error).message}`);
      });
    },
    async guestPort(port) {
      if (!live()) throw new Error(`the VM is ${phase}`);
      return forwards.forward(port);
    },
    async consoleBytes() {
      return (await stat(paths.serialLog).catch(() => null))?.size ?? 0;
    },
    async query() {
      const [status, cpus, memory] = await Promise.all([
        qmp.execute<{ status: string }>('query-status'),
        qmp.execute<unknown[]>('query-cpus-fast'),
        qmp.execute<{ 'base-memory': number }>('query-memory-size-summary'),
      ]);
      return { status: status.status, vcpus: cpus.length, memoryBytes: memory['base-memory'] };
    },
    async stop(stopOptions = {}) {
      if (phase === 'ended') return ended;
      intent ??= 'stop';
      phase = 'stopping';
      // The guest may power itself off (an ACPI handler); a busybox guest has none, so quit after the grace period.
      await qmp.execute('system_powerdown', undefined, { timeoutMs: 5_000 }).catch(() => undefined);
      if (await endedWithin(stopOptions.graceMs ?? 3_000)) return ended;
      return quit();
    },
    async suspend() {
      if (phase === 'ended') throw new Error('the VM has ended');
      // A second migration would cut into the first one's file.
      if (phase === 'suspending') throw new Error('the VM is being suspended already');
      const started = Date.now();
      const before = phase;
      phase = 'suspending';
      const temporary = `${paths.stateFile}.tmp`;
      try {
        await qmp.execute('stop');
        await qmp.execute('migrate', { uri: `exec:cat > ${temporary}` });
        while (true) {
          const { status, 'error-desc': error } = await qmp.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
          if (status === 'completed') break;
          if (status === 'failed' || status === 'cancelled') throw new Error(`saving the VM's state ${status}${error ? `: ${error}` : ''}`);
          await delay(50);
        }
        await rename(temporary, paths.stateFile);
      } catch (error) {
        phase = before;
        await rm(temporary, { force: true });
        await qmp.execute('cont').catch(() => undefined);
        throw error;
      }
      intent = 'suspend';
      const stateBytes = (await stat(paths.stateFile)).size;
      await quit();
      return { stateBytes, ms: Date.now() - started };
    },
    async cont() {
      await qmp.execute('cont');
    },
    kill,
    detach() {
      clearInterval(watchdog);
      watch.detached.abort();
      serial.destroy();
      qmp.close();
      watch.child?.stderr?.destroy();
      watch.child?.unref();
    },
  };
}
