import { loadConfig } from './environment';
import { MINIMAL_TEST_ENVIRONMENT } from './testing';

const base = MINIMAL_TEST_ENVIRONMENT;

function problems(env: Record<string, string>): string[] {
  const result = loadConfig({ ...base, ...env });
  return result.ok ? [] : [...result.problems];
}

describe('spend guard settings', () => {
  it('refuses the fraud ranges and invalid numbers by default, with no allowlist or budget', () => {
    const result = loadConfig(base);
    if (!result.ok) throw new Error(result.problems.join('; '));
    expect(result.config.spendGuard).toEqual({
      keyPrefix: '',
      refusedKinds: [
        'PREMIUM_RATE',
        'SHARED_COST',
        'SATELLITE',
        'INTERNATIONAL_NETWORK',
        'INVALID',
      ],
      countries: { sms: undefined, whatsapp: undefined },
      numberPerMinute: 5,
      numberPerHour: 20,
      countryPerHour: 0,
      dailyBudget: { sms: 0, whatsapp: 0 },
    });
  });

  it('reads allowlists, types, limits and budgets', () => {
    const result = loadConfig({
      ...base,
      SPEND_GUARD_SMS_COUNTRIES: 'us, GB,US',
      SPEND_GUARD_WHATSAPP_COUNTRIES: 'DE',
      SPEND_GUARD_REFUSED_NUMBER_TYPES: 'toll_free,PREMIUM_RATE',
      SPEND_GUARD_NUMBER_PER_MINUTE: '0',
      SPEND_GUARD_COUNTRY_PER_HOUR: '500',
      SPEND_GUARD_SMS_DAILY_BUDGET: '10000',
    });
    if (!result.ok) throw new Error(result.problems.join('; '));
    expect(result.config.spendGuard).toMatchObject({
      refusedKinds: ['PREMIUM_RATE', 'TOLL_FREE'],
      countries: { sms: ['US', 'GB'], whatsapp: ['DE'] },
      numberPerMinute: 0,
      countryPerHour: 500,
      dailyBudget: { sms: 10000, whatsapp: 0 },
    });
  });

  it('turns every type refusal off with none', () => {
    const result = loadConfig({ ...base, SPEND_GUARD_REFUSED_NUMBER_TYPES: 'none' });
    expect(result.ok && result.config.spendGuard.refusedKinds).toEqual([]);
  });

  it('stops start-up naming each bad variable', () => {
    expect(
      problems({
        SPEND_GUARD_SMS_COUNTRIES: 'US,UK',
        SPEND_GUARD_WHATSAPP_COUNTRIES: 'Germany',
        SPEND_GUARD_REFUSED_NUMBER_TYPES: 'PREMIUM',
        SPEND_GUARD_NUMBER_PER_HOUR: '-1',
        SPEND_GUARD_SMS_DAILY_BUDGET: 'lots',
        SPEND_GUARD_KEY_PREFIX: 'omni{x}:',
      }),
    ).toEqual([
      'SPEND_GUARD_REFUSED_NUMBER_TYPES: must be none or a comma-separated list of PREMIUM_RATE, SHARED_COST, SATELLITE, INTERNATIONAL_NETWORK, INVALID, TOLL_FREE, VOIP, PERSONAL_NUMBER, PAGER, UAN, VOICEMAIL, FIXED_LINE, FIXED_LINE_OR_MOBILE, MOBILE, UNKNOWN, unknown: PREMIUM',
      'SPEND_GUARD_SMS_COUNTRIES: must be comma-separated ISO 3166 alpha-2 country codes (e.g. US,GB), unknown: "UK"',
      'SPEND_GUARD_WHATSAPP_COUNTRIES: must be comma-separated ISO 3166 alpha-2 country codes (e.g. US,GB), unknown: "GERMANY"',
      'SPEND_GUARD_NUMBER_PER_HOUR: must be a whole number from 0 (no limit) to 1000000, got "-1"',
      'SPEND_GUARD_SMS_DAILY_BUDGET: must be a whole number from 0 (no limit) to 1000000000, got "lots"',
      'SPEND_GUARD_KEY_PREFIX: must not contain braces or spaces',
    ]);
  });
});
