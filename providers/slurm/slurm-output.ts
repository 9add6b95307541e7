/**
 * Output tailing: the files Slurm writes in a job's directory (batch.out and
 * batch.err for the batch script, rank-N.out and rank-N.err per srun task)
 * are read from where the last look stopped and passed on as log lines. The
 * directory is the job's account's: a file in it is opened without following
 * links and read only if it is a regular file.
 */
import { constants as fsConstants } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';

import type { DriverLogLine, Logger } from '../sdk/index.js';

/** Largest chunk read from one output file per look. */
const MAX_READ_BYTES = 4 * 1024 * 1024;
/** A line longer than this is passed on in pieces. */
const MAX_LINE_CHARS = 16 * 1024;

/** The files Slurm writes a job's output to: the batch script's, and each rank's. */
export const OUTPUT_FILE = /^(?:rank-(\d+)|batch)\.(out|err)$/;

/** One output file being tailed: what of a character or line is not passed on yet. */
export interface OutputFile {
  decoder: StringDecoder;
  partial: string;
}

export interface TailedJob {
  readonly dir: string;
  readonly files: Map<string, OutputFile>;
  readonly record: { readonly id: string; offsets: Record<string, number> };
}

/** The log line of a text read from an output file: its rank, stdout or stderr. */
function lineOf(name: string, text: string, timestamp: number): DriverLogLine | null {
  const match = OUTPUT_FILE.exec(name);
  if (!match) return null;
  const rank = match[1] === undefined ? 0 : Number(match[1]);
  return { rank, [match[2] === 'out' ? 'stdout' : 'stderr']: text, timestamp };
}

/**
 * Pass on what the job's output files gained since the last look; `final` also sends a last
 * partial line. Answers whether anything was read (the offsets in the record moved).
 */
export async function tailOutput(
  job: TailedJob,
  final: boolean,
  out: { send: (line: DriverLogLine) => void; now: () => number; logger: () => Logger },
): Promise<boolean> {
  const sendLine = (name: string, text: string) => {
    const line = lineOf(name, text, out.now());
    if (line) out.send(line);
  };
  let names: string[];
  try {
    names = (await readdir(job.dir)).filter((name) => OUTPUT_FILE.test(name)).sort();
  } catch {
    return false;
  }
  let moved = false;
  for (const name of names) {
    const offset = job.record.offsets[name] ?? 0;
    let file = job.files.get(name);
    if (!file) {
      file = { decoder: new StringDecoder('utf8'), partial: '' };
      job.files.set(name, file);
    }
    try {
      // The directory is the job's account's: what is in it may be a symlink to a file only root may read, or a FIFO.
      const handle = await open(join(job.dir, name), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
      try {
        const info = await handle.stat();
        if (!info.isFile()) throw new Error(`${name} is not a regular file`);
        let { size } = info;
        if (size < offset) {
          // Truncated: a requeued job starts its output files afresh.
          job.record.offsets[name] = 0;
          file.partial = '';
          size = (await handle.stat()).size;
        }
        const from = job.record.offsets[name] ?? 0;
        if (size > from) {
          const length = Math.min(size - from, MAX_READ_BYTES);
          const buffer = Buffer.alloc(length);
          const { bytesRead } = await handle.read(buffer, 0, length, from);
          job.record.offsets[name] = from + bytesRead;
          moved = true;
          const lines = (file.partial + file.decoder.write(buffer.subarray(0, bytesRead))).split('\n');
          file.partial = lines.pop() ?? '';
          for (const line of lines) sendLine(name, line);
          while (file.partial.length > MAX_LINE_CHARS) {
            sendLine(name, file.partial.slice(0, MAX_LINE_CHARS));
            file.partial = file.partial.slice(MAX_LINE_CHARS);
          }
        }
      } finally {
        await handle.close();
      }
    } catch (error) {
      out.logger().warn({ err: error, jobId: job.record.id, file: name }, 'reading job output failed');
    }
    if (final) {
      const rest = file.partial + file.decoder.end();
      file.partial = '';
      if (rest.length > 0) sendLine(name, rest);
    }
  }
  return moved;
}
