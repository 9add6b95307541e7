/**
 * QEMU's command line for one VM, and where QEMU and qemu-img are. A VM is a
 * direct child of its supervisor (never -daemonize), accelerated by TCG unless
 * told KVM, with no default devices: the console's serial port on a unix socket
 * (drained by the supervisor) that QEMU also writes to a log file, two more
 * serial ports for SHELL sessions (the shell's line and its control line), a
 * VGA display served as VNC on a unix socket (no TCP listener), QMP on a unix
 * socket, a virtio disk when its image has one, and a NIC on QEMU's user
 * network that can reach nothing (restrict=on): only the host forwards the
 * provider adds for WEB sessions (guest-ports.ts) reach in. Pure but for the
 * lookup of the binaries.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The id of the VM's user network in QEMU (what `hostfwd_add` names). */
export const GUEST_NETDEV = 'net0';

/** The files of one VM, all in its own directory. */
export interface VmPaths {
  dir: string;
  serialSocket: string;
  serialLog: string;
  /** The guest's ttyS1: the serial line a SHELL session's shell runs on (serial-shell.ts). */
  shellSocket: string;
  /** The guest's ttyS2: where the provider opens, sizes and hangs up that shell. */
  shellControlSocket: string;
  /** The VM's display as RFB (QEMU's VNC server). */
  vncSocket: string;
  qmpSocket: string;
  pidFile: string;
  /** The boot image's initrd with the VM's user data appended. */
  initrd: string;
  /** Where suspend saves the VM's state. */
  stateFile: string;
  /** The VM's own disk: a qcow2 overlay over its image's base disk (disk-overlay.ts). */
  disk: string;
}

export function vmPaths(dir: string): VmPaths {
  return {
    dir,
    serialSocket: join(dir, 'serial.sock'),
    serialLog: join(dir, 'serial.log'),
    shellSocket: join(dir, 'shell.sock'),
    shellControlSocket: join(dir, 'shell-control.sock'),
    vncSocket: join(dir, 'vnc.sock'),
    qmpSocket: join(dir, 'qmp.sock'),
    pidFile: join(dir, 'qemu.pid'),
    initrd: join(dir, 'initrd'),
    stateFile: join(dir, 'state.bin'),
    disk: join(dir, 'disk.qcow2'),
  };
}

export interface QemuArgsOptions {
  paths: VmPaths;
  kernel: string;
  vcpus: number;
  memoryMiB: number;
  /** The kernel command line. @default 'console=ttyS0 quiet panic=-1' */
  append?: string;
  /** `tcg` (emulation, works everywhere) or `kvm` (where /dev/kvm works). @default 'tcg' */
  accel?: 'tcg' | 'kvm';
  /** Restore from the state file (after a suspend) instead of booting. */
  incoming?: boolean;
  /** A name QEMU shows (`-name`). */
  name?: string;
  /** Attach the VM's disk (`paths.disk`) as a virtio block device. */
  disk?: boolean;
}

/** QEMU's arguments for the VM; a resumed VM must be started with the same ones, plus `incoming`. */
export function qemuArgs(options: QemuArgsOptions): string[] {
  const { paths } = options;
  const args = [
    ...(options.name ? ['-name', options.name] : []),
    '-accel',
    options.accel ?? 'tcg',
    '-m',
    String(options.memoryMiB),
    '-smp',
    String(options.vcpus),
    '-kernel',
    options.kernel,
    '-initrd',
    paths.initrd,
    '-append',
    options.append ?? 'console=ttyS0 quiet panic=-1',
    // A guest that reboots or panics (panic=-1 reboots at once) ends QEMU.
    '-no-reboot',
    '-nodefaults',
    '-display',
    'none',
    '-chardev',
    `socket,id=ser0,path=${paths.serialSocket},server=on,wait=off,logfile=${paths.serialLog},logappend=on`,
    '-serial',
    'chardev:ser0',
    // ttyS1 and ttyS2: the SHELL sessions' line and its control line, kept off the console and its log.
    '-chardev',
    `socket,id=ser1,path=${paths.shellSocket},server=on,wait=off`,
    '-serial',
    'chardev:ser1',
    '-chardev',
    `socket,id=ser2,path=${paths.shellControlSocket},server=on,wait=off`,
    // The third ISA port would share IRQ 4 with the console's, and QEMU's ISA lines are not
    // wired-OR: one port lowering the line loses the other's interrupts. IRQ 5 is free (no
    // parallel port, no sound) and the guest learns it from ACPI.
    '-device',
    'isa-serial,chardev=ser2,index=2,irq=5',
    // A display for VNC sessions: its text console (the guest's tty1), served on a unix socket only.
    '-device',
    'VGA',
    '-vnc',
    `unix:${paths.vncSocket}`,
    '-qmp',
    `unix:${paths.qmpSocket},server=on,wait=off`,
    '-pidfile',
    paths.pidFile,
  ];
  // WEB sessions: the guest is 10.0.2.15 on a network of its own in QEMU (slirp), isolated
  // (restrict=on: no packet leaves for the host or beyond); QMP adds the forwards a session needs.
  args.push('-netdev', `user,id=${GUEST_NETDEV},restrict=on`, '-device', `virtio-net-pci,netdev=${GUEST_NETDEV}`);
  // The guest sees it as /dev/vda (its init mounts it at /mnt/disk).
  if (options.disk) args.push('-drive', `file=${paths.disk},format=qcow2,if=virtio`);
  // Paused until its state has come in; the supervisor then says `cont`.
  if (options.incoming) args.push('-incoming', 'defer');
  return args;
}

/** A QEMU binary that is not installed, with how to install it. */
export class QemuMissingError extends Error {
  constructor(binary: string, debianPackage = 'qemu-system-x86', setting = 'SWITCHYARD_VM_QEMU') {
    super(`${binary} not found: install QEMU (apt-get install ${debianPackage}) or set ${setting} to its path`);
    this.name = 'QemuMissingError';
  }
}

/** An executable: a path as given, else a name looked up on PATH; null when there is none. */
function findExecutable(binary: string, path: string): string | null {
  const executable = (file: string) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (binary.includes('/')) return executable(binary) ? binary : null;
  for (const dir of path.split(delimiter)) {
    if (dir && executable(join(dir, binary))) return join(dir, binary);
  }
  return null;
}

/** The QEMU binary; QemuMissingError when there is none. */
export function findQemu(binary = 'qemu-system-x86_64', path = process.env.PATH ?? ''): string {
  const found = findExecutable(binary, path);
  if (found === null) throw new QemuMissingError(binary);
  return found;
}

/** qemu-img, which makes the VMs' disk overlays; QemuMissingError when there is none. */
export function findQemuImg(binary = 'qemu-img', path = process.env.PATH ?? ''): string {
  const found = findExecutable(binary, path);
  if (found === null) throw new QemuMissingError(binary, 'qemu-utils', 'SWITCHYARD_VM_QEMU_IMG');
  return found;
}
