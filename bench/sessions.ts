/**
 * Benchmark 11: interactive SHELL sessions end to end. `switchyard gateway` (bench/session-gateway.ts:
 * the gateway as an operator runs it, plus a memory probe) and `switchyard provider local` as
 * processes of their own over the run's NATS and Redis; the bench is only the client, a websocket
 * speaking v5.channel.k8s.io to the session URL, as kubectl's executor does. The shells are bash on
 * a pty inside real sandboxed local jobs. Beside them, in the same run: the same bash on a pty of
 * the bench's own (node-pty, as the provider spawns it), read directly.
 *
 * (a) Keystroke round trip: one byte typed ("x") until its echo comes back, then a backspace
 *     (untimed) so the line stays short; through the session and on the local pty, alternating.
 * (b) Throughput: the shell prints 100 MB (`head -c … /dev/zero | base64 -w 0`), counted at the
 *     client, from the command's newline until the marker after it; three rounds, the sides
 *     alternating, as the machine is shared. Beside the rate, the CPU time the gateway and the
 *     provider spent per MB relayed: what a session costs them, which a busy machine changes less.
 * (c) Memory of idle sessions: SESSIONS sessions open (spread over a few jobs), and the gateway's
 *     RSS and V8 heap after a full collection, before and after, per session; the provider's RSS too.
 *
 * Run alone with `npx tsx bench/sessions.ts [--keystrokes=N] [--bytes=N] [--sessions=N]` or
 * `BENCH_ONLY=sessions npm run bench`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn as spawnPty } from '@lydell/node-pty';
import { WebSocket } from 'ws';

import { isFinalState, type JobState } from '../shared/job-state-machine.js';
import { fund } from '../test/support/credits.js';
import { createClient, type TestClient } from '../test/support/graphql-client.js';
import { freePort } from '../test/support/local-servers.js';
import { startProc, type Proc } from './child-process.js';
import type { SectionOutcome } from './rig.js';
import { startServices } from './services.js';
import { numberOption, runWhenMain, writeOut } from './standalone.js';
import { median, percentile, sleep, waitFor } from './stats.js';
import { ms, printTable, type Row } from './table.js';

export const SESSIONS_PROVIDER_ID = 'bench-sessions';
const KEYSTROKES = 1_000;
const THROUGHPUT_BYTES = 100_000_000;
const SESSIONS = 200;
/** Idle sessions per job: the shells count against the job's own limits. */
const SESSIONS_PER_JOB = 50;
/** Sessions opened and closed before the memory is measured. */
const WARMUP_SESSIONS = 20;
/** Rounds of the throughput measurement, the sides alternating: the machine is shared. */
const THROUGHPUT_ROUNDS = 3;

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin/switchyard.js');
const GATEWAY_ENTRY = join(ROOT, 'bench/session-gateway.ts');

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { id } error { code message } } }`;
const OPEN = `mutation ($items: [OpenSessionInput!]!) { openInteractiveSessions(items: $items) { session { url } error { code message } } }`;
const TERMINATE = `mutation ($ids: [ID!]!) { terminateJobs(ids: $ids) { ok error { code message } } }`;

/** A terminal either end: bytes typed in, bytes shown out. */
interface Terminal {
  write(bytes: Buffer): void;
  /** Replaces the listener of output. */
  onOutput(listener: (bytes: Buffer) => void): void;
  close(): void;
}

/** SESSIONS_BENCH_PROFILE=<dir>: the gateway and the provider write CPU profiles there when they stop. */
const profileArgs = () => (process.env.SESSIONS_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.SESSIONS_BENCH_PROFILE}`] : []);

export interface SessionsRig {
  url: string;
  admin: TestClient;
  gateway: Proc;
  provider: Proc;
  jobIds: string[];
  stop(): Promise<void>;
}

export async function startSessionsRig(options: {
  natsUrl: string;
  redisUrl: string;
  subjectPrefix: string;
  progress?: (message: string) => void;
}): Promise<SessionsRig> {
  const adminToken = randomBytes(24).toString('base64url');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const stateDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-sessions-'));
  const jobIds: string[] = [];
  const admin = createClient(url, adminToken);
  const gateway = startProc(
    [...profileArgs(), '--expose-gc', '--import', 'tsx', GATEWAY_ENTRY],
    {
      NATS_URL: options.natsUrl,
      REDIS_URL: options.redisUrl,
      SWITCHYARD_PREFIX: options.subjectPrefix,
      SWITCHYARD_ADMIN_TOKEN: adminToken,
      SWITCHYARD_SESSION_SECRET: randomBytes(32).toString('base64url'),
      // The gateway's window as the operator's setting would have it; the default unless told.
      ...(process.env.SWITCHYARD_SESSION_WINDOW_BYTES ? { SWITCHYARD_SESSION_WINDOW_BYTES: process.env.SWITCHYARD_SESSION_WINDOW_BYTES } : {}),
      PORT: String(port),
      HOST: '127.0.0.1',
    },
    { ipc: true },
  );
  const provider = startProc([...profileArgs(), BIN, 'provider', 'local', '--id', SESSIONS_PROVIDER_ID], {
    NATS_URL: options.natsUrl,
    SWITCHYARD_PREFIX: options.subjectPrefix,
    SWITCHYARD_LOCAL_STATE_DIR: stateDir,
    SWITCHYARD_TERMINATE_GRACE_MS: '500',
  });
  const stop = async () => {
    await terminateAll(admin, jobIds).catch((error: unknown) => console.error('bench: could not terminate the sessions jobs:', error));
    await provider.stop();
    await gateway.stop();
    rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => {
      if (gateway.child.exitCode !== null) throw new Error(`the gateway exited: ${gateway.output()}`);
      return (await fetch(`${url}/readyz`).catch(() => null))?.status === 200;
    }, 'the gateway to be ready');
    await waitFor(async () => {
      if (provider.child.exitCode !== null) throw new Error(`the provider exited: ${provider.output()}`);
      const data = await admin.ok(`query ($id: ID!) { provider(id: $id) { status products { id } } }`, { id: SESSIONS_PROVIDER_ID });
      return data.provider?.status === 'UP' && data.provider.products.length > 0;
    }, 'the local provider to be UP');
    await fund(admin, 'admin', SESSIONS_PROVIDER_ID);
    return { url, admin, gateway, provider, jobIds, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function terminateAll(admin: TestClient, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await admin.ok(TERMINATE, { ids });
  await waitFor(async () => {
    const states = await Promise.all(ids.map(async (id) => (await admin.ok(`query ($id: ID!) { job(id: $id) { status { state } } }`, { id })).job));
    return states.every((job) => !job || isFinalState(job.status.state));
  }, `the ${ids.length} sessions jobs to end`);
  ids.splice(0);
}

async function runningJob(rig: SessionsRig, product: string): Promise<string> {
  const data = await rig.admin.ok(CREATE, {
    specs: [{ product: { id: product, provider: SESSIONS_PROVIDER_ID }, command: ['sleep', '3600'], allowDuplicateJob: true }],
  });
  const created = data.createJobs[0];
  if (created.error) throw new Error(`createJobs: ${created.error.code} ${created.error.message}`);
  const id = created.job.id as string;
  rig.jobIds.push(id);
  await waitFor(async () => {
    const state = (await rig.admin.ok(`query ($id: ID!) { job(id: $id) { status { state } } }`, { id })).job.status.state as JobState;
    if (isFinalState(state)) throw new Error(`job ${id} ended (${state}) before it ran`);
    return state === 'RUNNING';
  }, `job ${id} to run`);
  return id;
}

/** Session URLs for rank 0 of a job, `count` of them in one call. */
async function sessionUrls(rig: SessionsRig, jobId: string, count: number): Promise<string[]> {
  const items = Array.from({ length: count }, () => ({ jobId, rank: 0, sessionType: 'SHELL' }));
  const data = await rig.admin.ok(OPEN, { items });
  return data.openInteractiveSessions.map((answer: { session: { url: string } | null; error: { code: string; message: string } | null }) => {
    if (!answer.session) throw new Error(`openInteractiveSessions: ${answer.error?.code} ${answer.error?.message}`);
    return answer.session.url;
  });
}

/** A session's websocket as a terminal: stdin on channel 0, stdout and stderr (1, 2) out. */
function connectSession(url: string): Promise<Terminal & { socket: WebSocket }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, ['v5.channel.k8s.io'], { perMessageDeflate: false });
    let listener: (bytes: Buffer) => void = () => {};
    socket.on('message', (data: Buffer) => {
      if (data[0] === 1 || data[0] === 2) listener(data.subarray(1));
    });
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) => reject(new Error(`the session's upgrade was refused: ${res.statusCode}`)));
    socket.once('open', () =>
      resolve({
        socket,
        write: (bytes) => socket.send(Buffer.concat([Buffer.of(0), bytes])),
        onOutput: (next) => (listener = next),
        close: () => socket.close(),
      }),
    );
  });
}

/** The same shell on a pty of the bench's own, read directly: the baseline. */
function localPty(): Terminal {
  const pty = spawnPty('/bin/bash', ['-i'], {
    name: 'xterm-256color',
    cols: 80,
    rows: 24,
    cwd: tmpdir(),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir(), TERM: 'xterm-256color' },
    encoding: null,
  });
  let listener: (bytes: Buffer) => void = () => {};
  pty.onData((data: string | Buffer) => listener(typeof data === 'string' ? Buffer.from(data) : data));
  return {
    write: (bytes) => pty.write(bytes as unknown as string),
    onOutput: (next) => (listener = next),
    close: () => {
      try {
        pty.kill('SIGHUP');
      } catch {
        // Already gone.
      }
    },
  };
}

/** Writes `bytes` and resolves once output satisfies `done` (given each chunk as it comes). */
function typeUntil(terminal: Terminal, bytes: Buffer, done: (chunk: Buffer) => boolean, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to ${JSON.stringify(bytes.toString())} within ${timeoutMs} ms`)), timeoutMs);
    terminal.onOutput((chunk) => {
      if (!done(chunk)) return;
      clearTimeout(timer);
      terminal.onOutput(() => {});
      resolve();
    });
    terminal.write(bytes);
  });
}

/** Waits until the terminal has been quiet for `quietMs`; with `first`, after it said something (the prompt is up). */
async function settled(terminal: Terminal, options: { first?: boolean; quietMs?: number; timeoutMs?: number } = {}): Promise<void> {
  const { quietMs = 300, timeoutMs = 15_000 } = options;
  let last = options.first ? 0 : performance.now();
  terminal.onOutput(() => (last = performance.now()));
  const deadline = performance.now() + timeoutMs;
  while (last === 0 || performance.now() - last < quietMs) {
    if (performance.now() > deadline) throw new Error('the shell did not settle');
    await sleep(50);
  }
  terminal.onOutput(() => {});
}

const X = Buffer.from('x');
const BACKSPACE = Buffer.of(0x7f);

/** One keystroke's round trip in ms: "x" until its echo; then a backspace, untimed, until the shell answers it. */
async function keystroke(terminal: Terminal): Promise<number> {
  const started = performance.now();
  await typeUntil(terminal, X, (chunk) => chunk.includes(0x78));
  const elapsed = performance.now() - started;
  await typeUntil(terminal, BACKSPACE, () => true);
  return elapsed;
}

export interface RoundTrip {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

const roundTrip = (samples: number[]): RoundTrip => {
  const sorted = [...samples].sort((a, b) => a - b);
  return { count: sorted.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), max: sorted.at(-1)! };
};

export interface Throughput {
  bytes: number;
  seconds: number;
  megabytesPerSecond: number;
}

/** The shell prints `bytes` bytes (base64 of zeros, no newlines); counted at the client until the marker after them. */
const MARKER = 'END42';

async function throughput(terminal: Terminal, bytes: number): Promise<Throughput> {
  // The typed line holds END$((6*7)); only the shell's output holds END42.
  const command = Buffer.from(`head -c ${Math.round((bytes * 3) / 4)} /dev/zero | base64 -w 0; echo; echo END$((6*7))\n`);
  let received = 0;
  let tail = '';
  const started = performance.now();
  await typeUntil(
    terminal,
    command,
    (chunk) => {
      received += chunk.length;
      // The marker may be split between chunks, and a prompt may follow it in one.
      const seen = chunk.includes(MARKER) || (tail + chunk.subarray(0, MARKER.length).toString('latin1')).includes(MARKER);
      tail = chunk.subarray(Math.max(0, chunk.length - MARKER.length)).toString('latin1');
      return seen;
    },
    300_000,
  );
  const seconds = (performance.now() - started) / 1000;
  return { bytes: received, seconds, megabytesPerSecond: received / 1e6 / seconds };
}

interface GatewayMemory {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

function gatewayMemory(gateway: Proc): Promise<GatewayMemory> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the gateway did not answer the memory probe')), 10_000);
    gateway.child.once('message', (usage) => {
      clearTimeout(timer);
      resolve(usage as GatewayMemory);
    });
    gateway.child.send('memory');
  });
}

/** A process's CPU time (user and system) in seconds, from /proc. */
function cpuSecondsOf(pid: number): number {
  // After the command's name in parentheses: utime and stime are the 12th and 13th fields, in clock ticks (100 a second on Linux).
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** A session round with the CPU the gateway and the provider spent on it, in ms per MB. */
async function sessionThroughput(rig: SessionsRig, terminal: Terminal, bytes: number): Promise<Throughput & { cpuMsPerMegabyte: SessionCpu }> {
  const pids = { gateway: rig.gateway.child.pid!, provider: rig.provider.child.pid! };
  const before = { gateway: cpuSecondsOf(pids.gateway), provider: cpuSecondsOf(pids.provider) };
  const result = await throughput(terminal, bytes);
  const perMegabyte = (pid: number, from: number) => ((cpuSecondsOf(pid) - from) * 1000) / (result.bytes / 1e6);
  return {
    ...result,
    cpuMsPerMegabyte: { gateway: perMegabyte(pids.gateway, before.gateway), provider: perMegabyte(pids.provider, before.provider) },
  };
}

export interface SessionCpu {
  gateway: number;
  provider: number;
}

/** A process's resident set in bytes, from /proc. */
function rssOf(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

/** The gateway's value of a metric without labels, from /metrics. */
async function metricValue(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

export interface IdleMemory {
  sessions: number;
  jobs: number;
  before: GatewayMemory;
  after: GatewayMemory;
  perSession: { rss: number; heapUsed: number; external: number };
  provider: { rssBefore: number; rssAfter: number; rssPerSession: number };
  openSeconds: number;
}

/** Opens `count` sessions on rank 0 of a job, ten at a time, each until its shell has shown its prompt. */
async function openIdle(rig: SessionsRig, jobId: string, count: number, terminals: Terminal[]): Promise<void> {
  const urls = await sessionUrls(rig, jobId, count);
  for (let at = 0; at < urls.length; at += 10) {
    await Promise.all(
      urls.slice(at, at + 10).map(async (url) => {
        const terminal = await connectSession(url);
        terminals.push(terminal);
        await new Promise<void>((resolve) => terminal.onOutput(() => resolve()));
        terminal.onOutput(() => {});
      }),
    );
  }
}

async function closeAll(rig: SessionsRig, terminals: Terminal[]): Promise<void> {
  for (const terminal of terminals.splice(0)) terminal.close();
  await waitFor(async () => (await metricValue(rig.url, 'switchyard_sessions_open')) === 0, 'the sessions to close', 60_000);
}

/**
 * Idle sessions, opened a batch at a time; the gateway measured before and after. A few sessions
 * opened and closed first, so that "before" is a gateway that has served sessions, not one whose
 * code and buffers for them are not there yet.
 */
async function idleMemory(rig: SessionsRig, sessions: number, progress: (message: string) => void): Promise<IdleMemory> {
  const jobs: string[] = [];
  for (let i = 0; i < Math.ceil(sessions / SESSIONS_PER_JOB); i++) jobs.push(await runningJob(rig, 'local-small'));
  const terminals: Terminal[] = [];
  try {
    await openIdle(rig, jobs[0]!, WARMUP_SESSIONS, terminals);
    await closeAll(rig, terminals);
    await sleep(1_000);
    const before = await gatewayMemory(rig.gateway);
    const providerBefore = rssOf(rig.provider.child.pid!);
    const started = performance.now();
    for (const [index, jobId] of jobs.entries()) {
      await openIdle(rig, jobId, Math.min(SESSIONS_PER_JOB, sessions - index * SESSIONS_PER_JOB), terminals);
      progress(`${terminals.length} idle sessions open`);
    }
    const openSeconds = (performance.now() - started) / 1000;
    const open = await metricValue(rig.url, 'switchyard_sessions_open');
    if (open !== sessions) throw new Error(`the gateway counts ${open} sessions open, not ${sessions}`);
    // Idle: a few heartbeats go by.
    await sleep(5_000);
    const after = await gatewayMemory(rig.gateway);
    const providerAfter = rssOf(rig.provider.child.pid!);
    return {
      sessions,
      jobs: jobs.length,
      before,
      after,
      perSession: {
        rss: (after.rss - before.rss) / sessions,
        heapUsed: (after.heapUsed - before.heapUsed) / sessions,
        external: (after.external - before.external) / sessions,
      },
      provider: { rssBefore: providerBefore, rssAfter: providerAfter, rssPerSession: (providerAfter - providerBefore) / sessions },
      openSeconds,
    };
  } finally {
    await closeAll(rig, terminals).catch(() => undefined);
    await terminateAll(rig.admin, rig.jobIds);
  }
}

export interface SessionsResult {
  keystroke: { session: RoundTrip; localPty: RoundTrip; addedP50: number };
  /** The median round of each side, and the median of the rounds' own ratios. */
  throughput: {
    session: Throughput;
    localPty: Throughput;
    ratio: number;
    /** Medians of the rounds'. */
    cpuMsPerMegabyte: SessionCpu;
    rounds: { session: Throughput & { cpuMsPerMegabyte: SessionCpu }; localPty: Throughput }[];
  };
  idle: IdleMemory;
}

export async function benchSessions(
  rig: SessionsRig,
  options: { keystrokes?: number; throughputBytes?: number; sessions?: number; progress?: (message: string) => void } = {},
): Promise<SessionsResult> {
  const progress = options.progress ?? (() => {});
  const keystrokes = options.keystrokes ?? KEYSTROKES;
  const jobId = await runningJob(rig, 'local-large');
  const [url] = await sessionUrls(rig, jobId, 1);
  const session = await connectSession(url!);
  const local = localPty();
  try {
    await Promise.all([settled(session, { first: true }), settled(local, { first: true })]);
    progress(`keystroke round trip: ${keystrokes} a side, alternating`);
    const remote: number[] = [];
    const near: number[] = [];
    for (let i = 0; i < 50; i++) {
      await keystroke(session);
      await keystroke(local);
    }
    for (let i = 0; i < keystrokes; i++) {
      remote.push(await keystroke(session));
      near.push(await keystroke(local));
    }
    const keystroke_ = { session: roundTrip(remote), localPty: roundTrip(near), addedP50: 0 };
    keystroke_.addedP50 = keystroke_.session.p50 - keystroke_.localPty.p50;

    const bytes = options.throughputBytes ?? THROUGHPUT_BYTES;
    progress(`throughput: ${bytes / 1e6} MB printed by the shell, through the session and on the local pty`);
    const rounds: SessionsResult['throughput']['rounds'] = [];
    for (let round = 0; round < THROUGHPUT_ROUNDS; round++) {
      rounds.push({ localPty: await throughput(local, bytes), session: await sessionThroughput(rig, session, bytes) });
      await Promise.all([settled(session), settled(local)]);
    }
    const byRate = (side: 'session' | 'localPty') =>
      rounds.map((r) => r[side]).sort((a, b) => a.megabytesPerSecond - b.megabytesPerSecond)[Math.floor(rounds.length / 2)]!;
    const throughput_ = {
      session: byRate('session'),
      localPty: byRate('localPty'),
      ratio: median(rounds.map((r) => r.session.megabytesPerSecond / r.localPty.megabytesPerSecond)),
      cpuMsPerMegabyte: {
        gateway: median(rounds.map((r) => r.session.cpuMsPerMegabyte.gateway)),
        provider: median(rounds.map((r) => r.session.cpuMsPerMegabyte.provider)),
      },
      rounds,
    };
    session.close();
    local.close();

    const sessions = options.sessions ?? SESSIONS;
    progress(`memory: ${sessions} idle sessions on the gateway`);
    const idle = await idleMemory(rig, sessions, progress);
    return { keystroke: keystroke_, throughput: throughput_, idle };
  } finally {
    session.close();
    local.close();
  }
}

export type SessionsOutcome = SectionOutcome<SessionsResult>;

const kib = (bytes: number) => bytes / 1024;

export function sessionsRows(outcome: SessionsOutcome): Row[] {
  const b = '11 interactive sessions';
  if (!('result' in outcome)) return [{ benchmark: b, metric: 'not run', value: null, unit: '', baseline: outcome.notRun }];
  const { keystroke, throughput, idle } = outcome.result;
  const local = keystroke.localPty;
  const rows: Row[] = [];
  for (const which of ['p50', 'p95', 'p99'] as const) {
    rows.push({
      benchmark: b,
      metric: `keystroke round trip through gateway, NATS, provider ${which}${which === 'p50' ? ` (${keystroke.session.count})` : ''}`,
      value: keystroke.session[which],
      unit: 'ms',
      baseline: `local pty ${which} ${ms(local[which])} ms`,
      ratio: keystroke.session[which] / local[which],
      ...(which === 'p50' ? { aim: '≤ local + 2 ms', meetsAim: keystroke.addedP50 <= 2 } : {}),
    });
  }
  rows.push({ benchmark: b, metric: `keystroke round trip, local pty p50 (${local.count})`, value: local.p50, unit: 'ms', baseline: 'baseline' });
  rows.push({
    benchmark: b,
    metric: `throughput, the shell printing ${(throughput.session.bytes / 1e6).toFixed(0)} MB (median of ${throughput.rounds.length} rounds)`,
    value: throughput.session.megabytesPerSecond,
    unit: 'MB/s',
    baseline: `local pty ${throughput.localPty.megabytesPerSecond.toFixed(0)} MB/s (${throughput.localPty.seconds.toFixed(2)} s); ratio: median of the rounds'`,
    ratio: throughput.ratio,
    aim: '≥ 0.5× local',
    meetsAim: throughput.ratio >= 0.5,
  });
  rows.push({
    benchmark: b,
    metric: 'throughput: gateway CPU per MB relayed',
    value: throughput.cpuMsPerMegabyte.gateway,
    unit: 'ms/MB',
    baseline: `provider ${throughput.cpuMsPerMegabyte.provider.toFixed(1)} ms/MB; median of the rounds'`,
  });
  rows.push({
    benchmark: b,
    metric: `gateway RSS per idle session (${idle.sessions} over ${idle.jobs} jobs)`,
    value: kib(idle.perSession.rss),
    unit: 'KiB',
    baseline: `RSS ${(idle.before.rss / 2 ** 20).toFixed(0)} → ${(idle.after.rss / 2 ** 20).toFixed(0)} MiB`,
  });
  rows.push({
    benchmark: b,
    metric: 'gateway V8 heap per idle session',
    value: kib(idle.perSession.heapUsed),
    unit: 'KiB',
    baseline: `heap ${(idle.before.heapUsed / 2 ** 20).toFixed(1)} → ${(idle.after.heapUsed / 2 ** 20).toFixed(1)} MiB, after a full GC`,
  });
  rows.push({
    benchmark: b,
    metric: 'provider RSS per idle session',
    value: kib(idle.provider.rssPerSession),
    unit: 'KiB',
    baseline: `the shells themselves not counted; opened in ${idle.openSeconds.toFixed(1)} s`,
  });
  return rows;
}

/** The whole benchmark as bench/run.ts runs it; `processes` holds the rig while it runs, so the run's cleanup stops it on a signal. */
export async function runSessionsBench(options: {
  natsUrl: string;
  redisUrl: string;
  subjectPrefix: string;
  processes: { stop(): Promise<void> }[];
  progress: (message: string) => void;
  keystrokes?: number;
  throughputBytes?: number;
  sessions?: number;
}): Promise<SessionsOutcome> {
  const progress = (message: string) => options.progress(`sessions: ${message}`);
  progress('a gateway and the local provider as processes; keystrokes, 100 MB and idle sessions, beside a local pty');
  let rig: SessionsRig | null = null;
  try {
    rig = await startSessionsRig(options);
    options.processes.push(rig);
    return { result: await benchSessions(rig, { ...options, progress }) };
  } catch (error) {
    const notRun = `failed: ${error instanceof Error ? error.message : String(error)}`;
    progress(notRun);
    return { notRun };
  } finally {
    if (rig) {
      options.processes.splice(options.processes.indexOf(rig), 1);
      await rig.stop();
    }
  }
}

/** This benchmark alone, with servers of its own: `npx tsx bench/sessions.ts [--keystrokes=N] [--bytes=N] [--sessions=N] [--out=file]`. */
async function runAlone(argv: readonly string[]): Promise<void> {
  const services = await startServices();
  const t0 = Date.now();
  const progress = (message: string) => process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${message}\n`);
  const processes: { stop(): Promise<void> }[] = [];
  process.once('SIGINT', () => void Promise.all(processes.map((p) => p.stop())).finally(() => process.exit(130)));
  try {
    const outcome = await runSessionsBench({
      natsUrl: services.natsUrl,
      redisUrl: services.redisUrl,
      subjectPrefix: `bench${randomBytes(4).toString('hex')}e`,
      processes,
      progress,
      keystrokes: numberOption(argv, 'keystrokes', KEYSTROKES),
      throughputBytes: numberOption(argv, 'bytes', THROUGHPUT_BYTES),
      sessions: numberOption(argv, 'sessions', SESSIONS),
    });
    printTable(sessionsRows(outcome));
    if (!('result' in outcome)) throw new Error(`the sessions benchmark was not run: ${outcome.notRun}`);
    writeOut(argv, outcome.result);
  } finally {
    await services.stop();
  }
}

runWhenMain(import.meta.url, runAlone);
