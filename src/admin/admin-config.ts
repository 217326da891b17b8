import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { apiKeyEntriesSchema, type ApiKeyEntry } from './auth/api-keys';

/** Signing algorithms an OIDC provider may use; "none" and HMAC are never accepted. */
const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;

const positive = (fallback: number, max: number) =>
  z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return fallback;
      const value = Number(raw);
      if (!/^\d+$/.test(raw) || value < 1 || value > max) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number from 1 to ${max}` });
        return z.NEVER;
      }
      return value;
    });

/** The admin API's variables; spread into the service's environment schema. */
export const adminEnvironmentShape = {
  ADMIN_API_KEYS: z.string().trim().optional(),
  ADMIN_API_KEYS_FILE: z.string().trim().optional(),
  ADMIN_OIDC_JWKS_URL: z
    // Plain http would let anyone on the path swap in their own keys and sign tokens for any role.
    .url({ protocol: /^https$/, error: 'must be an https URL' })
    .optional()
    .or(z.literal('')),
  ADMIN_OIDC_ISSUER: z.string().trim().optional(),
  ADMIN_OIDC_AUDIENCE: z.string().trim().optional(),
  ADMIN_OIDC_ALGORITHMS: z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      const list = (raw || 'RS256')
        .split(',')
        .map((a) => a.trim())
        .filter(Boolean);
      const bad = list.filter((a) => !(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(a));
      if (bad.length > 0 || list.length === 0) {
        ctx.addIssue({
          code: 'custom',
          message: `must be a comma-separated list of ${ASYMMETRIC_ALGORITHMS.join(', ')}`,
        });
        return z.NEVER;
      }
      return list;
    }),
  ADMIN_OIDC_ROLE_CLAIM: z.string().trim().min(1).default('omnigate_role'),
  /** Off when unset; when set, a token must carry iat no older than this many seconds. */
  ADMIN_OIDC_MAX_TOKEN_AGE_SECONDS: positive(0, 604800),
  ADMIN_RATE_LIMIT_PER_MINUTE: positive(120, 100000),
  ADMIN_RESENDS_PER_CUSTOMER_PER_HOUR: positive(5, 10000),
  ADMIN_DRY_RUNS_PER_CUSTOMER_PER_HOUR: positive(30, 10000),
  ADMIN_AUTH_FAILURES_PER_MINUTE: positive(10, 10000),
  ADMIN_BODY_LIMIT_BYTES: positive(16384, 1048576),
};

export interface AdminConfig {
  readonly apiKeys: readonly ApiKeyEntry[];
  readonly oidc:
    | {
        readonly jwksUrl: string;
        readonly issuer: string;
        readonly audience: string;
        readonly algorithms: readonly string[];
        readonly roleClaim: string;
        /** Seconds; undefined when tokens of any age (within exp) are accepted. */
        readonly maxTokenAgeSeconds: number | undefined;
      }
    | undefined;
  readonly ratePerMinute: number;
  readonly resendsPerCustomerPerHour: number;
  readonly dryRunsPerCustomerPerHour: number;
  /** Failed authentications a minute from one source address before it is refused with 429. */
  readonly authFailuresPerMinute: number;
  readonly bodyLimitBytes: number;
}

type AdminEnvironment = z.output<z.ZodObject<typeof adminEnvironmentShape>>;

/** Builds the admin config, adding one line per bad variable to `problems`. */
export function loadAdminConfig(e: AdminEnvironment, problems: string[]): AdminConfig {
  let apiKeys: ApiKeyEntry[] = [];
  const sources: Array<[string, () => string]> = [];
  if (e.ADMIN_API_KEYS) sources.push(['ADMIN_API_KEYS', () => e.ADMIN_API_KEYS ?? '']);
  if (e.ADMIN_API_KEYS_FILE) {
    const file = e.ADMIN_API_KEYS_FILE;
    sources.push(['ADMIN_API_KEYS_FILE', () => readFileSync(file, 'utf8')]);
  }
  for (const [name, read] of sources) {
    try {
      const parsed = apiKeyEntriesSchema.safeParse(JSON.parse(read()));
      if (parsed.success) apiKeys = [...apiKeys, ...parsed.data];
      else problems.push(`${name}: ${z.prettifyError(parsed.error).replace(/\n/g, ' ')}`);
    } catch (error) {
      problems.push(`${name}: cannot be read as JSON (${(error as Error).message})`);
    }
  }
  const oidcParts = [e.ADMIN_OIDC_JWKS_URL, e.ADMIN_OIDC_ISSUER, e.ADMIN_OIDC_AUDIENCE];
  const given = oidcParts.filter((v) => v !== undefined && v !== '').length;
  if (given > 0 && given < 3) {
    problems.push(
      'ADMIN_OIDC_JWKS_URL, ADMIN_OIDC_ISSUER, ADMIN_OIDC_AUDIENCE: set all three or none',
    );
  }
  return {
    apiKeys,
    oidc:
      given === 3
        ? {
            jwksUrl: e.ADMIN_OIDC_JWKS_URL ?? '',
            issuer: e.ADMIN_OIDC_ISSUER ?? '',
            audience: e.ADMIN_OIDC_AUDIENCE ?? '',
            algorithms: e.ADMIN_OIDC_ALGORITHMS,
            roleClaim: e.ADMIN_OIDC_ROLE_CLAIM,
            maxTokenAgeSeconds: e.ADMIN_OIDC_MAX_TOKEN_AGE_SECONDS || undefined,
          }
        : undefined,
    ratePerMinute: e.ADMIN_RATE_LIMIT_PER_MINUTE,
    resendsPerCustomerPerHour: e.ADMIN_RESENDS_PER_CUSTOMER_PER_HOUR,
    dryRunsPerCustomerPerHour: e.ADMIN_DRY_RUNS_PER_CUSTOMER_PER_HOUR,
    authFailuresPerMinute: e.ADMIN_AUTH_FAILURES_PER_MINUTE,
    bodyLimitBytes: e.ADMIN_BODY_LIMIT_BYTES,
  };
}
