/**
 * The merge boilerplate of a provider's own GraphQL subschema, generated from
 * its kind: the `Job` and `Provider` types keyed by id, and the `_<kind>Jobs`
 * and `_<kind>Providers` lookups the gateway merges by. A driver writes only
 * its own types and two lookups: the details of one job, and of its provider.
 */
import { kindFieldPrefix, type ProviderKind } from '../../shared/domain.js';
import type { DriverContext } from './driver.js';

export interface SubschemaField<T> {
  /** The field's name on the shared type ("slurm", "localHost"). */
  name: string;
  /** Its GraphQL type, one of the driver's own ("SlurmJobDetails"). */
  type: string;
  /** The field's description in the schema. */
  description: string;
  /** The value for one id; null when this provider does not know it (another provider of the kind may). */
  resolve: (id: string) => T | null | Promise<T | null>;
}

export interface ProviderSubschemaDefinition {
  /** The provider kind: its subschema's query fields are `_<kind>Jobs` and `_<kind>Providers` ("_slurmJobs"). */
  kind: ProviderKind;
  /** The driver's own types, in SDL. */
  typeDefs: string;
  /** The field a provider of the kind adds to `Job`. */
  job?: SubschemaField<unknown>;
  /** The field a provider of the kind adds to `Provider`: called only with the provider's own id. */
  provider?: SubschemaField<unknown>;
  /** Resolvers of the driver's own types, if their fields are not plain values. */
  resolvers?: Record<string, unknown>;
}

export interface DriverSubschema {
  typeDefs: string;
  resolvers: Record<string, unknown>;
}

const description = (text: string) => JSON.stringify(text);

const isPromise = (value: unknown): value is PromiseLike<unknown> => typeof (value as PromiseLike<unknown> | null)?.then === 'function';

/**
 * One merge item per id: null where the lookup answered null. Synchronous when every lookup
 * is, so that a driver's own resolvers can be called and read directly (as its tests do).
 */
function answerAll(
  ids: string[],
  lookup: (id: string) => unknown,
  item: (id: string, value: unknown) => Record<string, unknown>,
): Array<Record<string, unknown> | null> | Promise<Array<Record<string, unknown> | null>> {
  const values = ids.map(lookup);
  const items = (answered: unknown[]) => answered.map((value, k) => (value === null ? null : item(ids[k]!, value)));
  return values.some(isPromise) ? Promise.all(values).then(items) : items(values);
}

/**
 * A driver's subschema from its own types and lookups. `context` gives the running provider's
 * id: `_<kind>Providers` answers only for it, so the gateway keeps the one provider's answer.
 */
export function defineProviderSubschema(definition: ProviderSubschemaDefinition, context: () => DriverContext | null): DriverSubschema {
  const { job, provider } = definition;
  const kind = kindFieldPrefix(definition.kind);
  const sdl = [definition.typeDefs];
  const query: string[] = [];
  const resolvers: Record<string, Record<string, unknown>> = { ...(definition.resolvers as Record<string, Record<string, unknown>> | undefined) };
  const queryResolvers: Record<string, unknown> = {};
  if (job) {
    sdl.push(`type Job @key(selectionSet: "{ id }") {\n  id: ID!\n  ${description(job.description)}\n  ${job.name}: ${job.type}\n}`);
    query.push(`  _${kind}Jobs(ids: [ID!]!): [Job]! @merge(keyField: "id")`);
    queryResolvers[`_${kind}Jobs`] = (_: unknown, args: { ids: string[] }) =>
      answerAll(
        args.ids,
        (id) => job.resolve(id),
        (id, value) => ({ id, [job.name]: value }),
      );
  }
  if (provider) {
    sdl.push(
      `type Provider @key(selectionSet: "{ id }") {\n  id: ID!\n  ${description(provider.description)}\n  ${provider.name}: ${provider.type}\n}`,
    );
    query.push(`  _${kind}Providers(ids: [ID!]!): [Provider]! @merge(keyField: "id")`);
    queryResolvers[`_${kind}Providers`] = (_: unknown, args: { ids: string[] }) =>
      answerAll(
        args.ids,
        (id) => (id === context()?.providerId ? provider.resolve(id) : null),
        (id, value) => ({ id, [provider.name]: value }),
      );
  }
  if (query.length === 0) throw new Error(`the ${kind} subschema adds nothing to Job or Provider`);
  sdl.push(`type Query {\n${query.join('\n')}\n}`);
  resolvers.Query = { ...resolvers.Query, ...queryResolvers };
  return { typeDefs: sdl.join('\n'), resolvers };
}
