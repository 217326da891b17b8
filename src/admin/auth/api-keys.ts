import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { ADMIN_ROLES, type AdminPrincipal, type AdminRole } from './roles';

/** One configured API key: only its SHA-256 is stored, so the config never holds the secret. */
export interface ApiKeyEntry {
  readonly id: string;
  readonly role: AdminRole;
  readonly sha256: string;
}

export const apiKeyEntriesSchema = z
  .array(
    z.strictObject({
      id: z.string().min(1).max(128),
      role: z.enum(ADMIN_ROLES),
      sha256: z
        .string()
        .regex(/^[0-9a-fA-F]{64}$/, { error: 'must be the 64 hex digits of a SHA-256' })
        .transform((hex) => hex.toLowerCase()),
    }),
  )
  .refine((keys) => new Set(keys.map((k) => k.id)).size === keys.length, {
    error: 'key ids must be unique',
  });

export function sha256Hex(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/**
 * Finds the key a presented secret belongs to. Hashing first gives equal-length buffers, and every
 * entry is compared (no early exit), so the time taken says nothing about which bytes matched.
 */
export function matchApiKey(
  keys: readonly ApiKeyEntry[],
  presented: string,
): AdminPrincipal | undefined {
  const digest = createHash('sha256').update(presented, 'utf8').digest();
  let found: ApiKeyEntry | undefined;
  for (const key of keys) {
    const stored = Buffer.from(key.sha256, 'hex');
    if (stored.length === digest.length && timingSafeEqual(stored, digest) && !found) found = key;
  }
  return found ? { id: found.id, role: found.role, via: 'api-key' } : undefined;
}
