/**
 * Where the command line keeps the gateway's URL and the user's token between
 * runs: `$SWITCHYARD_CONFIG`, else `$XDG_CONFIG_HOME/switchyard/config.json`,
 * else `~/.config/switchyard/config.json`. The token is a secret: the folder is
 * made 0700 and the file written 0600, replaced whole (write, then rename).
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';

import { CliError, EXIT } from './exit-codes.js';

/** A login through an OpenID provider (sso.ts): where to renew its access token, and until when it holds. */
const ssoLoginSchema = z.object({
  issuer: z.string().url(),
  clientId: z.string().min(1),
  resource: z.string().optional(),
  refreshToken: z.string().min(1).optional(),
  /** Milliseconds since the epoch. */
  expiresAt: z.number(),
});
export type SsoLogin = z.infer<typeof ssoLoginSchema>;

const savedLoginSchema = z.object({
  url: z.string().url(),
  token: z.string().min(1),
  username: z.string().optional(),
  sso: ssoLoginSchema.optional(),
});
export type SavedLogin = z.infer<typeof savedLoginSchema>;

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SWITCHYARD_CONFIG) return env.SWITCHYARD_CONFIG;
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'switchyard', 'config.json');
}

/** The saved login, or null when there is none; a file that is not ours is an error, not silently ignored. */
export function readSavedLogin(path = configPath()): SavedLogin | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  const parsed = savedLoginSchema.safeParse(json);
  if (!parsed.success)
    throw new CliError(
      `${path} is not a Switchyard login (${parsed.error.issues[0]?.message ?? 'bad shape'}); remove it or log in again`,
      EXIT.usage,
    );
  return parsed.data;
}

export function saveLogin(login: SavedLogin, path = configPath()): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  // The mode given to writeFileSync applies only to a new file, and through the umask.
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}

export function forgetLogin(path = configPath()): boolean {
  try {
    rmSync(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
