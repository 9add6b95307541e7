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
      Promise.all(args.ids.map(async (id) => {
        const value = await job.resolve(id);
        return value === null ? null : { id, [job.name]: value };
      }));
  }
  if (provider) {
    sdl.push(`type Provider @key(selectionSet: "{ id }") {\n  id: ID!\n  ${description(provider.description)}\n  ${provider.name}: ${provider.type}\n}`);
    query.push(`  _${kind}Providers(ids: [ID!]!): [Provider]! @merge(keyField: "id")`);
    queryResolvers[`_${kind}Providers`] = (_: unknown, args: { ids: string[] }) =>
      Promise.all(args.ids.map(async (id) => {
        if (id !== context()?.providerId) return null;
        const value = await provider.resolve(id);
        return value === null ? null : { id, [provider.name]: value };
      }));
  }
  if (query.length === 0) throw new Error(`the ${kind} subschema adds nothing to Job or Provider`);
  sdl.push(`type Query {\n${query.join('\n')}\n}`);
  resolvers.Query = { ...resolvers.Query, ...queryResolvers };
  return { typeDefs: sdl.join('\n'), resolvers };
}
