import { createServer } from 'node:net';
import { inspect } from 'node:util';
import { generateVAPIDKeys } from 'web-push';
// Relative until libs/sandbox/src/index.ts re-exports the push fakes.
import {
  DROP_CONNECTION,
  type FailurePlan,
  type FakeRequest,
  type FakeResponse,
  type ParsedRequest,
} from '../../../sandbox/src/core';
import {
  FakeWebPush,
  sandboxTls,
  type FakePushSubscription,
  type PushDelivery,
} from '../../../sandbox/src/push';
import type { OutboundMessage } from '../channel-adapter';
import { ChannelError } from '../channel-error';
import { PushAckTokens } from '../push-ack-token';
import {
  buildWebPushPayload,
  classifyWebPushNetworkError,
  WEB_PUSH_ERROR_DESCRIPTIONS,
  WEB_PUSH_ERROR_KINDS,
  WEB_PUSH_NETWORK_ERROR_KINDS,
  WebPushAdapter,
  webPushTopic,
  type WebPushAdapterOptions,
} from './web-push.adapter';
import { rejectionOf } from '../../../../test/support/rejections';

const SUBJECT = 'mailto:ops@omnigate.example';

const rejection = (promise: Promise<unknown>) => rejectionOf(promise, ChannelError);

function thrownBy(build: () => unknown): unknown {
  try {
    build();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

/** The web push fake, except that its error bodies quote the subscription's endpoint. */
class EchoingWebPush extends FakeWebPush {
  /** Every error body it sent, to prove the endpoint really was in the service's answer. */
  readonly errorBodies: string[] = [];

  protected override respond(
    request: FakeRequest,
    parsed: ParsedRequest,
    plan: FailurePlan,
  ): FakeResponse {
    const answer = super.respond(request, parsed, plan);
    if (answer.status < 400) return answer;
    const body = {
      code: answer.status,
      error: 'Gone',
      message: `No subscription at ${this.url}${request.path}`,
    };
    this.errorBodies.push(JSON.stringify(body));
    return { ...answer, body };
  }
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('WebPushAdapter against the web push fake (real web-push)', () => {
  let fake: FakeWebPush;
  let options: WebPushAdapterOptions;
  let adapter: WebPushAdapter;
  let subscriber: FakePushSubscription;
  const extraAdapters: WebPushAdapter[] = [];

  const adapterWith = (overrides: Partial<WebPushAdapterOptions>): WebPushAdapter => {
    const created = new WebPushAdapter({ ...options, ...overrides });
    extraAdapters.push(created);
    return created;
  };
  const push = (
    overrides: Partial<OutboundMessage<'webpush'>> = {},
    to: FakePushSubscription = subscriber,
  ): OutboundMessage<'webpush'> => ({
    messageId: 'msg-1',
    customerId: 'cust-1',
    channel: 'webpush',
    address: JSON.stringify(to.subscription),
    content: { title: 'Your order shipped', body: 'It arrives tomorrow' },
    category: 'order_updates',
    priority: 'normal',
    ...overrides,
  });
  const lastDelivery = (): PushDelivery => {
    const delivery = fake.deliveries().at(-1);
    if (!delivery) throw new Error('the fake accepted no push');
    return delivery;
  };

  beforeAll(async () => {
    fake = await FakeWebPush.start();
    const keys = generateVAPIDKeys();
    options = {
      providerId: 'webpush',
      vapidSubject: SUBJECT,
      vapidPublicKey: keys.publicKey,
      vapidPrivateKey: keys.privateKey,
      requestTimeoutMs: 3_000,
      caCertPem: fake.caCertPem,
      pushServiceHosts: ['localhost'],
      allowedAddresses: ['127.0.0.1/32'],
      collapseCategories: ['delivery_eta'],
    };
    adapter = new WebPushAdapter(options);
  });

  beforeEach(() => {
    subscriber = fake.createSubscription({ applicationServerKey: options.vapidPublicKey });
  });

  afterEach(async () => {
    fake.reset();
    await Promise.all(extraAdapters.splice(0).map((extra) => extra.close()));
  });

  afterAll(async () => {
    await adapter.close();
    await fake.close();
  });

  it('puts a signed ack (where to post, and a token naming this message) into the payload', async () => {
    const tokens = new PushAckTokens(Buffer.alloc(32, 5), [], 3600);
    const ackUrl = 'https://omnigate.example.com/webhooks/push/ack';
    const acking = adapterWith({ providerId: 'webpush_eu', ack: tokens.issuer(ackUrl) });

    await acking.send(push({ messageId: 'msg-ack-1' }));

    const payload = JSON.parse(lastDelivery().payload) as {
      messageId: string;
      ack: { url: string; token: string };
    };
    expect(payload.messageId).toBe('msg-ack-1');
    expect(payload.ack.url).toBe(ackUrl);
    expect(tokens.verify(payload.ack.token)).toMatchObject({
      ok: true,
      claims: { messageId: 'msg-ack-1', channel: 'webpush', providerId: 'webpush_eu' },
    });
  });

  it('delivers the encrypted payload with TTL, Urgency and a valid VAPID JWT; returns the Location', async () => {
    const message = push({
      priority: 'high',
      ttlSeconds: 900,
      content: {
        title: 'Your order shipped',
        body: 'It arrives tomorrow',
        url: 'https://shop.example.com/orders/42',
        icon: 'https://cdn.example.com/icon.png',
      },
    });
    const acceptance = await adapter.send(message);

    const delivery = lastDelivery();
    expect(delivery.payload).toBe(JSON.stringify(buildWebPushPayload(message)));
    expect(JSON.parse(delivery.payload)).toEqual({
      title: 'Your order shipped',
      body: 'It arrives tomorrow',
      url: 'https://shop.example.com/orders/42',
      icon: 'https://cdn.example.com/icon.png',
      messageId: 'msg-1',
    });
    expect(delivery).toMatchObject({ subscriptionId: subscriber.id, ttl: 900, urgency: 'high' });
    expect(delivery.topic).toBeUndefined();
    expect(delivery.vapid).toMatchObject({
      aud: new URL(fake.url).origin,
      sub: SUBJECT,
      publicKey: options.vapidPublicKey,
    });
    const now = Math.floor(Date.now() / 1000);
    expect(delivery.vapid.exp).toBeGreaterThan(now);
    expect(delivery.vapid.exp).toBeLessThanOrEqual(now + 24 * 3600);
    expect(fake.requests.at(-1)?.headers['content-encoding']).toBe('aes128gcm');

    expect(acceptance).toMatchObject({ provider: 'webpush', providerMessageId: delivery.location });
    expect(acceptance.providerMessageId).toMatch(/^https:\/\/localhost:\d+\/message\//);
  });

  it.each([
    ['high', 'high'],
    ['normal', 'normal'],
    ['low', 'low'],
  ] as const)('maps priority %s to Urgency %s', async (priority, urgency) => {
    await adapter.send(push({ priority }));
    expect(lastDelivery().urgency).toBe(urgency);
  });

  it('leaves error stack traces as they were, after a push and after a refused one', async () => {
    const limit = Error.stackTraceLimit;
    await adapter.send(push());
    expect(Error.stackTraceLimit).toBe(limit);
    fake.setFailurePlan({ recipientErrors: { [subscriber.id]: '410' } });
    await rejection(adapter.send(push()));
    expect(Error.stackTraceLimit).toBe(limit);
    expect(new Error('after').stack).toContain('web-push.adapter.spec');
  });

  it('uses a four-week TTL when the message has none', async () => {
    await adapter.send(push());
    expect(lastDelivery().ttl).toBe(28 * 24 * 3600);
  });

  it('sets Topic only for collapsing categories', async () => {
    await adapter.send(push({ category: 'delivery_eta' }));
    expect(lastDelivery().topic).toBe('delivery_eta');
    expect(webPushTopic('a'.repeat(40))).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });

  it.each([
    ['Chinese', '您的订单已发货', '预计明天送达，请注意查收。'],
    ['emoji', '📦 Shipped! 🎉', 'On its way 🚚💨 — 👍🏽'],
    ['Arabic (RTL)', 'تم شحن طلبك', '\u200Fسيصل غدًا إن شاء الله'],
  ])('delivers %s text intact', async (_script, title, body) => {
    await adapter.send(push({ content: { title, body } }));
    expect(JSON.parse(lastDelivery().payload)).toMatchObject({ title, body });
  });

  describe('vendor error table', () => {
    type Provoke = () => Promise<ChannelError>;
    const status = (code: string, retryAfterSeconds?: number): Provoke => {
      return () => {
        fake.setFailurePlan({ recipientErrors: { [subscriber.id]: code }, retryAfterSeconds });
        return rejection(adapter.send(push()));
      };
    };
    // Typed by the table's keys, so a new row without a scenario does not compile.
    const scenarios: Record<keyof typeof WEB_PUSH_ERROR_KINDS, Provoke> = {
      '400': status('400'),
      '401': status('401'),
      // The realistic way: the subscription was created with another application server key.
      '403': () => {
        const foreign = fake.createSubscription({
          applicationServerKey: generateVAPIDKeys().publicKey,
        });
        return rejection(adapter.send(push({}, foreign)));
      },
      '404': status('404'),
      '410': () => {
        fake.expireSubscription(subscriber.id);
        return rejection(adapter.send(push()));
      },
      // The realistic way: a payload that encrypts to more than 4096 bytes.
      '413': () =>
        rejection(adapter.send(push({ content: { title: 'Long', body: 'x'.repeat(4000) } }))),
      '429': status('429', 5),
    };

    it.each(Object.entries(WEB_PUSH_ERROR_KINDS))('HTTP %s → %s', async (vendorCode, kind) => {
      const error = await scenarios[vendorCode as keyof typeof WEB_PUSH_ERROR_KINDS]();
      expect(error).toMatchObject({ kind, vendorCode, provider: 'webpush' });
      if (vendorCode === '429') expect(error.retryAfterMs).toBe(5000);
      expect(error.message).toBe(
        `webpush: push service answered HTTP ${vendorCode}: ${
          WEB_PUSH_ERROR_DESCRIPTIONS[vendorCode as keyof typeof WEB_PUSH_ERROR_DESCRIPTIONS]
        }`,
      );
    });

    it.each([
      ['500', 'transient'],
      ['503', 'transient'],
      ['507', 'transient'],
      ['418', 'permanent'],
    ])('never treats an unlisted status as success: %s → %s', async (code, kind) => {
      fake.setFailurePlan({ recipientErrors: { [subscriber.id]: code } });
      const error = await rejection(adapter.send(push()));
      expect(error).toMatchObject({ kind, vendorCode: code });
    });

    it('honours Retry-After from plan-chosen 429s', async () => {
      fake.setFailurePlan({ rateLimitRate: 1, retryAfterSeconds: 2 });
      const error = await rejection(adapter.send(push()));
      expect(error).toMatchObject({ kind: 'rate_limited', vendorCode: '429', retryAfterMs: 2000 });
    });

    it('tries exactly once (web-push does not retry)', async () => {
      fake.setFailurePlan({ failNext: { count: 1, status: 503 } });
      await rejection(adapter.send(push()));
      expect(fake.requests).toHaveLength(1);
    });

    it('keeps the subscription endpoint out of the error', async () => {
      fake.setFailurePlan({ recipientErrors: { [subscriber.id]: '410' } });
      const error = await rejection(adapter.send(push()));
      const text = JSON.stringify(error.cause, Object.getOwnPropertyNames(error.cause));
      expect(`${error.message} ${text}`).not.toContain(subscriber.id);
    });
  });

  describe('personal data', () => {
    let echoing: EchoingWebPush;

    beforeAll(async () => {
      echoing = await new EchoingWebPush({}, await sandboxTls()).listen();
    });
    afterAll(() => echoing.close());

    it('never puts the subscription the push service echoes into the error', async () => {
      const gone = echoing.createSubscription({ applicationServerKey: options.vapidPublicKey });
      echoing.expireSubscription(gone.id);
      const message = push({}, gone);

      const error = await rejection(adapter.send(message));

      expect(echoing.errorBodies.at(-1)).toContain(gone.subscription.endpoint);
      expect(error).toMatchObject({ kind: 'unreachable_token', vendorCode: '410' });
      expect(error.message).toBe(
        'webpush: push service answered HTTP 410: subscription gone (unsubscribed)',
      );
      const texts = [error.message, String(error), inspect(error, { depth: 20 })];
      const secrets = [
        message.address,
        gone.subscription.endpoint,
        gone.id,
        gone.subscription.keys.p256dh,
        gone.subscription.keys.auth,
      ];
      for (const text of texts) for (const secret of secrets) expect(text).not.toContain(secret);
      expect(texts.join(' ')).not.toContain(options.vapidPrivateKey);
    });

    it('leaves the endpoint host out of a refusal by the SSRF guard', async () => {
      const evil = {
        ...subscriber,
        subscription: { ...subscriber.subscription, endpoint: 'https://evil.example/push/abc' },
      };
      const error = await rejection(adapter.send(push({}, evil)));
      expect(error.vendorCode).toBe('PUSH_SERVICE_NOT_ALLOWED');
      expect(inspect(error, { depth: 20 })).not.toContain('evil.example');
    });
  });

  describe('no usable answer', () => {
    it('a dropped connection is outcome_unknown (ECONNRESET): the service may have it', async () => {
      fake.setFailurePlan({ failNext: { count: 1, status: DROP_CONNECTION } });
      const error = await rejection(adapter.send(push()));
      expect(error).toMatchObject({ kind: 'outcome_unknown', vendorCode: 'ECONNRESET' });
      expect(fake.requests).toHaveLength(1);
    });

    it('a refused connection is transient (ECONNREFUSED)', async () => {
      const port = await closedPort();
      const gone = {
        ...subscriber,
        subscription: {
          ...subscriber.subscription,
          endpoint: `https://localhost:${port}/push/${subscriber.id}`,
        },
      };
      const error = await rejection(adapter.send(push({}, gone)));
      expect(error).toMatchObject({ kind: 'transient', vendorCode: 'ECONNREFUSED' });
    });

    it('a slow push service is cut at requestTimeoutMs (TIMEOUT, outcome_unknown)', async () => {
      fake.setFailurePlan({ latency: { minMs: 1_000, maxMs: 1_000 } });
      const started = Date.now();
      const error = await rejection(adapterWith({ requestTimeoutMs: 300 }).send(push()));
      expect(error).toMatchObject({ kind: 'outcome_unknown', vendorCode: 'TIMEOUT' });
      expect(Date.now() - started).toBeLessThan(900);
    });

    // Only ECONNREFUSED, ECONNRESET and TIMEOUT can be provoked through the fake (it answers on
    // 127.0.0.1, so DNS and a write to a closed socket never fail); every row is asserted here.
    it.each(Object.entries(WEB_PUSH_NETWORK_ERROR_KINDS))('network code %s → %s', (code, kind) => {
      expect(classifyWebPushNetworkError(code)).toBe(kind);
    });

    it('TLS failures are configuration, unknown network codes outcome_unknown', () => {
      expect(classifyWebPushNetworkError('CERT_HAS_EXPIRED')).toBe('configuration');
      expect(classifyWebPushNetworkError('HPE_INVALID_CONSTANT')).toBe('outcome_unknown');
    });

    it('an untrusted certificate is configuration', async () => {
      const error = await rejection(adapterWith({ caCertPem: undefined }).send(push()));
      expect(error).toMatchObject({
        kind: 'configuration',
        vendorCode: 'DEPTH_ZERO_SELF_SIGNED_CERT',
      });
    });
  });

  describe('unusable subscriptions never reach a push service', () => {
    const good = () => subscriber.subscription;
    it.each([
      ['not JSON', () => 'not json'],
      ['no keys', () => JSON.stringify({ endpoint: good().endpoint })],
      [
        'a short p256dh',
        () => JSON.stringify({ ...good(), keys: { ...good().keys, p256dh: 'AAAA' } }),
      ],
      [
        'a 12-byte auth',
        () => JSON.stringify({ ...good(), keys: { ...good().keys, auth: 'AAAAAAAAAAAAAAAA' } }),
      ],
    ])('%s → invalid_recipient', async (_label, address) => {
      const error = await rejection(adapter.send(push({ address: address() })));
      expect(error).toMatchObject({
        kind: 'invalid_recipient',
        vendorCode: 'INVALID_SUBSCRIPTION',
      });
      expect(fake.requests).toHaveLength(0);
    });

    const withEndpoint = (endpoint: string) =>
      push({ address: JSON.stringify({ ...good(), endpoint }) });

    it.each([
      ['the url.parse bypass', 'https://127.0.0.1;.push.apple.com/x', 'lowercase DNS name'],
      ['an http:// endpoint', 'http://localhost/x', 'lowercase DNS name'],
      ['an IP literal', 'https://127.0.0.1/x', 'not an IP address'],
      ['userinfo', 'https://web.push.apple.com@localhost/x', 'lowercase DNS name'],
    ])('%s → invalid_recipient UNSAFE_ENDPOINT', async (_label, endpoint, why) => {
      const defaults = adapterWith({ pushServiceHosts: ['.push.apple.com', 'localhost'] });
      const error = await rejection(defaults.send(withEndpoint(endpoint)));
      expect(error).toMatchObject({ kind: 'invalid_recipient', vendorCode: 'UNSAFE_ENDPOINT' });
      expect(error.message).toContain(why);
      expect(error.message).not.toContain('127.0.0.1');
      expect(fake.requests).toHaveLength(0);
    });

    it('refuses a port other than 443 unless non-public addresses are allowed', async () => {
      const production = adapterWith({ allowedAddresses: undefined });
      const error = await rejection(production.send(push()));
      expect(error).toMatchObject({ kind: 'invalid_recipient', vendorCode: 'UNSAFE_ENDPOINT' });
      expect(error.message).toBe('webpush: the subscription endpoint names a port other than 443');
      expect(fake.requests).toHaveLength(0);
    });

    it('refuses a host that resolves to loopback before connecting (PUSH_ADDRESS_REFUSED)', async () => {
      // Allowing some other range keeps the sandbox's port usable while loopback stays refused.
      const guarded = adapterWith({ allowedAddresses: ['192.0.2.0/24'] });
      const error = await rejection(guarded.send(push()));
      expect(error).toMatchObject({
        kind: 'invalid_recipient',
        vendorCode: 'PUSH_ADDRESS_REFUSED',
      });
      expect(error.message).toBe(
        'webpush: not sent: the push service host resolves only to loopback addresses',
      );
      expect(fake.requests).toHaveLength(0);
      expect(fake.deliveries()).toHaveLength(0);
    });

    it('sends to the normalised endpoint', async () => {
      const endpoint = subscriber.subscription.endpoint.replace('/push/', '/push/x/../');
      await adapter.send(withEndpoint(endpoint));
      expect(fake.deliveries(subscriber.id)).toHaveLength(1);
    });

    it('refuses endpoints outside the push service hosts (SSRF guard)', async () => {
      const defaults = adapterWith({ pushServiceHosts: undefined });
      const error = await rejection(defaults.send(push()));
      expect(error).toMatchObject({
        kind: 'invalid_recipient',
        vendorCode: 'PUSH_SERVICE_NOT_ALLOWED',
      });
      expect(fake.requests).toHaveLength(0);
      const apple = {
        ...subscriber,
        subscription: {
          ...subscriber.subscription,
          endpoint: 'https://evil.example/push.apple.com',
        },
      };
      await expect(defaults.send(push({}, apple))).rejects.toMatchObject({
        vendorCode: 'PUSH_SERVICE_NOT_ALLOWED',
      });
    });
  });

  describe('configuration', () => {
    it.each(['providerId', 'vapidSubject', 'vapidPublicKey', 'vapidPrivateKey'] as const)(
      'names a missing %s',
      (name) => {
        const error = thrownBy(() => new WebPushAdapter({ ...options, [name]: '' }));
        expect(error).toBeInstanceOf(ChannelError);
        expect(error).toMatchObject({ kind: 'configuration' });
        expect((error as ChannelError).message).toContain(`missing option "${name}"`);
      },
    );

    it('rejects a subject that is no contact, a broken key, a mismatched pair and a bad timeout', () => {
      const other = generateVAPIDKeys();
      expect(
        () => new WebPushAdapter({ ...options, vapidSubject: 'ops@omnigate.example' }),
      ).toThrow(/vapidSubject/);
      expect(() => new WebPushAdapter({ ...options, vapidPublicKey: 'abc' })).toThrow(
        /vapidPublicKey/,
      );
      expect(() => new WebPushAdapter({ ...options, vapidPrivateKey: other.privateKey })).toThrow(
        /does not belong/,
      );
      expect(() => new WebPushAdapter({ ...options, requestTimeoutMs: -1 })).toThrow(
        /requestTimeoutMs/,
      );
    });
  });

  describe('connection pool (the agent that checks addresses, kept alive)', () => {
    // A push service of their own: calls left over from the timeout tests would count here.
    let pooled: FakeWebPush;
    let to: FakePushSubscription;
    beforeEach(async () => {
      pooled = await FakeWebPush.start();
      to = pooled.createSubscription({ applicationServerKey: options.vapidPublicKey });
    });
    afterEach(() => pooled.close());

    it('sends one push after another over one kept-alive connection', async () => {
      const sender = adapterWith({ caCertPem: pooled.caCertPem });

      for (let i = 0; i < 5; i += 1) await sender.send(push({}, to));

      expect(pooled.requests.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
      expect(pooled.connectionsOpened).toBe(1);
    });

    it('opens no more than maxSockets connections, however many pushes wait', async () => {
      pooled.setFailurePlan({ latency: { minMs: 50, maxMs: 50 } });
      const sender = adapterWith({ caCertPem: pooled.caCertPem, maxSockets: 2 });

      await Promise.all(Array.from({ length: 6 }, () => sender.send(push({}, to))));

      expect(pooled.requests).toHaveLength(6);
      expect(pooled.connectionsOpened).toBe(2);
      expect(pooled.peakInFlight).toBe(2);
    });
  });
});
