/** Builders of Slurm job records for the pure tests beside this file. */
import type { SlurmJobRecord } from './slurm-records.js';

/** A record of a job Slurm has taken and not yet started. */
export function pendingRecord(overrides: Partial<SlurmJobRecord> = {}): SlurmJobRecord {
  return {
    v: 1,
    id: 'job-1',
    slurmJobId: '42',
    state: 'IN_QUEUE',
    status: null,
    exitCode: null,
    startedAt: null,
    expiresAt: null,
    productId: 'slurm-debug',
    replicas: 1,
    unitSeconds: 3600,
    usageUnits: 0,
    ending: null,
    endingReason: null,
    offsets: {},
    slurm: { state: 'PENDING', reason: null, partition: 'debug', nodeList: null, elapsedSeconds: null, exitCode: null, timeLimitSeconds: 3600 },
    account: null,
    launch: null,
    array: null,
    taskJobId: null,
    ...overrides,
  };
}
