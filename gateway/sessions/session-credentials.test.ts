import { describe, expect, it } from 'vitest';

import { createManualClock } from '../../shared/clock.js';
import { createSessionCredentials, SessionCredentialError } from './session-credentials.js';

const SECRET = 'a-secret-of-at-least-thirty-two-characters';
const GRANT = { username: 'alice', jobId: 'job-1', rank: 2, type: 'SHELL', providerId: 'edge', port: null, keepPathPrefix: false } as const;

describe('session credentials', () => {
  it('grant what they were issued for, to any gateway with the same secret, until they expire', async () => {
    const clock = createManualClock();
    const issuer = createSessionCredentials({ secret: SECRET, ttlSeconds: 600, clock });
    const other = createSessionCredentials({ secret: SECRET, ttlSeconds: 600, clock });
    const { token, expiresAt } = await issuer.issue(GRANT);
    expect(expiresAt - clock.now()).toBeGreaterThan(599_000);
    expect(await other.verify(token)).toMatchObject({ ...GRANT, expiresAt });

    // A WEB credential carries its app's port.
    const web = await issuer.issue({ ...GRANT, type: 'WEB', port: 8888, keepPathPrefix: true });
    expect(await other.verify(web.token)).toMatchObject({ type: 'WEB', port: 8888, keepPathPrefix: true });

    clock.advance(601_000);
    const refusal = await other.verify(token).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(SessionCredentialError);
    expect(refusal).toMatchObject({ reason: 'expired' });
  });

  it('are refused when tampered with, signed with another secret, or not a session credential at all', async () => {
    const clock = createManualClock();
    const credentials = createSessionCredentials({ secret: SECRET, ttlSeconds: 600, clock });
    const { token } = await credentials.issue(GRANT);
    const [header, payload, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8'));
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, rank: 0 })).toString('base64url')}.${signature}`;
    const foreign = await createSessionCredentials({ secret: `${SECRET}-other`, ttlSeconds: 600, clock }).issue(GRANT);
    for (const bad of [forged, foreign.token, 'not-a-jwt', `${header}.${payload}.`]) {
      await expect(credentials.verify(bad)).rejects.toMatchObject({ name: 'SessionCredentialError', reason: 'invalid' });
    }
  });

  it('need a secret long enough for HMAC-SHA256', () => {
    expect(() => createSessionCredentials({ secret: 'short', ttlSeconds: 60, clock: createManualClock() })).toThrow(RangeError);
  });
});
