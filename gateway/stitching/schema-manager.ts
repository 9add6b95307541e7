/**
 * Keeps the unified schema: the contract's schema with every provider kind's
 * subschema stitched in by type merging (@graphql-tools/stitch with the
 * stitching directives). Rebuilt whenever providers come, go or change their
 * subschema, without a restart; requests in flight keep the schema they
 * started with.
 */
import type { SubschemaConfig } from '@graphql-tools/delegate';
import { stitchSchemas } from '@graphql-tools/stitch';
import { stitchingDirectives } from '@graphql-tools/stitching-directives';
import { filterSchema, pruneSchema } from '@graphql-tools/utils';
import type { GraphQLSchema } from 'graphql';

import type { ProviderKind } from '../../shared/domain.js';
import type { Logger } from '../../shared/logger.js';
import type { ProviderEntry, ProviderRegistry } from '../registry/provider-registry.js';
import { createKindExecutor } from './kind-executor.js';
import { checkSubschema } from './subschema-check.js';

export interface SchemaManager {
  /** The schema to serve now. */
  current(): GraphQLSchema;
  /** The contract's own schema, which every provider subschema is stitched onto. */
  readonly base: GraphQLSchema;
  /** Ask for a rebuild; rebuilds are coalesced and run one at a time. */
  refresh(): Promise<void>;
  /** The kinds whose subschemas are stitched in now. */
  stitchedKinds(): ProviderKind[];
}

export function createSchemaManager(options: { base: GraphQLSchema; registry: ProviderRegistry; logger: Logger }): SchemaManager {
  const { base, registry, logger } = options;
  const { stitchingDirectivesTransformer } = stitchingDirectives();
  const sdlByDigest = new Map<string, string>();
  const refused = new Set<string>();
  let schema = base;
  let kinds: ProviderKind[] = [];
  let running: Promise<void> | null = null;
  let again = false;

  const fetchSdl = async (entry: ProviderEntry): Promise<string | null> => {
    const digest = entry.subschemaDigest!;
    const cached = sdlByDigest.get(digest);
    if (cached) return cached;
    const reply = await entry.client.call('graphql', { op: 'sdl' }).catch((error: unknown) => {
      logger.warn({ providerId: entry.id, err: error }, 'could not fetch the provider subschema');
      return null;
    });
    if (!reply || !('sdl' in reply)) return null;
    sdlByDigest.set(digest, reply.sdl);
    return reply.sdl;
  };

  const build = async () => {
    const byKind = new Map<ProviderKind, ProviderEntry[]>();
    for (const entry of registry.list()) {
      if (entry.subschemaDigest === null || registry.status(entry) === 'DOWN') continue;
      byKind.set(entry.kind, [...(byKind.get(entry.kind) ?? []), entry]);
    }
    const subschemas: { kind: ProviderKind; config: SubschemaConfig }[] = [];
    const stitched: ProviderKind[] = [];
    for (const [kind, entries] of byKind) {
      // Providers of one kind share one subschema; the first that answers defines it.
      let sdl: string | null = null;
      let source: ProviderEntry | null = null;
      for (const entry of entries) {
        sdl = await fetchSdl(entry);
        if (sdl) {
          source = entry;
          break;
        }
      }
      if (!sdl || !source) continue;
      const checked = checkSubschema(sdl, kind, base);
      if ('problems' in checked) {
        const key = `${source.id}:${source.subschemaDigest}`;
        if (!refused.has(key)) {
          refused.add(key);
          logger.error({ providerId: source.id, kind, problems: checked.problems }, 'refused the provider subschema; serving the rest without it');
        }
        continue;
      }
      subschemas.push({ kind, config: { schema: checked.schema, executor: createKindExecutor(kind, registry), batch: true } });
      stitched.push(kind);
    }
    const stitch = (parts: typeof subschemas) =>
      stitchSchemas({
        subschemas: [{ schema: base }, ...parts.map((p) => p.config)],
        subschemaConfigTransforms: [stitchingDirectivesTransformer],
      });
    let next: GraphQLSchema;
    try {
      next = stitch(subschemas);
    } catch (error) {
      // One bad subschema must not take the others down: stitch them one by one.
      logger.error({ err: error }, 'stitching all provider subschemas failed; trying each alone');
      const good = subschemas.filter((part) => {
        try {
          stitch([part]);
          return true;
        } catch (partError) {
          logger.error({ kind: part.kind, err: partError }, 'refused a provider subschema that does not stitch');
          return false;
        }
      });
      next = stitch(good);
      stitched.splice(0, stitched.length, ...good.map((p) => p.kind));
    }
    // Merge fields (_localJobs, ...) serve stitching only; clients never see them.
    schema = pruneSchema(filterSchema({ schema: next, rootFieldFilter: (_operation, fieldName) => !fieldName.startsWith('_') }));
    kinds = stitched;
    logger.info({ kinds: stitched }, 'unified schema rebuilt');
  };

  return {
    base,
    current: () => schema,
    stitchedKinds: () => kinds,
    refresh() {
      if (running) {
        again = true;
        return running;
      }
      running = (async () => {
        do {
          again = false;
          await build().catch((error: unknown) => logger.error({ err: error }, 'schema rebuild failed; keeping the previous schema'));
        } while (again);
        running = null;
      })();
      return running;
    },
  };
}
