/**
 * A small QMP client (QEMU Machine Protocol, docs/interop/qmp-spec.rst): JSON
 * lines over a unix socket. It reads the greeting, negotiates with
 * `qmp_capabilities`, sends each command with an id and resolves the reply of
 * that id, and routes asynchronous events to listeners. Events may arrive
 * before or between replies, also around the negotiation (QEMU issue #2176);
 * they never stand in for a reply. There is no well-kept QMP client on npm.
 */
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';

/** An event QEMU sent: `{ event, data, timestamp }`. */
export interface QmpEvent {
  event: string;
  data: Record<string, unknown>;
  /** When QEMU sent it (ms since the epoch). */
  timestamp: number;
}

/** What QEMU says about itself in its greeting. */
export interface QmpGreeting {
  version: { qemu: { major: number; minor: number; micro: number }; package: string };
  capabilities: string[];
}

/** A command QEMU answered with an error (`{ error: { class, desc } }`), or a connection that ended first. */
export class QmpError extends Error {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`QMP ${command}: ${detail}`, options);
    this.name = 'QmpError';
  }
}

export interface QmpClient {
  readonly greeting: QmpGreeting;
  /** Run a command; resolves its `return` value, rejects with QmpError. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, options?: { timeoutMs?: number }): Promise<T>;
  /** Listen to events (every event, or those of one name); answers a function that stops listening. */
  onEvent(listener: (event: QmpEvent) => void, name?: string): () => void;
  /** The next event of the name (that `matches`, when given). */
  waitForEvent(name: string, options?: { timeoutMs?: number; matches?: (event: QmpEvent) => boolean }): Promise<QmpEvent>;
  /** Resolves when the connection has ended (QEMU quit, or close()). */
  readonly closed: Promise<void>;
  close(): void;
}

export interface QmpConnectOptions {
  /** The QMP socket's path (`-qmp unix:<path>,server=on,wait=off`). */
  path: string;
  /** How long the greeting and the negotiation may take. @default 10000 */
  timeoutMs?: number;
}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout | null;
}

/** Connect, read the greeting and leave capabilities negotiation mode; rejects when the socket is not QMP. */
export async function connectQmp(options: QmpConnectOptions): Promise<QmpClient> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const socket: Socket = connect(options.path);
  socket.setEncoding('utf8');
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const pending = new Map<string, Pending>();
  let nextId = 1;
  let buffer = '';
  let ended: Error | null = null;
  let greet: { resolve: (greeting: QmpGreeting) => void; reject: (error: Error) => void } | null = null;
  const greeted = new Promise<QmpGreeting>((resolve, reject) => (greet = { resolve, reject }));
  // A rejection nobody awaits yet (the connection ends before the greeting is read) must not go unhandled.
  greeted.catch(() => undefined);

  let markClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (markClosed = resolve));

  const end = (error: Error) => {
    if (ended) return;
    ended = error;
    greet?.reject(error);
    greet = null;
    for (const [id, call] of pending) {
      pending.delete(id);
      if (call.timer) clearTimeout(call.timer);
      call.reject(new QmpError(call.command, 'Disconnected', error.message, { cause: error }));
    }
    markClosed();
  };

  const handle = (message: Record<string, unknown>) => {
    if ('QMP' in message) {
      greet?.resolve(message.QMP as QmpGreeting);
      greet = null;
      return;
    }
    if (typeof message.event === 'string') {
      const stamp = message.timestamp as { seconds?: number; microseconds?: number } | undefined;
      const event: QmpEvent = {
        event: message.event,
        data: (message.data as Record<string, unknown> | undefined) ?? {},
        timestamp: stamp?.seconds === undefined ? Date.now() : stamp.seconds * 1000 + Math.floor((stamp.microseconds ?? 0) / 1000),
      };
      events.emit('event', event);
      return;
    }
    const id = typeof message.id === 'string' ? message.id : undefined;
    const call = id === undefined ? undefined : pending.get(id);
    // A reply without our id (QEMU answers a command it could not parse without one): nothing waits for it by id.
    if (!call || id === undefined) return;
    pending.delete(id);
    if (call.timer) clearTimeout(call.timer);
    if ('error' in message) {
      const error = message.error as { class?: string; desc?: string };
      call.reject(new QmpError(call.command, error.class ?? 'GenericError', error.desc ?? 'failed'));
    } else call.resolve(message.return);
  };

  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (!line) continue;
      try {
        handle(JSON.parse(line) as Record<string, unknown>);
      } catch {
        end(new Error(`not a QMP message: ${line.slice(0, 200)}`));
        socket.destroy();
        return;
      }
    }
  });
  socket.on('error', (error) => end(error));
  socket.on('close', () => end(new Error('the QMP connection closed')));

  const execute = <T>(command: string, args?: Record<string, unknown>, callOptions: { timeoutMs?: number } = {}): Promise<T> => {
    if (ended) return Promise.reject(new QmpError(command, 'Disconnected', ended.message, { cause: ended }));
    const id = `sy-${nextId++}`;
    return new Promise<T>((resolve, reject) => {
      const limit = callOptions.timeoutMs;
      const timer =
        limit === undefined
          ? null
          : setTimeout(() => {
              pending.delete(id);
              reject(new QmpError(command, 'Timeout', `no reply in ${limit} ms`));
            }, limit);
      pending.set(id, { command, resolve: resolve as (value: unknown) => void, reject, timer });
      socket.write(`${JSON.stringify(args ? { execute: command, arguments: args, id } : { execute: command, id })}\n`);
    });
  };

  const onEvent = (listener: (event: QmpEvent) => void, name?: string) => {
    const wrapped = (event: QmpEvent) => {
      if (name === undefined || event.event === name) listener(event);
    };
    events.on('event', wrapped);
    return () => void events.off('event', wrapped);
  };

  const fail = (error: Error) => {
    socket.destroy();
    end(error);
    throw error;
  };
  const within = <T>(promise: Promise<T>, what: string) =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`QMP at ${options.path}: no ${what} in ${timeoutMs} ms`)), timeoutMs);
      promise.then(resolve, reject).finally(() => clearTimeout(timer));
    });

  const greeting = await within(greeted, 'greeting').catch(fail);
  await within(execute('qmp_capabilities'), 'negotiation').catch(fail);

  return {
    greeting,
    execute,
    onEvent,
    waitForEvent(name, waitOptions = {}) {
      return new Promise<QmpEvent>((resolve, reject) => {
        const timer =
          waitOptions.timeoutMs === undefined
            ? null
            : setTimeout(() => {
                stop();
                reject(new QmpError(name, 'Timeout', `no ${name} event in ${waitOptions.timeoutMs} ms`));
              }, waitOptions.timeoutMs);
        const stop = onEvent((event) => {
          if (waitOptions.matches && !waitOptions.matches(event)) return;
          stop();
          if (timer) clearTimeout(timer);
          resolve(event);
        }, name);
        void closed.then(() => {
          stop();
          if (timer) clearTimeout(timer);
          reject(new QmpError(name, 'Disconnected', `the connection ended before a ${name} event`));
        });
      });
    },
    closed,
    close() {
      socket.end();
      socket.destroy();
    },
  };
}
