/** Valid jobs for tests, with uuid v7 ids minted at the job's creation time. */
import { randomUUID } from 'node:crypto';
import { v7 } from 'uuid';

import type { Job, JobSpecification, Product } from '../../shared/domain.js';
import type { CreateJob } from '../../shared/protocol.js';

/** A minimal valid specification; `overrides` replace whole fields. */
export function makeSpecification(overrides: Partial<JobSpecification> = {}): JobSpecification {
  return {
    product: { id: 'cpu-1', category: 'cpu', provider: 'local' },
    application: null,
    command: ['sleep', '1'],
    image: null,
    env: null,
    workingDir: null,
    name: null,
    replicas: 1,
    allowDuplicateJob: true,
    parameters: null,
    resources: null,
    timeAllocationMs: null,
    restartOnExit: false,
    sshEnabled: false,
    tags: [],
    description: null,
    priority: null,
    scheduleTimeout: null,
    ...overrides,
  };
}

/**
 * A valid IN_QUEUE job. Its id is a uuid v7 minted at `createdAt` (default:
 * now), so time filters and ordering see the time the test chose; its specHash
 * is unique unless given.
 */
export function makeJob(overrides: Partial<Job> = {}): Job {
  const createdAt = overrides.createdAt ?? Date.now();
  const providerId = overrides.providerId ?? 'local';
  return {
    id: v7({ msecs: createdAt }),
    owner: { createdBy: 'alice', project: null },
    specification: makeSpecification({ product: { id: 'cpu-1', category: 'cpu', provider: providerId } }),
    state: 'IN_QUEUE',
    startedAt: null,
    expiresAt: null,
    exitCode: null,
    allowRestart: false,
    providerId,
    providerGeneratedId: null,
    createdAt,
    updates: [],
    acl: [],
    creditsCharged: 0,
    specHash: `spec-${randomUUID()}`,
    ...overrides,
  };
}

let createCounter = 0;

/** A jobs.create item for `product` at `providerId`, as the gateway would send it. */
export function makeCreateJob(product: Product, providerId: string, spec: Partial<JobSpecification> = {}): CreateJob {
  return {
    id: `job-${process.pid}-${Date.now()}-${createCounter++}`,
    owner: { createdBy: 'alice', project: null },
    product,
    createdAt: Date.now(),
    specification: makeSpecification({
      product: { id: product.id, category: product.category, provider: providerId },
      command: null,
      ...spec,
    }),
  };
}
