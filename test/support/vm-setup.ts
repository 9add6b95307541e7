/**
 * Global setup for tests of the cloud-VM provider: without SWITCHYARD_VM_IMAGE_DIR it
 * builds the guest images (deploy/vm/build-images.sh: QEMU and busybox-static from
 * Debian when missing, a kernel from its .deb, a busybox initramfs; cached outside the
 * repository, so seconds once built) and exports their directory to the test workers;
 * if that cannot be done, the VM tests fail saying why.
 */
import { execFileSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import { runningQemu } from '../../providers/cloud-vm/vm-supervisor.js';

export function setup(): void {
  if (process.env.SWITCHYARD_VM_IMAGE_DIR) return;
  const script = fileURLToPath(new URL('../../deploy/vm/build-images.sh', import.meta.url));
  try {
    const dir = execFileSync('bash', [script], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10 * 60_000 })
      .toString()
      .trim();
    process.env.SWITCHYARD_VM_IMAGE_DIR = dir;
  } catch (error) {
    const detail = (error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message;
    process.stderr.write(`global setup: could not build the VM guest images; the cloud-VM tests will fail: ${detail}\n`);
  }
}

/** The guest images the setup built (kernel, initrd; the disk image's initrd and base disk); throws saying how to get them. */
export function guestImages(): { dir: string; kernel: string; initrd: string; diskInitrd: string; disk: string } {
  const dir = process.env.SWITCHYARD_VM_IMAGE_DIR;
  if (!dir) {
    throw new Error(
      'No VM guest images: run `bash deploy/vm/build-images.sh` (it installs qemu-system-x86, qemu-utils and busybox-static) and set SWITCHYARD_VM_IMAGE_DIR to what it prints (the e2e setup does)',
    );
  }
  return { dir, kernel: `${dir}/vmlinuz`, initrd: `${dir}/initrd.cpio.gz`, diskInitrd: `${dir}/initrd-disk.cpio.gz`, disk: `${dir}/disk.qcow2` };
}

/** A guest command that counts on its console, once a second: `tick 1`, `tick 2`, … (a resumed guest carries on counting). */
export const TICKS = ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 1; done'];

/** The numbers of the `tick N` lines among console lines. */
export const ticksOf = (lines: readonly string[]): number[] => lines.flatMap((line) => /^tick (\d+)$/.exec(line)?.[1] ?? []).map(Number);

/** The pids of the QEMUs still running under a cloud-VM provider's state directory (its `vms/<job>` directories). */
export async function qemusUnder(stateDir: string): Promise<number[]> {
  const names = await readdir(`${stateDir}/vms`).catch(() => []);
  const pids = await Promise.all(names.map((name) => runningQemu(`${stateDir}/vms/${name}`)));
  return pids.filter((pid): pid is number => pid !== null);
}
