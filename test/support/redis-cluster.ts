/**
 * A real Redis Cluster of Debian's redis-server on loopback: three masters and
 * a replica of each (`redis-cli --cluster create ... --cluster-replicas 1`),
 * each node with its own directory and an append-only file fsynced before
 * every reply. A short node timeout (1 s) makes a killed master's replica take
 * over within a few seconds.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';

import { connectRedis, scanKeys } from '../../gateway/store/redis-connection.js';
import { eventually } from './graphql-client.js';
import { freePort, ownServer, requireBinary, type OwnServer } from './local-servers.js';

const run = promisify(execFile);

export interface RedisCluster {
  nodes: OwnServer[];
  /** `host:port` of every node, as SWITCHYARD_REDIS_CLUSTER takes them. */
  seeds: string[];
  /** The node serving `key`'s slot as master now. */
  masterOf(key: string): Promise<OwnServer>;
  /** Resolves once every running node says the cluster is ok (every slot served). */
  ready(): Promise<void>;
  stop(): Promise<void>;
  killNow(): void;
}

/** A port whose cluster bus port (port + 10000) is free as well. */
async function clusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10_000 > 65_535) continue;
    const bus = await freePort();
    if (bus !== port + 10_000) return port;
  }
}

export async function startRedisCluster(options: { masters?: number } = {}): Promise<RedisCluster> {
  const binary = requireBinary('redis-server', 'redis-server');
  const cli = requireBinary('redis-cli', 'redis-tools');
  const size = (options.masters ?? 3) * 2;
  const base = mkdtempSync(join(tmpdir(), 'sy-redis-cluster-'));
  const ports: number[] = [];
  while (ports.length < size) {
    const port = await clusterPort();
    if (!ports.includes(port)) ports.push(port);
  }
  const nodes = ports.map((port, i) => {
    const dir = join(base, `node${i + 1}`);
    return ownServer(`redis-server ${port}`, binary, port, dir, `redis://127.0.0.1:${port}`, [
      ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir],
      ...['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '1000'],
      ...['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''],
    ]);
  });
  const seeds = ports.map((port) => `127.0.0.1:${port}`);
  const cliOf = async (port: number, ...args: string[]) => (await run(cli, ['-p', String(port), ...args], { timeout: 10_000 })).stdout;
  const ready = async () => {
    await eventually(
      async () => {
        const states = await Promise.all(nodes.filter((node) => node.running()).map((node) => cliOf(node.port, 'cluster', 'info').catch(() => '')));
        return states.every((info) => info.includes('cluster_state:ok'));
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'the Redis Cluster to serve every slot' },
    );
  };
  const masterOf = async (key: string) => {
    const running = nodes.find((node) => node.running())!;
    const redis = new Redis(running.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      // [[start, end, [ip, port, id] of the master, [ip, port, id] of each replica], ...]
      const slot = await redis.cluster('KEYSLOT', key);
      const ranges = await redis.cluster('SLOTS');
      const range = ranges.find(([start, end]) => slot >= start && slot <= end);
      const master = range?.[2];
      const node = master && nodes.find((candidate) => candidate.port === master[1]);
      if (!node) throw new Error(`no master serves slot ${slot}`);
      return node;
    } finally {
      redis.disconnect();
    }
  };
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    rmSync(base, { recursive: true, force: true });
  };
  try {
    await Promise.all(nodes.map((node) => node.start()));
    await run(cli, ['--cluster', 'create', ...seeds, '--cluster-replicas', '1', '--cluster-yes'], { timeout: 30_000 });
    await ready();
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    nodes,
    seeds,
    masterOf,
    ready,
    stop,
    killNow() {
      for (const node of nodes) node.killNow();
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/**
 * A Redis Cluster for one test file, started when a test first asks for it and stopped after
 * the file's tests; `seeds()` starts it. Each test removes its own keys with deleteClusterKeys.
 */
export function useRedisCluster(): { seeds(): Promise<string[]>; cluster(): Promise<RedisCluster> } {
  let started: Promise<RedisCluster> | null = null;
  const cluster = () => (started ??= startRedisCluster());
  afterAll(async () => {
    if (started) await (await started).stop();
  });
  return { cluster, seeds: async () => (await cluster()).seeds };
}

/** Remove every key of a prefix's components (`{<prefix>}…`, `{<prefix>:ledger}…`) from every master. */
export async function deleteClusterKeys(seeds: string[], prefix: string): Promise<void> {
  const redis = connectRedis({ clusterNodes: seeds });
  try {
    const keys = await scanKeys(redis, `{${prefix}*`);
    // One DEL per key: the components' keys are in different slots.
    await Promise.all(keys.map((key) => redis.del(key)));
  } finally {
    await redis.quit();
  }
}
