import { validateSendCommand } from './decode';
import type { Rejection } from './decode';
import { MAX_TTL_SECONDS, sendCommandSchema } from './send-command';

type Json = Record<string, unknown>;

/** Smallest valid command; each case below changes one thing. */
function base(): Json {
  return {
    id: 'cmd-1',
    customerId: 'cust-1',
    category: 'order_updates',
    recipient: { phone: '+14155550123' },
    content: { sms: { text: 'Your order has shipped.' } },
  };
}

function rejectionOf(input: unknown): Rejection {
  const result = validateSendCommand(input);
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result.command)}`);
  return result.rejection;
}

const P256DH =
  'uNwLnvmg1i_t2IenotolSrUPfin7pmSJt8PMvbC6Zq7326s4o2T1ugoRf5oPzLK77NBcu09Yt-kz29hTmzJgl8g';
const AUTH = 'XQHUybVkaFckYJpnphRSkA';
const subscription = (overrides: Json = {}): Json => ({
  endpoint: 'https://push.example.com/sub/1',
  keys: { p256dh: P256DH, auth: AUTH },
  ...overrides,
});

describe('SendCommand v1: valid commands', () => {
  const valid: [string, Json][] = [
    ['the minimal sms command', base()],
    [
      'email with html only',
      {
        ...base(),
        recipient: { email: 'a@example.com' },
        content: { email: { subject: 'Hi', html: '<b>Hi</b>' } },
      },
    ],
    [
      'email with text only',
      {
        ...base(),
        recipient: { email: 'a@example.com' },
        content: { email: { subject: 'Hi', text: 'Hi' } },
      },
    ],
    ['whatsapp text', { ...base(), content: { whatsapp: { text: 'Hello' } } }],
    [
      'whatsapp template',
      {
        ...base(),
        content: {
          whatsapp: {
            template: { name: 'ship_update', language: 'en_US', variables: { '1': 'A' } },
          },
        },
      },
    ],
    [
      'web push with a subscription that never expires',
      {
        ...base(),
        recipient: { webPushSubscriptions: [subscription({ expirationTime: null })] },
        content: { webpush: { title: 'T', body: 'B', url: 'https://example.com/x' } },
      },
    ],
    [
      'web push with an expiry timestamp',
      {
        ...base(),
        recipient: { webPushSubscriptions: [subscription({ expirationTime: 1767225600000 })] },
        content: { webpush: { title: 'T', body: 'B' } },
      },
    ],
    [
      'mobile push with data',
      {
        ...base(),
        recipient: { fcmTokens: ['token-1'] },
        content: { mobilepush: { title: 'T', body: 'B', data: { screen: 'orders' } } },
      },
    ],
    [
      'a stored template with any JSON data',
      {
        ...base(),
        content: undefined,
        template: { id: 'welcome', locale: 'zh-Hant-TW', data: { a: [1, null, { b: true }] } },
      },
    ],
    ['a template without locale or data', { ...base(), content: undefined, template: { id: 'x' } }],
    [
      'channels, in any order, each with content',
      {
        ...base(),
        channels: ['whatsapp', 'sms'],
        content: { sms: { text: 'a' }, whatsapp: { text: 'b' } },
      },
    ],
    [
      'channels with a template (no inline content needed)',
      {
        ...base(),
        channels: ['email', 'sms'],
        content: undefined,
        template: { id: 't' },
      },
    ],
    [
      'content for more channels than listed',
      {
        ...base(),
        channels: ['sms'],
        content: { sms: { text: 'a' }, email: { subject: 's', text: 't' } },
      },
    ],
    ['explicit schemaVersion and priority', { ...base(), schemaVersion: 1, priority: 'low' }],
    ['the longest ttl', { ...base(), ttlSeconds: MAX_TTL_SECONDS }],
    ['expiresAt with Z', { ...base(), expiresAt: '2030-01-01T00:00:00Z' }],
    ['expiresAt with an offset', { ...base(), expiresAt: '2030-01-01T08:00:00.250+08:00' }],
    ['createdAt', { ...base(), createdAt: '2025-06-02T09:30:00-07:00' }],
    ['the shortest E.164 number (8 digits)', { ...base(), recipient: { phone: '+12345678' } }],
    [
      'the longest E.164 number (15 digits)',
      { ...base(), recipient: { phone: '+123456789012345' } },
    ],
    ['an empty recipient object', { ...base(), recipient: {} }],
    ['an id with every allowed punctuation', { ...base(), id: 'a.b_c:d-e.F9' }],
    ['a 128-character id', { ...base(), id: 'x'.repeat(128) }],
    [
      '50 metadata entries of 512 characters',
      {
        ...base(),
        metadata: Object.fromEntries(
          Array.from({ length: 50 }, (_, i) => [`k${i}`, 'v'.repeat(512)]),
        ),
      },
    ],
  ];

  it.each(valid)('accepts %s', (_label, input) => {
    const result = validateSendCommand(JSON.parse(JSON.stringify(input)));
    if (!result.ok) throw new Error(result.rejection.message);
    expect(result.ok).toBe(true);
  });

  it('fills defaults and keeps the channel order', () => {
    const result = validateSendCommand({
      ...base(),
      channels: ['whatsapp', 'sms'],
      content: { sms: { text: 'a' }, whatsapp: { text: 'b' } },
    });
    expect(result.ok && result.command).toMatchObject({
      schemaVersion: 1,
      priority: 'normal',
      channels: ['whatsapp', 'sms'],
    });
  });

  it('agrees with the bare schema', () => {
    expect(sendCommandSchema.safeParse(base()).success).toBe(true);
    expect(sendCommandSchema.safeParse({ ...base(), id: '' }).success).toBe(false);
  });
});

describe('SendCommand v1: invalid commands name the path and the problem', () => {
  const invalid: [string, unknown, string, string][] = [
    // [label, input, expected problem path, fragment of its message]
    ['missing id', { ...base(), id: undefined }, 'id', 'is required'],
    ['id of the wrong type', { ...base(), id: 42 }, 'id', 'must be a string, got a number'],
    ['empty id', { ...base(), id: '' }, 'id', 'must not be empty'],
    ['id with a space', { ...base(), id: 'cmd 1' }, 'id', 'only letters, digits'],
    ['id with a slash', { ...base(), id: 'a/b' }, 'id', 'only letters, digits'],
    ['id over 128 characters', { ...base(), id: 'x'.repeat(129) }, 'id', 'at most 128 characters'],
    ['missing customerId', { ...base(), customerId: undefined }, 'customerId', 'is required'],
    ['customerId as a number', { ...base(), customerId: 7 }, 'customerId', 'must be a string'],
    [
      'category with capitals',
      { ...base(), category: 'Order_Updates' },
      'category',
      'lowercase slug',
    ],
    [
      'category with spaces',
      { ...base(), category: 'order updates' },
      'category',
      'lowercase slug',
    ],
    ['unknown priority', { ...base(), priority: 'urgent' }, 'priority', 'one of high, normal, low'],
    ['schemaVersion 2', { ...base(), schemaVersion: 2 }, 'schemaVersion', 'must be 1'],
    [
      'phone without +',
      { ...base(), recipient: { phone: '14155550123' } },
      'recipient.phone',
      'E.164',
    ],
    [
      'phone too short',
      { ...base(), recipient: { phone: '+1234567' } },
      'recipient.phone',
      'E.164',
    ],
    [
      'phone too long',
      { ...base(), recipient: { phone: '+1234567890123456' } },
      'recipient.phone',
      'E.164',
    ],
    [
      'phone starting with 0',
      { ...base(), recipient: { phone: '+01234567890' } },
      'recipient.phone',
      'E.164',
    ],
    [
      'phone with spaces',
      { ...base(), recipient: { phone: '+1 415 555 0123' } },
      'recipient.phone',
      'E.164',
    ],
    [
      'bad whatsapp number',
      { ...base(), recipient: { whatsapp: 'abc' } },
      'recipient.whatsapp',
      'E.164',
    ],
    [
      'bad email',
      { ...base(), recipient: { email: 'not-an-email' } },
      'recipient.email',
      'valid email',
    ],
    [
      'recipient as a string',
      { ...base(), recipient: '+14155550123' },
      'recipient',
      'must be an object',
    ],
    [
      'http web push endpoint',
      {
        ...base(),
        recipient: {
          webPushSubscriptions: [subscription({ endpoint: 'http://push.example.com/1' })],
        },
      },
      'recipient.webPushSubscriptions[0].endpoint',
      'https://',
    ],
    [
      'web push key that is not base64url',
      {
        ...base(),
        recipient: {
          webPushSubscriptions: [subscription({ keys: { p256dh: 'a+b/c=', auth: AUTH } })],
        },
      },
      'recipient.webPushSubscriptions[0].keys.p256dh',
      'base64url',
    ],
    [
      'web push without keys',
      {
        ...base(),
        recipient: { webPushSubscriptions: [{ endpoint: 'https://push.example.com/1' }] },
      },
      'recipient.webPushSubscriptions[0].keys',
      'is required',
    ],
    [
      'empty fcm token',
      { ...base(), recipient: { fcmTokens: ['ok', ''] } },
      'recipient.fcmTokens[1]',
      'must not be empty',
    ],
    [
      'huge fcm token',
      { ...base(), recipient: { fcmTokens: ['t'.repeat(4097)] } },
      'recipient.fcmTokens[0]',
      'at most 4096',
    ],
    [
      'unknown channel',
      {
        ...base(),
        channels: ['sms', 'email', 'fax'],
        content: { sms: { text: 'a' }, email: { subject: 's', text: 't' } },
      },
      'channels[2]',
      'unknown channel (expected one of sms, email, whatsapp, webpush, mobilepush)',
    ],
    [
      'channel that is not a string',
      { ...base(), channels: [1] },
      'channels[0]',
      'must be a channel name',
    ],
    [
      'duplicate channel',
      { ...base(), channels: ['sms', 'sms'] },
      'channels[1]',
      'listed more than once',
    ],
    ['empty channels', { ...base(), channels: [] }, 'channels', 'must not be empty'],
    ['channels as a string', { ...base(), channels: 'sms' }, 'channels', 'must be an array'],
    [
      'both content and template',
      { ...base(), template: { id: 't' } },
      '',
      'either content or template, not both',
    ],
    ['neither content nor template', { ...base(), content: undefined }, '', 'either content'],
    ['unknown top-level key', { ...base(), priorty: 'high' }, 'priorty', 'not a known field'],
    [
      'unknown nested key',
      { ...base(), recipient: { emial: 'a@b.co' } },
      'recipient.emial',
      'not a known field',
    ],
    [
      'unknown content channel',
      { ...base(), content: { fax: { text: 'a' } } },
      'content.fax',
      'not a known field',
    ],
    [
      'channels without matching content',
      { ...base(), channels: ['sms', 'email'] },
      'content',
      'channels lists email but content.email is missing',
    ],
    [
      'ttlSeconds and expiresAt together',
      { ...base(), ttlSeconds: 60, expiresAt: '2030-01-01T00:00:00Z' },
      '',
      'either ttlSeconds or expiresAt, not both',
    ],
    ['zero ttl', { ...base(), ttlSeconds: 0 }, 'ttlSeconds', 'greater than 0'],
    ['fractional ttl', { ...base(), ttlSeconds: 1.5 }, 'ttlSeconds', 'must be an integer'],
    [
      'ttl over 30 days',
      { ...base(), ttlSeconds: MAX_TTL_SECONDS + 1 },
      'ttlSeconds',
      `at most ${MAX_TTL_SECONDS}`,
    ],
    [
      'ttl as a string',
      { ...base(), ttlSeconds: '60' },
      'ttlSeconds',
      'must be a number, got a string',
    ],
    [
      'expiresAt without offset',
      { ...base(), expiresAt: '2030-01-01T00:00:00' },
      'expiresAt',
      'ISO 8601',
    ],
    ['expiresAt as a date only', { ...base(), expiresAt: '2030-01-01' }, 'expiresAt', 'ISO 8601'],
    ['createdAt as epoch millis', { ...base(), createdAt: 1767225600000 }, 'createdAt', 'ISO 8601'],
    [
      'metadata with 51 entries',
      {
        ...base(),
        metadata: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])),
      },
      'metadata',
      'at most 50 entries',
    ],
    [
      'metadata value too long',
      { ...base(), metadata: { note: 'v'.repeat(513) } },
      'metadata.note',
      'at most 512',
    ],
    [
      'metadata value not a string',
      { ...base(), metadata: { count: 3 } },
      'metadata.count',
      'must be a string',
    ],
    [
      'metadata with an odd key',
      { ...base(), metadata: { 'a b': 3 } },
      'metadata[…]',
      'must be a string',
    ],
    [
      'empty sms text',
      { ...base(), content: { sms: { text: '' } } },
      'content.sms.text',
      'must not be empty',
    ],
    ['sms without text', { ...base(), content: { sms: {} } }, 'content.sms.text', 'is required'],
    [
      'email without a body',
      { ...base(), content: { email: { subject: 's' } } },
      'content.email',
      'html, text or both',
    ],
    [
      'email without a subject',
      { ...base(), content: { email: { text: 't' } } },
      'content.email.subject',
      'is required',
    ],
    ['empty content', { ...base(), content: {} }, 'content', 'at least one channel'],
    [
      'whatsapp with text and template',
      { ...base(), content: { whatsapp: { text: 'a', template: { name: 'n', language: 'en' } } } },
      'content.whatsapp',
      'either text or template',
    ],
    [
      'whatsapp with neither',
      { ...base(), content: { whatsapp: {} } },
      'content.whatsapp',
      'either text or template',
    ],
    [
      'whatsapp text of the wrong type',
      { ...base(), content: { whatsapp: { text: 5 } } },
      'content.whatsapp.text',
      'must be a string',
    ],
    [
      'whatsapp template without language',
      { ...base(), content: { whatsapp: { template: { name: 'n' } } } },
      'content.whatsapp.template.language',
      'is required',
    ],
    [
      'webpush url that is not a URL',
      { ...base(), content: { webpush: { title: 't', body: 'b', url: 'nope' } } },
      'content.webpush.url',
      'URL',
    ],
    [
      'mobilepush data value not a string',
      { ...base(), content: { mobilepush: { title: 't', body: 'b', data: { n: 1 } } } },
      'content.mobilepush.data.n',
      'must be a string',
    ],
    [
      'template without id',
      { ...base(), content: undefined, template: {} },
      'template.id',
      'is required',
    ],
    [
      'template locale with underscore',
      { ...base(), content: undefined, template: { id: 't', locale: 'zh_TW' } },
      'template.locale',
      'BCP 47',
    ],
    [
      'template data that is not JSON',
      { ...base(), content: undefined, template: { id: 't', data: { when: new Date(0) } } },
      'template.data.when',
      'must be a JSON value',
    ],
    ['a JSON array instead of an object', [base()], '', 'must be an object, got an array'],
    ['a string instead of an object', 'hello', '', 'must be an object, got a string'],
    ['null instead of an object', null, '', 'must be an object, got null'],
  ];

  it.each(invalid)('rejects %s', (_label, input, path, fragment) => {
    const rejection = rejectionOf(input);
    expect(rejection.code).toBe('SCHEMA_VIOLATION');
    const problem = rejection.problems.find((p) => p.path === path);
    if (!problem) {
      throw new Error(`no problem at "${path}"; got ${JSON.stringify(rejection.problems)}`);
    }
    expect(problem.message).toContain(fragment);
    // The one-line message carries the same path and wording.
    expect(rejection.message).toContain(
      path === '' ? problem.message : `${path}: ${problem.message}`,
    );
  });

  it('reports several problems in one readable sentence', () => {
    const rejection = rejectionOf({
      ...base(),
      recipient: { phone: '555' },
      channels: ['sms', 'email', 'fax'],
      content: { sms: { text: 'a' }, email: { subject: 's', text: 't' } },
    });
    expect(rejection.problems).toEqual([
      {
        path: 'channels[2]',
        message: 'unknown channel (expected one of sms, email, whatsapp, webpush, mobilepush)',
      },
      { path: 'recipient.phone', message: 'must be an E.164 phone number like +14155550123' },
    ]);
    expect(rejection.message).toBe(
      'channels[2]: unknown channel (expected one of sms, email, whatsapp, webpush, mobilepush); ' +
        'recipient.phone: must be an E.164 phone number like +14155550123',
    );
  });

  it('reports cross-field problems even when fields are also broken', () => {
    const rejection = rejectionOf({ ...base(), id: 5, template: { id: 't' } });
    expect(rejection.problems.map((p) => p.path)).toEqual(['id', '']);
  });

  it('names each listed channel that lacks content', () => {
    const rejection = rejectionOf({ ...base(), channels: ['email', 'sms', 'webpush'] });
    expect(rejection.problems.map((p) => p.message)).toEqual([
      'channels lists email but content.email is missing',
      'channels lists webpush but content.webpush is missing',
    ]);
  });

  it('caps the message at 10 problems and the list at 50', () => {
    const metadata = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i]));
    // 52 problems: id, customerId and one per metadata entry.
    const rejection = rejectionOf({ ...base(), metadata, id: '', customerId: '' });
    expect(rejection.problems).toHaveLength(50);
    expect(rejection.message.split('; ')).toHaveLength(11);
    expect(rejection.message).toMatch(/; and 42 more$/);
  });

  it('keeps echoed input short', () => {
    const key = 'k'.repeat(5000);
    const rejection = rejectionOf({ ...base(), [key]: 1 });
    expect(rejection.message.length).toBeLessThan(200);
  });
});

describe('SendCommand v1: Unicode passes through untouched', () => {
  const texts: [string, string][] = [
    ['Chinese', '您的订单已发货，预计周四送达。'],
    ['Traditional Chinese', '您的訂單已出貨'],
    ['emoji with ZWJ and skin tones', 'Family 👨‍👩‍👧‍👦, thumbs 👍🏽, flag 🇹🇼 📦'],
    ['Arabic RTL with marks', '\u200Fطلبك في الطريق! رقم الطلب ٤٢'],
    ['Hebrew mixed with Latin', 'ההזמנה ORDER-42 נשלחה'],
    ['decomposed accents (not normalised)', 'Cafe\u0301 e\u0300'],
    ['Hindi', 'आपका ऑर्डर भेज दिया गया है'],
  ];

  it.each(texts)('%s', (_label, text) => {
    const input = {
      ...base(),
      recipient: { phone: '+886912345678', email: 'a@example.com' },
      content: {
        sms: { text },
        email: { subject: text, text, html: `<p dir="auto">${text}</p>` },
        mobilepush: { title: text, body: text, data: { [text]: text } },
      },
      metadata: { note: text },
    };
    const result = validateSendCommand(JSON.parse(JSON.stringify(input)));
    if (!result.ok) throw new Error(result.rejection.message);
    expect(result.command.content?.sms?.text).toBe(text);
    expect(result.command.content?.email).toEqual(input.content.email);
    expect(result.command.content?.mobilepush).toEqual(input.content.mobilepush);
    expect(result.command.metadata?.note).toBe(text);
  });
});

describe('SendCommand v1: recipient', () => {
  it('may be left out: the stored customer profile supplies the contacts', () => {
    const result = sendCommandSchema.safeParse({
      id: 'no-recipient-1',
      customerId: 'cust-1',
      category: 'order_updates',
      content: { sms: { text: 'hi' } },
    });
    expect(result.success).toBe(true);
  });
});
