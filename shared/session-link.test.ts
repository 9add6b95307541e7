import { afterEach, describe, expect, it, vi } from 'vitest';

import { encodeDataFrame } from './session-frames.js';
import {
  COALESCE_MIN_BYTES,
  COALESCE_MS,
  createSessionLink,
  MAX_SESSION_CHUNK_BYTES,
  type SessionChannel,
  type SessionCloser,
  type SessionLink,
} from './session-link.js';
import { createSubjects } from './subjects.js';
import { createMemoryTransport } from './transport/memory-transport.js';

/** Turns of the event loop: the in-process bus delivers on setImmediate, as NATS never delivers synchronously. */
const turns = async (rounds: number) => {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** Lets what was published be delivered, a frame held back to fill included. */
const settle = async (rounds = 20) => {
  await turns(rounds);
  await new Promise((resolve) => setTimeout(resolve, COALESCE_MS + 1));
  await turns(rounds);
};

interface End {
  link: SessionLink;
  received: { channel: SessionChannel; bytes: Buffer }[];
  events: string[];
  closed: { reason: string; by: SessionCloser } | null;
  drains: number;
  /** Whether received data is consumed as it comes. */
  reading: boolean;
}

function pair(options: { gatewayWindow?: number; providerWindow?: number; heartbeatMs?: number } = {}) {
  const subjects = createSubjects('linktest');
  const transport = createMemoryTransport({ subjects });
  const make = (send: string, receive: string, window: number): End => {
    const end: End = { link: null as unknown as SessionLink, received: [], events: [], closed: null, drains: 0, reading: true };
    end.link = createSessionLink({
      transport,
      sendSubject: send,
      receiveSubject: receive,
      window,
      heartbeatMs: options.heartbeatMs ?? 60_000,
      handlers: {
        onData(channel, bytes) {
          end.received.push({ channel, bytes });
          if (end.reading) end.link.consumed(bytes.length);
        },
        onDrain: () => (end.drains += 1),
        onResize: (size) => end.events.push(`resize ${size.cols}x${size.rows}`),
        onEof: () => end.events.push('eof'),
        onExit: (code) => end.events.push(`exit ${code}`),
        onClose: (reason, by) => (end.closed = { reason, by }),
      },
    });
    return end;
  };
  const toProvider = subjects.sessionToProvider('p1', 's1');
  const toGateway = subjects.sessionToGateway('p1', 's1');
  const provider = make(toGateway, toProvider, options.providerWindow ?? 64 * 1024);
  const gateway = make(toProvider, toGateway, options.gatewayWindow ?? 256 * 1024);
  return { transport, provider, gateway, toProvider, toGateway };
}

const bytesOf = (end: End) => Buffer.concat(end.received.map((r) => r.bytes));

afterEach(() => {
  vi.useRealTimers();
});

describe('the session link', () => {
  it('carries bytes both ways in order, in chunks no larger than a message may hold', async () => {
    const { provider, gateway } = pair();
    provider.link.start();
    gateway.link.start();
    await settle();
    const output = Buffer.from(Array.from({ length: 200_000 }, (_, i) => i % 251));
    expect(provider.link.write(1, output.subarray(0, 150_000))).toBe(true);
    provider.link.write(2, output.subarray(150_000));
    gateway.link.write(0, Buffer.from('echo $((6*7))\n'));
    await settle();
    expect(bytesOf(gateway).equals(output)).toBe(true);
    expect(gateway.received.every((r) => r.bytes.length <= MAX_SESSION_CHUNK_BYTES)).toBe(true);
    expect(gateway.received.at(-1)!.channel).toBe(2);
    expect(bytesOf(provider).toString()).toBe('echo $((6*7))\n');
  });

  it('stops a sender at the window while its peer does not consume, and resumes once it does', async () => {
    const window = 64 * 1024;
    const { provider, gateway } = pair({ gatewayWindow: window });
    gateway.reading = false;
    provider.link.start();
    gateway.link.start();
    const output = Buffer.alloc(1024 * 1024, 7);
    const accepted = provider.link.write(1, output);
    await settle();
    // The producer was told to pause, and no more than the window reached the peer.
    expect(accepted).toBe(false);
    expect(provider.link.stats()).toMatchObject({ sent: window, grantedUpTo: window, queued: output.length - window });
    expect(gateway.link.stats()).toMatchObject({ received: window, consumed: 0 });
    expect(provider.drains).toBe(0);
    // More writes while paused only queue; nothing more is sent.
    provider.link.write(1, Buffer.alloc(10, 8));
    await settle();
    expect(gateway.link.stats().received).toBe(window);

    gateway.reading = true;
    gateway.link.consumed(gateway.link.stats().received);
    // On the clock, not a count of turns, which a loaded machine stretches.
    await vi.waitFor(() => expect(provider.link.stats().queued).toBe(0), { timeout: 15_000, interval: 5 });
    await settle();
    expect(provider.drains).toBe(1);
    expect(bytesOf(gateway).equals(Buffer.concat([output, Buffer.alloc(10, 8)]))).toBe(true);
    // In flight at any moment: at most one window beyond what was consumed.
    const stats = gateway.link.stats();
    expect(stats.received - stats.consumed).toBeLessThanOrEqual(window);
  });

  it('never lets the peer hold more than one window of its bytes unconsumed, whatever the chunk sizes', async () => {
    const window = 10_000;
    const { provider, gateway } = pair({ gatewayWindow: window });
    gateway.reading = false;
    provider.link.start();
    gateway.link.start();
    for (const size of [1, 3_333, 7_000, 12_345, 1, 40_000]) provider.link.write(1, Buffer.alloc(size, 1));
    let consumedSoFar = 0;
    for (let round = 0; round < 30; round++) {
      await settle(3);
      const stats = gateway.link.stats();
      expect(stats.received - stats.consumed).toBeLessThanOrEqual(window);
      expect(provider.link.stats().sent).toBeLessThanOrEqual(consumedSoFar + window);
      // The consumer takes a little at a time, less than a chunk.
      const take = Math.min(2_500, stats.received - stats.consumed);
      gateway.link.consumed(take);
      consumedSoFar += take;
    }
  });

  it('sends the exit code and the close after the data queued before them', async () => {
    const { provider, gateway } = pair({ gatewayWindow: 4096 });
    gateway.reading = false;
    provider.link.start();
    gateway.link.start();
    provider.link.write(1, Buffer.alloc(10_000, 65));
    provider.link.exit(3);
    provider.link.end('the shell exited');
    await settle();
    expect(gateway.events).toEqual([]);
    expect(gateway.closed).toBeNull();
    gateway.reading = true;
    gateway.link.consumed(4096);
    for (let i = 0; i < 20 && !gateway.closed; i++) {
      await settle(2);
      gateway.link.consumed(gateway.link.stats().received - gateway.link.stats().consumed);
    }
    expect(bytesOf(gateway).length).toBe(10_000);
    expect(gateway.events).toEqual(['exit 3']);
    expect(gateway.closed).toEqual({ reason: 'the shell exited', by: 'peer' });
    expect(provider.closed).toEqual({ reason: 'the shell exited', by: 'local' });
  });

  it('passes resize and end of input to the provider, and a close with its reason both ways', async () => {
    const { provider, gateway } = pair();
    provider.link.start();
    gateway.link.start();
    gateway.link.resize({ cols: 120, rows: 40 });
    gateway.link.eof();
    await settle();
    expect(provider.events).toEqual(['resize 120x40', 'eof']);
    gateway.link.close('the client closed the session');
    await settle();
    expect(provider.closed).toEqual({ reason: 'the client closed the session', by: 'peer' });
    expect(gateway.closed).toEqual({ reason: 'the client closed the session', by: 'local' });
    // Closed is closed: nothing more goes out or comes in.
    expect(gateway.link.write(0, Buffer.from('x'))).toBe(false);
  });

  it('holds what is written before start, and sends it once started', async () => {
    const { provider, gateway } = pair();
    provider.link.start();
    expect(gateway.link.write(0, Buffer.from('early'))).toBe(false);
    gateway.link.resize({ cols: 100, rows: 30 });
    await settle();
    expect(provider.received).toEqual([]);
    gateway.link.start();
    await settle();
    expect(bytesOf(provider).toString()).toBe('early');
    expect(provider.events).toEqual(['resize 100x30']);
    expect(gateway.drains).toBe(1);
  });

  it('ends the session when the peer sends past its window', async () => {
    const { transport, gateway, toGateway } = pair({ gatewayWindow: 1024 });
    gateway.link.start();
    transport.publishBytes(toGateway, encodeDataFrame(1, 0, [Buffer.alloc(2048)]));
    await settle();
    expect(gateway.closed).toEqual({ reason: 'the peer sent more than its window allows', by: 'local' });
    expect(gateway.received).toEqual([]);
  });

  it('ends the session when data was lost on the way (a gap in the offsets)', async () => {
    const { transport, gateway, toGateway } = pair();
    gateway.link.start();
    transport.publishBytes(toGateway, encodeDataFrame(1, 0, [Buffer.from('abc')]));
    transport.publishBytes(toGateway, encodeDataFrame(1, 10, [Buffer.from('def')]));
    await settle();
    expect(bytesOf(gateway).toString()).toBe('abc');
    expect(gateway.closed?.reason).toBe('session data was lost (expected offset 3, got 10)');
  });

  it('ends the session on a message that does not follow the protocol, and tells the peer', async () => {
    const { transport, provider, gateway, toGateway } = pair();
    provider.link.start();
    gateway.link.start();
    transport.publish(toGateway, { v: 1, type: 'data', channel: 9, offset: 0, data: '!!' });
    await settle();
    expect(gateway.closed?.by).toBe('local');
    expect(provider.closed).toEqual({ reason: gateway.closed?.reason, by: 'peer' });
  });

  it('ends the session on a malformed data frame, passes none of it on, and tells the peer', async () => {
    const { transport, provider, gateway, toGateway } = pair();
    provider.link.start();
    gateway.link.start();
    const frame = encodeDataFrame(1, 0, [Buffer.from('abc')]);
    // A header cut short.
    transport.publishBytes(toGateway, frame.subarray(0, 6));
    await settle();
    expect(gateway.received).toEqual([]);
    expect(gateway.closed).toEqual({ reason: 'the peer sent a message that does not follow the session protocol', by: 'local' });
    expect(provider.closed).toEqual({ reason: gateway.closed?.reason, by: 'peer' });
  });

  it('sends data written in one turn of the event loop together, as binary frames of at most a chunk', async () => {
    const { transport, provider, gateway, toGateway } = pair();
    provider.link.start();
    gateway.link.start();
    await settle();
    const frames: Buffer[] = [];
    transport.subscribeBytes(toGateway, (payload) => frames.push(Buffer.from(payload)));
    await settle();
    // A pty read at a time: many small writes, one after another.
    const reads = Array.from({ length: 100 }, (_, i) => Buffer.alloc(1_000, i));
    for (const read of reads) expect(provider.link.write(1, read)).toBe(true);
    await settle();
    expect(bytesOf(gateway).equals(Buffer.concat(reads))).toBe(true);
    // 100,000 bytes in two frames of at most a chunk, not a hundred; each a 10-byte header and the bytes, no base64.
    expect(frames.map((frame) => frame.length)).toEqual([10 + MAX_SESSION_CHUNK_BYTES, 10 + 100_000 - MAX_SESSION_CHUNK_BYTES]);
  });

  it('fills frames while output streams (a pty read a turn), yet sends an echo, a full chunk or an exit at once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { transport, provider, gateway, toGateway } = pair({ gatewayWindow: 1024 * 1024 });
    provider.link.start();
    gateway.link.start();
    await turns(5);
    const frames: number[] = [];
    transport.subscribeBytes(toGateway, (payload) => payload[0] === 1 && frames.push(payload.length - 10));
    await turns(5);
    const read = (size: number, fill: number) => Buffer.alloc(size, fill);

    // A keystroke's echo, alone: at the end of its turn, no wait.
    provider.link.write(1, Buffer.from('x'));
    await turns(5);
    expect(frames).toEqual([1]);

    // A fast shell: the first read goes at once; the reads of the next turns wait for the frame to fill.
    provider.link.write(1, read(4095, 1));
    await turns(5);
    for (let turn = 0; turn < 10; turn++) {
      provider.link.write(1, read(4095, 2));
      await turns(2);
    }
    expect(frames).toEqual([1, 4095]);
    vi.advanceTimersByTime(COALESCE_MS);
    await turns(5);
    expect(frames).toEqual([1, 4095, 10 * 4095]);

    // A full chunk does not wait; what is left over does.
    provider.link.write(1, read(MAX_SESSION_CHUNK_BYTES + 5_000, 3));
    await turns(5);
    expect(frames).toEqual([1, 4095, 10 * 4095, MAX_SESSION_CHUNK_BYTES]);
    vi.advanceTimersByTime(COALESCE_MS);
    await turns(5);
    expect(frames.at(-1)).toBe(5_000);

    // Streaming or not, less than an echo's worth goes at once, and so does data with an exit behind it.
    provider.link.write(1, read(COALESCE_MIN_BYTES - 1, 4));
    await turns(5);
    expect(frames.at(-1)).toBe(COALESCE_MIN_BYTES - 1);
    provider.link.write(1, read(3_000, 5));
    provider.link.exit(0);
    await turns(5);
    expect(frames.at(-1)).toBe(3_000);
    expect(gateway.events).toEqual(['exit 0']);
    expect(bytesOf(gateway).length).toBe(1 + 4095 * 11 + MAX_SESSION_CHUNK_BYTES + 5_000 + COALESCE_MIN_BYTES - 1 + 3_000);

    // A session closed while a frame waits sends nothing more.
    provider.link.write(1, read(4095, 6));
    await turns(5);
    provider.link.write(1, read(4095, 7));
    await turns(5);
    const before = frames.length;
    provider.link.close('done');
    vi.advanceTimersByTime(COALESCE_MS);
    await turns(5);
    expect(frames.length).toBe(before);
  });

  it('counts a silent peer lost after the missed heartbeats, and a talking one alive', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { provider, gateway } = pair({ heartbeatMs: 1000 });
    provider.link.start();
    gateway.link.start();
    for (let beat = 0; beat < 10; beat++) {
      vi.advanceTimersByTime(1000);
      await settle();
    }
    expect(gateway.closed).toBeNull();
    expect(provider.closed).toBeNull();
    // The provider dies without a word: its heartbeat stops, and so does everything else.
    provider.link.close('gone');
    gateway.closed = null;
    await settle();
    expect(gateway.closed).toEqual({ reason: 'gone', by: 'peer' });

    const silent = pair({ heartbeatMs: 1000 });
    silent.gateway.link.start();
    for (let beat = 0; beat < 2; beat++) vi.advanceTimersByTime(1000);
    expect(silent.gateway.closed).toBeNull();
    vi.advanceTimersByTime(1000);
    expect(silent.gateway.closed).toEqual({ reason: 'nothing was heard from the other end for 3 heartbeats of 1000 ms', by: 'lost' });
  });
});
