/**
 * The provider's link to a cluster, through the official client: a kubeconfig
 * from a file (or the in-cluster service account), one pool of kept-alive
 * connections, the APIs the driver uses, and what the API server's refusals
 * mean to a caller. A refusal of the job
 * itself (422 Invalid) is the user's INVALID_INPUT; the cluster being
 * unreachable or refusing the provider's credentials (401, 403) is the
 * provider's PROVIDER_UNAVAILABLE, which the gateway counts against its
 * circuit and fails over from.
 */
import type { Agent, AgentOptions, ClientRequest } from 'node:http';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { ApiException, BatchV1Api, CoreV1Api, KubeConfig, Log, VersionApi } from '@kubernetes/client-node';

import { InvalidInputError, InvalidStateError, ProviderUnavailableError } from '../sdk/index.js';

export interface KubernetesClient {
  readonly config: KubeConfig;
  readonly batch: BatchV1Api;
  readonly core: CoreV1Api;
  readonly version: VersionApi;
  readonly logs: Log;
  /** The API server's URL, for messages. */
  readonly server: string;
}

/** From a kubeconfig file, or the pod's service account when none is given and the provider runs in a cluster. */
export function connectKubernetes(options: { kubeconfig?: string; context?: string }): KubernetesClient {
  const config = new KubeConfig();
  if (options.kubeconfig) config.loadFromFile(options.kubeconfig);
  else config.loadFromDefault();
  if (options.context) config.setCurrentContext(options.context);
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new InvalidInputError('The kubeconfig names no current cluster');
  reuseConnections(config);
  return {
    config,
    batch: config.makeApiClient(BatchV1Api),
    core: config.makeApiClient(CoreV1Api),
    version: config.makeApiClient(VersionApi),
    logs: new Log(config),
    server: cluster.server,
  };
}

/** One HTTP request to the API server: its method and path, with the query (`?watch=true`, `follow=true`). */
export interface ApiRequest {
  method: string;
  path: string;
}

const observers = new WeakMap<KubeConfig, ((request: ApiRequest) => void)[]>();

/** Calls `onRequest` for each HTTP request of the connection: API calls, watches and log streams alike. For the bench, which counts them. */
export function observeRequests(client: KubernetesClient, onRequest: (request: ApiRequest) => void): void {
  observers.set(client.config, [...(observers.get(client.config) ?? []), onRequest]);
}

/**
 * The client asks its KubeConfig (private createAgent) for a new agent, so a new connection and
 * TLS handshake, for every API call, watch and log stream. One keep-alive agent instead, while
 * the TLS options stay the same: a call then costs a quarter of the time here (README,
 * Performance). Idle connections close after 30 s, before the API server's own 90 s would.
 */
function reuseConnections(config: KubeConfig): void {
  const target = config as unknown as { createAgent?: (cluster: unknown, options: AgentOptions) => Agent };
  // A client without the method (another version): a connection per call, slower but right; the test of this says so.
  if (typeof target.createAgent !== 'function') return;
  const createAgent = target.createAgent.bind(config);
  let current: { cluster: unknown; options: AgentOptions; agent: Agent } | null = null;
  target.createAgent = (cluster, options) => {
    if (!current || current.cluster !== cluster || !sameOptions(current.options, options)) {
      // The agent before, if any, is left to its requests (a watch, say) and its idle timeout.
      // One TLS context for all its connections: Node would parse the CA and the client key again for each (~1 ms),
      // and every log stream and watch holds a connection of its own.
      const { ca, cert, key, pfx, passphrase } = options as SecureContextOptions;
      const secureContext = createSecureContext({ ca, cert, key, pfx, passphrase });
      const agent = createAgent(cluster, { ...options, secureContext, keepAlive: true, timeout: 30_000 } as AgentOptions) as Agent & {
        addRequest(request: ClientRequest, options: unknown): void;
      };
      const addRequest = agent.addRequest.bind(agent);
      agent.addRequest = (request, requestOptions) => {
        for (const observe of observers.get(config) ?? []) observe({ method: request.method, path: request.path });
        addRequest(request, requestOptions);
      };
      current = { cluster, options, agent };
    }
    return current.agent;
  };
}

/** Whether two agents' options are the same (the CA, a client certificate: new Buffers each time, of the same bytes). */
function sameOptions(a: AgentOptions, b: AgentOptions): boolean {
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  return [...new Set([...Object.keys(x), ...Object.keys(y)])].every(
    (key) => x[key] === y[key] || (Buffer.isBuffer(x[key]) && Buffer.isBuffer(y[key]) && x[key].equals(y[key])),
  );
}

/** The HTTP status of an API error, or null for one that never reached the server. */
export function statusOf(error: unknown): number | null {
  return error instanceof ApiException ? error.code : null;
}

/** The API server's own message in a Status body. */
export function apiMessage(error: unknown): string {
  if (error instanceof ApiException) {
    const body = error.body as unknown;
    const parsed = typeof body === 'string' ? safeJson(body) : body;
    const message = (parsed as { message?: unknown } | null)?.message;
    if (typeof message === 'string' && message) return message;
    return `HTTP ${error.code}`;
  }
  return error instanceof Error ? error.message : String(error);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * What an API error means for the caller of `action` ("create the job"): 400 and 422 are the
 * request's fault; 409 (the Job conflicts with what the cluster holds) and 404 (the Job is gone)
 * are the job's state; 401/403, 429 (the API server sheds load), 5xx and no answer are the
 * provider's, which the gateway counts against its circuit; anything else is returned as it is.
 */
export function kubernetesError(error: unknown, providerId: string, action: string, jobId = ''): unknown {
  const status = statusOf(error);
  const message = apiMessage(error);
  if (status === 422 || status === 400) return new InvalidInputError(`Kubernetes refused to ${action}: ${message}`);
  if (status === 409)
    return new InvalidStateError(jobId, `Kubernetes refused to ${action}: it conflicts with what the cluster holds (409): ${message}`);
  if (status === 404) return new InvalidStateError(jobId, `Kubernetes could not ${action}: its Job is gone (404): ${message}`);
  if (status === 401)
    return new ProviderUnavailableError(providerId, `Kubernetes does not accept the provider's credentials (401) to ${action}: ${message}`);
  if (status === 403) return new ProviderUnavailableError(providerId, `Kubernetes RBAC does not let the provider ${action} (403): ${message}`);
  if (status === 429)
    return new ProviderUnavailableError(providerId, `the Kubernetes API server is shedding load and refused to ${action} (429): ${message}`);
  if (status === null)
    return new ProviderUnavailableError(providerId, `cannot reach the Kubernetes API server to ${action}: ${message}`, { cause: error });
  if (status >= 500)
    return new ProviderUnavailableError(providerId, `the Kubernetes API server failed to ${action} (${status}): ${message}`, { cause: error });
  return error;
}
