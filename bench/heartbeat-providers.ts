/**
 * The heartbeats bench's providers (bench/heartbeats.ts), a child process of its own so that the
 * gateway's CPU is the gateway's: `count` providers on one NATS connection, each speaking protocol
 * v1 as the SDK runtime does — its verbs served on `<prefix>.v1.provider.<id>.>` in its own queue
 * group, its announcement (validated with the protocol's schema) put in the bucket at start and
 * at every heartbeat — with a manifest of 5 to 20 products and a utilization that changes at
 * every beat. Not the SDK runtime itself: it cannot pause heartbeats without withdrawing the
 * announcement, and the bench's baseline is the same providers registered and quiet. Quiet, each
 * re-announces once with a long interval (the gateway times liveness by the announced interval,
 * so they stay UP) and stops beating.
 *
 * Told over IPC: `{ mode: 'beating' | 'quiet' }` (answered `{ mode, beats }` once every provider
 * has announced its new interval), `{ report: true }` (answered `{ beats, failedBeats, answers }`);
 * says `{ ready: count }` once all are announced. Started by the bench with `node --import tsx`.
 */
import { pathToFileURL } from 'node:url';

import { systemClock } from '../shared/clock.js';
import type { Manifest, Utilization } from '../shared/domain.js';
import { announcementSchema, manifestResultSchema, PROTOCOL_VERSION, type Announcement } from '../shared/protocol.js';
import { createSubjects } from '../shared/subjects.js';
import type { Closable } from '../shared/transport.js';
import { createNatsTransport } from '../shared/transport/nats-transport.js';
import { makeProduct, makeUtilization, mulberry32 } from './routing.js';

export interface HeartbeatProvidersConfig {
  natsUrl: string;
  subjectPrefix: string;
  count: number;
  /** @default 1000 */
  intervalMs: number;
}

export type HeartbeatProvidersCommand = { mode: 'beating' | 'quiet' } | { report: true };
export type HeartbeatProvidersMessage =
  { ready: number } | { mode: 'beating' | 'quiet'; beats: number } | { beats: number; failedBeats: number; answers: number };

/** The interval a quiet provider announces: longer than any bench window, so it stays UP. */
export const QUIET_INTERVAL_MS = 3_600_000;

/** Provider ids of the bench: `hb-p000`, ... */
export const heartbeatProviderId = (k: number) => `hb-p${String(k).padStart(3, '0')}`;

/** Products of provider k: 5 to 20, so manifests differ in size as real ones do. */
export const heartbeatProductCount = (k: number) => 5 + (k % 16);

interface HostedProvider {
  id: string;
  announcement: Announcement;
  manifest: Manifest;
  utilization: Utilization;
  timer: NodeJS.Timeout | null;
}

/** A utilization's next beat: capacity, use and queue move a little, as a busy site's do. */
function drift(rand: () => number, u: Utilization): void {
  for (const id of Object.keys(u.capacityByProduct)) {
    u.capacityByProduct[id] = Math.max(0, u.capacityByProduct[id]! + Math.floor(rand() * 5) - 2);
  }
  const cpu = u.capacity.cpu;
  const used = Math.min(cpu, Math.max(0, u.usedCapacity.cpu + Math.floor(rand() * 9) - 4));
  u.usedCapacity = { cpu: used, memoryInGigs: used * 4, gpu: Math.floor(rand() * (u.capacity.gpu + 1)) };
  u.queueStatus = {
    running: Math.max(0, u.queueStatus.running + Math.floor(rand() * 5) - 2),
    pending: Math.max(0, u.queueStatus.pending + Math.floor(rand() * 3) - 1),
  };
  u.observedAt = Date.now();
}

async function main(config: HeartbeatProvidersConfig): Promise<void> {
  const subjects = createSubjects(config.subjectPrefix);
  const transport = await createNatsTransport({ url: config.natsUrl, subjects, name: 'bench-heartbeat-providers' });
  const rand = mulberry32(0x4ea47);
  const send = (message: HeartbeatProvidersMessage) => process.send?.(message);
  let beats = 0;
  let failedBeats = 0;
  let answers = 0;
  let mode: 'beating' | 'quiet' = 'beating';

  const providers: HostedProvider[] = [];
  const servers: Closable[] = [];
  for (let k = 0; k < config.count; k++) {
    const id = heartbeatProviderId(k);
    const manifest = manifestResultSchema.parse({ products: Array.from({ length: heartbeatProductCount(k) }, (_, j) => makeProduct(rand, id, j)) });
    const now = systemClock.now();
    const provider: HostedProvider = {
      id,
      manifest,
      utilization: makeUtilization(rand, manifest),
      announcement: announcementSchema.parse({
        v: PROTOCOL_VERSION,
        id,
        kind: 'SIMULATED',
        version: 'bench',
        instanceId: `${id}-${process.pid}`,
        manifestDigest: `bench-${id}-${manifest.products.length}`,
        startedAt: now,
        heartbeatAt: now,
        heartbeatIntervalMs: config.intervalMs,
        domain: null,
        subschemaDigest: null,
      }),
      timer: null,
    };
    providers.push(provider);
    servers.push(
      transport.serve(
        subjects.providerAll(id),
        async (_body, subject) => {
          answers += 1;
          if (subject.endsWith('.manifest')) return { v: PROTOCOL_VERSION, ok: true, result: provider.manifest };
          if (subject.endsWith('.utilization')) return { v: PROTOCOL_VERSION, ok: true, result: provider.utilization };
          return {
            v: PROTOCOL_VERSION,
            ok: false,
            error: { code: 'UNSUPPORTED', message: `${id} is a heartbeat stand-in: manifest and utilization only` },
          };
        },
        { queue: `provider-${id}` },
      ),
    );
  }
  // The subscriptions reach the server before the announcements tell the gateway to call.
  await transport.ping();

  /** Re-put a provider's announcement now, with `intervalMs` as its heartbeat interval. */
  const announce = async (provider: HostedProvider, intervalMs: number) => {
    provider.announcement = announcementSchema.parse({ ...provider.announcement, heartbeatAt: systemClock.now(), heartbeatIntervalMs: intervalMs });
    await transport.putAnnouncement(provider.id, provider.announcement);
  };
  const beat = (provider: HostedProvider) => {
    drift(rand, provider.utilization);
    announce(provider, config.intervalMs).then(
      () => (beats += 1),
      () => (failedBeats += 1),
    );
  };
  const setMode = async (next: 'beating' | 'quiet') => {
    mode = next;
    for (const provider of providers) {
      if (provider.timer) clearTimeout(provider.timer);
      provider.timer = null;
    }
    await Promise.all(providers.map((provider) => announce(provider, next === 'beating' ? config.intervalMs : QUIET_INTERVAL_MS)));
    if (next === 'quiet') return;
    providers.forEach((provider, k) => {
      // Spread over the interval: independent providers do not beat in step.
      provider.timer = setTimeout(
        () => {
          provider.timer = setInterval(() => beat(provider), config.intervalMs);
          beat(provider);
        },
        Math.round((k * config.intervalMs) / providers.length),
      );
    });
  };

  process.on('message', (command: HeartbeatProvidersCommand) => {
    if ('report' in command) return send({ beats, failedBeats, answers });
    void setMode(command.mode).then(() => send({ mode, beats }));
  });
  // The bench's end (or its death) closes the IPC channel: stop with it.
  process.on('disconnect', () => {
    void (async () => {
      for (const provider of providers) if (provider.timer) clearTimeout(provider.timer);
      for (const server of servers) await server.close().catch(() => undefined);
      await transport.close().catch(() => undefined);
      process.exit(0);
    })();
  });

  await setMode('beating');
  send({ ready: providers.length });
}

// Run only as the child; the bench imports this module for its names.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(JSON.parse(process.argv[2] ?? '{}') as HeartbeatProvidersConfig).catch((error: unknown) => {
    console.error('heartbeat providers failed:', error);
    process.exit(1);
  });
}
