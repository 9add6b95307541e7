/**
 * The OpenID Connect issuers a gateway trusts, as SWITCHYARD_OIDC_ISSUERS
 * gives them: a JSON list, one object per issuer, validated at start.
 */
import { z } from 'zod';

/** Signature algorithms with public keys in a JWKS; HS* (a shared secret) and `none` are never accepted. */
export const OIDC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

const PROJECT_ID = /^[a-z][a-z0-9._-]{1,63}$/;
const NAMESPACE = /^[a-z][a-z0-9-]{0,31}$/;

const membershipMapping = z.object({
  /** A value of the groups claim. */
  group: z.string().min(1),
  project: z.string().regex(PROJECT_ID, 'must be a project id'),
  role: z.enum(['PI', 'ADMIN', 'USER']),
});

export const oidcIssuerSchema = z
  .object({
    /** The issuer's identifier, exactly as its tokens' `iss` and its discovery document name it. */
    issuer: z.url({ protocol: /^https?$/ }),
    /** The audience (`aud`) the gateway's access tokens are issued for: one value or several. */
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    /**
     * Users of this issuer are called `<claim value>@<namespace>`, so no two issuers' users (nor a
     * local user, whose name has no "@") share a name; issuers given the same namespace share their
     * users. null: the claim value is the user name itself, and a local user of that name signs in.
     */
    namespace: z.string().regex(NAMESPACE, 'must be 1-32 characters of a-z, 0-9, "-", starting with a letter').nullable(),
    /** The claim that names the user. @default 'sub' */
    usernameClaim: z.string().min(1).default('sub'),
    /** The claim that lists the user's groups (a dotted path, such as `realm_access.roles`, reaches into objects). @default 'groups' */
    groupsClaim: z.string().min(1).default('groups'),
    /** Which groups make a user a member of which project, and in which role; the highest role wins. @default [] */
    memberships: z.array(membershipMapping).default([]),
    /** Groups that make a user a site administrator. Without them the administrator flag is never changed by a sign-in. */
    adminGroups: z.array(z.string().min(1)).optional(),
    /** @default ['RS256', 'PS256', 'ES256', 'EdDSA'] */
    algorithms: z.array(z.enum(OIDC_ALGORITHMS)).min(1).default(['RS256', 'PS256', 'ES256', 'EdDSA']),
    /** Seconds of clock skew allowed on `exp`, `nbf` and `iat`. @default 30 */
    clockToleranceSeconds: z.number().int().min(0).max(300).default(30),
    /** Where the discovery document is. @default '<issuer>/.well-known/openid-configuration' */
    discoveryUrl: z.url({ protocol: /^https?$/ }).optional(),
    /**
     * The command line's sign-in with this issuer (the OAuth device flow, RFC 8628): a public client
     * registered there for it. Published at GET /api/v1/sso; without it the issuer is not offered there.
     */
    commandLine: z
      .object({
        clientId: z.string().min(1),
        /** @default 'openid offline_access' (offline_access: a refresh token, so a login outlives its first access token) */
        scope: z.string().min(1).default('openid offline_access'),
        /** A resource indicator (RFC 8707) to ask the token for, where the issuer sets the audience by it. */
        resource: z.url().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type OidcIssuerConfig = z.infer<typeof oidcIssuerSchema>;
export type OidcIssuerInput = z.input<typeof oidcIssuerSchema>;

const issuerList = z
  .array(oidcIssuerSchema)
  .refine((issuers) => new Set(issuers.map((i) => i.issuer)).size === issuers.length, 'names an issuer twice');

/** SWITCHYARD_OIDC_ISSUERS: a JSON list of issuers; unset or empty, no OIDC tokens are accepted. */
export const oidcIssuersSetting = z
  .string()
  .default('[]')
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON list of issuers' });
      return z.NEVER;
    }
  })
  .pipe(issuerList);

/** Issuers as code gives them (tests, embedders), with the defaults filled in. */
export function oidcIssuers(input: readonly OidcIssuerInput[]): OidcIssuerConfig[] {
  return issuerList.parse(input);
}

/** What a command line needs to sign in with an issuer: published at GET /api/v1/sso, no secret in it. */
export interface CommandLineSignIn {
  issuer: string;
  clientId: string;
  scope: string;
  resource?: string;
}

/** The issuers that offer the command line a sign-in, in the order they are configured. */
export function commandLineSignIns(issuers: readonly OidcIssuerConfig[]): CommandLineSignIn[] {
  return issuers.flatMap(({ issuer, commandLine }) => (commandLine ? [{ issuer, ...commandLine }] : []));
}
