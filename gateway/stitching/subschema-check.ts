/**
 * What a provider's subschema may add to the unified schema: new types named
 * for its kind, new fields on Job and Provider merged by id, and `_<kind>`
 * query fields for merging. Anything that would change the contract is refused.
 */
import { buildSchema, isObjectType, isSpecifiedScalarType, type GraphQLSchema } from 'graphql';

import { kindFieldPrefix, type ProviderKind } from '../../shared/domain.js';

const MERGED_TYPES = new Set(['Job', 'Provider']);
const DIRECTIVE_TYPES = new Set(['_Key']);

/** The provider's schema, or a list of reasons it is refused. */
export function checkSubschema(sdl: string, kind: ProviderKind, contract: GraphQLSchema): { schema: GraphQLSchema } | { problems: string[] } {
  let schema: GraphQLSchema;
  try {
    schema = buildSchema(sdl);
  } catch (error) {
    return { problems: [`its SDL does not parse: ${(error as Error).message}`] };
  }
  const problems: string[] = [];
  const prefix = kindFieldPrefix(kind);
  if (schema.getMutationType() || schema.getSubscriptionType()) problems.push('it defines mutations or subscriptions');
  for (const type of Object.values(schema.getTypeMap())) {
    const name = type.name;
    if (name.startsWith('__') || isSpecifiedScalarType(type) || DIRECTIVE_TYPES.has(name)) continue;
    if (name === 'Query') {
      for (const field of Object.keys(isObjectType(type) ? type.getFields() : {})) {
        if (!field.startsWith(`_${prefix}`)) problems.push(`query field ${field} must start with _${prefix}`);
      }
      continue;
    }
    const existing = contract.getType(name);
    if (!existing) continue;
    if (!MERGED_TYPES.has(name) || !isObjectType(type) || !isObjectType(existing)) {
      problems.push(`type ${name} clashes with the contract`);
      continue;
    }
    for (const [field, definition] of Object.entries(type.getFields())) {
      if (field === 'id') {
        if (String(definition.type) !== 'ID!') problems.push(`${name}.id must be ID!`);
      } else if (existing.getFields()[field]) {
        problems.push(`field ${name}.${field} clashes with the contract`);
      }
    }
  }
  return problems.length ? { problems } : { schema };
}
