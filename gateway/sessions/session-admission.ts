/**
 * Whether a session credential still admits its holder, checked by every
 * endpoint that serves sessions (the shell's websocket, a web app's pages)
 * when a client connects: the credential is valid, the user may still act on
 * the job, the job runs at the provider the credential names, and that
 * provider is connected. A refusal carries the HTTP status and contract code
 * the client is answered with.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

import type { Auth } from '../access/auth.js';
import { canEdit } from '../access/job-access.js';
import type { ProviderRegistry } from '../registry/provider-registry.js';
import type { Store } from '../store/store.js';
import { SessionCredentialError, type SessionCredentials, type SessionGrant } from './session-credentials.js';

export class SessionRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SessionRefusal';
  }
}

export const STOPPING = () => new SessionRefusal(503, 'PROVIDER_UNAVAILABLE', 'The gateway is stopping; open the session again');

/** The JSON body of a refusal, as the gateway's other endpoints answer errors. */
export function refusalBody(refusal: SessionRefusal): string {
  return JSON.stringify({ error: { code: refusal.code, message: refusal.message } });
}

/** Answer a refusal on a raw socket (an upgrade not taken) and close it. */
export function refuseOnSocket(socket: Duplex, refusal: SessionRefusal): void {
  const body = refusalBody(refusal);
  socket.end(
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status]}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

export interface SessionAdmission {
  /** The grant of a credential that admits now; throws SessionRefusal. */
  admit(token: string | null): Promise<SessionGrant>;
}

export function createSessionAdmission(options: {
  store: Store;
  registry: ProviderRegistry;
  auth: Auth;
  credentials: SessionCredentials;
}): SessionAdmission {
  const { store, registry, auth, credentials } = options;
  return {
    async admit(token) {
      if (!token) throw new SessionRefusal(401, 'UNAUTHENTICATED', 'A session credential is required (?token=)');
      let grant: SessionGrant;
      try {
        grant = await credentials.verify(token);
      } catch (error) {
        if (error instanceof SessionCredentialError) throw new SessionRefusal(401, 'UNAUTHENTICATED', error.message);
        throw error;
      }
      const [job, viewer] = await Promise.all([store.getJob(grant.jobId), auth.viewerByName(grant.username)]);
      // The user's rights as they are now: a user taken off the project loses the sessions it was given.
      if (!job || !viewer || !canEdit(viewer, job)) throw new SessionRefusal(404, 'NOT_FOUND', `job ${grant.jobId} not found`);
      if (job.state !== 'RUNNING' || job.providerId !== grant.providerId) {
        throw new SessionRefusal(409, 'INVALID_STATE', `Sessions open on running jobs only; job ${job.id} is ${job.state}`);
      }
      if (!registry.get(grant.providerId)) throw new SessionRefusal(503, 'PROVIDER_UNAVAILABLE', `${grant.providerId} is not connected`);
      return grant;
    },
  };
}
