/**
 * The Shakudo dialect: its GraphQL API (POST /shakudo/graphql, the schema of
 * shakudo-schema.ts) and its Keycloak token endpoint
 * (/shakudo/auth/realms/Hyperplane/protocol/openid-connect/token), under
 * /shakudo, on the core. The GraphQL requests are held to the gateway's
 * request limits (depth, aliases, tokens, cost, body) as the core API's are.
 * dialects/README.md says what is mapped and what not.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { GraphQLError } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { z } from 'zod';

import { SwitchyardError } from '../../../shared/errors.js';
import { LoginThrottledError, type Viewer } from '../../access/auth.js';
import { useRequestLimits } from '../../graphql/plugins/use-request-limits.js';
import { readBody, sendJson } from '../../http-io.js';
import { clientAddress } from '../../http-server.js';
import { pathBelow, type Dialect, type DialectCore, type DialectModule } from '../dialect.js';
import { createShakudoResolvers, type ShakudoContext } from './shakudo-resolvers.js';
import { SHAKUDO_SDL } from './shakudo-schema.js';

const PREFIX = '/shakudo';
const GRAPHQL_PATH = '/graphql';
const TOKEN_PATH = '/auth/realms/Hyperplane/protocol/openid-connect/token';

const text = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((value) => !/\p{Cs}/u.test(value), 'must be valid Unicode text');
const tokenRequestSchema = z.discriminatedUnion('grant_type', [
  z.object({ grant_type: z.literal('password'), username: text(320), password: text(1024), client_id: z.string().max(200).optional() }),
  z.object({ grant_type: z.literal('refresh_token'), refresh_token: text(4096), client_id: z.string().max(200).optional() }),
]);

/** Keycloak's error answer: `{error, error_description}`. */
class KeycloakError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    description: string,
  ) {
    super(description);
    this.name = 'KeycloakError';
  }
}

/** A GraphQL answer of Shakudo's shape for a refusal before the schema runs (a bad token, a body too large). */
function graphqlRefusal(res: ServerResponse, status: number, message: string, code: string): void {
  if (status === 413) res.setHeader('connection', 'close');
  sendJson(res, status, { errors: [{ message, extensions: { code } }] });
}

export function createShakudoDialect(core: DialectCore): Dialect {
  const { auth, metrics, logger } = core;
  const schema = makeExecutableSchema({ typeDefs: SHAKUDO_SDL, resolvers: createShakudoResolvers(core) as never });
  const yoga = createYoga<{ viewer: Viewer }, ShakudoContext>({
    schema,
    graphqlEndpoint: `${PREFIX}${GRAPHQL_PATH}`,
    landingPage: false,
    graphiql: false,
    logging: false,
    plugins: [useRequestLimits({ ...core.requestLimits, metrics })],
    maxRequestBodySize: core.requestLimits.maxBodyBytes,
    parserAndValidationCache: { errorCache: { get: () => undefined, set: () => undefined } },
    maskedErrors: {
      maskError(error) {
        const original = error instanceof GraphQLError ? error.originalError : null;
        if (error instanceof GraphQLError && (!original || original instanceof GraphQLError)) return error;
        logger.error({ err: original ?? error }, 'shakudo request failed');
        return new GraphQLError('Internal server error', { extensions: { code: 'INTERNAL_SERVER_ERROR' } });
      },
    },
    context: ({ viewer }) => ({ viewer, cache: new Map() }),
  });

  const issue = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req, core.maxBodyBytes);
    if (raw === null) {
      metrics.requestsRefused.inc({ reason: 'body_size' });
      throw new KeycloakError(413, 'invalid_request', `The request body is larger than the limit of ${core.maxBodyBytes} bytes`);
    }
    const parsed = tokenRequestSchema.safeParse(Object.fromEntries(new URLSearchParams(raw)));
    if (!parsed.success) {
      const grant = new URLSearchParams(raw).get('grant_type');
      if (grant && grant !== 'password' && grant !== 'refresh_token')
        throw new KeycloakError(400, 'unsupported_grant_type', 'Unsupported grant_type');
      throw new KeycloakError(
        400,
        'invalid_request',
        'Send grant_type=password with username and password, or grant_type=refresh_token with refresh_token, as a form',
      );
    }
    const request = parsed.data;
    let viewer: Viewer;
    let access: { token: string; expiresAt: number };
    if (request.grant_type === 'password') {
      // Shakudo users sign in with their email; its local part is the Switchyard user name.
      const username = request.username.includes('@') ? request.username.slice(0, request.username.lastIndexOf('@')).toLowerCase() : request.username;
      let issued: Awaited<ReturnType<typeof auth.issueToken>>;
      try {
        issued = await auth.issueToken(username, request.password, clientAddress(req, core.trustedProxyHops));
      } catch (error) {
        if (!(error instanceof LoginThrottledError)) throw error;
        metrics.requestsRefused.inc({ reason: 'login_throttled' });
        res.setHeader('retry-after', String(Math.max(1, Math.ceil(error.retryAfterMs / 1000))));
        throw new KeycloakError(429, 'invalid_grant', error.message);
      }
      if (!issued) throw new KeycloakError(401, 'invalid_grant', 'Invalid user credentials');
      access = issued;
      viewer = await auth.authenticate(`Bearer ${issued.token}`);
    } else {
      try {
        viewer = await auth.authenticate(`Bearer ${request.refresh_token}`);
      } catch (error) {
        if (error instanceof SwitchyardError && error.code === 'UNAUTHENTICATED')
          throw new KeycloakError(400, 'invalid_grant', 'Invalid refresh token');
        throw error;
      }
      if (!viewer.tokenId) throw new KeycloakError(400, 'invalid_grant', 'Invalid refresh token');
      access = await auth.renewToken(viewer);
    }
    const refresh = await auth.renewToken(viewer);
    // A refresh token is used once (rotated), as Keycloak's are with refresh token rotation.
    if (request.grant_type === 'refresh_token') await auth.revokeToken(viewer, viewer.tokenId!);
    const now = core.clock.now();
    sendJson(res, 200, {
      access_token: access.token,
      expires_in: Math.max(0, Math.round((access.expiresAt - now) / 1000)),
      refresh_token: refresh.token,
      refresh_expires_in: Math.max(0, Math.round((refresh.expiresAt - now) / 1000)),
      token_type: 'Bearer',
      'not-before-policy': 0,
      scope: 'openid email profile',
    });
  };

  const graphql = async (req: IncomingMessage, res: ServerResponse) => {
    let viewer: Viewer;
    try {
      viewer = await auth.authenticate(req.headers.authorization);
    } catch (error) {
      if (error instanceof SwitchyardError && error.code === 'UNAUTHENTICATED') {
        return graphqlRefusal(res, 401, error.message, 'UNAUTHENTICATED');
      }
      throw error;
    }
    await yoga(req, res, { viewer });
  };

  const dialect: Dialect = {
    name: 'shakudo',
    prefix: PREFIX,
    async handle(req, res) {
      const { path } = pathBelow(dialect, req);
      try {
        if (path === GRAPHQL_PATH) {
          if (req.method !== 'POST') return graphqlRefusal(res, 405, 'Send GraphQL operations with POST', 'BAD_REQUEST');
          return await graphql(req, res);
        }
        if (path === TOKEN_PATH && req.method === 'POST') return await issue(req, res);
        if (path === TOKEN_PATH) throw new KeycloakError(405, 'invalid_request', 'HTTP 405 Method Not Allowed');
        sendJson(res, 404, { error: 'Not Found', error_description: `No Shakudo API at ${path}` });
      } catch (caught) {
        if (res.headersSent) return void res.destroy();
        if (caught instanceof KeycloakError) {
          if (caught.status === 413) res.setHeader('connection', 'close');
          return sendJson(res, caught.status, { error: caught.error, error_description: caught.message });
        }
        logger.error({ err: caught, path }, 'shakudo request failed');
        if (path === GRAPHQL_PATH) return graphqlRefusal(res, 500, 'Internal server error', 'INTERNAL_SERVER_ERROR');
        sendJson(res, 500, { error: 'server_error', error_description: 'Internal error' });
      }
    },
  };
  return dialect;
}

export const shakudoDialect: DialectModule = { name: 'shakudo', prefix: PREFIX, create: createShakudoDialect };
