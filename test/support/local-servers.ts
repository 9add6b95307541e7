/**
 * Our own nats-server (JetStream) and redis-server on free loopback ports,
 * for the test suite's global setup and for the bench. With a binary missing
 * it falls back to NATS_URL / REDIS_URL, and with neither it fails at once
 * saying what to install. For fault injection, startNatsServer and
 * startRedisServer give one server that can be killed and started again at
 * the same address with the same data (they need the binaries).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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
    return execFileSync(binary, [flag], { encoding: 'utf8', timeout: 5_000 }).trim().split('\n')[0]!;
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

/**
 * One server of our own on a fixed loopback port and data directory: it can be
 * killed (SIGKILL by default) and started again at the same address with the
 * same data, as an operator's restart would, for fault-injection tests.
 */
export interface OwnServer {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  running(): boolean;
  /** Start it, or start it again after a kill: same port, same data. Resolves once it listens. */
  start(): Promise<void>;
  /** Signal it (SIGKILL unless told) and wait for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGTERM, SIGKILL after 5 s; the data directory stays (it is the caller's). */
  stop(): Promise<void>;
  /** Synchronous SIGKILL, for process exit. */
  killNow(): void;
}

export function ownServer(name: string, binary: string, port: number, dataDir: string, url: string, args: string[]): OwnServer {
  let child: ChildProcess | null = null;
  const running = () => child !== null && child.exitCode === null && child.signalCode === null;
  return {
    name,
    url,
    port,
    dataDir,
    running,
    async start() {
      if (running()) return;
      mkdirSync(dataDir, { recursive: true });
      child = spawn(binary, args, { stdio: 'ignore' });
      await waitForPort(port, child, name);
    },
    async kill(signal = 'SIGKILL') {
      const current = child;
      if (!current || !running()) return;
      await new Promise<void>((resolve) => {
        current.once('exit', () => resolve());
        current.kill(signal);
      });
    },
    async stop() {
      if (child) await stopChild(child);
    },
    killNow() {
      if (child && running()) child.kill('SIGKILL');
    },
  };
}

export function requireBinary(name: string, debianPackage: string): string {
  const binary = findBinary(name);
  if (!binary) throw new Error(`${name} is needed here and was not found (apt-get install ${debianPackage})`);
  return binary;
}

/**
 * nats-server with JetStream and a file store in `dataDir`, so streams,
 * consumers and key-value buckets survive a kill and restart.
 */
export async function startNatsServer(options: { dataDir: string; port?: number }): Promise<OwnServer> {
  const binary = requireBinary('nats-server', 'nats-server');
  const port = options.port ?? (await freePort());
  const server = ownServer('nats-server', binary, port, options.dataDir, `nats://127.0.0.1:${port}`, [
    '-a',
    '127.0.0.1',
    '-p',
    String(port),
    '-js',
    '-sd',
    join(options.dataDir, 'jetstream'),
  ]);
  await server.start();
  return server;
}

/**
 * redis-server keeping its data in `dataDir`. With `appendOnly` it writes an
 * append-only file fsynced before every reply (`appendfsync always`), so what it
 * acknowledged survives a SIGKILL; without it, it keeps nothing on disk.
 */
export async function startRedisServer(options: { dataDir: string; port?: number; appendOnly?: boolean }): Promise<OwnServer> {
  const binary = requireBinary('redis-server', 'redis-server');
  const port = options.port ?? (await freePort());
  const persistence = options.appendOnly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  const server = ownServer('redis-server', binary, port, options.dataDir, `redis://127.0.0.1:${port}`, [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    ...persistence,
    '--dir',
    options.dataDir,
  ]);
  await server.start();
  return server;
}

/** Starts both servers (or takes the URLs from the environment) and waits until they listen. */
export async function startLocalServers(purpose: string): Promise<LocalServers> {
  const natsBin = findBinary('nats-server');
  const redisBin = findBinary('redis-server');
  const dataDir = mkdtempSync(join(tmpdir(), `switchyard-${purpose}-`));
  const servers: OwnServer[] = [];

  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()));
    rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    let natsUrl = process.env.NATS_URL;
    if (natsBin) {
      const nats = await startNatsServer({ dataDir: join(dataDir, 'nats') });
      servers.push(nats);
      natsUrl = nats.url;
    }
    let redisUrl = process.env.REDIS_URL;
    if (redisBin) {
      const redis = await startRedisServer({ dataDir: join(dataDir, 'redis') });
      servers.push(redis);
      redisUrl = redis.url;
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
        for (const server of servers) server.killNow();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
