/**
 * A whole provider written against the SDK in one short file: a driver that
 * "runs" a job by greeting, with the job book for its records and the
 * subschema helper for its own field, served through the gateway.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  computeSupport,
  createJobBook,
  defineProviderSubschema,
  requireActive,
  STATUS,
  type Driver,
  type DriverContext,
  type JobRecordBase,
} from '../providers/sdk/index.js';
import { systemClock } from '../shared/clock.js';
import { startEmbeddedGateway, type EmbeddedGateway } from './support/embedded-gateway.js';
import { eventually, waitForState, type TestClient } from './support/graphql-client.js';

// ---- the provider: everything below up to the tests ----------------------------------------
function createHelloDriver(): Driver {
  let ctx: DriverContext | null = null;
  const context = () =>
    ctx ??
    (() => {
      throw new Error('not started');
    })();
  const jobs = createJobBook<JobRecordBase & { greeting: string }>({ context });
  const product = {
    id: 'hello',
    category: 'hello',
    name: 'Hello',
    description: 'Greets',
    cpu: 1,
    memoryInGigs: 1,
    gpu: 0,
    pricePerUnit: 0,
    unitOfPrice: 'CREDITS_PER_MINUTE' as const,
    freeToUse: true,
    priority: 0,
    support: computeSupport({ backend: 'NATIVE' }),
  };
  return {
    async start(driverContext) {
      ctx = driverContext;
    },
    async manifest() {
      return { products: [product] };
    },
    async utilization() {
      return {
        capacity: { cpu: 1, memoryInGigs: 1, gpu: 0 },
        usedCapacity: { cpu: 0, memoryInGigs: 0, gpu: 0 },
        queueStatus: { running: 0, pending: 0 },
        observedAt: systemClock.now(),
        capacityByProduct: { hello: 1 },
      };
    },
    create: (job) =>
      jobs.create(job.id, async () => {
        const entry = {
          record: {
            id: job.id,
            state: 'IN_QUEUE' as const,
            status: null,
            exitCode: null,
            startedAt: null,
            expiresAt: null,
            greeting: `hello ${job.specification.command?.[1] ?? 'world'}`,
          },
        };
        setTimeout(() => {
          jobs.change(entry, { state: 'RUNNING', startedAt: systemClock.now(), status: 'Greeting' });
          context().log(job.id, { rank: 0, stdout: entry.record.greeting });
          jobs.change(entry, { state: 'SUCCESS', exitCode: 0, status: STATUS.finished(0) });
        }, 10);
        return entry;
      }),
    async terminate(jobId, reason) {
      const job = await jobs.lookup(jobId);
      requireActive(job.record, 'terminate');
      jobs.change(job, { state: 'SUCCESS', status: STATUS.terminated(reason) });
    },
    extend: async () => ({ expiresAt: null }),
    suspend: async () => undefined,
    unsuspend: async () => undefined,
    observe: async (jobId) => jobs.observe(jobId),
    async stop() {
      ctx = null;
    },
    subschema: () =>
      defineProviderSubschema(
        {
          kind: 'LOCAL',
          typeDefs: 'type HelloJobDetails { greeting: String! }',
          job: {
            name: 'hello',
            type: 'HelloJobDetails',
            description: 'Set for hello jobs.',
            resolve: (id) => {
              const job = jobs.get(id);
              return job ? { greeting: job.record.greeting } : null;
            },
          },
        },
        () => ctx,
      ),
  };
}
// ---------------------------------------------------------------------------------------------

let env: EmbeddedGateway;
let admin: TestClient;

beforeAll(async () => {
  env = await startEmbeddedGateway({ providers: [{ id: 'hello', kind: 'LOCAL', driver: createHelloDriver() }] });
  admin = env.admin;
});

afterAll(async () => {
  await env?.stop();
});

describe('a provider written against the SDK in one short file', () => {
  it('runs a job through the gateway: its states, its output and its own stitched field', async () => {
    const created = await admin.ok(
      `mutation { createJobs(specifications: [{ product: { id: "hello", provider: "hello" }, command: ["greet", "Ada"] }]) { job { id } error { code message } } }`,
    );
    expect(created.createJobs[0].error).toBeNull();
    const id = created.createJobs[0].job.id as string;
    await waitForState(admin, id, ['SUCCESS']);
    const data = await eventually(
      async () => {
        const view = await admin.ok(
          `query ($id: ID!) { job(id: $id) { status { state exitCode } updates { state status } hello { greeting } logs { stdout } } }`,
          { id },
        );
        return view.job.logs.length > 0 && view.job.hello ? view : null;
      },
      { what: 'the job, its log line and its stitched field' },
    );
    expect(data.job.status).toEqual({ state: 'SUCCESS', exitCode: 0 });
    expect(data.job.updates.map((u: { state: string }) => u.state)).toEqual(['IN_QUEUE', 'RUNNING', 'SUCCESS']);
    expect(data.job.hello).toEqual({ greeting: 'hello Ada' });
    expect(data.job.logs.map((l: { stdout: string }) => l.stdout)).toEqual(['hello Ada']);
  });

  it('answers a repeated create of one id with the first job, and a terminate of an ended job with INVALID_STATE', async () => {
    const created = await admin.ok(
      `mutation { createJobs(specifications: [{ product: { id: "hello", provider: "hello" }, command: ["greet"] }]) { job { id } } }`,
    );
    const id = created.createJobs[0].job.id as string;
    await waitForState(admin, id, ['SUCCESS']);
    const stopped = await admin.ok(`mutation ($id: ID!) { terminateJobs(ids: [$id]) { error { code } } }`, { id });
    expect(stopped.terminateJobs[0].error?.code).toBe('INVALID_STATE');
  });
});
