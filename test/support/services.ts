/** What every test that talks to real services needs: their URLs and a prefix of its own. */
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';

export function natsUrl(): string {
  return inject('natsUrl');
}

export function redisUrl(): string {
  return inject('redisUrl');
}

/** A subject / key prefix no other test uses, so the suite runs in parallel and twice in a row. */
export function uniquePrefix(): string {
  return `t${randomUUID().replace(/-/g, '').slice(0, 16)}`;
}

/** Remove every key a test wrote under its prefix. */
export async function deleteKeys(prefix: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(redisUrl());
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    await redis.quit();
  }
}
