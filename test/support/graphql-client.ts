/** A small GraphQL client for tests: queries over HTTP and followJob over SSE, against a running gateway. */
import { readEventStream } from './event-stream.js';

export interface GraphQLResponse<T = Record<string, any>> {
  status: number;
  data?: T;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** `options.project`: the workspace, sent as the `Project` header. */
export function createClient(baseUrl: string, token?: string, options: { project?: string } = {}) {
  const headers = (extra: Record<string, string> = {}) => ({
    'content-type': 'application/json',
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    ...(options.project ? { project: options.project } : {}),
    ...extra,
  });
  return {
    baseUrl,
    token,
    /** The same caller acting in another workspace (null: its own). */
    in(project: string | null) {
      return createClient(baseUrl, token, project ? { project } : {});
    },
    async gql<T = Record<string, any>>(query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<T>> {
      const res = await fetch(`${baseUrl}/graphql`, { method: 'POST', headers: headers(), body: JSON.stringify({ query, variables }) });
      const body = (await res.json()) as GraphQLResponse<T>;
      return { ...body, status: res.status };
    },
    /** Data or throw with the errors, for steps that must succeed. */
    async ok<T = Record<string, any>>(query: string, variables?: Record<string, unknown>): Promise<T> {
      const res = await this.gql<T>(query, variables);
      if (res.errors?.length || !res.data) throw new Error(`GraphQL failed (${res.status}): ${JSON.stringify(res.errors)}`);
      return res.data;
    },
    /**
     * Any subscription over SSE: every payload (data or errors) until the stream ends, `until`
     * says stop or `timeoutMs` passes; the HTTP status of the answer.
     */
    async subscribe(
      query: string,
      variables: Record<string, unknown>,
      subscribeOptions: { until?: (payload: GraphQLResponse) => boolean; timeoutMs?: number } = {},
    ): Promise<{ status: number; payloads: GraphQLResponse[] }> {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), subscribeOptions.timeoutMs ?? 20_000);
      const payloads: GraphQLResponse[] = [];
      let status = 0;
      try {
        const res = await fetch(`${baseUrl}/graphql`, {
          method: 'POST',
          headers: headers({ accept: 'text/event-stream' }),
          body: JSON.stringify({ query, variables }),
          signal: controller.signal,
        });
        status = res.status;
        if (!res.body) return { status, payloads };
        if (!(res.headers.get('content-type') ?? '').includes('event-stream')) {
          payloads.push((await res.json()) as GraphQLResponse);
          return { status, payloads };
        }
        await readEventStream(res.body as unknown as AsyncIterable<Uint8Array>, (data) => {
          const payload = JSON.parse(data) as GraphQLResponse;
          payloads.push(payload);
          return subscribeOptions.until?.(payload) === true;
        });
        return { status, payloads };
      } catch (error) {
        if ((error as Error).name === 'AbortError') return { status, payloads };
        throw error;
      } finally {
        clearTimeout(timer);
        controller.abort();
      }
    },
    /** Collects followJob events over SSE until the stream ends or `until` says stop. */
    async follow(jobId: string, followOptions: { until?: (event: any) => boolean; timeoutMs?: number } = {}): Promise<any[]> {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), followOptions.timeoutMs ?? 20_000);
      const events: any[] = [];
      try {
        const res = await fetch(`${baseUrl}/graphql`, {
          method: 'POST',
          headers: headers({ accept: 'text/event-stream' }),
          body: JSON.stringify({
            query: `subscription ($id: ID!) { followJob(id: $id) { jobId updates { state status timestamp newTimeAllocation } logs { rank stdout stderr timestamp } newStatus { state exitCode startedAt expiresAt } } }`,
            variables: { id: jobId },
          }),
          signal: controller.signal,
        });
        if (!res.ok || !res.body) throw new Error(`followJob answered HTTP ${res.status}`);
        await readEventStream(res.body as unknown as AsyncIterable<Uint8Array>, (data) => {
          const payload = JSON.parse(data);
          if (payload.errors) throw new Error(`followJob error: ${JSON.stringify(payload.errors)}`);
          if (!payload.data?.followJob) return false;
          events.push(payload.data.followJob);
          return followOptions.until?.(payload.data.followJob) === true;
        });
        return events;
      } catch (error) {
        if ((error as Error).name === 'AbortError') return events;
        throw error;
      } finally {
        clearTimeout(timer);
        controller.abort();
      }
    },
  };
}

export type TestClient = ReturnType<typeof createClient>;

/** Poll until `check` returns a value, or fail with what it last saw. */
export async function eventually<T>(
  check: () => Promise<T | undefined | null | false>,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
  throw new Error(`timed out waiting for ${options.what ?? 'a condition'}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
}

export const JOB_FIELDS = `id state: status { state exitCode startedAt expiresAt } updates { state status newTimeAllocation timestamp } providerGeneratedId provider { id status } owner { createdBy }`;

export async function waitForState(client: TestClient, jobId: string, states: string[], timeoutMs = 15_000) {
  return eventually(
    async () => {
      const data = await client.ok(`query ($id: ID!) { job(id: $id) { ${JOB_FIELDS} } }`, { id: jobId });
      return states.includes(data.job.state.state) ? data.job : null;
    },
    { timeoutMs, what: `job ${jobId} to reach ${states.join('/')}` },
  );
}
