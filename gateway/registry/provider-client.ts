/**
 * Calls to one provider over the transport, through that provider's one
 * circuit breaker (opossum), typed by the provider API table: the verb names
 * its request and its result. Replies are validated; a provider that answers
 * garbage or never answers becomes a ProviderUnavailableError naming it, one
 * that refuses the call throws its own error.
 */
import CircuitBreaker from 'opossum';
import type { z } from 'zod';

import { fromErrorBody, InternalError, ProviderUnavailableError, type ErrorBody, type SwitchyardError } from '../../shared/errors.js';
import { PROTOCOL_VERSION, replySchema } from '../../shared/protocol.js';
import { PROVIDER_API, type ProviderApiVerb, type ProviderRequest, type ProviderResult } from '../../shared/provider-api.js';
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
type CallResult<T> = { ok: true; result: T } | { ok: false; error: SwitchyardError };

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Housekeeping (utilization polls, clean-up): sent whatever the circuit
   * says and never counted by it, so frequent cheap calls cannot hide a
   * provider whose job calls fail. Callers skip what an open circuit should stop.
   */
  background?: boolean;
}

export interface ProviderClient {
  readonly providerId: string;
  /** The provider's result; throws the provider's refusal (its code and message) or a ProviderUnavailableError. */
  call<V extends ProviderApiVerb>(verb: V, body: ProviderRequest<V>, options?: CallOptions): Promise<ProviderResult<V>>;
  /**
   * Tell the provider to stop jobs it may have (a create that may have reached it, a job that ended at
   * the gateway), in the background and whatever the circuit says; reconciliation catches what this misses.
   */
  terminateInBackground(ids: string[], reason: string | null): void;
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
  const send = async (verb: ProviderApiVerb, body: object, timeoutMs: number, signal: AbortSignal | undefined): Promise<CallResult<unknown>> => {
    const started = performance.now();
    let outcome = 'ok';
    try {
      const raw = await transport.request(transport.subjects.providerCall(providerId, verb), { v: PROTOCOL_VERSION, ...body }, { timeoutMs, signal });
      const parsed = replySchema<z.ZodType>(PROVIDER_API[verb].result).safeParse(raw);
      if (!parsed.success) {
        outcome = 'garbage';
        throw new ProviderUnavailableError(providerId, `answered ${verb} with a reply that does not follow protocol v${PROTOCOL_VERSION}`);
      }
      const reply = parsed.data;
      if (reply.ok) return { ok: true, result: reply.result };
      outcome = 'refused';
      return { ok: false, error: fromErrorBody(reply.error) };
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

  const callThrough = async (verb: ProviderApiVerb, body: object, callOptions: CallOptions | undefined): Promise<CallResult<unknown>> => {
    const timeoutMs = callOptions?.timeoutMs ?? defaultTimeoutMs;
    if (callOptions?.background) return send(verb, body, timeoutMs, callOptions.signal);
    try {
      return await breaker.fire(verb, body, timeoutMs, callOptions?.signal);
    } catch (error) {
      if (error instanceof ProviderUnavailableError) throw error;
      if ((error as { code?: string }).code === 'EOPENBREAKER') {
        throw new ProviderUnavailableError(providerId, 'is failing repeatedly; its circuit is open', { cause: error });
      }
      throw new ProviderUnavailableError(providerId, `failed ${verb}`, { cause: error });
    }
  };

  return {
    providerId,
    async call<V extends ProviderApiVerb>(verb: V, body: ProviderRequest<V>, callOptions?: CallOptions) {
      const reply = await callThrough(verb, body, callOptions);
      if (!reply.ok) throw reply.error;
      // Parsed by the verb's result schema in send.
      return reply.result as ProviderResult<V>;
    },
    terminateInBackground(ids, reason) {
      void callThrough('jobs.terminate', { ids, reason }, { background: true }).catch(() => undefined);
    },
    circuitState: () => state,
    reset: () => {
      if (state !== 'CLOSED') breaker.close();
    },
    shutdown: () => breaker.shutdown(),
  };
}

/** The error of one item of a bulk reply: the provider's own, or INTERNAL when it gave no answer for the item. */
export function itemError(providerId: string, answer: { error?: ErrorBody | null } | undefined): SwitchyardError {
  return answer?.error ? fromErrorBody(answer.error) : new InternalError(`${providerId} gave no result for this job`);
}
