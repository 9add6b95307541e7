import { describe, expect, it } from 'vitest';

import { createManualClock } from '../../shared/clock.js';
import { UnauthenticatedError } from '../../shared/errors.js';
import { createMemoryStore } from '../store/memory-store.js';
import { createAuth, hashPassword, verifyPassword } from './auth.js';

const ADMIN_TOKEN = 'bootstrap-admin-token-for-tests';

describe('tokens and passwords', () => {
  it('refuses a token once it has expired', async () => {
    const clock = createManualClock(Date.now());
    const auth = createAuth({ store: createMemoryStore(), clock, adminToken: ADMIN_TOKEN, tokenTtlSeconds: 60 });
    const admin = await auth.authenticate(`Bearer ${ADMIN_TOKEN}`);
    await auth.createUser(admin, 'carol', 'carol-password', false);
    const issued = await auth.issueToken('carol', 'carol-password');
    expect(issued).not.toBeNull();
    expect((await auth.authenticate(`Bearer ${issued!.token}`)).username).toBe('carol');
    clock.advance(61_000);
    await expect(auth.authenticate(`Bearer ${issued!.token}`)).rejects.toBeInstanceOf(UnauthenticatedError);
  });

  it('stores passwords as salted scrypt hashes that verify only the right password', async () => {
    const a = await hashPassword('same password');
    const b = await hashPassword('same password');
    expect(a).toMatch(/^scrypt\$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('same password');
    expect(await verifyPassword('same password', a)).toBe(true);
    expect(await verifyPassword('other password', a)).toBe(false);
  });

  it('refuses malformed authorization headers', async () => {
    const auth = createAuth({ store: createMemoryStore(), clock: createManualClock(), adminToken: ADMIN_TOKEN });
    for (const header of [undefined, '', 'Basic abc', 'Bearer', `bearer  `]) {
      await expect(auth.authenticate(header)).rejects.toBeInstanceOf(UnauthenticatedError);
    }
  });
});
