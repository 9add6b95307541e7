/**
 * `switchyard gateway` as a process of its own for the sessions benchmark, with a probe the bench
 * asks over IPC: a full collection (the process runs with --expose-gc), then process.memoryUsage(),
 * so the memory of idle sessions is measured in the gateway alone, not in the bench's clients.
 */
import { runGateway } from '../gateway/main.js';

process.on('message', (message) => {
  if (message !== 'memory') return;
  globalThis.gc?.();
  process.send?.(process.memoryUsage());
});

await runGateway();
