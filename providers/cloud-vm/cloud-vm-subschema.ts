/**
 * The cloud-VM provider's own GraphQL fields: a job's VM (its instance type,
 * image, QEMU's status, the vCPUs and memory the guest has, the size of its
 * console log and of its disk overlay) and the host behind a provider (its images, free capacity and
 * VM slots). QEMU is asked over QMP only when a query selects those fields.
 */
import { defineProviderSubschema, type DriverContext, type DriverSubschema } from '../sdk/index.js';

const TYPE_DEFS = /* GraphQL */ `
  "A job's virtual machine."
  type CloudVmJobDetails {
    "The VM's name."
    vmName: String!
    "The instance type (the job's product)."
    instanceType: String!
    "The image it booted."
    image: String!
    "QEMU's run state (running, paused, ...), or saved (suspended to disk), not started, ended."
    qemuStatus: String!
    "What QEMU gives the guest, while QEMU runs."
    guest: CloudVmGuest
    "Bytes of serial console output so far."
    consoleLogBytes: Float!
    "Size of the VM's disk overlay file on the host (qcow2 metadata and what the VM has written over its image's base disk); null without a disk."
    diskBytes: Float
  }

  type CloudVmGuest {
    vcpus: Int!
    memoryBytes: Float!
  }

  "The host behind a cloud-VM provider."
  type CloudVmHost {
    "tcg (emulation) or kvm."
    accel: String!
    "How many VMs may run at once."
    maxVms: Int!
    runningVms: Int!
    freeCpus: Float!
    freeMemoryInGigs: Float!
    images: [CloudVmImage!]!
  }

  type CloudVmImage {
    id: ID!
    description: String!
    "Whether its VMs get a disk (a copy-on-write overlay of the image's base disk, at /mnt/disk in the guest)."
    disk: Boolean!
  }
`;

export interface CloudVmJobView {
  vmName: string;
  instanceType: string;
  image: string;
  qemuStatus: () => Promise<string>;
  guest: () => Promise<{ vcpus: number; memoryBytes: number } | null>;
  consoleLogBytes: () => Promise<number>;
  diskBytes: () => Promise<number | null>;
}

export interface CloudVmHostView {
  accel: string;
  maxVms: number;
  runningVms: number;
  freeCpus: number;
  freeMemoryInGigs: number;
  images: { id: string; description: string; disk: boolean }[];
}

export function cloudVmSubschema(
  lookups: { job: (jobId: string) => CloudVmJobView | null; host: () => CloudVmHostView },
  context: () => DriverContext | null,
): DriverSubschema {
  return defineProviderSubschema(
    {
      kind: 'CLOUD_VM',
      typeDefs: TYPE_DEFS,
      job: {
        name: 'cloudVm',
        type: 'CloudVmJobDetails',
        description: "The job's virtual machine; null for jobs not run by a cloud-VM provider.",
        resolve: lookups.job,
      },
      provider: {
        name: 'cloudVmHost',
        type: 'CloudVmHost',
        description: 'The host behind this cloud-VM provider; null for other providers.',
        resolve: () => lookups.host(),
      },
    },
    context,
  );
}
