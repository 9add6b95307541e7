import { makeExecutableSchema } from '@graphql-tools/schema';
import { stitchSchemas } from '@graphql-tools/stitch';
import { parse, type GraphQLResolveInfo } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';

import { answerableBy, useBaseSchema } from './use-base-schema.js';

/** A contract of two fields, and a provider's subschema that adds `Thing.extra`, merged by id. */
function schemas() {
  /** For each run of `me`: whether it ran in the client's own document (a delegated one is built anew, without a source). */
  const seen: boolean[] = [];
  const base = makeExecutableSchema({
    typeDefs: 'scalar Stamp type Query { me: String thing: Thing things(ids: [ID!]!): [Thing]! } type Thing { id: ID! name: String }',
    resolvers: {
      Query: {
        me: (_root: unknown, _args: unknown, _context: unknown, info: GraphQLResolveInfo) => {
          seen.push(info.operation.loc !== undefined);
          return 'admin';
        },
        thing: () => ({ id: 't1', name: 'one' }),
        things: (_root: unknown, args: { ids: string[] }) => args.ids.map((id) => ({ id, name: 'one' })),
      },
    },
  });
  let providerCalls = 0;
  const provider = makeExecutableSchema({
    typeDefs: 'type Query { _things(ids: [ID!]!): [Thing]! } type Thing { id: ID! extra: String }',
    resolvers: {
      Query: {
        _things: (_root: unknown, args: { ids: string[] }) => {
          providerCalls++;
          return args.ids.map((id) => ({ id, extra: `extra of ${id}` }));
        },
      },
    },
  });
  const unified = stitchSchemas({
    subschemas: [
      {
        schema: base,
        merge: { Thing: { selectionSet: '{ id }', fieldName: 'things', key: ({ id }: { id: string }) => id, argsFromKeys: (ids) => ({ ids }) } },
      },
      {
        schema: provider,
        merge: { Thing: { selectionSet: '{ id }', fieldName: '_things', key: ({ id }: { id: string }) => id, argsFromKeys: (ids) => ({ ids }) } },
      },
    ],
  });
  return { base, unified, seen, providerCalls: () => providerCalls };
}

describe('answering on the contract’s schema what it defines alone', () => {
  const { base, unified } = schemas();

  it.each([
    ['a field of the contract', '{ me }', true],
    ['fields of a merged type that the contract defines', '{ thing { id name __typename } }', true],
    ['a fragment on a contract type', 'query { thing { ...F } } fragment F on Thing { name }', true],
    ['a field a provider added', '{ thing { id extra } }', false],
    ['a provider field inside a fragment', 'query { thing { ...F } } fragment F on Thing { extra }', false],
    ['introspection', '{ __schema { types { name } } }', false],
    ['a type by name', '{ __type(name: "Thing") { name } }', false],
  ])('%s: %s', (_what, query, answerable) => {
    expect(answerableBy(base, parse(query))).toBe(answerable);
    // Whatever the verdict, the unified schema defines it all.
    expect(answerableBy(unified, parse(query))).toBe(!/__schema|__type\(/.test(query));
  });

  it('answers the same with the plugin as through the stitching, and only stitched fields reach the provider', async () => {
    const { base: contract, unified: schema, seen, providerCalls } = schemas();
    const plain = createYoga({ schema, logging: false });
    const fast = createYoga({ schema, logging: false, plugins: [useBaseSchema(contract)] });
    const ask = async (yoga: typeof plain, query: string) => {
      const res = await yoga.fetch('http://yoga/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query }),
      });
      return res.json();
    };
    for (const query of ['{ me thing { id name } }', '{ thing { id name extra } }', '{ me nope }']) {
      expect(await ask(fast, query)).toEqual(await ask(plain, query));
    }
    // `me` ran once each way (the plugin's first): in the client's document with it, in a delegated one without.
    expect(seen).toEqual([true, false]);
    // Twice the stitched query (once each), never for the others.
    expect(providerCalls()).toBe(2);
  });
});
