/**
 * The GraphQL server: the contract's schema (the project's copy in
 * schema/core.graphql) with our resolvers, auth in the context, contract error
 * codes at the boundary, and everything else masked and logged.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';

import type { Clock } from '../../shared/clock.js';
import { isErrorCode, SwitchyardError, UnauthenticatedError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { Auth } from '../access/auth.js';
import type { Projects } from '../access/projects.js';
import { inWorkspace, PROJECT_HEADER } from '../access/workspace.js';
import type { Accounting } from '../accounting/accounting.js';
import type { ApoloTokens } from '../dialects/apolo/apolo-tokens.js';
import type { JobFeed } from '../jobs/job-feed.js';
import type { Orchestrator } from '../jobs/orchestrator.js';
import type { GatewayMetrics } from '../metrics.js';
import type { ProviderRegistry } from '../registry/provider-registry.js';
import type { UtilizationCache } from '../registry/utilization-cache.js';
import type { Schedules } from '../schedules/schedules.js';
import type { Services } from '../services/services.js';
import type { SessionOpener } from '../sessions/session-opener.js';
import type { SchemaManager } from '../stitching/schema-manager.js';
import type { Store } from '../store/store.js';
import { useAcceptableResponse } from './plugins/use-acceptable-response.js';
import { useBaseSchema } from './plugins/use-base-schema.js';
import { useCurrentSchema } from './plugins/use-current-schema.js';
import { useErrorCodes } from './plugins/use-error-codes.js';
import { useOperationMetrics } from './plugins/use-operation-metrics.js';
import { requestLimits, useRequestLimits, type RequestLimits } from './plugins/use-request-limits.js';
import { createRequestLoaders, createResolvers, type GatewayContext } from './resolvers.js';

const SCHEMA_DIR = new URL('../schema/', import.meta.url);
/** The contract first, then our extensions of it (`extend type ...`), in name order. */
export const schemaSources = [
  'core.graphql',
  ...readdirSync(SCHEMA_DIR)
    .filter((name) => name.endsWith('.graphql') && name !== 'core.graphql')
    .sort(),
].map((name) => readFileSync(new URL(name, SCHEMA_DIR), 'utf8'));

export interface GatewayYogaOptions {
  auth: Auth;
  projects: Projects;
  orchestrator: Orchestrator;
  registry: ProviderRegistry;
  store: Store;
  feed: JobFeed;
  metrics: GatewayMetrics;
  logger: Logger;
  schemas: SchemaManager;
  utilization: UtilizationCache;
  accounting: Accounting;
  clock: Clock;
  sessions: SessionOpener;
  schedules: Schedules;
  services: Services;
  /** Apolo's tokens while the Apolo dialect is served; null: issueApoloToken is UNSUPPORTED. */
  apoloTokens?: ApoloTokens | null;
  /** Aliases, depth, tokens, directives, cost and body size of one request; see {@link RequestLimits} for each default. */
  limits?: Partial<RequestLimits>;
}

const HTTP_STATUS: Partial<Record<string, number>> = { UNAUTHENTICATED: 401 };

/** A SwitchyardError becomes a GraphQLError carrying its code; anything else is masked. */
export function toGraphQLError(error: unknown, logger: Logger): GraphQLError {
  let original: unknown = error;
  while (original instanceof GraphQLError && original.originalError) original = original.originalError;
  if (original instanceof SwitchyardError) {
    const status = HTTP_STATUS[original.code];
    return new GraphQLError(original.message, {
      nodes: error instanceof GraphQLError ? error.nodes : undefined,
      path: error instanceof GraphQLError ? error.path : undefined,
      extensions: { code: original.code, ...(status ? { http: { status } } : {}) },
    });
  }
  if (original instanceof GraphQLError) {
    // GraphQL's own refusals (a variable of the wrong type, a missing argument) are the caller's bad input,
    // and so are Yoga's refusals of a request with its own codes (BAD_REQUEST, REQUEST_ENTITY_TOO_LARGE) and a 4xx.
    // Yoga's originalError (a SyntaxError quoting the body, say) never travels back.
    const { originalError: _internal, ...extensions } = original.extensions ?? {};
    const code = extensions.code;
    const status = (extensions.http as { status?: number } | undefined)?.status;
    if (code && (isErrorCode(code) || !status || status >= 500)) {
      return new GraphQLError(original.message, { nodes: original.nodes, path: original.path, extensions });
    }
    return new GraphQLError(original.message, { nodes: original.nodes, path: original.path, extensions: { ...extensions, code: 'INVALID_INPUT' } });
  }
  if (original instanceof SyntaxError && !(error instanceof GraphQLError && error.path)) {
    // Outside any resolver, a SyntaxError is Yoga reading the request: variables or extensions that are not JSON.
    return new GraphQLError('The request does not parse: variables and extensions must be JSON objects', {
      extensions: { code: 'INVALID_INPUT', http: { status: 400 } },
    });
  }
  logger.error({ err: original }, 'unexpected error in a GraphQL operation');
  return new GraphQLError('Internal error', {
    path: error instanceof GraphQLError ? error.path : undefined,
    extensions: { code: 'INTERNAL' },
  });
}

/** The contract's schema with the gateway's own resolvers: the base every provider subschema is stitched onto. */
export function createBaseSchema(): GraphQLSchema {
  return makeExecutableSchema({ typeDefs: schemaSources, resolvers: createResolvers() });
}

/** The gateway's URL as this request reached it (scheme, host, port); null without an HTTP request (a websocket operation). */
function originOf(request: Request | undefined): string | null {
  if (!request) return null;
  try {
    return new URL(request.url).origin;
  } catch {
    return null;
  }
}

export function createGatewayYoga(options: GatewayYogaOptions): YogaServerInstance<Record<string, unknown>, GatewayContext> {
  const { auth, logger } = options;
  const limits = requestLimits(options.limits);
  return createYoga<Record<string, unknown>, GatewayContext>({
    schema: options.schemas.current(),
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: false,
    logging: false,
    // Limits before useErrorCodes: it recognises its refusals before they are copied.
    plugins: [
      useAcceptableResponse(),
      useCurrentSchema(options.schemas),
      useRequestLimits({ ...limits, metrics: options.metrics }),
      useErrorCodes(),
      useOperationMetrics(options.metrics),
      // Last: the operation runs on the contract's schema when that is all it asks for.
      useBaseSchema(options.schemas.base),
    ],
    maxRequestBodySize: limits.maxBodyBytes,
    // No cache of parse errors: a document over the token limit is refused (and counted) each time, and costs only up to the limit.
    parserAndValidationCache: { errorCache: { get: () => undefined, set: () => undefined } },
    maskedErrors: { maskError: (error) => toGraphQLError(error, logger) },
    context: async (initial): Promise<GatewayContext> => {
      const { request, connectionParams, req } = initial as {
        request?: Request;
        connectionParams?: Record<string, unknown>;
        req?: { headers: Record<string, string | string[] | undefined> };
      };
      // Over HTTP a header; over a websocket the upgrade request's header or a connection parameter.
      const headerOf = (name: string, param: string): string | undefined => {
        const upgrade = req?.headers[name];
        const value =
          request?.headers.get(name) ?? (typeof upgrade === 'string' ? upgrade : undefined) ?? connectionParams?.[param] ?? connectionParams?.[name];
        return typeof value === 'string' ? value : undefined;
      };
      try {
        const viewer = await inWorkspace(
          options.store,
          await auth.authenticate(headerOf('authorization', 'Authorization')),
          headerOf(PROJECT_HEADER, 'Project'),
        );
        return {
          viewer,
          projects: options.projects,
          orchestrator: options.orchestrator,
          registry: options.registry,
          utilization: options.utilization,
          store: options.store,
          auth,
          feed: options.feed,
          accounting: options.accounting,
          clock: options.clock,
          sessions: options.sessions,
          schedules: options.schedules,
          services: options.services,
          apoloTokens: options.apoloTokens ?? null,
          origin: originOf(request),
          loaders: createRequestLoaders(options.accounting, options.store, { registry: options.registry, quotas: options.orchestrator.quotas }),
        };
      } catch (error) {
        if (error instanceof UnauthenticatedError) {
          throw new GraphQLError(error.message, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
        }
        throw error;
      }
    },
  });
}
