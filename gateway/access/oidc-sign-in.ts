/**
 * A request with an OIDC access token is a sign-in: the token is verified,
 * its user created on the first one (with no password: it signs in only
 * through its issuer), bound to the token's subject, its administrator flag
 * and memberships brought in line with the claims, and its viewer read back.
 * A disabled user is refused before anything of it changes.
 */
import type { Clock } from '../../shared/clock.js';
import { UnauthenticatedError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { Store, UserRecord } from '../store/store.js';
import { viewerOf, type OidcTokens } from './auth.js';
import { identityFromClaims, type OidcIdentity } from './oidc-claims.js';
import type { OidcIssuerConfig } from './oidc-config.js';
import { syncMemberships } from './oidc-memberships.js';
import { createOidcTokenVerifier } from './oidc-tokens.js';

export interface OidcSignInOptions {
  issuers: readonly OidcIssuerConfig[];
  store: Store;
  clock: Clock;
  logger?: Logger;
}

export function createOidcSignIn(options: OidcSignInOptions): OidcTokens {
  const { store, clock } = options;
  const verifier = createOidcTokenVerifier({ issuers: options.issuers, clock });

  /** The stored user of the identity, created on its first sign-in; refused when disabled or bound to another subject. */
  const userOf = async (identity: OidcIdentity): Promise<UserRecord> => {
    const created: UserRecord = {
      username: identity.username,
      passwordHash: '',
      admin: identity.admin ?? false,
      projects: [],
      createdAt: clock.now(),
      oidcSubjects: { [identity.issuer]: identity.subject },
    };
    // Two first requests at once: one creates, the other reads what it created.
    const user = (await store.getUser(identity.username)) ?? ((await store.createUser(created)) ? created : await store.getUser(identity.username));
    if (!user) throw new UnauthenticatedError(`The user ${identity.username} could not be created; try again`);
    if (user.disabled) throw new UnauthenticatedError('This account is disabled');
    const bound = user.oidcSubjects?.[identity.issuer];
    if (bound !== undefined && bound !== identity.subject)
      throw new UnauthenticatedError(`The user ${identity.username} belongs to another subject of ${identity.issuer}`);
    const admin = identity.admin ?? user.admin;
    if (bound === undefined || admin !== user.admin) {
      const next = { ...user, admin, oidcSubjects: { ...user.oidcSubjects, [identity.issuer]: identity.subject } };
      await store.updateUser(next);
      return next;
    }
    return user;
  };

  return {
    async signIn(token) {
      const { config, claims } = await verifier.verify(token);
      const identity = identityFromClaims(config, claims);
      const user = await userOf(identity);
      return viewerOf(user, await syncMemberships({ store, clock, logger: options.logger }, identity));
    },
  };
}
