/**
 * Three nats-servers with JetStream clustered over loopback routes, each with
 * its own store directory, for tests that kill one of them. Each server can be
 * killed and started again at the same ports with the same store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

import { eventually } from './graphql-client.js';
import { freePort, ownServer, requireBinary, type OwnServer } from './local-servers.js';

export interface NatsCluster {
  servers: OwnServer[];
  /** Every client URL, comma-separated, as NATS_URL takes them. */
  url: string;
  /** Resolves once every running server sees a JetStream meta leader (streams can be made). */
  ready(): Promise<void>;
  /** The running server a client connection of this name is on, if any. */
  serverWithConnection(name: string): Promise<OwnServer | null>;
  /** The server leading a stream's replicas, if one leads. */
  streamLeader(stream: string): Promise<OwnServer | null>;
  stop(): Promise<void>;
  killNow(): void;
}

interface JetStreamInfo {
  meta_cluster?: { leader?: string; cluster_size?: number; replicas?: { name: string; current?: boolean }[] };
  account_details?: { stream_detail?: { name: string; cluster?: { leader?: string } }[] }[];
}

/** Whether the JetStream API answers on this server's connection. */
async function jetStreamAnswers(url: string): Promise<boolean> {
  const nc = await connect({ servers: url, timeout: 1_000, reconnect: false }).catch(() => null);
  if (!nc) return false;
  try {
    await (await jetstreamManager(nc, { timeout: 1_000 })).getAccountInfo();
    return true;
  } catch {
    return false;
  } finally {
    await nc.close().catch(() => undefined);
  }
}

export async function startNatsCluster(options: { size?: number; name?: string } = {}): Promise<NatsCluster> {
  const binary = requireBinary('nats-server', 'nats-server');
  const size = options.size ?? 3;
  const clusterName = options.name ?? 'switchyard-test';
  const base = mkdtempSync(join(tmpdir(), 'sy-nats-cluster-'));
  const nodes: { client: number; route: number; monitor: number }[] = [];
  for (let i = 0; i < size; i++) nodes.push({ client: await freePort(), route: await freePort(), monitor: await freePort() });
  // Each server is routed to the others only: with its own address among them it was seen to
  // bootstrap JetStream's meta group with a wrong size, and then place no replicated stream.
  const routesOf = (self: number) =>
    nodes
      .filter((_, i) => i !== self)
      .map((node) => `nats://127.0.0.1:${node.route}`)
      .join(',');
  const servers = nodes.map((node, i) => {
    const dataDir = join(base, `n${i + 1}`);
    return ownServer(`nats-server n${i + 1}`, binary, node.client, dataDir, `nats://127.0.0.1:${node.client}`, [
      ...['-a', '127.0.0.1', '-p', String(node.client), '-m', String(node.monitor)],
      ...['--server_name', `n${i + 1}`, '--cluster_name', clusterName],
      ...['--cluster', `nats://127.0.0.1:${node.route}`, '--routes', routesOf(i)],
      ...['-js', '-sd', join(dataDir, 'jetstream')],
    ]);
  });
  const ready = async () => {
    await eventually(
      async () => {
        const running = nodes.map((node, i) => ({ ...node, name: `n${i + 1}` })).filter((_, i) => servers[i]!.running());
        const answers = await Promise.all(
          running.map((node) =>
            fetch(`http://127.0.0.1:${node.monitor}/jsz`)
              .then(async (res) => ({ name: node.name, ...((await res.json()) as JetStreamInfo) }))
              .catch(() => null),
          ),
        );
        if (!answers.every((info) => Boolean(info?.meta_cluster?.leader))) return false;
        // The leader places replicated streams: it must count every server as a current peer, or
        // an R3 stream made now is refused ("no suitable peers for placement").
        const leader = answers.find((info) => info?.name === info?.meta_cluster?.leader)?.meta_cluster;
        if (running.length === size && (leader?.cluster_size !== size || leader.replicas?.filter((peer) => peer.current).length !== size - 1))
          return false;
        // A meta leader is not yet a JetStream that answers on every server: ask each one.
        const answering = await Promise.all(servers.filter((server) => server.running()).map((server) => jetStreamAnswers(server.url)));
        return answering.every(Boolean);
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'the NATS cluster to elect a JetStream meta leader that sees every server' },
    );
  };
  const monitor = async <T>(i: number, path: string): Promise<T | null> =>
    servers[i]!.running()
      ? fetch(`http://127.0.0.1:${nodes[i]!.monitor}${path}`)
          .then((res) => res.json() as Promise<T>)
          .catch(() => null)
      : null;
  const serverWithConnection = async (name: string) => {
    for (let i = 0; i < size; i++) {
      const connz = await monitor<{ connections?: { name?: string }[] }>(i, '/connz');
      if (connz?.connections?.some((connection) => connection.name === name)) return servers[i]!;
    }
    return null;
  };
  const streamLeader = async (stream: string) => {
    for (let i = 0; i < size; i++) {
      const jsz = await monitor<JetStreamInfo>(i, '/jsz?streams=true');
      const detail = jsz?.account_details?.flatMap((account) => account.stream_detail ?? []).find((s) => s.name === stream);
      const leader = detail?.cluster?.leader;
      if (leader) return servers.find((server) => server.name === `nats-server ${leader}`) ?? null;
    }
    return null;
  };
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()));
    rmSync(base, { recursive: true, force: true });
  };
  try {
    await Promise.all(servers.map((server) => server.start()));
    await ready();
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    servers,
    url: servers.map((server) => server.url).join(','),
    ready,
    serverWithConnection,
    streamLeader,
    stop,
    killNow() {
      for (const server of servers) server.killNow();
      rmSync(base, { recursive: true, force: true });
    },
  };
}
