/**
 * What a provider plugin implements: a driver behind this small interface plus
 * its manifest. The runtime (runtime.ts) does everything that is the same for
 * all providers: NATS, validation, announcements, heartbeats, event publishing
 * and reconciliation.
 */
import type { Duplex } from 'node:stream';

import type { Clock } from '../../shared/clock.js';
import type { InteractiveSessionType, JobState, Manifest, Utilization } from '../../shared/domain.js';
import type { Logger } from '../../shared/logger.js';
import type { CreateJob, JobObservation } from '../../shared/protocol.js';

/** A change the driver observed; the runtime turns it into a durable JobEvent. */
export interface DriverJobChange {
  state?: JobState;
  status?: string;
  exitCode?: number;
  startedAt?: number;
  /** Usage as the backend counts it (started price units × replicas); leave out to let the gateway count. */
  usageUnits?: number;
  expiresAt?: number;
  providerGeneratedId?: string;
}

export interface DriverLogLine {
  rank: number;
  stdout?: string;
  stderr?: string;
  timestamp?: number;
}

export interface DriverContext {
  readonly providerId: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Report a change; the runtime publishes it durably, in order, retrying until stored. */
  emit(jobId: string, change: DriverJobChange): void;
  /** Report output; the runtime batches lines into log events. */
  log(jobId: string, line: DriverLogLine): void;
}

/** A session the gateway asks for: a type, on one rank of a running job, with the client's terminal size (WEB: the app's port). */
export interface DriverSessionRequest {
  jobId: string;
  rank: number;
  type: InteractiveSessionType;
  cols: number;
  rows: number;
  /** WEB: the port the job's app listens on, on the rank's host. */
  port?: number;
}

/**
 * An open session, as the backend gives it: a duplex byte stream (what the user types goes in,
 * what the terminal shows comes out; a pty merges stderr into it; for WEB, one connection to the
 * app's port, `socketSession`/`connectTcpSession`), a resize, and the exit code.
 * The runtime relays it to the gateway with flow control: it pauses the stream while the client
 * is behind and writes into it no faster than it takes bytes (a write's callback).
 */
export interface DriverSession {
  readonly stream: Duplex;
  resize(cols: number, rows: number): void;
  /** Resolves when the session's process ended; exitCode null when the backend cannot tell. */
  readonly exit: Promise<{ exitCode: number | null }>;
  /** End it from this side (the user left, the provider stops): hang up the terminal, stop the process. */
  close(): void;
}

/**
 * A provider's driver. Methods throw SwitchyardError (NotFoundError,
 * InvalidStateError, UnsupportedError, ...) for refusals; the runtime sends
 * the code back to the gateway.
 */
export interface Driver {
  /**
   * Optional: how many creates of one bulk request the runtime runs at once, for a driver that
   * paces its backend itself (the Slurm driver runs at most 16 sbatch however many creates are
   * under way): a create spends most of its time waiting, on its records and on the backend, and
   * with more at once the next jobs are ready when a backend slot frees. @default the runtime's requestConcurrency (16)
   */
  readonly createConcurrency?: number;
  /** Called once before any other method. */
  start(context: DriverContext): Promise<void>;
  manifest(): Promise<Manifest>;
  utilization(): Promise<Utilization>;
  /** Accept a job; the job id is the gateway's and a repeated create of the same id must not start it twice. */
  create(job: CreateJob): Promise<{ providerGeneratedId: string | null }>;
  /** Stop a job; `reason` (e.g. "No more credits") belongs in its final status: "Your job has been terminated (No more credits)". */
  terminate(jobId: string, reason?: string): Promise<void>;
  /** Move the deadline by addMs; answers the new deadline. */
  extend(jobId: string, addMs: number): Promise<{ expiresAt: number | null }>;
  suspend(jobId: string): Promise<void>;
  unsuspend(jobId: string): Promise<void>;
  /** What the driver knows of a job now; state null when it has never heard of it. */
  observe(jobId: string): Promise<JobObservation>;
  /**
   * Optional: open an interactive session on a rank of a running job (the runtime has checked it
   * runs here). Without it, the provider answers UNSUPPORTED. Throw InvalidStateError when the rank
   * is gone, UnsupportedError for a type the backend lacks. The session runs in the job's own
   * environment, never beside it on the host.
   */
  openSession?(request: DriverSessionRequest): Promise<DriverSession>;
  /** Release resources; running jobs are left as the backend keeps them. */
  stop(): Promise<void>;
  /**
   * Optional: a GraphQL subschema of the provider's own, stitched into the
   * gateway's schema by type merging. Convention, for a provider of kind K
   * (lowercase k in field names; types prefixed with K, e.g. SlurmJobDetails):
   *
   *   type Job @key(selectionSet: "{ id }") { id: ID!  k: KJobDetails }          # null for jobs it does not run
   *   type Provider @key(selectionSet: "{ id }") { id: ID!  kSomething: ... }    # null for other providers
   *   type Query {
   *     _kJobs(ids: [ID!]!): [Job]! @merge(keyField: "id")
   *     _kProviders(ids: [ID!]!): [Provider]! @merge(keyField: "id")
   *   }
   *
   * The runtime adds the stitching directives' definitions; the gateway asks
   * every provider of the kind and keeps, per item, the first non-null answer.
   */
  subschema?(): { typeDefs: string; resolvers: Record<string, unknown> };
}
