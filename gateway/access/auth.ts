/**
 * Users, passwords and bearer tokens. Passwords are hashed with scrypt
 * (node:crypto); tokens are random, stored only as their SHA-256, and expire.
 * Logins are throttled per user name and address (rate-limiter-flexible).
 */
import { createHash, randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

import type { Clock } from '../../shared/clock.js';
import { ForbiddenError, InvalidInputError, NotFoundError, SwitchyardError, UnauthenticatedError } from '../../shared/errors.js';
import type { MembershipRecord, ProjectRole, Store, UserRecord } from '../store/store.js';

/** Who is calling, and in which workspace. */
export interface Viewer {
  username: string;
  admin: boolean;
  /** The projects the user is a member of, by id. */
  projects: string[];
  /** The user's role and groups in each of those projects. */
  memberships: Record<string, { role: ProjectRole; groups: string[] }>;
  /** The workspace the request acts in: a project id (the `Project` header), or null for the user's own. */
  workspace: string | null;
  /** The id of the token this request came with (its hash); null for the bootstrap administrator's. */
  tokenId: string | null;
}

/** A token as its user lists it: never the token itself. */
export interface TokenView {
  id: string;
  issuedAt: number | null;
  expiresAt: number;
  /** The token of the request that lists it. */
  current: boolean;
}

/** A user as the token endpoint and createUser answer it. */
export interface UserView {
  username: string;
  admin: boolean;
  projects: string[];
}

/** The viewer of a user with these memberships, acting in its own workspace. */
export function viewerOf(user: { username: string; admin: boolean }, memberships: readonly MembershipRecord[]): Viewer {
  return {
    username: user.username,
    admin: user.admin,
    projects: memberships.map((m) => m.project),
    memberships: Object.fromEntries(memberships.map((m) => [m.project, { role: m.role, groups: m.groups }])),
    workspace: null,
    tokenId: null,
  };
}

const SCRYPT = { N: 16_384, r: 8, p: 1, keylen: 64 } as const;
export const USERNAME = /^[a-z][a-z0-9._-]{1,63}$/;
export const BOOTSTRAP_ADMIN = 'admin';

function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCallback(password, salt, keylen, options, (error, key) => (error ? reject(error) : resolve(key))));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const [scheme, n, r, p, salt, expected] = encoded.split('$');
  if (scheme !== 'scrypt' || !salt || !expected) return false;
  const expectedKey = Buffer.from(expected, 'base64');
  const key = await scrypt(password, Buffer.from(salt, 'base64'), expectedKey.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
  });
  return timingSafeEqual(key, expectedKey);
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * A login refused without looking at the password, after too many failures
 * (HTTP 429 with Retry-After). The contract has no code of its own for it:
 * the caller is not authenticated, and may try again after `retryAfterMs`.
 */
export class LoginThrottledError extends SwitchyardError {
  constructor(readonly retryAfterMs: number) {
    super('UNAUTHENTICATED', `Too many failed logins for this user name or from this address; try again in ${Math.ceil(retryAfterMs / 1000)} s`);
    this.name = 'LoginThrottledError';
  }
}

/**
 * Login throttling, after rate-limiter-flexible's login protection: failures
 * in a row for one user name from one address (a success resets them), and
 * failures from one address and for one user name over a longer window.
 * Only failures count, so a user who logs in correctly is never slowed; a
 * blocked user name or address does not block any other.
 */
export interface LoginThrottleOptions {
  /**
   * Failures in a row for one user name from one address that are answered
   * 401; the next failure is answered 429 and the pair is refused for
   * `blockSeconds`. A success resets the count.
   * @default 10
   */
  maxConsecutiveFailures?: number;
  /** Failures from one address, any user names, within `windowSeconds`; the next one blocks the address for `windowSeconds`. @default 100 */
  maxFailuresPerAddress?: number;
  /** Failures for one user name, from any addresses, within `windowSeconds`; the next one blocks the name for `blockSeconds`. @default 100 */
  maxFailuresPerUsername?: number;
  /** How long a user name (or pair of name and address) is refused. @default 900 */
  blockSeconds?: number;
  /** How long failures are remembered. @default 86400 */
  windowSeconds?: number;
  /** Where the counts live when the gateway runs on Redis, shared by its replicas; without it, in this process. */
  redis?: Redis | Cluster;
  /** Prepended, with ':', to the limiters' Redis keys (the gateway's key prefix). @default 'sy' */
  keyPrefix?: string;
}

export const LOGIN_THROTTLE_DEFAULTS = {
  maxConsecutiveFailures: 10,
  maxFailuresPerAddress: 100,
  maxFailuresPerUsername: 100,
  blockSeconds: 900,
  windowSeconds: 86_400,
} as const;

/** Access tokens of the OpenID Connect issuers the gateway trusts (oidc-sign-in.ts). */
export interface OidcTokens {
  /** The viewer of a JWT access token, its user created or brought in line with the token's claims; throws UnauthenticatedError. */
  signIn(token: string): Promise<Viewer>;
}

/** Three base64url parts: a JWT in compact form, never one of the gateway's own tokens. */
const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]+$/;

export interface AuthOptions {
  store: Store;
  clock: Clock;
  /** The bootstrap administrator's token (SWITCHYARD_ADMIN_TOKEN). */
  adminToken: string;
  /** @default 86400 */
  tokenTtlSeconds?: number;
  loginThrottle?: LoginThrottleOptions;
  /** Accept the access tokens of trusted OIDC issuers beside the gateway's own. */
  oidc?: OidcTokens;
}

interface LoginThrottle {
  /** Throws LoginThrottledError when the user name, the address or the pair is blocked. */
  check(username: string, address: string): Promise<void>;
  /** Counts a failure; throws LoginThrottledError when it is one too many. */
  failed(username: string, address: string): Promise<void>;
  succeeded(username: string, address: string): Promise<void>;
}

/**
 * Three limiters (pair, address, user name) on Redis, each with a memory
 * limiter as insurance so logins go on (per replica) while Redis is away.
 * The limiters keep time by the wall clock and Redis expiry: a throttle
 * window is real time whatever clock the gateway is given.
 */
function createLoginThrottle(options: LoginThrottleOptions = {}): LoginThrottle {
  const blockSeconds = options.blockSeconds ?? LOGIN_THROTTLE_DEFAULTS.blockSeconds;
  const windowSeconds = options.windowSeconds ?? LOGIN_THROTTLE_DEFAULTS.windowSeconds;
  const prefix = options.keyPrefix ?? 'sy';
  const limiter = (name: string, points: number, blockDuration: number): RateLimiterAbstract => {
    const settings = { keyPrefix: `${prefix}:login-failures:${name}`, points, duration: windowSeconds, blockDuration };
    const memory = new RateLimiterMemory(settings);
    return options.redis ? new RateLimiterRedis({ ...settings, storeClient: options.redis, insuranceLimiter: memory }) : memory;
  };
  const byPair = limiter('user-address', options.maxConsecutiveFailures ?? LOGIN_THROTTLE_DEFAULTS.maxConsecutiveFailures, blockSeconds);
  const byAddress = limiter('address', options.maxFailuresPerAddress ?? LOGIN_THROTTLE_DEFAULTS.maxFailuresPerAddress, windowSeconds);
  const byUsername = limiter('user', options.maxFailuresPerUsername ?? LOGIN_THROTTLE_DEFAULTS.maxFailuresPerUsername, blockSeconds);
  // User names come from the request: hashed, they cannot break out of their key (nor throw, as
  // encodeURIComponent does on a lone surrogate).
  const keys = (username: string, address: string) => {
    const user = createHash('sha256').update(username).digest('base64url');
    const from = createHash('sha256').update(address).digest('base64url');
    return [
      [byPair, `${user}:${from}`],
      [byAddress, from],
      [byUsername, user],
    ] as const;
  };
  return {
    async check(username, address) {
      const results = await Promise.all(keys(username, address).map(async ([rl, key]) => ({ rl, res: await rl.get(key) })));
      // Over its points, a key is blocked: the library set its expiry to the block's end.
      const waits = results.flatMap(({ rl, res }) => (res !== null && res.consumedPoints > rl.points ? [res.msBeforeNext] : []));
      if (waits.length > 0) throw new LoginThrottledError(Math.max(...waits));
    },
    async failed(username, address) {
      const waits = await Promise.all(
        keys(username, address).map(([rl, key]) =>
          rl.consume(key).then(
            () => 0,
            // A consume past the limit rejects with the result: the block starts with this failure.
            (error: unknown) => {
              if (error instanceof RateLimiterRes) return error.msBeforeNext;
              throw error;
            },
          ),
        ),
      );
      if (waits.some((wait) => wait > 0)) throw new LoginThrottledError(Math.max(...waits));
    },
    async succeeded(username, address) {
      await byPair.delete(keys(username, address)[0][1]);
    },
  };
}

export interface Auth {
  /** The viewer a bearer token stands for; throws UnauthenticatedError. */
  authenticate(authorization: string | null | undefined): Promise<Viewer>;
  /**
   * Exchange a user name and password for a token; null on bad credentials.
   * Throws LoginThrottledError, before looking at the password, after too many failures.
   * @param address - the client's address, for throttling; calls without one share a single address.
   * @param ttlSeconds - a shorter life than the configured one, as a client may ask (never a longer one).
   */
  issueToken(
    username: string,
    password: string,
    address?: string,
    ttlSeconds?: number,
  ): Promise<{ token: string; expiresAt: number; user: UserView } | null>;
  /**
   * A new token for the user of the token the viewer came with (that one stays in force: revoke it
   * for a refresh that rotates); FORBIDDEN for a viewer without a token of its own.
   */
  renewToken(viewer: Viewer, ttlSeconds?: number): Promise<{ token: string; expiresAt: number }>;
  createUser(viewer: Viewer, username: string, password: string, admin: boolean): Promise<UserView>;
  /** The viewer again from the store (its memberships now), in the same workspace; throws UnauthenticatedError when the user is gone or disabled. */
  refresh(viewer: Viewer): Promise<Viewer>;
  /** The caller's own password; every other token of the caller is revoked. FORBIDDEN when `current` is wrong. */
  changePassword(viewer: Viewer, current: string, next: string): Promise<void>;
  /** The caller's tokens that have not expired. */
  listTokens(viewer: Viewer): Promise<TokenView[]>;
  /** Revoke one of the caller's tokens (NOT_FOUND for any other). */
  revokeToken(viewer: Viewer, id: string): Promise<void>;
  /** Administrators only: every user. */
  listUsers(viewer: Viewer): Promise<UserRecord[]>;
  /**
   * Administrators only: disable a user (its tokens are revoked and none works from its next
   * request on; it cannot log in) or enable it again. Its jobs are left alone.
   */
  setDisabled(viewer: Viewer, username: string, disabled: boolean): Promise<UserRecord>;
  /** Who a user is now (admin flag, memberships), for a session credential issued earlier; null when the user is gone or disabled. */
  viewerByName(username: string): Promise<Viewer | null>;
}

export function createAuth(options: AuthOptions): Auth {
  const { store, clock } = options;
  const ttlMs = (options.tokenTtlSeconds ?? 86_400) * 1000;
  const adminTokenHash = Buffer.from(hashToken(options.adminToken), 'hex');
  const bootstrapAdmin: Viewer = viewerOf({ username: BOOTSTRAP_ADMIN, admin: true }, []);
  const throttle = createLoginThrottle(options.loginThrottle);

  const userView = (viewer: Viewer): UserView => ({ username: viewer.username, admin: viewer.admin, projects: viewer.projects });
  const loadViewer = async (username: string): Promise<Viewer> => {
    const [user, memberships] = await Promise.all([store.getUser(username), store.membershipsOf(username)]);
    if (!user) throw new UnauthenticatedError('The token belongs to a user that no longer exists');
    if (user.disabled) throw new UnauthenticatedError('This account is disabled');
    return viewerOf(user, memberships);
  };
  const checkPassword = (password: string) => {
    if (typeof password !== 'string' || password.length < 8 || password.length > 1024)
      throw new InvalidInputError('password must be 8 to 1024 characters');
  };
  const requireAdmin = (viewer: Viewer, what: string) => {
    if (!viewer.admin) throw new ForbiddenError(`Only administrators ${what}`);
  };
  const revokeAll = async (username: string, except: string | null) => {
    const tokens = await store.listTokens(username, clock.now());
    await Promise.all(tokens.filter((t) => t.tokenHash !== except).map((t) => store.deleteToken(t.tokenHash)));
  };

  return {
    async authenticate(authorization) {
      const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
      if (!match) throw new UnauthenticatedError('Send Authorization: Bearer <token>');
      const tokenHash = hashToken(match[1]!);
      if (timingSafeEqual(Buffer.from(tokenHash, 'hex'), adminTokenHash)) return bootstrapAdmin;
      if (options.oidc && JWT_SHAPE.test(match[1]!)) return { ...(await options.oidc.signIn(match[1]!)), tokenId: null };
      const record = await store.getToken(tokenHash, clock.now());
      if (!record) throw new UnauthenticatedError('The token is unknown or has expired');
      return { ...(await loadViewer(record.username)), tokenId: tokenHash };
    },

    async refresh(viewer) {
      if (viewer.username === BOOTSTRAP_ADMIN) return viewer;
      return { ...(await loadViewer(viewer.username)), workspace: viewer.workspace, tokenId: viewer.tokenId };
    },

    async changePassword(viewer, current, next) {
      const user = await store.getUser(viewer.username);
      if (!user) throw new ForbiddenError('The bootstrap administrator has no password; set SWITCHYARD_ADMIN_TOKEN instead');
      if (user.passwordHash === '') throw new ForbiddenError('This account signs in through its identity provider and has no password here');
      if (!(await verifyPassword(String(current), user.passwordHash))) throw new ForbiddenError('The current password is wrong');
      checkPassword(next);
      await store.updateUser({ ...user, passwordHash: await hashPassword(next) });
      await revokeAll(user.username, viewer.tokenId);
    },

    async listTokens(viewer) {
      return (await store.listTokens(viewer.username, clock.now())).map((t) => ({
        id: t.tokenHash,
        issuedAt: t.issuedAt ?? null,
        expiresAt: t.expiresAt,
        current: t.tokenHash === viewer.tokenId,
      }));
    },

    async revokeToken(viewer, id) {
      const token = typeof id === 'string' && /^[0-9a-f]{64}$/.test(id) ? await store.getToken(id, clock.now()) : null;
      if (!token || token.username !== viewer.username) throw new NotFoundError('token', String(id).slice(0, 80));
      await store.deleteToken(id);
    },

    async listUsers(viewer) {
      requireAdmin(viewer, 'list users');
      return store.listUsers();
    },

    async setDisabled(viewer, username, disabled) {
      requireAdmin(viewer, `${disabled ? 'disable' : 'enable'} users`);
      const user = await store.getUser(username);
      if (!user) throw new NotFoundError('user', String(username).slice(0, 80));
      const next = { ...user, disabled };
      await store.updateUser(next);
      if (disabled) await revokeAll(username, null);
      return next;
    },

    async viewerByName(username) {
      if (username === BOOTSTRAP_ADMIN) return bootstrapAdmin;
      return loadViewer(username).catch((error: unknown) => {
        if (error instanceof UnauthenticatedError) return null;
        throw error;
      });
    },

    async issueToken(username, password, address = 'unknown', ttlSeconds) {
      await throttle.check(username, address);
      const user = await store.getUser(username);
      // Hash even for unknown users so timing does not reveal which names exist.
      const ok = await verifyPassword(password, user?.passwordHash ?? (await hashPassword('not-a-user')));
      // A disabled user's right password is answered as a wrong one: nothing tells which it was.
      if (!user || !ok || user.disabled) {
        await throttle.failed(username, address);
        return null;
      }
      await throttle.succeeded(username, address);
      const token = randomBytes(32).toString('base64url');
      const now = clock.now();
      const expiresAt = now + Math.min(ttlMs, ttlSeconds === undefined ? ttlMs : ttlSeconds * 1000);
      await store.putToken(hashToken(token), { username: user.username, expiresAt, issuedAt: now }, now);
      return { token, expiresAt, user: userView(viewerOf(user, await store.membershipsOf(user.username))) };
    },

    async renewToken(viewer, ttlSeconds) {
      if (!viewer.tokenId) throw new ForbiddenError('Only a token a user logged in for is renewed');
      const user = await store.getUser(viewer.username);
      if (!user || user.disabled) throw new UnauthenticatedError('The token belongs to a user that no longer exists or is disabled');
      const token = randomBytes(32).toString('base64url');
      const now = clock.now();
      const expiresAt = now + Math.min(ttlMs, ttlSeconds === undefined ? ttlMs : ttlSeconds * 1000);
      await store.putToken(hashToken(token), { username: user.username, expiresAt, issuedAt: now }, now);
      return { token, expiresAt };
    },

    async createUser(viewer, username, password, admin) {
      if (!viewer.admin) throw new ForbiddenError('Only administrators create users');
      if (!USERNAME.test(username) || username === BOOTSTRAP_ADMIN) {
        throw new InvalidInputError(
          `username "${username}" must be 2-64 characters of a-z, 0-9, ".", "_", "-", start with a letter, and not be "${BOOTSTRAP_ADMIN}"`,
        );
      }
      checkPassword(password);
      const record: UserRecord = {
        username,
        passwordHash: await hashPassword(password),
        admin,
        projects: [],
        createdAt: clock.now(),
      };
      if (!(await store.createUser(record))) throw new InvalidInputError(`username "${username}" is taken`);
      return { username, admin, projects: [] };
    },
  };
}
