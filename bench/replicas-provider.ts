/**
 * The replicas benchmark's provider as a process of its own (bench/replicas.ts): the instant
 * driver ending every job at once, except the followed ones (named `held-…`), which wait IN_QUEUE
 * until the bench sends `{ release: [ids] }` over IPC. Settings as every provider reads them
 * (NATS_URL, SWITCHYARD_PREFIX, SWITCHYARD_OUTBOX_DIR).
 */
import { runProviderProcess } from '../providers/sdk/provider-process.js';
import { createInstantDriver, HELD_NAME_PREFIX, INSTANT_PROVIDER_ID } from './instant-driver.js';

const driver = createInstantDriver({ finish: true, hold: (job) => job.specification.name?.startsWith(HELD_NAME_PREFIX) ?? false });

process.on('message', (message: { release?: string[] }) => {
  const released = (message.release ?? []).filter((id) => driver.release(id)).length;
  process.send?.({ released });
});

await runProviderProcess({ id: INSTANT_PROVIDER_ID, kind: 'SIMULATED', version: 'bench', settings: {}, createDriver: () => driver });
