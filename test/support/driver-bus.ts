/**
 * What a driver test puts around the driver under test: an in-process bus of its
 * own (memory transport, a unique subject prefix) that records every job event and
 * log event the provider publishes, the provider runtime started on it, and calls to
 * the provider as the gateway makes them.
 */
import type { Driver } from '../../providers/sdk/index.js';
import { createProviderRuntime, type ProviderRuntime } from '../../providers/sdk/runtime.js';
import type { Product, ProviderKind } from '../../shared/domain.js';
import { silentLogger } from '../../shared/logger.js';
import { jobEventSchema, logEventSchema, type JobEvent, type LogEvent } from '../../shared/protocol.js';
import { createSubjects, type ProviderVerb } from '../../shared/subjects.js';
import { createMemoryTransport } from '../../shared/transport/memory-transport.js';
import { uniquePrefix } from './services.js';

export async function createDriverBus(providerId: string, options: { kind: ProviderKind; timeoutMs: number }) {
  const transport = createMemoryTransport({ subjects: createSubjects(uniquePrefix()) });
  const events: JobEvent[] = [];
  const logs: LogEvent[] = [];
  await transport.consumeDurable(async (body, subject) => {
    if (subject.includes('.events.')) events.push(jobEventSchema.parse(body));
    else logs.push(logEventSchema.parse(body));
  });
  const startRuntime = async (driver: Driver): Promise<ProviderRuntime> => {
    const runtime = createProviderRuntime({ transport, driver, id: providerId, kind: options.kind, version: '0.1.0', logger: silentLogger() });
    await runtime.start();
    return runtime;
  };
  const call = (verb: ProviderVerb, body: object) =>
    transport.request(transport.subjects.providerCall(providerId, verb), { v: 1, ...body }, { timeoutMs: options.timeoutMs }) as Promise<any>;
  const product = async (id: string): Promise<Product> => (await call('manifest', {})).result.products.find((p: Product) => p.id === id);
  const eventsOf = (jobId: string) => events.filter((e) => e.jobId === jobId);
  const logLinesOf = (jobId: string) => logs.filter((l) => l.jobId === jobId).flatMap((l) => l.lines);
  return { transport, events, logs, startRuntime, call, product, eventsOf, logLinesOf };
}
