/** The pure parts of the UCloud dialect: a JobSpecification as a Switchyard one, and jobs, products and events as UCloud shows them. */
import { describe, expect, it } from 'vitest';

import { computeSupport, type Job, type Product } from '../../../shared/domain.js';
import { fromCore } from './ucloud-errors.js';
import { jobSpecificationSchema, SpecificationError, toSpecification } from './ucloud-specification.js';
import { followView, INLINE_APPLICATION, jobView, productV2View, supportView } from './ucloud-views.js';

/** The reference's "Creating a simple batch Job" item, on a product of ours. */
const REFERENCE_ITEM = {
  application: { name: 'a-batch-application', version: '1.0.0' },
  product: { id: 'small', category: 'cpu', provider: 'hpc' },
  name: null,
  replicas: 1,
  allowDuplicateJob: false,
  parameters: { var: { type: 'text', value: 'Example' } },
  resources: null,
  timeAllocation: null,
  openedFile: null,
  restartOnExit: null,
  sshEnabled: null,
};

const spec = (item: unknown) => jobSpecificationSchema.parse(item);

const PRODUCT: Product = {
  id: 'small',
  category: 'cpu',
  name: 'Small',
  description: '',
  cpu: 2,
  memoryInGigs: 4,
  gpu: 0,
  pricePerUnit: 5,
  unitOfPrice: 'CREDITS_PER_HOUR',
  freeToUse: false,
  priority: 0,
  support: computeSupport({ backend: 'VIRTUAL_MACHINE', suspension: true, terminal: true }),
};

function job(over: Partial<Job> = {}): Job {
  return {
    id: 'j1',
    owner: { createdBy: 'alice', project: 'lab' },
    specification: {
      product: { id: 'small', category: 'cpu', provider: 'hpc' },
      application: null,
      command: ['true'],
      image: null,
      env: null,
      workingDir: null,
      name: 'n',
      replicas: 2,
      allowDuplicateJob: false,
      parameters: null,
      resources: null,
      timeAllocationMs: 3_600_000,
      restartOnExit: false,
      sshEnabled: false,
      tags: ['team=genomics', 'plain'],
      description: null,
      priority: null,
      scheduleTimeout: null,
      project: 'lab',
    } as Job['specification'],
    state: 'RUNNING',
    startedAt: 1_000,
    expiresAt: 1_000 + 5_400_000,
    exitCode: null,
    allowRestart: false,
    providerId: 'hpc',
    providerGeneratedId: '42',
    createdAt: 500,
    updates: [
      { state: 'IN_QUEUE', status: 'queued', newTimeAllocation: null, timestamp: 500 },
      { state: 'RUNNING', status: 'running', newTimeAllocation: null, timestamp: 1_000 },
      { state: null, status: 'extended', newTimeAllocation: 1_800_000, timestamp: 2_000 },
    ],
    acl: [],
    creditsCharged: 0,
    specHash: 'h',
    ...over,
  };
}

describe('a UCloud JobSpecification as a Switchyard one', () => {
  it('runs the command parameter with sh -c, keeps the application and parameters, and makes the other plain values environment variables', () => {
    const input = toSpecification(
      spec({
        ...REFERENCE_ITEM,
        parameters: {
          ...REFERENCE_ITEM.parameters,
          command: { type: 'text', value: 'echo $var' },
          n: { type: 'integer', value: 3 },
          on: { type: 'boolean', value: true },
        },
        timeAllocation: { hours: 5, minutes: 0, seconds: 0 },
        labels: { team: 'genomics' },
      }),
      'NATIVE',
    );
    expect(input).toMatchObject({
      product: { id: 'small', category: 'cpu', provider: 'hpc' },
      application: { name: 'a-batch-application', version: '1.0.0' },
      command: ['sh', '-c', 'echo $var'],
      image: null,
      env: { var: 'Example', n: '3', on: 'true' },
      replicas: 1,
      timeAllocation: { hours: 5, minutes: 0, seconds: 0 },
      tags: ['team=genomics'],
    });
    expect(input.parameters).toHaveProperty('command');
  });

  it("runs the application's image on a container product unless the image parameter names one", () => {
    expect(toSpecification(spec(REFERENCE_ITEM), 'DOCKER').image).toBe('a-batch-application:1.0.0');
    expect(toSpecification(spec({ ...REFERENCE_ITEM, parameters: { image: { type: 'text', value: 'ubuntu:24.04' } } }), 'DOCKER').image).toBe(
      'ubuntu:24.04',
    );
    // Without a command the provider decides what the application is (the core keeps it as given).
    expect(toSpecification(spec(REFERENCE_ITEM), null)).toMatchObject({ command: null, image: null });
  });

  it('refuses files, peers, licences, other resources, an opened file and names that are no environment variable', () => {
    const refused = (item: Record<string, unknown>) => {
      try {
        toSpecification(spec({ ...REFERENCE_ITEM, ...item }), 'NATIVE');
      } catch (error) {
        if (error instanceof SpecificationError) return error.message;
        throw error;
      }
      throw new Error('not refused');
    };
    expect(refused({ parameters: { dataStore: { type: 'file', path: '/123/acme-database', readOnly: false } } })).toContain('file values');
    expect(refused({ parameters: { license: { type: 'license_server', id: '56231' } } })).toContain('license_server');
    expect(refused({ resources: [{ type: 'peer', hostname: 'database', jobId: '4101' }] })).toContain('peer');
    expect(refused({ openedFile: '/home/x' })).toContain('openedFile');
    expect(refused({ parameters: { 'my-var': { type: 'text', value: 'x' } } })).toContain('environment variable');
    expect(refused({ parameters: { command: { type: 'integer', value: 1 } } })).toContain('text value');
    expect(refused({ parameters: { n: { type: 'integer', value: 1.5 } } })).toContain('parameters.n');
  });

  it('is refused by the schema without an application or a product, or with replicas below one', () => {
    expect(jobSpecificationSchema.safeParse({ ...REFERENCE_ITEM, application: undefined }).success).toBe(false);
    expect(jobSpecificationSchema.safeParse({ ...REFERENCE_ITEM, product: { id: 'x' } }).success).toBe(false);
    expect(jobSpecificationSchema.safeParse({ ...REFERENCE_ITEM, replicas: 0 }).success).toBe(false);
  });
});

describe('Switchyard as UCloud shows it', () => {
  it("shows a job's state as it is, its time allocation with extensions, labels from tags, and an inline application", () => {
    const view = jobView(job(), PRODUCT, { includeProduct: true, includeSupport: true, includeOthers: false });
    expect(view).toMatchObject({
      id: 'j1',
      createdAt: 500,
      owner: { createdBy: 'alice', project: 'lab' },
      permissions: null,
      specification: {
        application: INLINE_APPLICATION,
        replicas: 2,
        timeAllocation: { hours: 1, minutes: 30, seconds: 0 },
        labels: { team: 'genomics' },
      },
      status: { state: 'RUNNING', startedAt: 1_000, expiresAt: 5_401_000, resolvedProduct: { name: 'small', pricePerUnit: 5 } },
    });
    expect(view.updates[2]).toEqual({
      state: null,
      outputFolder: null,
      status: 'extended',
      expectedState: null,
      expectedDifferentState: null,
      newTimeAllocation: 1_800_000,
      allowRestart: null,
      newMounts: null,
      timestamp: 2_000,
    });
    for (const state of ['IN_QUEUE', 'CANCELING', 'SUSPENDED', 'EXPIRED'] as const)
      expect(jobView(job({ state }), PRODUCT, view as never).status.state).toBe(state);
    expect(jobView(job(), undefined, { includeProduct: true, includeSupport: true, includeOthers: false }).status.resolvedProduct).toBeNull();
  });

  it('shows support under the backend the product runs and the price of a v2 product as its frequency', () => {
    const support = supportView(PRODUCT, 'hpc');
    expect(support.virtualMachine).toMatchObject({ enabled: true, suspension: true, terminal: true });
    expect(support.docker.enabled).toBe(false);
    expect(productV2View(PRODUCT, 'hpc', 7)).toMatchObject({
      price: 5,
      balance: 7,
      category: { accountingFrequency: 'PERIODIC_HOUR', provider: 'hpc' },
    });
  });

  it('shows a follow event as a JobsFollowResponse', () => {
    const event = {
      updates: [{ state: 'RUNNING' as const, status: 'running', newTimeAllocation: null, timestamp: 1 }],
      logs: [{ rank: 0, stdout: 'hi', stderr: null, timestamp: 2 }],
      status: { state: 'RUNNING' as const, startedAt: 1, expiresAt: null, exitCode: null, allowRestart: false },
    };
    expect(followView(event)).toMatchObject({
      updates: [{ state: 'RUNNING', status: 'running', timestamp: 1 }],
      log: [{ rank: 0, stdout: 'hi', stderr: null }],
      newStatus: { state: 'RUNNING', startedAt: 1 },
      initialJob: null,
    });
  });

  it("answers core errors with UCloud's statuses, credits as 402 NOT_ENOUGH_COMPUTE_CREDITS", () => {
    expect(fromCore({ code: 'INSUFFICIENT_FUNDS', message: 'no credits' }).body()).toEqual({
      statusCode: 402,
      why: 'no credits',
      errorCode: 'NOT_ENOUGH_COMPUTE_CREDITS',
    });
    expect(fromCore({ code: 'UNAUTHENTICATED', message: 'x' }).body()).toEqual({ statusCode: 401, why: 'Unauthorized', errorCode: null });
    expect(fromCore({ code: 'NOT_FOUND', message: 'gone' }).status).toBe(404);
    expect(fromCore({ code: 'DUPLICATE_JOB', message: 'dup' }).status).toBe(409);
    // Nothing internal is told.
    expect(fromCore({ code: 'INTERNAL', message: 'secret detail' }).why).toBe('Internal Server Error');
  });
});
