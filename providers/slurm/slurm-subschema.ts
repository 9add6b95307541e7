/** The Slurm provider's own GraphQL fields: Slurm's view of a job, and the partitions of the cluster behind a provider. */
import { defineProviderSubschema, type DriverContext, type DriverSubschema } from '../sdk/index.js';
import { formatSlurmDuration, type SinfoNode, type SlurmPartitionInfo } from './slurm-cli.js';
import type { SlurmJobRecord } from './slurm-records.js';
import { WAITING_SLURM_STATES } from './slurm-states.js';

const TYPE_DEFS = /* GraphQL */ `
  "Slurm's own view of a job the Slurm provider runs."
  type SlurmJobDetails {
    "Slurm's job id."
    jobId: String!
    partition: String!
    "The nodes it runs or ran on, as a Slurm node list (e.g. node[1-4])."
    nodeList: String
    "Why Slurm keeps it waiting (Resources, Priority, ...), while it waits."
    pendingReason: String
    "Run time so far, suspended time excluded."
    elapsedSeconds: Int
    "The exit code as Slurm reports it, exit:signal (e.g. 3:0)."
    exitCode: String
    "Slurm's state: PENDING, RUNNING, SUSPENDED, COMPLETED, FAILED, CANCELLED, TIMEOUT, ..."
    state: String!
    "The time limit as Slurm prints it (e.g. 1:00:00), UNLIMITED, or null."
    timeLimit: String
    "The Unix account Slurm runs it as; null when it runs as the provider's own."
    uid: Int
  }

  "A partition of the Slurm cluster behind a provider."
  type SlurmPartition {
    name: String!
    "UP, DOWN, DRAIN or INACTIVE."
    state: String!
    totalCpus: Int!
    idleCpus: Int!
    allocatedCpus: Int!
    "Its nodes, as a Slurm node list."
    nodes: String!
    "The longest time limit it allows, as Slurm prints it, or UNLIMITED."
    maxTime: String
    "Whether jobs that name no partition go here."
    default: Boolean!
  }
`;

/** A job's SlurmJobDetails from its record. */
export function slurmJobDetails(record: SlurmJobRecord) {
  const { slurm } = record;
  return {
    jobId: record.slurmJobId,
    partition: slurm.partition,
    nodeList: slurm.nodeList,
    pendingReason: slurm.state !== null && WAITING_SLURM_STATES.has(slurm.state) ? slurm.reason : null,
    elapsedSeconds: slurm.elapsedSeconds,
    exitCode: slurm.exitCode,
    state: slurm.state ?? 'UNKNOWN',
    timeLimit: formatSlurmDuration(slurm.timeLimitSeconds),
    uid: record.account?.uid ?? null,
  };
}

/** The partitions as SlurmPartition, their CPUs summed over their nodes. */
export function partitionsView(partitions: readonly SlurmPartitionInfo[], nodes: readonly SinfoNode[]) {
  return partitions.map((p) => {
    const rows = nodes.filter((n) => n.partition === p.name);
    const sum = (pick: (n: SinfoNode) => number) => rows.reduce((total, n) => total + pick(n), 0);
    return {
      name: p.name,
      state: p.state,
      totalCpus: p.totalCpus ?? sum((n) => n.totalCpus),
      idleCpus: sum((n) => n.idleCpus),
      allocatedCpus: sum((n) => n.allocatedCpus),
      nodes: p.nodes,
      maxTime: formatSlurmDuration(p.maxTimeSeconds),
      default: p.isDefault,
    };
  });
}

export function slurmSubschema(lookups: {
  context: () => DriverContext | null;
  /** A job's details, or null when this provider does not run it. */
  details: (jobId: string) => ReturnType<typeof slurmJobDetails> | null | Promise<ReturnType<typeof slurmJobDetails> | null>;
  /** The cluster's partitions; read only when the field is asked for. */
  partitions: () => Promise<ReturnType<typeof partitionsView>>;
}): DriverSubschema {
  return defineProviderSubschema(
    {
      kind: 'SLURM',
      typeDefs: TYPE_DEFS,
      job: {
        name: 'slurm',
        type: 'SlurmJobDetails',
        description: "Slurm's view of the job; null for jobs not run by a Slurm provider.",
        resolve: lookups.details,
      },
      provider: {
        name: 'slurmPartitions',
        type: '[SlurmPartition!]',
        description: "The Slurm partitions of this provider's cluster; null for other providers.",
        // A function: GraphQL calls it only when a query selects the field.
        resolve: () => () => lookups.partitions(),
      },
    },
    lookups.context,
  );
}
