/**
 * The credential of one interactive session: a JWT (jose, HS256) bound to a
 * job, a rank, a session type and a user, for nothing but opening that
 * session, and short-lived. It is not the user's API token: it opens one kind
 * of session on one rank and nothing else, and a leaked one expires soon. The
 * secret comes from configuration and is shared by every gateway replica, so
 * any replica serves a session another one issued.
 */
import { randomUUID } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';

import type { Clock } from '../../shared/clock.js';
import { idSchema, interactiveSessionTypeSchema, type InteractiveSessionType } from '../../shared/domain.js';
import { sessionPortSchema } from '../../shared/protocol.js';

const ISSUER = 'switchyard-gateway';
const AUDIENCE = 'switchyard-session';
/** Bytes of a secret at least: HS256 with less is guessable. */
export const MIN_SESSION_SECRET_LENGTH = 32;

/** What a credential grants. */
export interface SessionGrant {
  /** The credential's own id (`jti`). */
  id: string;
  username: string;
  jobId: string;
  rank: number;
  type: InteractiveSessionType;
  providerId: string;
  /** WEB: the port of the job's app; null for the other types. */
  port: number | null;
  /** WEB: the app is told paths with the session's prefix (web-paths.ts), not from its own `/`. */
  keepPathPrefix: boolean;
  /** Epoch milliseconds. */
  expiresAt: number;
}

const grantClaimsSchema = z.object({
  jti: z.string().min(1),
  sub: z.string().min(1),
  exp: z.number().int(),
  job: idSchema,
  rank: z.number().int().nonnegative(),
  type: interactiveSessionTypeSchema,
  provider: idSchema,
  port: sessionPortSchema.optional(),
  keep: z.literal(true).optional(),
});

/** A credential refused: `expired`, or `invalid` (tampered with, signed with another secret, not a session's). */
export class SessionCredentialError extends Error {
  constructor(
    readonly reason: 'expired' | 'invalid',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'SessionCredentialError';
  }
}

export interface SessionCredentials {
  readonly ttlSeconds: number;
  issue(grant: Omit<SessionGrant, 'id' | 'expiresAt'>): Promise<{ token: string; expiresAt: number }>;
  /** The grant of a valid credential; throws SessionCredentialError. */
  verify(token: string): Promise<SessionGrant>;
}

export interface SessionCredentialsOptions {
  /** The HMAC secret every replica shares (SWITCHYARD_SESSION_SECRET). */
  secret: string;
  /** How long a credential, and the session it opens, lasts. */
  ttlSeconds: number;
  clock: Clock;
}

export function createSessionCredentials(options: SessionCredentialsOptions): SessionCredentials {
  const { clock, ttlSeconds } = options;
  if (options.secret.length < MIN_SESSION_SECRET_LENGTH)
    throw new RangeError(`a session secret has at least ${MIN_SESSION_SECRET_LENGTH} characters`);
  const key = new TextEncoder().encode(options.secret);
  return {
    ttlSeconds,
    async issue(grant) {
      const now = Math.floor(clock.now() / 1000);
      const exp = now + ttlSeconds;
      const token = await new SignJWT({
        job: grant.jobId,
        rank: grant.rank,
        type: grant.type,
        provider: grant.providerId,
        ...(grant.port !== null ? { port: grant.port } : {}),
        ...(grant.keepPathPrefix ? { keep: true } : {}),
      })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject(grant.username)
        .setJti(randomUUID())
        .setIssuedAt(now)
        .setExpirationTime(exp)
        .sign(key);
      return { token, expiresAt: exp * 1000 };
    },
    async verify(token) {
      let payload: unknown;
      try {
        ({ payload } = await jwtVerify(token, key, {
          algorithms: ['HS256'],
          issuer: ISSUER,
          audience: AUDIENCE,
          currentDate: new Date(clock.now()),
          requiredClaims: ['exp', 'jti', 'sub'],
        }));
      } catch (error) {
        if (error instanceof errors.JWTExpired) throw new SessionCredentialError('expired', 'The session credential has expired', { cause: error });
        throw new SessionCredentialError('invalid', 'The session credential is not valid', { cause: error });
      }
      const claims = grantClaimsSchema.safeParse(payload);
      if (!claims.success) throw new SessionCredentialError('invalid', 'The session credential is not valid');
      const { jti, sub, exp, job, rank, type, provider, port, keep } = claims.data;
      return {
        id: jti,
        username: sub,
        jobId: job,
        rank,
        type,
        providerId: provider,
        port: port ?? null,
        keepPathPrefix: keep === true,
        expiresAt: exp * 1000,
      };
    },
  };
}
