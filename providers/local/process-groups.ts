/**
 * Process groups, as the local provider uses them: every rank leads a group
 * of its own, so that a signal to the group reaches whatever the command
 * started; the start time of a group's leader tells our process from a later
 * one that reused its pid, and the boot id a restart from a reboot.
 */
import { readFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';

/** A signal's number (SIGKILL → 9), 0 for one this system does not know. */
export function signalNumber(signal: NodeJS.Signals): number {
  return osConstants.signals[signal] ?? 0;
}

/** A process's exit code as a shell reports it: its own, or 128 + N when signal N ended it. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? (signal ? 128 + signalNumber(signal) : 1);
}

/** Signal a process group; false when it no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/** Whether a process group exists and this process may signal it. */
export function groupExists(pgid: number): boolean {
  try {
    return signalGroup(pgid, 0);
  } catch {
    // EPERM: the group exists but belongs to someone else, so it is not ours.
    return false;
  }
}

/** The starttime field of /proc/<pid>/stat, or null if there is no such process. */
export async function processStartTicks(pid: number): Promise<string | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may hold spaces and parentheses: count fields after the last ")".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** This boot's id: a record from another boot names processes that are long gone. */
export async function readBootId(): Promise<string | null> {
  try {
    return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  } catch {
    return null;
  }
}

/** The first child of a process (its `children` in /proc), or null when it has none or is gone. */
export async function firstChild(pid: number): Promise<number | null> {
  try {
    const [child] = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim().split(/\s+/);
    return child ? Number(child) : null;
  } catch {
    return null;
  }
}
