import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import { isAdminRole, ADMIN_ROLES, type AdminPrincipal, type AdminRole } from './roles';

export interface OidcSettings {
  readonly jwksUrl: string;
  readonly issuer: string;
  readonly audience: string;
  readonly algorithms: readonly string[];
  readonly roleClaim: string;
}

/** Why a token was refused, in words safe to return (never the token). */
export class TokenRejectedError extends Error {
  override readonly name = 'TokenRejectedError';
}

/** Looks like a compact JWS (three base64url parts): worth verifying as a JWT. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}

/** The highest known role in the claim (a string or a list of strings). */
function roleFrom(payload: JWTPayload, claim: string): AdminRole | undefined {
  const raw = payload[claim];
  const values = Array.isArray(raw) ? raw : [raw];
  const roles = values.filter(isAdminRole);
  return roles.sort((a, b) => ADMIN_ROLES.indexOf(b) - ADMIN_ROLES.indexOf(a))[0];
}

/**
 * Verifies OIDC access tokens against the provider's JWKS (fetched and cached by jose, refetched
 * when an unknown key id appears): signature with the pinned algorithms, issuer, audience and
 * expiry, which is required rather than optional.
 */
export class OidcVerifier {
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;

  constructor(private readonly settings: OidcSettings) {
    this.jwks = createRemoteJWKSet(new URL(settings.jwksUrl), {
      timeoutDuration: 5000,
      cooldownDuration: 30000,
    });
  }

  async verify(token: string): Promise<AdminPrincipal> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.jwks, {
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        algorithms: [...this.settings.algorithms],
        requiredClaims: ['exp', 'sub'],
        clockTolerance: 5,
      }));
    } catch (error) {
      throw new TokenRejectedError(describe(error));
    }
    const role = roleFrom(payload, this.settings.roleClaim);
    if (role === undefined) {
      throw new TokenRejectedError(
        `the token has no ${this.settings.roleClaim} claim naming one of ${ADMIN_ROLES.join(', ')}`,
      );
    }
    return { id: `oidc:${payload.sub ?? 'unknown'}`, role, via: 'oidc' };
  }
}

function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the token has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    return `the token's ${error.claim} claim is not accepted here`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed)
    return 'the token is signed with another algorithm';
  if (error instanceof errors.JWKSNoMatchingKey) return 'the token was signed by an unknown key';
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return 'the token signature is invalid';
  if (error instanceof errors.JOSEError) return 'the token could not be verified';
  return 'the token could not be verified (the identity provider keys are unavailable)';
}
