import { describe, expect, it } from 'vitest';

import { kindFieldPrefix } from '../../shared/domain.js';
import { createBaseSchema } from '../graphql/yoga.js';
import { mergeFirstNonNull } from './kind-executor.js';
import { checkSubschema } from './subschema-check.js';

const contract = createBaseSchema();
const good = `
  type LocalJobDetails { host: String! }
  type Job { id: ID! local: LocalJobDetails }
  type Query { _localJobs(ids: [ID!]!): [Job]! }
`;

describe('which provider subschemas are accepted', () => {
  it('accepts new types and new fields on Job and Provider', () => {
    expect('schema' in checkSubschema(good, 'LOCAL', contract)).toBe(true);
  });

  it.each([
    ['does not parse', 'type Job { id: ID! local: }', /does not parse/],
    ['redefines a contract field', 'type Job { id: ID! status: String } type Query { _localJobs: [Job] }', /Job\.status clashes/],
    ['redefines a contract type', 'type Product { id: ID! } type Query { _localX: Product }', /type Product clashes/],
    ['names a query field outside its kind', 'type Job { id: ID! x: Int } type Query { jobs2: [Job] }', /must start with _local/],
    ['adds mutations', 'type Query { _localA: Int } type Mutation { _localB: Int }', /mutations/],
    ['changes the id type', 'type Job { id: String! x: Int } type Query { _localJobs: [Job] }', /Job\.id must be ID!/],
  ])('refuses one that %s', (_what, sdl, problem) => {
    const result = checkSubschema(sdl, 'LOCAL', contract);
    expect('problems' in result && result.problems.join('; ')).toMatch(problem);
  });

  it('names kinds the way field names use them', () => {
    expect(kindFieldPrefix('LOCAL')).toBe('local');
    expect(kindFieldPrefix('CLOUD_VM')).toBe('cloudVm');
  });
});

describe('answers from several providers of one kind', () => {
  it('keep, per item, the first answer that is not null', () => {
    const a = { _localJobs: [{ id: '1', local: { host: 'a' } }, null, null] };
    const b = { _localJobs: [null, { id: '2', local: { host: 'b' } }, null] };
    expect(mergeFirstNonNull([a, b])).toEqual({ _localJobs: [{ id: '1', local: { host: 'a' } }, { id: '2', local: { host: 'b' } }, null] });
    expect(mergeFirstNonNull([null, null])).toBeNull();
  });
});
