/**
 * UCloud's token pair on Switchyard's users. A refresh token is issued by an
 * administrator (Mutation.issueUcloudRefreshToken) and kept like any other
 * token of the user (its hash in the store, listed and revoked with the user's
 * tokens, void once the user is disabled); `POST /auth/refresh` trades it for a
 * short-lived access JWT (HS256, jose) that every other call carries. An access
 * token names the refresh token it came from, so revoking that one ends both.
 */
import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt, jwtVerify, SignJWT, type JWTPayload } from 'jose';

import type { Clock } from '../../../shared/clock.js';
import { NotFoundError, UnauthenticatedError } from '../../../shared/errors.js';
import type { Auth, Viewer } from '../../access/auth.js';
import type { Store } from '../../store/store.js';

/** What UCloud's refresh tokens are in practice: long-lived (until logout or revocation). */
export const REFRESH_TOKEN_TTL_MS = 365 * 86_400_000;
/** Short, as UCloud's: the Go client renews an access token 3 minutes before it expires. */
export const ACCESS_TOKEN_TTL_SECONDS = 600;
const ISSUER = 'switchyard/ucloud';

/**
 * The stored hash of a refresh token. Salted with text no bearer token can hold (whitespace), so a
 * refresh token is never taken for a Switchyard bearer token, nor the other way round.
 */
export function refreshTokenHash(token: string): string {
  return createHash('sha256').update(`ucloud refresh\n${token}`).digest('hex');
}

/** A new refresh token for the user (administrators only; NOT_FOUND for a user that does not exist). */
export async function issueRefreshToken(store: Pick<Store, 'getUser' | 'putToken'>, clock: Clock, username: string): Promise<string> {
  const user = await store.getUser(username);
  if (!user) throw new NotFoundError('user', username.slice(0, 80));
  const token = randomBytes(32).toString('base64url');
  const now = clock.now();
  await store.putToken(refreshTokenHash(token), { username: user.username, expiresAt: now + REFRESH_TOKEN_TTL_MS, issuedAt: now }, now);
  return token;
}

export interface UcloudTokens {
  /** `Authorization: Bearer <refresh>` → a new access token; null when the refresh token is no good. */
  refresh(authorization: string | undefined): Promise<{ accessToken: string; csrfToken: string } | null>;
  /** Ends the refresh token (and every access token made from it); false when it was no good. */
  logout(authorization: string | undefined): Promise<boolean>;
  /**
   * The viewer an access token stands for; a Switchyard bearer token (or the administrator's)
   * works too, as on the core API. Null when neither is good.
   */
  authenticate(authorization: string | undefined): Promise<Viewer | null>;
}

const bearerOf = (authorization: string | undefined) => /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1] ?? null;

export function createUcloudTokens(options: { auth: Auth; store: Store; clock: Clock; key: Uint8Array }): UcloudTokens {
  const { auth, store, clock, key } = options;

  const refreshRecord = async (authorization: string | undefined) => {
    const token = bearerOf(authorization);
    if (!token) return null;
    const hash = refreshTokenHash(token);
    const record = await store.getToken(hash, clock.now());
    return record ? { hash, username: record.username } : null;
  };

  return {
    async refresh(authorization) {
      const record = await refreshRecord(authorization);
      if (!record) return null;
      const viewer = await auth.viewerByName(record.username);
      if (!viewer) return null;
      const now = Math.floor(clock.now() / 1000);
      // The claims UCloud's core puts in its access tokens that mean something here.
      const accessToken = await new SignJWT({
        role: viewer.admin ? 'ADMIN' : 'USER',
        principalType: 'password',
        firstNames: viewer.username,
        lastName: '',
        sid: record.hash,
      })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(ISSUER)
        .setSubject(viewer.username)
        .setIssuedAt(now)
        .setExpirationTime(now + ACCESS_TOKEN_TTL_SECONDS)
        .sign(key);
      return { accessToken, csrfToken: randomBytes(16).toString('base64url') };
    },

    async logout(authorization) {
      const record = await refreshRecord(authorization);
      if (!record) return false;
      await store.deleteToken(record.hash);
      return true;
    },

    async authenticate(authorization) {
      const token = bearerOf(authorization);
      if (!token) return null;
      let issuer: unknown;
      try {
        issuer = decodeJwt(token).iss;
      } catch {
        issuer = undefined;
      }
      if (issuer !== ISSUER) {
        return auth.authenticate(authorization).catch((error: unknown) => {
          if (error instanceof UnauthenticatedError) return null;
          throw error;
        });
      }
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, key, { issuer: ISSUER, algorithms: ['HS256'], currentDate: new Date(clock.now()) }));
      } catch {
        return null;
      }
      const sid = typeof payload.sid === 'string' ? payload.sid : '';
      const record = sid ? await store.getToken(sid, clock.now()) : null;
      if (!record || record.username !== payload.sub) return null;
      const viewer = await auth.viewerByName(record.username);
      return viewer && { ...viewer, tokenId: sid };
    },
  };
}
