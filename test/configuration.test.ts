import { runToExit } from './support/gateway';

/** A bad environment stops start-up with a message naming every offending variable. */
describe('start-up configuration', () => {
  const cases: Array<{ name: string; env: Record<string, string>; mentions: string[] }> = [
    { name: 'KAFKA_BROKERS unset', env: {}, mentions: ['KAFKA_BROKERS'] },
    { name: 'KAFKA_BROKERS empty', env: { KAFKA_BROKERS: '' }, mentions: ['KAFKA_BROKERS'] },
    {
      name: 'a broker without a port',
      env: { KAFKA_BROKERS: 'localhost' },
      mentions: ['KAFKA_BROKERS', 'localhost'],
    },
    {
      name: 'non-numeric concurrency',
      env: { KAFKA_BROKERS: '127.0.0.1:9092', CONSUMER_CONCURRENCY: 'many' },
      mentions: ['CONSUMER_CONCURRENCY', 'many'],
    },
    {
      name: 'several bad variables at once',
      env: {
        KAFKA_BROKERS: '127.0.0.1:9092',
        HTTP_PORT: '99999',
        LOG_LEVEL: 'loud',
        TOPIC_SEND: 'bad topic!',
      },
      mentions: ['HTTP_PORT', 'LOG_LEVEL', 'TOPIC_SEND'],
    },
    {
      name: 'a message-log key that is not 32 bytes',
      env: { KAFKA_BROKERS: '127.0.0.1:9092', MESSAGE_LOG_KEY: 'c2hvcnQ=' },
      mentions: ['MESSAGE_LOG_KEY', '32 random bytes'],
    },
    {
      name: 'a bad boolean',
      env: { KAFKA_BROKERS: '127.0.0.1:9092', KAFKA_CREATE_TOPICS: 'perhaps' },
      mentions: ['KAFKA_CREATE_TOPICS'],
    },
    {
      name: 'an unknown provider',
      env: { KAFKA_BROKERS: '127.0.0.1:9092', PROVIDERS_SMS: 'carrier_pigeon' },
      mentions: ['PROVIDER_CARRIER_PIGEON_TYPE', 'sms'],
    },
    {
      name: 'a channel configured without credentials',
      env: {
        KAFKA_BROKERS: '127.0.0.1:9092',
        PROVIDERS_SMS: 'twilio',
        PROVIDERS_EMAIL: 'sendgrid',
      },
      mentions: [
        'PROVIDER_TWILIO_ACCOUNT_SID',
        'PROVIDER_TWILIO_AUTH_TOKEN',
        'PROVIDER_SENDGRID_API_KEY',
      ],
    },
    {
      // A production-shaped start that forgot its providers and storage: no fakes behind its back.
      name: 'no providers, no database and no Redis, and no fakes chosen',
      env: {
        KAFKA_BROKERS: '127.0.0.1:9092',
        MESSAGE_LOG_KEY: Buffer.alloc(32, 7).toString('base64'),
      },
      mentions: [
        'PROVIDERS_SMS, PROVIDERS_EMAIL, PROVIDERS_WHATSAPP, PROVIDERS_WEBPUSH, PROVIDERS_MOBILEPUSH',
        'DATABASE_URL',
        'REDIS_URL',
        'STORAGE=embedded',
      ],
    },
  ];

  it.each(cases)('$name → exits non-zero naming it', async ({ env, mentions }) => {
    const result = await runToExit(env, 20000);
    expect(result.code).not.toBe(0);
    expect(result.code).not.toBeNull();
    for (const text of mentions) expect(result.stderr).toContain(text);
  });
});
