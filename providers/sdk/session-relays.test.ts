/**
 * The SDK's side of interactive sessions, through the runtime on the in-process bus. The
 * driver here is a stand-in with a terminal made of two PassThrough streams, so the relay's
 * flow control can be watched byte by byte; the real backends (a pty in a local job, ...)
 * are tested end to end in test/sessions-processes.test.ts.
 */
import { Duplex, PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';

import type { JobObservation } from '../../shared/protocol.js';
import { createSessionLink, type SessionLink } from '../../shared/session-link.js';
import { createSubjects } from '../../shared/subjects.js';
import { createMemoryTransport, type MemoryTransport } from '../../shared/transport/memory-transport.js';
import type { Driver, DriverSession, DriverSessionRequest } from './driver.js';
import { createProviderRuntime, type ProviderRuntime } from './runtime.js';

const settle = async (rounds = 30) => {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** A terminal as a backend would give it: what is written to `stream` comes out of `input`, what is written to `output` comes out of `stream`. */
function terminal() {
  const input = new PassThrough();
  const output = new PassThrough();
  const stream = Duplex.from({ readable: output, writable: input });
  let exit!: (code: number | null) => void;
  const resizes: string[] = [];
  let closed = false;
  const session: DriverSession = {
    stream,
    resize: (cols, rows) => resizes.push(`${cols}x${rows}`),
    exit: new Promise((resolve) => (exit = (exitCode) => resolve({ exitCode }))),
    close: () => {
      closed = true;
    },
  };
  return { session, input, output, resizes, exit: (code: number | null) => exit(code), closed: () => closed };
}

function driver(state: JobObservation['state'], open?: (request: DriverSessionRequest) => Promise<DriverSession>): Driver {
  const observe = async (id: string): Promise<JobObservation> => ({
    id,
    state,
    status: null,
    exitCode: null,
    startedAt: null,
    expiresAt: null,
    providerGeneratedId: null,
  });
  return {
    start: async () => {},
    manifest: async () => ({ products: [] }),
    utilization: async () => ({
      capacity: { cpu: 1, memoryInGigs: 1, gpu: 0 },
      usedCapacity: { cpu: 0, memoryInGigs: 0, gpu: 0 },
      queueStatus: { running: 0, pending: 0 },
      observedAt: 0,
      capacityByProduct: {},
    }),
    create: async () => ({ providerGeneratedId: null }),
    terminate: async () => {},
    extend: async () => ({ expiresAt: null }),
    suspend: async () => {},
    unsuspend: async () => {},
    observe,
    stop: async () => {},
    ...(open ? { openSession: open } : {}),
  };
}

let transport: MemoryTransport;
let runtime: ProviderRuntime | null = null;

async function start(d: Driver, sessionWindowBytes = 4096) {
  transport = createMemoryTransport({ subjects: createSubjects('sessiontest') });
  runtime = createProviderRuntime({ transport, driver: d, id: 'edge', kind: 'LOCAL', version: 'test', sessionWindowBytes });
  await runtime.start();
}

const ask = (body: Record<string, unknown>) =>
  transport.request(transport.subjects.providerCall('edge', 'jobs.session'), { v: 1, ...body }, { timeoutMs: 5_000 }) as Promise<{
    ok: boolean;
    error?: { code: string; message: string };
  }>;

const openRequest = (sessionId: string, window: number) => ({
  op: 'open',
  jobId: 'job-1',
  rank: 0,
  type: 'SHELL',
  sessionId,
  size: { cols: 80, rows: 24 },
  window,
  heartbeatMs: 60_000,
  missedHeartbeats: 3,
});

/** The gateway's end of a session, with what arrives on it. */
function gatewayEnd(sessionId: string, window: number, reading: { on: boolean }) {
  const received: Buffer[] = [];
  const events: string[] = [];
  const link: SessionLink = createSessionLink({
    transport,
    sendSubject: transport.subjects.sessionToProvider('edge', sessionId),
    receiveSubject: transport.subjects.sessionToGateway('edge', sessionId),
    window,
    heartbeatMs: 60_000,
    handlers: {
      onData: (_channel, bytes) => {
        received.push(bytes);
        if (reading.on) link.consumed(bytes.length);
      },
      onExit: (code) => events.push(`exit ${code}`),
      onClose: (reason, by) => events.push(`close ${by}: ${reason}`),
    },
  });
  return { link, received, events };
}

afterEach(async () => {
  await runtime?.stop();
  runtime = null;
  await transport?.close();
});

describe('sessions in the provider SDK', () => {
  it('answers UNSUPPORTED for a driver that opens no sessions, and INVALID_STATE or NOT_FOUND for a job it cannot open one on', async () => {
    await start(driver('RUNNING'));
    expect(await ask({ op: 'prepare', jobId: 'job-1', rank: 0, type: 'SHELL' })).toMatchObject({ ok: false, error: { code: 'UNSUPPORTED' } });
    await runtime!.stop();
    await transport.close();

    await start(driver('SUSPENDED', async () => terminal().session));
    expect(await ask({ op: 'prepare', jobId: 'job-1', rank: 0, type: 'SHELL' })).toMatchObject({ ok: false, error: { code: 'INVALID_STATE' } });
    await runtime!.stop();
    await transport.close();

    await start(driver(null, async () => terminal().session));
    expect(await ask({ op: 'prepare', jobId: 'job-1', rank: 0, type: 'SHELL' })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  });

  it('relays input and resizes to the driver, pauses its output while the gateway grants no room, and sends the exit code after the last byte', async () => {
    const backend = terminal();
    const requests: DriverSessionRequest[] = [];
    await start(
      driver('RUNNING', async (request) => {
        requests.push(request);
        return backend.session;
      }),
    );
    expect(await ask({ op: 'prepare', jobId: 'job-1', rank: 0, type: 'SHELL' })).toMatchObject({ ok: true });
    const window = 8192;
    const reading = { on: false };
    const gateway = gatewayEnd('s-1', window, reading);
    expect(await ask(openRequest('s-1', window))).toMatchObject({ ok: true });
    expect(requests).toEqual([{ jobId: 'job-1', rank: 0, type: 'SHELL', cols: 80, rows: 24 }]);
    gateway.link.start();

    const typed: Buffer[] = [];
    backend.input.on('data', (chunk: Buffer) => typed.push(chunk));
    gateway.link.write(0, Buffer.from('echo hi\n'));
    gateway.link.resize({ cols: 100, rows: 30 });
    await settle();
    expect(Buffer.concat(typed).toString()).toBe('echo hi\n');
    expect(backend.resizes).toEqual(['100x30']);

    // The backend prints far more than the window while the gateway takes nothing, in reads of 4 KiB as a pty gives them.
    const printed = Buffer.alloc(200 * 1024, 0x61);
    for (let at = 0; at < printed.length; at += 4096) backend.output.write(printed.subarray(at, at + 4096));
    await settle();
    expect(gateway.link.stats().received).toBe(window);
    expect(backend.session.stream.isPaused()).toBe(true);
    // Paused: what the backend printed waits in its own stream (as a pty's output waits in the kernel), not in the relay.
    expect(backend.output.readableLength + backend.output.writableLength).toBeGreaterThan(printed.length - window - 32 * 1024);

    backend.exit(5);
    backend.output.end();
    await settle();
    expect(gateway.events).toEqual([]);

    reading.on = true;
    gateway.link.consumed(window);
    // 200 KiB through an 8 KiB window is 25 grants; wait on the clock, not a count of turns, which a loaded machine stretches.
    await vi.waitFor(() => expect(gateway.events.length).toBe(2), { timeout: 15_000, interval: 5 });
    expect(Buffer.concat(gateway.received).equals(printed)).toBe(true);
    expect(gateway.events).toEqual(['exit 5', "close peer: the session's process exited with code 5"]);
    expect(backend.closed()).toBe(true);
  });

  it('hangs up the driver’s session when the gateway closes it, and closes every session when the provider stops', async () => {
    const first = terminal();
    const second = terminal();
    const sessions = [first.session, second.session];
    await start(driver('RUNNING', async () => sessions.shift()!));
    const one = gatewayEnd('s-1', 4096, { on: true });
    const two = gatewayEnd('s-2', 4096, { on: true });
    await ask(openRequest('s-1', 4096));
    await ask(openRequest('s-2', 4096));
    one.link.start();
    two.link.start();
    one.link.close('the client closed the session');
    await settle();
    expect(first.closed()).toBe(true);
    expect(second.closed()).toBe(false);

    await runtime!.stop();
    runtime = null;
    await settle();
    expect(second.closed()).toBe(true);
    expect(two.events).toEqual(['close peer: provider edge is stopping']);
  });
});
