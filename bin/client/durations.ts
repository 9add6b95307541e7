/** Durations on the command line: "90s", "30m", "1h30m", "2d" (parse-duration), to the API's shapes. */
import parse from 'parse-duration';

import { CliError, EXIT } from './exit-codes.js';

export function durationMs(text: string, what: string): number {
  // A bare number would be milliseconds to parse-duration: nobody means that here.
  const ms = /^\s*\d+(\.\d+)?\s*$/.test(text) ? null : parse(text);
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms <= 0) {
    throw new CliError(`${what}: "${text}" is not a duration (write e.g. 90s, 30m, 1h30m, 2d)`, EXIT.usage);
  }
  return ms;
}

/** A SimpleDurationInput, rounded up to whole seconds. */
export function simpleDuration(text: string, what: string): { hours: number; minutes: number; seconds: number } {
  const total = Math.ceil(durationMs(text, what) / 1000);
  return { hours: Math.floor(total / 3600), minutes: Math.floor((total % 3600) / 60), seconds: total % 60 };
}

export function formatDuration(d: { hours: number; minutes: number; seconds: number } | null | undefined): string | null {
  if (!d) return null;
  const parts = [d.hours ? `${d.hours}h` : '', d.minutes ? `${d.minutes}m` : '', d.seconds ? `${d.seconds}s` : ''].join('');
  return parts || '0s';
}
