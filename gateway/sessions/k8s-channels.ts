/**
 * The terminal protocol of SHELL sessions: Kubernetes' `v5.channel.k8s.io`
 * websocket subprotocol, as the API server speaks it for exec and attach, so
 * that existing clients (kubectl's websocket executor, @kubernetes/client-node's
 * Exec, xterm.js attach code) speak it unchanged. Every message is binary; its
 * first byte is the channel:
 *
 *   0 stdin   client → gateway
 *   1 stdout  gateway → client
 *   2 stderr  gateway → client
 *   3 error   gateway → client, once at the end: a metav1.Status as JSON (the exit code in it)
 *   4 resize  client → gateway: JSON {"Width": cols, "Height": rows} (keys in any case, as the API server reads them)
 *   255 close client → gateway: the next byte names a channel the client closed (0: end of stdin)
 */
import { z } from 'zod';

export const K8S_CHANNEL_PROTOCOL = 'v5.channel.k8s.io';

export const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

/** A message from the client, decoded. */
export type ClientFrame =
  | { kind: 'stdin'; data: Buffer }
  | { kind: 'resize'; cols: number; rows: number }
  | { kind: 'close'; channel: number }
  | { kind: 'invalid'; reason: string };

const resizeSchema = z.object({ width: z.number().int().min(1).max(10_000), height: z.number().int().min(1).max(10_000) });

/** The keys of a JSON object in lower case: the API server reads them as Go does, whatever their case ({"Width"} from kubectl, {"width"} from client-node). */
function lowerKeys(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key.toLowerCase(), item]));
}

export function decodeClientFrame(message: Buffer): ClientFrame {
  if (message.length === 0) return { kind: 'invalid', reason: 'an empty message has no channel' };
  const channel = message[0]!;
  const payload = message.subarray(1);
  switch (channel) {
    case CHANNEL.stdin:
      return { kind: 'stdin', data: payload };
    case CHANNEL.resize: {
      let size: unknown;
      try {
        size = JSON.parse(payload.toString('utf8'));
      } catch {
        return { kind: 'invalid', reason: 'a resize is JSON {"Width","Height"}' };
      }
      const parsed = resizeSchema.safeParse(lowerKeys(size));
      return parsed.success
        ? { kind: 'resize', cols: parsed.data.width, rows: parsed.data.height }
        : { kind: 'invalid', reason: 'a resize is JSON {"Width","Height"} of 1 to 10000' };
    }
    case CHANNEL.close:
      return payload.length === 1 ? { kind: 'close', channel: payload[0]! } : { kind: 'invalid', reason: 'a close names one channel' };
    default:
      return { kind: 'invalid', reason: `channel ${channel} is not one a client sends on` };
  }
}

/** A message to the client on a channel. */
export function frame(channel: number, payload: Uint8Array | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = channel;
  out.set(body, 1);
  return out;
}

/**
 * The Status the API server sends on the error channel when the command ends: Success for exit
 * code 0; for another code, Failure with reason NonZeroExitCode and the code as the ExitCode
 * cause, which is where clients read it.
 */
export function exitStatus(exitCode: number | null, command: string): string {
  if (exitCode === 0) return JSON.stringify({ metadata: {}, status: 'Success' });
  if (exitCode === null) return failureStatus('the session ended without an exit code');
  return JSON.stringify({
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command}], exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
    code: 500,
  });
}

/** A session that could not be had or was cut short, as a Failure Status. */
export function failureStatus(message: string): string {
  return JSON.stringify({ metadata: {}, status: 'Failure', message, reason: 'InternalError', code: 500 });
}
