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
