/**
 * Serves a driver's own GraphQL subschema over the `graphql` verb: its SDL
 * (with the stitching directives the gateway merges by) and execution of the
 * operations the gateway delegates to it.
 */
import { createHash } from 'node:crypto';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { stitchingDirectives } from '@graphql-tools/stitching-directives';
import { printSchemaWithDirectives } from '@graphql-tools/utils';
import { execute, parse, validate, type DocumentNode, type GraphQLError, type GraphQLSchema } from 'graphql';

import { InvalidInputError } from '../../shared/errors.js';
import type { Driver } from './driver.js';

const MAX_CACHED_DOCUMENTS = 256;

export interface ServedSubschema {
  readonly sdl: string;
  /** Changes when the SDL does; announced so the gateway knows when to refetch. */
  readonly digest: string;
  execute(
    query: string,
    variables: Record<string, unknown> | null,
    operationName: string | null,
  ): Promise<{
    data?: Record<string, unknown> | null;
    errors?: { message: string; path?: (string | number)[] }[];
  }>;
}

/** Null when the driver has no subschema. Throws at start when its definition is broken. */
export function createServedSubschema(driver: Driver): ServedSubschema | null {
  const definition = driver.subschema?.();
  if (!definition) return null;
  const { allStitchingDirectivesTypeDefs, stitchingDirectivesValidator } = stitchingDirectives();
  const schema: GraphQLSchema = stitchingDirectivesValidator(
    makeExecutableSchema({ typeDefs: [allStitchingDirectivesTypeDefs, definition.typeDefs], resolvers: definition.resolvers as never }),
  );
  const sdl = printSchemaWithDirectives(schema);
  // The gateway sends the same few delegated operations over and over: parse and validate each once.
  const documents = new Map<string, DocumentNode | readonly GraphQLError[]>();
  const prepare = (query: string): DocumentNode | readonly GraphQLError[] => {
    const cached = documents.get(query);
    if (cached) return cached;
    let document: DocumentNode;
    try {
      document = parse(query);
    } catch (error) {
      throw new InvalidInputError(`query does not parse: ${(error as Error).message}`);
    }
    const invalid = validate(schema, document);
    const prepared = invalid.length > 0 ? invalid : document;
    if (documents.size >= MAX_CACHED_DOCUMENTS) documents.delete(documents.keys().next().value!);
    documents.set(query, prepared);
    return prepared;
  };
  return {
    sdl,
    digest: createHash('sha256').update(sdl).digest('hex').slice(0, 16),
    async execute(query, variables, operationName) {
      const prepared = prepare(query);
      if (!('kind' in prepared)) return { errors: prepared.map((e: GraphQLError) => ({ message: e.message })) };
      const document = prepared;
      const result = await execute({ schema, document, variableValues: variables ?? undefined, operationName: operationName ?? undefined });
      return {
        data: (result.data as Record<string, unknown> | null | undefined) ?? null,
        // Only messages and paths travel: never a stack trace.
        ...(result.errors?.length
          ? { errors: result.errors.map((e: GraphQLError) => ({ message: e.message, path: e.path ? [...e.path] : undefined })) }
          : {}),
      };
    },
  };
}
