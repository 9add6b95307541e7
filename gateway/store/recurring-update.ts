/**
 * Create, and read-change-compare-and-set, one recurring record (again from a
 * fresh read when another change came first): what every change of a schedule
 * or a service goes through.
 */
import { v7 as uuidv7 } from 'uuid';

import type { Job } from '../../shared/domain.js';
import type { RecurringRecord, RecurringRecords } from './store.js';

/** Tries before giving up on a record other replicas keep changing. */
const MAX_TRIES = 10;

/**
 * Apply `change` to the stored record and store the result at the next version. `change` sees the
 * record as stored now and answers the new one, or null to leave it as it is (then the stored
 * record is answered). Null when there is no such record, or it kept changing under us.
 */
export async function updateRecurring<Doc>(
  records: RecurringRecords<Doc>,
  id: string,
  change: (record: RecurringRecord<Doc>) => RecurringRecord<Doc> | null,
): Promise<RecurringRecord<Doc> | null> {
  for (let tries = 0; tries < MAX_TRIES; tries++) {
    const current = await records.get(id);
    if (!current) return null;
    const next = change(current);
    if (next === null) return current;
    const stored = { ...next, version: current.version + 1 };
    if (await records.put(stored, current.version)) return stored;
  }
  return null;
}

/** Store a new record of `owner` made at `now`: a uuid v7 id, version 1, due as `dueAtOf` says. */
export async function createRecurring<Doc>(
  records: RecurringRecords<Doc>,
  owner: Job['owner'],
  now: number,
  dueAtOf: (doc: Doc) => number | null,
  doc: Doc,
): Promise<RecurringRecord<Doc>> {
  const record = { id: uuidv7({ msecs: now }), owner, version: 1, dueAt: dueAtOf(doc), doc };
  // A fresh uuid v7 is taken only by a repeat of this very call.
  if (!(await records.put(record, null))) throw new Error(`recurring record ${record.id} exists already`);
  return record;
}
