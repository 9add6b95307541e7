/**
 * Starts the suite's own nats-server (JetStream) and redis-server on free
 * loopback ports when the binaries are installed; otherwise uses NATS_URL and
 * REDIS_URL; with neither, fails at once saying what to install. Without
 * SLURM_CONF it starts the single-node Slurm cluster (deploy/slurm/slurm-up.sh,
 * which installs Slurm when missing); if that cannot be done, the Slurm tests
 * fail saying why.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
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
  if (!process.env.SLURM_CONF) startSlurm();
  project.provide('natsUrl', servers.natsUrl);
  project.provide('redisUrl', servers.redisUrl);
}

export async function teardown(): Promise<void> {
  await servers?.stop();
}

/** Start (or find running) the test cluster and export SLURM_CONF to the test workers. */
function startSlurm(): void {
  const script = fileURLToPath(new URL('../../deploy/slurm/slurm-up.sh', import.meta.url));
  const runDir = process.env.SWITCHYARD_SLURM_DIR ?? '/tmp/switchyard-slurm';
  try {
    execFileSync('bash', [script, runDir], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
    const match = /^SLURM_CONF=(.+)$/m.exec(readFileSync(`${runDir}/slurm.env`, 'utf8'));
    if (match) process.env.SLURM_CONF = match[1].trim();
  } catch (error) {
    const detail = (error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message;
    process.stderr.write(`global setup: could not start the Slurm test cluster; the Slurm tests will fail: ${detail}\n`);
  }
}
