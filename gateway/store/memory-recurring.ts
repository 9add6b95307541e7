/**
 * Recurring records (schedules, services) for the embedded Store, answering as
 * lua/put-recurring-3.lua and lua/delete-recurring-3.lua do: each call runs to
 * its end before another starts, which is what makes the compare-and-set atomic here.
 */
import type { RecurringRecord, RecurringRecords } from './store.js';

export function createMemoryRecurring<Doc>(): RecurringRecords<Doc> {
  const records = new Map<string, RecurringRecord<Doc>>();
  const sorted = (list: RecurringRecord<Doc>[]) => list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((r) => structuredClone(r));

  return {
    async put(record, expectVersion) {
      const stored = records.get(record.id);
      if (expectVersion === null ? stored !== undefined : stored?.version !== expectVersion) return false;
      records.set(record.id, structuredClone(record));
      return true;
    },
    async get(id) {
      const stored = records.get(id);
      return stored ? structuredClone(stored) : null;
    },
    async delete(id, expectVersion) {
      if (records.get(id)?.version !== expectVersion) return false;
      records.delete(id);
      return true;
    },
    async list({ createdBy, project }) {
      const inWorkspace = ({ owner }: RecurringRecord<Doc>) =>
        project ? owner.project === project : owner.project === null && owner.createdBy === createdBy;
      return sorted([...records.values()].filter(inWorkspace));
    },
    async due(now, limit) {
      const due = [...records.values()].filter((record) => record.dueAt !== null && record.dueAt <= now);
      // Soonest first, ties by id, as Redis orders a sorted set.
      due.sort((a, b) => a.dueAt! - b.dueAt! || (a.id < b.id ? -1 : 1));
      return due.slice(0, Math.max(0, limit)).map((r) => structuredClone(r));
    },
  };
}
