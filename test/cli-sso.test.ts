/**
 * `switchyard login --sso`: the real binary signs in through a real OpenID
 * provider (oidc-provider, run by the test) with the device flow, while the
 * test acts as the person who opens the printed address in a browser. Over
 * real NATS and Redis. The login is renewed with its refresh token once its
 * access token is about to run out, and logging out revokes it at the issuer.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { oidcIssuers } from '../gateway/access/oidc-config.js';
import { CLI_CLIENT_ID, GATEWAY_AUDIENCE, startIdentityProvider, type IdentityProvider } from './support/identity-provider.js';
import { startTenancyGateway, type TenancyGateway } from './support/tenancy-gateway.js';

const BIN = resolve(import.meta.dirname, '../bin/switchyard.js');
const NAMESPACE = 'corp';

let idp: IdentityProvider;
let env: TenancyGateway;
let count = 0;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `switchyard <args>` with its own config file; `onStderr` sees each piece
 * of what it prints there as it comes (the sign-in address is printed while it waits).
 */
function cli(configFile: string, args: string[], onStderr?: (text: string) => void): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, SWITCHYARD_URL: env.url, SWITCHYARD_CONFIG: configFile, NO_COLOR: '1', SWITCHYARD_TOKEN: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      onStderr?.(stderr);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? 1, stdout, stderr });
    });
  });
}

/** A person of the identity provider, a config file of its own, and its name at the gateway. */
function person(): { login: string; username: string; configFile: string } {
  const login = `dev${++count}`;
  idp.accounts.set(login, { password: `pw-${login}`, groups: [] });
  return { login, username: `${login}@${NAMESPACE}`, configFile: join(mkdtempSync(join(tmpdir(), 'switchyard-sso-')), 'config.json') };
}

/** `login --sso`, with the person confirming (or refusing) at the address it prints. */
function ssoLogin(who: ReturnType<typeof person>, options: { deny?: boolean } = {}): Promise<Run> {
  let confirming: Promise<void> | null = null;
  const run = cli(who.configFile, ['login', '--sso'], (stderr) => {
    const address = /Open (http\S+) to sign in/.exec(stderr)?.[1];
    if (address && !confirming) confirming = idp.confirmDevice(address, who.login, options);
  });
  return run.then(async (result) => {
    await confirming;
    return result;
  });
}

const saved = (configFile: string) =>
  JSON.parse(readFileSync(configFile, 'utf8')) as {
    token: string;
    username: string;
    sso?: { issuer: string; refreshToken?: string; expiresAt: number };
  };

beforeAll(async () => {
  idp = await startIdentityProvider();
  env = await startTenancyGateway({
    oidcIssuers: oidcIssuers([
      {
        issuer: idp.issuer,
        audience: GATEWAY_AUDIENCE,
        namespace: NAMESPACE,
        usernameClaim: 'preferred_username',
        algorithms: ['ES256'],
        commandLine: { clientId: CLI_CLIENT_ID, resource: GATEWAY_AUDIENCE },
      },
    ]),
  });
}, 60_000);
afterAll(async () => {
  await env?.stop();
  await idp?.stop();
});

describe('switchyard login --sso', () => {
  it('the gateway publishes the issuers a command line may sign in with, and no secret', async () => {
    const res = await fetch(`${env.url}/api/v1/sso`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      issuers: [{ issuer: idp.issuer, clientId: CLI_CLIENT_ID, scope: 'openid offline_access', resource: GATEWAY_AUDIENCE }],
    });
  });

  it('signs in with the device flow: the address and code on stderr, the tokens saved 0600, and the gateway knows the user', async () => {
    const who = person();
    const run = await ssoLogin(who);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/the code is [A-Z]{4}-[A-Z]{4}/);
    expect(run.stdout).toContain(`as ${who.username} through ${idp.issuer} (renewed as needed)`);
    expect(statSync(who.configFile).mode & 0o777).toBe(0o600);
    const login = saved(who.configFile);
    expect(login).toMatchObject({ username: who.username, sso: { issuer: idp.issuer, refreshToken: expect.any(String) } });

    const whoami = await cli(who.configFile, ['whoami']);
    expect(whoami).toMatchObject({ code: 0, stdout: `${who.username}\n` });
    // The user was created by its first request, with no password of its own.
    expect(await env.store.getUser(who.username)).toMatchObject({ username: who.username });
  }, 60_000);

  it('renews an access token about to run out with the refresh token, and keeps the renewal', async () => {
    const who = person();
    expect((await ssoLogin(who)).code).toBe(0);
    const first = saved(who.configFile);
    const run = await cli(who.configFile, ['--json', 'whoami']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ createdBy: who.username });
    const renewed = saved(who.configFile);
    expect(renewed.token).not.toBe(first.token);
    expect(renewed.sso!.expiresAt).toBeGreaterThan(first.sso!.expiresAt);
  }, 60_000);

  it('logs out by revoking the refresh token at the issuer, and forgets the login', async () => {
    const who = person();
    expect((await ssoLogin(who)).code).toBe(0);
    const { refreshToken } = saved(who.configFile).sso!;
    const run = await cli(who.configFile, ['logout']);
    expect(run).toMatchObject({ code: 0, stdout: `Logged out of ${env.url}.\n` });
    expect(() => statSync(who.configFile)).toThrow();
    const refresh = await fetch(`${idp.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: CLI_CLIENT_ID, refresh_token: refreshToken!, resource: GATEWAY_AUDIENCE }),
    });
    expect(refresh.status).toBe(400);
    expect(await refresh.json()).toMatchObject({ error: 'invalid_grant' });
  }, 60_000);

  it('a person who refuses at the issuer leaves the command line unauthenticated (exit 3), with nothing saved', async () => {
    const who = person();
    const run = await ssoLogin(who, { deny: true });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('access_denied');
    expect(() => statSync(who.configFile)).toThrow();
  }, 60_000);

  it('an issuer the gateway does not offer is a usage error (exit 2) naming the ones it does', async () => {
    const who = person();
    const run = await cli(who.configFile, ['login', '--sso', 'https://elsewhere.test/']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`it offers: ${idp.issuer}`);
  });
});
