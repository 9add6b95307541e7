/**
 * A driver's job records as one JSON file each, so it finds its jobs again
 * after a restart. Writes are atomic (a crash leaves the old or the new
 * record, never half of one) and the writes of one record happen in order.
 */
import { randomUUID } from 'node:crypto';
import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';

import type { Logger } from '../../shared/logger.js';

export interface JobRecordFiles<T extends { id: string }> {
  /** Save a snapshot of the record; resolves when it is on disk (failures are logged, never thrown). */
  save(record: T): Promise<void>;
  /** Resolves when the record's pending saves are done. */
  saved(id: string): Promise<void>;
  /** Resolves when every pending save is done. */
  flush(): Promise<void>;
  /** Every readable record; leftovers of interrupted writes are removed, unreadable files logged and skipped. */
  readAll(): Promise<T[]>;
}

/** Write a file so that a crash leaves the old or the new content, never half of one. */
export async function writeAtomically(path: string, data: string): Promise<void> {
  const temp = `${path}.${randomUUID()}.tmp`;
  const file = await open(temp, 'w');
  try {
    await file.writeFile(data);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temp, path);
}

export function createJobRecordFiles<T extends { id: string }>(options: {
  /** The folder (read at each use: a driver may choose it only at start). */
  dir: () => string;
  schema: z.ZodType<T>;
  logger: () => Logger | undefined;
}): JobRecordFiles<T> {
  const writes = new Map<string, Promise<void>>();
  const pathOf = (id: string) => join(options.dir(), `${id}.json`);

  return {
    save(record) {
      const snapshot = JSON.stringify(record);
      const path = pathOf(record.id);
      const next = (writes.get(record.id) ?? Promise.resolve())
        .then(() => writeAtomically(path, snapshot))
        .catch((error: unknown) => options.logger()?.error({ err: error, jobId: record.id }, 'could not save the job record'));
      writes.set(record.id, next);
      void next.finally(() => {
        if (writes.get(record.id) === next) writes.delete(record.id);
      });
      return next;
    },
    async saved(id) {
      await writes.get(id);
    },
    async flush() {
      await Promise.all([...writes.values()]);
    },
    async readAll() {
      const dir = options.dir();
      const records: T[] = [];
      for (const name of await readdir(dir)) {
        const path = join(dir, name);
        if (name.endsWith('.tmp')) {
          // Left by a crash mid-write; the record it was replacing is intact.
          await rm(path, { force: true });
          continue;
        }
        if (!name.endsWith('.json')) continue;
        try {
          records.push(options.schema.parse(JSON.parse(await readFile(path, 'utf8'))));
        } catch (error) {
          options.logger()?.error({ err: error, path }, 'unreadable job record; ignored');
        }
      }
      return records;
    },
  };
}
