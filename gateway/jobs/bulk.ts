/**
 * What every bulk operation shares: its limit, one outcome per item (one bad
 * item never fails the others), and runs of items for calls with a limit.
 */
import { InvalidInputError, toErrorBody, type ErrorBody } from '../../shared/errors.js';

export const MAX_BULK_ITEMS = 1_000;

export type ItemOutcome<T> = { ok: true; value: T } | { ok: false; error: ErrorBody };

export function checkBulk(count: number): void {
  if (count > MAX_BULK_ITEMS) throw new InvalidInputError(`at most ${MAX_BULK_ITEMS} items in one call, ${count} given`);
}

export function failed(error: unknown): { ok: false; error: ErrorBody } {
  return { ok: false, error: toErrorBody(error) };
}

/** Items in runs of at most `size`, for calls with a bulk limit. */
export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
