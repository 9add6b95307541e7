/**
 * The embedded default: gateway, in-memory store, in-process bus and the local
 * provider in one process, no services needed. `npm start` runs this.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createMemoryLedger } from '../gateway/accounting/memory-ledger.js';
import { createGateway, type Gateway } from '../gateway/gateway.js';
import { createMemoryStore } from '../gateway/store/memory-store.js';
import { createLocalDriver } from '../providers/local/local-driver.js';
import { LOCAL_PROVIDER_VERSION } from '../providers/local/main.js';
import { createProviderRuntime } from '../providers/sdk/runtime.js';
import { SIMULATED_CONFIGS } from '../providers/simulated/configs.js';
import { SIMULATED_PROVIDER_VERSION } from '../providers/simulated/main.js';
import { createSimulatedDriver } from '../providers/simulated/simulated-driver.js';
import { systemClock } from '../shared/clock.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { createSubjects } from '../shared/subjects.js';
import { createMemoryTransport } from '../shared/transport/memory-transport.js';

export interface DevOptions {
  port: number;
  host: string;
  adminToken?: string;
  logger?: Logger;
  /** @default 5000 */
  terminateGraceMs?: number;
}

export interface DevInstance {
  gateway: Gateway;
  address: AddressInfo;
  adminToken: string;
  stop(): Promise<void>;
}

export async function startDev(options: DevOptions): Promise<DevInstance> {
  const logger = options.logger ?? createLogger('switchyard-dev');
  const adminToken = options.adminToken ?? randomBytes(24).toString('base64url');
  const transport = createMemoryTransport({ subjects: createSubjects('sy') });
  const store = createMemoryStore();
  const gateway = createGateway({ transport, store, ledger: createMemoryLedger(), clock: systemClock, logger, adminToken });
  const common = { transport, clock: systemClock, logger };
  // Three providers, so a first look shows routing: the local machine, a simulated HPC cluster and a simulated cloud.
  const runtimes = [
    createProviderRuntime({
      ...common,
      driver: createLocalDriver({ stateDir: mkdtempSync(join(tmpdir(), 'switchyard-dev-local-')), terminateGraceMs: options.terminateGraceMs }),
      id: 'local',
      kind: 'LOCAL',
      version: LOCAL_PROVIDER_VERSION,
    }),
    ...(['hpc', 'cloud'] as const).map((name) =>
      createProviderRuntime({
        ...common,
        driver: createSimulatedDriver(SIMULATED_CONFIGS[name], { clock: systemClock }),
        id: `sim-${name}`,
        kind: 'SIMULATED',
        version: SIMULATED_PROVIDER_VERSION,
      }),
    ),
  ];
  for (const runtime of runtimes) await runtime.start();
  const address = await gateway.start(options.port, options.host);
  return {
    gateway,
    address,
    adminToken,
    async stop() {
      await gateway.stop();
      for (const runtime of runtimes) await runtime.stop();
      await transport.close();
      await store.close();
    },
  };
}
