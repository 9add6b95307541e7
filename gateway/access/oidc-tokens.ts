/**
 * Verifying OIDC access tokens (JWT) with jose: the issuer is picked by the
 * token's `iss` among the trusted ones, its keys are the JWKS its discovery
 * document names (fetched on the first token, cached and rotated by jose),
 * and the signature, algorithm, issuer, audience and expiry are checked
 * against the gateway's clock.
 */
import { createRemoteJWKSet, decodeJwt, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';

import type { Clock } from '../../shared/clock.js';
import { UnauthenticatedError } from '../../shared/errors.js';
import type { OidcIssuerConfig } from './oidc-config.js';

const DISCOVERY_TIMEOUT_MS = 5_000;

export interface VerifiedToken {
  config: OidcIssuerConfig;
  claims: JWTPayload;
}

export interface OidcTokenVerifier {
  /** The trusted issuer of the token and its verified claims; UnauthenticatedError for any token that fails a check. */
  verify(token: string): Promise<VerifiedToken>;
}

function discoveryUrlOf(config: OidcIssuerConfig): string {
  return config.discoveryUrl ?? `${config.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
}

/** The issuer's JWKS, as its discovery document names it; the document must name the same issuer (OpenID Connect Discovery 4.3). */
async function discoverKeys(config: OidcIssuerConfig): Promise<JWTVerifyGetKey> {
  const response = await fetch(discoveryUrlOf(config), { signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS), redirect: 'error' });
  if (!response.ok) throw new Error(`discovery answered HTTP ${response.status}`);
  const document = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
  if (document.issuer !== config.issuer) throw new Error(`discovery names issuer ${String(document.issuer)}`);
  if (typeof document.jwks_uri !== 'string') throw new Error('discovery names no jwks_uri');
  return createRemoteJWKSet(new URL(document.jwks_uri), { timeoutDuration: DISCOVERY_TIMEOUT_MS });
}

/** Why a token failed, in words for its holder. */
function refusal(error: unknown, config: OidcIssuerConfig): UnauthenticatedError {
  if (error instanceof errors.JWTExpired) return new UnauthenticatedError('The token has expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return new UnauthenticatedError('The token is issued for another audience, not this gateway');
    return new UnauthenticatedError(`The token's ${error.claim} claim is not accepted (${error.reason})`);
  }
  if (error instanceof errors.JOSEAlgNotAllowed)
    return new UnauthenticatedError(`The token is signed with an algorithm not accepted for ${config.issuer}`);
  if (error instanceof errors.JWSSignatureVerificationFailed || error instanceof errors.JWKSNoMatchingKey)
    return new UnauthenticatedError(`The token's signature does not verify with the keys of ${config.issuer}`);
  if (error instanceof errors.JOSEError) return new UnauthenticatedError(`The token is not a valid JWT: ${error.message}`);
  return new UnauthenticatedError(`The keys of ${config.issuer} could not be fetched to check the token; try again`, { cause: error });
}

export function createOidcTokenVerifier(options: { issuers: readonly OidcIssuerConfig[]; clock: Clock }): OidcTokenVerifier {
  const configs = new Map(options.issuers.map((config) => [config.issuer, config]));
  /** Per issuer, its keys once discovered; a failed discovery is forgotten, so the next token tries again. */
  const keys = new Map<string, Promise<JWTVerifyGetKey>>();
  const keysOf = (config: OidcIssuerConfig): Promise<JWTVerifyGetKey> => {
    let found = keys.get(config.issuer);
    if (!found) {
      found = discoverKeys(config);
      keys.set(config.issuer, found);
      found.catch(() => keys.delete(config.issuer));
    }
    return found;
  };

  return {
    async verify(token) {
      let issuer: unknown;
      try {
        issuer = decodeJwt(token).iss;
      } catch {
        throw new UnauthenticatedError('The token is not a valid JWT');
      }
      const config = typeof issuer === 'string' ? configs.get(issuer) : undefined;
      if (!config) throw new UnauthenticatedError(`The token's issuer ${String(issuer).slice(0, 200)} is not one this gateway trusts`);
      try {
        const { payload } = await jwtVerify(token, await keysOf(config), {
          issuer: config.issuer,
          audience: config.audience,
          algorithms: config.algorithms,
          clockTolerance: config.clockToleranceSeconds,
          currentDate: new Date(options.clock.now()),
          requiredClaims: ['exp', 'sub'],
        });
        return { config, claims: payload };
      } catch (error) {
        throw refusal(error, config);
      }
    },
  };
}
