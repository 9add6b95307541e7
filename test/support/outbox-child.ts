/**
 * A provider runtime killed with events unpublished, for the runtime's tests
 * (providers/sdk/runtime.test.ts). It runs on an in-process bus that refuses
 * every durable publish (as JetStream does while NATS is away) with an outbox
 * journal in the directory given, reports one job's start, output and end and
 * another job's output still collecting, prints "journaled", and waits to be
 * SIGKILLed. Run with `node --import tsx <this file> <outboxDir> <subject prefix> <jobId>`.
 */
import { LOCAL_PRODUCTS } from '../../providers/local/local-driver.js';
import type { Driver, DriverContext } from '../../providers/sdk/driver.js';
import { createProviderRuntime } from '../../providers/sdk/runtime.js';
import { systemClock } from '../../shared/clock.js';
import { createSubjects } from '../../shared/subjects.js';
import type { Transport } from '../../shared/transport.js';
import { createMemoryTransport } from '../../shared/transport/memory-transport.js';

const [outboxDir, prefix, jobId] = process.argv.slice(2);
if (outboxDir === undefined || prefix === undefined || jobId === undefined)
  throw new Error('usage: outbox-child.ts <outboxDir> <subject prefix> <jobId>');
const bus = createMemoryTransport({ subjects: createSubjects(prefix) });
const refusing: Transport = new Proxy(bus, {
  get(target, property, receiver) {
    if (property === 'publishDurable') return async () => Promise.reject(new Error('NATS is away'));
    return Reflect.get(target, property, receiver);
  },
});
let context: DriverContext | null = null;
const unsupported = async () => {
  throw new Error('not in this test');
};
const driver: Driver = {
  async start(ctx) {
    context = ctx;
  },
  manifest: async () => ({ products: [...LOCAL_PRODUCTS] }),
  utilization: unsupported,
  create: unsupported,
  terminate: unsupported,
  extend: unsupported,
  suspend: unsupported,
  unsuspend: unsupported,
  observe: async (id) => ({ id, state: null, status: null, exitCode: null, startedAt: null, expiresAt: null, providerGeneratedId: null }),
  stop: async () => {},
};
const runtime = createProviderRuntime({
  transport: refusing,
  driver,
  id: 'local',
  kind: 'LOCAL',
  version: 'test',
  clock: systemClock,
  outboxDir,
  logBatchMs: 60_000,
});
await runtime.start();
context!.emit(jobId, { state: 'RUNNING', startedAt: Date.now(), status: 'Job started' });
context!.log(jobId, { rank: 0, stdout: 'line 1' });
context!.log(jobId, { rank: 0, stdout: 'line 2' });
context!.emit(jobId, { state: 'SUCCESS', exitCode: 0, status: 'Job finished with exit code 0' });
// Output of another job still being collected (its batch is not full and its timer far off).
context!.log(`${jobId}-other`, { rank: 0, stdout: 'still collecting' });
setTimeout(() => process.stdout.write('journaled\n'), 50);
setInterval(() => {}, 1_000);
