/**
 * A rank's stdout and stderr: read from the moment the rank is spawned (a
 * fast command may exit, and Node drain its output, before the driver has
 * decided what to do with it), held until the driver passes it on, then sent
 * on line by line.
 */
import type { Readable } from 'node:stream';

/** Output held for a rank not yet handed to its job; more than this is dropped (the job is failing anyway). */
const MAX_HELD_CHARS = 1024 * 1024;
/** A line longer than this is passed on in pieces rather than held in memory. */
const MAX_LINE_CHARS = 16 * 1024;

/** A rank's stdout or stderr, read from the moment it is spawned and held until the driver passes it on. */
export interface OutputTap {
  /** Pass held and further output to `onData`; `onEnd` once the stream ends. */
  attach(onData: (chunk: string) => void, onEnd: () => void): void;
  /** Stop passing output on and close the stream. */
  detach(): void;
  /** What is held (for the error output of a rank that did not start). */
  held(): string;
}

export function tapOutput(stream: Readable, onError: (error: Error) => void): OutputTap {
  let held: string[] = [];
  let heldChars = 0;
  let ended = false;
  let sink: { onData: (chunk: string) => void; onEnd: () => void } | null = null;
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    if (sink) return sink.onData(chunk);
    if (heldChars + chunk.length > MAX_HELD_CHARS) return;
    held.push(chunk);
    heldChars += chunk.length;
  });
  stream.on('end', () => {
    ended = true;
    sink?.onEnd();
  });
  stream.on('error', onError);
  return {
    attach(onData, onEnd) {
      sink = { onData, onEnd };
      for (const chunk of held) onData(chunk);
      held = [];
      if (ended) onEnd();
    },
    detach() {
      sink = null;
      stream.destroy();
    },
    held: () => held.join(''),
  };
}

/**
 * Pass a tap's output on as lines; a partial last line goes out when the stream ends. Answers
 * what stops it: the stream is closed, and a partial line still held goes out.
 */
export function pipeLines(tap: OutputTap, send: (line: string) => void): () => void {
  let partial = '';
  const onData = (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) send(line);
    while (partial.length > MAX_LINE_CHARS) {
      send(partial.slice(0, MAX_LINE_CHARS));
      partial = partial.slice(MAX_LINE_CHARS);
    }
  };
  const onEnd = () => {
    if (partial.length > 0) send(partial);
    partial = '';
  };
  tap.attach(onData, onEnd);
  return () => {
    tap.detach();
    onEnd();
  };
}
