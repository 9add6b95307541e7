/**
 * Calls to one provider over the transport, through that provider's one
 * circuit breaker (opossum). Replies are validated; a provider that answers
 * garbage or never answers becomes a ProviderUnavailableError naming it.
 */
import CircuitBreaker from 'opossum';
import type { z } from 'zod';

import { fromErrorBody, ProviderUnavailableError, type SwitchyardError } from '../../shared/errors.js';
import { PROTOCOL_VERSION, replySchema } from '../../shared/protocol.js';
import type { ProviderVerb } from '../../shared/subjects.js';
import { NoRespondersError, TransportTimeoutError, type Transport } from '../../shared/transport.js';
import type { GatewayMetrics } from '../metrics.js';

export type CircuitState = 'CLOSED' | 'OPEN' | 'HALF_OPEN';

export interface ProviderClientOptions {
  transport: Transport;
  providerId: string;
  metrics: GatewayMetrics;
  /** @default 5000 */
  timeoutMs?: number;
  /** Percentage of failed calls in the rolling window that opens the circuit. @default 50 */
  errorThresholdPercentage?: number;
  /** Calls in the window before the circuit may open. @default 5 */
  volumeThreshold?: number;
  /** How long the circuit stays open before a half-open probe. @default 10000 */
  resetTimeoutMs?: number;
  onCircuitChange?: (state: CircuitState) => void;
}

/** A reply that carried an error code: the provider answered, so the circuit does not count it. */
export type CallResult<T> = { ok: true; result: T } | { ok: false; error: SwitchyardError };

export interface ProviderClient {
  readonly providerId: string;
  call<S extends z.ZodType>(
    verb: ProviderVerb,
    body: Record<string, unknown>,
    result: S,
    options?: {
      timeoutMs?: number;
      signal?: AbortSignal;
      /**
       * Housekeeping (utilization polls, clean-up): sent whatever the circuit
       * says and never counted by it, so frequent cheap calls cannot hide a
       * provider whose job calls fail. Callers skip what an open circuit should stop.
       */
      background?: boolean;
    },
  ): Promise<CallResult<z.infer<S>>>;
  circuitState(): CircuitState;
  /** Close the circuit: the provider came back (it heartbeats again after it was down, or restarted). */
  reset(): void;
  shutdown(): void;
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

export function createProviderClient(options: ProviderClientOptions): ProviderClient {
  const { transport, providerId, metrics } = options;
  const defaultTimeoutMs = options.timeoutMs ?? 5_000;

  /** One call, inside the breaker: transport failures and garbage replies count against the provider. */
  const send = async (
    verb: ProviderVerb,
    body: Record<string, unknown>,
    timeoutMs: number,
    resultSchema: z.ZodType,
    signal: AbortSignal | undefined,
  ): Promise<CallResult<unknown>> => {
    const started = performance.now();
    let outcome = 'ok';
    try {
      const raw = await transport.request(transport.subjects.providerCall(providerId, verb), { v: PROTOCOL_VERSION, ...body }, { timeoutMs, signal });
      const parsed = replySchema(resultSchema).safeParse(raw);
      if (!parsed.success) {
        outcome = 'garbage';
        throw new ProviderUnavailableError(providerId, `answered ${verb} with a reply that does not follow protocol v${PROTOCOL_VERSION}`);
      }
      const reply = parsed.data as { ok: true; result: unknown } | { ok: false; error: { code: string; message: string } };
      if (reply.ok) return { ok: true, result: reply.result };
      outcome = 'refused';
      return { ok: false, error: fromErrorBody(reply.error as never) };
    } catch (error) {
      if (error instanceof ProviderUnavailableError) throw error;
      if (error instanceof TransportTimeoutError) {
        outcome = 'timeout';
        throw new ProviderUnavailableError(providerId, `did not answer ${verb} within ${seconds(timeoutMs)}`, { cause: error });
      }
      if (error instanceof NoRespondersError) {
        outcome = 'no_responders';
        throw new ProviderUnavailableError(providerId, `is not connected (nobody serves ${verb})`, { cause: error });
      }
      outcome = 'error';
      throw new ProviderUnavailableError(providerId, `could not be reached for ${verb}`, { cause: error });
    } finally {
      metrics.natsRequestDuration.observe({ verb, outcome }, (performance.now() - started) / 1000);
    }
  };

  const breaker = new CircuitBreaker(send, {
    // Timeouts are the transport's; the breaker only counts failures.
    timeout: false,
    errorThresholdPercentage: options.errorThresholdPercentage ?? 50,
    volumeThreshold: options.volumeThreshold ?? 5,
    resetTimeout: options.resetTimeoutMs ?? 10_000,
    rollingCountTimeout: 10_000,
  });
  let state: CircuitState = 'CLOSED';
  const setState = (next: CircuitState) => {
    state = next;
    metrics.providerCircuitOpen.set({ provider: providerId }, next === 'OPEN' ? 1 : next === 'HALF_OPEN' ? 0.5 : 0);
    options.onCircuitChange?.(next);
  };
  breaker.on('open', () => setState('OPEN'));
  breaker.on('halfOpen', () => setState('HALF_OPEN'));
  breaker.on('close', () => setState('CLOSED'));

  return {
    providerId,
    async call(verb, body, resultSchema, callOptions) {
      const timeoutMs = callOptions?.timeoutMs ?? defaultTimeoutMs;
      if (callOptions?.background) {
        return (await send(verb, body, timeoutMs, resultSchema, callOptions.signal)) as CallResult<z.infer<typeof resultSchema>>;
      }
      try {
        return (await breaker.fire(verb, body, timeoutMs, resultSchema, callOptions?.signal)) as CallResult<z.infer<typeof resultSchema>>;
      } catch (error) {
        if (error instanceof ProviderUnavailableError) throw error;
        if ((error as { code?: string }).code === 'EOPENBREAKER') {
          throw new ProviderUnavailableError(providerId, 'is failing repeatedly; its circuit is open', { cause: error });
        }
        throw new ProviderUnavailableError(providerId, `failed ${verb}`, { cause: error });
      }
    },
    circuitState: () => state,
    reset: () => {
      if (state !== 'CLOSED') breaker.close();
    },
    shutdown: () => breaker.shutdown(),
  };
}
