/**
 * UCloud's websocket protocol at /api/jobs, for jobs.follow: one socket carries
 * many calls, each a text frame `{call, streamId, payload, bearer, project?}`
 * (no authentication on the upgrade: each call carries its access token). A
 * stream answers `{type: "message", streamId, payload: JobsFollowResponse}` for
 * the job's snapshot (the first one with `initialJob`) and every change, from
 * the core's followJob, then one `{type: "response", streamId, status, payload}`
 * that ends it: 200 when the job ended, or UCloud's error status and body.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { z } from 'zod';

import { SwitchyardError } from '../../../shared/errors.js';
import { inWorkspace } from '../../access/workspace.js';
import { followJobEvents } from '../../graphql/follow-job.js';
import type { DialectCore } from '../dialect.js';
import { badRequest, fromCore, notFound, UcloudError, unauthorized } from './ucloud-errors.js';
import type { UcloudTokens } from './ucloud-tokens.js';
import { followView, jobView } from './ucloud-views.js';

const requestSchema = z.object({
  call: z.string().max(200),
  streamId: z.string().min(1).max(100),
  payload: z.unknown(),
  bearer: z.string().max(10_000).nullish(),
  project: z.string().max(200).nullish(),
  signedIntent: z.string().nullish(),
});
const followPayloadSchema = z.object({ id: z.string().min(1).max(200) });

const EMPTY_FOLLOW = { updates: [], log: [], newStatus: null, initialJob: null };

export interface FollowSocket {
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  close(): Promise<void>;
}

export function createFollowSocket(core: DialectCore, tokens: UcloudTokens): FollowSocket {
  // The web client asks for the `binary` subprotocol; UCloud's server offers it.
  const server = new WebSocketServer({
    noServer: true,
    maxPayload: core.maxBodyBytes,
    handleProtocols: (protocols) => (protocols.has('binary') ? 'binary' : false),
  });

  server.on('connection', (ws: WebSocket) => {
    /** The streams open on this socket, each with what ends it. */
    const streams = new Map<string, () => void>();
    const send = (frame: unknown) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
    };
    const end = (streamId: string, error: UcloudError | null) => {
      streams.delete(streamId);
      send(
        error
          ? { type: 'response', streamId, status: error.status, payload: error.body() }
          : { type: 'response', streamId, status: 200, payload: EMPTY_FOLLOW },
      );
    };

    const follow = async (streamId: string, request: z.infer<typeof requestSchema>) => {
      const payload = followPayloadSchema.safeParse(request.payload);
      if (!payload.success) throw badRequest('jobs.follow takes {"id": "<job id>"}');
      const authenticated = await tokens.authenticate(request.bearer ? `Bearer ${request.bearer}` : undefined);
      if (!authenticated) throw unauthorized();
      const viewer = await inWorkspace(core.store, authenticated, request.project);
      const { id } = payload.data;
      const job = await core.orchestrator.getJob(viewer, id);
      // The socket closed while the job was read: nothing to follow for.
      if (!streams.has(streamId)) return;
      const events = followJobEvents({ viewer, orchestrator: core.orchestrator, store: core.store, feed: core.feed, auth: core.auth }, id, (e) => e);
      let stopped = false;
      streams.set(streamId, () => {
        stopped = true;
        void events.return(undefined);
      });
      let first = true;
      for await (const event of events) {
        if (stopped) return;
        const product = core.registry.product(job.providerId, job.specification.product.id);
        const initial = first ? jobView(job, product, { includeProduct: false, includeSupport: false, includeOthers: false }) : null;
        first = false;
        send({ type: 'message', streamId, payload: followView(event, initial) });
      }
    };

    ws.on('message', (data: RawData, isBinary: boolean) => {
      let request: z.infer<typeof requestSchema>;
      try {
        if (isBinary) throw new Error('binary');
        request = requestSchema.parse(JSON.parse(rawText(data)));
      } catch {
        const streamId = streamIdOf(data);
        return send({
          type: 'response',
          streamId,
          status: 400,
          payload: badRequest('Send {"call", "streamId", "payload", "bearer"} as JSON text').body(),
        });
      }
      const { streamId } = request;
      if (streams.has(streamId))
        return send({ type: 'response', streamId, status: 400, payload: badRequest(`Stream ${streamId} is open already`).body() });
      if (request.call !== 'jobs.follow') return end(streamId, notFound(`${request.call} is not a websocket call here; jobs.follow is`));
      streams.set(streamId, () => undefined);
      follow(streamId, request).then(
        () => {
          if (streams.has(streamId)) end(streamId, null);
        },
        (error: unknown) => {
          if (!streams.has(streamId)) return;
          if (error instanceof UcloudError) return end(streamId, error);
          if (error instanceof SwitchyardError) return end(streamId, fromCore(error));
          core.logger.error({ err: error }, 'ucloud jobs.follow failed');
          end(streamId, new UcloudError(500, 'Internal Server Error', 'INTERNAL'));
        },
      );
    });
    ws.on('close', () => {
      for (const stop of streams.values()) stop();
      streams.clear();
    });
    ws.on('error', () => ws.terminate());
  });

  return {
    upgrade(req, socket, head) {
      server.handleUpgrade(req, socket, head, (ws) => server.emit('connection', ws, req));
    },
    async close() {
      for (const client of server.clients) client.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data as ArrayBuffer).toString('utf8');
}

/** The streamId of a message that did not parse as a request, if it has one. */
function streamIdOf(data: RawData): string | null {
  try {
    const value = (JSON.parse(rawText(data)) as { streamId?: unknown }).streamId;
    return typeof value === 'string' ? value : null;
  } catch {
    return null;
  }
}
