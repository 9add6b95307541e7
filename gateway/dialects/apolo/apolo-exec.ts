/**
 * Apolo's exec (`{monitoring}/{id}/exec?cmd=…`) on a Switchyard SHELL
 * session. The websocket speaks Kubernetes' channel bytes as Apolo's
 * container runtime does (client → gateway: 0 stdin, 4 resize
 * `{"height","width"}`; gateway → client: 1 output, 3 `{"exit_code": N}` at
 * the end). The provider opens an interactive shell on a terminal; the
 * command is typed into it as its first line, between two markers the shell
 * prints (0x1E 0x1F before, 0x1E 0x1D after, written as octal escapes so that
 * the line's echo does not contain them), and the shell exits with the
 * command's code. Only what comes between the markers reaches the client: the
 * prompt, the echo and the shell's goodbye do not. Without a tty, the
 * terminal's echo and its CR before LF are turned off first.
 */
import type { ClientProtocol } from '../../sessions/client-protocols.js';
import { CHANNEL, decodeClientFrame, frame } from '../../sessions/k8s-channels.js';
import { joinCommand } from './apolo-command.js';

const START = Buffer.from([0x1e, 0x1f]);
const END = Buffer.from([0x1e, 0x1d]);
const EMPTY = Buffer.alloc(0);

/** The line typed into the shell: the command between the markers, then the shell's exit with its code. */
export function execLine(argv: readonly string[], tty: boolean): string {
  const quiet = tty ? '' : 'stty -echo -onlcr 2>/dev/null; ';
  // A leading space keeps it out of the shell's history where HISTCONTROL ignores spaces.
  return ` ${quiet}printf '\\036\\037'; ${joinCommand(argv)}; __sy_exit=$?; printf '\\036\\035'; exit $__sy_exit\n`;
}

/** The shell's output reduced to what the command wrote: from the start marker to the end marker, whatever the chunks. */
export function createMarkerFilter(): (chunk: Buffer) => Buffer {
  let phase: 'before' | 'during' | 'after' = 'before';
  /** A marker's first byte at the end of the last chunk, waiting for its second. */
  let held = EMPTY;
  const holdTail = (data: Buffer) => (data.length > 0 && data[data.length - 1] === 0x1e ? Buffer.from(data.subarray(-1)) : EMPTY);
  return (chunk) => {
    if (phase === 'after') return EMPTY;
    let data = held.length ? Buffer.concat([held, chunk]) : chunk;
    held = EMPTY;
    if (phase === 'before') {
      const at = data.indexOf(START);
      if (at < 0) {
        held = holdTail(data);
        return EMPTY;
      }
      phase = 'during';
      data = data.subarray(at + START.length);
    }
    const end = data.indexOf(END);
    if (end >= 0) {
      phase = 'after';
      return data.subarray(0, end);
    }
    held = holdTail(data);
    return held.length ? data.subarray(0, -1) : data;
  };
}

const exitFrame = (exitCode: number, message?: string) =>
  frame(CHANNEL.error, JSON.stringify({ exit_code: exitCode, ...(message ? { message } : {}) }));

/** The protocol of one exec session (its filter keeps state, so one per session). */
export function apoloExecProtocol(argv: readonly string[], tty: boolean): ClientProtocol {
  const filter = createMarkerFilter();
  return {
    subprotocol: 'v2.channels.neu.ro',
    decode: decodeClientFrame,
    encode(_channel, bytes) {
      // A terminal has one output: the command's stdout and stderr both arrive on it.
      const out = filter(bytes);
      return out.length ? frame(CHANNEL.stdout, out) : null;
    },
    lastWords: (ending) => (ending.exited ? exitFrame(ending.exitCode ?? 1) : exitFrame(1, ending.reason)),
    opening: () => Buffer.from(execLine(argv, tty), 'utf8'),
  };
}
