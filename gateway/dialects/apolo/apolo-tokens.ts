/**
 * Apolo's bearer tokens: JWTs whose `identity` claim is the user name (the
 * SDK reads it, unverified, to know who it is: apolo_sdk/_login.py). The
 * gateway signs them with HS256 (jose) under a key of its own
 * (SWITCHYARD_APOLO_SIGNING_KEY; without one, a random key of this process),
 * marks them with its issuer and an expiry, and verifies all three on every
 * request. They are stateless: disabling or deleting the user ends them (the
 * dialect loads the user on each request); one token alone cannot be revoked.
 */
import { randomBytes } from 'node:crypto';
import { decodeJwt, errors as joseErrors, jwtVerify, SignJWT } from 'jose';

import type { Clock } from '../../../shared/clock.js';
import { InvalidInputError } from '../../../shared/errors.js';

/** The `iss` of every Apolo token the gateway signs; a JWT with another issuer is not one of them. */
export const APOLO_ISSUER = 'switchyard/apolo';
const ALGORITHM = 'HS256';
/** HS256 wants a key of at least its hash's size. */
export const MIN_APOLO_KEY_LENGTH = 32;
export const DEFAULT_APOLO_TOKEN_TTL_SECONDS = 7 * 86_400;
export const MAX_APOLO_TOKEN_TTL_SECONDS = 365 * 86_400;

export class ApoloTokenError extends Error {
  override name = 'ApoloTokenError';
}

export interface ApoloTokens {
  /** A token for `username`, good for `ttlSeconds` (the default life without). */
  issue(username: string, ttlSeconds?: number | null): Promise<{ token: string; expiresAt: number }>;
  /** The user name of a token the gateway signed that has not expired; throws ApoloTokenError. */
  verify(token: string): Promise<string>;
  /** Whether the token claims to be one of the gateway's Apolo tokens (its issuer), unverified. */
  claimsToBeOurs(token: string): boolean;
}

export function createApoloTokens(options: { key?: string | null; clock: Clock; defaultTtlSeconds?: number }): ApoloTokens {
  const key = new TextEncoder().encode(options.key ?? randomBytes(32).toString('base64url'));
  const defaultTtl = options.defaultTtlSeconds ?? DEFAULT_APOLO_TOKEN_TTL_SECONDS;
  const nowSeconds = () => Math.floor(options.clock.now() / 1000);
  return {
    async issue(username, ttlSeconds) {
      const ttl = ttlSeconds ?? defaultTtl;
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_APOLO_TOKEN_TTL_SECONDS) {
        throw new InvalidInputError(`ttlSeconds must be a whole number from 1 to ${MAX_APOLO_TOKEN_TTL_SECONDS}`);
      }
      const issuedAt = nowSeconds();
      const token = await new SignJWT({ identity: username })
        .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
        .setIssuer(APOLO_ISSUER)
        .setSubject(username)
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + ttl)
        .sign(key);
      return { token, expiresAt: (issuedAt + ttl) * 1000 };
    },
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: [ALGORITHM],
          issuer: APOLO_ISSUER,
          requiredClaims: ['exp', 'identity'],
          currentDate: new Date(options.clock.now()),
        });
        if (typeof payload.identity !== 'string' || payload.identity === '') throw new ApoloTokenError('The token names no identity');
        return payload.identity;
      } catch (error) {
        if (error instanceof ApoloTokenError) throw error;
        if (error instanceof joseErrors.JWTExpired) throw new ApoloTokenError('The token has expired');
        if (error instanceof joseErrors.JOSEError) throw new ApoloTokenError('The token is not valid');
        throw error;
      }
    },
    claimsToBeOurs(token) {
      try {
        return decodeJwt(token).iss === APOLO_ISSUER;
      } catch {
        return false;
      }
    },
  };
}
