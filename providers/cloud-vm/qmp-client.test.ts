/**
 * The QMP client against a real QEMU (an empty machine held at its first
 * instruction: nothing boots, it costs no CPU), and against a socket that
 * speaks QMP out of order the way QEMU may (events around the negotiation),
 * which a real QEMU cannot be made to do on purpose.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { eventually } from '../../test/support/graphql-client.js';
import { findQemu } from './qemu-command.js';
import { connectQmp, QmpError, type QmpClient } from './qmp-client.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sy-qmp-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A QEMU with no machine to run, paused (-S), QMP on a socket; answers a connected client. */
async function startQemu(): Promise<{ qmp: QmpClient; child: ChildProcess }> {
  const dir = await tempDir();
  const path = join(dir, 'qmp.sock');
  const child = spawn(
    findQemu(),
    ['-accel', 'tcg', '-machine', 'none', '-nodefaults', '-display', 'none', '-S', '-qmp', `unix:${path},server=on,wait=off`],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  cleanups.push(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  const qmp = await eventually(() => connectQmp({ path, timeoutMs: 5_000 }).catch(() => undefined), {
    what: 'QMP to answer',
    timeoutMs: 20_000,
    intervalMs: 100,
  });
  cleanups.push(() => qmp.close());
  return { qmp, child };
}

describe('the QMP client', () => {
  it('reads the greeting, runs commands by id, and reports QEMU’s errors by class', async () => {
    const { qmp } = await startQemu();
    expect(qmp.greeting.version.qemu.major).toBeGreaterThanOrEqual(7);
    // Concurrent commands each get their own reply.
    const [status, name] = await Promise.all([qmp.execute<{ status: string }>('query-status'), qmp.execute<Record<string, unknown>>('query-name')]);
    expect(status.status).toBe('prelaunch');
    expect(name).toEqual({});
    const error = await qmp.execute('no-such-command').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QmpError);
    expect(error).toMatchObject({ errorClass: 'CommandNotFound', command: 'no-such-command' });
    // The connection still works after an error.
    expect((await qmp.execute<{ status: string }>('query-status')).status).toBe('prelaunch');
  });

  it('routes events to listeners, and ends its calls when QEMU quits', async () => {
    const { qmp, child } = await startQemu();
    const seen: string[] = [];
    qmp.onEvent((event) => seen.push(event.event));
    const resumed = qmp.waitForEvent('RESUME', { timeoutMs: 10_000 });
    await qmp.execute('cont');
    expect((await resumed).timestamp).toBeGreaterThan(0);
    const stopped = qmp.waitForEvent('STOP', { timeoutMs: 10_000 });
    await qmp.execute('stop');
    await stopped;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const shutdown = qmp.waitForEvent('SHUTDOWN', { timeoutMs: 10_000 });
    await qmp.execute('quit');
    expect((await shutdown).data).toMatchObject({ guest: false });
    await exited;
    await qmp.closed;
    expect(seen).toEqual(expect.arrayContaining(['RESUME', 'STOP', 'SHUTDOWN']));
    await expect(qmp.execute('query-status')).rejects.toMatchObject({ errorClass: 'Disconnected' });
  });

  it('tolerates events before the greeting’s negotiation is answered and between replies', async () => {
    const dir = await tempDir();
    const path = join(dir, 'qmp.sock');
    const server: Server = createServer((socket) => {
      socket.write(`${JSON.stringify({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: '' }, capabilities: [] } })}\n`);
      socket.on('data', (chunk) => {
        for (const line of chunk.toString().split('\n').filter(Boolean)) {
          const { execute, id } = JSON.parse(line) as { execute: string; id: string };
          // An event, then a reply without an id (as for a command QEMU could not parse), then the reply, in one write.
          const event = { event: 'RTC_CHANGE', data: { offset: 1 }, timestamp: { seconds: 1, microseconds: 5000 } };
          socket.write(`${JSON.stringify(event)}\n${JSON.stringify({ error: { class: 'GenericError', desc: 'x' } })}\n`);
          socket.write(`${JSON.stringify({ return: execute === 'query-status' ? { status: 'running' } : {}, id })}\n`);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const qmp = await connectQmp({ path });
    cleanups.push(() => qmp.close());
    const events: number[] = [];
    qmp.onEvent((event) => events.push(event.timestamp), 'RTC_CHANGE');
    expect(await qmp.execute('query-status')).toEqual({ status: 'running' });
    expect(events).toEqual([1005]);
  });

  it('refuses a socket that does not speak QMP', async () => {
    const dir = await tempDir();
    const path = join(dir, 'not-qmp.sock');
    const server = createServer((socket) => socket.write('hello\n'));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    await expect(connectQmp({ path })).rejects.toThrow(/not a QMP message: hello/);
  });
});
