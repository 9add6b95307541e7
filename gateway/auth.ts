/**
 * Users, passwords and bearer tokens. Passwords are hashed with scrypt
 * (node:crypto); tokens are random, stored only as their SHA-256, and expire.
 */
import { createHash, randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Clock } from '../shared/clock.js';
import { ForbiddenError, InvalidInputError, UnauthenticatedError } from '../shared/errors.js';
import type { Store, UserRecord } from './store/store.js';

/** Who is calling. */
export interface Viewer {
  username: string;
  admin: boolean;
  projects: string[];
}

const SCRYPT = { N: 16_384, r: 8, p: 1, keylen: 64 } as const;
const USERNAME = /^[a-z][a-z0-9._-]{1,63}$/;
export const BOOTSTRAP_ADMIN = 'admin';

function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCallback(password, salt, keylen, options, (error, key) => (error ? reject(error) : resolve(key))),
  );
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

export interface AuthOptions {
  store: Store;
  clock: Clock;
  /** The bootstrap administrator's token (SWITCHYARD_ADMIN_TOKEN). */
  adminToken: string;
  /** @default 86400 */
  tokenTtlSeconds?: number;
}

export interface Auth {
  /** The viewer a bearer token stands for; throws UnauthenticatedError. */
  authenticate(authorization: string | null | undefined): Promise<Viewer>;
  /** Exchange a user name and password for a token; null on bad credentials. */
  issueToken(username: string, password: string): Promise<{ token: string; expiresAt: number; user: Viewer } | null>;
  createUser(viewer: Viewer, username: string, password: string, admin: boolean): Promise<Viewer>;
}

export function createAuth(options: AuthOptions): Auth {
  const { store, clock } = options;
  const ttlMs = (options.tokenTtlSeconds ?? 86_400) * 1000;
  const adminTokenHash = Buffer.from(hashToken(options.adminToken), 'hex');
  const bootstrapAdmin: Viewer = { username: BOOTSTRAP_ADMIN, admin: true, projects: [] };

  const toViewer = (user: UserRecord): Viewer => ({ username: user.username, admin: user.admin, projects: user.projects });

  return {
    async authenticate(authorization) {
      const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
      if (!match) throw new UnauthenticatedError('Send Authorization: Bearer <token>');
      const tokenHash = hashToken(match[1]);
      if (timingSafeEqual(Buffer.from(tokenHash, 'hex'), adminTokenHash)) return bootstrapAdmin;
      const record = await store.getToken(tokenHash, clock.now());
      if (!record) throw new UnauthenticatedError('The token is unknown or has expired');
      const user = await store.getUser(record.username);
      if (!user) throw new UnauthenticatedError('The token belongs to a user that no longer exists');
      return toViewer(user);
    },

    async issueToken(username, password) {
      const user = await store.getUser(username);
      // Hash even for unknown users so timing does not reveal which names exist.
      const ok = await verifyPassword(password, user?.passwordHash ?? (await hashPassword('not-a-user')));
      if (!user || !ok) return null;
      const token = randomBytes(32).toString('base64url');
      const now = clock.now();
      const expiresAt = now + ttlMs;
      await store.putToken(hashToken(token), { username: user.username, expiresAt }, now);
      return { token, expiresAt, user: toViewer(user) };
    },

    async createUser(viewer, username, password, admin) {
      if (!viewer.admin) throw new ForbiddenError('Only administrators create users');
      if (!USERNAME.test(username) || username === BOOTSTRAP_ADMIN) {
        throw new InvalidInputError(
          `username "${username}" must be 2-64 characters of a-z, 0-9, ".", "_", "-", start with a letter, and not be "${BOOTSTRAP_ADMIN}"`,
        );
      }
      if (password.length < 8 || password.length > 1024) throw new InvalidInputError('password must be 8 to 1024 characters');
      const record: UserRecord = {
        username,
        passwordHash: await hashPassword(password),
        admin,
        projects: [],
        createdAt: clock.now(),
      };
      if (!(await store.createUser(record))) throw new InvalidInputError(`username "${username}" is taken`);
      return toViewer(record);
    },
  };
}
