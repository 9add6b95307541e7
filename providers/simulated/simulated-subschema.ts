/** The simulated provider's own GraphQL fields: where a job runs in its virtual cluster, and the cluster now. */
import { defineProviderSubschema, type DriverContext, type DriverSubschema } from '../sdk/index.js';

export interface SimulatedJobDetails {
  nodes: string[];
  virtualStartedAt: string | null;
  virtualRemainingMs: number | null;
}

export interface SimulatedClusterView {
  nodes: number;
  freeCpu: number;
  queueLength: number;
}

const TYPE_DEFS = /* GraphQL */ `
  "Where a simulated job runs in its virtual cluster, and its virtual time."
  type SimulatedJobDetails {
    "The virtual nodes the job holds, one per replica; empty once it ended."
    nodes: [String!]!
    "When it started in virtual time (ISO-8601); null until it runs."
    virtualStartedAt: String
    "Virtual running time left until it ends or expires; null when it is not running."
    virtualRemainingMs: Int
  }
  "A simulated provider's virtual cluster right now."
  type SimulatedCluster {
    nodes: Int!
    freeCpu: Float!
    queueLength: Int!
  }
`;

export function simulatedSubschema(lookups: {
  context: () => DriverContext | null;
  details: (jobId: string) => SimulatedJobDetails | null;
  clusterView: () => SimulatedClusterView | null;
}): DriverSubschema {
  return defineProviderSubschema(
    {
      kind: 'SIMULATED',
      typeDefs: TYPE_DEFS,
      job: { name: 'simulated', type: 'SimulatedJobDetails', description: 'Null for jobs this provider does not run.', resolve: lookups.details },
      provider: {
        name: 'simulatedCluster',
        type: 'SimulatedCluster',
        description: 'Null for other providers.',
        resolve: () => lookups.clusterView(),
      },
    },
    lookups.context,
  );
}
