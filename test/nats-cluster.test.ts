/**
 * A NATS cluster under load: three nats-servers with JetStream clustered on
 * loopback (test/support/nats-cluster.ts), the events stream and the
 * announcement bucket at R3, and a `switchyard gateway` and a `switchyard
 * provider local` process given all three seed URLs. While jobs are created
 * and run, the server the gateway is connected to is SIGKILLed and started
 * again, then the server leading the events stream. Every job must end, each
 * exactly once (one start, one end, no update stored twice), charged once for the time it ran,
 * with every line it printed once and in order, and no createJobs call may be
 * refused. A delivery lost with a dead server comes again only after the ack
 * wait, behind the job's later messages: the gateway applies it first anyway
 * (gateway/jobs/event-order.ts), which is what the order of the lines shows.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { logEventSchema } from '../shared/protocol.js';
import { createSubjects } from '../shared/subjects.js';
import { fund } from './support/credits.js';
import { createClient, eventually, type TestClient } from './support/graphql-client.js';
import { startNatsCluster, type NatsCluster } from './support/nats-cluster.js';
import { freePort, gatewayProcessEnv, startSwitchyard, waitProviderUp, waitReady, type Proc } from './support/processes.js';
import { uniquePrefix } from './support/services.js';

const JOBS = 120;
const BATCH = 4;
const SUBMIT_MS = 14_000;
const LINES = 3;
const FINAL = ['SUCCESS', 'FAILURE', 'EXPIRED'];

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { id } error { code message } } }`;
const JOBS_PAGE = `query ($after: String) { jobs(first: 200, after: $after, orderBy: CREATED_ASC) {
  edges { node { id specification { name } status { state exitCode startedAt } updates { state status timestamp } logs { stdout } creditsCharged } }
  pageInfo { hasNextPage endCursor } } }`;

interface StoredJob {
  id: string;
  specification: { name: string };
  status: { state: string; exitCode: number | null; startedAt: string | null };
  updates: { state: string | null; status: string | null; timestamp: string }[];
  logs: { stdout: string | null }[];
  creditsCharged: number;
}

/** Each job's printed lines in the order the events stream holds them, read back from the stream. */
async function linesInStream(): Promise<Map<string, string[]>> {
  const { jetstream } = await import('@nats-io/jetstream');
  const { connect } = await import('@nats-io/transport-node');
  const nc = await connect({ servers: cluster.url.split(',') });
  const subjects = createSubjects(prefix);
  const byJob = new Map<string, string[]>();
  try {
    const consumer = await jetstream(nc).consumers.get(subjects.eventStream, { filter_subjects: `${subjects.jobLog('edge', 'x').slice(0, -1)}>` });
    for (let pending = 1; pending > 0;) {
      const batch = await consumer.fetch({ max_messages: 500, expires: 2_000 });
      let got = 0;
      for await (const msg of batch) {
        got += 1;
        pending = msg.info.pending;
        const event = logEventSchema.parse(msg.json());
        byJob.set(event.jobId, [...(byJob.get(event.jobId) ?? []), ...event.lines.map((line) => line.stdout ?? '')]);
      }
      if (got === 0) break;
    }
  } finally {
    await nc.close();
  }
  return byJob;
}

let cluster: NatsCluster;
let gateway: Proc;
let provider: Proc;
let client: TestClient;
let stateDir: string;
let prefix: string;
let gatewayUrl: string;

function spec(index: number) {
  const name = `nc-${index}`;
  const lines = Array.from({ length: LINES }, (_, i) => `echo "${name} ${i + 1}"; sleep 0.3`).join('; ');
  return { product: { id: 'local-small', provider: 'edge' }, name, command: ['sh', '-c', lines], scheduleTimeout: 600 };
}

async function readAll(): Promise<StoredJob[]> {
  const all: StoredJob[] = [];
  let after: string | null = null;
  do {
    const data: { jobs: { edges: { node: StoredJob }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } = await client.ok(
      JOBS_PAGE,
      {
        after,
      },
    );
    all.push(...data.jobs.edges.map((edge) => edge.node));
    after = data.jobs.pageInfo.hasNextPage ? data.jobs.pageInfo.endCursor : null;
  } while (after);
  return all;
}

beforeAll(async () => {
  cluster = await startNatsCluster();
  prefix = uniquePrefix();
  const adminToken = randomBytes(24).toString('base64url');
  const port = await freePort();
  const baseUrl = (gatewayUrl = `http://127.0.0.1:${port}`);
  stateDir = mkdtempSync(join(tmpdir(), 'sy-nats-cluster-local-'));
  const nats = { NATS_URL: cluster.url, SWITCHYARD_NATS_REPLICAS: '3' };
  gateway = startSwitchyard(['gateway'], gatewayProcessEnv({ prefix, adminToken, port }, { ...nats, SWITCHYARD_PROVIDER_TIMEOUT_MS: '3000' }));
  provider = startSwitchyard(['provider', 'local', '--id', 'edge'], {
    ...nats,
    SWITCHYARD_PREFIX: prefix,
    SWITCHYARD_HEARTBEAT_MS: '500',
    SWITCHYARD_LOCAL_STATE_DIR: join(stateDir, 'local'),
    SWITCHYARD_OUTBOX_DIR: join(stateDir, 'outbox'),
    SWITCHYARD_TERMINATE_GRACE_MS: '500',
  });
  client = createClient(baseUrl, adminToken);
  await waitReady(baseUrl, gateway, 30_000);
  await waitProviderUp(client, 'edge', provider);
  await fund(client, 'admin', 'edge');
}, 90_000);

afterAll(async () => {
  await provider?.kill('SIGTERM');
  await gateway?.kill('SIGTERM');
  await cluster?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

describe('on a three-server NATS cluster', () => {
  it('keeps the events stream and the announcement bucket at three replicas', async () => {
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const { connect } = await import('@nats-io/transport-node');
    const nc = await connect({ servers: cluster.url.split(',') });
    try {
      const jsm = await jetstreamManager(nc);
      const subjects = createSubjects(prefix);
      for (const stream of [subjects.eventStream, `KV_${subjects.providerBucket}`]) {
        const info = await jsm.streams.info(stream);
        expect(info.config.num_replicas, stream).toBe(3);
        expect(info.cluster?.replicas?.length, stream).toBe(2);
      }
    } finally {
      await nc.close();
    }
  });

  it('loses no event and applies none twice while the gateway’s server and then the stream leader are killed under load', async () => {
    const refused: string[] = [];
    let submitted = 0;
    const t0 = performance.now();
    const submitting = (async () => {
      const calls: Promise<void>[] = [];
      for (let k = 0; k < JOBS / BATCH; k++) {
        const wait = t0 + (SUBMIT_MS * k * BATCH) / JOBS - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const specs = Array.from({ length: BATCH }, (_, i) => spec(k * BATCH + i));
        submitted += specs.length;
        calls.push(
          client.ok(CREATE, { specs }).then((data) => {
            for (const result of data.createJobs) if (result.error) refused.push(`${result.error.code}: ${result.error.message}`);
          }),
        );
      }
      await Promise.all(calls);
    })();

    const faults: { what: string; server: string; downMs: number }[] = [];
    const fault = async (what: string, share: number, pick: () => Promise<NatsCluster['servers'][number] | null>) => {
      await eventually(async () => submitted >= JOBS * share, { timeoutMs: SUBMIT_MS + 10_000, intervalMs: 20, what: `${share * 100}% submitted` });
      // Just after a restart, the stream may still be electing its leader.
      const server = await eventually(pick, { timeoutMs: 10_000, intervalMs: 100, what: `a server to be ${what}` });
      const killed = performance.now();
      await server.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 2_000));
      await server.start();
      await cluster.ready();
      faults.push({ what, server: server.name, downMs: Math.round(performance.now() - killed) });
    };
    await fault('the server the gateway is connected to', 0.25, () => cluster.serverWithConnection('switchyard-gateway'));
    await fault('the events stream leader', 0.6, () => cluster.streamLeader(createSubjects(prefix).eventStream));
    await submitting;
    console.log(`[nats-cluster] faults: ${JSON.stringify(faults)}`);

    // No job stalls: every one reaches a final state, with every line it printed.
    let jobs: StoredJob[] = [];
    await eventually(
      async () => {
        jobs = await readAll();
        return jobs.length === JOBS && jobs.every((job) => FINAL.includes(job.status.state) && job.logs.length >= LINES);
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'every job to end with all its lines' },
    ).catch(() => undefined);

    // How many messages came before the one they follow and were handed back, for the record.
    const metrics = await (await fetch(`${gatewayUrl}/metrics`)).text();
    const held = metrics.split('\n').filter((line) => line.startsWith('switchyard_provider_events_total') && line.includes('outcome="held"'));
    console.log(`[nats-cluster] handed back to wait for their predecessor: ${held.join('; ') || 'none'}`);

    expect(faults.map((f) => f.what)).toEqual(['the server the gateway is connected to', 'the events stream leader']);
    expect(refused).toEqual([]);
    expect(jobs).toHaveLength(JOBS);
    const notEnded = jobs.filter((job) => job.status.state !== 'SUCCESS' || job.status.exitCode !== 0);
    expect(notEnded.map((job) => `${job.specification.name} ${job.status.state}`)).toEqual([]);
    const story = (job: StoredJob) => `${job.specification.name}: ${job.updates.map((u) => `${u.timestamp} ${u.state} ${u.status}`).join(' | ')}`;
    const twice: string[] = [];
    for (const job of jobs) {
      const states = job.updates.map((u) => u.state).filter((state) => state !== null);
      const updates = job.updates.map((u) => `${u.timestamp} ${u.state} ${u.status}`);
      // One start, one end, no update twice: an event lost or applied twice would show here.
      const once = states.filter((state) => state === 'RUNNING').length === 1 && states.filter((state) => FINAL.includes(state)).length === 1;
      if (!once || new Set(updates).size !== updates.length) twice.push(story(job));
    }
    expect(twice).toEqual([]);
    const printed = (job: StoredJob) => Array.from({ length: LINES }, (_, i) => `${job.specification.name} ${i + 1}`).join(' | ');
    // The provider publishes a job's messages one after another: the stream holds them in order...
    const stream = await linesInStream();
    const storedOutOfOrder = jobs.filter((job) => (stream.get(job.id) ?? []).join(' | ') !== printed(job));
    expect(storedOutOfOrder.map((job) => `${job.specification.name}: ${(stream.get(job.id) ?? []).join(' | ')}`)).toEqual([]);
    // ...and the gateway applies them so, whatever order redeliveries bring them in.
    const lines = jobs.filter((job) => job.logs.map((log) => log.stdout).join(' | ') !== printed(job));
    expect(lines.map((job) => `${job.specification.name}: ${job.logs.map((log) => log.stdout).join(' | ')}`)).toEqual([]);
    // Each job ran for less than its first started minute: one credit, never charged twice, and never
    // none (a job whose end only reconciliation saw is charged for the time it ran, at the provider's times).
    const chargedStory = (job: StoredJob) => `${job.specification.name} charged ${job.creditsCharged}: ${story(job)}`;
    expect(jobs.filter((job) => job.creditsCharged !== 1).map(chargedStory)).toEqual([]);
  }, 150_000);
});
