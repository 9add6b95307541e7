/** The bench's own nats-server and redis-server: the same as the test suite's (test/support/local-servers.ts). */
import { startLocalServers, type LocalServers } from '../test/support/local-servers.js';

export type BenchServices = LocalServers;

export function startServices(): Promise<BenchServices> {
  return startLocalServers('bench');
}
