/**
 * The gateway ⇄ provider protocol, version 1: every message is JSON with
 * `v: 1`, validated with these schemas on both ends.
 */
import { z } from 'zod';

import {
  idSchema,
  interactiveSessionTypeSchema,
  jobLogSchema,
  jobSpecificationSchema,
  jobStateSchema,
  manifestSchema,
  productSchema,
  providerKindSchema,
  utilizationSchema,
} from './domain.js';
import { ERROR_CODES } from './errors.js';

export const PROTOCOL_VERSION = 1;
const v = z.literal(PROTOCOL_VERSION);

export const errorBodySchema = z.object({ code: z.enum(ERROR_CODES), message: z.string() });

/** What a provider puts in the announcement bucket, and re-puts on every heartbeat. */
export const announcementSchema = z.object({
  v,
  id: idSchema,
  kind: providerKindSchema,
  version: z.string(),
  /** New on every process start: a change tells the gateway to reconcile. */
  instanceId: z.string(),
  manifestDigest: z.string(),
  startedAt: z.number(),
  heartbeatAt: z.number(),
  heartbeatIntervalMs: z.number().int().positive(),
  domain: z.string().nullable(),
  /** Digest of the provider's GraphQL subschema; null when it serves none. */
  subschemaDigest: z.string().nullable().default(null),
});
export type Announcement = z.infer<typeof announcementSchema>;

function buildReplySchema<T extends z.ZodType>(result: T) {
  return z.discriminatedUnion('ok', [z.object({ v, ok: z.literal(true), result }), z.object({ v, ok: z.literal(false), error: errorBodySchema })]);
}

/** Built once per result schema: building one costs ~100 µs, and both ends ask for it on every call. */
const replySchemas = new WeakMap<z.ZodType, ReturnType<typeof buildReplySchema>>();

/** Every reply: a result or a coded error, never a stack trace. */
export function replySchema<T extends z.ZodType>(result: T): ReturnType<typeof buildReplySchema<T>> {
  let schema = replySchemas.get(result);
  if (!schema) {
    schema = buildReplySchema(result);
    replySchemas.set(result, schema);
  }
  // Built from this very result schema, so it has this type.
  return schema as ReturnType<typeof buildReplySchema<T>>;
}

export const itemResultSchema = z.object({ ok: z.boolean(), error: errorBodySchema.nullable() });
export type ItemResult = z.infer<typeof itemResultSchema>;

export const emptyRequestSchema = z.object({ v });

export const createJobSchema = z.object({
  id: idSchema,
  owner: z.object({ createdBy: z.string(), project: z.string().nullable() }),
  specification: jobSpecificationSchema,
  product: productSchema,
  createdAt: z.number(),
});
export type CreateJob = z.infer<typeof createJobSchema>;

export const createJobsRequestSchema = z.object({ v, jobs: z.array(createJobSchema).max(1000) });
export const createJobsResultSchema = z.object({
  results: z.array(itemResultSchema.extend({ providerGeneratedId: z.string().nullable() })),
});

export const jobIdsRequestSchema = z.object({ v, ids: z.array(idSchema).max(1000) });
/** Terminate carries why, so the job's final update can say it ("No more credits"). */
export const terminateRequestSchema = jobIdsRequestSchema.extend({ reason: z.string().max(200).nullable().default(null) });
export const itemResultsSchema = z.object({ results: z.array(itemResultSchema) });

export const extendRequestSchema = z.object({
  v,
  items: z.array(z.object({ id: idSchema, addMs: z.number().int().positive() })).max(1000),
});
export const extendResultSchema = z.object({
  results: z.array(itemResultSchema.extend({ expiresAt: z.number().nullable() })),
});

/** What a provider knows of one job: its view, for reconcile and retrieve. */
export const jobObservationSchema = z.object({
  id: idSchema,
  /** Null: the provider has never heard of this job. */
  state: jobStateSchema.nullable(),
  status: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  startedAt: z.number().nullable(),
  /** When it reached its final state, by the provider's clock; absent from providers that do not say. */
  endedAt: z.number().nullable().optional(),
  expiresAt: z.number().nullable(),
  providerGeneratedId: z.string().nullable(),
});
export type JobObservation = z.infer<typeof jobObservationSchema>;

export const reconcileRequestSchema = z.object({ v, ids: z.array(idSchema).max(10_000) });
export const observationsResultSchema = z.object({ jobs: z.array(jobObservationSchema) });

export const manifestResultSchema = manifestSchema;

/** The graphql verb: fetch the provider's subschema SDL, or execute an operation against it. */
export const graphqlRequestSchema = z.discriminatedUnion('op', [
  z.object({ v, op: z.literal('sdl') }),
  z.object({
    v,
    op: z.literal('execute'),
    query: z.string().max(1_000_000),
    variables: z.record(z.string(), z.unknown()).nullable().default(null),
    operationName: z.string().nullable().default(null),
  }),
]);
export const graphqlSdlResultSchema = z.object({ sdl: z.string() });
export const graphqlExecuteResultSchema = z.object({
  data: z.record(z.string(), z.unknown()).nullable().optional(),
  errors: z.array(z.object({ message: z.string(), path: z.array(z.union([z.string(), z.number()])).optional() }).passthrough()).optional(),
});
export const utilizationResultSchema = utilizationSchema;

/** A TCP port: where a WEB session's app listens on the rank's host. */
export const sessionPortSchema = z.number().int().min(1).max(65_535);
const sessionTarget = {
  jobId: idSchema,
  rank: z.number().int().nonnegative(),
  type: interactiveSessionTypeSchema,
  /** WEB: the port the job's app listens on (absent for the other types). */
  port: sessionPortSchema.optional(),
};
/** Terminal size in characters; a resize message holds it to the same bounds. */
export const terminalSizeSchema = z.object({ cols: z.number().int().min(1).max(10_000), rows: z.number().int().min(1).max(10_000) });

/**
 * The jobs.session verb. `prepare`: may a session of this type be opened on this job's rank now
 * (asked when the credential is issued); `open`: start it, its bytes flowing on the session's own
 * subjects (see session-link.ts), answered once the provider listens there.
 */
export const sessionRequestSchema = z.discriminatedUnion('op', [
  z.object({ v, op: z.literal('prepare'), ...sessionTarget }),
  z.object({
    v,
    op: z.literal('open'),
    ...sessionTarget,
    sessionId: idSchema,
    size: terminalSizeSchema,
    /** Bytes the gateway lets the provider have in flight toward it. */
    window: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024),
    /** The heartbeat both ends keep, and how many missed beats end the session. */
    heartbeatMs: z.number().int().min(10).max(60_000),
    missedHeartbeats: z.number().int().min(1).max(100),
  }),
]);
export type SessionRequest = z.infer<typeof sessionRequestSchema>;
export const sessionResultSchema = z.object({});

/** A change to one job, published to JetStream by the provider that runs it. */
export const jobEventSchema = z.object({
  v,
  /** Deterministic per change: JetStream drops a repeat, the store ignores a replay. */
  eventId: z.string().min(1),
  jobId: idSchema,
  providerId: idSchema,
  state: jobStateSchema.nullable(),
  status: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  startedAt: z.number().nullable(),
  expiresAt: z.number().nullable(),
  newTimeAllocation: z.number().int().nullable(),
  providerGeneratedId: z.string().nullable(),
  /**
   * Usage so far as the backend counts it, in started price units times
   * replicas, suspended time excluded; null when the provider leaves it to the
   * gateway's own count (e.g. Slurm's accounting knows better than a clock).
   */
  usageUnits: z.number().int().nonnegative().nullable().default(null),
  timestamp: z.number(),
  /**
   * The event id of the job's event this runtime published before this one (its events and log
   * batches in one chain), null for its first: the gateway applies an event only after that one,
   * as a redelivery can bring them the other way round (gateway/jobs/event-order.ts).
   */
  after: z.string().min(1).nullable().default(null),
});
export type JobEvent = z.infer<typeof jobEventSchema>;

/** A batch of log lines of one job. */
export const logEventSchema = z.object({
  v,
  eventId: z.string().min(1),
  jobId: idSchema,
  providerId: idSchema,
  lines: z.array(jobLogSchema).min(1),
  /**
   * The event id of the job's event this runtime published before this one (its events and log
   * batches in one chain), null for its first: the gateway applies an event only after that one,
   * as a redelivery can bring them the other way round (gateway/jobs/event-order.ts).
   */
  after: z.string().min(1).nullable().default(null),
});
export type LogEvent = z.infer<typeof logEventSchema>;
