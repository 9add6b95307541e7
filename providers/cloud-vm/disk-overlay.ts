/**
 * A VM's own disk: a qcow2 overlay over its image's base disk, copy on write,
 * as Nova's libvirt driver makes one per instance. It lives in the VM's
 * directory, so it goes where the VM goes: kept across a suspend and a
 * provider restart, deleted with the directory when the job ends. QEMU writes
 * only to the overlay; the base is only ever read, by every VM of the image.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** `qemu-img create -f qcow2 -b base -F qcow2 overlay`; throws with what qemu-img said. */
export async function createOverlay(options: { qemuImg: string; base: string; overlay: string }): Promise<void> {
  // A relative backing path would be read relative to the overlay's directory.
  const base = resolve(options.base);
  try {
    await run(options.qemuImg, ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', options.overlay], { timeout: 30_000 });
  } catch (error) {
    const said = (error as { stderr?: string }).stderr?.trim() || (error as Error).message;
    throw new Error(`qemu-img could not make the VM's disk over ${base}: ${said}`, { cause: error });
  }
}
