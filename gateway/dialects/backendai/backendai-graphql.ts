/**
 * The part of Backend.AI's admin GraphQL schema its clients list sessions with
 * (manager/models/gql.py compute_session_list, gql_models/session.py
 * ComputeSession and ComputeContainer, with the legacy names of the reference
 * document), executed with graphql-js over Switchyard jobs. JSONString fields
 * are JSON text, as graphene sends them. Listing itself (paging, access) is the
 * dialect's `SessionLister`; this module only shapes the answer.
 */
import { makeExecutableSchema } from '@graphql-tools/schema';
import { execute, GraphQLError, GraphQLScalarType, Kind, parse, validate, type DocumentNode, type ExecutionResult } from 'graphql';

import type { Job, Product } from '../../../shared/domain.js';
import { isFinalState } from '../../../shared/job-state-machine.js';
import {
  baiParameters,
  iso,
  sessionName,
  sessionResult,
  sessionStatus,
  slotsOf,
  statusChanged,
  statusHistory,
  statusInfo,
  terminatedAt,
} from './backendai-sessions.js';

const typeDefs = /* GraphQL */ `
  scalar UUID
  scalar DateTime
  scalar JSONString
  scalar BigInt

  type Query {
    compute_session_list(
      limit: Int!
      offset: Int!
      filter: String
      order: String
      domain_name: String
      group_id: String
      access_key: String
      status: String
    ): ComputeSessionList
    compute_session(id: UUID!): ComputeSession
  }

  type ComputeSessionList {
    items: [ComputeSession]!
    total_count: Int!
  }

  type ComputeSession {
    id: UUID
    session_id: UUID
    main_kernel_id: UUID
    tag: String
    name: String
    type: String
    main_kernel_role: String
    priority: Int
    image: String
    architecture: String
    registry: String
    cluster_template: String
    cluster_mode: String
    cluster_size: Int
    domain_name: String
    group_name: String
    group_id: UUID
    user_email: String
    full_name: String
    user_id: UUID
    access_key: String
    created_user_email: String
    created_user_id: UUID
    status: String
    status_changed: DateTime
    status_info: String
    status_data: JSONString
    status_history: JSONString
    created_at: DateTime
    terminated_at: DateTime
    starts_at: DateTime
    scheduled_at: DateTime
    startup_command: String
    result: String
    commit_status: String
    abusing_reports: [JSONString]
    idle_checks: JSONString
    agent_ids: [String]
    agents: [String]
    resource_opts: JSONString
    scaling_group: String
    service_ports: JSONString
    mounts: [String]
    vfolder_mounts: [String]
    occupying_slots: JSONString
    occupied_slots: JSONString
    requested_slots: JSONString
    num_queries: BigInt
    containers: [ComputeContainer]
    dependencies: [ComputeSession]
    inference_metrics: JSONString
    "Legacy names (the reference document's): session_name, sess_id, session_type, sess_type, user_uuid, lang."
    session_name: String
    sess_id: String
    session_type: String
    sess_type: String
    user_uuid: UUID
    lang: String
  }

  type ComputeContainer {
    id: UUID
    idx: Int
    role: String
    hostname: String
    kernel_id: UUID
    cluster_idx: Int
    local_rank: Int
    cluster_role: String
    cluster_hostname: String
    session_id: UUID
    image: String
    architecture: String
    registry: String
    status: String
    status_changed: DateTime
    status_info: String
    status_data: JSONString
    created_at: DateTime
    terminated_at: DateTime
    starts_at: DateTime
    scheduled_at: DateTime
    agent: String
    agent_addr: String
    container_id: String
    resource_opts: JSONString
    occupied_slots: JSONString
    live_stat: JSONString
    last_stat: JSONString
    preopen_ports: [Int]
  }
`;

const passThrough = (name: string) => new GraphQLScalarType({ name, serialize: (value) => value });
const JSONString = new GraphQLScalarType({
  name: 'JSONString',
  serialize: (value) => (typeof value === 'string' ? value : JSON.stringify(value)),
  parseValue: (value) => (typeof value === 'string' ? (JSON.parse(value) as unknown) : value),
});

/** compute_session_list's arguments, as the dialect lists by them. */
export interface SessionListArgs {
  limit: number;
  offset: number;
  filter?: string | null;
  order?: string | null;
  domain_name?: string | null;
  group_id?: string | null;
  access_key?: string | null;
  status?: string | null;
}

export interface SessionLister {
  list(args: SessionListArgs): Promise<{ jobs: Job[]; totalCount: number }>;
  /** A session by id that the caller may see; null otherwise. */
  get(id: string): Promise<Job | null>;
  /** The access key a session is listed under: the caller's for its own, the owner's first otherwise. */
  accessKeyOf(job: Job): Promise<string | null>;
  productOf(job: Job): Product | undefined;
}

interface Context {
  lister: SessionLister;
}

/** A session's container (one per replica): a Switchyard job's replicas are ranks of one job. */
interface Container {
  job: Job;
  rank: number;
}

const slotsText = (job: Job, ctx: Context, replicas = job.specification.replicas) => slotsOf(ctx.lister.productOf(job), replicas);
const occupied = (job: Job, ctx: Context, replicas?: number) =>
  isFinalState(job.state) || job.state === 'IN_QUEUE' ? {} : slotsText(job, ctx, replicas);

const resolvers = {
  UUID: passThrough('UUID'),
  DateTime: passThrough('DateTime'),
  BigInt: passThrough('BigInt'),
  JSONString,
  Query: {
    compute_session_list: (_: unknown, args: SessionListArgs, ctx: Context) =>
      ctx.lister.list(args).then(({ jobs, totalCount }) => ({ items: jobs, total_count: totalCount })),
    compute_session: (_: unknown, args: { id: string }, ctx: Context) => ctx.lister.get(args.id),
  },
  ComputeSession: {
    id: (job: Job) => job.id,
    session_id: (job: Job) => job.id,
    main_kernel_id: (job: Job) => job.id,
    tag: (job: Job) => baiParameters(job).tag,
    name: sessionName,
    session_name: sessionName,
    sess_id: sessionName,
    type: (job: Job) => baiParameters(job).type,
    session_type: (job: Job) => baiParameters(job).type,
    sess_type: (job: Job) => baiParameters(job).type,
    main_kernel_role: () => 'MAIN',
    priority: (job: Job) => job.specification.priority ?? 10,
    image: (job: Job) => job.specification.image,
    lang: (job: Job) => job.specification.image,
    architecture: (job: Job) => baiParameters(job).architecture,
    registry: () => null,
    cluster_template: () => null,
    cluster_mode: () => 'single-node',
    cluster_size: (job: Job) => job.specification.replicas,
    domain_name: () => 'default',
    group_name: (job: Job) => job.owner.project ?? 'default',
    group_id: (job: Job) => job.owner.project ?? 'default',
    user_email: (job: Job) => job.owner.createdBy,
    full_name: (job: Job) => job.owner.createdBy,
    user_id: (job: Job) => job.owner.createdBy,
    user_uuid: (job: Job) => job.owner.createdBy,
    access_key: (job: Job, _: unknown, ctx: Context) => ctx.lister.accessKeyOf(job),
    created_user_email: (job: Job) => job.owner.createdBy,
    created_user_id: (job: Job) => job.owner.createdBy,
    status: sessionStatus,
    status_changed: (job: Job) => iso(statusChanged(job)),
    status_info: statusInfo,
    status_data: (job: Job) => ({ exitCode: job.exitCode, provider: job.providerId, state: job.state }),
    status_history: statusHistory,
    created_at: (job: Job) => iso(job.createdAt),
    terminated_at: (job: Job) => iso(terminatedAt(job)),
    starts_at: () => null,
    scheduled_at: (job: Job) => iso(job.startedAt),
    startup_command: (job: Job) => baiParameters(job).startupCommand,
    result: sessionResult,
    commit_status: () => null,
    abusing_reports: () => [],
    idle_checks: () => ({}),
    agent_ids: (job: Job) => [job.providerId],
    agents: (job: Job) => [job.providerId],
    resource_opts: () => ({}),
    scaling_group: (job: Job) => job.providerId,
    service_ports: () => [],
    mounts: () => [],
    vfolder_mounts: () => [],
    occupying_slots: (job: Job, _: unknown, ctx: Context) => slotsText(job, ctx),
    occupied_slots: (job: Job, _: unknown, ctx: Context) => occupied(job, ctx),
    requested_slots: (job: Job, _: unknown, ctx: Context) => slotsText(job, ctx),
    num_queries: () => 0,
    containers: (job: Job): Container[] => Array.from({ length: job.specification.replicas }, (_, rank) => ({ job, rank })),
    dependencies: () => [],
    inference_metrics: () => null,
  },
  ComputeContainer: {
    id: ({ job, rank }: Container) => (rank === 0 ? job.id : `${job.id}-${rank}`),
    kernel_id: ({ job, rank }: Container) => (rank === 0 ? job.id : `${job.id}-${rank}`),
    idx: ({ rank }: Container) => rank,
    cluster_idx: ({ rank }: Container) => rank,
    local_rank: ({ rank }: Container) => rank,
    role: ({ rank }: Container) => (rank === 0 ? 'main' : 'sub'),
    cluster_role: ({ rank }: Container) => (rank === 0 ? 'main' : 'sub'),
    hostname: ({ rank }: Container) => `${rank === 0 ? 'main' : 'sub'}${rank}`,
    cluster_hostname: ({ rank }: Container) => `${rank === 0 ? 'main' : 'sub'}${rank}`,
    session_id: ({ job }: Container) => job.id,
    image: ({ job }: Container) => job.specification.image,
    architecture: ({ job }: Container) => baiParameters(job).architecture,
    registry: () => null,
    status: ({ job }: Container) => sessionStatus(job),
    status_changed: ({ job }: Container) => iso(statusChanged(job)),
    status_info: ({ job }: Container) => statusInfo(job),
    status_data: ({ job }: Container) => ({ exitCode: job.exitCode }),
    created_at: ({ job }: Container) => iso(job.createdAt),
    terminated_at: ({ job }: Container) => iso(terminatedAt(job)),
    starts_at: () => null,
    scheduled_at: ({ job }: Container) => iso(job.startedAt),
    agent: ({ job }: Container) => job.providerId,
    agent_addr: () => null,
    container_id: ({ job }: Container) => job.providerGeneratedId,
    resource_opts: () => ({}),
    occupied_slots: ({ job }: Container, _: unknown, ctx: Context) => occupied(job, ctx, 1),
    live_stat: () => ({}),
    last_stat: () => ({}),
    preopen_ports: () => [],
  },
};

const schema = makeExecutableSchema({ typeDefs, resolvers });

/** Root fields one request may ask for: each is a listing. */
const MAX_ROOT_FIELDS = 10;

export interface GraphqlRequest {
  query: string;
  variables?: Record<string, unknown> | null;
  operationName?: string | null;
}

/** Runs one request; parse and validation failures come back as `errors`, as graphene answers them. */
export async function runSessionQuery(request: GraphqlRequest, lister: SessionLister): Promise<ExecutionResult> {
  let document: DocumentNode;
  try {
    document = parse(request.query, { maxTokens: 5_000 });
  } catch (error) {
    return { errors: [error as GraphQLError] };
  }
  const roots = document.definitions.flatMap((d) => (d.kind === Kind.OPERATION_DEFINITION ? d.selectionSet.selections : []));
  if (roots.length > MAX_ROOT_FIELDS) return { errors: [new GraphQLError(`At most ${MAX_ROOT_FIELDS} root fields in one request.`)] };
  const errors = validate(schema, document);
  if (errors.length > 0) return { errors };
  return execute({ schema, document, variableValues: request.variables ?? {}, operationName: request.operationName, contextValue: { lister } });
}
