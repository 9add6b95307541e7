/** Resolvers of gateway/schema/dialect-ucloud.graphql: administrators issue UCloud refresh tokens (ucloud-tokens.ts). */
import { ForbiddenError } from '../../../shared/errors.js';
import type { Resolvers } from '../../graphql/schema-types.js';
import { issueRefreshToken } from './ucloud-tokens.js';

export function ucloudMutations(): NonNullable<Resolvers['Mutation']> {
  return {
    async issueUcloudRefreshToken(_, args, ctx) {
      if (!ctx.viewer.admin) throw new ForbiddenError('Only administrators issue UCloud refresh tokens');
      return issueRefreshToken(ctx.store, ctx.clock, args.user);
    },
  };
}
