/**
 * Signing in through the organisation's OpenID provider, for a terminal with
 * no browser of its own: the OAuth device flow (RFC 8628) with openid-client.
 * The gateway publishes which issuers offer it (GET /api/v1/sso); the user
 * opens the issuer's page anywhere, confirms the code, and the command line
 * keeps the access token and, where the issuer gives one, a refresh token
 * that renews it before it runs out.
 */
import * as oidc from 'openid-client';
import { z } from 'zod';

import { saveLogin, type SavedLogin, type SsoLogin } from './config-file.js';
import { CliError, EXIT } from './exit-codes.js';

const signInsSchema = z.object({
  issuers: z.array(z.object({ issuer: z.string().url(), clientId: z.string().min(1), scope: z.string().min(1), resource: z.string().optional() })),
});
export type CommandLineSignIn = z.infer<typeof signInsSchema>['issuers'][number];

/** Seconds before its expiry at which an access token is renewed: a request must not reach the gateway with a token about to lapse. */
const RENEW_MARGIN_MS = 30_000;

/** The issuers the gateway lets a command line sign in with. */
export async function commandLineSignIns(url: string): Promise<CommandLineSignIn[]> {
  let response: Response;
  try {
    response = await fetch(`${url}/api/v1/sso`);
  } catch (error) {
    throw new CliError(`cannot reach the gateway: ${(error as Error).message}`, EXIT.unreachable);
  }
  const parsed = signInsSchema.safeParse(await response.json().catch(() => null));
  if (!response.ok || !parsed.success) throw new CliError(`the gateway at ${url} offers no single sign-on (HTTP ${response.status})`, EXIT.refused);
  return parsed.data.issuers;
}

/** The issuer to sign in with: the one named, or the only one offered. */
export function chooseSignIn(offered: readonly CommandLineSignIn[], wanted: string | undefined): CommandLineSignIn {
  const names = offered.map((o) => o.issuer).join(', ');
  if (offered.length === 0) throw new CliError('the gateway offers no single sign-on for the command line', EXIT.refused);
  if (wanted === undefined) {
    if (offered.length > 1) throw new CliError(`the gateway offers several issuers; name one with --sso <issuer>: ${names}`, EXIT.usage);
    return offered[0]!;
  }
  const chosen = offered.find((o) => o.issuer === wanted || o.issuer.replace(/\/+$/, '') === wanted.replace(/\/+$/, ''));
  if (!chosen) throw new CliError(`the gateway does not offer ${wanted}; it offers: ${names}`, EXIT.usage);
  return chosen;
}

/** Plain http is accepted only on this machine's loopback, as for a test or a local identity provider. */
function isLoopback(url: URL): boolean {
  return ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

async function discover(issuer: string, clientId: string): Promise<oidc.Configuration> {
  const url = new URL(issuer);
  const insecure = url.protocol === 'http:';
  if (insecure && !isLoopback(url)) throw new CliError(`${issuer} is not https: the command line sends tokens to https issuers only`, EXIT.refused);
  try {
    return await oidc.discovery(url, clientId, undefined, oidc.None(), insecure ? { execute: [oidc.allowInsecureRequests] } : undefined);
  } catch (error) {
    throw new CliError(`cannot read ${issuer}'s OpenID configuration: ${(error as Error).message}`, EXIT.unreachable);
  }
}

function resourceParameter(signIn: { resource?: string }): Record<string, string> {
  return signIn.resource ? { resource: signIn.resource } : {};
}

function ssoRecord(
  signIn: Pick<SsoLogin, 'issuer' | 'clientId' | 'resource'>,
  tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers,
  now: number,
): SsoLogin {
  return {
    issuer: signIn.issuer,
    clientId: signIn.clientId,
    ...(signIn.resource ? { resource: signIn.resource } : {}),
    ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
    expiresAt: now + (tokens.expiresIn() ?? 0) * 1000,
  };
}

/**
 * The device flow: asks the issuer for a code, tells the user where to
 * confirm it (`prompt`), and waits while the issuer says it is pending,
 * slowing down when it says so, until it answers with tokens or refuses.
 */
export async function deviceSignIn(
  signIn: CommandLineSignIn,
  prompt: (where: { uri: string; userCode: string; completeUri?: string }) => void,
): Promise<{ accessToken: string; sso: SsoLogin }> {
  const config = await discover(signIn.issuer, signIn.clientId);
  let device: oidc.DeviceAuthorizationResponse;
  try {
    device = await oidc.initiateDeviceAuthorization(config, { scope: signIn.scope, ...resourceParameter(signIn) });
  } catch (error) {
    throw new CliError(`${signIn.issuer} refused the device sign-in: ${(error as Error).message}`, EXIT.refused);
  }
  prompt({ uri: device.verification_uri, userCode: device.user_code, completeUri: device.verification_uri_complete });
  try {
    const tokens = await oidc.pollDeviceAuthorizationGrant(config, device, resourceParameter(signIn));
    return { accessToken: tokens.access_token, sso: ssoRecord(signIn, tokens, Date.now()) };
  } catch (error) {
    // access_denied, expired_token: the user said no, or let the code run out.
    const code = (error as { error?: string }).error;
    throw new CliError(`the sign-in did not complete: ${code ?? (error as Error).message}`, EXIT.unauthenticated, 'UNAUTHENTICATED');
  }
}

/**
 * The saved login's access token, renewed with its refresh token first when
 * it is about to run out (and the renewal saved). A login that cannot be
 * renewed gives its token as it is: the gateway's answer then says to log in.
 */
export async function freshAccessToken(saved: SavedLogin): Promise<string> {
  const sso = saved.sso;
  if (!sso?.refreshToken || sso.expiresAt - Date.now() > RENEW_MARGIN_MS) return saved.token;
  const config = await discover(sso.issuer, sso.clientId);
  let tokens: Awaited<ReturnType<typeof oidc.refreshTokenGrant>>;
  try {
    tokens = await oidc.refreshTokenGrant(config, sso.refreshToken, resourceParameter(sso));
  } catch (error) {
    throw new CliError(
      `the single sign-on has ended (${(error as Error).message}): log in again with \`switchyard login --sso\``,
      EXIT.unauthenticated,
      'UNAUTHENTICATED',
    );
  }
  // An issuer that rotates refresh tokens sends a new one; one that does not keeps the old valid.
  const renewed = { ...ssoRecord(sso, tokens, Date.now()), refreshToken: tokens.refresh_token ?? sso.refreshToken };
  saveLogin({ ...saved, token: tokens.access_token, sso: renewed });
  return tokens.access_token;
}

/** Ends the sign-in at the issuer (the refresh token revoked), so a copy of the config file is worth nothing there. */
export async function revokeSso(sso: SsoLogin): Promise<void> {
  if (!sso.refreshToken) return;
  const config = await discover(sso.issuer, sso.clientId);
  await oidc.tokenRevocation(config, sso.refreshToken, { token_type_hint: 'refresh_token' });
}
