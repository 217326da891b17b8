import type { Channel } from '@omnigate/contracts';
import { parsePhoneNumberFromString, type NumberType } from 'libphonenumber-js/max';

/**
 * The spend guard for the channels billed per message to a phone number (SMS, WhatsApp): which
 * destinations are refused outright (number types and ranges used for toll fraud, countries
 * outside an allowlist), and which counters a send must find room in (velocity per number and per
 * country, a daily budget per channel). Pure: the counters' answers come in from the caller.
 */

export const SPEND_CHANNELS = ['sms', 'whatsapp'] as const satisfies readonly Channel[];
export type SpendChannel = (typeof SPEND_CHANNELS)[number];

export function isSpendChannel(channel: Channel): channel is SpendChannel {
  return (SPEND_CHANNELS as readonly Channel[]).includes(channel);
}

/**
 * What a destination number is: libphonenumber's type, or one of ours. The satellite (+881) and
 * international-network (+882, +883) ranges are named by their calling code, since the metadata
 * types them as mobile or VoIP (or not at all); INVALID is a number no range of its country holds.
 */
export type NumberKind =
  NonNullable<NumberType> | 'SATELLITE' | 'INTERNATIONAL_NETWORK' | 'INVALID' | 'UNKNOWN';

export const NUMBER_KINDS: readonly NumberKind[] = [
  'PREMIUM_RATE',
  'SHARED_COST',
  'SATELLITE',
  'INTERNATIONAL_NETWORK',
  'INVALID',
  'TOLL_FREE',
  'VOIP',
  'PERSONAL_NUMBER',
  'PAGER',
  'UAN',
  'VOICEMAIL',
  'FIXED_LINE',
  'FIXED_LINE_OR_MOBILE',
  'MOBILE',
  'UNKNOWN',
];

/** Refused unless configured otherwise: the ranges where a sent message earns someone money. */
export const DEFAULT_REFUSED_KINDS: readonly NumberKind[] = [
  'PREMIUM_RATE',
  'SHARED_COST',
  'SATELLITE',
  'INTERNATIONAL_NETWORK',
  'INVALID',
];

const SATELLITE_CALLING_CODES = ['881'];
const INTERNATIONAL_NETWORK_CALLING_CODES = ['882', '883'];

/** The parsed facts about one destination; no decision yet. */
export interface DestinationFacts {
  readonly kind: NumberKind;
  /** ISO 3166 alpha-2; undefined for non-geographic ranges and numbers that do not parse. */
  readonly country: string | undefined;
  /** E.164, the per-number counters' subject; undefined when the number does not parse. */
  readonly e164: string | undefined;
}

/** Country and number type of a phone or WhatsApp address (`+E164`, or `whatsapp:+E164`). */
export function destinationFacts(address: string): DestinationFacts {
  const parsed = parsePhoneNumberFromString(address.replace(/^whatsapp:/, ''));
  if (parsed === undefined) return { kind: 'INVALID', country: undefined, e164: undefined };
  const e164 = parsed.number;
  const country = parsed.country;
  // By range first: a +882 number the metadata does not know is still an international network.
  if (SATELLITE_CALLING_CODES.includes(parsed.countryCallingCode)) {
    return { kind: 'SATELLITE', country, e164 };
  }
  if (INTERNATIONAL_NETWORK_CALLING_CODES.includes(parsed.countryCallingCode)) {
    return { kind: 'INTERNATIONAL_NETWORK', country, e164 };
  }
  if (!parsed.isValid()) return { kind: 'INVALID', country, e164 };
  return { kind: parsed.getType() ?? 'UNKNOWN', country, e164 };
}

export interface SpendGuardConfig {
  /** Prepended to the counters' keys in Redis (one per deployment sharing a Redis). */
  readonly keyPrefix: string;
  readonly refusedKinds: readonly NumberKind[];
  /** Destination countries allowed per channel; undefined allows every country. */
  readonly countries: Readonly<Record<SpendChannel, readonly string[] | undefined>>;
  /** Sends to one number per minute / per hour across all customers; 0 is no limit. */
  readonly numberPerMinute: number;
  readonly numberPerHour: number;
  /** Sends to one destination country per hour, per channel; 0 is no limit. */
  readonly countryPerHour: number;
  /** Sends per channel per UTC day; 0 is no budget. */
  readonly dailyBudget: Readonly<Record<SpendChannel, number>>;
}

export type SpendLimitId = 'number_minute' | 'number_hour' | 'country_hour' | 'daily_budget';

/** One counter a send must be counted in; the store keys it by channel, id and subject. */
export interface SpendLimit {
  readonly id: SpendLimitId;
  /** What is counted: an E.164 number, a country code or a UTC date. */
  readonly subject: string;
  readonly limit: number;
  readonly windowSeconds: number;
  /** False: counted but never refusing (the daily budget for transactional sends). */
  readonly enforced: boolean;
}

export type SpendReasonCode =
  | 'SPEND_INVALID_NUMBER'
  | 'SPEND_PREMIUM_RATE'
  | 'SPEND_SHARED_COST'
  | 'SPEND_SATELLITE'
  | 'SPEND_INTERNATIONAL_NETWORK'
  | 'SPEND_NUMBER_TYPE'
  | 'SPEND_COUNTRY_NOT_ALLOWED'
  | 'SPEND_VELOCITY_NUMBER'
  | 'SPEND_VELOCITY_COUNTRY'
  | 'SPEND_DAILY_BUDGET';

export type SpendDecision =
  | { readonly kind: 'allow'; readonly note?: string }
  | { readonly kind: 'refuse'; readonly reasonCode: SpendReasonCode; readonly reason: string };

const KIND_WORDS: Partial<Record<NumberKind, [SpendReasonCode, string]>> = {
  INVALID: ['SPEND_INVALID_NUMBER', 'not a valid phone number'],
  PREMIUM_RATE: ['SPEND_PREMIUM_RATE', 'a premium-rate number'],
  SHARED_COST: ['SPEND_SHARED_COST', 'a shared-cost number'],
  SATELLITE: ['SPEND_SATELLITE', 'a satellite number (+881)'],
  INTERNATIONAL_NETWORK: ['SPEND_INTERNATIONAL_NETWORK', 'an international-network number'],
};

const HOUR = 3600;
const DAY = 24 * HOUR;

/** UTC day of `now`, the daily budget's subject: the budget starts afresh at midnight UTC. */
export function budgetDay(now: Date): string {
  return now.toISOString().slice(0, 10);
}

/**
 * The counters a send to this destination must find room in, in the order a refusal is reported.
 * Transactional sends are counted in the daily budget but never stopped by it.
 */
export function spendLimits(input: {
  readonly channel: SpendChannel;
  readonly facts: DestinationFacts;
  readonly transactional: boolean;
  readonly config: SpendGuardConfig;
  readonly now: Date;
}): SpendLimit[] {
  const { channel, facts, config } = input;
  const limits: SpendLimit[] = [];
  const add = (id: SpendLimitId, subject: string, limit: number, windowSeconds: number) => {
    if (limit > 0) limits.push({ id, subject, limit, windowSeconds, enforced: true });
  };
  if (facts.e164 !== undefined) {
    add('number_minute', facts.e164, config.numberPerMinute, 60);
    add('number_hour', facts.e164, config.numberPerHour, HOUR);
  }
  add('country_hour', facts.country ?? 'none', config.countryPerHour, HOUR);
  const budget = config.dailyBudget[channel];
  if (budget > 0) {
    limits.push({
      id: 'daily_budget',
      subject: budgetDay(input.now),
      limit: budget,
      windowSeconds: DAY,
      enforced: !input.transactional,
    });
  }
  return limits;
}

/**
 * Allow or refuse one send. The destination checks (number kind, country) come first and need no
 * counter; `full` lists the counters the store found without room (empty before it was asked).
 */
export function decideSpend(input: {
  readonly channel: SpendChannel;
  readonly facts: DestinationFacts;
  readonly config: SpendGuardConfig;
  readonly full: readonly SpendLimit[];
}): SpendDecision {
  const { channel, facts, config } = input;
  const where = facts.country ?? 'no country';
  if (config.refusedKinds.includes(facts.kind)) {
    const [reasonCode, words] = KIND_WORDS[facts.kind] ?? [
      'SPEND_NUMBER_TYPE',
      `a ${facts.kind.toLowerCase().replace(/_/g, '-')} number`,
    ];
    return refuse(channel, reasonCode, `the destination is ${words} (${where})`);
  }
  const allowed = config.countries[channel];
  if (allowed !== undefined && (facts.country === undefined || !allowed.includes(facts.country))) {
    return refuse(
      channel,
      'SPEND_COUNTRY_NOT_ALLOWED',
      `the destination country (${where}) is not in the ${channel} allowlist (${allowed.join(', ')})`,
    );
  }
  const enforced = input.full.filter((limit) => limit.enforced);
  const byNumber = enforced.find((l) => l.id === 'number_minute' || l.id === 'number_hour');
  if (byNumber) {
    const per = byNumber.id === 'number_minute' ? 'minute' : 'hour';
    return refuse(
      channel,
      'SPEND_VELOCITY_NUMBER',
      `the destination number (${facts.kind.toLowerCase()}, ${where}) reached its limit of ${byNumber.limit} ${channel} sends per ${per}`,
    );
  }
  const byCountry = enforced.find((l) => l.id === 'country_hour');
  if (byCountry) {
    return refuse(
      channel,
      'SPEND_VELOCITY_COUNTRY',
      `destination country ${where} reached its limit of ${byCountry.limit} ${channel} sends per hour`,
    );
  }
  const budget = input.full.find((l) => l.id === 'daily_budget');
  if (budget?.enforced) {
    return refuse(
      channel,
      'SPEND_DAILY_BUDGET',
      `the daily ${channel} budget of ${budget.limit} sends is used up until midnight UTC (transactional sends still go)`,
    );
  }
  if (budget) {
    return {
      kind: 'allow',
      note: `spend guard: the daily ${channel} budget of ${budget.limit} sends is used up; transactional, so sent anyway`,
    };
  }
  return { kind: 'allow' };
}

function refuse(channel: SpendChannel, reasonCode: SpendReasonCode, why: string): SpendDecision {
  return { kind: 'refuse', reasonCode, reason: `the spend guard refused ${channel}: ${why}` };
}
