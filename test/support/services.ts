/** What every test that talks to real services needs: their URLs and a prefix of its own. */
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';

/** The suite's NATS server; only the integration and e2e projects start one (vitest.config.ts). */
export function natsUrl(): string {
  return injected('natsUrl');
}

/** The suite's Redis server; only the integration and e2e projects start one (vitest.config.ts). */
export function redisUrl(): string {
  return injected('redisUrl');
}

function injected(key: 'natsUrl' | 'redisUrl'): string {
  const url = inject(key);
  if (!url) throw new Error(`${key}: this test talks to real servers; list its file under INTEGRATION or E2E in vitest.config.ts`);
  return url;
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
