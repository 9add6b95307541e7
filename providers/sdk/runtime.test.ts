import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { JobSpecification, Manifest } from '../../shared/domain.js';
import { InvalidStateError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import { announcementSchema, jobEventSchema, logEventSchema, type CreateJob, type JobEvent, type LogEvent } from '../../shared/protocol.js';
import { createSubjects, type ProviderVerb } from '../../shared/subjects.js';
import type { Closable, Transport } from '../../shared/transport.js';
import { createMemoryTransport, type MemoryTransport } from '../../shared/transport/memory-transport.js';
import { createNatsTransport } from '../../shared/transport/nats-transport.js';
import { makeCreateJob } from '../../test/support/jobs.js';
import { natsUrl, uniquePrefix } from '../../test/support/services.js';
import { createLocalDriver, LOCAL_PRODUCTS } from '../local/local-driver.js';
import type { Driver } from './driver.js';
import { createProviderRuntime, type ProviderRuntime, type ProviderRuntimeOptions } from './runtime.js';

const PROVIDER = 'local';

async function waitFor<T>(probe: () => T | undefined | null | false, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** A logger whose JSON lines the test can read. */
function capturingLogger() {
  const lines: Array<{ level: number; msg: string; err?: { message: string } }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

function job(spec: Partial<JobSpecification>): CreateJob {
  return makeCreateJob(LOCAL_PRODUCTS[0], PROVIDER, spec);
}

/** One provider on one transport, with everything it publishes collected from the durable consumer. */
async function harness(transport: Transport, stateDir: string) {
  const events: JobEvent[] = [];
  const logs: LogEvent[] = [];
  /** Every stored message of the stream, in the order it was consumed. */
  const stream: Array<{ kind: 'event' | 'log'; jobId: string; eventId: string; after: string | null; state?: string | null }> = [];
  const consumer = await transport.consumeDurable(async (body, subject) => {
    if (subject.includes('.events.')) {
      const event = jobEventSchema.parse(body);
      events.push(event);
      stream.push({ kind: 'event', jobId: event.jobId, eventId: event.eventId, after: event.after, state: event.state });
    } else {
      const log = logEventSchema.parse(body);
      logs.push(log);
      stream.push({ kind: 'log', jobId: log.jobId, eventId: log.eventId, after: log.after });
    }
  });
  const announcements: Array<{ key: string; value: unknown }> = [];
  const watch = await transport.watchAnnouncements((key, value) => announcements.push({ key, value }));
  const closables: Closable[] = [consumer, watch];
  const runtimes: ProviderRuntime[] = [];

  const startRuntime = async (overrides: Partial<ProviderRuntimeOptions> = {}) => {
    const runtime = createProviderRuntime({
      transport,
      driver: createLocalDriver({ stateDir, terminateGraceMs: 200 }),
      id: PROVIDER,
      kind: 'LOCAL',
      version: '0.1.0',
      heartbeatIntervalMs: 100,
      logger: silentLogger(),
      ...overrides,
    });
    await runtime.start();
    runtimes.push(runtime);
    return runtime;
  };

  const call = (verb: ProviderVerb, body: unknown) =>
    transport.request(transport.subjects.providerCall(PROVIDER, verb), body, { timeoutMs: 5_000 }) as Promise<any>;

  const eventsOf = (jobId: string) => events.filter((e) => e.jobId === jobId);
  const stdoutOf = (jobId: string) => logs.filter((l) => l.jobId === jobId).flatMap((l) => l.lines.map((line) => line.stdout));
  const finalOf = (jobId: string) =>
    waitFor(() => eventsOf(jobId).find((e) => e.state === 'SUCCESS' || e.state === 'FAILURE' || e.state === 'EXPIRED'), `job ${jobId} to end`);

  const close = async () => {
    for (const runtime of runtimes.splice(0)) await runtime.stop();
    for (const closable of closables) await closable.close();
  };

  return { events, logs, stream, announcements, startRuntime, runtimes, call, eventsOf, stdoutOf, finalOf, close };
}

type Harness = Awaited<ReturnType<typeof harness>>;

const transports: Array<[string, () => Promise<Transport>]> = [
  ['the in-process bus', async () => createMemoryTransport({ subjects: createSubjects(uniquePrefix()) })],
  ['NATS', () => createNatsTransport({ url: natsUrl(), subjects: createSubjects(uniquePrefix()) })],
];

describe.each(transports)('provider runtime over %s', (_name, makeTransport) => {
  let stateDir: string;
  let transport: Transport;
  let h: Harness;

  beforeEach(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'sy-runtime-'));
    transport = await makeTransport();
    h = await harness(transport, stateDir);
  });

  afterEach(async () => {
    await h.close();
    await transport.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('announces the provider, runs a job and publishes its updates and output, in order', async () => {
    const runtime = await h.startRuntime();
    const announced = await waitFor(() => h.announcements.find((a) => a.key === PROVIDER && a.value !== null), 'the announcement');
    const announcement = announcementSchema.parse(announced.value);
    const manifest = await h.call('manifest', { v: 1 });
    expect(manifest.ok).toBe(true);
    expect(announcement).toMatchObject({
      id: PROVIDER,
      kind: 'LOCAL',
      version: '0.1.0',
      instanceId: runtime.instanceId,
      heartbeatIntervalMs: 100,
      domain: null,
      manifestDigest: createHash('sha256').update(JSON.stringify(manifest.result)).digest('hex'),
    });

    const created = job({ command: ['sh', '-c', 'echo hello; echo world; exit 3'] });
    const reply = await h.call('jobs.create', { v: 1, jobs: [created] });
    expect(reply).toMatchObject({
      v: 1,
      ok: true,
      result: { results: [{ ok: true, error: null, providerGeneratedId: expect.stringMatching(/^\d+$/) }] },
    });
    const final = await h.finalOf(created.id);
    expect(final).toMatchObject({ state: 'SUCCESS', exitCode: 3, providerId: PROVIDER, status: 'Job finished with exit code 3' });
    await waitFor(() => h.stdoutOf(created.id).length === 2, 'the output');
    expect(h.stdoutOf(created.id)).toEqual(['hello', 'world']);
    const events = h.eventsOf(created.id);
    expect(events.map((e) => e.state)).toEqual(['RUNNING', 'SUCCESS']);
    expect(events[0]).toMatchObject({ providerGeneratedId: reply.result.results[0].providerGeneratedId, newTimeAllocation: null, expiresAt: null });
    expect(events.map((e) => e.eventId)).toEqual([`${runtime.instanceId}:1`, `${runtime.instanceId}:2`]);
    expect(h.logs[0]?.eventId).toBe(`${runtime.instanceId}:log:1`);
    // Output written before the job ended is stored before the event that says it ended.
    const order = h.stream.filter((m) => m.jobId === created.id).map((m) => m.kind);
    expect(order.at(-1)).toBe('event');
    // Each message names the one before it, events and log batches in one chain, for the gateway to apply them in order.
    const chain = h.stream.filter((m) => m.jobId === created.id);
    expect(chain.map((m) => m.after)).toEqual([null, ...chain.slice(0, -1).map((m) => m.eventId)]);

    await runtime.stop();
    h.runtimes.pop();
    await waitFor(() => h.announcements.at(-1)?.value === null, 'the announcement to be deleted');
    await expect(h.call('manifest', { v: 1 })).rejects.toThrow();
  });
});

describe('provider runtime', () => {
  let stateDir: string;
  let transport: MemoryTransport;
  let h: Harness;

  beforeEach(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'sy-runtime-'));
    transport = createMemoryTransport({ subjects: createSubjects(uniquePrefix()) });
    h = await harness(transport, stateDir);
  });

  afterEach(async () => {
    await h.close();
    await transport.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('heartbeats with a fresh heartbeatAt and announces a changed manifest', async () => {
    const base = createLocalDriver({ stateDir });
    let manifest: Manifest | null = null;
    const driver: Driver = { ...base, manifest: async () => manifest ?? base.manifest() };
    await h.startRuntime({ driver });
    const beats = () => h.announcements.filter((a) => a.value !== null).map((a) => announcementSchema.parse(a.value));
    await waitFor(() => beats().length >= 3, 'three heartbeats');
    const [first, , third] = beats();
    expect(third?.heartbeatAt).toBeGreaterThan(first!.heartbeatAt);
    expect(third?.startedAt).toBe(first!.startedAt);
    expect(third?.manifestDigest).toBe(first!.manifestDigest);

    manifest = { products: [LOCAL_PRODUCTS[0]] };
    const digest = createHash('sha256').update(JSON.stringify(manifest)).digest('hex');
    await waitFor(() => beats().at(-1)?.manifestDigest === digest, 'the new manifest digest');
    expect(digest).not.toBe(first!.manifestDigest);
  });

  it('answers a bad request with INVALID_INPUT and zod’s reason, and unsupported verbs with UNSUPPORTED', async () => {
    await h.startRuntime();
    const invalid = { v: 1, ok: false, error: { code: 'INVALID_INPUT', message: expect.any(String) } };
    expect(await h.call('manifest', { v: 2 })).toEqual(invalid);
    expect(await h.call('jobs.terminate', { v: 1 })).toEqual(invalid);
    const dotted = await h.call('jobs.terminate', { v: 1, ids: ['a.b'] });
    expect(dotted).toEqual(invalid);
    expect(dotted.error.message).toContain('ids.0');
    expect(await h.call('jobs.extend', { v: 1, items: [{ id: 'x', addMs: -5 }] })).toEqual(invalid);
    expect(await h.call('jobs.create', { v: 1, jobs: [{ ...job({ command: ['true'] }), specification: null }] })).toEqual(invalid);
    expect(await h.call('utilization', null)).toEqual(invalid);
    expect(await transport.requestRaw(transport.subjects.providerCall(PROVIDER, 'utilization'), '{not json', { timeoutMs: 5_000 })).toEqual(invalid);
    // A session request names what it asks for (prepare or open).
    expect(await h.call('jobs.session', { v: 1 })).toEqual(invalid);
    expect(await transport.request(transport.subjects.providerCall(PROVIDER, 'jobs.nope' as ProviderVerb), { v: 1 }, { timeoutMs: 5_000 })).toEqual({
      v: 1,
      ok: false,
      error: { code: 'UNSUPPORTED', message: 'Unknown verb "jobs.nope"' },
    });
    // The local driver serves a subschema: a graphql call without an op is malformed, with one it answers.
    expect(await h.call('graphql', { v: 1 })).toEqual(invalid);
    expect(await h.call('graphql', { v: 1, op: 'sdl' })).toMatchObject({ ok: true, result: { sdl: expect.stringContaining('_localJobs') } });
    expect(await h.call('graphql', { v: 1, op: 'execute', query: '{ nope' })).toEqual(invalid);
    // Nothing was started by any of it.
    expect(h.events).toEqual([]);
  });

  it('answers bulk calls with one result per item, in order, a refusal affecting only its item', async () => {
    await h.startRuntime();
    const good = job({ command: ['sleep', '60'], timeAllocationMs: 60_000 });
    const noCommand = job({ command: null });
    const created = await h.call('jobs.create', { v: 1, jobs: [good, noCommand] });
    expect(created.result.results).toEqual([
      { ok: true, error: null, providerGeneratedId: expect.stringMatching(/^\d+$/) },
      { ok: false, error: { code: 'INVALID_INPUT', message: expect.stringContaining('command') }, providerGeneratedId: null },
    ]);
    const pid = Number(created.result.results[0].providerGeneratedId);
    await waitFor(() => h.eventsOf(good.id).length === 1, 'RUNNING');
    const expiresAt = h.eventsOf(good.id)[0]!.expiresAt!;

    const notFound = { ok: false, error: { code: 'NOT_FOUND', message: expect.any(String) } };
    expect((await h.call('jobs.suspend', { v: 1, ids: ['nope', good.id] })).result.results).toEqual([notFound, { ok: true, error: null }]);
    expect((await h.call('jobs.suspend', { v: 1, ids: [good.id] })).result.results).toEqual([
      { ok: false, error: { code: 'INVALID_STATE', message: expect.any(String) } },
    ]);
    expect((await h.call('jobs.unsuspend', { v: 1, ids: [good.id, 'nope'] })).result.results).toEqual([{ ok: true, error: null }, notFound]);

    const extended = await h.call('jobs.extend', {
      v: 1,
      items: [
        { id: 'nope', addMs: 1_000 },
        { id: good.id, addMs: 60_000 },
      ],
    });
    expect(extended.result.results[0]).toEqual({ ...notFound, expiresAt: null });
    expect(extended.result.results[1]).toMatchObject({ ok: true, error: null });
    expect(extended.result.results[1].expiresAt).toBeGreaterThanOrEqual(expiresAt + 60_000);

    const observed = await h.call('jobs.retrieve', { v: 1, ids: [good.id, 'nope'] });
    expect(observed.result.jobs).toEqual([
      expect.objectContaining({ id: good.id, state: 'RUNNING', expiresAt: extended.result.results[1].expiresAt, providerGeneratedId: String(pid) }),
      { id: 'nope', state: null, status: null, exitCode: null, startedAt: null, expiresAt: null, providerGeneratedId: null },
    ]);

    expect((await h.call('jobs.terminate', { v: 1, ids: ['nope', good.id, 'other'] })).result.results).toEqual([
      notFound,
      { ok: true, error: null },
      notFound,
    ]);
    const final = await h.finalOf(good.id);
    expect(final).toMatchObject({ state: 'SUCCESS', status: 'Your job has been terminated' });
    expect(h.eventsOf(good.id).map((e) => e.state)).toEqual(['RUNNING', 'SUSPENDED', 'RUNNING', 'CANCELING', 'SUCCESS']);
    await waitFor(() => processGone(pid), 'the process to be gone');
    const again = await h.call('jobs.terminate', { v: 1, ids: [good.id] });
    expect(again.result.results[0].error.code).toBe('INVALID_STATE');

    const utilization = await h.call('utilization', { v: 1 });
    expect(utilization).toMatchObject({ ok: true, result: { queueStatus: { running: 0, pending: 0 } } });
  });

  it('runs as many creates of a bulk at once as its driver asks, other calls of a bulk as many as the runtime allows', async () => {
    const base = createLocalDriver({ stateDir });
    let running = 0;
    let most = 0;
    /** Each call waits a little, as one that waits on its records or its backend does. */
    const slow = async <T>(work: () => Promise<T>) => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 20));
      running -= 1;
      return work();
    };
    const driver: Driver = {
      ...base,
      createConcurrency: 10,
      create: (created) => slow(async () => ({ providerGeneratedId: created.id })),
      observe: (jobId) => slow(() => base.observe(jobId)),
    };
    await h.startRuntime({ driver, requestConcurrency: 4 });
    const jobs = Array.from({ length: 30 }, () => job({ command: ['true'] }));
    const created = await h.call('jobs.create', { v: 1, jobs });
    expect(created.result.results.every((result: { ok: boolean }) => result.ok)).toBe(true);
    expect(most).toBe(10);
    most = 0;
    await h.call('jobs.retrieve', { v: 1, ids: jobs.map((j) => j.id) });
    expect(most).toBe(4);
  });

  it('a driver failure that is not a refusal reaches the caller as INTERNAL, without details', async () => {
    const base = createLocalDriver({ stateDir });
    const driver: Driver = {
      ...base,
      terminate: async (jobId) => {
        if (jobId === 'boom') throw new Error('ENOMEM at /secret/path/driver.ts:12');
        throw new InvalidStateError(jobId, 'refused');
      },
      utilization: async () => {
        throw new TypeError('cannot read properties of undefined');
      },
      manifest: async () => ({ products: [{ id: 'broken' }] }) as unknown as Manifest,
    };
    // The announcement needs a valid manifest; break it only after start.
    let broken = false;
    const { logger, lines } = capturingLogger();
    await h.startRuntime({ logger, driver: { ...driver, manifest: async () => (broken ? driver.manifest() : base.manifest()) } });
    broken = true;
    const terminated = await h.call('jobs.terminate', { v: 1, ids: ['boom', 'other'] });
    expect(terminated.result.results).toEqual([
      { ok: false, error: { code: 'INTERNAL', message: 'Internal error' } },
      { ok: false, error: { code: 'INVALID_STATE', message: 'refused' } },
    ]);
    expect(await h.call('utilization', { v: 1 })).toEqual({ v: 1, ok: false, error: { code: 'INTERNAL', message: 'Internal error' } });
    const manifest = await h.call('manifest', { v: 1 });
    expect(manifest).toMatchObject({ ok: false, error: { code: 'INTERNAL' } });
    expect(JSON.stringify(manifest)).not.toContain('at ');
    // The operator gets what the caller does not.
    expect(lines.filter((l) => l.level >= 50).map((l) => l.err?.message)).toEqual(
      expect.arrayContaining(['ENOMEM at /secret/path/driver.ts:12', 'cannot read properties of undefined']),
    );
  });

  it('keeps every event while publishing fails, and publishes them in order once it works again', async () => {
    let failuresLeft = 6;
    const flaky = new Proxy(transport, {
      get(target, property, receiver) {
        if (property === 'publishDurable') {
          return (subject: string, body: unknown, msgId: string) => {
            if (failuresLeft > 0) {
              failuresLeft -= 1;
              return Promise.reject(new Error('nats: disconnected'));
            }
            return target.publishDurable(subject, body, msgId);
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const { logger, lines } = capturingLogger();
    const runtime = await h.startRuntime({ transport: flaky, logger, publishRetry: { minMs: 10, maxMs: 50 } });
    const created = job({ command: ['sh', '-c', 'for i in 1 2 3; do echo line $i; done'] });
    await h.call('jobs.create', { v: 1, jobs: [created] });
    await h.finalOf(created.id);
    await runtime.flush();
    expect(failuresLeft).toBe(0);
    expect(h.eventsOf(created.id).map((e) => e.state)).toEqual(['RUNNING', 'SUCCESS']);
    await waitFor(() => h.stdoutOf(created.id).length === 3, 'the output');
    expect(h.stdoutOf(created.id)).toEqual(['line 1', 'line 2', 'line 3']);
    // One warning when publishing starts failing, not one per attempt.
    const warnings = lines.filter((l) => l.msg.startsWith('publishing an event failed'));
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(warnings.length).toBeLessThan(6);
  });

  it('stop() gives up events it cannot publish after its flush timeout instead of hanging', async () => {
    const down = new Proxy(transport, {
      get(target, property, receiver) {
        if (property === 'publishDurable') return () => Promise.reject(new Error('nats: disconnected'));
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const { logger, lines } = capturingLogger();
    const runtime = await h.startRuntime({ transport: down, logger, flushTimeoutMs: 300, publishRetry: { minMs: 10, maxMs: 50 } });
    const created = job({ command: ['true'] });
    await h.call('jobs.create', { v: 1, jobs: [created] });
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await runtime.stop();
    h.runtimes.pop();
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(lines.some((l) => l.msg.startsWith('gave up events'))).toBe(true);
    expect(h.events).toEqual([]);
  });

  it('batches many output lines into log events of at most 200 lines, keeping their order', async () => {
    const runtime = await h.startRuntime();
    const created = job({ command: ['seq', '1', '1000'] });
    await h.call('jobs.create', { v: 1, jobs: [created] });
    await h.finalOf(created.id);
    await runtime.flush();
    await waitFor(() => h.stdoutOf(created.id).length === 1000, 'all 1000 lines');
    expect(h.stdoutOf(created.id)).toEqual(Array.from({ length: 1000 }, (_, i) => String(i + 1)));
    const batches = h.logs.filter((l) => l.jobId === created.id);
    expect(batches.length).toBeGreaterThanOrEqual(5);
    expect(Math.max(...batches.map((b) => b.lines.length))).toBeLessThanOrEqual(200);
    // All output is stored before the event that says the job ended.
    expect(h.stream.filter((m) => m.jobId === created.id).at(-1)).toMatchObject({ kind: 'event', state: 'SUCCESS' });
  });

  it('a job running when its provider restarts ends FAILURE, with its process stopped, under the new instance', async () => {
    const first = await h.startRuntime();
    const running = job({ command: ['sleep', '60'] });
    const finished = job({ command: ['true'] });
    const created = await h.call('jobs.create', { v: 1, jobs: [running, finished] });
    const pid = Number(created.result.results[0].providerGeneratedId);
    await h.finalOf(finished.id);
    await first.stop();
    h.runtimes.pop();
    expect(processGone(pid)).toBe(false);

    const second = await h.startRuntime();
    expect(second.instanceId).not.toBe(first.instanceId);
    const final = await h.finalOf(running.id);
    expect(final).toMatchObject({
      state: 'FAILURE',
      status: 'The local provider restarted while the job ran; its processes were stopped',
      eventId: `${second.instanceId}:1`,
    });
    await waitFor(() => processGone(pid), 'the orphaned process to be stopped');
    const reconciled = await h.call('jobs.reconcile', { v: 1, ids: [running.id, finished.id, 'never'] });
    expect(reconciled.result.jobs.map((j: { state: string | null }) => j.state)).toEqual(['FAILURE', 'SUCCESS', null]);
    const announcement = announcementSchema.parse(h.announcements.filter((a) => a.value !== null).at(-1)!.value);
    expect(announcement.instanceId).toBe(second.instanceId);
  });

  it('publishes after a restart the events and output a killed provider left unpublished, under their own ids', async () => {
    const outboxDir = join(stateDir, 'outbox');
    const jobId = `job-${randomUUID()}`;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('../../test/support/outbox-child.ts', import.meta.url)), outboxDir, transport.subjects.prefix, jobId],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    try {
      await waitFor(() => output.includes('journaled') || child.exitCode !== null, 'the child to journal its events', 20_000);
      expect(output).toContain('journaled');
    } finally {
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
    }
    expect(h.events).toEqual([]);

    const runtime = await h.startRuntime({ outboxDir });
    await h.finalOf(jobId);
    expect(h.eventsOf(jobId).map((e) => [e.state, e.eventId.endsWith(':1') || e.eventId.endsWith(':2')])).toEqual([
      ['RUNNING', true],
      ['SUCCESS', true],
    ]);
    expect(h.eventsOf(jobId).every((e) => !e.eventId.startsWith(runtime.instanceId))).toBe(true);
    await waitFor(() => h.stdoutOf(`${jobId}-other`).length === 1, 'the other job’s output');
    expect(h.stdoutOf(jobId)).toEqual(['line 1', 'line 2']);
    expect(h.stdoutOf(`${jobId}-other`)).toEqual(['still collecting']);
    // Its output before its end, as it was written.
    expect(h.stream.filter((m) => m.jobId === jobId).map((m) => m.kind)).toEqual(['event', 'log', 'event']);
    // The dead run's journal is taken over; once everything is stored and the runtime stops, none is left.
    expect(readdirSync(outboxDir).filter((name) => !name.includes(`-${runtime.instanceId}.`))).toEqual([]);
    await runtime.stop();
    h.runtimes.pop();
    expect(existsSync(outboxDir)).toBe(false);
  });

  it('never starts a job the gateway withdrew before its create arrived, and stops one withdrawn while it was being created', async () => {
    const base = createLocalDriver({ stateDir, terminateGraceMs: 200 });
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    let arrived: () => void = () => {};
    const inDriver = new Promise<void>((resolve) => (arrived = resolve));
    const driver: Driver = {
      ...base,
      create: async (created) => {
        if (created.specification.name === 'slow') {
          arrived();
          await gate;
        }
        return base.create(created);
      },
    };
    await h.startRuntime({ driver });

    const early = job({ command: ['true'] });
    const withdrawn = await h.call('jobs.terminate', { v: 1, ids: [early.id], reason: 'sent to another provider' });
    expect(withdrawn.result.results[0]).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    const refused = await h.call('jobs.create', { v: 1, jobs: [early] });
    expect(refused.result.results[0]).toMatchObject({ ok: false, error: { code: 'INVALID_STATE' } });

    const slow = job({ command: ['sleep', '60'], name: 'slow' });
    const creating = h.call('jobs.create', { v: 1, jobs: [slow] });
    // The withdrawal comes while the create waits in the driver.
    await inDriver;
    const letGo = await h.call('jobs.terminate', { v: 1, ids: [slow.id], reason: 'sent to another provider' });
    expect(letGo.result.results[0]).toEqual({ ok: true, error: null });
    release();
    await creating;
    const final = await h.finalOf(slow.id);
    expect(final).toMatchObject({ state: 'SUCCESS', status: 'Your job has been terminated (sent to another provider)' });
    expect(h.eventsOf(early.id)).toEqual([]);
  });
});
