/**
 * How a VM's end becomes the job's final state and status line: the guest's
 * command exiting is SUCCESS with its exit code (non-zero too: the application
 * failed, not the cloud); a stop the provider asked for is the terminate or the
 * deadline it was for; a panic, a guest that powered off without an exit code,
 * a QEMU that died, or one the watchdog ended are FAILURE saying so. Pure.
 */
import { STATUS, type JobState } from '../sdk/index.js';
import type { VmEnd } from './vm-supervisor.js';

export interface FinalChange {
  state: JobState;
  status: string;
  exitCode?: number;
}

/** Why the provider stopped the VM, if it did. */
export type StopReason = { kind: 'terminate'; reason: string | null } | { kind: 'expire' } | null;

/** The job's final change for a VM that ended (not suspended). */
export function finalChange(end: Exclude<VmEnd, { kind: 'suspended' }>, stop: StopReason, longLived: boolean): FinalChange {
  switch (end.kind) {
    case 'exited':
      return { state: 'SUCCESS', status: STATUS.finished(end.exitCode), exitCode: end.exitCode };
    case 'stopped':
      if (stop?.kind === 'expire') return { state: 'EXPIRED', status: STATUS.expired };
      return { state: 'SUCCESS', status: STATUS.terminated(stop?.kind === 'terminate' ? stop.reason : null) };
    case 'panic':
      return { state: 'FAILURE', status: `The guest kernel panicked: ${end.detail}` };
    case 'powered-off':
      // A cloud instance whose owner shut it down has ended as asked; a command that never reported has not.
      if (stop?.kind === 'expire') return { state: 'EXPIRED', status: STATUS.expired };
      if (stop?.kind === 'terminate') return { state: 'SUCCESS', status: STATUS.terminated(stop.reason) };
      return longLived
        ? { state: 'SUCCESS', status: 'The VM was powered off from inside the guest' }
        : { state: 'FAILURE', status: 'The guest powered off without reporting the command’s exit code' };
    case 'crashed':
      return { state: 'FAILURE', status: `The VM's QEMU ended unexpectedly: ${end.detail}` };
    case 'unresponsive':
      return { state: 'FAILURE', status: `The VM stopped responding and was stopped: ${end.detail}` };
  }
}
