/**
 * The smallest environment that loads, for specs of the configuration and of what reads it: a
 * broker, a message-log key, and the fakes chosen by name (unset, they stop start-up).
 */
export const MINIMAL_TEST_ENVIRONMENT: Readonly<Record<string, string>> = {
  KAFKA_BROKERS: '127.0.0.1:9092',
  MESSAGE_LOG_KEY: Buffer.alloc(32, 7).toString('base64'),
  STORAGE: 'embedded',
  PROVIDERS_SMS: 'log',
  PROVIDERS_EMAIL: 'log',
  PROVIDERS_WHATSAPP: 'log',
  PROVIDERS_WEBPUSH: 'log',
  PROVIDERS_MOBILEPUSH: 'log',
};
