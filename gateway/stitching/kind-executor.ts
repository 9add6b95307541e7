/**
 * The graphql-tools Executor for the subschema that providers of one kind
 * share. Every provider of the kind that is not DOWN gets the delegated
 * operation over NATS (through its own circuit breaker, with the request's
 * abort signal); per item, the first non-null answer wins, since each
 * provider answers only for its own jobs and itself.
 */
import type { ExecutionRequest, ExecutionResult, Executor } from '@graphql-tools/utils';
import { print } from 'graphql';

import type { ProviderKind } from '../../shared/domain.js';
import type { ProviderRegistry } from '../registry/provider-registry.js';

type Data = unknown;

/** Per position and field, the first value that is not null. */
export function mergeFirstNonNull(values: Data[]): Data {
  const present = values.filter((v) => v !== null && v !== undefined);
  if (present.length === 0) return values.length ? values[0] : null;
  const first = present[0];
  if (Array.isArray(first)) {
    const arrays = present.filter(Array.isArray) as Data[][];
    const length = Math.max(...arrays.map((a) => a.length));
    return Array.from({ length }, (_, i) => mergeFirstNonNull(arrays.map((a) => a[i])));
  }
  if (typeof first === 'object') {
    const objects = present.filter((v) => typeof v === 'object' && !Array.isArray(v)) as Record<string, Data>[];
    const keys = new Set(objects.flatMap((o) => Object.keys(o)));
    return Object.fromEntries([...keys].map((key) => [key, mergeFirstNonNull(objects.map((o) => o[key]))]));
  }
  return first;
}

export function createKindExecutor(kind: ProviderKind, registry: ProviderRegistry): Executor {
  return (async (request: ExecutionRequest): Promise<ExecutionResult> => {
    const providers = registry.list().filter((e) => e.kind === kind && e.subschemaDigest !== null && registry.status(e) !== 'DOWN');
    if (providers.length === 0) return { errors: [{ message: `No ${kind.toLowerCase()} provider is reachable` } as never] };
    const query = print(request.document);
    const outcomes = await Promise.allSettled(
      providers.map((entry) =>
        entry.client.call(
          'graphql',
          { op: 'execute', query, variables: request.variables ?? null, operationName: request.operationName ?? null },
          { signal: request.signal },
        ),
      ),
    );
    const answers: { data?: Record<string, unknown> | null; errors?: { message: string }[] }[] = [];
    const failures: string[] = [];
    outcomes.forEach((outcome, i) => {
      if (outcome.status === 'rejected') failures.push((outcome.reason as Error).message);
      else if ('sdl' in outcome.value) failures.push(`${providers[i]!.id}: answered an execution with its SDL`);
      else answers.push(outcome.value);
    });
    if (answers.length === 0) return { errors: failures.map((message) => ({ message }) as never) };
    // A provider that failed answers nothing for its items; the others' answers stand.
    const data = mergeFirstNonNull(answers.map((a) => a.data ?? null)) as Record<string, unknown> | null;
    const errors = answers.flatMap((a) => a.errors ?? []);
    return errors.length ? { data, errors: errors as never } : { data };
  }) as Executor;
}
