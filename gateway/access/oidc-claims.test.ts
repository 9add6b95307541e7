import { describe, expect, it } from 'vitest';

import { ConfigError, readConfig } from '../../shared/config.js';
import { UnauthenticatedError } from '../../shared/errors.js';
import type { ProjectRecord } from '../store/store.js';
import { claimAt, identityFromClaims } from './oidc-claims.js';
import { commandLineSignIns, oidcIssuers, oidcIssuersSetting, type OidcIssuerInput } from './oidc-config.js';
import { reconcileMembership } from './oidc-memberships.js';

const ISSUER = 'https://idp.example.org/realms/acme';

function config(extra: Partial<OidcIssuerInput> = {}) {
  return oidcIssuers([
    {
      issuer: ISSUER,
      audience: 'switchyard',
      namespace: 'acme',
      usernameClaim: 'preferred_username',
      memberships: [
        { group: 'genomics', project: 'genomics', role: 'USER' },
        { group: 'genomics-leads', project: 'genomics', role: 'ADMIN' },
        { group: 'physics', project: 'physics', role: 'USER' },
      ],
      ...extra,
    },
  ])[0]!;
}

describe('claims to a user', () => {
  it('names the user by the configured claim in the issuer namespace', () => {
    const identity = identityFromClaims(config(), { sub: 's-1', preferred_username: 'alice' });
    expect(identity).toMatchObject({ username: 'alice@acme', issuer: ISSUER, subject: 's-1', admin: null });
    expect(identityFromClaims(config({ usernameClaim: 'sub' }), { sub: 'Ab-12' }).username).toBe('Ab-12@acme');
  });

  it('gives two issuers different users for the same name unless they share a namespace', () => {
    const other = { ...config(), issuer: 'https://other.example.org', namespace: 'other' };
    const claims = { sub: 's-1', preferred_username: 'alice' };
    expect(identityFromClaims(other, claims).username).not.toBe(identityFromClaims(config(), claims).username);
    expect(identityFromClaims({ ...other, namespace: 'acme' }, claims).username).toBe('alice@acme');
  });

  it('without a namespace takes the claim as a local user name, and refuses one that is not', () => {
    expect(identityFromClaims(config({ namespace: null }), { sub: 's', preferred_username: 'alice' }).username).toBe('alice');
    for (const name of ['admin', 'Alice', 'a', 'alice@acme', '1alice']) {
      expect(() => identityFromClaims(config({ namespace: null }), { sub: 's', preferred_username: name })).toThrow(UnauthenticatedError);
    }
  });

  it('refuses a token without the user claim, without a subject, or with a name that would break the namespace', () => {
    expect(() => identityFromClaims(config(), { sub: 's' })).toThrow(/no preferred_username claim/);
    expect(() => identityFromClaims(config(), { preferred_username: 'alice' })).toThrow(/no subject/);
    for (const name of ['alice@evil', 'a b', '.alice', 'x'.repeat(65), 42]) {
      expect(() => identityFromClaims(config(), { sub: 's', preferred_username: name })).toThrow(UnauthenticatedError);
    }
  });
});

describe('claims to memberships and administrators', () => {
  it('maps groups to project roles, the highest role winning, and names every mapped project', () => {
    const identity = identityFromClaims(config(), { sub: 's', preferred_username: 'a', groups: ['genomics', 'genomics-leads', 'unmapped'] });
    expect([...identity.roles]).toEqual([['genomics', 'ADMIN']]);
    expect([...identity.mappedProjects].sort()).toEqual(['genomics', 'physics']);
    expect(identityFromClaims(config(), { sub: 's', preferred_username: 'a', groups: 'physics' }).roles).toEqual(new Map([['physics', 'USER']]));
    expect(identityFromClaims(config(), { sub: 's', preferred_username: 'a' }).roles.size).toBe(0);
  });

  it('reads a nested groups claim by a dotted path, and refuses a malformed one', () => {
    const nested = config({ groupsClaim: 'realm_access.roles' });
    expect(identityFromClaims(nested, { sub: 's', preferred_username: 'a', realm_access: { roles: ['physics'] } }).roles.get('physics')).toBe('USER');
    expect(claimAt({ 'https://x/groups': ['g'] }, 'https://x/groups')).toEqual(['g']);
    expect(() => identityFromClaims(config(), { sub: 's', preferred_username: 'a', groups: [1] })).toThrow(/groups claim/);
  });

  it('decides the administrator flag only when adminGroups are configured', () => {
    const withAdmins = config({ adminGroups: ['ops'] });
    expect(identityFromClaims(withAdmins, { sub: 's', preferred_username: 'a', groups: ['ops'] }).admin).toBe(true);
    expect(identityFromClaims(withAdmins, { sub: 's', preferred_username: 'a', groups: ['genomics'] }).admin).toBe(false);
    expect(identityFromClaims(config(), { sub: 's', preferred_username: 'a', groups: ['ops'] }).admin).toBeNull();
  });
});

describe('the issuers setting', () => {
  it('fills in defaults and refuses bad lists with the variable named', () => {
    const [issuer] = readConfig(
      { SWITCHYARD_OIDC_ISSUERS: oidcIssuersSetting },
      {
        SWITCHYARD_OIDC_ISSUERS: JSON.stringify([{ issuer: ISSUER, audience: 'switchyard', namespace: 'acme' }]),
      },
    ).SWITCHYARD_OIDC_ISSUERS;
    expect(issuer).toMatchObject({ usernameClaim: 'sub', groupsClaim: 'groups', memberships: [], algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'] });
    expect(readConfig({ SWITCHYARD_OIDC_ISSUERS: oidcIssuersSetting }, {}).SWITCHYARD_OIDC_ISSUERS).toEqual([]);
    const bad = [
      'not json',
      JSON.stringify([{ issuer: ISSUER, audience: 'switchyard' }]),
      JSON.stringify([{ issuer: ISSUER, audience: 'switchyard', namespace: 'acme', algorithms: ['HS256'] }]),
      JSON.stringify([{ issuer: ISSUER, audience: 'switchyard', namespace: 'acme', memberships: [{ group: 'g', project: 'p1', role: 'OWNER' }] }]),
      JSON.stringify([
        { issuer: ISSUER, audience: 'a', namespace: 'a' },
        { issuer: ISSUER, audience: 'b', namespace: 'b' },
      ]),
      // The command line's client is public: a secret has no place in it.
      JSON.stringify([{ issuer: ISSUER, audience: 'a', namespace: 'a', commandLine: { clientId: 'cli', clientSecret: 's' } }]),
    ];
    for (const value of bad) {
      expect(() => readConfig({ SWITCHYARD_OIDC_ISSUERS: oidcIssuersSetting }, { SWITCHYARD_OIDC_ISSUERS: value })).toThrow(ConfigError);
    }
  });

  it('publishes, for the command line, only the issuers that offer it a sign-in, with the default scope', () => {
    const issuers = oidcIssuers([
      { issuer: ISSUER, audience: 'a', namespace: 'a', commandLine: { clientId: 'cli' } },
      { issuer: 'https://other.example/', audience: 'b', namespace: 'b' },
    ]);
    expect(commandLineSignIns(issuers)).toEqual([{ issuer: ISSUER, clientId: 'cli', scope: 'openid offline_access' }]);
  });
});

describe('bringing a membership in line', () => {
  const project = (): ProjectRecord => ({
    id: 'genomics',
    title: 'Genomics',
    archived: false,
    createdAt: 0,
    createdBy: 'admin',
    members: [
      { username: 'pi', role: 'PI', addedAt: 0 },
      { username: 'u', role: 'USER', addedAt: 0 },
    ],
    groups: [{ name: 'team', members: ['u'] }],
    invites: [{ username: 'new', role: 'USER', invitedBy: 'pi', invitedAt: 0 }],
    version: 3,
  });

  it('adds, changes and removes (from groups too), and changes nothing when the role is already held', () => {
    const added = reconcileMembership(project(), 'new', 'ADMIN', 5)!;
    expect(added.members).toContainEqual({ username: 'new', role: 'ADMIN', addedAt: 5 });
    expect(added.invites).toEqual([]);
    expect(reconcileMembership(project(), 'u', 'ADMIN', 5)!.members).toContainEqual({ username: 'u', role: 'ADMIN', addedAt: 0 });
    const removed = reconcileMembership(project(), 'u', null, 5)!;
    expect(removed.members.map((m) => m.username)).toEqual(['pi']);
    expect(removed.groups).toEqual([{ name: 'team', members: [] }]);
    expect(reconcileMembership(project(), 'u', 'USER', 5)).toBeNull();
    expect(reconcileMembership(project(), 'stranger', null, 5)).toBeNull();
  });

  it('keeps exactly one PI: a user mapped to PI takes the role over, a PI keeps it whatever it is mapped to', () => {
    const taken = reconcileMembership(project(), 'u', 'PI', 5)!;
    expect(taken.members.filter((m) => m.role === 'PI').map((m) => m.username)).toEqual(['u']);
    expect(taken.members.find((m) => m.username === 'pi')!.role).toBe('ADMIN');
    expect(reconcileMembership(project(), 'pi', null, 5)).toBeNull();
    expect(reconcileMembership(project(), 'pi', 'USER', 5)).toBeNull();
  });
});
