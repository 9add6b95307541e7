/**
 * A connection to a port a rank's app listens on, as a WEB session: a
 * port-forward through the API server (the official client's PortForward,
 * the websocket protocol v4.channel.k8s.io), so the provider needs no route
 * to the pod's address. The kubelet (its runtime, in the pod's network
 * namespace) connects to localhost:<port> when the websocket opens; one
 * websocket carries one TCP connection, and ends when the app closes it.
 * Flow control is websocket-stream.ts's.
 *
 * The protocol says nothing when the connection to the app succeeds, only
 * when it fails (a message on the port's error channel, then the close), so
 * the session is handed back at once and a failure ends it with the reason.
 */
import { Writable } from 'node:stream';
import { PortForward } from '@kubernetes/client-node';
import type { WebSocket } from 'ws';

import { InvalidStateError } from '../../shared/errors.js';
import type { DriverSession } from '../sdk/index.js';
import type { KubernetesClient } from './kubernetes-client.js';
import { websocketStream } from './websocket-stream.js';

export interface PortForwardTarget {
  namespace: string;
  pod: string;
  port: number;
}

/** The reason in the kubelet's error message, said plainly where it is the usual one. */
export function portForwardFailure(message: string): string {
  return /connection refused/.test(message) ? 'nothing listens there (connection refused)' : message.trim();
}

/** Connect to the app on `target.port` of the pod (`where` names it in errors: "port 8888 of rank 0 of job …"). */
export async function openPortForwardSession(
  client: KubernetesClient,
  target: PortForwardTarget,
  where: { jobId: string; description: string },
): Promise<DriverSession> {
  // Half a connection cannot be closed in v4.channel.k8s.io (the client would close the whole
  // websocket, and the app's answer with it): the end of the user's input is left to the close.
  const { stream, input, output, attach, endOutput } = websocketStream({ endInput: () => undefined });
  let failure = '';
  const errors = new Writable({
    write: (chunk: Buffer, _encoding, callback) => {
      failure += chunk.toString('utf8');
      callback();
    },
  });
  // disconnectOnErr false: the error channel is read to its end, not cut at its first message.
  const forward = new PortForward(client.config, false);
  const socket = (await forward.portForward(target.namespace, target.pod, [target.port], output, errors, input)) as unknown as WebSocket;
  attach(socket);
  const exit = new Promise<{ exitCode: number | null }>((resolve) => {
    socket.once('close', () => {
      if (failure) stream.destroy(new InvalidStateError(where.jobId, `Cannot connect to ${where.description}: ${portForwardFailure(failure)}`));
      else endOutput();
      resolve({ exitCode: null });
    });
  });
  return {
    stream,
    resize: () => undefined,
    exit,
    close: () => socket.close(),
  };
}
