/**
 * Starts the suite's own nats-server (JetStream) and redis-server on free
 * loopback ports when the binaries are installed; otherwise uses NATS_URL and
 * REDIS_URL; with neither, fails at once saying what to install.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    natsUrl: string;
    redisUrl: string;
  }
}

function findBinary(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/usr/local/bin'])) {
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, name: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} before it was ready`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${name} did not listen on ${port} within 10 s`);
}

const children: ChildProcess[] = [];
let dataDir: string | null = null;

export async function setup(project: TestProject): Promise<void> {
  const natsBin = findBinary('nats-server');
  const redisBin = findBinary('redis-server');
  dataDir = mkdtempSync(join(tmpdir(), 'switchyard-test-'));

  let natsUrl = process.env.NATS_URL;
  if (natsBin) {
    const port = await freePort();
    const child = spawn(natsBin, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dataDir, 'nats')], {
      stdio: 'ignore',
    });
    children.push(child);
    await waitForPort(port, child, 'nats-server');
    natsUrl = `nats://127.0.0.1:${port}`;
  }
  let redisUrl = process.env.REDIS_URL;
  if (redisBin) {
    const port = await freePort();
    const child = spawn(
      redisBin,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dataDir],
      { stdio: 'ignore' },
    );
    children.push(child);
    await waitForPort(port, child, 'redis-server');
    redisUrl = `redis://127.0.0.1:${port}`;
  }
  const missing = [
    natsUrl ? null : 'nats-server (apt-get install nats-server) or NATS_URL',
    redisUrl ? null : 'redis-server (apt-get install redis-server) or REDIS_URL',
  ].filter(Boolean);
  if (missing.length > 0) {
    await teardown();
    throw new Error(`The tests need real services. Install or point at: ${missing.join('; ')}`);
  }
  project.provide('natsUrl', natsUrl!);
  project.provide('redisUrl', redisUrl!);
  // Child processes started by end-to-end tests read these too.
  process.env.SWITCHYARD_TEST_NATS_URL = natsUrl;
  process.env.SWITCHYARD_TEST_REDIS_URL = redisUrl;
}

export async function teardown(): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}
