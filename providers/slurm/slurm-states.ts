/**
 * What Slurm's words mean in the contract's: its job states (PENDING,
 * RUNNING, COMPLETED, TIMEOUT, ...) as JobStates, its pending reasons as
 * status lines, its exit codes and run times as a job's exit code and usage.
 * Pure: the driver applies what these functions decide.
 */
import { isFinalState, STATUS, type DriverJobChange } from '../sdk/index.js';
import { parseSlurmExitCode, switchyardExitCode, type SacctJob, type SqueueJob } from './slurm-cli.js';
import type { SlurmJobRecord, SlurmView } from './slurm-records.js';

/** Slurm states that end a job. */
export const FINAL_SLURM_STATES: ReadonlySet<string> = new Set([
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'DEADLINE',
  'NODE_FAIL',
  'BOOT_FAIL',
  'OUT_OF_MEMORY',
  'PREEMPTED',
]);
/** Slurm states in which the job waits. */
export const WAITING_SLURM_STATES: ReadonlySet<string> = new Set([
  'PENDING',
  'CONFIGURING',
  'REQUEUED',
  'REQUEUE_HOLD',
  'REQUEUE_FED',
  'RESV_DEL_HOLD',
  'SPECIAL_EXIT',
]);
/** Slurm states that change nothing for us (the job keeps running or ending). */
const PASSING_SLURM_STATES: ReadonlySet<string> = new Set(['COMPLETING', 'RESIZING', 'SIGNALING', 'STAGE_OUT', 'POWER_UP_NODE', 'UPDATE_DB']);

/** What Slurm's most common pending reasons mean, for the status line. */
const PENDING_REASONS: Record<string, string> = {
  Resources: 'the resources it needs are in use',
  Priority: 'jobs with a higher priority are ahead of it',
  Dependency: 'it waits for the jobs it depends on',
  BeginTime: 'its start time has not come',
  JobHeldUser: 'it is held by its user',
  JobHeldAdmin: 'it is held by an administrator',
  PartitionDown: 'its partition is down',
  PartitionInactive: 'its partition is inactive',
  PartitionTimeLimit: 'its time limit exceeds the partition’s',
  ReqNodeNotAvail: 'the nodes it needs are not available',
  NodeDown: 'a node it needs is down',
  Reservation: 'it waits for its reservation',
  QOSMaxCpuPerUserLimit: 'its user has reached the QOS CPU limit',
  AssocGrpCpuLimit: 'its account has reached its CPU limit',
};

const FAILURE_STATES: Record<string, string> = {
  NODE_FAIL: 'a node it ran on failed',
  BOOT_FAIL: 'a node failed to boot',
  OUT_OF_MEMORY: 'the job ran out of memory',
  PREEMPTED: 'the job was preempted',
  DEADLINE: 'the job reached its deadline',
};

export const STATUS_CANCELLED_OUTSIDE = 'Cancelled outside Switchyard';

/** The status of a waiting array task someone else cancelled (see vanishedTaskEnd). */
export const cancelledWhileWaiting = (slurmJobId: string | null) =>
  `${STATUS_CANCELLED_OUTSIDE} while it waited in the Slurm queue (Slurm took ${slurmJobId ?? 'it'} out of its job array before it started)`;

/** "Waiting in the Slurm queue (Resources: the resources it needs are in use)" */
export function pendingStatus(reason: string): string {
  const meaning = PENDING_REASONS[reason];
  return `Waiting in the Slurm queue (${reason}${meaning ? `: ${meaning}` : ''})`;
}

/** Usage in started price units times replicas, never less than reported before; nothing new for a job that never started. */
export function usageUnitsOf(
  record: Pick<SlurmJobRecord, 'usageUnits' | 'unitSeconds' | 'replicas'>,
  elapsedSeconds: number | null,
  started: boolean,
): number {
  if (!started) return record.usageUnits;
  const units = Math.max(1, Math.ceil((elapsedSeconds ?? 0) / record.unitSeconds)) * record.replicas;
  return Math.max(units, record.usageUnits);
}

/** When the job must end now: Slurm's end time, or start + limit. */
export function deadlineOf(row: SqueueJob): number | null {
  if (row.endTime !== null) return row.endTime;
  if (row.startTime !== null && row.timeLimitSeconds !== null && Number.isFinite(row.timeLimitSeconds))
    return row.startTime + row.timeLimitSeconds * 1000;
  return null;
}

/** Slurm's view of a job from its squeue row. */
export function viewOf(row: SqueueJob): SlurmView {
  return {
    state: row.state,
    reason: row.reason === 'None' || row.reason === '' ? null : row.reason,
    partition: row.partition,
    nodeList: row.nodeList,
    elapsedSeconds: row.elapsedSeconds,
    exitCode: FINAL_SLURM_STATES.has(row.state) ? row.exitCode : null,
    timeLimitSeconds: row.timeLimitSeconds,
  };
}

/** What a live squeue row means for a job whose record (its view already updated from the row) it describes. */
export type RowMeaning =
  /** Slurm says the job ended: its final change needs the exit code from sacct or scontrol. */
  | { kind: 'ended' }
  /** The record is final already: nothing changes. */
  | { kind: 'settled' }
  /** A state we understand; `change` is what it changes, if anything. */
  | { kind: 'live'; change: DriverJobChange | null }
  /** A state we do not understand. */
  | { kind: 'unknown'; problem: string };

/**
 * What Slurm's row says about a job: `record` as it is (with its view from this row),
 * `previousReason` the pending reason seen before, `now` the clock's time.
 */
export function meaningOfRow(record: SlurmJobRecord, previousReason: string | null, row: SqueueJob, now: number): RowMeaning {
  if (FINAL_SLURM_STATES.has(row.state)) return { kind: 'ended' };
  if (isFinalState(record.state)) return { kind: 'settled' };
  const started = row.startTime !== null && row.startTime <= now + 1_000;

  if (WAITING_SLURM_STATES.has(row.state)) {
    const reason = record.slurm.reason;
    if (record.state !== 'IN_QUEUE' && record.state !== 'CANCELING') {
      // Requeued or held after it ran.
      return {
        kind: 'live',
        change: { state: 'IN_QUEUE', status: reason ? pendingStatus(reason) : `Slurm put the job back in its queue (${row.state})` },
      };
    }
    if (record.state === 'IN_QUEUE' && reason !== null && reason !== previousReason)
      return { kind: 'live', change: { status: pendingStatus(reason) } };
    return { kind: 'live', change: null };
  }
  if (row.state === 'RUNNING' || PASSING_SLURM_STATES.has(row.state)) {
    const usageUnits = usageUnitsOf(record, row.elapsedSeconds, started || row.state === 'RUNNING');
    const expiresAt = deadlineOf(row);
    if (row.state === 'RUNNING' && (record.state === 'IN_QUEUE' || record.state === 'SUSPENDED')) {
      const resumed = record.state === 'SUSPENDED';
      return {
        kind: 'live',
        change: {
          state: 'RUNNING',
          status: resumed ? STATUS.resumed : `Running on ${row.nodeList ?? 'its nodes'} (Slurm job ${row.slurmJobId})`,
          ...(record.startedAt === null && row.startTime !== null ? { startedAt: row.startTime } : {}),
          ...(expiresAt !== null ? { expiresAt } : {}),
          usageUnits,
        },
      };
    }
    const update: DriverJobChange = {};
    // Seen running from its output alone (launchedChange): Slurm's row names its nodes now.
    if (row.state === 'RUNNING' && record.state === 'RUNNING' && record.status === launchedStatus(record.slurmJobId))
      update.status = `Running on ${row.nodeList ?? 'its nodes'} (Slurm job ${row.slurmJobId})`;
    if (usageUnits !== record.usageUnits) update.usageUnits = usageUnits;
    // Slurm moved the deadline (a resume, or a limit changed outside Switchyard).
    if (row.state === 'RUNNING' && expiresAt !== null && (record.expiresAt === null || Math.abs(expiresAt - record.expiresAt) >= 2_000))
      update.expiresAt = expiresAt;
    return { kind: 'live', change: Object.keys(update).length > 0 ? update : null };
  }
  if (row.state === 'SUSPENDED' || row.state === 'STOPPED') {
    if (record.state === 'RUNNING' || record.state === 'IN_QUEUE') {
      return { kind: 'live', change: { state: 'SUSPENDED', status: row.state === 'STOPPED' ? 'Stopped by Slurm' : STATUS.suspended } };
    }
    return { kind: 'live', change: null };
  }
  return { kind: 'unknown', problem: `unknown Slurm state ${row.state}` };
}

/** The status of a job seen running from its output alone, until Slurm's row names its nodes. */
export const launchedStatus = (slurmJobId: string | null) => `Running (Slurm launched job ${slurmJobId ?? '?'})`;

/**
 * A waiting job that Slurm has just launched: the batch step created its first output file in the
 * job's directory (slurmstepd opens `--output` as it starts the batch script, on the node Slurm
 * allocated, after slurmctld marked the job RUNNING). RUNNING from the second that was seen in (`at`),
 * with the deadline from the time limit asked for; nodes and usage come from Slurm's row at the
 * next look. Null when the job is not waiting, or when it is an array task (whose own numeric id,
 * which srun and sacct take, only squeue tells).
 */
export function launchedChange(record: SlurmJobRecord, at: number): DriverJobChange | null {
  if (record.state !== 'IN_QUEUE' || record.array !== null || record.slurmJobId === null) return null;
  // In whole seconds, as Slurm keeps its start (and its end, start + limit): the row's later agree,
  // or are a second earlier when Slurm started the job in the second before its file appeared.
  const start = record.startedAt ?? Math.floor(at / 1000) * 1000;
  const limit = record.slurm.timeLimitSeconds;
  return {
    state: 'RUNNING',
    status: launchedStatus(record.slurmJobId),
    ...(record.startedAt === null ? { startedAt: start } : {}),
    ...(limit !== null && Number.isFinite(limit) ? { expiresAt: start + limit * 1000 } : {}),
  };
}

/** The final change for a job Slurm reports ended in `state`, with its pending `reason` and exit code as Slurm prints it ("3:0"). */
export function finalChange(
  record: Pick<SlurmJobRecord, 'ending' | 'endingReason'>,
  state: string,
  reason: string | null,
  exitText: string | null,
): DriverJobChange {
  const code = exitText ? parseSlurmExitCode(exitText) : null;
  const exitCode = code ? switchyardExitCode(code) : undefined;
  const withExit = exitCode !== undefined ? { exitCode } : {};
  switch (state) {
    case 'COMPLETED':
      return { state: 'SUCCESS', status: STATUS.finished(exitCode ?? 0), exitCode: exitCode ?? 0 };
    case 'FAILED': {
      // A non-zero exit is the application's; Slurm failing to run it is not.
      const application = reason === null || reason === 'NonZeroExitCode' || reason.startsWith('RaisedSignal');
      if (application && exitCode !== undefined && exitCode !== 0) return { state: 'SUCCESS', status: STATUS.finished(exitCode), exitCode };
      return {
        state: 'FAILURE',
        status: `Slurm could not run the job (${reason ?? 'FAILED'}${exitText ? `, exit code ${exitText}` : ''})`,
        ...withExit,
      };
    }
    case 'CANCELLED':
      if (record.ending === 'TERMINATE') return { state: 'SUCCESS', status: STATUS.terminated(record.endingReason), ...withExit };
      return { state: 'FAILURE', status: STATUS_CANCELLED_OUTSIDE, ...withExit };
    case 'TIMEOUT':
      return { state: 'EXPIRED', status: STATUS.expired, ...withExit };
    case 'DEADLINE':
      return { state: 'EXPIRED', status: `${STATUS.expired} (${FAILURE_STATES.DEADLINE})`, ...withExit };
    default: {
      const meaning = FAILURE_STATES[state];
      return { state: 'FAILURE', status: `Slurm ended the job: ${meaning ?? 'it failed'} (${state}${reason ? `, ${reason}` : ''})`, ...withExit };
    }
  }
}

/**
 * The end of a job Slurm reports ended: its last view and its final change, with its exit code,
 * start and usage. From the squeue row while Slurm still lists the job, sacct's record of it,
 * and the exit code `scontrol show job` gave (for a job sacct does not know).
 */
export function endOf(
  record: SlurmJobRecord,
  row: SqueueJob | null,
  accounted: SacctJob | null,
  shownExitCode: string | null,
): { view: SlurmView; change: DriverJobChange } {
  const exitText = accounted?.exitCode ?? shownExitCode ?? row?.exitCode ?? null;
  const state = row?.state ?? accounted?.state ?? 'FAILED';
  const reason = row ? record.slurm.reason : null;
  const startTime = row?.startTime ?? accounted?.startTime ?? null;
  // squeue's run time leaves suspended time out; sacct's Elapsed does not.
  const elapsedSeconds = row?.elapsedSeconds ?? accounted?.elapsedSeconds ?? null;
  const view: SlurmView = {
    ...record.slurm,
    state,
    reason,
    partition: row?.partition ?? accounted?.partition ?? record.slurm.partition,
    nodeList: row?.nodeList ?? accounted?.nodeList ?? record.slurm.nodeList,
    elapsedSeconds,
    exitCode: exitText,
  };
  const update = finalChange(record, state, reason, exitText);
  // A job cancelled while it waited has a start time in Slurm but never ran: it has no nodes.
  const nodes = view.nodeList;
  const started = record.startedAt !== null || (elapsedSeconds ?? 0) > 0 || (startTime !== null && nodes !== null && nodes !== 'None assigned');
  if (record.startedAt === null && started && startTime !== null) update.startedAt = startTime;
  // The last change always carries the usage total.
  update.usageUnits = usageUnitsOf(record, elapsedSeconds, started);
  return { view, change: update };
}

/**
 * Whether the job is an array task that never started, as far as the record knows: it has no
 * numeric id of its own yet (a task gets one as it starts) and no start.
 */
export function unstartedTask(record: Pick<SlurmJobRecord, 'array' | 'taskJobId' | 'startedAt' | 'state'>): boolean {
  return (
    record.array !== null && record.taskJobId === null && record.startedAt === null && (record.state === 'IN_QUEUE' || record.state === 'CANCELING')
  );
}

/**
 * The end of an array task that squeue no longer lists and that never started (unstartedTask, and no
 * output file in its directory): Slurm takes a waiting task cancelled alone out of its array and keeps
 * no trace of it (no row in squeue, sacct or scontrol; Slurm 22.05), so nothing else will tell its end.
 * Cancelled by us (`ending`), it ends as any job we terminated; otherwise someone else cancelled it.
 * It never ran: it is charged nothing more.
 */
export function vanishedTaskEnd(record: SlurmJobRecord): { view: SlurmView; change: DriverJobChange } {
  const change: DriverJobChange =
    record.ending === 'TERMINATE'
      ? finalChange(record, 'CANCELLED', null, null)
      : { state: 'FAILURE', status: cancelledWhileWaiting(record.slurmJobId) };
  return {
    view: { ...record.slurm, state: 'CANCELLED', reason: null, elapsedSeconds: null, exitCode: null },
    change: { ...change, usageUnits: record.usageUnits },
  };
}
