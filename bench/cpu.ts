/**
 * CPU time of a benchmark step, by part, read from /proc (Linux only; elsewhere
 * every figure is 0). A reading before the step and one after it give, per
 * job, where the machine's CPU went: this process (gateway and provider
 * runtime, which the Slurm bench runs together), the Slurm driver's command
 * runners and the commands they ran (sbatch, squeue, ...), commands this
 * process ran itself (bare sbatch, from node or a shell), NATS, Redis, the
 * Slurm daemons and munge, what init reaped (slurmstepd and the jobs' own
 * processes, which Slurm detaches), kernel threads, the Kubernetes test
 * cluster when it runs beside (deploy/kubernetes), and the rest. Processes
 * that are gone are counted by their parent once it has waited for them, so
 * `runnerCommands` holds the Slurm commands that ended within the step.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Parts a reading tells apart, in the order they are reported. */
export const CPU_PARTS = [
  'benchProcess',
  'commandRunners',
  'runnerCommands',
  'benchCommands',
  'nats',
  'redis',
  'slurmctld',
  'slurmd',
  'munged',
  'reapedByInit',
  'kernelThreads',
  'kubernetesCluster',
  'interrupts',
  'other',
] as const;
export type CpuPart = (typeof CPU_PARTS)[number];
/**
 * CPU milliseconds by part; `machine` is every core's busy time, `busyShare` the share of all
 * cores' time that was busy, `otherByCommand` the processes of `other` that could be seen, by name.
 */
export type CpuFigures = Record<CpuPart | 'machine', number> & { busyShare: number; otherByCommand: Record<string, number> };

export interface CpuReading {
  /** CPU ms of each part, as totals since each process started. */
  parts: Record<Exclude<CpuPart, 'other'>, number>;
  /** All cores: busy and total time, ms. */
  machineBusy: number;
  machineTotal: number;
  /** Every other process's own and waited-for children's time, ms, by pid. */
  unclassified: Map<number, { comm: string; used: number }>;
}

/** Clock ticks per second of /proc's times (USER_HZ; 100 on every Linux this runs on). */
const TICK_MS = 10;
const SYSTEM_DAEMONS: Record<string, 'slurmctld' | 'slurmd' | 'munged' | 'kubernetesCluster'> = {
  slurmctld: 'slurmctld',
  slurmd: 'slurmd',
  munged: 'munged',
  etcd: 'kubernetesCluster',
  'kube-apiserver': 'kubernetesCluster',
  // comm is cut at 15 characters.
  'kube-controller': 'kubernetesCluster',
  'kube-scheduler': 'kubernetesCluster',
  kwok: 'kubernetesCluster',
};

interface ProcessTimes {
  pid: number;
  ppid: number;
  comm: string;
  /** Its own user + system time, ms. */
  own: number;
  /** Its waited-for children's, ms. */
  children: number;
}

function readProcess(pid: number): ProcessTimes | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    // Fields from the third (state) on; utime, stime, cutime, cstime are the 14th to 17th.
    const fields = stat.slice(close + 2).split(' ');
    const tick = (index: number) => Number(fields[index] ?? 0) * TICK_MS;
    return { pid, ppid: Number(fields[1]), comm: stat.slice(open + 1, close), own: tick(11) + tick(12), children: tick(13) + tick(14) };
  } catch {
    // Gone meanwhile.
    return null;
  }
}

const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
};

/** A reading of every part now. */
export function readCpu(): CpuReading {
  const parts = Object.fromEntries(CPU_PARTS.filter((p) => p !== 'other').map((p) => [p, 0])) as CpuReading['parts'];
  let machineBusy = 0;
  let machineTotal = 0;
  const unclassified = new Map<number, { comm: string; used: number }>();
  if (process.platform !== 'linux') return { parts, machineBusy, machineTotal, unclassified };
  const usage = process.cpuUsage();
  parts.benchProcess = (usage.user + usage.system) / 1000;
  const processes = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map((name) => readProcess(Number(name)))
    .filter((p): p is ProcessTimes => p !== null);
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const mine = (p: ProcessTimes) => {
    for (let up = byPid.get(p.ppid); up; up = byPid.get(up.ppid)) if (up.pid === process.pid) return true;
    return false;
  };
  for (const p of processes) {
    if (p.pid === process.pid) {
      parts.benchCommands += p.children;
      continue;
    }
    if (p.pid === 1) {
      parts.reapedByInit += p.children;
      continue;
    }
    if (p.pid === 2 || p.ppid === 2) {
      parts.kernelThreads += p.own;
      continue;
    }
    const daemon = SYSTEM_DAEMONS[p.comm];
    if (daemon) parts[daemon] += p.own + p.children;
    else if (mine(p) && p.comm === 'nats-server') parts.nats += p.own + p.children;
    else if (mine(p) && p.comm.startsWith('redis-server')) parts.redis += p.own + p.children;
    else if (mine(p) && cmdline(p.pid).includes('command-runner-process')) {
      parts.commandRunners += p.own;
      parts.runnerCommands += p.children;
    } else unclassified.set(p.pid, { comm: p.comm, used: p.own + p.children });
  }
  // cpu user nice system idle iowait irq softirq steal: steal is time this machine did not get, left out.
  const [, ...fields] = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0] = fields.map((t) => Number(t) * TICK_MS);
  parts.interrupts = irq + softirq;
  machineBusy = user + nice + system + irq + softirq;
  machineTotal = machineBusy + idle + iowait;
  return { parts, machineBusy, machineTotal, unclassified };
}

/** CPU ms per job between two readings; `other` is the machine's busy time no part accounts for. */
export function cpuPerJob(before: CpuReading, after: CpuReading, jobs: number): CpuFigures {
  const figures = { busyShare: 0, machine: 0, other: 0, otherByCommand: {} } as CpuFigures;
  let accounted = 0;
  for (const part of Object.keys(after.parts) as Exclude<CpuPart, 'other'>[]) {
    const used = Math.max(0, after.parts[part] - before.parts[part]);
    accounted += used;
    figures[part] = used / jobs;
  }
  const busy = after.machineBusy - before.machineBusy;
  figures.machine = busy / jobs;
  figures.other = Math.max(0, busy - accounted) / jobs;
  figures.busyShare = after.machineTotal > before.machineTotal ? busy / (after.machineTotal - before.machineTotal) : 0;
  for (const [pid, { comm, used }] of after.unclassified) {
    const since = used - (before.unclassified.get(pid)?.used ?? 0);
    if (since > 0) figures.otherByCommand[comm] = (figures.otherByCommand[comm] ?? 0) + since / jobs;
  }
  return figures;
}

/** The mean of several steps' figures. */
export function meanCpu(steps: readonly CpuFigures[]): CpuFigures {
  const keys = [...CPU_PARTS, 'machine', 'busyShare'] as const;
  const mean = {
    ...Object.fromEntries(keys.map((key) => [key, steps.reduce((sum, s) => sum + s[key], 0) / Math.max(1, steps.length)])),
    otherByCommand: {},
  } as CpuFigures;
  for (const step of steps) {
    for (const [comm, used] of Object.entries(step.otherByCommand))
      mean.otherByCommand[comm] = (mean.otherByCommand[comm] ?? 0) + used / steps.length;
  }
  return mean;
}

/** `benchProcess 4.1, commandRunners 0.6, ...` ms per job, and how busy the machine was. */
export function describeCpu(figures: CpuFigures): string {
  const parts = CPU_PARTS.filter((part) => figures[part] >= 0.05).map((part) => `${part} ${figures[part].toFixed(1)}`);
  const seen = Object.entries(figures.otherByCommand)
    .sort(([, a], [, b]) => b - a)
    .slice(0, 3)
    .map(([comm, used]) => `${comm} ${used.toFixed(1)}`);
  return `${figures.machine.toFixed(1)} ms/job (${parts.join(', ')}); machine ${(figures.busyShare * 100).toFixed(0)}% busy${seen.length ? `; other: ${seen.join(', ')}` : ''}`;
}
