/** Resolvers of gateway/schema/dialect-credentials.graphql: each maps its arguments onto gateway/access/backendai-keypairs.ts. */
import { createBackendAiKeypairs } from '../access/backendai-keypairs.js';
import type { KeypairRecord } from '../store/store.js';
import type { GatewayContext } from './resolvers.js';
import type { Resolvers } from './schema-types.js';
import { iso } from './views.js';

const keypairsOf = (ctx: GatewayContext) => createBackendAiKeypairs(ctx.store, ctx.clock);

const keypairView = (keypair: KeypairRecord, withSecret: boolean) => ({
  accessKey: keypair.accessKey,
  secretKey: withSecret ? keypair.secretKey : null,
  user: keypair.username,
  createdAt: iso(keypair.createdAt),
});

export function dialectCredentialQueries(): Pick<NonNullable<Resolvers['Query']>, 'backendAiKeypairs'> {
  return {
    async backendAiKeypairs(_, args, ctx) {
      return (await keypairsOf(ctx).list(ctx.viewer, args.user)).map((keypair) => keypairView(keypair, false));
    },
  };
}

export function dialectCredentialMutations(): Pick<NonNullable<Resolvers['Mutation']>, 'issueBackendAiKeypair' | 'revokeBackendAiKeypair'> {
  return {
    async issueBackendAiKeypair(_, args, ctx) {
      return keypairView(await keypairsOf(ctx).issue(ctx.viewer, args.user), true);
    },
    async revokeBackendAiKeypair(_, args, ctx) {
      return keypairsOf(ctx).revoke(ctx.viewer, args.accessKey);
    },
  };
}
