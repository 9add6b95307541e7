/**
 * A session's stream over one of the API server's websockets (exec,
 * port-forward), as the official client opens them. The client writes what
 * arrives into a Writable without waiting for it and sends what it reads from
 * a Readable without looking at the socket, so the flow control is done here,
 * on the websocket itself: it is paused while the session's reader is behind
 * (TCP then holds the API server, the kubelet and the process back), and
 * input is taken no faster than the socket sends it.
 */
import { Duplex, PassThrough, Writable } from 'node:stream';
import type { WebSocket } from 'ws';

/** Input held in the websocket's send buffer above which a write waits: a process that stops reading stops the client. */
const INPUT_HIGH_WATER_BYTES = 64 * 1024;
/** How often a write that waits looks at the send buffer again (the websocket tells no one when it drains). */
const INPUT_DRAIN_POLL_MS = 10;

export interface WebsocketStream {
  /** The session's stream: what the process prints comes out, what the user sends goes in. */
  readonly stream: Duplex;
  /** What the client sends on the websocket: give it to the client's call. */
  readonly input: PassThrough;
  /** Where the client writes what the websocket brings: give it to the client's call. */
  readonly output: Writable;
  /** The websocket the client opened, once it has: the flow control's lever. */
  attach(socket: WebSocket): void;
  /** No more output (the socket closed). */
  endOutput(): void;
}

/**
 * `endInput`: what the end of the user's input does (exec: end stdin; port-forward: nothing, see
 * kubernetes-port-forward.ts). `output` may be given more properties by the caller (a tty's size).
 */
export function websocketStream(options: { endInput: (input: PassThrough) => void }): WebsocketStream {
  let socket: WebSocket | null = null;
  let outputEnded = false;
  const input = new PassThrough();
  const stream = new Duplex({
    read: () => socket?.resume(),
    write: (chunk: Buffer, _encoding, callback) => {
      input.write(chunk);
      const sent = () => {
        if (!socket || socket.readyState !== socket.OPEN || socket.bufferedAmount < INPUT_HIGH_WATER_BYTES) return callback();
        setTimeout(sent, INPUT_DRAIN_POLL_MS).unref();
      };
      sent();
    },
    final: (callback) => {
      options.endInput(input);
      callback();
    },
  });
  const endOutput = () => {
    if (outputEnded) return;
    outputEnded = true;
    stream.push(null);
  };
  const output = new Writable({
    write: (chunk: Buffer, _encoding, callback) => {
      if (!stream.push(chunk)) socket?.pause();
      callback();
    },
    final: (callback) => {
      endOutput();
      callback();
    },
  });
  return {
    stream,
    input,
    output,
    attach: (opened) => {
      socket = opened;
    },
    endOutput,
  };
}
