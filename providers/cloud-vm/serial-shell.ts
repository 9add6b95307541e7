/**
 * A SHELL session on a VM: a login shell on the guest's second serial port
 * (ttyS1), opened, sized and hung up over its third (ttyS2), so that the
 * console (ttyS0) and its log stay the job's whatever the shell does. The
 * guest's /init (deploy/vm/init) runs the other end: on `open <id> <rows>
 * <cols>` it hangs up any shell still on the line, sizes the line (a serial
 * tty has a window size like a pty; stty sets it and the kernel signals
 * SIGWINCH), starts `sh -l` as the line's session leader, and marks
 * `SWITCHYARD-<nonce> shell-open <id>` once the shell holds it and
 * `SWITCHYARD-<nonce> shell-exit <id> <code>` when it ended. The marker lines
 * are taken out of what the user sees; output before this session's open
 * marker (a hung-up shell's last words) is dropped, and input waits for it.
 */
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

import type { DriverSession } from '../sdk/index.js';

/** The two serial lines of a VM's shell, connected (the supervisor owns them: vm-supervisor.ts). */
export interface SerialShellLines {
  /** ttyS1: the shell's input and output. */
  shell: Socket;
  /** ttyS2: open, resize, close. */
  control: Socket;
}

export interface SerialShellOptions {
  lines: SerialShellLines;
  /** The VM's marker nonce. */
  nonce: string;
  /** This session's id on the line (letters, digits, dashes). */
  id: string;
  cols: number;
  rows: number;
  /** How long the guest may take to start the shell. @default 30000 */
  readyTimeoutMs?: number;
}

/** A marker line the guest wrote on the shell's line. */
export type ShellMarker = { kind: 'open'; id: string } | { kind: 'exit'; id: string; exitCode: number };

/** What the line said, in order: bytes to show, and the guest's markers between them. */
export type LinePart = { kind: 'output'; bytes: Buffer } | ShellMarker;

/** How long input typed after a resize waits for the guest to have resized the line, at most. */
const RESIZE_ANSWER_MS = 2_000;

/** Longest marker line: past it, what looked like the start of one is output. */
const MAX_MARKER_BYTES = 200;

function parseMarker(line: string): ShellMarker | null {
  const open = /^open (\S+)\s*$/.exec(line);
  if (open) return { kind: 'open', id: open[1]! };
  const exit = /^exit (\S+) (\d+)\s*$/.exec(line);
  if (exit) return { kind: 'exit', id: exit[1]!, exitCode: Number(exit[2]) };
  return null;
}

/**
 * Takes the guest's marker lines out of the shell's output: `feed` answers the parts of what
 * came, in order, holding back a tail that may be the start of a marker until it is told apart.
 */
export function createMarkerScanner(nonce: string): { feed(chunk: Buffer): LinePart[] } {
  const prefix = Buffer.from(`SWITCHYARD-${nonce} shell-`);
  let held = Buffer.alloc(0);
  /** Where a tail of `buffer` could still grow into the prefix; -1 when none can. */
  const partialPrefixAt = (buffer: Buffer) => {
    for (let at = Math.max(0, buffer.length - prefix.length + 1); at < buffer.length; at++) {
      if (prefix.subarray(0, buffer.length - at).equals(buffer.subarray(at))) return at;
    }
    return -1;
  };
  return {
    feed(chunk) {
      let buffer = held.length ? Buffer.concat([held, chunk]) : chunk;
      held = Buffer.alloc(0);
      const parts: LinePart[] = [];
      const show = (bytes: Buffer) => {
        if (bytes.length) parts.push({ kind: 'output', bytes: Buffer.from(bytes) });
      };
      for (;;) {
        const at = buffer.indexOf(prefix);
        if (at < 0) {
          const partial = partialPrefixAt(buffer);
          const keep = partial < 0 ? buffer.length : partial;
          show(buffer.subarray(0, keep));
          held = Buffer.from(buffer.subarray(keep));
          return parts;
        }
        const end = buffer.indexOf(0x0a, at);
        if (end < 0 && buffer.length - at <= MAX_MARKER_BYTES) {
          show(buffer.subarray(0, at));
          held = Buffer.from(buffer.subarray(at));
          return parts;
        }
        const marker =
          end < 0
            ? null
            : parseMarker(
                buffer
                  .subarray(at + prefix.length, end)
                  .toString('utf8')
                  .replace(/\r$/, ''),
              );
        if (marker) {
          show(buffer.subarray(0, at));
          parts.push(marker);
          buffer = buffer.subarray(end + 1);
        } else {
          // Not a marker after all: shown as it is.
          show(buffer.subarray(0, at + prefix.length));
          buffer = buffer.subarray(at + prefix.length);
        }
      }
    },
  };
}

/**
 * Open a shell on the VM's serial line. The session is there at once (the gateway's call to open
 * it does not wait on the guest); what is typed waits until the guest's shell holds the line, and
 * a guest that does not start one within `readyTimeoutMs` ends the session.
 */
export function openSerialShell(options: SerialShellOptions): DriverSession {
  const { lines, nonce, id } = options;
  const { shell, control } = lines;
  const scanner = createMarkerScanner(nonce);
  let ready = false;
  let exited = false;
  let resolveExit: (exit: { exitCode: number | null }) => void = () => undefined;
  const exit = new Promise<{ exitCode: number | null }>((resolve) => (resolveExit = resolve));

  /** Resizes the guest has not answered yet. */
  const resizing: symbol[] = [];
  /** Input typed before the shell holds the line, or after a resize the guest has not answered: the program run by it must see the new size. */
  const held: (() => void)[] = [];
  const holding = () => !ready || resizing.length > 0;
  const release = () => {
    if (exited || !holding()) for (const write of held.splice(0)) write();
  };
  control.on('data', (chunk: Buffer) => {
    resizing.splice(0, chunk.toString('latin1').match(/resized/g)?.length ?? 0);
    release();
  });
  const stream = new Duplex({
    read: () => shell.resume(),
    write: (chunk: Buffer, _encoding, callback) => {
      const write = () => {
        if (exited || shell.destroyed) return callback();
        shell.write(chunk, (error?: Error | null) => callback(error ?? undefined));
      };
      if (holding()) held.push(write);
      else write();
    },
    // The end of input, as a terminal knows it: the EOF character.
    final: (callback) => {
      if (exited || shell.destroyed) return callback();
      shell.write(Buffer.of(4), () => callback());
    },
  });
  const ended = (exitCode: number | null) => {
    if (exited) return;
    exited = true;
    clearTimeout(readyTimer);
    stream.push(null);
    resolveExit({ exitCode });
    release();
    shell.end();
    control.end();
  };
  const readyTimer = setTimeout(() => ended(null), options.readyTimeoutMs ?? 30_000);
  readyTimer.unref();

  shell.on('data', (chunk: Buffer) => {
    for (const part of scanner.feed(chunk)) {
      if (exited) return;
      if (part.kind === 'output') {
        // Before this session's shell holds the line, what comes is an earlier shell's.
        if (ready && !stream.push(part.bytes)) shell.pause();
      } else if (part.id !== id) continue;
      else if (part.kind === 'open' && !ready) {
        ready = true;
        clearTimeout(readyTimer);
        release();
      } else if (part.kind === 'exit' && ready) ended(part.exitCode);
    }
  });
  // The VM ended (or was suspended) with the shell open: no exit code.
  shell.once('close', () => ended(null));
  shell.on('error', () => undefined);
  control.on('error', () => undefined);
  control.write(`open ${id} ${options.rows} ${options.cols}\n`);

  return {
    stream,
    // The guest sizes the line (stty); the kernel signals the shell's foreground SIGWINCH.
    resize: (cols, rows) => {
      if (exited || control.destroyed) return;
      const resize = Symbol('resize');
      resizing.push(resize);
      control.write(`resize ${rows} ${cols}\n`);
      // A guest that never answers (an image without the answer) holds nothing for long.
      setTimeout(() => {
        const at = resizing.indexOf(resize);
        if (at >= 0) resizing.splice(at, 1);
        release();
      }, RESIZE_ANSWER_MS).unref();
    },
    exit,
    close() {
      if (exited) return;
      // The guest hangs the shell up (SIGHUP, as a terminal closing); then the lines are free.
      if (!control.destroyed) control.write('close\n');
      ended(null);
    },
  };
}
