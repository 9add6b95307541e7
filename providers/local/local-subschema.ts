/** The local provider's own GraphQL fields, stitched onto Job and Provider by the gateway: where and as what a job runs, and the host. */
import { defineProviderSubschema, type DriverContext, type DriverSubschema } from '../sdk/index.js';

export interface LocalJobDetails {
  host: string;
  pids: number[];
  exitCodes: (number | null)[];
  uid: number | null;
  user: string | null;
}

export interface LocalHostInfo {
  hostname: string;
  cpus: number;
  memoryInGigs: number;
  loadAverage: number[];
  isolation: { sandbox: string; limits: string; network: string; switchesUser: boolean };
}

const TYPE_DEFS = /* GraphQL */ `
  "Where and as what a local job runs."
  type LocalJobDetails {
    host: String!
    "One process per rank, in rank order."
    pids: [Int!]!
    "Each rank's exit code; null while it runs."
    exitCodes: [Int]!
    "The Unix account its processes run as."
    uid: Int
    "That account's name, if it has one."
    user: String
  }
  "How a local provider confines its jobs."
  type LocalIsolation {
    "bwrap (namespaces and a private file system view) or none (unsafe)."
    sandbox: String!
    "How product sizes are enforced: cgroup-v1, cgroup-v2 or rlimit."
    limits: String!
    "The jobs' network: none (loopback only) or host."
    network: String!
    "Whether jobs run as an account other than the provider's (the provider runs as root)."
    switchesUser: Boolean!
  }
  type LocalHostInfo {
    hostname: String!
    cpus: Int!
    memoryInGigs: Float!
    "1, 5 and 15 minute load averages."
    loadAverage: [Float!]!
    isolation: LocalIsolation!
  }
`;

export function localSubschema(lookups: {
  context: () => DriverContext | null;
  details: (jobId: string) => LocalJobDetails | null;
  host: () => LocalHostInfo;
}): DriverSubschema {
  return defineProviderSubschema(
    {
      kind: 'LOCAL',
      typeDefs: TYPE_DEFS,
      job: { name: 'local', type: 'LocalJobDetails', description: 'Set for jobs of a local provider.', resolve: lookups.details },
      provider: { name: 'localHost', type: 'LocalHostInfo', description: 'Set for local providers.', resolve: () => lookups.host() },
    },
    lookups.context,
  );
}
