/**
 * Control groups for the local provider's ranks: one cgroup per rank that
 * holds its CPU quota, memory limit and process count limit, on cgroup v2
 * (the unified hierarchy) or cgroup v1 (one hierarchy per controller),
 * whichever this host has writable with the memory, cpu and pids
 * controllers. Rank cgroups are made under the provider's own cgroup (or a
 * configured parent), so the limits of whatever runs the provider (a
 * container, a systemd unit) still hold around them.
 *
 * The cgroup of a rank is given by its directories, which the driver records:
 * reading its OOM count and removing it work from those alone, after a
 * provider restart too.
 */
import { randomUUID } from 'node:crypto';
import { access, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The controllers a rank's limits need. */
const CONTROLLERS = ['memory', 'cpu', 'pids'] as const;
type Controller = (typeof CONTROLLERS)[number];

/** The CFS period quotas are counted in (the kernel's default). */
const CPU_PERIOD_US = 100_000;

/** What one rank may use: the product's size and the provider's process limit. */
export interface RankLimits {
  /** CPUs (fractions allowed); 0 for no quota. */
  cpu: number;
  /** Bytes of memory; 0 for no limit. */
  memoryBytes: number;
  /** Processes and threads at once; 0 for no limit. */
  pids: number;
}

/** A rank's cgroup once made. */
export interface RankCgroup {
  /** Its directories: one per controller hierarchy on v1, one on v2. Recorded, to find it again. */
  dirs: string[];
  /** The `cgroup.procs` files the rank's first process writes its pid into before anything runs. */
  procsFiles: string[];
  /** What the job sees at /sys/fs/cgroup (its own cgroup, read-only), as bind mounts source → target. */
  mounts: Array<{ source: string; target: string }>;
}

/** Rank cgroups on this host. */
export interface Cgroups {
  readonly version: 'v1' | 'v2';
  /** Where rank cgroups are made (one directory per hierarchy), for logs. */
  readonly parents: string[];
  /** Make a rank's cgroup, named `name`, with its limits set. */
  create(name: string, limits: RankLimits): Promise<RankCgroup>;
}

export interface CgroupDetectionOptions {
  /** A cgroup path (e.g. `/switchyard`) to make rank cgroups under, in every hierarchy. @default the provider's own cgroup */
  parent?: string;
}

/** Which cgroups this host offers: a manager, or null and why not. */
export type CgroupDetection = { cgroups: Cgroups; reason: null } | { cgroups: null; reason: string };

interface MountEntry {
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

/** mountinfo escapes spaces, tabs, newlines and backslashes as octal. */
function unescapeMount(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

async function readMounts(): Promise<MountEntry[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const mounts: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 6) continue;
    // Before the dash: id, parent, major:minor, root, mount point, ...; after it: type, source, super options.
    const [, , , root, mountPoint] = fields;
    const fsType = fields[dash + 1];
    const superOptions = fields[dash + 3];
    if (root === undefined || mountPoint === undefined || fsType === undefined || superOptions === undefined) continue;
    mounts.push({
      root: unescapeMount(root),
      mountPoint: unescapeMount(mountPoint),
      fsType,
      superOptions: superOptions.split(','),
    });
  }
  return mounts;
}

/** /proc/self/cgroup: hierarchy controllers ("" for v2, "cpu,cpuacct" for a v1 one) → this process's cgroup path. */
async function readOwnCgroups(): Promise<Map<string, string>> {
  const text = await readFile('/proc/self/cgroup', 'utf8').catch(() => '');
  const own = new Map<string, string>();
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    own.set(line.slice(first + 1, second), line.slice(second + 1));
  }
  return own;
}

/** The directory of cgroup `path` under a mount of its hierarchy, or null when the mount does not show it. */
function dirOf(mount: MountEntry, path: string): string | null {
  if (mount.root === '/') return join(mount.mountPoint, path);
  if (path === mount.root || path.startsWith(`${mount.root}/`)) return join(mount.mountPoint, path.slice(mount.root.length));
  return null;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

const errorCode = (error: unknown) => (error as NodeJS.ErrnoException).code;

/** Can rank cgroups be made here? A probe directory is made and removed again. */
async function probe(dir: string): Promise<string | null> {
  const name = join(dir, `sy-probe-${randomUUID()}`);
  try {
    await mkdir(name);
    await rmdir(name);
    return null;
  } catch (error) {
    return `${dir} is not writable (${errorCode(error) ?? (error as Error).message})`;
  }
}

function quotaUs(cpu: number): number {
  // The kernel refuses quotas under 1 ms.
  return Math.max(1_000, Math.round(cpu * CPU_PERIOD_US));
}

async function detectV2(mounts: MountEntry[], own: Map<string, string>, options: CgroupDetectionOptions): Promise<CgroupDetection> {
  const mount = mounts.find((m) => m.fsType === 'cgroup2');
  const ownPath = own.get('');
  if (!mount || ownPath === undefined) return { cgroups: null, reason: 'no cgroup v2 hierarchy' };
  const path = options.parent ?? ownPath;
  const parent = dirOf(mount, path);
  if (!parent) return { cgroups: null, reason: `cgroup v2: ${path} is outside the mounted hierarchy` };
  if (options.parent !== undefined) await mkdir(parent, { recursive: true }).catch(() => undefined);
  const available = (await readFile(join(parent, 'cgroup.controllers'), 'utf8').catch(() => '')).trim().split(/\s+/);
  const missing = CONTROLLERS.filter((c) => !available.includes(c));
  if (missing.length > 0) return { cgroups: null, reason: `cgroup v2: ${parent} lacks the ${missing.join(', ')} controller(s)` };

  const enable = () => writeFile(join(parent, 'cgroup.subtree_control'), CONTROLLERS.map((c) => `+${c}`).join(' '));
  try {
    await enable();
  } catch (error) {
    // No internal processes: a cgroup that holds processes cannot hand controllers to children.
    // When those processes are just this provider, it moves into a leaf of its own (as systemd's Delegate= expects).
    const procs = (await readFile(join(parent, 'cgroup.procs'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
    if (errorCode(error) !== 'EBUSY' || path !== ownPath || procs.some((pid) => Number(pid) !== process.pid)) {
      return {
        cgroups: null,
        reason: `cgroup v2: cannot enable ${CONTROLLERS.join(', ')} for the children of ${parent} (${errorCode(error) ?? (error as Error).message}); give the provider a delegated cgroup of its own or set a cgroup parent`,
      };
    }
    try {
      const leaf = join(parent, 'switchyard-provider');
      await mkdir(leaf, { recursive: true });
      await writeFile(join(leaf, 'cgroup.procs'), String(process.pid));
      await enable();
    } catch (moved) {
      return { cgroups: null, reason: `cgroup v2: could not move the provider out of ${parent} (${errorCode(moved) ?? (moved as Error).message})` };
    }
  }
  const unwritable = await probe(parent);
  if (unwritable) return { cgroups: null, reason: `cgroup v2: ${unwritable}` };

  return {
    reason: null,
    cgroups: {
      version: 'v2',
      parents: [parent],
      async create(name, limits) {
        const dir = join(parent, name);
        await mkdir(dir, { recursive: true });
        if (limits.memoryBytes > 0) {
          await writeFile(join(dir, 'memory.max'), String(Math.floor(limits.memoryBytes)));
          // The product's memory is RAM: no swapping past it.
          if (await exists(join(dir, 'memory.swap.max'))) await writeFile(join(dir, 'memory.swap.max'), '0');
          // An OOM kill ends the whole rank, not one process of it.
          await writeFile(join(dir, 'memory.oom.group'), '1').catch(() => undefined);
        }
        if (limits.cpu > 0) await writeFile(join(dir, 'cpu.max'), `${quotaUs(limits.cpu)} ${CPU_PERIOD_US}`);
        if (limits.pids > 0) await writeFile(join(dir, 'pids.max'), String(limits.pids));
        return { dirs: [dir], procsFiles: [join(dir, 'cgroup.procs')], mounts: [{ source: dir, target: '/sys/fs/cgroup' }] };
      },
    },
  };
}

async function detectV1(mounts: MountEntry[], own: Map<string, string>, options: CgroupDetectionOptions): Promise<CgroupDetection> {
  const parents = new Map<Controller, string>();
  for (const controller of CONTROLLERS) {
    const mount = mounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes(controller));
    if (!mount) return { cgroups: null, reason: `cgroup v1: no ${controller} hierarchy is mounted` };
    const key = [...own.keys()].find((controllers) => controllers.split(',').includes(controller));
    const path = options.parent ?? (key !== undefined ? own.get(key)! : '/');
    const dir = dirOf(mount, path);
    if (!dir) return { cgroups: null, reason: `cgroup v1: ${path} is outside the mounted ${controller} hierarchy` };
    if (options.parent !== undefined) await mkdir(dir, { recursive: true }).catch(() => undefined);
    const unwritable = await probe(dir);
    if (unwritable) return { cgroups: null, reason: `cgroup v1: ${unwritable}` };
    parents.set(controller, dir);
  }
  return {
    reason: null,
    cgroups: {
      version: 'v1',
      parents: [...parents.values()],
      async create(name, limits) {
        const dirs: Record<Controller, string> = {
          memory: join(parents.get('memory')!, name),
          cpu: join(parents.get('cpu')!, name),
          pids: join(parents.get('pids')!, name),
        };
        for (const dir of Object.values(dirs)) await mkdir(dir, { recursive: true });
        if (limits.memoryBytes > 0) {
          const bytes = String(Math.floor(limits.memoryBytes));
          await writeFile(join(dirs.memory, 'memory.limit_in_bytes'), bytes);
          // With swap accounting, memory + swap gets the same limit: no swapping past it.
          if (await exists(join(dirs.memory, 'memory.memsw.limit_in_bytes'))) {
            await writeFile(join(dirs.memory, 'memory.memsw.limit_in_bytes'), bytes).catch(() => undefined);
          }
        }
        if (limits.cpu > 0) {
          await writeFile(join(dirs.cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
          await writeFile(join(dirs.cpu, 'cpu.cfs_quota_us'), String(quotaUs(limits.cpu)));
        }
        if (limits.pids > 0) await writeFile(join(dirs.pids, 'pids.max'), String(limits.pids));
        return {
          dirs: Object.values(dirs),
          procsFiles: Object.values(dirs).map((dir) => join(dir, 'cgroup.procs')),
          mounts: CONTROLLERS.map((controller) => ({ source: dirs[controller], target: `/sys/fs/cgroup/${controller}` })),
        };
      },
    },
  };
}

/**
 * Find the cgroups rank limits can use: v2 when the unified hierarchy has the
 * memory, cpu and pids controllers, else v1 when each has a writable
 * hierarchy; otherwise null, with the reason (the driver then uses rlimits).
 */
export async function detectCgroups(options: CgroupDetectionOptions = {}): Promise<CgroupDetection> {
  const [mounts, own] = await Promise.all([readMounts(), readOwnCgroups()]);
  const v2 = await detectV2(mounts, own, options);
  if (v2.cgroups) return v2;
  const v1 = await detectV1(mounts, own, options);
  if (v1.cgroups) return v1;
  return { cgroups: null, reason: `${v2.reason}; ${v1.reason}` };
}

/** The value of `key` in a flat-keyed cgroup file ("oom_kill 3"), or null. */
function flatKey(text: string, key: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(`${key} `));
  return line ? Number(line.slice(key.length + 1)) : null;
}

/**
 * Did the kernel kill a process of this rank for exceeding its memory? Read
 * from memory.events (v2) or memory.oom_control (v1); false once the cgroup
 * is gone.
 */
export async function cgroupOutOfMemory(dirs: readonly string[]): Promise<boolean> {
  for (const dir of dirs) {
    const events = await readFile(join(dir, 'memory.events'), 'utf8').catch(() => null);
    if (events !== null && (flatKey(events, 'oom_kill') ?? 0) > 0) return true;
    const control = await readFile(join(dir, 'memory.oom_control'), 'utf8').catch(() => null);
    if (control !== null && ((flatKey(control, 'oom_kill') ?? 0) > 0 || flatKey(control, 'under_oom') === 1)) return true;
  }
  return false;
}

/**
 * Remove a rank's cgroup: whatever is still in it is killed (a leftover of a
 * rank that ended, or of one orphaned by a restart), then its directories go,
 * retried while the killed processes exit. Gone already is fine.
 */
export async function removeCgroup(dirs: readonly string[], timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const dir of dirs) {
    for (;;) {
      const procs = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
      for (const pid of procs.split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // Exited meanwhile.
        }
      }
      try {
        await rmdir(dir);
        break;
      } catch (error) {
        if (errorCode(error) === 'ENOENT') break;
        if (errorCode(error) !== 'EBUSY' || Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
}

/** Remove a rank's cgroup, handing a failure to `onError` rather than throwing: the next start tries again. */
export async function dropCgroup(dirs: readonly string[], onError: (error: unknown) => void): Promise<void> {
  if (dirs.length === 0) return;
  try {
    await removeCgroup(dirs);
  } catch (error) {
    onError(error);
  }
}
