/**
 * fast-check arbitraries built from a GraphQL schema: values for any input
 * type (well-shaped, or with hostile values in random places), mutation
 * documents with their arguments as variables or as literals, and selections
 * of a field's result. Domain knowledge comes in through hints, by field.
 */
import fc from 'fast-check';
import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  Kind,
  print,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLOutputType,
  type GraphQLSchema,
  type ObjectFieldNode,
  type ValueNode,
} from 'graphql';

/**
 * What a response must never contain: stack frames, source locations, paths of
 * this machine, error class names. Generated strings never contain them either,
 * so one that comes back did not come from the request.
 */
export const LEAK_PATTERNS: RegExp[] = [
  / {4}at /,
  /\n\s*at [\w.<]/,
  /\.ts:/,
  /\.[cm]?js:\d/,
  /\/work\//,
  /node_modules/,
  /\/tmp\/sy-/,
  // An error object copied into the answer: its class, its message, its stack.
  /"originalError"/,
  /"stack"\s*:/,
  // "Error: x" however it is prefixed ("TypeError:", ": Error:"), but not graphql-js's own "Syntax Error:".
  /(?<!Syntax )\bError:/,
  /\b[A-Z][A-Za-z]*Error:/,
];

export function findLeak(text: string): string | null {
  for (const pattern of LEAK_PATTERNS) {
    const match = pattern.exec(text);
    if (match) return `${pattern} at …${text.slice(Math.max(0, match.index - 80), match.index + 80)}…`;
  }
  return null;
}

const clean = (s: string) => findLeak(s) === null;

/** Strings that have broken parsers, validators and templates before. */
const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\t\r\n',
  'NaN',
  'Infinity',
  '-Infinity',
  '-0',
  '1e309',
  '0x10',
  'null',
  'undefined',
  'true',
  '[]',
  '{}',
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  '../../../etc/passwd',
  '..',
  '.',
  '/',
  'a.b',
  'a*',
  '>',
  '%00',
  '%s%s%s%n',
  '{{7*7}}',
  '${7*7}',
  '<script>alert(1)</script>',
  "' OR '1'='1",
  '"; DROP TABLE jobs; --',
  '\u202eevil',
  '\ud800',
  '\udfff\ud800',
  'é',
  'Ω≈ç√∫',
  '🚀'.repeat(50),
  '\u{10ffff}',
  'ADMIN',
  'Admin',
  'admin',
  'admin ',
  ' admin',
  '0190aaaa-0000-7000-8000-000000000000',
  '2026-02-30T00:00:00Z',
  '9999-12-31T23:59:59.999Z',
  '1970-01-01T00:00:00Z',
];

/** Any string, from short ASCII to lone surrogates, 100 000 characters and the classics above. */
export const anyString: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 4, arbitrary: fc.string({ maxLength: 16 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 16 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
    { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
    { weight: 1, arbitrary: fc.constantFrom('x'.repeat(10_000), 'é'.repeat(70_000), 'y'.repeat(100_000), '🚀'.repeat(20_000)) },
  )
  .filter(clean);

const BOUNDARY_NUMBERS = [
  0,
  -1,
  1,
  2,
  1000,
  1001,
  -(2 ** 31),
  2 ** 31 - 1,
  2 ** 31,
  -(2 ** 31) - 1,
  2 ** 53,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 2,
  1e21,
  1e308,
  -1e308,
  5e-324,
  1.5,
  -0.5,
  0.1,
];

/** An object nested `depth` levels deep. */
function deepObject(depth: number): unknown {
  let value: unknown = 'bottom';
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { a: value };
  return value;
}

/** A value of the wrong type, a boundary number, an odd object: for any position. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 3, arbitrary: fc.constantFrom(...BOUNDARY_NUMBERS) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 3, arbitrary: anyString },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).filter((v) => clean(JSON.stringify(v) ?? '')) },
  { weight: 1, arbitrary: fc.constantFrom(deepObject(20), deepObject(300), deepObject(1_000)) },
  { weight: 1, arbitrary: fc.constant(Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, i]))) },
  { weight: 1, arbitrary: fc.constant(JSON.parse('{"__proto__": {"admin": true}, "constructor": {"prototype": {"admin": true}}}')) },
  { weight: 1, arbitrary: fc.constant([]) },
  { weight: 1, arbitrary: fc.constant({}) },
);

/** Where a value goes: the input object (or `Mutation.<field>` for arguments) and the field. */
export interface HintContext {
  parent: string;
  field: string;
  type: GraphQLInputType;
}

/** A well-shaped value for one field that knows the domain (real ids, real products), or undefined. */
export type Hint = (context: HintContext) => fc.Arbitrary<unknown> | undefined;

export interface InputOptions {
  hint?: Hint;
  /**
   * Known-good values of input object types, by type name: wherever the type
   * appears, one of them (with up to two fields changed) is as likely as a generated one.
   */
  examples?: Record<string, fc.Arbitrary<Record<string, unknown>>>;
  /** Put a hostile value in place of a well-shaped one now and then, at any depth. */
  hostile: boolean;
}

function scalarValue(type: GraphQLNamedType): fc.Arbitrary<unknown> {
  switch (type.name) {
    case 'Int':
      return fc.oneof(
        { weight: 6, arbitrary: fc.integer({ min: 0, max: 100 }) },
        { weight: 2, arbitrary: fc.constantFrom(...BOUNDARY_NUMBERS.filter(Number.isInteger)) },
        { weight: 1, arbitrary: fc.integer() },
      );
    case 'Float':
      return fc.oneof(
        { weight: 4, arbitrary: fc.double({ min: 0, max: 64, noNaN: true }) },
        { weight: 1, arbitrary: fc.constantFrom(...BOUNDARY_NUMBERS) },
        { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
      );
    case 'Boolean':
      return fc.boolean();
    case 'DateTime':
      return fc.oneof(
        {
          weight: 4,
          arbitrary: fc.integer({ min: -86_400_000 * 400, max: 86_400_000 * 400 }).map((offset) => new Date(Date.now() + offset).toISOString()),
        },
        { weight: 1, arbitrary: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()) },
        { weight: 1, arbitrary: anyString },
      );
    case 'JSON':
      return fc.jsonValue({ maxDepth: 3 }).filter((v) => clean(JSON.stringify(v) ?? ''));
    default:
      // String, ID and any scalar added later.
      return anyString;
  }
}

/** Values of `type`, built eagerly (the contract's input types are not recursive; depth is capped anyway). */
export function inputValue(type: GraphQLInputType, options: InputOptions, depth = 0): fc.Arbitrary<unknown> {
  const valid = wellShaped(type, options, depth);
  return options.hostile ? fc.oneof({ weight: 14, arbitrary: valid }, { weight: 1, arbitrary: hostileValue }) : valid;
}

function wellShaped(type: GraphQLInputType, options: InputOptions, depth: number): fc.Arbitrary<unknown> {
  if (isNonNullType(type)) return wellShaped(type.ofType, options, depth);
  if (depth > 6) return fc.constant(null);
  if (isListType(type)) {
    const item = inputValue(type.ofType, options, depth + 1);
    // A single value where a list is expected: GraphQL coerces it to a list of one.
    return fc.oneof({ weight: 8, arbitrary: fc.array(item, { maxLength: 3 }) }, { weight: 1, arbitrary: item });
  }
  if (isInputObjectType(type)) {
    const fields = Object.values(type.getFields());
    const model: Record<string, fc.Arbitrary<unknown>> = {};
    const required: string[] = [];
    for (const field of fields) {
      model[field.name] = fieldValue({ parent: type.name, field: field.name, type: field.type }, options, depth + 1);
      if (isNonNullType(field.type) && field.defaultValue === undefined) required.push(field.name);
    }
    const generated = fc.record(model, { requiredKeys: required });
    const example = options.examples?.[type.name];
    // Examples reach deeper (past the first check that a random value fails): twice as likely.
    const record = example
      ? fc.oneof({ weight: 1, arbitrary: generated }, { weight: 2, arbitrary: mutatedObject(example, type, options) })
      : generated;
    if (!options.hostile) return record;
    // Now and then a field the type does not have.
    const extra = fc.tuple(fc.constantFrom('extra', 'admin', '__typename', 'id', '_'), hostileValue);
    return fc.oneof(
      { weight: 12, arbitrary: record },
      { weight: 1, arbitrary: fc.tuple(record, extra).map(([value, [key, v]]) => ({ ...value, [key]: v })) },
    );
  }
  if (isEnumType(type)) return fc.constantFrom(...type.getValues().map((v) => v.name));
  return scalarValue(type);
}

/** A field's value: the hint's when there is one, else one of its type. Optional fields may be null. */
export function fieldValue(context: HintContext, options: InputOptions, depth = 0): fc.Arbitrary<unknown> {
  const hinted = options.hint?.(context);
  const base = hinted ?? wellShaped(context.type, options, depth);
  const maybeNull = isNonNullType(context.type) ? base : fc.oneof({ weight: 10, arbitrary: base }, { weight: 1, arbitrary: fc.constant(null) });
  return options.hostile ? fc.oneof({ weight: 14, arbitrary: maybeNull }, { weight: 1, arbitrary: hostileValue }) : maybeNull;
}

/**
 * A known-good object with up to `edits` changes: a field set to another value
 * of its type; when hostile, also a field removed (required ones too) or one added.
 */
export function mutatedObject(
  good: fc.Arbitrary<Record<string, unknown>>,
  type: GraphQLInputType,
  options: InputOptions,
  edits = 2,
): fc.Arbitrary<Record<string, unknown>> {
  const named = getNamedType(type);
  if (!isInputObjectType(named)) return good;
  const fields = Object.values(named.getFields());
  // Examples are not offered again inside their own edits: no endless nesting.
  const inner = { ...options, examples: undefined };
  const removable = fields.filter((f) => options.hostile || !isNonNullType(f.type) || f.defaultValue !== undefined).map((f) => f.name);
  const changes = [
    ...fields.map((field) =>
      fieldValue({ parent: named.name, field: field.name, type: field.type }, inner).map((value) => ({ key: field.name, value, remove: false })),
    ),
    ...(removable.length ? [fc.constantFrom(...removable).map((key) => ({ key, value: undefined as unknown, remove: true }))] : []),
    ...(options.hostile
      ? [fc.tuple(fc.constantFrom('extra', 'admin', 'owner', 'id'), hostileValue).map(([key, value]) => ({ key, value, remove: false }))]
      : []),
  ];
  return fc.tuple(good, fc.array(fc.oneof(...changes), { maxLength: edits })).map(([value, list]) => {
    const out: Record<string, unknown> = structuredClone(value);
    for (const change of list) {
      if (change.remove) delete out[change.key];
      else out[change.key] = change.value;
    }
    return out;
  });
}

/** A GraphQL literal for a JavaScript value, shaped by the type where it is known (enum names). */
export function toLiteral(value: unknown, type?: GraphQLInputType): ValueNode {
  const inner = type && isNonNullType(type) ? type.ofType : type;
  if (value === null || value === undefined) return { kind: Kind.NULL };
  if (typeof value === 'boolean') return { kind: Kind.BOOLEAN, value };
  if (typeof value === 'number') {
    // NaN and Infinity have no literal: as names they are (invalid) enum values.
    if (!Number.isFinite(value)) return { kind: Kind.ENUM, value: Number.isNaN(value) ? 'NaN' : 'Infinity' };
    const text = String(value);
    return Number.isInteger(value) && !/e/i.test(text) ? { kind: Kind.INT, value: text } : { kind: Kind.FLOAT, value: text };
  }
  if (typeof value === 'string') {
    if (inner && isEnumType(inner) && /^[_A-Za-z][_0-9A-Za-z]*$/.test(value) && !['true', 'false', 'null'].includes(value))
      return { kind: Kind.ENUM, value };
    return { kind: Kind.STRING, value };
  }
  if (Array.isArray(value)) {
    const item = inner && isListType(inner) ? inner.ofType : undefined;
    return { kind: Kind.LIST, values: value.map((v) => toLiteral(v, item)) };
  }
  if (typeof value === 'object') {
    const fields = inner && isInputObjectType(inner) ? inner.getFields() : {};
    const entries: ObjectFieldNode[] = Object.entries(value as Record<string, unknown>)
      .filter(([key]) => /^[_A-Za-z][_0-9A-Za-z]*$/.test(key))
      .map(([key, v]) => ({ kind: Kind.OBJECT_FIELD, name: { kind: Kind.NAME, value: key }, value: toLiteral(v, fields[key]?.type) }));
    return { kind: Kind.OBJECT, fields: entries };
  }
  return { kind: Kind.STRING, value: String(value) };
}

/** Every field of a result without required arguments, objects `maxDepth` levels down. */
export function selectionOf(type: GraphQLOutputType, maxDepth = 2, depth = 0): string {
  const named = getNamedType(type);
  if (isLeafType(named)) return '';
  if (!isObjectType(named)) return '{ __typename }';
  const parts: string[] = [];
  for (const field of Object.values(named.getFields()) as GraphQLField<unknown, unknown>[]) {
    if (field.args.some((arg) => isNonNullType(arg.type) && arg.defaultValue === undefined)) continue;
    const leaf = isLeafType(getNamedType(field.type));
    if (leaf) parts.push(field.name);
    else if (depth < maxDepth) parts.push(`${field.name} ${selectionOf(field.type, maxDepth, depth + 1)}`);
  }
  return `{ ${parts.length ? parts.join(' ') : '__typename'} }`;
}

/** One mutation field in a document: its arguments (undefined: left out) and how they are written. */
export interface MutationCall {
  field: string;
  args: Record<string, unknown>;
  style: 'variables' | 'literals';
}

/** The document and variables for `calls`, aliased m0, m1, … in order. */
export function mutationDocument(schema: GraphQLSchema, calls: MutationCall[]): { query: string; variables: Record<string, unknown> } {
  const mutation = schema.getMutationType();
  if (!mutation) throw new Error('the schema has no mutations');
  const declarations: string[] = [];
  const variables: Record<string, unknown> = {};
  const selections = calls.map((call, index) => {
    const field = mutation.getFields()[call.field];
    if (!field) throw new Error(`the schema has no mutation ${call.field}`);
    const written: string[] = [];
    for (const arg of field.args) {
      const value = call.args[arg.name];
      if (value === undefined) continue;
      if (call.style === 'variables') {
        const name = `m${index}_${arg.name}`;
        declarations.push(`$${name}: ${String(arg.type)}`);
        variables[name] = value;
        written.push(`${arg.name}: $${name}`);
      } else {
        written.push(`${arg.name}: ${print(toLiteral(value, arg.type))}`);
      }
    }
    const args = written.length ? `(${written.join(', ')})` : '';
    return `m${index}: ${call.field}${args} ${selectionOf(field.type)}`;
  });
  const head = declarations.length ? `mutation Fuzz(${declarations.join(', ')})` : 'mutation Fuzz';
  return { query: `${head} { ${selections.join(' ')} }`, variables };
}

/** Arguments for one mutation field: each argument from its hint or type; required ones present unless hostile. */
export function mutationArgs(schema: GraphQLSchema, fieldName: string, options: InputOptions): fc.Arbitrary<Record<string, unknown>> {
  const field = schema.getMutationType()!.getFields()[fieldName];
  if (!field) throw new Error(`the schema has no mutation ${fieldName}`);
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  const required: string[] = [];
  for (const arg of field.args) {
    model[arg.name] = fieldValue({ parent: `Mutation.${fieldName}`, field: arg.name, type: arg.type }, options);
    if (isNonNullType(arg.type) && arg.defaultValue === undefined) required.push(arg.name);
  }
  const record = fc.record(model, { requiredKeys: required });
  if (!options.hostile || field.args.length === 0) return record;
  // A hostile call now and then leaves out an argument, required or not.
  return fc.oneof(
    { weight: 10, arbitrary: record },
    {
      weight: 1,
      arbitrary: fc.tuple(record, fc.constantFrom(...field.args.map((a) => a.name))).map(([args, left]) => {
        const { [left]: _dropped, ...rest } = args;
        return rest;
      }),
    },
  );
}
