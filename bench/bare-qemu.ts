/**
 * The cloud-VM benchmark's baseline: the same VM done with a bare QEMU command,
 * no gateway, provider or supervisor. The same kernel, the same initrd with the
 * same user data appended (user-data.ts), QEMU's arguments from the same
 * function the provider uses (qemu-command.ts), spawned directly; the markers
 * timed on its serial socket as the supervisor reads them. Suspend and resume
 * are the QMP commands a user would type: stop, migrate to a file, quit; and a
 * QEMU with `-incoming defer`, migrate-incoming, cont.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';

import { qemuArgs, vmPaths, type VmPaths } from '../providers/cloud-vm/qemu-command.js';
import { connectQmp, type QmpClient } from '../providers/cloud-vm/qmp-client.js';
import { userDataArchive, type UserData } from '../providers/cloud-vm/user-data.js';
import { sleep } from './stats.js';

export interface BareMachine {
  qemu: string;
  kernel: string;
  /** The image's initrd: the user data goes after it. */
  initrd: string;
  append?: string;
  vcpus: number;
  memoryMiB: number;
  accel: 'tcg' | 'kvm';
}

export interface BareBoot {
  /** performance.now() when the boot began (before the initrd was written). */
  t0: number;
  /** ms from t0 to the guest's booted marker on the serial console. */
  bootedMs: number;
  /** ms from t0 to the first console line after it that is `firstLine`. */
  firstLineMs: number;
}

/** A bare QEMU of one VM directory; at most one runs at a time. */
export interface BareVm {
  paths: VmPaths;
  /** Boots it with this user data; resolves once the guest has printed `firstLine`. */
  boot(userData: UserData, firstLine: string, timeoutMs: number): Promise<BareBoot>;
  /** stop, migrate to the state file, quit; resolves when QEMU has exited: the ms it took and the file's size. */
  suspend(): Promise<{ ms: number; stateBytes: number }>;
  /** A QEMU with `-incoming defer` reads the state back and continues: the ms until `cont` returned. */
  resume(timeoutMs: number): Promise<{ ms: number }>;
  /** quit (then SIGKILL) whatever runs. */
  quit(): Promise<void>;
}

/** A unix socket, connected (once() rejects on its error). */
async function connectSocket(path: string): Promise<Socket> {
  const socket = connect(path);
  await once(socket, 'connect');
  return socket;
}

/** `attempt` every 10 ms until it works or the deadline. */
async function retry<T>(attempt: () => Promise<T>, deadline: number, what: string): Promise<T> {
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (performance.now() > deadline)
        throw new Error(`bare QEMU: ${what}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      await sleep(10);
    }
  }
}

export function bareVm(machine: BareMachine, dir: string): BareVm {
  const paths = vmPaths(dir);
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let qmp: QmpClient | null = null;
  let serial: Socket | null = null;

  const start = (incoming: boolean) => {
    const args = qemuArgs({
      paths,
      kernel: machine.kernel,
      vcpus: machine.vcpus,
      memoryMiB: machine.memoryMiB,
      accel: machine.accel,
      append: machine.append,
      name: 'bench-bare',
      incoming,
    });
    // As the supervisor spawns it: a process group of its own, stderr kept for the error.
    const spawned = spawn(machine.qemu, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    spawned.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-2000)));
    exited = new Promise<void>((resolve) => spawned.once('exit', () => resolve()));
    spawned.once('exit', (code, signal) => {
      if (child === spawned && code !== 0) process.stderr.write(`bench: bare QEMU ended (${signal ?? code}): ${stderr.trim()}\n`);
      if (child === spawned) child = null;
    });
    child = spawned;
  };
  const connectQmpSoon = (deadline: number) => retry(() => connectQmp({ path: paths.qmpSocket, timeoutMs: 5_000 }), deadline, 'QMP');
  const release = () => {
    serial?.destroy();
    serial = null;
    qmp?.close();
    qmp = null;
  };

  const quit = async () => {
    await qmp?.execute('quit', undefined, { timeoutMs: 5_000 }).catch(() => undefined);
    const gone = await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]);
    if (!gone) child?.kill('SIGKILL');
    await exited;
    release();
  };

  return {
    paths,
    async boot(userData, firstLine, timeoutMs) {
      const t0 = performance.now();
      const deadline = t0 + timeoutMs;
      await mkdir(dir, { recursive: true });
      await rm(paths.stateFile, { force: true });
      // The user data after the image's initrd, at a 512-byte boundary, as the supervisor writes it.
      const image = await readFile(machine.initrd);
      await writeFile(paths.initrd, Buffer.concat([image, Buffer.alloc((512 - (image.length % 512)) % 512), userDataArchive(userData)]));
      for (const socket of [paths.qmpSocket, paths.serialSocket]) await rm(socket, { force: true });
      start(false);
      // The serial socket as the supervisor has it: connected as soon as QEMU opens it, drained, read line by line.
      qmp = await connectQmpSoon(deadline);
      serial = await retry(() => connectSocket(paths.serialSocket), deadline, 'the serial console');
      const marker = `SWITCHYARD-${userData.nonce} `;
      let bootedMs: number | null = null;
      let pending = '';
      const seen = new Promise<BareBoot>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`bare QEMU: no line "${firstLine}" within ${timeoutMs} ms`)), timeoutMs);
        serial!.on('data', (chunk: Buffer) => {
          const at = performance.now();
          pending += chunk.toString('utf8');
          let newline: number;
          while ((newline = pending.indexOf('\n')) >= 0) {
            const line = pending.slice(0, newline).replace(/\r$/, '');
            pending = pending.slice(newline + 1);
            if (line.includes(`${marker}booted`)) bootedMs ??= at - t0;
            else if (bootedMs !== null && line === firstLine) {
              clearTimeout(timer);
              resolve({ t0, bootedMs, firstLineMs: at - t0 });
            }
          }
        });
        serial!.on('error', () => undefined);
        void exited.then(() => reject(new Error('bare QEMU ended before the first line')));
      });
      return seen;
    },
    async suspend() {
      if (!qmp) throw new Error('bare QEMU: not running');
      const t0 = performance.now();
      await qmp.execute('stop');
      await qmp.execute('migrate', { uri: `exec:cat > ${paths.stateFile}` });
      for (;;) {
        const { status } = await qmp.execute<{ status?: string }>('query-migrate');
        if (status === 'completed') break;
        if (status === 'failed' || status === 'cancelled') throw new Error(`bare QEMU: migrate ${status}`);
        await sleep(10);
      }
      await quit();
      return { ms: performance.now() - t0, stateBytes: (await stat(paths.stateFile)).size };
    },
    async resume(timeoutMs) {
      const t0 = performance.now();
      const deadline = t0 + timeoutMs;
      for (const socket of [paths.qmpSocket, paths.serialSocket]) await rm(socket, { force: true });
      start(true);
      qmp = await connectQmpSoon(deadline);
      await qmp.execute('migrate-incoming', { uri: `exec:cat ${paths.stateFile}` });
      for (;;) {
        const { status } = await qmp.execute<{ status?: string }>('query-migrate');
        if (status === 'completed') break;
        if (status === 'failed') throw new Error('bare QEMU: the state could not be read back');
        if (performance.now() > deadline) throw new Error('bare QEMU: the state was not read back in time');
        await sleep(10);
      }
      await qmp.execute('cont');
      return { ms: performance.now() - t0 };
    },
    quit,
  };
}
