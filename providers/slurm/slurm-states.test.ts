/**
 * What Slurm's states, pending reasons and exit codes mean for a job, on rows
 * as squeue and sacct give them. No cluster: slurm-driver.test.ts runs the
 * real one.
 */
import { describe, expect, it } from 'vitest';

import type { SacctJob, SqueueJob } from './slurm-cli.js';
import type { SlurmJobRecord } from './slurm-records.js';
import {
  deadlineOf,
  endOf,
  finalChange,
  launchedChange,
  launchedStatus,
  meaningOfRow,
  pendingStatus,
  unstartedTask,
  usageUnitsOf,
  vanishedTaskEnd,
  viewOf,
} from './slurm-states.js';
import { pendingRecord } from './test-records.js';

const NOW = 1_000_000_000_000;

function row(overrides: Partial<SqueueJob> = {}): SqueueJob {
  return {
    slurmJobId: '42',
    rawJobId: '42',
    name: 'sy-job-1',
    state: 'PENDING',
    reason: 'None',
    elapsedSeconds: 0,
    timeLimitSeconds: 3600,
    startTime: null,
    endTime: null,
    partition: 'debug',
    nodeList: null,
    exitCode: '0:0',
    tasks: 1,
    cpus: 1,
    command: '/work/jobs/job-1/job.sh',
    comment: 'job-1',
    ...overrides,
  };
}

/** The meaning of a row for a record, the record's view taken from the row first, as the poller does. */
function meaning(rec: SlurmJobRecord, r: SqueueJob, previousReason = rec.slurm.reason) {
  rec.slurm = viewOf(r);
  return meaningOfRow(rec, previousReason, r, NOW);
}

describe('a waiting job', () => {
  it('says why Slurm keeps it waiting, in words, once per reason', () => {
    const rec = pendingRecord();
    expect(meaning(rec, row({ reason: 'Resources' }), null)).toEqual({
      kind: 'live',
      change: { status: 'Waiting in the Slurm queue (Resources: the resources it needs are in use)' },
    });
    expect(meaning(rec, row({ reason: 'Resources' }))).toEqual({ kind: 'live', change: null });
    expect(meaning(rec, row({ reason: 'SomethingNew' }), 'Resources')).toEqual({
      kind: 'live',
      change: { status: 'Waiting in the Slurm queue (SomethingNew)' },
    });
  });

  it('goes back IN_QUEUE when Slurm requeues it after it ran', () => {
    expect(meaning(pendingRecord({ state: 'RUNNING' }), row({ state: 'REQUEUED', reason: 'None' }))).toEqual({
      kind: 'live',
      change: { state: 'IN_QUEUE', status: 'Slurm put the job back in its queue (REQUEUED)' },
    });
    expect(pendingStatus('Priority')).toBe('Waiting in the Slurm queue (Priority: jobs with a higher priority are ahead of it)');
  });
});

describe('a job that runs', () => {
  it('becomes RUNNING with Slurm’s start, deadline, nodes and one started price unit', () => {
    const start = NOW - 10_000;
    const result = meaning(pendingRecord(), row({ state: 'RUNNING', startTime: start, nodeList: 'sy1', elapsedSeconds: 10 }));
    expect(result).toEqual({
      kind: 'live',
      change: { state: 'RUNNING', status: 'Running on sy1 (Slurm job 42)', startedAt: start, expiresAt: start + 3600_000, usageUnits: 1 },
    });
  });

  it('is RUNNING from the moment Slurm launched it (its first output), with the deadline its limit gives; its nodes and usage from the next row', () => {
    // Whole seconds, as Slurm keeps its start and end.
    const at = NOW - 200;
    const second = Math.floor(at / 1000) * 1000;
    const launched = launchedChange(pendingRecord(), at);
    expect(launched).toEqual({ state: 'RUNNING', status: 'Running (Slurm launched job 42)', startedAt: second, expiresAt: second + 3600_000 });
    // No limit known, or an unlimited one: no deadline.
    const unlimited = pendingRecord({ slurm: { ...pendingRecord().slurm, timeLimitSeconds: Number.POSITIVE_INFINITY } });
    expect(launchedChange(unlimited, at)).not.toHaveProperty('expiresAt');
    // Only a waiting job launches; an array task waits for squeue, which alone gives its own numeric id.
    expect(launchedChange(pendingRecord({ state: 'RUNNING', startedAt: at }), at)).toBeNull();
    expect(launchedChange(pendingRecord({ state: 'CANCELING' }), at)).toBeNull();
    expect(launchedChange(pendingRecord({ slurmJobId: '900_1', array: { name: 'sya-x', task: 1 } }), at)).toBeNull();

    // The next row: its nodes once, a started unit, and Slurm's deadline only if it differs by 2 s or more (its start is whole seconds).
    const running = pendingRecord({ state: 'RUNNING', status: launchedStatus('42'), startedAt: second, expiresAt: second + 3600_000 });
    const slurmStart = second - 1_000;
    expect(meaning(running, row({ state: 'RUNNING', startTime: slurmStart, nodeList: 'sy1', elapsedSeconds: 1 }))).toEqual({
      kind: 'live',
      change: { status: 'Running on sy1 (Slurm job 42)', usageUnits: 1 },
    });
    const told = { ...running, status: 'Running on sy1 (Slurm job 42)', usageUnits: 1 };
    expect(meaning(told, row({ state: 'RUNNING', startTime: slurmStart, nodeList: 'sy1', elapsedSeconds: 2 }))).toEqual({
      kind: 'live',
      change: null,
    });
    // It ended before the next look: the end as for any job.
    expect(meaning(running, row({ state: 'COMPLETED', exitCode: '0:0' }))).toEqual({ kind: 'ended' });
  });

  it('reports only what changed while it runs: usage past a unit, a deadline Slurm moved by 2 s or more', () => {
    const start = NOW - 7200_000;
    const running = pendingRecord({ state: 'RUNNING', startedAt: start, expiresAt: start + 3 * 3600_000, usageUnits: 2 });
    expect(meaning(running, row({ state: 'RUNNING', startTime: start, endTime: start + 3 * 3600_000 + 1_000, elapsedSeconds: 7200 }))).toEqual({
      kind: 'live',
      change: null,
    });
    expect(meaning(running, row({ state: 'RUNNING', startTime: start, endTime: start + 4 * 3600_000, elapsedSeconds: 7201 }))).toEqual({
      kind: 'live',
      change: { usageUnits: 3, expiresAt: start + 4 * 3600_000 },
    });
  });

  it('is SUSPENDED when Slurm suspends or stops it, and resumes RUNNING', () => {
    expect(meaning(pendingRecord({ state: 'RUNNING' }), row({ state: 'SUSPENDED' }))).toEqual({
      kind: 'live',
      change: { state: 'SUSPENDED', status: 'Job suspended' },
    });
    expect(meaning(pendingRecord({ state: 'RUNNING' }), row({ state: 'STOPPED' }))).toEqual({
      kind: 'live',
      change: { state: 'SUSPENDED', status: 'Stopped by Slurm' },
    });
    const resumed = meaning(
      pendingRecord({ state: 'SUSPENDED', startedAt: NOW - 5_000 }),
      row({ state: 'RUNNING', startTime: NOW - 5_000, elapsedSeconds: 3 }),
    );
    expect(resumed).toMatchObject({ kind: 'live', change: { state: 'RUNNING', status: 'Job resumed' } });
    expect(resumed.kind === 'live' && resumed.change).not.toHaveProperty('startedAt');
  });

  it('passes through COMPLETING without a change of state', () => {
    expect(
      meaning(pendingRecord({ state: 'RUNNING', usageUnits: 1 }), row({ state: 'COMPLETING', startTime: NOW - 1_000, elapsedSeconds: 1 })),
    ).toEqual({
      kind: 'live',
      change: null,
    });
  });
});

describe('what Slurm says at the end', () => {
  it('sends an ended job to be finished, leaves a final record alone, and names a state it does not know', () => {
    expect(meaning(pendingRecord({ state: 'RUNNING' }), row({ state: 'COMPLETED' }))).toEqual({ kind: 'ended' });
    expect(meaning(pendingRecord({ state: 'SUCCESS' }), row({ state: 'RUNNING' }))).toEqual({ kind: 'settled' });
    expect(meaning(pendingRecord(), row({ state: 'WOBBLING' }))).toEqual({ kind: 'unknown', problem: 'unknown Slurm state WOBBLING' });
  });

  it.each([
    ['COMPLETED', null, '0:0', { state: 'SUCCESS', status: 'Job finished with exit code 0', exitCode: 0 }],
    ['FAILED', 'NonZeroExitCode', '3:0', { state: 'SUCCESS', status: 'Job finished with exit code 3', exitCode: 3 }],
    ['FAILED', 'RaisedSignal:9(Killed)', '0:9', { state: 'SUCCESS', status: 'Job finished with exit code 137', exitCode: 137 }],
    ['FAILED', 'BadConstraints', '1:0', { state: 'FAILURE', status: 'Slurm could not run the job (BadConstraints, exit code 1:0)', exitCode: 1 }],
    ['CANCELLED', null, '0:15', { state: 'FAILURE', status: 'Cancelled outside Switchyard', exitCode: 143 }],
    ['TIMEOUT', null, '0:15', { state: 'EXPIRED', status: 'The job reached the end of its time allocation', exitCode: 143 }],
    ['DEADLINE', null, null, { state: 'EXPIRED', status: 'The job reached the end of its time allocation (the job reached its deadline)' }],
    ['OUT_OF_MEMORY', null, '0:125', { state: 'FAILURE', status: 'Slurm ended the job: the job ran out of memory (OUT_OF_MEMORY)', exitCode: 253 }],
    ['NODE_FAIL', 'NodeDown', null, { state: 'FAILURE', status: 'Slurm ended the job: a node it ran on failed (NODE_FAIL, NodeDown)' }],
  ])('maps %s (%s, exit %s) to the contract', (state, reason, exitText, expected) => {
    expect(finalChange(pendingRecord(), state, reason, exitText)).toEqual(expected);
  });

  it('ends a job Switchyard cancelled SUCCESS, with the reason it was terminated for', () => {
    expect(finalChange(pendingRecord({ ending: 'TERMINATE', endingReason: 'No more credits' }), 'CANCELLED', null, '0:15')).toEqual({
      state: 'SUCCESS',
      status: 'Your job has been terminated (No more credits)',
      exitCode: 143,
    });
    expect(finalChange(pendingRecord({ ending: 'TERMINATE', endingReason: null }), 'CANCELLED', null, null)).toEqual({
      state: 'SUCCESS',
      status: 'Your job has been terminated',
    });
  });

  it('takes the exit code from sacct first, then scontrol, then squeue, and always reports usage', () => {
    const start = NOW - 90 * 60_000;
    const accounted: SacctJob = {
      slurmJobId: '42',
      name: 'sy-job-1',
      state: 'FAILED',
      exitCode: '5:0',
      elapsedSeconds: 5400,
      startTime: start,
      endTime: NOW,
      partition: 'debug',
      nodeList: 'sy1',
    };
    const ended = row({ state: 'FAILED', reason: 'NonZeroExitCode', exitCode: '1:0', startTime: start, elapsedSeconds: 5400, nodeList: 'sy1' });
    // As the poller calls it: the record's view already taken from the row.
    const seen = () => pendingRecord({ slurm: viewOf(ended) });
    const fromSacct = endOf(seen(), ended, accounted, '2:0');
    expect(fromSacct.change).toEqual({ state: 'SUCCESS', status: 'Job finished with exit code 5', exitCode: 5, startedAt: start, usageUnits: 2 });
    expect(fromSacct.view).toMatchObject({ state: 'FAILED', reason: 'NonZeroExitCode', exitCode: '5:0', nodeList: 'sy1' });
    expect(endOf(seen(), ended, null, '2:0').change).toMatchObject({ exitCode: 2 });
    expect(endOf(seen(), ended, null, null).change).toMatchObject({ exitCode: 1 });
  });

  it('ends a job squeue no longer lists from sacct alone, and charges nothing for one cancelled before it ran', () => {
    const accounted: SacctJob = {
      slurmJobId: '42',
      name: 'sy-job-1',
      state: 'COMPLETED',
      exitCode: '0:0',
      elapsedSeconds: 30,
      startTime: NOW - 30_000,
      endTime: NOW,
      partition: 'debug',
      nodeList: 'sy1',
    };
    expect(endOf(pendingRecord(), null, accounted, null).change).toEqual({
      state: 'SUCCESS',
      status: 'Job finished with exit code 0',
      exitCode: 0,
      startedAt: NOW - 30_000,
      usageUnits: 1,
    });
    const neverRan = row({ state: 'CANCELLED', startTime: NOW, elapsedSeconds: 0, nodeList: 'None assigned', exitCode: '0:0' });
    expect(endOf(pendingRecord(), neverRan, null, null).change).toEqual({
      state: 'FAILURE',
      status: 'Cancelled outside Switchyard',
      exitCode: 0,
      usageUnits: 0,
    });
  });
});

describe('an array task cancelled while it waited (Slurm keeps no trace of it)', () => {
  const waitingTask = (overrides: Partial<SlurmJobRecord> = {}) =>
    pendingRecord({ slurmJobId: '900_3', array: { name: 'sya-x', task: 3 }, usageUnits: 0, ...overrides });

  it('is one only while the record knows no start of it: an array task with no numeric id of its own, waiting or being cancelled', () => {
    expect(unstartedTask(waitingTask())).toBe(true);
    expect(unstartedTask(waitingTask({ state: 'CANCELING', ending: 'TERMINATE' }))).toBe(true);
    // Started: it has its own id, or a start, or ran.
    expect(unstartedTask(waitingTask({ taskJobId: '905' }))).toBe(false);
    expect(unstartedTask(waitingTask({ startedAt: NOW }))).toBe(false);
    expect(unstartedTask(waitingTask({ state: 'RUNNING' }))).toBe(false);
    // A job submitted alone: sacct knows its end.
    expect(unstartedTask(pendingRecord())).toBe(false);
  });

  it('ends as any terminated job when Switchyard cancelled it, with the reason, and charges nothing', () => {
    const end = vanishedTaskEnd(waitingTask({ state: 'CANCELING', ending: 'TERMINATE', endingReason: 'Not needed' }));
    expect(end.change).toEqual({ state: 'SUCCESS', status: 'Your job has been terminated (Not needed)', usageUnits: 0 });
    expect(end.view).toMatchObject({ state: 'CANCELLED', reason: null, exitCode: null, partition: 'debug' });
    expect(vanishedTaskEnd(waitingTask({ state: 'CANCELING', ending: 'TERMINATE' })).change).toEqual({
      state: 'SUCCESS',
      status: 'Your job has been terminated',
      usageUnits: 0,
    });
  });

  it('ends FAILURE, cancelled outside Switchyard before it started, when someone else cancelled it', () => {
    expect(vanishedTaskEnd(waitingTask()).change).toEqual({
      state: 'FAILURE',
      status: 'Cancelled outside Switchyard while it waited in the Slurm queue (Slurm took 900_3 out of its job array before it started)',
      usageUnits: 0,
    });
  });
});

describe('usage and deadlines', () => {
  it('counts started price units times replicas, never less than reported before', () => {
    const rec = { usageUnits: 0, unitSeconds: 60, replicas: 3 };
    expect(usageUnitsOf(rec, 0, true)).toBe(3);
    expect(usageUnitsOf(rec, 61, true)).toBe(6);
    expect(usageUnitsOf({ ...rec, usageUnits: 9 }, 61, true)).toBe(9);
    expect(usageUnitsOf(rec, 600, false)).toBe(0);
  });

  it('takes the deadline from Slurm’s end time, else from start plus limit, and none for an unlimited job', () => {
    expect(deadlineOf(row({ startTime: NOW, endTime: NOW + 5_000 }))).toBe(NOW + 5_000);
    expect(deadlineOf(row({ startTime: NOW, timeLimitSeconds: 60 }))).toBe(NOW + 60_000);
    expect(deadlineOf(row({ startTime: NOW, timeLimitSeconds: Number.POSITIVE_INFINITY }))).toBeNull();
  });

  it('keeps Slurm’s view: no pending reason "None", and an exit code only once the job ended', () => {
    expect(viewOf(row({ reason: 'None', exitCode: '0:0' }))).toMatchObject({ reason: null, exitCode: null, state: 'PENDING' });
    expect(viewOf(row({ state: 'COMPLETED', exitCode: '0:0' }))).toMatchObject({ exitCode: '0:0' });
  });
});
