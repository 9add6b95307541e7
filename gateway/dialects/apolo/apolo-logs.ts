/**
 * Apolo's log websocket (`{monitoring}/{id}/log_ws`): the job's log as
 * BINARY messages of raw bytes (a TEXT message makes the SDK fail), stdout
 * and stderr lines as they were written, then a close once the job has ended
 * and its last lines are out. It is the core's followJob (the snapshot of the
 * latest lines, then every line as it comes, access checked again as it
 * goes), written as bytes.
 */
import type { WebSocket } from 'ws';

import type { Viewer } from '../../access/auth.js';
import { followJob, type FollowContext } from '../../graphql/follow-job.js';

export interface LogOptions {
  /** Only lines from this time on (epoch milliseconds). */
  since: number | null;
  /** Each line prefixed with its time, as Apolo's `timestamps=true`. */
  timestamps: boolean;
}

/** One log line's bytes as Apolo writes them. */
export function logBytes(line: { stdout: string | null; stderr: string | null; timestamp: string }, timestamps: boolean): string {
  const prefix = timestamps ? `${line.timestamp} ` : '';
  return [line.stdout, line.stderr]
    .filter((text): text is string => text !== null)
    .map((text) => `${prefix}${text}\n`)
    .join('');
}

function send(socket: WebSocket, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => socket.send(data, { binary: true }, (error) => (error ? reject(error) : resolve())));
}

/** Streams the job's log to the socket until the job ends (close 1000) or the client leaves. */
export async function streamLogs(socket: WebSocket, context: Omit<FollowContext, 'viewer'>, viewer: Viewer, jobId: string, options: LogOptions) {
  const events = followJob({ ...context, viewer }, jobId);
  const leave = () => void events.return(undefined);
  socket.on('close', leave);
  try {
    for await (const { followJob: event } of events) {
      const text = event.logs
        .filter((line) => options.since === null || Date.parse(line.timestamp) >= options.since)
        .map((line) => logBytes(line, options.timestamps))
        .join('');
      if (text && socket.readyState === socket.OPEN) await send(socket, Buffer.from(text, 'utf8'));
    }
    if (socket.readyState === socket.OPEN) socket.close(1000);
  } catch (error) {
    // Lost sight of the job (its access changed) or the store failed: end the stream, saying why.
    if (socket.readyState === socket.OPEN) socket.close(1011, (error as Error).message.slice(0, 120));
  } finally {
    socket.off('close', leave);
  }
}
