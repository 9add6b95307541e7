import { describe, expect, it } from 'vitest';

import { canTransition, isFinalState, JOB_STATES, statesLeadingTo, TRANSITIONS, type JobState } from './job-state-machine.js';

const allowed: [JobState, JobState][] = [
  ['IN_QUEUE', 'RUNNING'],
  ['IN_QUEUE', 'SUSPENDED'],
  ['IN_QUEUE', 'CANCELING'],
  ['IN_QUEUE', 'SUCCESS'],
  ['IN_QUEUE', 'FAILURE'],
  ['IN_QUEUE', 'EXPIRED'],
  ['RUNNING', 'SUSPENDED'],
  ['RUNNING', 'CANCELING'],
  ['RUNNING', 'SUCCESS'],
  ['RUNNING', 'FAILURE'],
  ['RUNNING', 'EXPIRED'],
  ['RUNNING', 'IN_QUEUE'],
  ['SUSPENDED', 'RUNNING'],
  ['SUSPENDED', 'IN_QUEUE'],
  ['SUSPENDED', 'CANCELING'],
  ['SUSPENDED', 'SUCCESS'],
  ['SUSPENDED', 'FAILURE'],
  ['SUSPENDED', 'EXPIRED'],
  ['CANCELING', 'SUCCESS'],
  ['CANCELING', 'FAILURE'],
  ['CANCELING', 'EXPIRED'],
];
const key = (from: JobState, to: JobState) => `${from}->${to}`;
const allowedKeys = new Set(allowed.map(([f, t]) => key(f, t)));
const everyPair = JOB_STATES.flatMap((from) => JOB_STATES.map((to) => [from, to] as [JobState, JobState]));

describe('the job state machine', () => {
  it.each(allowed)('allows %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
  });

  it.each(everyPair.filter(([f, t]) => !allowedKeys.has(key(f, t))))('refuses %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
  });

  it('never moves a job out of a final state', () => {
    for (const state of JOB_STATES.filter(isFinalState)) expect(TRANSITIONS[state]).toEqual([]);
    expect(JOB_STATES.filter(isFinalState)).toEqual(['SUCCESS', 'FAILURE', 'EXPIRED']);
  });

  it('lists the states that lead to a target, as the stores check them', () => {
    expect(statesLeadingTo('RUNNING').sort()).toEqual(['IN_QUEUE', 'SUSPENDED']);
    expect(statesLeadingTo('IN_QUEUE').sort()).toEqual(['RUNNING', 'SUSPENDED']);
    expect(statesLeadingTo('SUCCESS').sort()).toEqual(['CANCELING', 'IN_QUEUE', 'RUNNING', 'SUSPENDED']);
  });
});
