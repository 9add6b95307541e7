/**
 * Our own nats-server (JetStream) and redis-server on free loopback ports,
 * for the test suite's global setup and for the bench. With a binary missing
 * it falls back to NATS_URL / REDIS_URL, and with neither it fails at once
 * saying what to install.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LocalServers {
  natsUrl: string;
  redisUrl: string;
  /** True when the servers are this process's children, so their whole content is ours. */
  owned: { nats: boolean; redis: boolean };
  /** Server versions, for the results file. */
  versions: { nats: string | null; redis: string | null };
  stop(): Promise<void>;
  /** Last resort on process exit: SIGKILL the servers synchronously, so a crash never leaves them running. */
  killNow(): void;
}

function findBinary(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/usr/local/bin'])) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return null;
}

export async function freePort(): Promise<number> {
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

function versionOf(binary: string, flag: string): string | null {
  try {
    return execFileSync(binary, [flag], { encoding: 'utf8', timeout: 5_000 }).trim().split('\n')[0];
  } catch {
    return null;
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    // A server that ignores SIGTERM must not hold the bench: SIGKILL after 5 s.
    const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
    force.unref();
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Starts both servers (or takes the URLs from the environment) and waits until they listen. */
export async function startLocalServers(purpose: string): Promise<LocalServers> {
  const natsBin = findBinary('nats-server');
  const redisBin = findBinary('redis-server');
  const dataDir = mkdtempSync(join(tmpdir(), `switchyard-${purpose}-`));
  const children: ChildProcess[] = [];

  const stop = async () => {
    await Promise.all(children.map(stopChild));
    rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    let natsUrl = process.env.NATS_URL;
    if (natsBin) {
      const port = await freePort();
      const child = spawn(natsBin, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dataDir, 'nats')], { stdio: 'ignore' });
      children.push(child);
      await waitForPort(port, child, 'nats-server');
      natsUrl = `nats://127.0.0.1:${port}`;
    }
    let redisUrl = process.env.REDIS_URL;
    if (redisBin) {
      const port = await freePort();
      const child = spawn(redisBin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dataDir], {
        stdio: 'ignore',
      });
      children.push(child);
      await waitForPort(port, child, 'redis-server');
      redisUrl = `redis://127.0.0.1:${port}`;
    }
    const missing = [
      natsUrl ? null : 'nats-server (apt-get install nats-server) or NATS_URL',
      redisUrl ? null : 'redis-server (apt-get install redis-server) or REDIS_URL',
    ].filter(Boolean);
    if (missing.length > 0) throw new Error(`The ${purpose} need real services. Install or point at: ${missing.join('; ')}`);
    return {
      natsUrl: natsUrl!,
      redisUrl: redisUrl!,
      owned: { nats: natsBin !== null, redis: redisBin !== null },
      versions: {
        nats: natsBin ? versionOf(natsBin, '--version') : null,
        redis: redisBin ? versionOf(redisBin, '--version') : null,
      },
      stop,
      killNow() {
        for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
