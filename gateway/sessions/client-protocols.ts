/**
 * What a session's websocket speaks with its client, by session type: SHELL
 * speaks Kubernetes' `v5.channel.k8s.io` (k8s-channels.ts: a channel byte
 * before every message, a Status with the exit code at the end); VNC speaks
 * RFB over binary messages with no framing of ours, as websockify does and
 * noVNC expects (subprotocol `binary`). The relay (shell-relay.ts) is the same
 * for both.
 */
import type { InteractiveSessionType } from '../../shared/domain.js';
import { CHANNEL, decodeClientFrame, exitStatus, failureStatus, frame, K8S_CHANNEL_PROTOCOL, type ClientFrame } from './k8s-channels.js';

/** How a session ended, as its last message may tell the client. */
export type SessionEnding = { exited: true; exitCode: number | null; command: string } | { exited: false; reason: string };

export interface ClientProtocol {
  /** The websocket subprotocol a client asks for. */
  readonly subprotocol: string;
  decode(message: Buffer): ClientFrame;
  /** The message carrying the provider's bytes of a channel (stdout, stderr); null: nothing to send for them (they count as taken). */
  encode(channel: number, bytes: Buffer): Buffer | null;
  /** The message sent before the close, or null when the protocol has none. */
  lastWords(ending: SessionEnding): Buffer | null;
  /** Input written to the session once it opens, before the client's (a dialect's exec types its command into the shell). */
  opening?(): Buffer | null;
}

const k8sChannels: ClientProtocol = {
  subprotocol: K8S_CHANNEL_PROTOCOL,
  decode: decodeClientFrame,
  encode: frame,
  lastWords: (ending) => frame(CHANNEL.error, ending.exited ? exitStatus(ending.exitCode, ending.command) : failureStatus(ending.reason)),
};

/** websockify's subprotocol: binary messages of raw bytes. */
export const BINARY_PROTOCOL = 'binary';

const rfbOverWebsocket: ClientProtocol = {
  subprotocol: BINARY_PROTOCOL,
  // The viewer's RFB bytes, whatever the message boundaries: all of it is input.
  decode: (message) => ({ kind: 'stdin', data: message }),
  encode: (_channel, bytes) => bytes,
  // RFB has no message of ours to end with: the close code and reason say it.
  lastWords: () => null,
};

/** The protocol of each session type served as a websocket. */
export const CLIENT_PROTOCOLS: Partial<Record<InteractiveSessionType, ClientProtocol>> = { SHELL: k8sChannels, VNC: rfbOverWebsocket };
