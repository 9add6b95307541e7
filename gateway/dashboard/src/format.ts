/** How values read on the page. */
import type { JobState } from './gql/graphql';

const FINAL: ReadonlySet<JobState> = new Set(['SUCCESS', 'FAILURE', 'EXPIRED']);

export const isFinal = (state: JobState) => FINAL.has(state);

export const JOB_STATES: JobState[] = ['IN_QUEUE', 'RUNNING', 'SUSPENDED', 'CANCELING', 'SUCCESS', 'FAILURE', 'EXPIRED'];

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** Credits are integers; 1 credit is 1e-6 of a currency unit. */
export const credits = (amount: number | null | undefined) => (amount == null ? '—' : amount.toLocaleString());

export function duration(d: { hours: number; minutes: number; seconds: number } | null | undefined): string {
  if (!d) return 'no limit';
  return [d.hours && `${d.hours} h`, d.minutes && `${d.minutes} min`, d.seconds && `${d.seconds} s`].filter(Boolean).join(' ') || '0 s';
}

export const percent = (used: number, capacity: number) => (capacity > 0 ? Math.round((used / capacity) * 100) : 0);
