/** issueApoloToken (schema/dialect-apolo.graphql): the core API's way to an Apolo token. */
import { ForbiddenError, NotFoundError, UnsupportedError } from '../../../shared/errors.js';
import type { Resolvers } from '../../graphql/schema-types.js';

export function apoloMutations(): Pick<NonNullable<Resolvers['Mutation']>, 'issueApoloToken'> {
  return {
    async issueApoloToken(_, args, ctx) {
      // Who may ask first: whether the dialect is served here is nothing an outsider needs to learn.
      if (!ctx.viewer.admin && ctx.viewer.username !== args.user) throw new ForbiddenError('Only administrators issue Apolo tokens for other users');
      if (!ctx.apoloTokens) throw new UnsupportedError('The Apolo dialect is not served here (SWITCHYARD_DIALECTS=apolo)');
      if (!(await ctx.auth.viewerByName(args.user))) throw new NotFoundError('user', String(args.user).slice(0, 80));
      return (await ctx.apoloTokens.issue(args.user, args.ttlSeconds)).token;
    },
  };
}
