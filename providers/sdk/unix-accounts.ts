/**
 * The Unix accounts jobs run as: one default account (a safe `nobody` unless
 * told otherwise) and an optional map from Switchyard user to Unix account,
 * as HPC centres map their users. Accounts are given by name or numeric uid
 * ("alice", "1001", "1001:1001") and resolved once, when the provider starts,
 * through `getent passwd` (NSS: local files, LDAP, ...) or /etc/passwd where
 * getent is missing. Root (uid 0) and the root group (gid 0) are refused: a
 * job never runs as root.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

import { InvalidInputError } from '../../shared/errors.js';

/** One resolved Unix account. */
export interface UnixAccount {
  uid: number;
  /** The primary group: the passwd entry's, or the one given after a colon. */
  gid: number;
  /** The passwd name; null for a numeric uid without a passwd entry. */
  name: string | null;
}

/** Which account each Switchyard user's jobs run as. */
export interface AccountMap {
  /** The account of jobs whose user is not in the map. */
  readonly defaultAccount: UnixAccount;
  /** The account for a Switchyard user (CreateJob.owner.createdBy). */
  accountFor(switchyardUser: string): UnixAccount;
  /** Every account jobs may run as (the default first), each once. */
  accounts(): UnixAccount[];
}

export interface AccountMapOptions {
  /** Name, uid or uid:gid of the account for users not in `users`. @default 'nobody' */
  defaultAccount?: string;
  /** Switchyard user → name, uid or uid:gid. @default {} */
  users?: Record<string, string>;
}

/** The uid of `nobody` on Debian and most Linux systems, for messages and fallbacks. */
export const NOBODY_UID = 65534;

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*\$?$/;
const NUMERIC = /^(\d+)(?::(\d+))?$/;

/** An account as written in a setting: a user name, a uid, or uid:gid. */
export const accountSpecSchema = z
  .string()
  .trim()
  .refine((text) => NAME.test(text) || NUMERIC.test(text), 'a user name, a numeric uid, or uid:gid');

/**
 * A Switchyard user → Unix account map as one environment variable: a comma
 * list (`alice=alice,bob=1001`) or a JSON object (`{"alice":"alice"}`).
 */
export const userMapSetting = z.string().transform((text, ctx): Record<string, string> => {
  const trimmed = text.trim();
  if (trimmed === '') return {};
  let entries: Array<[string, unknown]>;
  if (trimmed.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      entries = Object.entries(parsed as Record<string, unknown>);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `not a JSON object: ${(error as Error).message}` });
      return z.NEVER;
    }
  } else {
    entries = [];
    for (const pair of trimmed
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)) {
      const at = pair.indexOf('=');
      if (at <= 0) {
        ctx.addIssue({ code: 'custom', message: `"${pair}" is not user=account` });
        return z.NEVER;
      }
      entries.push([pair.slice(0, at).trim(), pair.slice(at + 1).trim()]);
    }
  }
  const map: Record<string, string> = {};
  for (const [user, account] of entries) {
    const parsed = accountSpecSchema.safeParse(account);
    if (!parsed.success || user === '') {
      ctx.addIssue({ code: 'custom', message: `${user || '(empty user)'}: the account must be a user name, a numeric uid, or uid:gid` });
      return z.NEVER;
    }
    map[user] = parsed.data;
  }
  return map;
});

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

function parsePasswdLine(line: string): PasswdEntry | null {
  const [name, , uidField, gidField] = line.split(':');
  if (name === undefined || uidField === undefined || gidField === undefined) return null;
  const uid = Number(uidField);
  const gid = Number(gidField);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) return null;
  return { name, uid, gid };
}

/** `getent passwd <key>`: null when there is no such entry; undefined when getent cannot be run. */
function getent(key: string): Promise<PasswdEntry | null | undefined> {
  return new Promise((resolve) => {
    execFile('getent', ['passwd', key], { timeout: 5_000, env: { PATH: '/usr/bin:/bin' } }, (error, stdout) => {
      if (!error) return resolve(parsePasswdLine(stdout.trim().split('\n')[0] ?? ''));
      // Exit 2: no such entry. Anything else (ENOENT, a timeout): ask /etc/passwd instead.
      resolve((error as { code?: unknown }).code === 2 ? null : undefined);
    });
  });
}

async function fromEtcPasswd(key: string): Promise<PasswdEntry | null> {
  const text = await readFile('/etc/passwd', 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const entry = parsePasswdLine(line);
    if (entry && (entry.name === key || String(entry.uid) === key)) return entry;
  }
  return null;
}

async function lookupPasswd(key: string): Promise<PasswdEntry | null> {
  const found = await getent(key);
  return found === undefined ? fromEtcPasswd(key) : found;
}

/**
 * Resolve one account: a name must exist; a numeric uid may lack a passwd
 * entry (its gid is then the one given, or the uid). Root is refused.
 */
export async function resolveUnixAccount(spec: string): Promise<UnixAccount> {
  const text = spec.trim();
  const numeric = NUMERIC.exec(text);
  let account: UnixAccount;
  if (numeric) {
    const uid = Number(numeric[1]);
    const entry = await lookupPasswd(String(uid));
    const gid = numeric[2] !== undefined ? Number(numeric[2]) : (entry?.gid ?? uid);
    account = { uid, gid, name: entry?.name ?? null };
  } else if (NAME.test(text)) {
    const entry = await lookupPasswd(text);
    if (!entry) throw new InvalidInputError(`There is no Unix account "${text}" on this host (getent passwd ${text} found nothing)`);
    account = { uid: entry.uid, gid: entry.gid, name: entry.name };
  } else {
    throw new InvalidInputError(`"${spec}" is not a Unix account: give a user name, a numeric uid, or uid:gid`);
  }
  if (account.uid === 0 || account.gid === 0) {
    throw new InvalidInputError(`The account "${text}" is root (uid ${account.uid}, gid ${account.gid}); jobs never run as root`);
  }
  return account;
}

/** "nobody (65534:65534)", for logs and status lines. */
export function describeAccount(account: UnixAccount): string {
  return `${account.name ?? `uid ${account.uid}`} (${account.uid}:${account.gid})`;
}

/** Resolve the default account and every mapped one now, so a typo stops the provider at start. */
export async function createAccountMap(options: AccountMapOptions = {}): Promise<AccountMap> {
  const defaultAccount = await resolveUnixAccount(options.defaultAccount ?? 'nobody');
  const users = new Map<string, UnixAccount>();
  for (const [user, spec] of Object.entries(options.users ?? {})) {
    try {
      users.set(user, await resolveUnixAccount(spec));
    } catch (error) {
      throw new InvalidInputError(`The account of Switchyard user ${user}: ${(error as Error).message}`, { cause: error });
    }
  }
  return {
    defaultAccount,
    accountFor: (user) => users.get(user) ?? defaultAccount,
    accounts() {
      const seen = new Map<string, UnixAccount>();
      for (const account of [defaultAccount, ...users.values()]) seen.set(`${account.uid}:${account.gid}`, account);
      return [...seen.values()];
    },
  };
}
