/**
 * The provider API as one typed table: each verb with the schema of its
 * request and of its result. The provider runtime validates what it serves
 * with it, and the gateway's typed client what it sends and receives, so the
 * two ends cannot drift apart and no call site names a schema of its own.
 */
import type { z } from 'zod';

import {
  createJobsRequestSchema,
  createJobsResultSchema,
  emptyRequestSchema,
  extendRequestSchema,
  extendResultSchema,
  graphqlExecuteResultSchema,
  graphqlRequestSchema,
  graphqlSdlResultSchema,
  itemResultsSchema,
  jobIdsRequestSchema,
  manifestResultSchema,
  observationsResultSchema,
  reconcileRequestSchema,
  sessionRequestSchema,
  sessionResultSchema,
  terminateRequestSchema,
  utilizationResultSchema,
} from './protocol.js';
import type { ProviderVerb } from './subjects.js';

export const PROVIDER_API = {
  manifest: { request: emptyRequestSchema, result: manifestResultSchema },
  utilization: { request: emptyRequestSchema, result: utilizationResultSchema },
  'jobs.create': { request: createJobsRequestSchema, result: createJobsResultSchema },
  'jobs.terminate': { request: terminateRequestSchema, result: itemResultsSchema },
  'jobs.extend': { request: extendRequestSchema, result: extendResultSchema },
  'jobs.suspend': { request: jobIdsRequestSchema, result: itemResultsSchema },
  'jobs.unsuspend': { request: jobIdsRequestSchema, result: itemResultsSchema },
  'jobs.session': { request: sessionRequestSchema, result: sessionResultSchema },
  'jobs.retrieve': { request: jobIdsRequestSchema, result: observationsResultSchema },
  'jobs.reconcile': { request: reconcileRequestSchema, result: observationsResultSchema },
  graphql: { request: graphqlRequestSchema, result: graphqlSdlResultSchema.or(graphqlExecuteResultSchema) },
} as const satisfies Record<ProviderVerb, { request: z.ZodType; result: z.ZodType }>;

/** The verbs the table defines: every verb. */
export type ProviderApiVerb = keyof typeof PROVIDER_API;

/** The request without its version field; distributive, so that each variant of a union (graphql's ops) keeps its own fields. */
type WithoutVersion<T> = T extends unknown ? Omit<T, 'v'> : never;

/** What a caller sends for a verb: the request without its version field, defaults optional. */
export type ProviderRequest<V extends ProviderApiVerb> = WithoutVersion<z.input<(typeof PROVIDER_API)[V]['request']>>;

/** What a provider answers for a verb. */
export type ProviderResult<V extends ProviderApiVerb> = z.infer<(typeof PROVIDER_API)[V]['result']>;
