import { getCountries } from 'libphonenumber-js/max';
import { z } from 'zod';
import {
  DEFAULT_REFUSED_KINDS,
  NUMBER_KINDS,
  type NumberKind,
  type SpendGuardConfig,
} from '../policy/spend-guard';

/** A whole number from 0 (no limit) to max; unset or empty takes the default. */
const count = (fallback: number, max: number) =>
  z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return fallback;
      const value = Number(raw);
      if (!/^\d+$/.test(raw) || value > max) {
        ctx.addIssue({
          code: 'custom',
          message: `must be a whole number from 0 (no limit) to ${max}, got "${raw}"`,
        });
        return z.NEVER;
      }
      return value;
    });

/** The countries libphonenumber has numbering plans for: every code a destination can have. */
const KNOWN_COUNTRIES: readonly string[] = getCountries();

/** Comma-separated ISO 3166 alpha-2 codes; unset or empty allows every country. */
const countryList = z
  .string()
  .trim()
  .optional()
  .transform((raw, ctx) => {
    if (raw === undefined || raw === '') return undefined;
    const codes = raw.split(',').map((code) => code.trim().toUpperCase());
    const bad = codes.filter((code) => !KNOWN_COUNTRIES.includes(code));
    if (bad.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `must be comma-separated ISO 3166 alpha-2 country codes (e.g. US,GB), unknown: ${bad.map((b) => `"${b}"`).join(', ')}`,
      });
      return z.NEVER;
    }
    return [...new Set(codes)];
  });

const refusedKinds = z
  .string()
  .trim()
  .optional()
  .transform((raw, ctx): readonly NumberKind[] => {
    if (raw === undefined || raw === '') return DEFAULT_REFUSED_KINDS;
    if (raw.toLowerCase() === 'none') return [];
    const kinds = raw.split(',').map((kind) => kind.trim().toUpperCase());
    const bad = kinds.filter((kind) => !(NUMBER_KINDS as readonly string[]).includes(kind));
    if (bad.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `must be none or a comma-separated list of ${NUMBER_KINDS.join(', ')}, unknown: ${bad.join(', ')}`,
      });
      return z.NEVER;
    }
    return NUMBER_KINDS.filter((kind) => kinds.includes(kind));
  });

/** The spend guard's variables; spread into the service's environment schema. */
export const spendGuardEnvironmentShape = {
  SPEND_GUARD_REFUSED_NUMBER_TYPES: refusedKinds,
  SPEND_GUARD_SMS_COUNTRIES: countryList,
  SPEND_GUARD_WHATSAPP_COUNTRIES: countryList,
  SPEND_GUARD_NUMBER_PER_MINUTE: count(5, 100000),
  SPEND_GUARD_NUMBER_PER_HOUR: count(20, 1000000),
  SPEND_GUARD_COUNTRY_PER_HOUR: count(0, 100000000),
  SPEND_GUARD_SMS_DAILY_BUDGET: count(0, 1000000000),
  SPEND_GUARD_WHATSAPP_DAILY_BUDGET: count(0, 1000000000),
  // The counters are global (not per customer): deployments or test runs sharing one Redis need
  // their own prefix. A brace would become the Redis Cluster hash tag.
  SPEND_GUARD_KEY_PREFIX: z
    .string()
    .trim()
    .regex(/^[^{}\s]*$/, 'must not contain braces or spaces')
    .default(''),
};

type SpendGuardEnvironment = z.output<z.ZodObject<typeof spendGuardEnvironmentShape>>;

export function toSpendGuardConfig(e: SpendGuardEnvironment): SpendGuardConfig {
  return {
    keyPrefix: e.SPEND_GUARD_KEY_PREFIX,
    refusedKinds: e.SPEND_GUARD_REFUSED_NUMBER_TYPES,
    countries: { sms: e.SPEND_GUARD_SMS_COUNTRIES, whatsapp: e.SPEND_GUARD_WHATSAPP_COUNTRIES },
    numberPerMinute: e.SPEND_GUARD_NUMBER_PER_MINUTE,
    numberPerHour: e.SPEND_GUARD_NUMBER_PER_HOUR,
    countryPerHour: e.SPEND_GUARD_COUNTRY_PER_HOUR,
    dailyBudget: {
      sms: e.SPEND_GUARD_SMS_DAILY_BUDGET,
      whatsapp: e.SPEND_GUARD_WHATSAPP_DAILY_BUDGET,
    },
  };
}
