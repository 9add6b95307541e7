/**
 * What a provider plugin implements: a driver behind this small interface plus
 * its manifest. The runtime (runtime.ts) does everything that is the same for
 * all providers: NATS, validation, announcements, heartbeats, event publishing
 * and reconciliation.
 */
import type { Clock } from '../../shared/clock.js';
import type { JobState, Manifest, Utilization } from '../../shared/domain.js';
import type { Logger } from '../../shared/logger.js';
import type { CreateJob, JobObservation } from '../../shared/protocol.js';

/** A change the driver observed; the runtime turns it into a durable JobEvent. */
export interface DriverJobChange {
  state?: JobState;
  status?: string;
  exitCode?: number;
  startedAt?: number;
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

/**
 * A provider's driver. Methods throw SwitchyardError (NotFoundError,
 * InvalidStateError, UnsupportedError, ...) for refusals; the runtime sends
 * the code back to the gateway.
 */
export interface Driver {
  /** Called once before any other method. */
  start(context: DriverContext): Promise<void>;
  manifest(): Promise<Manifest>;
  utilization(): Promise<Utilization>;
  /** Accept a job; the job id is the gateway's and a repeated create of the same id must not start it twice. */
  create(job: CreateJob): Promise<{ providerGeneratedId: string | null }>;
  terminate(jobId: string): Promise<void>;
  /** Move the deadline by addMs; answers the new deadline. */
  extend(jobId: string, addMs: number): Promise<{ expiresAt: number | null }>;
  suspend(jobId: string): Promise<void>;
  unsuspend(jobId: string): Promise<void>;
  /** What the driver knows of a job now; state null when it has never heard of it. */
  observe(jobId: string): Promise<JobObservation>;
  /** Release resources; running jobs are left as the backend keeps them. */
  stop(): Promise<void>;
}
