/**
 * A real, standards-conformant OpenID provider for the SSO tests: the npm
 * package oidc-provider on a loopback port, with its own signing key,
 * resource indicators (JWT access tokens for an audience), the
 * authorization-code flow with PKCE, client credentials, and the device flow
 * with refresh tokens for a public command-line client. Its interactions
 * are a minimal login form checking a password, and a consent given at once
 * (a first-party client). Access tokens carry `preferred_username` and
 * `groups`, as Keycloak's mappers put them there.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import { Provider, type ClientMetadata, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';

export interface TestAccount {
  password: string;
  groups: string[];
}

export interface IdentityProvider {
  /** Where it listens: also its issuer, unless it was started as another's impostor. */
  url: string;
  issuer: string;
  /** Its users by login name; change a user's groups and its next token carries them. */
  accounts: Map<string, TestAccount>;
  /** A user's access token through the authorization-code flow, logging in with its password as a browser would. */
  login(username: string, options?: { resource?: string; client?: 'app' | 'short-lived' }): Promise<string>;
  /**
   * What the person at a browser does with a device sign-in's address: opens it, confirms the
   * code (or aborts), and logs in with its password when asked.
   */
  confirmDevice(completeUri: string, username: string, options?: { deny?: boolean }): Promise<void>;
  /** A service token through the client-credentials grant. */
  serviceToken(resource?: string): Promise<string>;
  stop(): Promise<void>;
}

/** The audience of the gateway's tokens (a resource indicator), and one of another service. */
export const GATEWAY_AUDIENCE = 'https://switchyard.test/';
export const OTHER_AUDIENCE = 'https://elsewhere.test/';

const REDIRECT_URI = 'http://127.0.0.1/callback';
/** The public client of the command line's device flow. */
export const CLI_CLIENT_ID = 'switchyard-cli';
const SECRET = 'a-client-secret-for-the-sso-tests';
/** Both clients: confidential, code flow, ID tokens signed with the provider's only key type. */
const CLIENT: Omit<ClientMetadata, 'client_id'> = {
  client_secret: SECRET,
  redirect_uris: [REDIRECT_URI],
  response_types: ['code'],
  id_token_signed_response_alg: 'ES256',
};
/** Seconds an access token of the `short-lived` client lasts. */
export const SHORT_TTL_SECONDS = 1;
/** Seconds the command line's access tokens last: under its renewal margin, so each later run renews its token. */
export const CLI_TTL_SECONDS = 20;

/** A cookie jar for one browser: names to values, as Set-Cookie leaves them (paths are not kept apart). */
function cookieJar() {
  const cookies = new Map<string, string>();
  return {
    header: () => [...cookies].map(([name, value]) => `${name}=${value}`).join('; '),
    take(response: Response) {
      for (const line of response.headers.getSetCookie()) {
        const [pair = '', ...attributes] = line.split(';');
        const at = pair.indexOf('=');
        const [name, value] = [pair.slice(0, at).trim(), pair.slice(at + 1).trim()];
        const expired = attributes.some((a) => /^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]!) < Date.now());
        if (value === '' || expired) cookies.delete(name);
        else cookies.set(name, value);
      }
    },
  };
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString());
}

/**
 * Starts a provider. `issuer`: the issuer it claims to be (default: its own URL); another
 * provider's issuer makes an impostor that signs with its own keys.
 */
export async function startIdentityProvider(options: { issuer?: string } = {}): Promise<IdentityProvider> {
  const accounts = new Map<string, TestAccount>();
  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = options.issuer ?? url;

  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: randomBytes(8).toString('hex'), alg: 'ES256', use: 'sig' };
  const configuration: Configuration = {
    clients: [
      { ...CLIENT, client_id: 'app', grant_types: ['authorization_code', 'client_credentials'] },
      { ...CLIENT, client_id: 'short-lived', grant_types: ['authorization_code'] },
      // The command line's: public (no secret on a user's machine), device flow and refresh tokens.
      {
        client_id: CLI_CLIENT_ID,
        token_endpoint_auth_method: 'none',
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
        response_types: [],
        redirect_uris: [],
        id_token_signed_response_alg: 'ES256',
      },
    ],
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    scopes: ['openid', 'offline_access', 'api'],
    // offline_access is granted at the consent below, for every client that may refresh.
    issueRefreshToken: (_ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    findAccount: (_ctx, id) => (accounts.has(id) ? { accountId: id, claims: () => ({ sub: id }) } : undefined),
    extraTokenClaims: (_ctx, token) => {
      const accountId = 'accountId' in token ? (token as { accountId?: unknown }).accountId : undefined;
      const account = typeof accountId === 'string' ? accounts.get(accountId) : undefined;
      return account ? { preferred_username: accountId, groups: account.groups } : undefined;
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      // Plain pages, so a test can act as the person at the browser (confirmDevice).
      deviceFlow: {
        enabled: true,
        userCodeInputSource: (ctx, form) => void (ctx.body = `<!DOCTYPE html><html><body>${form}</body></html>`),
        userCodeConfirmSource: (ctx, form, _client, _device, userCode) =>
          void (ctx.body = `<!DOCTYPE html><html><body><p>${userCode}</p>${form}</body></html>`),
        successSource: (ctx) => void (ctx.body = '<!DOCTYPE html><html><body><p>signed in</p></body></html>'),
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => GATEWAY_AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: KoaContextWithOIDC, indicator: string, client) => ({
          scope: 'api',
          audience: indicator,
          accessTokenFormat: 'jwt',
          accessTokenTTL: client.clientId === 'short-lived' ? SHORT_TTL_SECONDS : client.clientId === CLI_CLIENT_ID ? CLI_TTL_SECONDS : 600,
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 600,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 600,
      AuthorizationCode: 60,
      DeviceCode: 600,
      RefreshToken: 3_600,
      Grant: 600,
      IdToken: 600,
      Interaction: 600,
      Session: 600,
    },
  };
  // Requests reach handle() only once the provider is made: the server's address was needed first, for the issuer.
  const provider = new Provider(issuer, configuration);

  /** The login form, and a consent given at once; everything else is the provider's. */
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    if (!path.startsWith('/interaction/')) return provider.callback()(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      if (details.prompt.name === 'login') {
        if (req.method !== 'POST') {
          res.writeHead(200, { 'content-type': 'text/html' });
          res.end(`<form method="post"><input name="username"><input name="password" type="password"></form>`);
          return;
        }
        const form = await readForm(req);
        const username = form.get('username') ?? '';
        if (accounts.get(username)?.password !== form.get('password')) {
          res.writeHead(401, { 'content-type': 'text/plain' });
          res.end('wrong user name or password');
          return;
        }
        await provider.interactionFinished(req, res, { login: { accountId: username } }, { mergeWithLastSubmission: false });
        return;
      }
      const grant = details.grantId
        ? (await provider.Grant.find(details.grantId))!
        : new provider.Grant({ accountId: details.session!.accountId, clientId: details.params.client_id as string });
      const missing = details.prompt.details as { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    } catch (error) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(error));
    }
  }

  const basic = (client: string) => `Basic ${Buffer.from(`${client}:${SECRET}`).toString('base64')}`;
  const tokenRequest = async (client: string, body: Record<string, string>): Promise<string> => {
    const res = await fetch(`${url}/token`, {
      method: 'POST',
      headers: { authorization: basic(client), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(body),
    });
    const answer = (await res.json()) as { access_token?: string };
    if (!res.ok || !answer.access_token) throw new Error(`token endpoint answered ${res.status}: ${JSON.stringify(answer)}`);
    return answer.access_token;
  };

  return {
    url,
    issuer,
    accounts,
    async login(username, loginOptions = {}) {
      const client = loginOptions.client ?? 'app';
      const resource = loginOptions.resource ?? GATEWAY_AUDIENCE;
      const verifier = randomBytes(32).toString('base64url');
      const jar = cookieJar();
      const authorize = new URL(`${url}/auth`);
      authorize.search = new URLSearchParams({
        client_id: client,
        response_type: 'code',
        redirect_uri: REDIRECT_URI,
        scope: 'openid api',
        resource,
        state: randomBytes(8).toString('hex'),
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
      }).toString();
      let next = authorize.href;
      for (let step = 0; step < 12; step++) {
        if (next.startsWith(REDIRECT_URI)) {
          const code = new URL(next).searchParams.get('code');
          if (!code) throw new Error(`the provider redirected back without a code: ${next}`);
          return tokenRequest(client, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier, resource });
        }
        let res = await fetch(next, { redirect: 'manual', headers: { cookie: jar.header() } });
        jar.take(res);
        if (res.status === 200 && (res.headers.get('content-type') ?? '').includes('text/html')) {
          // The login form: submit the user's credentials to the same address.
          res = await fetch(next, {
            method: 'POST',
            redirect: 'manual',
            headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ username, password: accounts.get(username)?.password ?? '' }),
          });
          jar.take(res);
        }
        const location = res.headers.get('location');
        if (res.status < 300 || res.status >= 400 || !location) throw new Error(`login stopped at ${next}: HTTP ${res.status} ${await res.text()}`);
        next = new URL(location, next).href;
      }
      throw new Error('the login went round in circles');
    },
    async confirmDevice(completeUri, username, { deny = false } = {}) {
      const jar = cookieJar();
      let next = completeUri;
      let method: 'GET' | 'POST' = 'GET';
      let body: URLSearchParams | undefined;
      for (let step = 0; step < 12; step++) {
        const res: Response = await fetch(next, {
          method,
          redirect: 'manual',
          headers: { cookie: jar.header(), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
          body,
        });
        jar.take(res);
        const location: string | null = res.headers.get('location');
        if (res.status >= 300 && res.status < 400 && location) {
          [next, method, body] = [new URL(location, next).href, 'GET', undefined];
          continue;
        }
        const page = await res.text();
        if (res.status !== 200) throw new Error(`the device sign-in stopped at ${next}: HTTP ${res.status} ${page}`);
        if (page.includes('signed in') && !page.includes('<form')) return;
        const form = /<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/.exec(page);
        if (!form) {
          // The login form: the person types their name and password.
          [method, body] = ['POST', new URLSearchParams({ username, password: accounts.get(username)?.password ?? '' })];
          continue;
        }
        // The confirmation: its hidden fields sent back, as its button does (or its abort button).
        const fields = new URLSearchParams([...form[2]!.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
        if (deny) fields.set('abort', 'yes');
        [next, method, body] = [new URL(form[1]!, next).href, 'POST', fields];
        if (deny) {
          const answer = await fetch(next, { method, body, redirect: 'manual', headers: { cookie: jar.header() } });
          if (answer.status >= 400) throw new Error(`the abort was refused: HTTP ${answer.status}`);
          return;
        }
      }
      throw new Error('the device sign-in went round in circles');
    },
    serviceToken(resource = GATEWAY_AUDIENCE) {
      return tokenRequest('app', { grant_type: 'client_credentials', scope: 'api', resource });
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
