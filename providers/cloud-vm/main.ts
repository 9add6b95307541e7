/** The cloud-VM provider process: its settings and driver, run by the SDK's process entry (settings → NATS → runtime, and a clean stop on SIGTERM). */
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';

import { jsonListSetting, positiveIntSetting, runProviderProcess } from '../sdk/index.js';
import { createCloudVmDriver } from './cloud-vm-driver.js';
import { defaultImages, instanceTypeSchema, vmImageSchema } from './cloud-vm-products.js';

export const CLOUD_VM_PROVIDER_VERSION = '0.1.0';

/** The cloud-VM provider's own settings, beside those every provider reads. */
export const cloudVmProviderSettings = {
  /** What deploy/vm/build-images.sh printed: the default images (vmlinuz, initrd.cpio.gz; initrd-disk.cpio.gz and disk.qcow2 for busybox-disk). */
  SWITCHYARD_VM_IMAGE_DIR: z.string().min(1).optional(),
  /** The image catalogue: a JSON array of { id, kernel, initrd, append?, disk?, description? }, or @<file>; replaces the default images. */
  SWITCHYARD_VM_IMAGES: jsonListSetting(vmImageSchema, { files: true }).optional(),
  /** Instance types: a JSON array of { id, vcpus, memoryMiB, pricePerUnit, ... }, or @<file>. */
  SWITCHYARD_VM_INSTANCE_TYPES: jsonListSetting(instanceTypeSchema, { files: true }).optional(),
  /** Records and VM directories; default `$TMPDIR/switchyard-vm-<prefix>-<id>`. */
  SWITCHYARD_VM_STATE_DIR: z.string().min(1).optional(),
  /** VMs at once: under TCG on 2 cores, 1 or 2. */
  SWITCHYARD_VM_MAX_VMS: positiveIntSetting.default(2),
  SWITCHYARD_VM_QEMU: z.string().min(1).default('qemu-system-x86_64'),
  /** Makes the disk images' per-VM overlays. */
  SWITCHYARD_VM_QEMU_IMG: z.string().min(1).default('qemu-img'),
  /** `kvm` where /dev/kvm works; TCG (emulation) everywhere else. */
  SWITCHYARD_VM_ACCEL: z.enum(['tcg', 'kvm']).default('tcg'),
  /** How long a guest may take to power off before QEMU quits. */
  SWITCHYARD_VM_GRACE_MS: positiveIntSetting.default(3_000),
  /** How long a running guest's console may be silent (it beats every 5 s) before the VM counts as hung. */
  SWITCHYARD_VM_WATCHDOG_MS: positiveIntSetting.default(30_000),
};

/** Run the cloud-VM provider as a process; it refuses to start without QEMU or an image. */
export async function runCloudVmProvider(id: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await runProviderProcess({
    id,
    kind: 'CLOUD_VM',
    version: CLOUD_VM_PROVIDER_VERSION,
    settings: cloudVmProviderSettings,
    env,
    createDriver: (settings) => {
      const images =
        settings.SWITCHYARD_VM_IMAGES ?? (settings.SWITCHYARD_VM_IMAGE_DIR ? defaultImages(resolve(settings.SWITCHYARD_VM_IMAGE_DIR)) : null);
      if (!images)
        throw new Error('SWITCHYARD_VM_IMAGE_DIR or SWITCHYARD_VM_IMAGES must be set (bash deploy/vm/build-images.sh prints the image directory)');
      return createCloudVmDriver({
        stateDir: settings.SWITCHYARD_VM_STATE_DIR ?? join(tmpdir(), `switchyard-vm-${settings.SWITCHYARD_PREFIX}-${id}`),
        images,
        instanceTypes: settings.SWITCHYARD_VM_INSTANCE_TYPES,
        maxVms: settings.SWITCHYARD_VM_MAX_VMS,
        qemu: settings.SWITCHYARD_VM_QEMU,
        qemuImg: settings.SWITCHYARD_VM_QEMU_IMG,
        accel: settings.SWITCHYARD_VM_ACCEL,
        graceMs: settings.SWITCHYARD_VM_GRACE_MS,
        stallMs: settings.SWITCHYARD_VM_WATCHDOG_MS,
      });
    },
    describe: (settings) => ({ accel: settings.SWITCHYARD_VM_ACCEL, maxVms: settings.SWITCHYARD_VM_MAX_VMS }),
  });
}
