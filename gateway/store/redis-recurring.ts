/**
 * Recurring records (schedules, services) in Redis, one kind per key family:
 *
 * | key                                  | type | holds                                        |
 * | ------------------------------------ | ---- | -------------------------------------------- |
 * | `<p>:<kind>:<id>`                    | hash | doc (JSON: owner, dueAt and the kind's doc), version |
 * | `<p>:<kind>s:workspace:<workspace>`  | zset | ids of a workspace's records, score 0 (uuid v7: lex = age) |
 * | `<p>:<kind>s:due`                    | zset | ids by due time (score: epoch ms)            |
 *
 * Every change is lua/put-recurring-3.lua or lua/delete-recurring-3.lua: a
 * compare-and-set on the version, with both indexes in the same step.
 */
import type { Result } from 'ioredis';

import type { Job } from '../../shared/domain.js';
import { defineLuaCommands } from './lua-scripts.js';
import type { RedisClient } from './redis-connection.js';
import type { RecurringRecord, RecurringRecords } from './store.js';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** lua/put-recurring-3.lua */
    switchyardPutRecurring(...keysAndArgs: string[]): Result<0 | 1, Context>;
    /** lua/delete-recurring-3.lua */
    switchyardDeleteRecurring(...keysAndArgs: string[]): Result<0 | 1, Context>;
  }
}

/** Defines the scripts on `redis`; once per connection, before the first collection is used. */
export function defineRecurringCommands(redis: RedisClient): void {
  defineLuaCommands(redis, new URL('./lua/', import.meta.url), {
    switchyardPutRecurring: 'put-recurring-3.lua',
    switchyardDeleteRecurring: 'delete-recurring-3.lua',
  });
}

/** The records of one kind (`schedule`, `service`) under `prefix`. */
export function createRedisRecurring<Doc>(redis: RedisClient, prefix: string, kind: string): RecurringRecords<Doc> {
  const e = encodeURIComponent;
  const key = {
    record: (id: string) => `${prefix}:${kind}:${e(id)}`,
    workspace: ({ createdBy, project }: Job['owner']) =>
      project ? `${prefix}:${kind}s:workspace:project:${e(project)}` : `${prefix}:${kind}s:workspace:user:${e(createdBy)}`,
    due: `${prefix}:${kind}s:due`,
  };
  const fromHash = (hash: Record<string, string>): RecurringRecord<Doc> | null =>
    hash.doc === undefined ? null : { ...(JSON.parse(hash.doc) as Omit<RecurringRecord<Doc>, 'version'>), version: Number(hash.version) };
  const getMany = async (ids: string[]) =>
    (await Promise.all(ids.map((id) => redis.hgetall(key.record(id))))).map(fromHash).filter((r): r is RecurringRecord<Doc> => r !== null);

  return {
    async put(record, expectVersion) {
      const { version, ...doc } = record;
      const stored = await redis.switchyardPutRecurring(
        key.record(record.id),
        key.workspace(record.owner),
        key.due,
        record.id,
        expectVersion === null ? '' : String(expectVersion),
        String(version),
        JSON.stringify(doc),
        record.dueAt === null ? '' : String(record.dueAt),
      );
      return stored === 1;
    },
    async get(id) {
      return fromHash(await redis.hgetall(key.record(id)));
    },
    async delete(id, expectVersion) {
      const stored = await redis.hget(key.record(id), 'doc');
      if (stored === null) return false;
      const { owner } = JSON.parse(stored) as Pick<RecurringRecord<Doc>, 'owner'>;
      return (await redis.switchyardDeleteRecurring(key.record(id), key.workspace(owner), key.due, id, String(expectVersion))) === 1;
    },
    async list(workspace) {
      return getMany(await redis.zrange(key.workspace(workspace), '0', '-1'));
    },
    async due(now, limit) {
      if (limit <= 0) return [];
      return getMany(await redis.zrangebyscore(key.due, '-inf', now, 'LIMIT', 0, limit));
    },
  };
}
