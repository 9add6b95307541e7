/* eslint-disable */
import * as types from './graphql';



/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  query JobAcl($id: ID!) {\n    job(id: $id) {\n      id\n      owner {\n        createdBy\n        project\n      }\n      acl {\n        entity\n        permissions\n      }\n    }\n  }\n": typeof types.JobAclDocument,
    "\n  mutation UpdateJobAcl($id: ID!, $acl: [AclEntryInput!]!) {\n    updateJobAcl(jobId: $id, acl: $acl) {\n      ...OkResultFields\n    }\n  }\n": typeof types.UpdateJobAclDocument,
    "\n  subscription FollowJob($id: ID!) {\n    followJob(id: $id) {\n      jobId\n      updates {\n        state\n        status\n        newTimeAllocation\n        timestamp\n      }\n      logs {\n        rank\n        stdout\n        stderr\n        timestamp\n      }\n      newStatus {\n        state\n        startedAt\n        expiresAt\n        exitCode\n      }\n    }\n  }\n": typeof types.FollowJobDocument,
    "\n  query Users {\n    users {\n      username\n      admin\n      disabled\n      createdAt\n      projects\n    }\n    products(first: 500) {\n      provider\n      category\n    }\n  }\n": typeof types.UsersDocument,
    "\n  mutation CreateUser($username: String!, $password: String!, $admin: Boolean!) {\n    createUser(username: $username, password: $password, admin: $admin) {\n      username\n    }\n  }\n": typeof types.CreateUserDocument,
    "\n  mutation DisableUser($username: String!) {\n    disableUser(username: $username) {\n      username\n    }\n  }\n": typeof types.DisableUserDocument,
    "\n  mutation EnableUser($username: String!) {\n    enableUser(username: $username) {\n      username\n    }\n  }\n": typeof types.EnableUserDocument,
    "\n  mutation GrantCredits($grant: GrantInput!) {\n    grantCredits(grant: $grant) {\n      balance\n    }\n  }\n": typeof types.GrantCreditsDocument,
    "\n  query Job($id: ID!) {\n    job(id: $id) {\n      id\n      createdAt\n      creditsCharged\n      providerGeneratedId\n      owner {\n        createdBy\n        project\n      }\n      provider {\n        id\n        kind\n        status\n      }\n      specification {\n        name\n        command\n        image\n        replicas\n        tags\n        timeAllocation {\n          hours\n          minutes\n          seconds\n        }\n        product {\n          id\n          provider\n          category\n        }\n      }\n      status {\n        state\n        startedAt\n        expiresAt\n        exitCode\n        pendingReason\n        queuePosition\n        resolvedSupport {\n          timeExtension\n          suspension\n          logs\n          sessionTypes\n        }\n      }\n    }\n  }\n": typeof types.JobDocument,
    "\n  query JobCharges {\n    transactions(first: 200) {\n      edges {\n        node {\n          id\n          kind\n          jobId\n          amount\n          provider\n          category\n          timestamp\n          description\n        }\n      }\n    }\n  }\n": typeof types.JobChargesDocument,
    "\n  fragment OkResultFields on OkResult {\n    ok\n    error {\n      code\n      message\n    }\n  }\n": typeof types.OkResultFieldsFragmentDoc,
    "\n  mutation ExtendJob($id: ID!, $minutes: Int!) {\n    extendJobs(items: [{ jobId: $id, requestedTime: { minutes: $minutes } }]) {\n      ...OkResultFields\n    }\n  }\n": typeof types.ExtendJobDocument,
    "\n  mutation SuspendJob($id: ID!) {\n    suspendJobs(ids: [$id]) {\n      ...OkResultFields\n    }\n  }\n": typeof types.SuspendJobDocument,
    "\n  mutation ResumeJob($id: ID!) {\n    unsuspendJobs(ids: [$id]) {\n      ...OkResultFields\n    }\n  }\n": typeof types.ResumeJobDocument,
    "\n  mutation TerminateJob($id: ID!) {\n    terminateJobs(ids: [$id]) {\n      ...OkResultFields\n    }\n  }\n": typeof types.TerminateJobDocument,
    "\n  mutation OpenSession($id: ID!, $type: InteractiveSessionType!) {\n    openInteractiveSessions(items: [{ jobId: $id, sessionType: $type }]) {\n      session {\n        url\n        expiresAt\n      }\n      error {\n        code\n        message\n      }\n    }\n  }\n": typeof types.OpenSessionDocument,
    "\n  query Jobs($filter: JobFilter, $first: Int, $after: String) {\n    jobs(filter: $filter, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        ...PageFields\n      }\n      edges {\n        node {\n          id\n          createdAt\n          creditsCharged\n          specification {\n            name\n            command\n            product {\n              id\n              provider\n            }\n          }\n          status {\n            state\n            exitCode\n          }\n        }\n      }\n    }\n  }\n": typeof types.JobsDocument,
    "\n  query Projects($all: Boolean!) {\n    projects(all: $all) {\n      id\n      title\n      archived\n      createdAt\n      myRole\n      members {\n        username\n        role\n        groups\n      }\n      groups {\n        name\n        members\n      }\n    }\n  }\n": typeof types.ProjectsDocument,
    "\n  query Providers {\n    providers {\n      id\n      kind\n      domain\n      version\n      status\n      circuit\n      lastHeartbeat\n      products {\n        id\n      }\n      utilization {\n        observedAt\n        capacity {\n          cpu\n          memoryInGigs\n          gpu\n        }\n        usedCapacity {\n          cpu\n          memoryInGigs\n          gpu\n        }\n        queueStatus {\n          running\n          pending\n        }\n      }\n    }\n  }\n": typeof types.ProvidersDocument,
    "\n  query Products {\n    products(first: 500) {\n      id\n      name\n      description\n      category\n      provider\n      cpu\n      memoryInGigs\n      gpu\n      pricePerUnit\n      unitOfPrice\n      freeToUse\n      balance\n      capacity\n      queueStatus\n      support {\n        backend\n        logs\n        maxReplicas\n        timeExtension\n        suspension\n        sessionTypes\n        maxTimeAllocation {\n          hours\n          minutes\n          seconds\n        }\n      }\n    }\n  }\n": typeof types.ProductsDocument,
    "\n  mutation CreateJob($spec: JobSpecificationInput!) {\n    createJobs(specifications: [$spec]) {\n      job {\n        id\n      }\n      error {\n        code\n        message\n      }\n    }\n  }\n": typeof types.CreateJobDocument,
    "\n  query Wallets {\n    wallets {\n      provider\n      category\n      balance\n      owner {\n        createdBy\n        project\n      }\n      allocations {\n        id\n        initialBalance\n        balance\n        startDate\n        endDate\n      }\n    }\n  }\n": typeof types.WalletsDocument,
    "\n  query Transactions($first: Int, $after: String) {\n    transactions(first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        ...PageFields\n      }\n      edges {\n        node {\n          id\n          kind\n          owner\n          isProject\n          provider\n          category\n          amount\n          jobId\n          by\n          timestamp\n          description\n        }\n      }\n    }\n  }\n": typeof types.TransactionsDocument,
    "\n  fragment PageFields on PageInfo {\n    hasNextPage\n    endCursor\n  }\n": typeof types.PageFieldsFragmentDoc,
    "\n  query MyProjects {\n    projects(all: false) {\n      id\n      title\n      archived\n    }\n  }\n": typeof types.MyProjectsDocument,
};
const documents: Documents = {
    "\n  query JobAcl($id: ID!) {\n    job(id: $id) {\n      id\n      owner {\n        createdBy\n        project\n      }\n      acl {\n        entity\n        permissions\n      }\n    }\n  }\n": types.JobAclDocument,
    "\n  mutation UpdateJobAcl($id: ID!, $acl: [AclEntryInput!]!) {\n    updateJobAcl(jobId: $id, acl: $acl) {\n      ...OkResultFields\n    }\n  }\n": types.UpdateJobAclDocument,
    "\n  subscription FollowJob($id: ID!) {\n    followJob(id: $id) {\n      jobId\n      updates {\n        state\n        status\n        newTimeAllocation\n        timestamp\n      }\n      logs {\n        rank\n        stdout\n        stderr\n        timestamp\n      }\n      newStatus {\n        state\n        startedAt\n        expiresAt\n        exitCode\n      }\n    }\n  }\n": types.FollowJobDocument,
    "\n  query Users {\n    users {\n      username\n      admin\n      disabled\n      createdAt\n      projects\n    }\n    products(first: 500) {\n      provider\n      category\n    }\n  }\n": types.UsersDocument,
    "\n  mutation CreateUser($username: String!, $password: String!, $admin: Boolean!) {\n    createUser(username: $username, password: $password, admin: $admin) {\n      username\n    }\n  }\n": types.CreateUserDocument,
    "\n  mutation DisableUser($username: String!) {\n    disableUser(username: $username) {\n      username\n    }\n  }\n": types.DisableUserDocument,
    "\n  mutation EnableUser($username: String!) {\n    enableUser(username: $username) {\n      username\n    }\n  }\n": types.EnableUserDocument,
    "\n  mutation GrantCredits($grant: GrantInput!) {\n    grantCredits(grant: $grant) {\n      balance\n    }\n  }\n": types.GrantCreditsDocument,
    "\n  query Job($id: ID!) {\n    job(id: $id) {\n      id\n      createdAt\n      creditsCharged\n      providerGeneratedId\n      owner {\n        createdBy\n        project\n      }\n      provider {\n        id\n        kind\n        status\n      }\n      specification {\n        name\n        command\n        image\n        replicas\n        tags\n        timeAllocation {\n          hours\n          minutes\n          seconds\n        }\n        product {\n          id\n          provider\n          category\n        }\n      }\n      status {\n        state\n        startedAt\n        expiresAt\n        exitCode\n        pendingReason\n        queuePosition\n        resolvedSupport {\n          timeExtension\n          suspension\n          logs\n          sessionTypes\n        }\n      }\n    }\n  }\n": types.JobDocument,
    "\n  query JobCharges {\n    transactions(first: 200) {\n      edges {\n        node {\n          id\n          kind\n          jobId\n          amount\n          provider\n          category\n          timestamp\n          description\n        }\n      }\n    }\n  }\n": types.JobChargesDocument,
    "\n  fragment OkResultFields on OkResult {\n    ok\n    error {\n      code\n      message\n    }\n  }\n": types.OkResultFieldsFragmentDoc,
    "\n  mutation ExtendJob($id: ID!, $minutes: Int!) {\n    extendJobs(items: [{ jobId: $id, requestedTime: { minutes: $minutes } }]) {\n      ...OkResultFields\n    }\n  }\n": types.ExtendJobDocument,
    "\n  mutation SuspendJob($id: ID!) {\n    suspendJobs(ids: [$id]) {\n      ...OkResultFields\n    }\n  }\n": types.SuspendJobDocument,
    "\n  mutation ResumeJob($id: ID!) {\n    unsuspendJobs(ids: [$id]) {\n      ...OkResultFields\n    }\n  }\n": types.ResumeJobDocument,
    "\n  mutation TerminateJob($id: ID!) {\n    terminateJobs(ids: [$id]) {\n      ...OkResultFields\n    }\n  }\n": types.TerminateJobDocument,
    "\n  mutation OpenSession($id: ID!, $type: InteractiveSessionType!) {\n    openInteractiveSessions(items: [{ jobId: $id, sessionType: $type }]) {\n      session {\n        url\n        expiresAt\n      }\n      error {\n        code\n        message\n      }\n    }\n  }\n": types.OpenSessionDocument,
    "\n  query Jobs($filter: JobFilter, $first: Int, $after: String) {\n    jobs(filter: $filter, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        ...PageFields\n      }\n      edges {\n        node {\n          id\n          createdAt\n          creditsCharged\n          specification {\n            name\n            command\n            product {\n              id\n              provider\n            }\n          }\n          status {\n            state\n            exitCode\n          }\n        }\n      }\n    }\n  }\n": types.JobsDocument,
    "\n  query Projects($all: Boolean!) {\n    projects(all: $all) {\n      id\n      title\n      archived\n      createdAt\n      myRole\n      members {\n        username\n        role\n        groups\n      }\n      groups {\n        name\n        members\n      }\n    }\n  }\n": types.ProjectsDocument,
    "\n  query Providers {\n    providers {\n      id\n      kind\n      domain\n      version\n      status\n      circuit\n      lastHeartbeat\n      products {\n        id\n      }\n      utilization {\n        observedAt\n        capacity {\n          cpu\n          memoryInGigs\n          gpu\n        }\n        usedCapacity {\n          cpu\n          memoryInGigs\n          gpu\n        }\n        queueStatus {\n          running\n          pending\n        }\n      }\n    }\n  }\n": types.ProvidersDocument,
    "\n  query Products {\n    products(first: 500) {\n      id\n      name\n      description\n      category\n      provider\n      cpu\n      memoryInGigs\n      gpu\n      pricePerUnit\n      unitOfPrice\n      freeToUse\n      balance\n      capacity\n      queueStatus\n      support {\n        backend\n        logs\n        maxReplicas\n        timeExtension\n        suspension\n        sessionTypes\n        maxTimeAllocation {\n          hours\n          minutes\n          seconds\n        }\n      }\n    }\n  }\n": types.ProductsDocument,
    "\n  mutation CreateJob($spec: JobSpecificationInput!) {\n    createJobs(specifications: [$spec]) {\n      job {\n        id\n      }\n      error {\n        code\n        message\n      }\n    }\n  }\n": types.CreateJobDocument,
    "\n  query Wallets {\n    wallets {\n      provider\n      category\n      balance\n      owner {\n        createdBy\n        project\n      }\n      allocations {\n        id\n        initialBalance\n        balance\n        startDate\n        endDate\n      }\n    }\n  }\n": types.WalletsDocument,
    "\n  query Transactions($first: Int, $after: String) {\n    transactions(first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        ...PageFields\n      }\n      edges {\n        node {\n          id\n          kind\n          owner\n          isProject\n          provider\n          category\n          amount\n          jobId\n          by\n          timestamp\n          description\n        }\n      }\n    }\n  }\n": types.TransactionsDocument,
    "\n  fragment PageFields on PageInfo {\n    hasNextPage\n    endCursor\n  }\n": types.PageFieldsFragmentDoc,
    "\n  query MyProjects {\n    projects(all: false) {\n      id\n      title\n      archived\n    }\n  }\n": types.MyProjectsDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query JobAcl($id: ID!) {\n    job(id: $id) {\n      id\n      owner {\n        createdBy\n        project\n      }\n      acl {\n        entity\n        permissions\n      }\n    }\n  }\n"): typeof import('./graphql').JobAclDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UpdateJobAcl($id: ID!, $acl: [AclEntryInput!]!) {\n    updateJobAcl(jobId: $id, acl: $acl) {\n      ...OkResultFields\n    }\n  }\n"): typeof import('./graphql').UpdateJobAclDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription FollowJob($id: ID!) {\n    followJob(id: $id) {\n      jobId\n      updates {\n        state\n        status\n        newTimeAllocation\n        timestamp\n      }\n      logs {\n        rank\n        stdout\n        stderr\n        timestamp\n      }\n      newStatus {\n        state\n        startedAt\n        expiresAt\n        exitCode\n      }\n    }\n  }\n"): typeof import('./graphql').FollowJobDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Users {\n    users {\n      username\n      admin\n      disabled\n      createdAt\n      projects\n    }\n    products(first: 500) {\n      provider\n      category\n    }\n  }\n"): typeof import('./graphql').UsersDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateUser($username: String!, $password: String!, $admin: Boolean!) {\n    createUser(username: $username, password: $password, admin: $admin) {\n      username\n    }\n  }\n"): typeof import('./graphql').CreateUserDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DisableUser($username: String!) {\n    disableUser(username: $username) {\n      username\n    }\n  }\n"): typeof import('./graphql').DisableUserDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation EnableUser($username: String!) {\n    enableUser(username: $username) {\n      username\n    }\n  }\n"): typeof import('./graphql').EnableUserDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation GrantCredits($grant: GrantInput!) {\n    grantCredits(grant: $grant) {\n      balance\n    }\n  }\n"): typeof import('./graphql').GrantCreditsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Job($id: ID!) {\n    job(id: $id) {\n      id\n      createdAt\n      creditsCharged\n      providerGeneratedId\n      owner {\n        createdBy\n        project\n      }\n      provider {\n        id\n        kind\n        status\n      }\n      specification {\n        name\n        command\n        image\n        replicas\n        tags\n        timeAllocation {\n          hours\n          minutes\n          seconds\n        }\n        product {\n          id\n          provider\n          category\n        }\n      }\n      status {\n        state\n        startedAt\n        expiresAt\n        exitCode\n        pendingReason\n        queuePosition\n        resolvedSupport {\n          timeExtension\n          suspension\n          logs\n          sessionTypes\n        }\n      }\n    }\n  }\n"): typeof import('./graphql').JobDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query JobCharges {\n    transactions(first: 200) {\n      edges {\n        node {\n          id\n          kind\n          jobId\n          amount\n          provider\n          category\n          timestamp\n          description\n        }\n      }\n    }\n  }\n"): typeof import('./graphql').JobChargesDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment OkResultFields on OkResult {\n    ok\n    error {\n      code\n      message\n    }\n  }\n"): typeof import('./graphql').OkResultFieldsFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ExtendJob($id: ID!, $minutes: Int!) {\n    extendJobs(items: [{ jobId: $id, requestedTime: { minutes: $minutes } }]) {\n      ...OkResultFields\n    }\n  }\n"): typeof import('./graphql').ExtendJobDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SuspendJob($id: ID!) {\n    suspendJobs(ids: [$id]) {\n      ...OkResultFields\n    }\n  }\n"): typeof import('./graphql').SuspendJobDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ResumeJob($id: ID!) {\n    unsuspendJobs(ids: [$id]) {\n      ...OkResultFields\n    }\n  }\n"): typeof import('./graphql').ResumeJobDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation TerminateJob($id: ID!) {\n    terminateJobs(ids: [$id]) {\n      ...OkResultFields\n    }\n  }\n"): typeof import('./graphql').TerminateJobDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation OpenSession($id: ID!, $type: InteractiveSessionType!) {\n    openInteractiveSessions(items: [{ jobId: $id, sessionType: $type }]) {\n      session {\n        url\n        expiresAt\n      }\n      error {\n        code\n        message\n      }\n    }\n  }\n"): typeof import('./graphql').OpenSessionDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Jobs($filter: JobFilter, $first: Int, $after: String) {\n    jobs(filter: $filter, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        ...PageFields\n      }\n      edges {\n        node {\n          id\n          createdAt\n          creditsCharged\n          specification {\n            name\n            command\n            product {\n              id\n              provider\n            }\n          }\n          status {\n            state\n            exitCode\n          }\n        }\n      }\n    }\n  }\n"): typeof import('./graphql').JobsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Projects($all: Boolean!) {\n    projects(all: $all) {\n      id\n      title\n      archived\n      createdAt\n      myRole\n      members {\n        username\n        role\n        groups\n      }\n      groups {\n        name\n        members\n      }\n    }\n  }\n"): typeof import('./graphql').ProjectsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Providers {\n    providers {\n      id\n      kind\n      domain\n      version\n      status\n      circuit\n      lastHeartbeat\n      products {\n        id\n      }\n      utilization {\n        observedAt\n        capacity {\n          cpu\n          memoryInGigs\n          gpu\n        }\n        usedCapacity {\n          cpu\n          memoryInGigs\n          gpu\n        }\n        queueStatus {\n          running\n          pending\n        }\n      }\n    }\n  }\n"): typeof import('./graphql').ProvidersDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Products {\n    products(first: 500) {\n      id\n      name\n      description\n      category\n      provider\n      cpu\n      memoryInGigs\n      gpu\n      pricePerUnit\n      unitOfPrice\n      freeToUse\n      balance\n      capacity\n      queueStatus\n      support {\n        backend\n        logs\n        maxReplicas\n        timeExtension\n        suspension\n        sessionTypes\n        maxTimeAllocation {\n          hours\n          minutes\n          seconds\n        }\n      }\n    }\n  }\n"): typeof import('./graphql').ProductsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateJob($spec: JobSpecificationInput!) {\n    createJobs(specifications: [$spec]) {\n      job {\n        id\n      }\n      error {\n        code\n        message\n      }\n    }\n  }\n"): typeof import('./graphql').CreateJobDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Wallets {\n    wallets {\n      provider\n      category\n      balance\n      owner {\n        createdBy\n        project\n      }\n      allocations {\n        id\n        initialBalance\n        balance\n        startDate\n        endDate\n      }\n    }\n  }\n"): typeof import('./graphql').WalletsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Transactions($first: Int, $after: String) {\n    transactions(first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        ...PageFields\n      }\n      edges {\n        node {\n          id\n          kind\n          owner\n          isProject\n          provider\n          category\n          amount\n          jobId\n          by\n          timestamp\n          description\n        }\n      }\n    }\n  }\n"): typeof import('./graphql').TransactionsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment PageFields on PageInfo {\n    hasNextPage\n    endCursor\n  }\n"): typeof import('./graphql').PageFieldsFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query MyProjects {\n    projects(all: false) {\n      id\n      title\n      archived\n    }\n  }\n"): typeof import('./graphql').MyProjectsDocument;


export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}
