/**
 * The session link's messages on the wire (shared/session-link.ts). Data, nearly all of a
 * session's traffic, goes as a compact binary frame: NATS carries bytes, so neither base64 (a
 * third more bytes) nor JSON is paid for on every chunk. The rest (grants, resize, eof, exit,
 * ping, close) are JSON with `v: 1`, as every other message of the protocol. Both are told apart
 * by their first byte (a JSON object starts with `{`) and validated with zod at the receiving end.
 *
 * A data frame, big-endian:
 *
 *   byte 0      DATA_FRAME_VERSION (1)
 *   byte 1      channel: 0 stdin, 1 stdout, 2 stderr
 *   bytes 2-9   offset: bytes sent before this chunk in this direction (unsigned, at most 2^53 − 1)
 *   bytes 10-   the chunk, at most MAX_SESSION_CHUNK_BYTES
 */
import { z } from 'zod';

import { terminalSizeSchema } from './protocol.js';

const v = z.literal(1);

/** stdin (gateway → provider), stdout and stderr (provider → gateway): the terminal channels. */
export const SESSION_CHANNELS = { stdin: 0, stdout: 1, stderr: 2 } as const;
export type SessionChannel = (typeof SESSION_CHANNELS)[keyof typeof SESSION_CHANNELS];

/** Largest chunk of data in one message: well under NATS's max_payload (1 MiB), large enough that a fast shell needs few messages. */
export const MAX_SESSION_CHUNK_BYTES = 64 * 1024;

/** The first byte of a data frame; a frame of another layout would get another. */
export const DATA_FRAME_VERSION = 1;
const HEADER_BYTES = 10;
/** `{`: the first byte of a JSON message. */
const JSON_OBJECT = 0x7b;

/** The messages besides data, as JSON. */
export const sessionControlSchema = z.discriminatedUnion('type', [
  z.object({ v, type: z.literal('grant'), upTo: z.number().int().nonnegative() }),
  z.object({ v, type: z.literal('resize'), ...terminalSizeSchema.shape }),
  /** stdin ended. */
  z.object({ v, type: z.literal('eof') }),
  z.object({ v, type: z.literal('exit'), exitCode: z.number().int().nullable() }),
  z.object({ v, type: z.literal('ping') }),
  z.object({ v, type: z.literal('close'), reason: z.string().max(500) }),
]);
export type SessionControlMessage = z.infer<typeof sessionControlSchema>;

const dataHeaderSchema = z.object({
  channel: z.union([z.literal(0), z.literal(1), z.literal(2)]),
  offset: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  length: z.number().int().max(MAX_SESSION_CHUNK_BYTES),
});

export interface SessionDataFrame {
  type: 'data';
  channel: SessionChannel;
  offset: number;
  bytes: Buffer;
}

export type SessionFrame = SessionDataFrame | SessionControlMessage;

/** A data frame of `parts`, one chunk: the parts are copied in one after another. */
export function encodeDataFrame(channel: SessionChannel, offset: number, parts: readonly Uint8Array[]): Buffer {
  const length = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const frame = Buffer.allocUnsafe(HEADER_BYTES + length);
  frame[0] = DATA_FRAME_VERSION;
  frame[1] = channel;
  // Two halves: an offset is a safe integer, more than 32 bits hold.
  frame.writeUInt32BE(Math.floor(offset / 2 ** 32), 2);
  frame.writeUInt32BE(offset % 2 ** 32, 6);
  let at = HEADER_BYTES;
  for (const part of parts) {
    frame.set(part, at);
    at += part.byteLength;
  }
  return frame;
}

export function encodeControlMessage(message: SessionControlMessage): Buffer {
  return Buffer.from(JSON.stringify(message), 'utf8');
}

/** A frame as received, or null for anything that does not follow the protocol. The chunk of a data frame is a view of `payload`. */
export function decodeFrame(payload: Uint8Array): SessionFrame | null {
  const buffer = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (buffer[0] === DATA_FRAME_VERSION) {
    if (buffer.length < HEADER_BYTES) return null;
    const header = dataHeaderSchema.safeParse({
      channel: buffer[1],
      offset: buffer.readUInt32BE(2) * 2 ** 32 + buffer.readUInt32BE(6),
      length: buffer.length - HEADER_BYTES,
    });
    if (!header.success) return null;
    return { type: 'data', channel: header.data.channel, offset: header.data.offset, bytes: buffer.subarray(HEADER_BYTES) };
  }
  if (buffer[0] !== JSON_OBJECT) return null;
  let body: unknown;
  try {
    body = JSON.parse(buffer.toString('utf8'));
  } catch {
    return null;
  }
  const parsed = sessionControlSchema.safeParse(body);
  return parsed.success ? parsed.data : null;
}
