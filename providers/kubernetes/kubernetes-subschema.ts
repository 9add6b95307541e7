/**
 * The Kubernetes provider's own GraphQL fields: a job's Kubernetes side (its
 * namespace, Job, pods and latest events) and the cluster behind a provider
 * (its version and nodes with capacity and taints). Read from the API server
 * when a query asks for them.
 */
import type { V1Pod } from '@kubernetes/client-node';

import { defineProviderSubschema, type DriverContext, type DriverSubschema } from '../sdk/index.js';
import { quantity } from './kubernetes-capacity.js';
import type { KubernetesClient } from './kubernetes-client.js';
import { rankOf } from './kubernetes-states.js';

const TYPE_DEFS = /* GraphQL */ `
  "A job's Kubernetes side: the Job that runs it and one pod per rank."
  type KubernetesJobDetails {
    namespace: String!
    "The batch/v1 Job's name."
    jobName: String!
    pods: [KubernetesPod!]!
    "The latest Kubernetes events of the Job and its pods, newest last (at most 20)."
    events: [KubernetesEvent!]!
  }

  type KubernetesPod {
    name: String!
    rank: Int!
    "Pending, Running, Succeeded, Failed or Unknown."
    phase: String
    "The node it is bound to, once scheduled."
    node: String
  }

  type KubernetesEvent {
    "Normal or Warning."
    type: String
    reason: String
    message: String
    "The Job or pod it is about."
    object: String
    "When it last happened (ISO-8601)."
    at: String
  }

  "The cluster behind a Kubernetes provider."
  type KubernetesCluster {
    "The API server's version (e.g. v1.36.5)."
    version: String!
    nodes: [KubernetesNode!]!
  }

  type KubernetesNode {
    name: String!
    ready: Boolean!
    "Allocatable resources."
    cpu: Float!
    memoryInGigs: Float!
    gpu: Int!
    "Labels as key=value."
    labels: [String!]!
    "Taints as key=value:effect."
    taints: [String!]!
  }
`;

const isoOf = (value: Date | string | undefined | null) => (value ? new Date(value).toISOString() : null);

/** A job's KubernetesJobDetails; events are read only when the query selects them. */
export function jobDetails(client: KubernetesClient, namespace: string, jobName: string, pods: readonly V1Pod[]) {
  const names = new Set([jobName, ...pods.map((pod) => pod.metadata?.name ?? '')]);
  return {
    namespace,
    jobName,
    pods: pods.map((pod) => ({
      name: pod.metadata?.name ?? '',
      rank: rankOf(pod),
      phase: pod.status?.phase ?? null,
      node: pod.spec?.nodeName ?? null,
    })),
    events: async () => {
      const list = await client.core.listNamespacedEvent({ namespace });
      return list.items
        .filter((event) => names.has(event.involvedObject.name ?? ''))
        .map((event) => ({
          type: event.type ?? null,
          reason: event.reason ?? null,
          message: event.message ?? null,
          object: `${event.involvedObject.kind ?? ''}/${event.involvedObject.name ?? ''}`,
          at: isoOf(event.lastTimestamp ?? event.eventTime ?? event.firstTimestamp ?? event.metadata.creationTimestamp),
        }))
        .sort((a, b) => (a.at ?? '').localeCompare(b.at ?? ''))
        .slice(-20);
    },
  };
}

/** The cluster's version and nodes. */
export async function clusterView(client: KubernetesClient, gpuResources: readonly string[]) {
  const [version, nodes] = await Promise.all([client.version.getCode(), client.core.listNode()]);
  return {
    version: version.gitVersion,
    nodes: nodes.items.map((node) => {
      const allocatable = node.status?.allocatable ?? {};
      return {
        name: node.metadata?.name ?? '',
        ready: node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
        cpu: quantity(allocatable.cpu),
        memoryInGigs: Math.round((quantity(allocatable.memory) / 1024 ** 3) * 1000) / 1000,
        gpu: gpuResources.reduce((sum, name) => sum + quantity(allocatable[name]), 0),
        labels: Object.entries(node.metadata?.labels ?? {}).map(([key, value]) => `${key}=${value}`),
        taints: (node.spec?.taints ?? []).map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`),
      };
    }),
  };
}

export function kubernetesSubschema(
  lookups: {
    job: (jobId: string) => ReturnType<typeof jobDetails> | null;
    cluster: () => ReturnType<typeof clusterView>;
  },
  context: () => DriverContext | null,
): DriverSubschema {
  return defineProviderSubschema(
    {
      kind: 'KUBERNETES',
      typeDefs: TYPE_DEFS,
      job: {
        name: 'kubernetes',
        type: 'KubernetesJobDetails',
        description: "The job's Kubernetes Job and pods; null for jobs not run by a Kubernetes provider.",
        resolve: lookups.job,
      },
      provider: {
        name: 'kubernetesCluster',
        type: 'KubernetesCluster',
        description: 'The cluster behind this provider; null for other providers.',
        // A function: GraphQL calls it only when a query selects the field.
        resolve: () => () => lookups.cluster(),
      },
    },
    context,
  );
}
