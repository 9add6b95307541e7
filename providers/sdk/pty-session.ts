/**
 * A process on a pseudo-terminal, as a driver's session: node-pty (the
 * `@lydell/node-pty` build of it, which ships the compiled addon for Linux
 * instead of building it with node-gyp at install, which npm here does not
 * run) forks the process as a session leader with the pty as its controlling
 * terminal, resizes it (TIOCSWINSZ, and the foreground process gets SIGWINCH),
 * and reports its exit. A driver whose backend needs a local terminal for its
 * own client (srun --pty) or runs the shell itself (a local sandbox) uses it.
 */
import { Duplex } from 'node:stream';
import { spawn, type IPty } from '@lydell/node-pty';

import type { DriverSession } from './driver.js';

export interface PtySessionOptions {
  file: string;
  args: string[];
  /** The process's whole environment (TERM and PWD are set by node-pty). */
  env: Record<string, string>;
  cols: number;
  rows: number;
  /** TERM of the process. @default 'xterm-256color' */
  term?: string;
  /** Where it starts. @default '/' */
  cwd?: string;
}

/**
 * node-pty 1.1 takes writes without a callback; its master end is a net.Socket (`_socket`),
 * whose write callback says the kernel took the bytes. Input is credited back to the client only
 * then, so a program that stops reading cannot make the provider hold the client's input.
 */
function masterSocket(pty: IPty): NodeJS.WritableStream {
  const socket = (pty as unknown as { _socket?: NodeJS.WritableStream })._socket;
  if (!socket || typeof socket.write !== 'function') throw new Error('node-pty no longer exposes its master socket; see pty-session.ts');
  return socket;
}

/** Start a process on a new pty; its session ends when the process exits. */
export function spawnPtySession(options: PtySessionOptions): DriverSession {
  const pty = spawn(options.file, options.args, {
    name: options.term ?? 'xterm-256color',
    cols: options.cols,
    rows: options.rows,
    cwd: options.cwd ?? '/',
    env: options.env,
    // Bytes as they come: a multibyte character split across reads must not be decoded apart.
    encoding: null,
  });
  const socket = masterSocket(pty);
  let exited = false;
  const stream = new Duplex({
    read: () => pty.resume(),
    write: (chunk: Buffer, _encoding, callback) => {
      if (exited) return callback();
      socket.write(chunk, (error?: Error | null) => callback(error ?? undefined));
    },
    // The end of input, as a terminal knows it: the EOF character.
    final: (callback) => {
      if (exited) return callback();
      socket.write(Buffer.of(4), () => callback());
    },
  });
  pty.onData((data: string | Buffer) => {
    if (!stream.push(typeof data === 'string' ? Buffer.from(data) : data)) pty.pause();
  });
  const exit = new Promise<{ exitCode: number | null }>((resolve) => {
    // node-pty reports the exit after the pty's output has been read to its end.
    pty.onExit(({ exitCode, signal }) => {
      exited = true;
      stream.push(null);
      resolve({ exitCode: signal ? 128 + signal : exitCode });
    });
  });
  return {
    stream,
    resize: (cols, rows) => {
      if (!exited) pty.resize(cols, rows);
    },
    exit,
    close() {
      if (exited) return;
      // A hang-up, as when a terminal window closes: the process and what runs in its foreground end.
      pty.kill('SIGHUP');
      const kill = setTimeout(() => {
        if (!exited) pty.kill('SIGKILL');
      }, 2_000);
      kill.unref();
      void exit.then(() => clearTimeout(kill));
    },
  };
}
