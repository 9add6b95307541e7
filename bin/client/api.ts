/**
 * The command line's one way to the gateway: its public API only, the GraphQL
 * endpoint (queries and mutations over HTTP with graphql-request,
 * subscriptions over graphql-ws) and the session URLs it hands out. Errors
 * become CliErrors with the contract's code and an exit code (exit-codes.ts).
 */
import { ClientError, GraphQLClient } from 'graphql-request';
import { createClient, type Client as WsClient } from 'graphql-ws';
import { WebSocket } from 'ws';

import { readSavedLogin } from './config-file.js';
import { CliError, EXIT } from './exit-codes.js';
import { freshAccessToken } from './sso.js';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

export interface ConnectionOptions {
  url?: string;
  token?: string;
  project?: string;
}

export interface Api {
  readonly url: string;
  request<T>(document: string, variables?: Record<string, unknown>): Promise<T>;
  /** Calls `onData` for each event until the subscription completes; rejects on its error. */
  subscribe<T>(document: string, variables: Record<string, unknown>, onData: (data: T) => void): Promise<void>;
  close(): Promise<void>;
}

/** The gateway's URL: `--url`, `SWITCHYARD_URL`, the saved login's, or the local default. */
export function gatewayUrl(options: ConnectionOptions): string {
  const url = options.url ?? process.env.SWITCHYARD_URL ?? readSavedLogin()?.url ?? DEFAULT_URL;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw new CliError(`"${url}" is not an http:// or https:// URL`, EXIT.usage);
  }
  return url.replace(/\/+$/, '');
}

/** The token for each request: one given, or the saved login's (renewed first when it is a single sign-on about to lapse). */
function tokenSource(options: ConnectionOptions, url: string): () => Promise<string> {
  const token = options.token ?? process.env.SWITCHYARD_TOKEN;
  if (token) return () => Promise.resolve(token);
  const saved = readSavedLogin();
  if (!saved || saved.url.replace(/\/+$/, '') !== url)
    throw new CliError(`not logged in to ${url}: run \`switchyard login\`, or set SWITCHYARD_TOKEN`, EXIT.unauthenticated);
  let current: Promise<string> | null = null;
  // Renewed at most once per run: a command's requests share the one answer.
  return () => (current ??= freshAccessToken(saved));
}

/** A GraphQL error as the command line reports it. */
export function toCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof ClientError) {
    const first = error.response.errors?.[0];
    const code = (first?.extensions as { code?: string } | undefined)?.code;
    const message = first?.message ?? `the gateway answered HTTP ${error.response.status}`;
    if (code === 'UNAUTHENTICATED' || error.response.status === 401) {
      return new CliError(`${message} (log in again with \`switchyard login\`)`, EXIT.unauthenticated, 'UNAUTHENTICATED');
    }
    return new CliError(code ? `${code}: ${message}` : message, EXIT.refused, code);
  }
  if (error instanceof TypeError || (error as { code?: string }).code === 'ECONNREFUSED') {
    const cause = (error as { cause?: { message?: string } }).cause?.message;
    return new CliError(`cannot reach the gateway: ${cause ?? (error as Error).message}`, EXIT.unreachable);
  }
  return new CliError((error as Error).message ?? String(error), EXIT.refused);
}

export function connectApi(options: ConnectionOptions, { anonymous = false } = {}): Api {
  const url = gatewayUrl(options);
  const token = anonymous ? null : tokenSource(options, url);
  const project = options.project ?? process.env.SWITCHYARD_PROJECT;
  const headers = async (): Promise<Record<string, string>> => ({
    ...(token ? { authorization: `Bearer ${await token()}` } : {}),
    ...(project ? { project } : {}),
  });
  const http = new GraphQLClient(`${url}/graphql`);
  let ws: WsClient | null = null;
  const wsClient = () =>
    (ws ??= createClient({
      url: `${url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: async () => {
        const { authorization, project: workspace } = await headers();
        return { ...(authorization ? { Authorization: authorization } : {}), ...(workspace ? { Project: workspace } : {}) };
      },
      lazy: true,
      // A dropped connection is taken up again; followJob then replays its snapshot, which callers skip.
      retryAttempts: 5,
    }));
  return {
    url,
    async request<T>(document: string, variables?: Record<string, unknown>) {
      try {
        return await http.request<T>({ document, variables, requestHeaders: await headers() });
      } catch (error) {
        throw toCliError(error);
      }
    },
    subscribe<T>(document: string, variables: Record<string, unknown>, onData: (data: T) => void) {
      return new Promise<void>((resolve, reject) => {
        wsClient().subscribe<T>(
          { query: document, variables },
          {
            next: (result) => {
              if (result.errors?.length) {
                const first = result.errors[0]!;
                const code = (first.extensions as { code?: string } | undefined)?.code;
                reject(new CliError(code ? `${code}: ${first.message}` : first.message, EXIT.refused, code));
              } else if (result.data) onData(result.data as T);
            },
            error: (error: unknown) => {
              const event = error as { code?: number; reason?: string };
              if (event.code === 4403) reject(new CliError('the gateway refused the token (log in again)', EXIT.unauthenticated, 'UNAUTHENTICATED'));
              else if (typeof event.code === 'number')
                reject(new CliError(`the subscription's connection closed: ${event.code} ${event.reason ?? ''}`.trim(), EXIT.unreachable));
              else reject(toCliError(error));
            },
            complete: resolve,
          },
        );
      });
    },
    async close() {
      await ws?.dispose();
    },
  };
}
