/**
 * What a verified OIDC access token says about its user, by the issuer's
 * configuration: the Switchyard user name (namespaced per issuer), whether it
 * is an administrator, and its role in each project the configuration maps.
 * Pure: no store, no network.
 */
import { UnauthenticatedError } from '../../shared/errors.js';
import type { ProjectRole } from '../store/store.js';
import { BOOTSTRAP_ADMIN, USERNAME } from './auth.js';
import type { OidcIssuerConfig } from './oidc-config.js';

/** A claim value that may stand before "@<namespace>": no "@", so the namespace is unambiguous. */
const NAMESPACED_VALUE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const RANK: Record<ProjectRole, number> = { USER: 1, ADMIN: 2, PI: 3 };

export interface OidcIdentity {
  username: string;
  issuer: string;
  subject: string;
  /** null: the configuration does not decide it (no adminGroups), and the stored flag stays. */
  admin: boolean | null;
  /** The user's role in each project the issuer's mapping names; a mapped project not here is one it is not a member of. */
  roles: Map<string, ProjectRole>;
  /** Every project the issuer's mapping names: the memberships a sign-in brings in line. */
  mappedProjects: Set<string>;
}

/** A claim by its name, or else by a dotted path into nested objects (`realm_access.roles`). */
export function claimAt(claims: Record<string, unknown>, name: string): unknown {
  if (name in claims) return claims[name];
  let value: unknown = claims;
  for (const part of name.split('.')) {
    if (value === null || typeof value !== 'object' || !(part in value)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function usernameOf(config: OidcIssuerConfig, claims: Record<string, unknown>): string {
  const value = claimAt(claims, config.usernameClaim);
  if (typeof value !== 'string' || value === '') throw new UnauthenticatedError(`The token has no ${config.usernameClaim} claim to name its user`);
  if (config.namespace === null) {
    if (!USERNAME.test(value) || value === BOOTSTRAP_ADMIN)
      throw new UnauthenticatedError(`The token's ${config.usernameClaim} "${value.slice(0, 80)}" is not a valid Switchyard user name`);
    return value;
  }
  if (!NAMESPACED_VALUE.test(value))
    throw new UnauthenticatedError(
      `The token's ${config.usernameClaim} "${value.slice(0, 80)}" must be 1-64 characters of letters, digits, ".", "_", "-" to name a user`,
    );
  return `${value}@${config.namespace}`;
}

function groupsOf(config: OidcIssuerConfig, claims: Record<string, unknown>): Set<string> {
  const value = claimAt(claims, config.groupsClaim);
  if (value === undefined) return new Set();
  if (typeof value === 'string') return new Set([value]);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return new Set(value);
  throw new UnauthenticatedError(`The token's ${config.groupsClaim} claim is neither a string nor a list of strings`);
}

/** The identity a token's verified claims stand for; UnauthenticatedError when they name no valid user. */
export function identityFromClaims(config: OidcIssuerConfig, claims: Record<string, unknown>): OidcIdentity {
  const subject = claims.sub;
  if (typeof subject !== 'string' || subject === '') throw new UnauthenticatedError('The token has no subject (sub)');
  const username = usernameOf(config, claims);
  const groups = groupsOf(config, claims);
  const roles = new Map<string, ProjectRole>();
  for (const mapping of config.memberships) {
    if (!groups.has(mapping.group)) continue;
    const held = roles.get(mapping.project);
    if (!held || RANK[mapping.role] > RANK[held]) roles.set(mapping.project, mapping.role);
  }
  return {
    username,
    issuer: config.issuer,
    subject,
    admin: config.adminGroups ? config.adminGroups.some((group) => groups.has(group)) : null,
    roles,
    mappedProjects: new Set(config.memberships.map((m) => m.project)),
  };
}
