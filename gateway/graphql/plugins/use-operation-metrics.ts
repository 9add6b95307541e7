import { getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';

import type { GatewayMetrics } from '../../metrics.js';

/**
 * Observes every GraphQL operation's duration by operation type and outcome.
 * @param metrics - the gateway's metrics; `graphqlDuration` is used.
 */
export function useOperationMetrics(metrics: GatewayMetrics): Plugin {
  const observe = (document: Parameters<typeof getOperationAST>[0], operationName: string | null | undefined) => {
    const started = performance.now();
    const type = getOperationAST(document, operationName)?.operation ?? 'unknown';
    return (failed: boolean) =>
      metrics.graphqlDuration.observe({ operation_type: type, outcome: failed ? 'error' : 'ok' }, (performance.now() - started) / 1000);
  };
  return {
    onExecute({ args }) {
      const done = observe(args.document, args.operationName);
      return { onExecuteDone: ({ result }) => done('errors' in result && Boolean(result.errors?.length)) };
    },
    onSubscribe({ args }) {
      const done = observe(args.document, args.operationName);
      return { onSubscribeResult: () => done(false) };
    },
  };
}
