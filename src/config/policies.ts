import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { channelSchema, CHANNELS } from '@omnigate/contracts';
import type { CategoryPolicy } from '../policy/model';
import { capRuleProblems, type CapRule } from '../policy/frequency-caps';

/**
 * Category policies and frequency-cap rules. Built-in defaults cover a typical setup; a JSON file
 * (CATEGORY_POLICIES_FILE, CAP_RULES_FILE, e.g. mounted from a ConfigMap) replaces them whole.
 * The category "*" is the policy for categories not listed.
 */
export const DEFAULT_CATEGORY_POLICIES: readonly CategoryPolicy[] = [
  {
    category: 'otp',
    transactional: true,
    optOutAllowed: false,
    requiresConsent: false,
    allowedChannels: ['sms', 'whatsapp', 'email'],
    fallbackChain: ['sms', 'whatsapp', 'email'],
    quietHours: 'ignore',
    ttlSeconds: 600,
  },
  {
    category: 'account_security',
    transactional: true,
    optOutAllowed: false,
    requiresConsent: false,
    allowedChannels: [...CHANNELS],
    fallbackChain: ['mobilepush', 'sms', 'email'],
    quietHours: 'ignore',
    ttlSeconds: 3600,
  },
  {
    category: 'order_updates',
    transactional: true,
    optOutAllowed: true,
    requiresConsent: false,
    allowedChannels: [...CHANNELS],
    fallbackChain: ['mobilepush', 'webpush', 'sms', 'email'],
    quietHours: 'defer',
    ttlSeconds: 86400,
  },
  {
    // A reminder that matters within the hour: an SMS not reported delivered in 10 minutes goes
    // out again by email (policy/escalation.ts).
    category: 'appointment_reminders',
    transactional: true,
    optOutAllowed: true,
    requiresConsent: false,
    allowedChannels: [...CHANNELS],
    fallbackChain: ['sms', 'email', 'mobilepush'],
    quietHours: 'defer',
    ttlSeconds: 6 * 3600,
    escalation: { unless: 'delivered', afterSeconds: 600 },
  },
  {
    category: 'marketing',
    transactional: false,
    optOutAllowed: true,
    requiresConsent: true,
    allowedChannels: ['email', 'mobilepush', 'webpush', 'sms', 'whatsapp'],
    fallbackChain: ['email', 'mobilepush', 'webpush'],
    quietHours: 'defer',
    ttlSeconds: 3 * 86400,
  },
  {
    category: '*',
    transactional: false,
    optOutAllowed: true,
    requiresConsent: false,
    allowedChannels: [...CHANNELS],
    fallbackChain: [...CHANNELS],
    quietHours: 'defer',
    ttlSeconds: 86400,
  },
];

export const DEFAULT_CAP_RULES: readonly CapRule[] = [
  {
    id: 'marketing-sms-daily',
    scope: { channel: 'sms', category: 'marketing' },
    windowSeconds: 86400,
    limit: 3,
    overCap: 'next_channel',
  },
  {
    id: 'marketing-daily',
    scope: { category: 'marketing' },
    windowSeconds: 86400,
    limit: 6,
    overCap: 'cap',
  },
  { id: 'customer-hourly', scope: {}, windowSeconds: 3600, limit: 30, overCap: 'defer' },
];

const categoryPolicySchema = z.strictObject({
  category: z.string().regex(/^(\*|[a-z0-9][a-z0-9_-]{0,63})$/),
  transactional: z.boolean(),
  optOutAllowed: z.boolean(),
  requiresConsent: z.boolean().default(false),
  allowedChannels: z.array(channelSchema).min(1),
  fallbackChain: z.array(channelSchema).min(1),
  quietHours: z.enum(['ignore', 'defer', 'drop']),
  ttlSeconds: z
    .int()
    .positive()
    .max(30 * 86400),
  escalation: z
    .strictObject({
      unless: z.enum(['delivered', 'read']),
      afterSeconds: z
        .int()
        .min(10)
        .max(7 * 86400),
    })
    .optional(),
});

const capRuleSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/),
  scope: z.strictObject({
    channel: channelSchema.optional(),
    category: z.string().min(1).optional(),
  }),
  windowSeconds: z
    .int()
    .positive()
    .max(31 * 86400),
  limit: z.int().nonnegative(),
  overCap: z.enum(['next_channel', 'defer', 'cap']),
});

function readJson(variable: string, path: string, problems: string[]): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    problems.push(
      `${variable}: cannot read ${path} as JSON (${error instanceof Error ? error.message : String(error)})`,
    );
    return undefined;
  }
}

export function loadCategoryPolicies(
  path: string | undefined,
  problems: string[],
): readonly CategoryPolicy[] {
  if (!path) return DEFAULT_CATEGORY_POLICIES;
  const raw = readJson('CATEGORY_POLICIES_FILE', path, problems);
  if (raw === undefined) return [];
  const parsed = z.array(categoryPolicySchema).min(1).safeParse(raw);
  if (!parsed.success) {
    problems.push(`CATEGORY_POLICIES_FILE: ${z.prettifyError(parsed.error).replace(/\n/g, ' ')}`);
    return [];
  }
  for (const policy of parsed.data) {
    const outside = policy.fallbackChain.filter((c) => !policy.allowedChannels.includes(c));
    if (outside.length > 0) {
      problems.push(
        `CATEGORY_POLICIES_FILE: ${policy.category}: fallbackChain lists ${outside.join(', ')}, not in allowedChannels`,
      );
    }
  }
  for (const policy of parsed.data) {
    if (policy.escalation && policy.escalation.afterSeconds >= policy.ttlSeconds) {
      problems.push(
        `CATEGORY_POLICIES_FILE: ${policy.category}: escalation.afterSeconds (${policy.escalation.afterSeconds}) must be shorter than ttlSeconds (${policy.ttlSeconds}), or it could never fire`,
      );
    }
  }
  const categories = parsed.data.map((p) => p.category);
  if (new Set(categories).size !== categories.length)
    problems.push('CATEGORY_POLICIES_FILE: a category is listed twice');
  return parsed.data;
}

export function loadCapRules(path: string | undefined, problems: string[]): readonly CapRule[] {
  if (!path) return DEFAULT_CAP_RULES;
  const raw = readJson('CAP_RULES_FILE', path, problems);
  if (raw === undefined) return [];
  const parsed = z.array(capRuleSchema).safeParse(raw);
  if (!parsed.success) {
    problems.push(`CAP_RULES_FILE: ${z.prettifyError(parsed.error).replace(/\n/g, ' ')}`);
    return [];
  }
  problems.push(...capRuleProblems(parsed.data).map((p) => `CAP_RULES_FILE: ${p}`));
  return parsed.data;
}

/** The policy of a category: its own entry, else "*", else none (the command is rejected). */
export function policyFor(
  policies: readonly CategoryPolicy[],
  category: string,
): CategoryPolicy | undefined {
  const own = policies.find((p) => p.category === category);
  if (own) return own;
  const fallback = policies.find((p) => p.category === '*');
  return fallback ? { ...fallback, category } : undefined;
}
