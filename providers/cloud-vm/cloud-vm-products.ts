/**
 * What the cloud-VM provider sells and boots: instance types (vCPUs, memory,
 * price) as products, and the image catalogue (a kernel and an initramfs, and
 * for a disk image a base disk that each VM gets a copy-on-write overlay of),
 * referenced by a job's `image`. From configuration; pure.
 */
import { z } from 'zod';

import { computeSupport, idSchema, InvalidInputError, priceUnitSchema, type Product } from '../sdk/index.js';

export const instanceTypeSchema = z.object({
  id: idSchema,
  /** Products of one category share a wallet. @default the id */
  category: idSchema.optional(),
  name: z.string().min(1).optional(),
  description: z.string().default(''),
  vcpus: z.number().int().positive().max(64),
  memoryMiB: z.number().int().min(64),
  pricePerUnit: z.number().int().nonnegative(),
  unitOfPrice: priceUnitSchema.default('CREDITS_PER_HOUR'),
  freeToUse: z.boolean().default(false),
  /** Longest time allocation, in hours; none: VMs may run without a deadline. */
  maxHours: z.number().positive().optional(),
});
export type InstanceTypeConfig = z.input<typeof instanceTypeSchema>;
export type InstanceType = z.infer<typeof instanceTypeSchema>;

export const vmImageSchema = z.object({
  id: idSchema,
  description: z.string().default(''),
  kernel: z.string().min(1),
  initrd: z.string().min(1),
  /** The kernel command line. @default 'console=ttyS0 quiet panic=-1' */
  append: z.string().optional(),
  /**
   * A disk image: its base disk (qcow2, absolute path). Each VM gets an overlay of it of its own,
   * as /dev/vda; the initrd must carry what mounts it (build-images.sh's initrd-disk.cpio.gz does).
   */
  disk: z.string().startsWith('/', 'the base disk must be an absolute path').optional(),
});
export type VmImageConfig = z.input<typeof vmImageSchema>;
export type VmImage = z.infer<typeof vmImageSchema>;

/** Small sizes: under TCG each vCPU is a host thread emulating a CPU. */
export const DEFAULT_INSTANCE_TYPES: InstanceTypeConfig[] = [
  { id: 'vm-tiny', name: 'Tiny VM (1 vCPU, 256 MiB)', vcpus: 1, memoryMiB: 256, pricePerUnit: 10 },
  { id: 'vm-small', name: 'Small VM (2 vCPU, 512 MiB)', vcpus: 2, memoryMiB: 512, pricePerUnit: 20 },
];

/** The images deploy/vm/build-images.sh builds, in its directory. */
export function defaultImages(imageDir: string): VmImageConfig[] {
  return [
    {
      id: 'busybox',
      description: 'Debian kernel with a busybox initramfs: runs the job’s command, or a shell on the console',
      kernel: `${imageDir}/vmlinuz`,
      initrd: `${imageDir}/initrd.cpio.gz`,
    },
    {
      id: 'busybox-disk',
      description: 'The busybox image with a disk of its own at /mnt/disk: a copy-on-write overlay of an ext4 base disk, deleted when the job ends',
      kernel: `${imageDir}/vmlinuz`,
      initrd: `${imageDir}/initrd-disk.cpio.gz`,
      disk: `${imageDir}/disk.qcow2`,
    },
  ];
}

export interface VmProduct {
  product: Product;
  spec: InstanceType;
}

const problems = (error: z.ZodError) => error.issues.map((i) => `${i.path.join('.') || '(list)'}: ${i.message}`).join('; ');

function unique<T extends { id: string }>(items: T[], what: string): T[] {
  const seen = new Set<string>();
  for (const item of items) {
    if (seen.has(item.id)) throw new InvalidInputError(`Invalid cloud-VM ${what} configuration: ${item.id} is listed twice`);
    seen.add(item.id);
  }
  return items;
}

/** The instance types as products; INVALID_INPUT naming every problem of a bad configuration. */
export function buildInstanceTypes(configs: readonly InstanceTypeConfig[]): VmProduct[] {
  const parsed = z.array(instanceTypeSchema).min(1).safeParse(configs);
  if (!parsed.success) throw new InvalidInputError(`Invalid cloud-VM instance type configuration: ${problems(parsed.error)}`);
  return unique(parsed.data, 'instance type').map((spec) => ({
    spec,
    product: {
      id: spec.id,
      category: spec.category ?? spec.id,
      name: spec.name ?? spec.id,
      description: spec.description,
      cpu: spec.vcpus,
      memoryInGigs: Math.round((spec.memoryMiB / 1024) * 1000) / 1000,
      gpu: 0,
      pricePerUnit: spec.pricePerUnit,
      unitOfPrice: spec.unitOfPrice,
      freeToUse: spec.freeToUse,
      priority: 0,
      support: computeSupport({
        backend: 'VIRTUAL_MACHINE',
        // A shell on the VM's serial line, its display as VNC (serial-shell.ts, vnc-session.ts),
        // its web apps through a host forward on its isolated network (guest-ports.ts).
        terminal: true,
        vnc: true,
        web: true,
        timeExtension: true,
        // Nova's suspend: the VM's state saved to disk, restored where it stopped.
        suspension: true,
        maxReplicas: 1,
        maxTimeAllocationMs: spec.maxHours === undefined ? null : Math.round(spec.maxHours * 3_600_000),
      }),
    },
  }));
}

export function buildImages(configs: readonly VmImageConfig[]): VmImage[] {
  const parsed = z.array(vmImageSchema).min(1).safeParse(configs);
  if (!parsed.success) throw new InvalidInputError(`Invalid cloud-VM image configuration: ${problems(parsed.error)}`);
  return unique(parsed.data, 'image');
}
