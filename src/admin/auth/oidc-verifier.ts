import type { JWTPayload } from 'jose';

type Jose = typeof import('jose');

/**
 * jose ships as ES modules only. Loading it on first use keeps every module that merely imports
 * the admin API loadable where ES modules cannot be required (jest without VM modules); Node 24
 * itself loads it either way.
 */
let loading: Promise<Jose> | undefined;
const loadJose = (): Promise<Jose> => (loading ??= import('jose'));
import { isAdminRole, ADMIN_ROLES, type AdminPrincipal, type AdminRole } from './roles';

export interface OidcSettings {
  readonly jwksUrl: string;
  readonly issuer: string;
  readonly audience: string;
  readonly algorithms: readonly string[];
  readonly roleClaim: string;
  /** Seconds; when set, a token must carry iat and be no older than this. */
  readonly maxTokenAgeSeconds?: number | undefined;
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
 * expiry, which is required rather than optional. With a maximum token age, iat is required too,
 * so a long-lived token stolen from a log or a browser stops working early.
 */
export class OidcVerifier {
  private jwks: ReturnType<Jose['createRemoteJWKSet']> | undefined;

  constructor(private readonly settings: OidcSettings) {}

  async verify(token: string): Promise<AdminPrincipal> {
    const jose = await loadJose();
    // One key set per verifier, so its cache of the provider's keys lives as long as it does.
    this.jwks ??= jose.createRemoteJWKSet(new URL(this.settings.jwksUrl), {
      timeoutDuration: 5000,
      cooldownDuration: 30000,
    });
    const maxAge = this.settings.maxTokenAgeSeconds;
    let payload: JWTPayload;
    try {
      ({ payload } = await jose.jwtVerify(token, this.jwks, {
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        algorithms: [...this.settings.algorithms],
        requiredClaims: maxAge === undefined ? ['exp', 'sub'] : ['exp', 'sub', 'iat'],
        ...(maxAge !== undefined && { maxTokenAge: maxAge }),
        clockTolerance: 5,
      }));
    } catch (error) {
      throw new TokenRejectedError(describe(error, jose.errors));
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

function describe(error: unknown, errors: Jose['errors']): string {
  if (error instanceof errors.JWTExpired) {
    return error.claim === 'iat'
      ? 'the token was issued longer ago than this gateway accepts'
      : 'the token has expired';
  }
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
