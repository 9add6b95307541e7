/** Starts `switchyard` subcommands as child processes, the way an operator would, and stops them. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { eventually, type TestClient } from './graphql-client.js';
import { natsUrl, redisUrl } from './services.js';

export { freePort } from './local-servers.js';

const BIN = fileURLToPath(new URL('../../bin/switchyard.js', import.meta.url));

export interface Proc {
  child: ChildProcess;
  output: () => string;
  /** SIGKILL, and wait for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export function startSwitchyard(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  return {
    child,
    output: () => output,
    kill(signal = 'SIGKILL') {
      return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      });
    },
  };
}

/** Waits until GET /readyz answers 200, or fails with the process's output. */
export async function waitReady(baseUrl: string, proc: Proc, timeoutMs = 20_000): Promise<void> {
  await eventually(
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`exited with ${proc.child.exitCode}: ${proc.output()}`);
      const res = await fetch(`${baseUrl}/readyz`).catch(() => null);
      return res?.status === 200;
    },
    { timeoutMs, what: `${baseUrl} to be ready; output: ${proc.output().slice(-2000)}` },
  );
}

/** Waits until the gateway shows the provider UP with its products, or fails with the provider's output. */
export async function waitProviderUp(client: TestClient, providerId: string, proc: Proc, what = ''): Promise<void> {
  await eventually(
    async () => {
      const data = await client.ok(`query ($id: ID!) { provider(id: $id) { status products { id } } }`, { id: providerId });
      return data.provider?.status === 'UP' && data.provider.products.length > 0;
    },
    { timeoutMs: 20_000, what: `provider ${providerId} to be UP${what}; provider output: ${proc.output().slice(-1500)}` },
  );
}

/** The environment of a gateway process on 127.0.0.1:`port`, over the setup's NATS and Redis, its names under `prefix`. */
export function gatewayProcessEnv(
  options: { prefix: string; adminToken: string; port: number },
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    NATS_URL: natsUrl(),
    REDIS_URL: redisUrl(),
    SWITCHYARD_PREFIX: options.prefix,
    SWITCHYARD_ADMIN_TOKEN: options.adminToken,
    PORT: String(options.port),
    HOST: '127.0.0.1',
    ...extra,
  };
}
