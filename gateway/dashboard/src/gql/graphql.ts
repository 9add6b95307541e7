/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
export type AclEntryInput = {
  entity: string;
  permissions: Array<Permission>;
};

export type Backend =
  | 'DOCKER'
  | 'NATIVE'
  | 'VIRTUAL_MACHINE';

export type CircuitState =
  | 'CLOSED'
  | 'HALF_OPEN'
  | 'OPEN';

export type GrantInput = {
  amount: number;
  category: string;
  endDate?: string | null | undefined;
  isProject?: boolean;
  /** A user name or a project id. */
  owner: string;
  provider: string;
  startDate?: string | null | undefined;
};

export type InteractiveSessionType =
  | 'SHELL'
  | 'VNC'
  | 'WEB';

export type JobFilter = {
  application?: string | null | undefined;
  createdAfter?: string | null | undefined;
  createdBefore?: string | null | undefined;
  createdBy?: Array<string> | null | undefined;
  ids?: Array<string> | null | undefined;
  name?: string | null | undefined;
  productCategories?: Array<string> | null | undefined;
  productIds?: Array<string> | null | undefined;
  project?: string | null | undefined;
  providers?: Array<string> | null | undefined;
  states?: Array<JobState> | null | undefined;
  /** Jobs carrying all of these tags. */
  tags?: Array<string> | null | undefined;
};

export type JobSpecificationInput = {
  allowDuplicateJob?: boolean;
  /** An application from the catalog, or the command to run given inline. */
  application?: NameAndVersionInput | null | undefined;
  /** The program and its arguments (argv, not a shell line). */
  command?: Array<string> | null | undefined;
  description?: string | null | undefined;
  /** Environment variables: an object of string values. */
  env?: unknown;
  /** Container or VM image; required where the product's backend is DOCKER, optional elsewhere. */
  image?: string | null | undefined;
  name?: string | null | undefined;
  parameters?: unknown;
  priority?: number | null | undefined;
  /** The product to run on; or omit it and give requirements. */
  product?: ProductRefInput | null | undefined;
  /** Project that pays; default: the caller's personal workspace. */
  project?: string | null | undefined;
  replicas?: number;
  requirements?: RequirementsInput | null | undefined;
  resources?: Array<unknown> | null | undefined;
  restartOnExit?: boolean;
  /** Seconds to wait for capacity before the job fails (Apolo schedule_timeout). */
  scheduleTimeout?: number | null | undefined;
  sshEnabled?: boolean;
  tags?: Array<string> | null | undefined;
  /** Null: no deadline (where the product allows it). */
  timeAllocation?: SimpleDurationInput | null | undefined;
  workingDir?: string | null | undefined;
};

export type JobState =
  | 'CANCELING'
  | 'EXPIRED'
  | 'FAILURE'
  | 'IN_QUEUE'
  | 'RUNNING'
  | 'SUCCESS'
  | 'SUSPENDED';

export type NameAndVersionInput = {
  name: string;
  version: string;
};

export type Permission =
  | 'ADMIN'
  | 'EDIT'
  | 'READ';

export type ProductPriceUnit =
  | 'CREDITS_PER_DAY'
  | 'CREDITS_PER_HOUR'
  | 'CREDITS_PER_MINUTE';

/** Whether one and two more jobs of a product would fit now. */
export type ProductQueueStatus =
  /** Two more jobs would start now. */
  | 'AVAILABLE'
  /** One more job would start now, two would not. */
  | 'BUSY'
  /** The next job would wait. */
  | 'FULL';

export type ProductRefInput = {
  category?: string | null | undefined;
  id: string;
  provider: string;
};

export type ProjectRole =
  | 'ADMIN'
  | 'PI'
  | 'USER';

export type ProviderKind =
  | 'CLOUD_VM'
  | 'KUBERNETES'
  | 'LOCAL'
  | 'SIMULATED'
  | 'SLURM';

export type ProviderStatus =
  | 'DEGRADED'
  | 'DOWN'
  | 'UP';

/** Where to run when no product is named: the gateway routes to a product that fits. */
export type RequirementsInput = {
  backend?: Backend | null | undefined;
  cpu?: number | null | undefined;
  /** Features the product must support, e.g. ["terminal", "suspension"]. */
  features?: Array<string> | null | undefined;
  gpu?: number | null | undefined;
  /** Refuse products dearer than this, per unitOfPrice minute-normalised. */
  maxCreditsPerMinute?: number | null | undefined;
  memoryInGigs?: number | null | undefined;
  /** Only these providers (default: any the caller may use). */
  providers?: Array<string> | null | undefined;
};

export type SimpleDurationInput = {
  hours?: number;
  minutes?: number;
  seconds?: number;
};

export type TransactionKind =
  /** Credits taken from a wallet for a job's usage. */
  | 'CHARGE'
  /** Credits granted by an administrator: a new allocation. */
  | 'GRANT';

export type JobAclQueryVariables = Exact<{
  id: string;
}>;


export type JobAclQuery = { job: { id: string, owner: { createdBy: string, project: string | null }, acl: Array<{ entity: string, permissions: Array<Permission> }> } | null };

export type UpdateJobAclMutationVariables = Exact<{
  id: string;
  acl: Array<AclEntryInput> | AclEntryInput;
}>;


export type UpdateJobAclMutation = { updateJobAcl: { ok: boolean, error: { code: string, message: string } | null } };

export type FollowJobSubscriptionVariables = Exact<{
  id: string;
}>;


export type FollowJobSubscription = { followJob: { jobId: string, updates: Array<{ state: JobState | null, status: string | null, newTimeAllocation: number | null, timestamp: string }>, logs: Array<{ rank: number, stdout: string | null, stderr: string | null, timestamp: string }>, newStatus: { state: JobState, startedAt: string | null, expiresAt: string | null, exitCode: number | null } | null } };

export type UsersQueryVariables = Exact<{ [key: string]: never; }>;


export type UsersQuery = { users: Array<{ username: string, admin: boolean, disabled: boolean, createdAt: string, projects: Array<string> }>, products: Array<{ provider: string, category: string }> };

export type CreateUserMutationVariables = Exact<{
  username: string;
  password: string;
  admin: boolean;
}>;


export type CreateUserMutation = { createUser: { username: string } };

export type DisableUserMutationVariables = Exact<{
  username: string;
}>;


export type DisableUserMutation = { disableUser: { username: string } };

export type EnableUserMutationVariables = Exact<{
  username: string;
}>;


export type EnableUserMutation = { enableUser: { username: string } };

export type GrantCreditsMutationVariables = Exact<{
  grant: GrantInput;
}>;


export type GrantCreditsMutation = { grantCredits: { balance: number } };

export type JobQueryVariables = Exact<{
  id: string;
}>;


export type JobQuery = { job: { id: string, createdAt: string, creditsCharged: number, providerGeneratedId: string | null, owner: { createdBy: string, project: string | null }, provider: { id: string, kind: ProviderKind, status: ProviderStatus }, specification: { name: string | null, command: Array<string> | null, image: string | null, replicas: number, tags: Array<string>, timeAllocation: { hours: number, minutes: number, seconds: number } | null, product: { id: string, provider: string, category: string } }, status: { state: JobState, startedAt: string | null, expiresAt: string | null, exitCode: number | null, pendingReason: string | null, queuePosition: number | null, resolvedSupport: { timeExtension: boolean, suspension: boolean, logs: boolean, sessionTypes: Array<InteractiveSessionType> } | null } } | null };

export type JobChargesQueryVariables = Exact<{ [key: string]: never; }>;


export type JobChargesQuery = { transactions: { edges: Array<{ node: { id: string, kind: TransactionKind, jobId: string | null, amount: number, provider: string, category: string, timestamp: string, description: string } }> } };

export type OkResultFieldsFragment = { ok: boolean, error: { code: string, message: string } | null };

export type ExtendJobMutationVariables = Exact<{
  id: string;
  minutes: number;
}>;


export type ExtendJobMutation = { extendJobs: Array<{ ok: boolean, error: { code: string, message: string } | null }> };

export type SuspendJobMutationVariables = Exact<{
  id: string;
}>;


export type SuspendJobMutation = { suspendJobs: Array<{ ok: boolean, error: { code: string, message: string } | null }> };

export type ResumeJobMutationVariables = Exact<{
  id: string;
}>;


export type ResumeJobMutation = { unsuspendJobs: Array<{ ok: boolean, error: { code: string, message: string } | null }> };

export type TerminateJobMutationVariables = Exact<{
  id: string;
}>;


export type TerminateJobMutation = { terminateJobs: Array<{ ok: boolean, error: { code: string, message: string } | null }> };

export type OpenSessionMutationVariables = Exact<{
  id: string;
  type: InteractiveSessionType;
}>;


export type OpenSessionMutation = { openInteractiveSessions: Array<{ session: { url: string, expiresAt: string | null } | null, error: { code: string, message: string } | null }> };

export type JobsQueryVariables = Exact<{
  filter?: JobFilter | null | undefined;
  first?: number | null | undefined;
  after?: string | null | undefined;
}>;


export type JobsQuery = { jobs: { totalCount: number, pageInfo: { hasNextPage: boolean, endCursor: string | null }, edges: Array<{ node: { id: string, createdAt: string, creditsCharged: number, specification: { name: string | null, command: Array<string> | null, product: { id: string, provider: string } }, status: { state: JobState, exitCode: number | null } } }> } };

export type ProjectsQueryVariables = Exact<{
  all: boolean;
}>;


export type ProjectsQuery = { projects: Array<{ id: string, title: string, archived: boolean, createdAt: string, myRole: ProjectRole | null, members: Array<{ username: string, role: ProjectRole, groups: Array<string> }>, groups: Array<{ name: string, members: Array<string> }> }> };

export type ProvidersQueryVariables = Exact<{ [key: string]: never; }>;


export type ProvidersQuery = { providers: Array<{ id: string, kind: ProviderKind, domain: string | null, version: string, status: ProviderStatus, circuit: CircuitState, lastHeartbeat: string | null, products: Array<{ id: string }>, utilization: { observedAt: string, capacity: { cpu: number, memoryInGigs: number, gpu: number }, usedCapacity: { cpu: number, memoryInGigs: number, gpu: number }, queueStatus: { running: number, pending: number } } | null }> };

export type ProductsQueryVariables = Exact<{ [key: string]: never; }>;


export type ProductsQuery = { products: Array<{ id: string, name: string, description: string, category: string, provider: string, cpu: number, memoryInGigs: number, gpu: number, pricePerUnit: number, unitOfPrice: ProductPriceUnit, freeToUse: boolean, balance: number | null, capacity: number | null, queueStatus: ProductQueueStatus | null, support: { backend: Backend, logs: boolean, maxReplicas: number, timeExtension: boolean, suspension: boolean, sessionTypes: Array<InteractiveSessionType>, maxTimeAllocation: { hours: number, minutes: number, seconds: number } | null } }> };

export type CreateJobMutationVariables = Exact<{
  spec: JobSpecificationInput;
}>;


export type CreateJobMutation = { createJobs: Array<{ job: { id: string } | null, error: { code: string, message: string } | null }> };

export type WalletsQueryVariables = Exact<{ [key: string]: never; }>;


export type WalletsQuery = { wallets: Array<{ provider: string, category: string, balance: number, owner: { createdBy: string, project: string | null }, allocations: Array<{ id: string, initialBalance: number, balance: number, startDate: string, endDate: string | null }> }> };

export type TransactionsQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
}>;


export type TransactionsQuery = { transactions: { totalCount: number, pageInfo: { hasNextPage: boolean, endCursor: string | null }, edges: Array<{ node: { id: string, kind: TransactionKind, owner: string, isProject: boolean, provider: string, category: string, amount: number, jobId: string | null, by: string | null, timestamp: string, description: string } }> } };

export type PageFieldsFragment = { hasNextPage: boolean, endCursor: string | null };

export type MyProjectsQueryVariables = Exact<{ [key: string]: never; }>;


export type MyProjectsQuery = { projects: Array<{ id: string, title: string, archived: boolean }> };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}
export const OkResultFieldsFragmentDoc = new TypedDocumentString(`
    fragment OkResultFields on OkResult {
  ok
  error {
    code
    message
  }
}
    `, {"fragmentName":"OkResultFields"}) as unknown as TypedDocumentString<OkResultFieldsFragment, unknown>;
export const PageFieldsFragmentDoc = new TypedDocumentString(`
    fragment PageFields on PageInfo {
  hasNextPage
  endCursor
}
    `, {"fragmentName":"PageFields"}) as unknown as TypedDocumentString<PageFieldsFragment, unknown>;
export const JobAclDocument = new TypedDocumentString(`
    query JobAcl($id: ID!) {
  job(id: $id) {
    id
    owner {
      createdBy
      project
    }
    acl {
      entity
      permissions
    }
  }
}
    `) as unknown as TypedDocumentString<JobAclQuery, JobAclQueryVariables>;
export const UpdateJobAclDocument = new TypedDocumentString(`
    mutation UpdateJobAcl($id: ID!, $acl: [AclEntryInput!]!) {
  updateJobAcl(jobId: $id, acl: $acl) {
    ...OkResultFields
  }
}
    fragment OkResultFields on OkResult {
  ok
  error {
    code
    message
  }
}`) as unknown as TypedDocumentString<UpdateJobAclMutation, UpdateJobAclMutationVariables>;
export const FollowJobDocument = new TypedDocumentString(`
    subscription FollowJob($id: ID!) {
  followJob(id: $id) {
    jobId
    updates {
      state
      status
      newTimeAllocation
      timestamp
    }
    logs {
      rank
      stdout
      stderr
      timestamp
    }
    newStatus {
      state
      startedAt
      expiresAt
      exitCode
    }
  }
}
    `) as unknown as TypedDocumentString<FollowJobSubscription, FollowJobSubscriptionVariables>;
export const UsersDocument = new TypedDocumentString(`
    query Users {
  users {
    username
    admin
    disabled
    createdAt
    projects
  }
  products(first: 500) {
    provider
    category
  }
}
    `) as unknown as TypedDocumentString<UsersQuery, UsersQueryVariables>;
export const CreateUserDocument = new TypedDocumentString(`
    mutation CreateUser($username: String!, $password: String!, $admin: Boolean!) {
  createUser(username: $username, password: $password, admin: $admin) {
    username
  }
}
    `) as unknown as TypedDocumentString<CreateUserMutation, CreateUserMutationVariables>;
export const DisableUserDocument = new TypedDocumentString(`
    mutation DisableUser($username: String!) {
  disableUser(username: $username) {
    username
  }
}
    `) as unknown as TypedDocumentString<DisableUserMutation, DisableUserMutationVariables>;
export const EnableUserDocument = new TypedDocumentString(`
    mutation EnableUser($username: String!) {
  enableUser(username: $username) {
    username
  }
}
    `) as unknown as TypedDocumentString<EnableUserMutation, EnableUserMutationVariables>;
export const GrantCreditsDocument = new TypedDocumentString(`
    mutation GrantCredits($grant: GrantInput!) {
  grantCredits(grant: $grant) {
    balance
  }
}
    `) as unknown as TypedDocumentString<GrantCreditsMutation, GrantCreditsMutationVariables>;
export const JobDocument = new TypedDocumentString(`
    query Job($id: ID!) {
  job(id: $id) {
    id
    createdAt
    creditsCharged
    providerGeneratedId
    owner {
      createdBy
      project
    }
    provider {
      id
      kind
      status
    }
    specification {
      name
      command
      image
      replicas
      tags
      timeAllocation {
        hours
        minutes
        seconds
      }
      product {
        id
        provider
        category
      }
    }
    status {
      state
      startedAt
      expiresAt
      exitCode
      pendingReason
      queuePosition
      resolvedSupport {
        timeExtension
        suspension
        logs
        sessionTypes
      }
    }
  }
}
    `) as unknown as TypedDocumentString<JobQuery, JobQueryVariables>;
export const JobChargesDocument = new TypedDocumentString(`
    query JobCharges {
  transactions(first: 200) {
    edges {
      node {
        id
        kind
        jobId
        amount
        provider
        category
        timestamp
        description
      }
    }
  }
}
    `) as unknown as TypedDocumentString<JobChargesQuery, JobChargesQueryVariables>;
export const ExtendJobDocument = new TypedDocumentString(`
    mutation ExtendJob($id: ID!, $minutes: Int!) {
  extendJobs(items: [{jobId: $id, requestedTime: {minutes: $minutes}}]) {
    ...OkResultFields
  }
}
    fragment OkResultFields on OkResult {
  ok
  error {
    code
    message
  }
}`) as unknown as TypedDocumentString<ExtendJobMutation, ExtendJobMutationVariables>;
export const SuspendJobDocument = new TypedDocumentString(`
    mutation SuspendJob($id: ID!) {
  suspendJobs(ids: [$id]) {
    ...OkResultFields
  }
}
    fragment OkResultFields on OkResult {
  ok
  error {
    code
    message
  }
}`) as unknown as TypedDocumentString<SuspendJobMutation, SuspendJobMutationVariables>;
export const ResumeJobDocument = new TypedDocumentString(`
    mutation ResumeJob($id: ID!) {
  unsuspendJobs(ids: [$id]) {
    ...OkResultFields
  }
}
    fragment OkResultFields on OkResult {
  ok
  error {
    code
    message
  }
}`) as unknown as TypedDocumentString<ResumeJobMutation, ResumeJobMutationVariables>;
export const TerminateJobDocument = new TypedDocumentString(`
    mutation TerminateJob($id: ID!) {
  terminateJobs(ids: [$id]) {
    ...OkResultFields
  }
}
    fragment OkResultFields on OkResult {
  ok
  error {
    code
    message
  }
}`) as unknown as TypedDocumentString<TerminateJobMutation, TerminateJobMutationVariables>;
export const OpenSessionDocument = new TypedDocumentString(`
    mutation OpenSession($id: ID!, $type: InteractiveSessionType!) {
  openInteractiveSessions(items: [{jobId: $id, sessionType: $type}]) {
    session {
      url
      expiresAt
    }
    error {
      code
      message
    }
  }
}
    `) as unknown as TypedDocumentString<OpenSessionMutation, OpenSessionMutationVariables>;
export const JobsDocument = new TypedDocumentString(`
    query Jobs($filter: JobFilter, $first: Int, $after: String) {
  jobs(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo {
      ...PageFields
    }
    edges {
      node {
        id
        createdAt
        creditsCharged
        specification {
          name
          command
          product {
            id
            provider
          }
        }
        status {
          state
          exitCode
        }
      }
    }
  }
}
    fragment PageFields on PageInfo {
  hasNextPage
  endCursor
}`) as unknown as TypedDocumentString<JobsQuery, JobsQueryVariables>;
export const ProjectsDocument = new TypedDocumentString(`
    query Projects($all: Boolean!) {
  projects(all: $all) {
    id
    title
    archived
    createdAt
    myRole
    members {
      username
      role
      groups
    }
    groups {
      name
      members
    }
  }
}
    `) as unknown as TypedDocumentString<ProjectsQuery, ProjectsQueryVariables>;
export const ProvidersDocument = new TypedDocumentString(`
    query Providers {
  providers {
    id
    kind
    domain
    version
    status
    circuit
    lastHeartbeat
    products {
      id
    }
    utilization {
      observedAt
      capacity {
        cpu
        memoryInGigs
        gpu
      }
      usedCapacity {
        cpu
        memoryInGigs
        gpu
      }
      queueStatus {
        running
        pending
      }
    }
  }
}
    `) as unknown as TypedDocumentString<ProvidersQuery, ProvidersQueryVariables>;
export const ProductsDocument = new TypedDocumentString(`
    query Products {
  products(first: 500) {
    id
    name
    description
    category
    provider
    cpu
    memoryInGigs
    gpu
    pricePerUnit
    unitOfPrice
    freeToUse
    balance
    capacity
    queueStatus
    support {
      backend
      logs
      maxReplicas
      timeExtension
      suspension
      sessionTypes
      maxTimeAllocation {
        hours
        minutes
        seconds
      }
    }
  }
}
    `) as unknown as TypedDocumentString<ProductsQuery, ProductsQueryVariables>;
export const CreateJobDocument = new TypedDocumentString(`
    mutation CreateJob($spec: JobSpecificationInput!) {
  createJobs(specifications: [$spec]) {
    job {
      id
    }
    error {
      code
      message
    }
  }
}
    `) as unknown as TypedDocumentString<CreateJobMutation, CreateJobMutationVariables>;
export const WalletsDocument = new TypedDocumentString(`
    query Wallets {
  wallets {
    provider
    category
    balance
    owner {
      createdBy
      project
    }
    allocations {
      id
      initialBalance
      balance
      startDate
      endDate
    }
  }
}
    `) as unknown as TypedDocumentString<WalletsQuery, WalletsQueryVariables>;
export const TransactionsDocument = new TypedDocumentString(`
    query Transactions($first: Int, $after: String) {
  transactions(first: $first, after: $after) {
    totalCount
    pageInfo {
      ...PageFields
    }
    edges {
      node {
        id
        kind
        owner
        isProject
        provider
        category
        amount
        jobId
        by
        timestamp
        description
      }
    }
  }
}
    fragment PageFields on PageInfo {
  hasNextPage
  endCursor
}`) as unknown as TypedDocumentString<TransactionsQuery, TransactionsQueryVariables>;
export const MyProjectsDocument = new TypedDocumentString(`
    query MyProjects {
  projects(all: false) {
    id
    title
    archived
  }
}
    `) as unknown as TypedDocumentString<MyProjectsQuery, MyProjectsQueryVariables>;