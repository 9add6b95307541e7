/**
 * Global setup of the integration and e2e projects: the suite's own nats-server
 * (JetStream) and redis-server on free loopback ports when the binaries are
 * installed; otherwise NATS_URL and REDIS_URL; with neither, it fails at once
 * saying what to install.
 */
import type { TestProject } from 'vitest/node';

import { startLocalServers, type LocalServers } from './local-servers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    natsUrl: string;
    redisUrl: string;
  }
}

let servers: LocalServers | null = null;

export async function setup(project: TestProject): Promise<void> {
  servers = await startLocalServers('tests');
  project.provide('natsUrl', servers.natsUrl);
  project.provide('redisUrl', servers.redisUrl);
}

export async function teardown(): Promise<void> {
  await servers?.stop();
}
