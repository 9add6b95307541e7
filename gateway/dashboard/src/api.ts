/**
 * The dashboard's one way to the gateway, its public API only: GraphQL queries and mutations
 * over HTTP (fetch), followJob over graphql-ws, and POST /api/v1/token to sign in. Operations
 * are the typed documents GraphQL Code Generator makes from the graphql() calls (./gql).
 */
import { createClient, type Client } from 'graphql-ws';

import type { TypedDocumentString } from './gql/graphql';

/** A refusal from the gateway, with the contract's code (UNAUTHENTICATED, INVALID_INPUT, ...) when it gave one. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string | null,
  ) {
    super(message);
  }

  /** What was thrown, as a refusal to show (anything else thrown has no code). */
  static from(caught: unknown): ApiError {
    return caught instanceof ApiError ? caught : new ApiError(caught instanceof Error ? caught.message : String(caught), null);
  }
}

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

function firstError(errors: GraphQLResponse<unknown>['errors']): ApiError | null {
  const first = errors?.[0];
  return first ? new ApiError(first.message, first.extensions?.code ?? null) : null;
}

export interface SignedIn {
  token: string;
  username: string;
  admin: boolean;
}

/** A token for a user name and password (the gateway's REST login; the GraphQL API has no login mutation). */
export async function signIn(username: string, password: string): Promise<SignedIn> {
  const res = await fetch('/api/v1/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  const body = (await res.json().catch(() => ({}))) as {
    token?: string;
    user?: { username: string; admin?: boolean };
    error?: { code: string; message: string };
  };
  if (!res.ok || !body.token) throw new ApiError(body.error?.message ?? `the gateway answered HTTP ${res.status}`, body.error?.code ?? null);
  return { token: body.token, username: body.user?.username ?? username, admin: body.user?.admin ?? false };
}

export interface Api {
  request<TResult, TVariables>(document: TypedDocumentString<TResult, TVariables>, variables?: TVariables): Promise<TResult>;
  /** Calls `onData` for each event until the subscription ends; returns what stops it. */
  subscribe<TResult, TVariables>(
    document: TypedDocumentString<TResult, TVariables>,
    variables: TVariables,
    handlers: { next(data: TResult): void; error?(error: ApiError): void; complete?(): void },
  ): () => void;
  close(): void;
}

/**
 * The API as one signed-in user, acting in `project`'s workspace (the `Project` header, as the
 * command line's --project) or its own (null); `onUnauthenticated` runs when the gateway no
 * longer takes the token.
 */
export function createApi(token: string, onUnauthenticated: () => void, project: string | null = null): Api {
  const authorization = `Bearer ${token}`;
  const workspace: Record<string, string> = project ? { project } : {};
  let ws: Client | null = null;
  const wsClient = () =>
    (ws ??= createClient({
      url: `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/graphql`,
      connectionParams: { Authorization: authorization, ...(project ? { Project: project } : {}) },
      lazy: true,
      // A dropped connection is taken up again: followJob then replays its snapshot (callers keep each item once).
      retryAttempts: 10,
      shouldRetry: (event) => (event as { code?: number }).code !== 4403,
    }));
  return {
    async request(document, variables) {
      const res = await fetch('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', authorization, ...workspace },
        body: JSON.stringify({ query: document.toString(), variables: variables ?? {} }),
      });
      const body = (await res.json().catch(() => ({ errors: [{ message: `the gateway answered HTTP ${res.status}` }] }))) as GraphQLResponse<never>;
      const error = firstError(body.errors);
      if (error?.code === 'UNAUTHENTICATED' || res.status === 401) onUnauthenticated();
      if (error) throw error;
      if (!body.data) throw new ApiError(`the gateway answered HTTP ${res.status} without data`, null);
      return body.data;
    },
    subscribe(document, variables, handlers) {
      return wsClient().subscribe(
        { query: document.toString(), variables: variables as Record<string, unknown> },
        {
          next: (result) => {
            const error = firstError(result.errors as GraphQLResponse<unknown>['errors']);
            if (error) handlers.error?.(error);
            else if (result.data) handlers.next(result.data as never);
          },
          error: (error: unknown) => {
            const code = (error as { code?: number }).code;
            if (code === 4403) {
              onUnauthenticated();
              return handlers.error?.(new ApiError('the gateway refused the token', 'UNAUTHENTICATED'));
            }
            handlers.error?.(
              new ApiError(typeof code === 'number' ? `the live connection closed (${code})` : String((error as Error).message ?? error), null),
            );
          },
          complete: () => handlers.complete?.(),
        },
      );
    },
    close() {
      void ws?.dispose();
      ws = null;
    },
  };
}
