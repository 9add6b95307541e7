/**
 * openInteractiveSessions: for each item, the checks at the gateway (the
 * caller may act on the job, the product offers the session type, the job
 * runs, the rank exists), the provider's word that it can open one now
 * (jobs.session `prepare`), and a credential for it with the URL on the
 * gateway that opens it. The session itself starts when a client connects
 * there (session-endpoint.ts), on whichever replica it reaches.
 */
import { supportsSession, type InteractiveSessionType } from '../../shared/domain.js';
import { InvalidInputError, InvalidStateError, ProviderUnavailableError, UnsupportedError } from '../../shared/errors.js';
import { sessionPortSchema } from '../../shared/protocol.js';
import type { Viewer } from '../access/auth.js';
import { loadEditable } from '../access/job-access.js';
import { checkBulk, failed, type ItemOutcome } from '../jobs/bulk.js';
import type { ProviderRegistry } from '../registry/provider-registry.js';
import type { Store } from '../store/store.js';
import type { SessionCredentials } from './session-credentials.js';
import { webSessionPrefix } from './web-paths.js';

export interface OpenSessionItem {
  jobId: string;
  rank: number;
  sessionType: InteractiveSessionType;
  /** WEB: the port the job's app listens on. */
  port?: number | null;
  /** WEB: the app sees paths with the session's prefix. */
  keepPathPrefix?: boolean | null;
}

export interface OpenedSession {
  jobId: string;
  rank: number;
  sessionType: InteractiveSessionType;
  providerId: string;
  url: string;
  password: null;
  expiresAt: number;
}

export interface SessionOpener {
  /**
   * One outcome per item. `origin` is the gateway's URL as the caller reached it (used unless a
   * public URL is configured), e.g. `http://127.0.0.1:8080`.
   */
  open(viewer: Viewer, items: OpenSessionItem[], origin: string | null): Promise<ItemOutcome<OpenedSession>[]>;
}

/** The path a session type is opened on; a WEB session's app is under its own prefix of it (web-paths.ts). */
export function sessionPath(type: InteractiveSessionType): string {
  return `/api/v1/sessions/${type.toLowerCase()}`;
}

/** A WEB session's port: required, and for WEB only. */
function portOf(item: OpenSessionItem): number | null {
  const port = item.port ?? null;
  if (item.sessionType !== 'WEB') {
    if (port !== null || item.keepPathPrefix) throw new InvalidInputError(`A port is for WEB sessions only, not ${item.sessionType}`);
    return null;
  }
  const parsed = sessionPortSchema.safeParse(port);
  if (!parsed.success) throw new InvalidInputError(`A WEB session needs the port its app listens on (1 to 65535), not ${port}`);
  return parsed.data;
}

export function createSessionOpener(options: {
  store: Store;
  registry: ProviderRegistry;
  credentials: SessionCredentials;
  /** The gateway's URL as clients reach it (SWITCHYARD_PUBLIC_URL); null: the URL of the request. */
  publicUrl: string | null;
}): SessionOpener {
  const { store, registry, credentials } = options;

  const open = async (viewer: Viewer, item: OpenSessionItem, origin: string | null): Promise<OpenedSession> => {
    const job = await loadEditable(store, viewer, item.jobId);
    const product = registry.product(job.providerId, job.specification.product.id);
    if (!product) throw new ProviderUnavailableError(job.providerId, 'is not connected, so its support for sessions is unknown');
    if (!supportsSession(product.support, item.sessionType)) {
      throw new UnsupportedError(`${job.providerId}/${product.id} does not offer ${item.sessionType} sessions`);
    }
    const port = portOf(item);
    if (job.state !== 'RUNNING') throw new InvalidStateError(job.id, `Sessions open on running jobs only; job ${job.id} is ${job.state}`);
    const replicas = job.specification.replicas;
    if (!Number.isInteger(item.rank) || item.rank < 0 || item.rank >= replicas) {
      throw new InvalidInputError(`Job ${job.id} has ${replicas === 1 ? 'rank 0 only' : `ranks 0 to ${replicas - 1}`}, not ${item.rank}`);
    }
    await registry.require(job.providerId).client.call('jobs.session', {
      op: 'prepare',
      jobId: job.id,
      rank: item.rank,
      type: item.sessionType,
      ...(port !== null ? { port } : {}),
    });
    const base = options.publicUrl ?? origin;
    if (!base) throw new InvalidInputError('The gateway does not know its own URL: set SWITCHYARD_PUBLIC_URL');
    const { token, expiresAt } = await credentials.issue({
      username: viewer.username,
      jobId: job.id,
      rank: item.rank,
      type: item.sessionType,
      providerId: job.providerId,
      port,
      keepPathPrefix: item.keepPathPrefix === true,
    });
    // Appended, not resolved: a public URL with a path (behind a proxy) keeps it.
    const path = port !== null ? webSessionPrefix({ jobId: job.id, rank: item.rank, port }) : sessionPath(item.sessionType);
    const url = new URL(`${base.replace(/\/+$/, '')}${path}`);
    // SHELL and VNC are websockets; a page (WEB) keeps the scheme it was reached by.
    if (item.sessionType !== 'WEB') url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('token', token);
    return {
      jobId: job.id,
      rank: item.rank,
      sessionType: item.sessionType,
      providerId: job.providerId,
      url: url.toString(),
      password: null,
      expiresAt,
    };
  };

  return {
    async open(viewer, items, origin) {
      checkBulk(items.length);
      return Promise.all(
        items.map(async (item): Promise<ItemOutcome<OpenedSession>> => {
          try {
            return { ok: true, value: await open(viewer, item, origin) };
          } catch (error) {
            return failed(error);
          }
        }),
      );
    },
  };
}
