import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isServiceVariable, loadConfig, SERVICE_VERSION } from './environment';
import { MINIMAL_TEST_ENVIRONMENT } from './testing';

const base = MINIMAL_TEST_ENVIRONMENT;
const twilio = {
  PROVIDER_TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`,
  PROVIDER_TWILIO_AUTH_TOKEN: 'secret',
  PROVIDER_TWILIO_FROM: '+14155550100',
};

function problems(env: Record<string, string>): string[] {
  const result = loadConfig({ ...base, ...env });
  return result.ok ? [] : [...result.problems];
}

describe('loadConfig', () => {
  it('accepts the log provider and embedded storage when chosen by name', () => {
    const result = loadConfig(base);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.config.channels.providers.sms).toEqual(['log']);
  });

  describe('without an explicit choice of fakes', () => {
    // Three channels still on log, so the table can show SMS and email missing together.
    const production = {
      KAFKA_BROKERS: base.KAFKA_BROKERS,
      MESSAGE_LOG_KEY: base.MESSAGE_LOG_KEY,
      PROVIDERS_WHATSAPP: 'log',
      PROVIDERS_WEBPUSH: 'log',
      PROVIDERS_MOBILEPUSH: 'log',
    };
    const storage = { DATABASE_URL: 'postgres://db/omnigate', REDIS_URL: 'redis://cache:6379' };
    const problemsOf = (env: Record<string, string>): string => {
      const result = loadConfig({ ...production, ...env });
      return result.ok ? '' : result.problems.join('\n');
    };

    it.each([
      ['providers for two channels', { ...storage }, 'PROVIDERS_SMS, PROVIDERS_EMAIL: not set'],
      [
        'a database',
        { PROVIDERS_SMS: 'log', PROVIDERS_EMAIL: 'log', REDIS_URL: storage.REDIS_URL },
        'DATABASE_URL: is required',
      ],
      [
        'Redis',
        { PROVIDERS_SMS: 'log', PROVIDERS_EMAIL: '', DATABASE_URL: storage.DATABASE_URL },
        'REDIS_URL: is required',
      ],
      [
        'a database, with STORAGE=external said out loud',
        {
          PROVIDERS_SMS: 'log',
          PROVIDERS_EMAIL: 'log',
          STORAGE: 'external',
          ...storage,
          DATABASE_URL: '',
        },
        'DATABASE_URL: is required',
      ],
      [
        'an unknown storage',
        { ...storage, STORAGE: 'memory' },
        'STORAGE: must be external or embedded',
      ],
    ])('refuses a missing %s, naming the variables', (_name, env, expected) => {
      expect(problemsOf(env)).toContain(expected);
    });

    it('names every missing choice at once, even beside another bad variable', () => {
      const found = problemsOf({ HTTP_PORT: 'eighty' });
      for (const name of [
        'HTTP_PORT',
        'PROVIDERS_SMS, PROVIDERS_EMAIL',
        'DATABASE_URL',
        'REDIS_URL',
      ]) {
        expect(found).toContain(name);
      }
    });

    it('starts with real storage and providers named, an empty list turning a channel off', () => {
      const result = loadConfig({
        ...production,
        ...storage,
        PROVIDERS_SMS: 'log',
        PROVIDERS_EMAIL: '',
      });
      if (!result.ok) throw new Error(result.problems.join('\n'));
      expect(result.config.channels.providers.email).toEqual([]);
      expect(result.config.storage).toMatchObject({
        databaseUrl: storage.DATABASE_URL,
        redisUrl: storage.REDIS_URL,
      });
    });
  });

  it('names every bad variable at once', () => {
    const found = problems({
      CONSUMER_CONCURRENCY: 'lots',
      HTTP_PORT: '70000',
      LOG_LEVEL: 'chatty',
    });
    expect(found.map((p) => p.split(':')[0])).toEqual([
      'CONSUMER_CONCURRENCY',
      'HTTP_PORT',
      'LOG_LEVEL',
    ]);
  });

  it.each([
    ['unset', undefined, []],
    ['one address and one range', '10.0.0.7, 10.1.0.0/16', ['10.0.0.7', '10.1.0.0/16']],
    ['an IPv6 range', 'fd00::/8', ['fd00::/8']],
  ])('reads HTTP_TRUSTED_PROXIES %s', (_label, value, expected) => {
    const result = loadConfig({
      ...base,
      ...(value !== undefined && { HTTP_TRUSTED_PROXIES: value }),
    });
    if (!result.ok) throw new Error(result.problems.join('\n'));
    expect(result.config.http.trustedProxies).toEqual(expected);
  });

  it.each(['loopback', '10.0.0.0/33', '10.0.0.1/8/2', 'example.com'])(
    'refuses HTTP_TRUSTED_PROXIES=%s, naming the variable',
    (value) => {
      expect(problems({ HTTP_TRUSTED_PROXIES: value }).join()).toMatch(/^HTTP_TRUSTED_PROXIES:/);
    },
  );

  it('builds two Twilio accounts for one channel, the second typed explicitly', () => {
    const result = loadConfig({
      ...base,
      ...twilio,
      PROVIDERS_SMS: 'twilio,twilio_backup',
      PROVIDER_TWILIO_BACKUP_TYPE: 'twilio',
      PROVIDER_TWILIO_BACKUP_ACCOUNT_SID: `AC${'b'.repeat(32)}`,
      PROVIDER_TWILIO_BACKUP_AUTH_TOKEN: 'other',
      PROVIDER_TWILIO_BACKUP_MESSAGING_SERVICE_SID: 'MG123',
    });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const sms = result.config.channels.providerSettings.filter((p) => p.channels.includes('sms'));
    expect(sms.map((p) => [p.id, p.type])).toEqual([
      ['twilio', 'twilio'],
      ['twilio_backup', 'twilio'],
    ]);
  });

  describe('the priority lane', () => {
    const laneOf = (env: Record<string, string>) => {
      const result = loadConfig({ ...base, ...env });
      if (!result.ok) throw new Error(result.problems.join('\n'));
      return result.config.priorityLane;
    };

    it('is on with the default topic and a group derived from KAFKA_GROUP_ID', () => {
      expect(laneOf({})).toEqual({
        topic: 'omnigate.send.priority',
        groupId: 'omnigate-dispatch-priority',
        concurrency: 32,
        sendConcurrencyBehindIt: 32,
      });
      expect(laneOf({ KAFKA_GROUP_ID: 'eu-dispatch' })?.groupId).toBe('eu-dispatch-priority');
    });

    it('takes its own topic, group and concurrency', () => {
      expect(
        laneOf({
          TOPIC_SEND_PRIORITY: 'otp.send',
          KAFKA_PRIORITY_GROUP_ID: 'otp-dispatch',
          PRIORITY_CONSUMER_CONCURRENCY: '8',
          CONSUMER_CONCURRENCY_BEHIND_PRIORITY: '4',
        }),
      ).toEqual({
        topic: 'otp.send',
        groupId: 'otp-dispatch',
        concurrency: 8,
        sendConcurrencyBehindIt: 4,
      });
    });

    it('never lets the send lane behind it run more than CONSUMER_CONCURRENCY', () => {
      expect(
        laneOf({ CONSUMER_CONCURRENCY: '16', CONSUMER_CONCURRENCY_BEHIND_PRIORITY: '64' })
          ?.sendConcurrencyBehindIt,
      ).toBe(16);
    });

    // Two deployments with their own send topics must not both consume the shared default lane.
    it('is off when TOPIC_SEND is renamed and no priority topic is named', () => {
      expect(laneOf({ TOPIC_SEND: 'staging.send' })).toBeUndefined();
      expect(
        laneOf({ TOPIC_SEND: 'staging.send', TOPIC_SEND_PRIORITY: 'staging.send.priority' })?.topic,
      ).toBe('staging.send.priority');
    });

    it.each([
      [
        'a bad topic name',
        { TOPIC_SEND_PRIORITY: 'otp send!' },
        'TOPIC_SEND_PRIORITY: must be a Kafka topic name',
      ],
      [
        'the send topic reused',
        { TOPIC_SEND_PRIORITY: 'omnigate.send.v1' },
        'TOPIC_SEND_PRIORITY: must be different topics',
      ],
      [
        'the send group reused',
        { KAFKA_PRIORITY_GROUP_ID: 'omnigate-dispatch' },
        'KAFKA_PRIORITY_GROUP_ID: must differ',
      ],
      [
        'the profiles group reused',
        { KAFKA_PRIORITY_GROUP_ID: 'omnigate-profiles' },
        'KAFKA_PRIORITY_GROUP_ID: must differ',
      ],
      [
        'no concurrency',
        { PRIORITY_CONSUMER_CONCURRENCY: '0' },
        'PRIORITY_CONSUMER_CONCURRENCY: must be between 1',
      ],
    ])('refuses %s', (_name, env, expected) => {
      expect(problems(env).join('\n')).toContain(expected);
    });
  });

  it.each([
    [
      'missing Twilio credentials',
      { PROVIDERS_SMS: 'twilio' },
      ['PROVIDER_TWILIO_ACCOUNT_SID', 'PROVIDER_TWILIO_AUTH_TOKEN'],
    ],
    [
      'a Twilio SMS sender missing',
      { ...twilio, PROVIDER_TWILIO_FROM: '', PROVIDERS_SMS: 'twilio' },
      ['PROVIDER_TWILIO_FROM or PROVIDER_TWILIO_MESSAGING_SERVICE_SID'],
    ],
    [
      'WhatsApp without a WhatsApp sender',
      { ...twilio, PROVIDERS_WHATSAPP: 'twilio' },
      ['PROVIDER_TWILIO_WHATSAPP_FROM'],
    ],
    [
      'a provider that cannot carry the channel',
      { PROVIDERS_EMAIL: 'twilio', ...twilio },
      ['PROVIDERS_EMAIL'],
    ],
    ['an id without a type', { PROVIDERS_EMAIL: 'mailer' }, ['PROVIDER_MAILER_TYPE']],
    [
      'SendGrid without a key and with a bad sender',
      { PROVIDERS_EMAIL: 'sendgrid', PROVIDER_SENDGRID_FROM_EMAIL: 'nope' },
      ['PROVIDER_SENDGRID_API_KEY', 'PROVIDER_SENDGRID_FROM_EMAIL'],
    ],
    [
      'FCM without a service account',
      { PROVIDERS_MOBILEPUSH: 'fcm' },
      ['PROVIDER_FCM_SERVICE_ACCOUNT_JSON or PROVIDER_FCM_SERVICE_ACCOUNT_FILE'],
    ],
    [
      'web push without VAPID keys',
      { PROVIDERS_WEBPUSH: 'webpush', PROVIDER_WEBPUSH_VAPID_SUBJECT: 'ops@example.com' },
      [
        'PROVIDER_WEBPUSH_VAPID_SUBJECT',
        'PROVIDER_WEBPUSH_VAPID_PUBLIC_KEY',
        'PROVIDER_WEBPUSH_VAPID_PRIVATE_KEY',
      ],
    ],
    ['a hyphen in a provider id', { PROVIDERS_SMS: 'twilio-backup' }, ['PROVIDERS_SMS']],
  ])('refuses %s, naming the variables', (_name, env, variables) => {
    const found = problems(env).join('\n');
    for (const variable of variables) expect(found).toContain(variable);
  });
});

describe('dependency timeouts and the outage give-up', () => {
  it('batches storage calls on the next turn, at most 500 at a time and two batches of a kind at once, unless told otherwise', () => {
    const defaults = loadConfig(base);
    if (!defaults.ok) throw new Error(defaults.problems.join('; '));
    expect(defaults.config.storage).toMatchObject({
      batchWindowMs: 0,
      batchMaxSize: 500,
      batchMaxInFlight: 2,
    });
    const set = loadConfig({
      ...base,
      STORAGE_BATCH_WINDOW_MS: '2',
      STORAGE_BATCH_MAX_SIZE: '100',
      STORAGE_BATCH_MAX_IN_FLIGHT: '4',
    });
    if (!set.ok) throw new Error(set.problems.join('; '));
    expect(set.config.storage).toMatchObject({
      batchWindowMs: 2,
      batchMaxSize: 100,
      batchMaxInFlight: 4,
    });
    const bad = loadConfig({
      ...base,
      STORAGE_BATCH_WINDOW_MS: '-1',
      STORAGE_BATCH_MAX_SIZE: '0',
      STORAGE_BATCH_MAX_IN_FLIGHT: '0',
    });
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^STORAGE_BATCH_WINDOW_MS/),
        expect.stringMatching(/^STORAGE_BATCH_MAX_SIZE/),
        expect.stringMatching(/^STORAGE_BATCH_MAX_IN_FLIGHT/),
      ]),
    );
  });

  it('has deliberate defaults', () => {
    const loaded = loadConfig(base);
    if (!loaded.ok) throw new Error(loaded.problems.join('; '));
    expect(loaded.config.storage).toMatchObject({
      databaseConnectTimeoutMs: 5000,
      databaseStatementTimeoutMs: 30000,
      databaseQueryTimeoutMs: 35000,
      databaseIdleTimeoutMs: 30000,
      databasePreparedStatements: true,
      redisCommandTimeoutMs: 2000,
      redisConnectTimeoutMs: 5000,
    });
    expect(loaded.config.consumer.giveUpAfterMs).toBe(900000);
  });

  it('reads each one', () => {
    const loaded = loadConfig({
      ...base,
      DATABASE_CONNECT_TIMEOUT_MS: '1000',
      DATABASE_STATEMENT_TIMEOUT_MS: '2000',
      DATABASE_QUERY_TIMEOUT_MS: '3000',
      DATABASE_IDLE_TIMEOUT_MS: '4000',
      DATABASE_PREPARED_STATEMENTS: 'false',
      REDIS_COMMAND_TIMEOUT_MS: '500',
      REDIS_CONNECT_TIMEOUT_MS: '600',
      CONSUMER_GIVE_UP_AFTER_MS: '60000',
    });
    if (!loaded.ok) throw new Error(loaded.problems.join('; '));
    expect(loaded.config.storage).toMatchObject({
      databaseConnectTimeoutMs: 1000,
      databaseStatementTimeoutMs: 2000,
      databaseQueryTimeoutMs: 3000,
      databaseIdleTimeoutMs: 4000,
      databasePreparedStatements: false,
      redisCommandTimeoutMs: 500,
      redisConnectTimeoutMs: 600,
    });
    expect(loaded.config.consumer.giveUpAfterMs).toBe(60000);
  });

  it.each([
    [
      'a statement timeout of 0 (none)',
      { DATABASE_STATEMENT_TIMEOUT_MS: '0' },
      'DATABASE_STATEMENT_TIMEOUT_MS',
    ],
    [
      'a client timeout not above the server one',
      { DATABASE_QUERY_TIMEOUT_MS: '30000' },
      'DATABASE_QUERY_TIMEOUT_MS: must be longer than DATABASE_STATEMENT_TIMEOUT_MS',
    ],
    [
      'a Redis command timeout that is not a number',
      { REDIS_COMMAND_TIMEOUT_MS: 'soon' },
      'REDIS_COMMAND_TIMEOUT_MS',
    ],
    ['a give-up under a second', { CONSUMER_GIVE_UP_AFTER_MS: '10' }, 'CONSUMER_GIVE_UP_AFTER_MS'],
  ])('refuses %s', (_name, env, expected) => {
    expect(problems(env).join('\n')).toContain(expected);
  });
});

describe('message log settings', () => {
  const key = (byte: number) => Buffer.alloc(32, byte).toString('base64');

  it('reads the key, the retired keys, retention and the in-flight rule', () => {
    const loaded = loadConfig({
      ...base,
      MESSAGE_LOG_KEY: key(1),
      MESSAGE_LOG_PREVIOUS_KEYS: `${key(2)}, ${key(3)}`,
      MESSAGE_RETENTION_DAYS: '7',
      INFLIGHT_ATTEMPTS: 'unknown',
    });
    if (!loaded.ok) throw new Error(loaded.problems.join('; '));
    const { messageLog } = loaded.config;
    expect(messageLog.key.equals(Buffer.alloc(32, 1))).toBe(true);
    expect(messageLog.previousKeys.map((k) => k[0])).toEqual([2, 3]);
    expect(messageLog.retentionDays).toBe(7);
    expect(messageLog.inflightAttempts).toBe('unknown');
  });

  it.each([
    ['an empty key', { MESSAGE_LOG_KEY: '' }, 'MESSAGE_LOG_KEY: is required'],
    ['a 16-byte key', { MESSAGE_LOG_KEY: Buffer.alloc(16).toString('base64') }, 'MESSAGE_LOG_KEY'],
    ['a key that is not base64', { MESSAGE_LOG_KEY: '!'.repeat(44) }, 'MESSAGE_LOG_KEY'],
    ['a bad retired key', { MESSAGE_LOG_PREVIOUS_KEYS: 'short' }, 'MESSAGE_LOG_PREVIOUS_KEYS'],
    ['an unknown in-flight rule', { INFLIGHT_ATTEMPTS: 'maybe' }, 'INFLIGHT_ATTEMPTS'],
  ])('refuses %s', (_name, env, expected) => {
    expect(problems(env).join('\n')).toContain(expected);
  });
});

describe('tracing and the variable catalogue', () => {
  it('keeps tracing off unless OTEL_TRACES_EXPORTER asks, and OTEL_SDK_DISABLED wins', () => {
    const off = loadConfig({ ...base });
    const on = loadConfig({ ...base, OTEL_TRACES_EXPORTER: 'otlp', OTEL_SERVICE_NAME: 'og' });
    const disabled = loadConfig({
      ...base,
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_SDK_DISABLED: 'true',
    });
    if (!off.ok || !on.ok || !disabled.ok) throw new Error('expected valid configurations');
    expect(off.config.tracing.exporter).toBe('none');
    expect(on.config.tracing).toMatchObject({ exporter: 'otlp', serviceName: 'og' });
    expect(disabled.config.tracing.exporter).toBe('none');
    expect(problems({ OTEL_TRACES_EXPORTER: 'zipkin' }).join('\n')).toContain(
      'OTEL_TRACES_EXPORTER',
    );
  });

  it('reports the version package.json gives', () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(SERVICE_VERSION).toBe(pkg.version);
  });

  it.each([
    ['KAFKA_BROKERS', true],
    ['PROVIDER_TWILIO_BACKUP_AUTH_TOKEN', true],
    ['PROVIDER_SENDGRID_RATE_LIMIT', true],
    ['PROVIDER_WEBPUSH_ALLOWED_ADDRESSES', true],
    ['OTEL_EXPORTER_OTLP_HEADERS', true],
    ['STORAGE', true],
    ['KAFKA_SASL_PASSWORD_FILE', true],
    ['KAFKA_BROKER', false],
    ['PROVIDER_TWILIO_AUTHTOKEN', false],
    ['NODE_ENV', false],
  ])('knows whether it reads %s', (name, known) => {
    expect(isServiceVariable(name)).toBe(known);
  });
});

describe('provider webhooks configuration', () => {
  const p256 = (): string =>
    generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      .publicKey.export({ type: 'spki', format: 'der' })
      .toString('base64');
  const sendgrid = {
    PROVIDERS_EMAIL: 'sendgrid',
    PROVIDER_SENDGRID_API_KEY: 'SG.key',
    PROVIDER_SENDGRID_FROM_EMAIL: 'shop@example.com',
  };

  it('is off by default, with a ten-minute replay window and week-long push acks', () => {
    const result = loadConfig(base);
    expect(result.ok && result.config.webhooks).toEqual({
      publicBaseUrl: undefined,
      maxAgeSeconds: 600,
      publishTimeoutMs: 10000,
      pushAckTtlSeconds: 604800,
    });
    expect(result.ok && result.config.topics.providerEvents).toBe('omnigate.provider-events.v1');
  });

  it('takes an https base URL and drops its trailing slash', () => {
    const result = loadConfig({
      ...base,
      WEBHOOK_PUBLIC_BASE_URL: 'https://omnigate.example.com/gw/',
    });
    expect(result.ok && result.config.webhooks.publicBaseUrl).toBe(
      'https://omnigate.example.com/gw',
    );
  });

  it.each(['http://omnigate.example.com', 'omnigate.example.com', 'https://x.example.com/?a=1'])(
    'refuses the base URL %s, naming the variable',
    (url) => {
      expect(problems({ WEBHOOK_PUBLIC_BASE_URL: url }).join('\n')).toContain(
        'WEBHOOK_PUBLIC_BASE_URL: must be an https:// URL',
      );
    },
  );

  it('bounds the replay window and the ack lifetime', () => {
    expect(problems({ WEBHOOK_MAX_AGE_SECONDS: '5' }).join()).toContain('WEBHOOK_MAX_AGE_SECONDS');
    expect(problems({ PUSH_ACK_TTL_SECONDS: 'week' }).join()).toContain('PUSH_ACK_TTL_SECONDS');
  });

  it('tells a deployment still setting the old per-provider status callback URL what replaced it', () => {
    expect(
      problems({
        ...twilio,
        PROVIDERS_SMS: 'twilio',
        PROVIDER_TWILIO_STATUS_CALLBACK_URL: 'https://x.example.com/cb',
      }).join('\n'),
    ).toContain('PROVIDER_TWILIO_STATUS_CALLBACK_URL: no longer read; set WEBHOOK_PUBLIC_BASE_URL');
  });

  it('keeps the provider-events topic apart from the others', () => {
    expect(problems({ TOPIC_PROVIDER_EVENTS: 'omnigate.receipts.v1' }).join()).toContain(
      'TOPIC_PROVIDER_EVENTS, TOPIC_CANCEL, TOPIC_SEND_PRIORITY: must be different topics',
    );
  });

  it("reads a SendGrid provider's webhook key, and refuses one that is not a P-256 key", () => {
    const key = p256();
    const result = loadConfig({ ...base, ...sendgrid, PROVIDER_SENDGRID_WEBHOOK_PUBLIC_KEY: key });
    const settings = result.ok ? result.config.channels.providerSettings : [];
    expect(settings.find((s) => s.id === 'sendgrid')).toMatchObject({
      type: 'sendgrid',
      webhookPublicKey: key,
    });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 })
      .publicKey.export({ type: 'spki', format: 'der' })
      .toString('base64');
    for (const bad of [rsa, 'not-a-key', key.slice(0, 40)]) {
      expect(
        problems({ ...sendgrid, PROVIDER_SENDGRID_WEBHOOK_PUBLIC_KEY: bad }).join('\n'),
      ).toContain(
        'PROVIDER_SENDGRID_WEBHOOK_PUBLIC_KEY: must be the Event Webhook verification key',
      );
    }
    expect(isServiceVariable('PROVIDER_SENDGRID_WEBHOOK_PUBLIC_KEY')).toBe(true);
  });
});
