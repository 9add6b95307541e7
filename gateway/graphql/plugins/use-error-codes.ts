import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * Gives requests that GraphQL refuses before execution (a query that does not
 * parse, unknown fields, wrong argument types) the contract's INVALID_INPUT code.
 */
export function useErrorCodes(): Plugin {
  const withCode = (error: GraphQLError) =>
    new GraphQLError(error.message, {
      nodes: error.nodes,
      source: error.source,
      positions: error.positions,
      path: error.path,
      extensions: { ...error.extensions, code: 'INVALID_INPUT' },
    });
  return {
    onParse() {
      return ({ result, replaceParseResult }) => {
        if (result instanceof GraphQLError) replaceParseResult(withCode(result));
      };
    },
    onValidate() {
      return ({ result, setResult }) => {
        if (result.length > 0) setResult(result.map((e) => (e instanceof GraphQLError ? withCode(e) : e)) as GraphQLError[]);
      };
    },
  };
}
