/**
 * Backend.AI access/secret key pairs: the credential Backend.AI's clients sign
 * every request with (dialects/backendai/backendai-signature.ts). Administrators
 * issue, list and revoke a user's key pairs (schema/dialect-credentials.graphql);
 * the secret is shown once, when issued. Keys are made as Backend.AI's manager
 * makes them: "AKIA" and 16 base32 characters, and a 40-character url-safe secret.
 */
import { randomBytes } from 'node:crypto';

import type { Clock } from '../../shared/clock.js';
import { ForbiddenError, NotFoundError } from '../../shared/errors.js';
import type { KeypairRecord, Store } from '../store/store.js';
import { BOOTSTRAP_ADMIN, type Viewer } from './auth.js';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** The shape of an access key this module issues; anything else is never looked up. */
export const ACCESS_KEY = /^AKIA[A-Z2-7]{16}$/;

/** RFC 4648 base32 of 10 random bytes: 16 characters, no padding. */
function base32(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

export function newAccessKey(): string {
  return `AKIA${base32(randomBytes(10))}`;
}

export function newSecretKey(): string {
  return randomBytes(30).toString('base64url');
}

export interface BackendAiKeypairs {
  /** Administrators: a new key pair for an existing user (the bootstrap administrator included). */
  issue(viewer: Viewer, username: string): Promise<KeypairRecord>;
  /** Administrators: a user's key pairs, oldest first. */
  list(viewer: Viewer, username: string): Promise<KeypairRecord[]>;
  /** Administrators: forget a key pair at once; false when there was none. */
  revoke(viewer: Viewer, accessKey: string): Promise<boolean>;
  /** The key pair of an access key, to verify a request's signature with; null when unknown. */
  lookup(accessKey: string): Promise<KeypairRecord | null>;
}

export function createBackendAiKeypairs(store: Store, clock: Clock): BackendAiKeypairs {
  const requireAdmin = (viewer: Viewer, what: string) => {
    if (!viewer.admin) throw new ForbiddenError(`Only administrators ${what} Backend.AI key pairs`);
  };
  const requireUser = async (username: string) => {
    if (username === BOOTSTRAP_ADMIN) return;
    if (typeof username !== 'string' || !(await store.getUser(username))) throw new NotFoundError('user', String(username).slice(0, 80));
  };
  return {
    async issue(viewer, username) {
      requireAdmin(viewer, 'issue');
      await requireUser(username);
      for (;;) {
        const keypair: KeypairRecord = { accessKey: newAccessKey(), secretKey: newSecretKey(), username, createdAt: clock.now() };
        // 80 random bits: a taken access key is all but impossible, and then another is drawn.
        if (await store.putKeypair(keypair)) return keypair;
      }
    },
    async list(viewer, username) {
      requireAdmin(viewer, 'list');
      await requireUser(username);
      return store.listKeypairs(username);
    },
    async revoke(viewer, accessKey) {
      requireAdmin(viewer, 'revoke');
      return typeof accessKey === 'string' && ACCESS_KEY.test(accessKey) ? store.deleteKeypair(accessKey) : false;
    },
    async lookup(accessKey) {
      return ACCESS_KEY.test(accessKey) ? store.getKeypair(accessKey) : null;
    },
  };
}
