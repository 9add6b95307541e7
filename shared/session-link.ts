/**
 * One interactive session's bytes between gateway and provider, over core
 * NATS (the providers' only link): each end publishes on the other's subject
 * (`Subjects.sessionToProvider` / `sessionToGateway`) and listens on its own.
 *
 * Flow control is by credit, as in HTTP/2 or SSH channels: each end has a
 * receive window, and grants the peer room to send up to a byte offset
 * (`grant.upTo`: bytes it has taken so far plus its window). A sender never
 * sends past the last grant; what it is given beyond that waits in its queue,
 * and `write` answers false so the caller pauses its source (a pty, a
 * websocket) until `onDrain`. The receiver grants again only once its
 * consumer has taken the bytes (`consumed`), so a consumer that stops reading
 * stops the producer, and neither end holds more than a window of the
 * other's bytes plus one chunk of its own source. A sender past its grant, or
 * a gap in the offsets (a lost message), ends the session.
 *
 * Heartbeats: each end pings every `heartbeatMs`; an end that has heard
 * nothing from its peer for `missedHeartbeats` beats in a row counts it lost
 * and ends the session. Either end closes with a reason, which the other
 * receives; an `exit` (the exit code) and a close queued behind data go out
 * after that data.
 *
 * On the wire (shared/session-frames.ts), data goes as compact binary frames,
 * everything else as JSON with `v: 1`, each validated at the receiving end.
 * Data written in one turn of the event loop goes out together, in as few
 * frames as the chunk size allows. While output streams, frames are filled
 * for up to COALESCE_MS as well: a shell printing fast is read a few KiB at a
 * time, one pty read per turn, and a NATS message per read costs every hop
 * (provider, server, gateway, websocket, client) more than its bytes do.
 * Small data (an echo, a prompt) never waits.
 */
import {
  decodeFrame,
  encodeControlMessage,
  encodeDataFrame,
  MAX_SESSION_CHUNK_BYTES,
  type SessionChannel,
  type SessionControlMessage,
} from './session-frames.js';
import type { Closable, Transport } from './transport.js';

export { MAX_SESSION_CHUNK_BYTES, SESSION_CHANNELS, type SessionChannel } from './session-frames.js';

/** After a frame of at least COALESCE_MIN_BYTES, less than a chunk of data waits this long for more behind it. */
export const COALESCE_MS = 1;
/** Less data than this goes at the end of its turn, streaming or not: a keystroke's echo must not wait. */
export const COALESCE_MIN_BYTES = 1024;

/** Who ended the session: this end, its peer (with a close message), or nobody heard from the peer in time. */
export type SessionCloser = 'local' | 'peer' | 'lost';

export interface SessionLinkHandlers {
  /** Bytes from the peer; call `consumed(bytes.length)` once they are passed on, so the peer may send more. */
  onData(channel: SessionChannel, bytes: Buffer): void;
  /** Everything queued has been sent: a source paused after `write` answered false may go on. */
  onDrain?(): void;
  onResize?(size: { cols: number; rows: number }): void;
  onEof?(): void;
  onExit?(exitCode: number | null): void;
  /** Once, when the session ended, whoever ended it. */
  onClose(reason: string, by: SessionCloser): void;
}

export interface SessionLinkOptions {
  transport: Pick<Transport, 'publishBytes' | 'subscribeBytes'>;
  /** The peer's subject. */
  sendSubject: string;
  /** This end's subject, subscribed at once. */
  receiveSubject: string;
  /** Bytes of the peer's data this end takes in flight (received and not yet consumed). */
  window: number;
  /** @default 2000 */
  heartbeatMs?: number;
  /** Beats in a row without a word from the peer after which it counts as lost. @default 3 */
  missedHeartbeats?: number;
  handlers: SessionLinkHandlers;
}

export interface SessionLinkStats {
  /** Data bytes sent, and the offset the peer has granted up to. */
  sent: number;
  grantedUpTo: number;
  /** Data bytes waiting for the peer's grant. */
  queued: number;
  /** Data bytes received, and those the consumer has taken. */
  received: number;
  consumed: number;
  /** The offset this end has granted the peer up to: at `received`, the peer has no room and waits. */
  grantedToPeer: number;
}

export interface SessionLink {
  /** Sends the first grant and starts the heartbeat; anything written before waits until then. */
  start(): void;
  /** Queues data; false when some of it waits for the peer's grant (pause the source until onDrain). */
  write(channel: SessionChannel, bytes: Uint8Array): boolean;
  resize(size: { cols: number; rows: number }): void;
  eof(): void;
  /** The session's exit code, after the data queued before it. */
  exit(exitCode: number | null): void;
  /** Close once everything queued has been sent. */
  end(reason: string): void;
  /** Close now: what is queued is dropped. */
  close(reason: string): void;
  /** The consumer has taken this many more bytes of the peer's data. */
  consumed(bytes: number): void;
  readonly closed: boolean;
  stats(): SessionLinkStats;
}

type Outgoing =
  { kind: 'data'; channel: SessionChannel; bytes: Buffer } | { kind: 'message'; message: SessionControlMessage } | { kind: 'end'; reason: string };

/** Creates one end of a session link, listening on its subject at once. */
export function createSessionLink(options: SessionLinkOptions): SessionLink {
  const { transport, sendSubject, handlers, window } = options;
  const heartbeatMs = options.heartbeatMs ?? 2_000;
  const missedHeartbeats = options.missedHeartbeats ?? 3;
  if (!Number.isInteger(window) || window < 1) throw new RangeError(`a session window must be a positive integer, not ${window}`);

  const queue: Outgoing[] = [];
  let queuedBytes = 0;
  let started = false;
  let closed = false;
  let blocked = false;
  let sent = 0;
  let grantedUpTo = 0;
  let received = 0;
  let consumedBytes = 0;
  /** The offset up to which this end last granted the peer. */
  let advertised = 0;
  let heard = false;
  let missed = 0;
  let heartbeat: NodeJS.Timeout | null = null;
  let subscription: Closable | null = null;

  let flushScheduled: NodeJS.Immediate | null = null;
  /** Set for COALESCE_MS after a frame of COALESCE_MIN_BYTES or more went out: output streams, fill the next frame. */
  let coalescing: NodeJS.Timeout | null = null;

  const send = (payload: Uint8Array): boolean => {
    try {
      transport.publishBytes(sendSubject, payload);
      return true;
    } catch (error) {
      finish(`the session's connection failed: ${(error as Error).message}`, 'lost', false);
      return false;
    }
  };

  const publish = (message: SessionControlMessage): boolean => send(encodeControlMessage(message));

  const finish = (reason: string, by: SessionCloser, tell: boolean) => {
    if (closed) return;
    if (tell) publish({ v: 1, type: 'close', reason });
    closed = true;
    if (flushScheduled) clearImmediate(flushScheduled);
    flushScheduled = null;
    if (coalescing) clearTimeout(coalescing);
    coalescing = null;
    queue.length = 0;
    queuedBytes = 0;
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = null;
    void subscription?.close().catch(() => undefined);
    subscription = null;
    handlers.onClose(reason, by);
  };

  const flush = () => {
    while (started && !closed && queue.length > 0) {
      const head = queue[0]!;
      if (head.kind === 'end') {
        queue.shift();
        return finish(head.reason, 'local', true);
      }
      if (head.kind === 'message') {
        queue.shift();
        if (!publish(head.message)) return;
        continue;
      }
      const room = grantedUpTo - sent;
      if (room <= 0) {
        blocked = true;
        return;
      }
      if (coalescing && waitsForMore(room)) return;
      // What the grant allows goes now, the head and the data behind it on its channel in one frame
      // up to a chunk; the rest stays at the head, so the order holds.
      const channel = head.channel;
      const limit = Math.min(room, MAX_SESSION_CHUNK_BYTES);
      const parts: Buffer[] = [];
      let length = 0;
      while (length < limit && queue.length > 0) {
        const next = queue[0]!;
        if (next.kind !== 'data' || next.channel !== channel) break;
        const take = Math.min(next.bytes.length, limit - length);
        parts.push(take === next.bytes.length ? next.bytes : next.bytes.subarray(0, take));
        if (take === next.bytes.length) queue.shift();
        else next.bytes = next.bytes.subarray(take);
        length += take;
      }
      queuedBytes -= length;
      const offset = sent;
      sent += length;
      if (!send(encodeDataFrame(channel, offset, parts))) return;
      if (length >= COALESCE_MIN_BYTES && !coalescing) {
        coalescing = setTimeout(() => {
          coalescing = null;
          flush();
        }, COALESCE_MS);
      }
    }
    if (blocked && queue.length === 0 && !closed) {
      blocked = false;
      handlers.onDrain?.();
    }
  };

  /**
   * Whether queued data holds back for the frame to fill: there is less than a chunk of it, and no
   * less than an echo's worth, the grant has room for all of it (else the window, not the frame,
   * is the limit), and nothing but data is queued (an exit or a close has nothing behind it to wait for).
   */
  const waitsForMore = (room: number) =>
    queuedBytes >= COALESCE_MIN_BYTES && queuedBytes < MAX_SESSION_CHUNK_BYTES && queuedBytes <= room && queue.at(-1)?.kind === 'data';

  const grant = () => {
    const upTo = consumedBytes + window;
    advertised = upTo;
    publish({ v: 1, type: 'grant', upTo });
  };

  /** Everything queued goes out once this turn of the event loop is over, together. */
  const scheduleFlush = () => {
    if (flushScheduled || closed) return;
    flushScheduled = setImmediate(() => {
      flushScheduled = null;
      flush();
    });
  };

  const receive = (payload: Uint8Array) => {
    if (closed) return;
    const message = decodeFrame(payload);
    if (!message) return finish('the peer sent a message that does not follow the session protocol', 'local', true);
    heard = true;
    switch (message.type) {
      case 'data': {
        const { bytes } = message;
        if (message.offset !== received) {
          return finish(`session data was lost (expected offset ${received}, got ${message.offset})`, 'local', true);
        }
        if (received + bytes.length > advertised) return finish('the peer sent more than its window allows', 'local', true);
        received += bytes.length;
        handlers.onData(message.channel, bytes);
        return;
      }
      case 'grant':
        // A grant never takes room back; a stale one (reordered or repeated) changes nothing.
        if (message.upTo > grantedUpTo) {
          grantedUpTo = message.upTo;
          flush();
        }
        return;
      case 'resize':
        return handlers.onResize?.({ cols: message.cols, rows: message.rows });
      case 'eof':
        return handlers.onEof?.();
      case 'exit':
        return handlers.onExit?.(message.exitCode);
      case 'ping':
        return;
      case 'close':
        return finish(message.reason, 'peer', false);
    }
  };

  subscription = transport.subscribeBytes(options.receiveSubject, (payload) => receive(payload));

  const enqueue = (item: Outgoing) => {
    if (closed) return;
    queue.push(item);
    scheduleFlush();
  };

  return {
    start() {
      if (started || closed) return;
      started = true;
      grant();
      heartbeat = setInterval(() => {
        if (closed) return;
        missed = heard ? 0 : missed + 1;
        heard = false;
        if (missed >= missedHeartbeats) {
          return finish(`nothing was heard from the other end for ${missed} heartbeats of ${heartbeatMs} ms`, 'lost', false);
        }
        publish({ v: 1, type: 'ping' });
      }, heartbeatMs);
      // unref: a session alone must not keep its process alive.
      heartbeat.unref();
      flush();
    },
    write(channel, bytes) {
      if (closed) return false;
      const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let at = 0; at < buffer.length; at += MAX_SESSION_CHUNK_BYTES) {
        const chunk = buffer.subarray(at, at + MAX_SESSION_CHUNK_BYTES);
        queue.push({ kind: 'data', channel, bytes: chunk });
        queuedBytes += chunk.length;
      }
      scheduleFlush();
      // All of it goes at the flush if the grant has room for everything queued; else pause the source.
      const fits = started && sent + queuedBytes <= grantedUpTo;
      if (!fits) blocked = true;
      return fits;
    },
    resize: (size) => enqueue({ kind: 'message', message: { v: 1, type: 'resize', ...size } }),
    eof: () => enqueue({ kind: 'message', message: { v: 1, type: 'eof' } }),
    exit: (exitCode) => enqueue({ kind: 'message', message: { v: 1, type: 'exit', exitCode } }),
    end: (reason) => enqueue({ kind: 'end', reason }),
    close: (reason) => finish(reason, 'local', true),
    consumed(bytes) {
      if (closed || bytes <= 0) return;
      consumedBytes = Math.min(received, consumedBytes + bytes);
      // Grant again once a quarter of the window is free: fewer grants than chunks, and the peer never waits on one.
      if (started && consumedBytes + window - advertised >= Math.max(1, Math.floor(window / 4))) grant();
    },
    get closed() {
      return closed;
    },
    stats: () => ({ sent, grantedUpTo, queued: queuedBytes, received, consumed: consumedBytes, grantedToPeer: advertised }),
  };
}
