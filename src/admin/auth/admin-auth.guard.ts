import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import type { AppConfig } from '../../config/environment';
import { APP_CONFIG } from '../../config/app-config.token';
import { LOGGER, type Logger } from '../../observability/logger';
import { Clock } from '../../repositories/clock';
import { forbidden, ProblemError, tooManyRequests, unauthenticated } from '../problem';
import { ADMIN_RATE_LIMITS, type RateLimitStore } from '../rate-limit.repository';
import { matchApiKey } from './api-keys';
import { looksLikeJwt, OidcVerifier, TokenRejectedError } from './oidc-verifier';
import { MIN_ROLE_KEY, roleAtLeast, type AdminPrincipal, type AdminRole } from './roles';

/** Where the guard leaves the caller for the route. */
export interface AdminRequest extends Request {
  adminPrincipal?: AdminPrincipal;
}

/**
 * Authenticates every admin route (API key or OIDC token), checks the route's least role and the
 * caller's request rate. Refusals are problem documents: 401 without a usable credential, 403 for
 * a role below the route's, 429 over the rate. The token itself is never logged.
 *
 * Rejected credentials are counted per source address (in Redis when configured, so every replica
 * sees them): past ADMIN_AUTH_FAILURES_PER_MINUTE, the address gets 429 before its credential is
 * even checked, so guessing keys or replaying tokens cannot go faster than that.
 */
@Injectable()
export class AdminAuthGuard implements CanActivate {
  private readonly oidc: OidcVerifier | undefined;

  constructor(
    private readonly reflector: Reflector,
    @Inject(ADMIN_RATE_LIMITS) private readonly limits: RateLimitStore,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    const oidc = config.admin.oidc;
    this.oidc = oidc ? new OidcVerifier(oidc) : undefined;
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const need = this.reflector.getAllAndOverride<AdminRole | undefined>(MIN_ROLE_KEY, [
      context.getHandler(),
      context.getClass(),
    ]);
    // A route that forgot its decorator is closed, not open.
    if (need === undefined) throw forbidden('this route states no role, so nobody may call it');
    const request = context.switchToHttp().getRequest<AdminRequest>();
    const token = bearerToken(request.headers.authorization);
    const principal = await this.authenticateFrom(request.ip ?? 'unknown', token);
    if (!roleAtLeast(principal.role, need)) {
      this.logger.info(
        { actor: principal.id, role: principal.role, need, path: request.path, component: 'admin' },
        'admin request refused: role too low',
      );
      throw forbidden(`this route needs the ${need} role; ${principal.id} has ${principal.role}`);
    }
    const rate = await this.limits.hit(
      `caller:${principal.id}`,
      this.config.admin.ratePerMinute,
      60000,
      this.clock.now().getTime(),
    );
    if (!rate.allowed) {
      throw tooManyRequests(
        `more than ${this.config.admin.ratePerMinute} requests a minute from ${principal.id}`,
        rate.retryAfterSeconds,
      );
    }
    request.adminPrincipal = principal;
    return true;
  }

  /** Checks the credential unless its source has failed too often this minute; counts failures. */
  private async authenticateFrom(source: string, token: string): Promise<AdminPrincipal> {
    const bucket = `auth-failures:${source}`;
    const limit = this.config.admin.authFailuresPerMinute;
    const failures = await this.limits.peek(bucket, limit, 60000, this.clock.now().getTime());
    if (failures.count >= limit) {
      throw tooManyRequests(
        `more than ${limit} failed sign-ins a minute from this address`,
        failures.retryAfterSeconds,
      );
    }
    try {
      return await this.authenticate(token);
    } catch (error) {
      if (error instanceof ProblemError && error.status === 401) {
        const counted = await this.limits.hit(bucket, limit, 60000, this.clock.now().getTime());
        if (counted.count === limit) {
          this.logger.warn(
            { component: 'admin', failures: counted.count },
            'admin sign-in throttled: too many failed credentials from one address',
          );
        }
      }
      throw error;
    }
  }

  private async authenticate(token: string): Promise<AdminPrincipal> {
    if (this.oidc && looksLikeJwt(token)) {
      try {
        return await this.oidc.verify(token);
      } catch (error) {
        if (error instanceof TokenRejectedError) throw unauthenticated(error.message);
        throw error;
      }
    }
    const principal = matchApiKey(this.config.admin.apiKeys, token);
    if (!principal) {
      throw unauthenticated(
        looksLikeJwt(token)
          ? 'OIDC tokens are not accepted here (no identity provider is configured)'
          : 'the API key is not known',
      );
    }
    return principal;
  }
}

function bearerToken(header: string | undefined): string {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!match?.[1]) throw unauthenticated('send Authorization: Bearer <API key or OIDC token>');
  return match[1];
}
