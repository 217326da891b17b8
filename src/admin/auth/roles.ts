import { SetMetadata } from '@nestjs/common';

/** Support roles, least privileged first: each one may do everything the ones before it may. */
export const ADMIN_ROLES = ['viewer', 'agent', 'admin'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

export function isAdminRole(value: unknown): value is AdminRole {
  return typeof value === 'string' && (ADMIN_ROLES as readonly string[]).includes(value);
}

export function roleAtLeast(have: AdminRole, need: AdminRole): boolean {
  return ADMIN_ROLES.indexOf(have) >= ADMIN_ROLES.indexOf(need);
}

/** Who called: an API key's id or the token's subject, never the credential itself. */
export interface AdminPrincipal {
  readonly id: string;
  readonly role: AdminRole;
  readonly via: 'api-key' | 'oidc';
}

export const MIN_ROLE_KEY = 'omnigate:admin:min-role';

/** The least role a route needs; the guard refuses every route that does not state one. */
export const MinRole = (role: AdminRole): MethodDecorator & ClassDecorator =>
  SetMetadata(MIN_ROLE_KEY, role);
