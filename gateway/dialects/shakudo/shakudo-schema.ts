/**
 * Shakudo's GraphQL schema as its documented operations use it: the
 * typegraphql-prisma CRUD naming (`where: {field: {equals}}`, `data: {field:
 * {set}}`, `orderBy`, `take`, `skip`, `connect`), with the input type names the
 * operations declare their variables with (HyperHubSessionCreateInput,
 * ParameterCreateNestedManyWithoutPipelineJobInput, ...), so that every
 * operation of shared/reference/shakudo-graphql.txt validates verbatim. Only
 * what the dialect maps is declared; README says what is not.
 */

/** A Prisma scalar filter and its `Nested` twin (what `not` takes). */
function filter(name: string, scalar: string, options: { strings?: boolean; ordered?: boolean } = {}): string {
  const fields = (not: string) =>
    [
      `equals: ${scalar}`,
      `in: [${scalar}!]`,
      `notIn: [${scalar}!]`,
      ...(options.ordered ? [`lt: ${scalar}`, `lte: ${scalar}`, `gt: ${scalar}`, `gte: ${scalar}`] : []),
      ...(options.strings ? ['contains: String', 'startsWith: String', 'endsWith: String'] : []),
      `not: ${not}`,
    ].join('\n  ');
  const nested = `Nested${name}`;
  return `input ${name} {\n  ${fields(nested)}${options.strings ? '\n  mode: QueryMode' : ''}\n}\ninput ${nested} {\n  ${fields(nested)}\n}\n`;
}

const FILTERS = [
  filter('StringFilter', 'String', { strings: true, ordered: true }),
  filter('StringNullableFilter', 'String', { strings: true, ordered: true }),
  filter('IntFilter', 'Int', { ordered: true }),
  filter('IntNullableFilter', 'Int', { ordered: true }),
  filter('BoolFilter', 'Boolean'),
  filter('DateTimeFilter', 'DateTime', { ordered: true }),
  filter('DateTimeNullableFilter', 'DateTime', { ordered: true }),
  // The documented "Get a List of Services" compares `timeout` with "immediate" (meaning `schedule`): its filter takes either.
  filter('PipelineJobTimeoutFilter', 'IntOrImmediate', { ordered: true }),
].join('\n');

/** The session fields a where, an orderBy and a distinct may name. */
const SESSION_SCALARS = {
  id: 'StringFilter',
  hyperplaneUserEmail: 'StringFilter',
  status: 'StringNullableFilter',
  imageType: 'StringNullableFilter',
  billingProjectId: 'StringNullableFilter',
  startTime: 'DateTimeNullableFilter',
  completionTime: 'DateTimeNullableFilter',
  timeout: 'IntNullableFilter',
  collaborative: 'BoolFilter',
} as const;

const PIPELINE_SCALARS = {
  id: 'StringFilter',
  jobName: 'StringNullableFilter',
  jobType: 'StringFilter',
  status: 'StringFilter',
  schedule: 'StringFilter',
  timezone: 'StringFilter',
  pipelineYamlPath: 'StringNullableFilter',
  hyperplaneUserEmail: 'StringNullableFilter',
  hyperplaneUserId: 'StringNullableFilter',
  billingProjectId: 'StringNullableFilter',
  parentJobId: 'StringNullableFilter',
  exposedPort: 'StringNullableFilter',
  branchName: 'StringNullableFilter',
  timeout: 'PipelineJobTimeoutFilter',
  activeTimeout: 'IntFilter',
  maxRetries: 'IntFilter',
  pinned: 'BoolFilter',
  startTime: 'DateTimeFilter',
  completionTime: 'DateTimeNullableFilter',
} as const;

/** WhereInput, OrderByInput and ScalarFieldEnum of a model, as typegraphql-prisma names them. */
function model(name: string, scalars: Record<string, string>, extraWhere = ''): string {
  const where = `${name}WhereInput`;
  return `input ${where} {
  AND: [${where}!]
  OR: [${where}!]
  NOT: [${where}!]
  ${Object.entries(scalars)
    .map(([field, type]) => `${field}: ${type}`)
    .join('\n  ')}${extraWhere}
}
input ${name}OrderByInput {
  ${Object.keys(scalars)
    .map((field) => `${field}: SortOrder`)
    .join('\n  ')}
}
enum ${name}ScalarFieldEnum {
  ${Object.keys(scalars).join('\n  ')}
}
input ${name}WhereUniqueInput {
  id: String
}
`;
}

/** The list arguments every typegraphql-prisma `findMany` takes. */
const many = (name: string) =>
  `cursor: ${name}WhereUniqueInput, distinct: [${name}ScalarFieldEnum!], orderBy: [${name}OrderByInput!], skip: Int, take: Int, where: ${name}WhereInput`;

export const SHAKUDO_SDL = /* GraphQL */ `
scalar DateTime
scalar JSON
"An Int, or the word \\"immediate\\" (a documented query compares timeout with it; it means schedule = immediate)."
scalar IntOrImmediate

enum SortOrder {
  asc
  desc
}
enum QueryMode {
  default
  insensitive
}

${FILTERS}
${model('HyperHubSession', SESSION_SCALARS)}
${model('PipelineJob', PIPELINE_SCALARS, '\n  parameters: ParameterListRelationFilter')}
${model('Parameter', { id: 'StringFilter', key: 'StringFilter', value: 'StringNullableFilter', pipelineJobId: 'StringNullableFilter' })}
${model('HyperplaneUser', { id: 'StringFilter', email: 'StringFilter' })}
${model('BillingProject', { id: 'StringFilter', name: 'StringFilter' })}
${model('UserPvc', { id: 'StringFilter', pvcName: 'StringFilter', displayName: 'StringNullableFilter' })}
${model('HyperplaneVCServer', { id: 'StringFilter', name: 'StringFilter', url: 'StringFilter', defaultBranch: 'StringFilter' })}

input ParameterListRelationFilter {
  every: ParameterWhereInput
  some: ParameterWhereInput
  none: ParameterWhereInput
}

enum StatType {
  COUNT_ALL
  COUNT_CANCELLED
  COUNT_DONE
  COUNT_FAILED
  COUNT_IN_PROGRESS
  COUNT_PENDING
  COUNT_SCHEDULED
  COUNT_TIMED_OUT
  COUNT_TRIGGERED
}
enum StatusType {
  ALL
  SCHEDULED
  TRIGGERED
}
enum TimeFrame {
  TOTAL
  T_10M
  T_1H
  T_24H
}
enum HyperplaneVCServerStatus {
  CREATING
  CREATED
  FAILED
  DELETING
}

type HyperplaneUser {
  id: String!
  email: String!
  hyperHubSessions(${many('HyperHubSession')}): [HyperHubSession!]!
  pipelineJobs(${many('PipelineJob')}): [PipelineJob!]!
}

type BillingProject {
  id: String!
  name: String!
}

type UserPvc {
  id: String!
  pvcName: String!
  displayName: String
}

type HyperHubSession {
  billingProject: BillingProject
  billingProjectId: String
  collaborative: Boolean
  completionTime: DateTime
  currentPodEvents: String
  department: String
  duration: Int
  estimatedCost: Float
  gpuRequest: String
  group: String
  hyperplaneUser: HyperplaneUser!
  hyperplaneUserEmail: String!
  hyperplanepodspecName: String
  id: String
  imageHash: String
  imageType: String
  jLabUrl: String
  notebookURI: String
  owner: String
  podEventsLog: String
  podSpec: String
  premptableNode: Boolean
  resourceCPUlimit: String
  resourceCPUrequest: String
  resourceRAMlimit: String
  resourceRAMrequest: String
  runId: String
  sshCommand: String
  startTime: DateTime
  status: String
  statusReason: String
  timeout: Int
  useHyperplanepodspec: Boolean
  userPvc: UserPvc
  userPvcName: String
  workerPodName: String
}

type Parameter {
  PipelineJob: PipelineJob
  id: String!
  key: String!
  pipelineJobId: String
  value: String
}

type HyperplaneVCServer {
  defaultBranch: String!
  id: String!
  name: String!
  pipelineJobs(${many('PipelineJob')}): [PipelineJob!]!
  serviceUrl: String
  status: HyperplaneVCServerStatus!
  url: String!
}

type PipelineJob {
  activeTimeout: Int!
  billingProject: BillingProject
  billingProjectId: String
  branchName: String
  childJobs(${many('PipelineJob')}): [PipelineJob!]!
  cloudRunner: String
  commitId: String
  completionTime: DateTime
  customCommand: String
  customTrigger: String
  dashboardPrefix: String
  daskDashboardUrl: String
  debuggable: Boolean!
  department: String
  displayedOwner: String!
  duration: Int
  estimatedCost: Float
  exposedPort: String
  grafanaLink: String!
  group: String
  hyperplaneUser: HyperplaneUser
  hyperplaneUserEmail: String
  hyperplaneUserId: String
  hyperplaneVCServer: HyperplaneVCServer
  hyperplaneVCServerId: String
  hyperplanepodspecName: String
  icon: String
  id: String!
  imageHash: String
  jobCommand: String
  jobName: String
  jobType: String!
  mappedUrl: String
  maxHpaRange: Int!
  maxRetries: Int!
  maxRetriesPerStep: Int!
  minReplicas: Int!
  noGitInit: Boolean
  noHyperplaneCommands: Boolean
  noVSRewrite: Boolean
  output: String
  outputNotebooksPath: String
  owner: String
  parameters(${many('Parameter')}): [Parameter!]!
  parentJob: PipelineJob
  parentJobId: String
  pinned: Boolean!
  pipelineYamlPath: String
  preemptible: Boolean!
  premptableNode: Boolean!
  priorityClass: String!
  runId: String
  schedule: String!
  sendNotification: Boolean
  slackChannelName: String
  sshCommand: String
  startTime: DateTime!
  status: String!
  statusReason: String
  timeout: Int!
  timeoutPerStep: Int
  timezone: String!
  useHyperplanepodspec: Boolean
  workerPodName: String
}

type AffectedRowsOutput {
  count: Int!
}

input StringFieldUpdateOperationsInput {
  set: String
}
input NullableStringFieldUpdateOperationsInput {
  set: String
}
input IntFieldUpdateOperationsInput {
  set: Int
}
input BoolFieldUpdateOperationsInput {
  set: Boolean
}

input HyperplaneUserCreateNestedOneWithoutHyperHubSessionsInput {
  connect: HyperplaneUserWhereUniqueInput
}
input HyperplaneUserCreateNestedOneWithoutPipelineJobsInput {
  connect: HyperplaneUserWhereUniqueInput
}
input BillingProjectCreateNestedOneWithoutHyperHubSessionsInput {
  connect: BillingProjectWhereUniqueInput
}
input BillingProjectCreateNestedOneWithoutPipelineJobsInput {
  connect: BillingProjectWhereUniqueInput
}
input UserPvcCreateWithoutHyperHubSessionInput {
  pvcName: String!
  displayName: String
}
input UserPvcCreateNestedOneWithoutHyperHubSessionInput {
  connect: UserPvcWhereUniqueInput
  create: UserPvcCreateWithoutHyperHubSessionInput
}
input HyperplaneVCServerCreateNestedOneWithoutPipelineJobsInput {
  connect: HyperplaneVCServerWhereUniqueInput
}

"""
A session: HyperHubSessionCreateInput as typegraphql-prisma makes it, and the
fields the documented CreateHyperHubSession sample sends beside them
(imageUrl, hyperplaneUserId, billingProjectId as a connect).
"""
input HyperHubSessionCreateInput {
  imageType: String
  imageHash: String
  imageUrl: String
  timeout: Int
  collaborative: Boolean
  group: String
  department: String
  podSpec: JSON
  userPvcName: String
  hyperplaneUserEmail: String!
  hyperplaneUser: HyperplaneUserCreateNestedOneWithoutHyperHubSessionsInput
  hyperplaneUserId: String
  billingProject: BillingProjectCreateNestedOneWithoutHyperHubSessionsInput
  billingProjectId: BillingProjectCreateNestedOneWithoutHyperHubSessionsInput
  userPvc: UserPvcCreateNestedOneWithoutHyperHubSessionInput
  resourceCPUrequest: String
  resourceRAMrequest: String
  gpuRequest: String
}

input HyperHubSessionUpdateInput {
  status: NullableStringFieldUpdateOperationsInput
}

input ParameterCreateWithoutPipelineJobInput {
  id: String
  key: String!
  value: String
}
input ParameterCreateManyPipelineJobInput {
  id: String
  key: String!
  value: String
}
input ParameterCreateManyPipelineJobInputEnvelope {
  data: [ParameterCreateManyPipelineJobInput!]!
  skipDuplicates: Boolean
}
input ParameterCreateNestedManyWithoutPipelineJobInput {
  create: [ParameterCreateWithoutPipelineJobInput!]
  createMany: ParameterCreateManyPipelineJobInputEnvelope
  connect: [ParameterWhereUniqueInput!]
}
input ParameterUpdateManyWithoutPipelineJobNestedInput {
  create: [ParameterCreateWithoutPipelineJobInput!]
  disconnect: [ParameterWhereUniqueInput!]
  delete: [ParameterWhereUniqueInput!]
}

input PipelineJobCreateInput {
  jobName: String
  jobType: String
  imageHash: String
  timeout: Int
  activeTimeout: Int
  maxRetries: Int
  pipelineYamlPath: String
  workingDir: String
  jobCommand: String
  exposedPort: String
  schedule: String
  timezone: String
  podSpec: JSON
  parameters: ParameterCreateNestedManyWithoutPipelineJobInput
  hyperplaneVCServer: HyperplaneVCServerCreateNestedOneWithoutPipelineJobsInput
  hyperplaneUserEmail: String
  hyperplaneUser: HyperplaneUserCreateNestedOneWithoutPipelineJobsInput
  billingProject: BillingProjectCreateNestedOneWithoutPipelineJobsInput
  branchName: String
  commitId: String
  noGitInit: Boolean
  noHyperplaneCommands: Boolean
  debuggable: Boolean
  group: String
}

input PipelineJobUpdateInput {
  status: StringFieldUpdateOperationsInput
  parameters: ParameterUpdateManyWithoutPipelineJobNestedInput
}

input PipelineJobUpdateManyMutationInput {
  status: StringFieldUpdateOperationsInput
}

input ParameterUpdateInput {
  key: StringFieldUpdateOperationsInput
  value: NullableStringFieldUpdateOperationsInput
}

input HyperplaneVCServerCreateInput {
  name: String!
  url: String!
  defaultBranch: String
}

"Key-value parameters for a pod spec (typegraphql-prisma has no such type; its shape is inferred)."
input ParametersInput {
  parameters: [ParameterCreateWithoutPipelineJobInput!]
}

type Query {
  hyperHubSessions(${many('HyperHubSession')}): [HyperHubSession!]!
  countHyperHubSessions(whereOveride: HyperHubSessionWhereInput): Int!
  hyperplaneUsers(${many('HyperplaneUser')}): [HyperplaneUser!]!
  billingProjects(${many('BillingProject')}): [BillingProject!]!
  userPvcs(${many('UserPvc')}): [UserPvc!]!
  pipelineJobs(${many('PipelineJob')}): [PipelineJob!]!
  pipelineJob(where: PipelineJobWhereUniqueInput!): PipelineJob
  parameters(${many('Parameter')}): [Parameter!]!
  hyperplaneVCServers(${many('HyperplaneVCServer')}): [HyperplaneVCServer!]!
  getJobStat(stat: StatType!, status: StatusType, timeFrame: TimeFrame!): Int
  getHyperhubSessionPodSpec(imageUrl: String = "", userPvcName: String = "", userEmail: String = "", imageType: String = ""): JSON
  getPipelineJobPodSpec(
    parameters: ParametersInput
    gitServerName: String = ""
    noGitInit: Boolean = false
    imageUrl: String = ""
    userEmail: String = ""
    noHyperplaneCommands: Boolean = false
    commitId: String = ""
    branchName: String = ""
    pipelineYamlPath: String = ""
    debuggable: Boolean = false
    jobType: String = ""
  ): JSON
  getUserServicePodSpec(
    exposedPort: String = "8787"
    parameters: ParametersInput
    gitServerName: String = ""
    noGitInit: Boolean = false
    imageUrl: String = ""
    userEmail: String = ""
    noHyperplaneCommands: Boolean = false
    commitId: String = ""
    branchName: String = ""
    pipelineYamlPath: String = ""
    jobType: String = ""
  ): JSON
}

type Mutation {
  createHyperHubSession(data: HyperHubSessionCreateInput!): HyperHubSession!
  updateHyperHubSession(data: HyperHubSessionUpdateInput!, where: HyperHubSessionWhereUniqueInput!): HyperHubSession
  createPipelineJob(data: PipelineJobCreateInput!): PipelineJob!
  updatePipelineJob(data: PipelineJobUpdateInput!, where: PipelineJobWhereUniqueInput!): PipelineJob
  updateManyPipelineJob(data: PipelineJobUpdateManyMutationInput!, where: PipelineJobWhereInput): AffectedRowsOutput!
  updateParameter(data: ParameterUpdateInput!, where: ParameterWhereUniqueInput!): Parameter
  deleteParameter(where: ParameterWhereUniqueInput!): Parameter
  createHyperplaneVCServer(data: HyperplaneVCServerCreateInput!): HyperplaneVCServer!
}
`;
