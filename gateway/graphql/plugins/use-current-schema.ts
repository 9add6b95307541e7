import type { Plugin } from 'graphql-yoga';

import type { SchemaManager } from '../../stitching/schema-manager.js';

/**
 * Serves each operation (HTTP or websocket) with the unified schema as it is
 * when the operation starts, so a rebuild never disturbs one in flight.
 * @param schemas - the schema manager that rebuilds as providers come and go.
 */
export function useCurrentSchema(schemas: SchemaManager): Plugin {
  return {
    onEnveloped({ setSchema }) {
      setSchema(schemas.current());
    },
  };
}
