/**
 * The job state machine as one transition table. Both the stores' atomic
 * compare-and-set and the gateway's validation read it, so there is exactly
 * one definition of which moves are legal.
 */
export const JOB_STATES = ['IN_QUEUE', 'RUNNING', 'CANCELING', 'SUCCESS', 'FAILURE', 'EXPIRED', 'SUSPENDED'] as const;
export type JobState = (typeof JOB_STATES)[number];

export const FINAL_STATES: ReadonlySet<JobState> = new Set(['SUCCESS', 'FAILURE', 'EXPIRED']);

/** from → the states it may move to. A final state moves nowhere. */
export const TRANSITIONS: Readonly<Record<JobState, readonly JobState[]>> = {
  IN_QUEUE: ['RUNNING', 'SUSPENDED', 'CANCELING', 'SUCCESS', 'FAILURE', 'EXPIRED'],
  RUNNING: ['SUSPENDED', 'CANCELING', 'SUCCESS', 'FAILURE', 'EXPIRED', 'IN_QUEUE'],
  SUSPENDED: ['RUNNING', 'IN_QUEUE', 'CANCELING', 'SUCCESS', 'FAILURE', 'EXPIRED'],
  CANCELING: ['SUCCESS', 'FAILURE', 'EXPIRED'],
  SUCCESS: [],
  FAILURE: [],
  EXPIRED: [],
};

export function isFinalState(state: JobState): boolean {
  return FINAL_STATES.has(state);
}

export function canTransition(from: JobState, to: JobState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The states from which `to` can be reached; what a compare-and-set accepts. */
export function statesLeadingTo(to: JobState): JobState[] {
  return JOB_STATES.filter((from) => canTransition(from, to));
}

export function isJobState(value: unknown): value is JobState {
  return typeof value === 'string' && (JOB_STATES as readonly string[]).includes(value);
}
