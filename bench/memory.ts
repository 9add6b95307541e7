/**
 * Memory (BENCH_ONLY=memory): bytes Redis holds per stored job (INFO
 * used_memory over `jobs` jobs from test/support/jobs.ts makeJob, each with
 * its waiting record too), and the gateway's heap and RSS per open followJob
 * subscription (SSE) with `followers` of them open at once. The followers run
 * in a child process over raw sockets, so the gateway process's figures are
 * its own. The waiting room keeps nothing per waiting job between sweeps (its
 * records are in Redis), so a waiting job's cost is its Redis record.
 *
 * Measured 2026-12-02 (loaded 2-core machine): 2,685 B of Redis per stored job, 292 B per waiting
 * record; 10,000 followers cost the gateway 49.7 KB of heap and 57 KB of RSS each — five times the
 * 10 KiB budget. What each holds (the request's Yoga/fetch objects, its GraphQL context, the
 * Repeater and its dedup set) is for gateway/graphql to trim; this bench says when it fits.
 */
import { spawn } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Redis } from 'ioredis';

import { createRedisStore } from '../gateway/store/redis-store.js';
import { makeJob } from '../test/support/jobs.js';
import { INSTANT_PRODUCT } from './instant-driver.js';
import { INSTANT_PROVIDER_ID, type Rig } from './rig.js';
import { waitFor } from './stats.js';
import type { Row } from './table.js';

/** Budget per open follower, gateway heap + buffers (RSS delta): the aim the bench states and checks. */
export const FOLLOWER_BUDGET_BYTES = 10 * 1024;

export interface MemoryResult {
  jobs: number;
  redisBytesPerJob: number;
  redisBytesPerWaitingRecord: number;
  followers: number;
  heapBytesPerFollower: number;
  rssBytesPerFollower: number;
  withinBudget: boolean;
}

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function settledMemory(): Promise<NodeJS.MemoryUsage> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage();
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)![1]);
}

export async function benchRedisMemory(redisUrl: string, keyPrefix: string, jobs = 20_000) {
  const store = await createRedisStore({ url: redisUrl, keyPrefix });
  const redis = new Redis(redisUrl);
  try {
    const made = Array.from({ length: jobs }, (_, i) =>
      makeJob({ createdAt: Date.now() - (jobs - i) * 1000, owner: { createdBy: `mem${i % 100}`, project: null } }),
    );
    const before = await usedMemory(redis);
    for (let from = 0; from < jobs; from += 1000) {
      await Promise.all(made.slice(from, from + 1000).map((job) => store.createJob(job, { exclusive: false })));
    }
    const afterJobs = await usedMemory(redis);
    for (let from = 0; from < jobs; from += 1000) {
      await Promise.all(
        made.slice(from, from + 1000).map((job) =>
          store.putWaiting({
            jobId: job.id,
            deadline: Date.now() + 3_600_000,
            input: { product: job.specification.product, command: job.specification.command },
          }),
        ),
      );
    }
    const afterWaiting = await usedMemory(redis);
    return { jobs, redisBytesPerJob: (afterJobs - before) / jobs, redisBytesPerWaitingRecord: (afterWaiting - afterJobs) / jobs };
  } finally {
    await redis.quit();
    await store.close();
  }
}

/** The followers' process: opens `count` SSE followJob streams and says `ready` once each has its first event. */
const FOLLOWERS_CHILD = `
const net = require('node:net');
const [port, token, jobId, count] = process.argv.slice(1);
const body = JSON.stringify({ query: 'subscription ($id: ID!) { followJob(id: $id) { jobId newStatus { state } } }', variables: { id: jobId } });
const request = 'POST /graphql HTTP/1.1\\r\\nhost: 127.0.0.1\\r\\ncontent-type: application/json\\r\\naccept: text/event-stream\\r\\nauthorization: Bearer ' + token + '\\r\\ncontent-length: ' + Buffer.byteLength(body) + '\\r\\n\\r\\n' + body;
let ready = 0, failed = 0, opened = 0;
const sockets = [];
function open() {
  if (opened >= Number(count)) return;
  opened++;
  const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(request));
  let seen = false, text = '';
  socket.on('data', (chunk) => {
    if (seen) return;
    text += chunk.toString();
    if (text.includes('data:')) { seen = true; ready++; if (ready + failed === Number(count)) process.stdout.write('ready ' + ready + ' ' + failed + '\\n'); open(); }
  });
  socket.on('error', () => { if (!seen) { failed++; seen = true; open(); } });
  sockets.push(socket);
}
for (let i = 0; i < 100; i++) open();
process.stdin.on('data', () => {}); process.stdin.on('end', () => process.exit(0));
`;

export async function benchFollowerMemory(rig: Rig, followers = 10_000) {
  const created = await rig.admin.ok<{ createJobs: { job: { id: string } | null; error: unknown }[] }>(
    `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { id } error { code message } } }`,
    { specs: [{ product: { id: INSTANT_PRODUCT.id, provider: INSTANT_PROVIDER_ID }, command: ['true'], name: 'followed', allowDuplicateJob: true }] },
  );
  const id = created.createJobs[0]?.job?.id;
  if (!id || !rig.admin.token) throw new Error(`could not create the followed job: ${JSON.stringify(created.createJobs[0]?.error)}`);
  const port = new URL(rig.url).port;
  const before = await settledMemory();
  const child = spawn(process.execPath, ['-e', FOLLOWERS_CHILD, port, rig.admin.token, id, String(followers)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  try {
    let line = '';
    child.stdout.on('data', (chunk: Buffer) => (line += chunk.toString()));
    await waitFor(() => line.includes('ready'), `${followers} followers to open`, 300_000);
    const [, ready, failed] = line.trim().split(' ').map(Number);
    const after = await settledMemory();
    const heapBytesPerFollower = (after.heapUsed - before.heapUsed) / ready!;
    const rssBytesPerFollower = (after.rss - before.rss) / ready!;
    return {
      followers: ready!,
      failedFollowers: failed!,
      heapBytesPerFollower,
      rssBytesPerFollower,
      withinBudget: rssBytesPerFollower <= FOLLOWER_BUDGET_BYTES && heapBytesPerFollower <= FOLLOWER_BUDGET_BYTES,
    };
  } finally {
    child.stdin.end();
    child.kill();
  }
}

/** The table's rows for the memory figures. */
export function memoryRows(
  redisFigures: Awaited<ReturnType<typeof benchRedisMemory>>,
  followers: Awaited<ReturnType<typeof benchFollowerMemory>>,
): Row[] {
  const b = 'memory';
  const budget = `≤ ${FOLLOWER_BUDGET_BYTES / 1024} KiB`;
  return [
    {
      benchmark: b,
      metric: `Redis per stored job (${redisFigures.jobs.toLocaleString('en')} makeJob jobs)`,
      value: redisFigures.redisBytesPerJob,
      unit: 'B',
      baseline: 'INFO used_memory delta',
    },
    {
      benchmark: b,
      metric: 'Redis per waiting record (gateway holds none between sweeps)',
      value: redisFigures.redisBytesPerWaitingRecord,
      unit: 'B',
      baseline: 'INFO used_memory delta',
    },
    {
      benchmark: b,
      metric: `gateway heap per open followJob (SSE, ${followers.followers.toLocaleString('en')} open)`,
      value: followers.heapBytesPerFollower,
      unit: 'B',
      aim: budget,
      meetsAim: followers.heapBytesPerFollower <= FOLLOWER_BUDGET_BYTES,
    },
    {
      benchmark: b,
      metric: `gateway RSS per open followJob (${followers.failedFollowers} failed to open)`,
      value: followers.rssBytesPerFollower,
      unit: 'B',
      aim: budget,
      meetsAim: followers.rssBytesPerFollower <= FOLLOWER_BUDGET_BYTES,
    },
  ];
}
