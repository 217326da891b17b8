import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:net';
import { inspect } from 'node:util';
import { getApps } from 'firebase-admin/app';
// Relative until libs/sandbox/src/index.ts re-exports the push fakes.
import {
  DROP_CONNECTION,
  type FailurePlan,
  type FakeRequest,
  type FakeResponse,
  type ParsedRequest,
} from '../../../sandbox/src/core';
import { FakeFcm, FCM_SCOPE, sandboxTls, type FcmWireMessage } from '../../../sandbox/src/push';
import type { OutboundMessage } from '../channel-adapter';
import { ChannelError } from '../channel-error';
import { PushAckTokens } from '../push-ack-token';
import {
  buildFcmMessage,
  classifyFcmNetworkError,
  FCM_ERROR_DESCRIPTIONS,
  FCM_ERROR_KINDS,
  FCM_NETWORK_ERROR_KINDS,
  FCM_UNREADABLE_RESPONSE,
  FcmPushAdapter,
  type FcmPushAdapterOptions,
} from './fcm-push.adapter';
import { rejectionOf } from '../../../../test/support/rejections';

const TOKEN = 'fGx1c2FuZGJveA:APA91bH-sandbox_device_token_0001';

function push(
  overrides: Partial<OutboundMessage<'mobilepush'>> = {},
): OutboundMessage<'mobilepush'> {
  return {
    messageId: 'msg-1',
    customerId: 'cust-1',
    channel: 'mobilepush',
    address: TOKEN,
    content: { title: 'Your order shipped', body: 'It arrives tomorrow' },
    category: 'order_updates',
    priority: 'normal',
    ...overrides,
  };
}

const rejection = (promise: Promise<unknown>) => rejectionOf(promise, ChannelError);

/**
 * The FCM fake with quirks its failure plans cannot make: error messages that quote the token (as
 * FCM may), or a 200 we cannot read (an HTML page quoting the token, or JSON without a name).
 */
class QuirkyFcm extends FakeFcm {
  success: 'normal' | 'html' | 'no name' = 'normal';
  /** Every error body it sent, to prove the token really was in the vendor's answer. */
  readonly errorBodies: string[] = [];

  protected override respond(
    request: FakeRequest,
    parsed: ParsedRequest,
    plan: FailurePlan,
  ): FakeResponse {
    const answer = super.respond(request, parsed, plan);
    const token = parsed.recipient ?? '';
    if (answer.status === 200) {
      if (this.success === 'html') {
        return {
          status: 200,
          headers: { 'content-type': 'text/html' },
          body: `<html>queued for ${token}</html>`,
        };
      }
      return this.success === 'no name' ? { status: 200, body: { token } } : answer;
    }
    const body: unknown = answer.body;
    if (typeof body !== 'object' || body === null || !('error' in body)) return answer;
    const error = (body as { error: Record<string, unknown> }).error;
    const echoed = { error: { ...error, message: `Token ${token} is not registered.` } };
    this.errorBodies.push(JSON.stringify(echoed));
    return { ...answer, body: echoed };
  }
}

/** A base URL nothing listens on. */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `https://127.0.0.1:${port}`;
}

describe('FcmPushAdapter against the FCM fake (real firebase-admin)', () => {
  let fake: FakeFcm;
  let options: FcmPushAdapterOptions;
  let adapter: FcmPushAdapter;
  const extraAdapters: FcmPushAdapter[] = [];

  /** Another adapter on the same fake, closed after the test. */
  const adapterWith = (overrides: Partial<FcmPushAdapterOptions>): FcmPushAdapter => {
    const created = new FcmPushAdapter({ ...options, ...overrides });
    extraAdapters.push(created);
    return created;
  };
  const lastMessage = (): FcmWireMessage => {
    const message = fake.messages.at(-1);
    if (!message) throw new Error('the fake accepted no message');
    return message;
  };

  beforeAll(async () => {
    fake = await FakeFcm.start();
    options = {
      providerId: 'fcm',
      serviceAccount: fake.serviceAccount,
      endpointOverride: fake.endpoints,
      caCertPem: fake.caCertPem,
      requestTimeoutMs: 3_000,
      collapseCategories: ['delivery_eta'],
    };
    adapter = new FcmPushAdapter(options);
  });

  afterEach(async () => {
    fake.reset();
    await Promise.all(extraAdapters.splice(0).map((extra) => extra.close()));
  });

  afterAll(async () => {
    await adapter.close();
    await fake.close();
  });

  it('sends notification, data, Android and APNs options and returns the message name', async () => {
    const before = Math.floor(Date.now() / 1000);
    const acceptance = await adapter.send(
      push({
        priority: 'high',
        ttlSeconds: 3600,
        content: {
          title: 'Your order shipped',
          body: 'It arrives tomorrow',
          imageUrl: 'https://cdn.example.com/parcel.png',
          data: { orderId: 'o-42', deepLink: 'shop://orders/o-42' },
        },
      }),
    );

    const recorded = fake.requests.at(-1);
    expect(recorded).toMatchObject({
      method: 'POST',
      path: `/v1/projects/${fake.projectId}/messages:send`,
      status: 200,
      recipient: TOKEN,
    });
    expect(recorded?.headers.authorization).toMatch(/^Bearer ya29\.sandbox-/);
    expect(recorded?.headers.host).toBe('fcm.googleapis.com');
    const message = lastMessage();
    expect(message).toMatchObject({
      token: TOKEN,
      notification: {
        title: 'Your order shipped',
        body: 'It arrives tomorrow',
        image: 'https://cdn.example.com/parcel.png',
      },
      data: { orderId: 'o-42', deepLink: 'shop://orders/o-42' },
      android: { priority: 'high', ttl: '3600s', notification: { tag: 'msg-1' } },
      apns: { headers: { 'apns-priority': '10', 'apns-collapse-id': 'msg-1' } },
    });
    expect(message.android?.collapse_key).toBeUndefined();
    const expiration = Number(message.apns?.headers?.['apns-expiration']);
    expect(expiration).toBeGreaterThanOrEqual(before + 3600);
    expect(expiration).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 3600);

    expect(acceptance.provider).toBe('fcm');
    expect(acceptance.providerMessageId).toBe(recorded?.providerMessageId);
    expect(acceptance.providerMessageId).toMatch(
      new RegExp(`^projects/${fake.projectId}/messages/0:\\d+%[0-9a-f]+$`),
    );
  });

  it("adds a signed ack URL and token to the data, beside the content's own data", async () => {
    const tokens = new PushAckTokens(Buffer.alloc(32, 5), [], 3600);
    const ackUrl = 'https://omnigate.example.com/webhooks/push/ack';
    const acking = adapterWith({ ack: tokens.issuer(ackUrl) });

    await acking.send(
      push({
        messageId: 'msg-ack-2',
        content: { title: 't', body: 'b', data: { orderId: 'o-42' } },
      }),
    );

    const data = lastMessage().data ?? {};
    expect(data).toMatchObject({ orderId: 'o-42', omnigate_ack_url: ackUrl });
    expect(tokens.verify(String(data.omnigate_ack_token))).toMatchObject({
      ok: true,
      claims: { messageId: 'msg-ack-2', channel: 'mobilepush', providerId: 'fcm' },
    });
  });

  it('sends no ack data without an issuer', async () => {
    await adapter.send(push());
    expect(lastMessage().data).toBeUndefined();
  });

  it('exchanged one JWT assertion for an access token with the messaging scope, then reused it', async () => {
    const fresh = adapterWith({});
    await fresh.send(push());
    await fresh.send(push({ messageId: 'msg-2' }));

    expect(fake.tokenRequests).toHaveLength(1);
    expect(fake.tokenRequests[0]).toMatchObject({
      status: 200,
      clientEmail: fake.serviceAccount.client_email,
      scopes: [FCM_SCOPE],
    });
    expect(fake.messages).toHaveLength(2);
  });

  it('maps normal and low priority to Android normal / apns-priority 5, and omits TTLs it was not given', async () => {
    for (const priority of ['normal', 'low'] as const) {
      await adapter.send(push({ priority }));
      const message = lastMessage();
      expect(message.android?.priority).toBe('normal');
      expect(message.android?.ttl).toBeUndefined();
      expect(message.apns?.headers?.['apns-priority']).toBe('5');
      expect(message.apns?.headers?.['apns-expiration']).toBeUndefined();
    }
  });

  it('collapses only the configured categories', async () => {
    await adapter.send(push({ category: 'delivery_eta', messageId: 'eta-1' }));
    expect(lastMessage()).toMatchObject({
      android: { collapse_key: 'delivery_eta', notification: { tag: 'delivery_eta' } },
      apns: { headers: { 'apns-collapse-id': 'delivery_eta' } },
    });
  });

  it('keeps apns-collapse-id within 64 bytes for long message ids', () => {
    const built = buildFcmMessage(push({ messageId: 'm'.repeat(200) }), { collapse: false });
    expect(Buffer.byteLength(built.apns?.headers?.['apns-collapse-id'] ?? '')).toBeLessThanOrEqual(
      64,
    );
  });

  it.each([
    ['Chinese', '您的订单已发货', '预计明天送达，请注意查收。'],
    ['emoji', '📦 Shipped! 🎉', 'On its way 🚚💨 — 👍🏽'],
    ['Arabic (RTL)', 'تم شحن طلبك', '\u200Fسيصل غدًا إن شاء الله'],
  ])('delivers %s text intact', async (_script, title, body) => {
    await adapter.send(push({ content: { title, body, data: { note: body } } }));
    expect(lastMessage()).toMatchObject({ notification: { title, body }, data: { note: body } });
  });

  describe('vendor error table', () => {
    type Provoke = () => Promise<ChannelError>;
    const sendTo = (recipientError: string, retryAfterSeconds?: number): Provoke => {
      return () => {
        fake.setFailurePlan({ recipientErrors: { [TOKEN]: recipientError }, retryAfterSeconds });
        return rejection(adapter.send(push()));
      };
    };
    // Typed by the table's keys, so a new row without a scenario does not compile.
    const scenarios: Record<keyof typeof FCM_ERROR_KINDS, Provoke> = {
      'messaging/registration-token-not-registered': sendTo('UNREGISTERED'),
      'messaging/invalid-registration-token': () =>
        rejection(adapter.send(push({ address: 'not a token!' }))),
      'messaging/invalid-argument': sendTo('INVALID_ARGUMENT'),
      'messaging/mismatched-credential': sendTo('SENDER_ID_MISMATCH'),
      'messaging/message-rate-exceeded': sendTo('QUOTA_EXCEEDED', 7),
      'messaging/server-unavailable': sendTo('UNAVAILABLE'),
      'messaging/internal-error': sendTo('INTERNAL'),
      'messaging/third-party-auth-error': sendTo('THIRD_PARTY_AUTH_ERROR'),
      'oauth2/invalid_grant': () => {
        const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
        const wrongKey = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
        const stranger = adapterWith({
          serviceAccount: { ...fake.serviceAccount, private_key: wrongKey },
        });
        return rejection(stranger.send(push()));
      },
    };

    it.each(Object.entries(FCM_ERROR_KINDS))('%s → %s', async (vendorCode, kind) => {
      const error = await scenarios[vendorCode as keyof typeof FCM_ERROR_KINDS]();
      expect(error).toMatchObject({ kind, vendorCode, provider: 'fcm' });
      if (vendorCode === 'messaging/message-rate-exceeded') expect(error.retryAfterMs).toBe(7000);
      expect(error.message).toContain(
        FCM_ERROR_DESCRIPTIONS[vendorCode as keyof typeof FCM_ERROR_DESCRIPTIONS],
      );
      expect(error.message).not.toContain(TOKEN);
    });

    it('never treats an unknown FCM code as success: 4xx → permanent, keeping the vendor code', async () => {
      fake.setFailurePlan({ recipientErrors: { [TOKEN]: 'SOMETHING_NEW' } });
      const error = await rejection(adapter.send(push()));
      expect(error).toMatchObject({ kind: 'permanent', vendorCode: 'messaging/unknown-error' });
      expect(error.message).toContain('HTTP 400');
    });

    it('treats an HTML 502 from Google’s front end as transient', async () => {
      fake.setFailurePlan({ failNext: { count: 1, status: 502 } });
      const error = await rejection(adapter.send(push()));
      expect(error).toMatchObject({ kind: 'transient', vendorCode: 'messaging/unknown-error' });
    });

    it('honours Retry-After on plan-chosen 429s', async () => {
      fake.setFailurePlan({ rateLimitRate: 1, retryAfterSeconds: 3 });
      const error = await rejection(adapter.send(push()));
      expect(error).toMatchObject({
        kind: 'rate_limited',
        vendorCode: 'messaging/message-rate-exceeded',
        retryAfterMs: 3000,
      });
    });

    it('does not let firebase-admin retry a 503 behind our back', async () => {
      fake.setFailurePlan({ failNext: { count: 1, status: 503 } });
      const error = await rejection(adapter.send(push()));
      expect(error).toMatchObject({
        kind: 'transient',
        vendorCode: 'messaging/server-unavailable',
      });
      expect(fake.requests).toHaveLength(1);
      await expect(adapter.send(push())).resolves.toBeDefined();
    });

    it('keeps the Authorization header out of the error cause', async () => {
      fake.setFailurePlan({ recipientErrors: { [TOKEN]: 'UNREGISTERED' } });
      const error = await rejection(adapter.send(push()));
      expect(JSON.stringify(error.cause, Object.getOwnPropertyNames(error.cause))).not.toMatch(
        /ya29|Bearer/,
      );
    });
  });

  describe('personal data and unreadable answers', () => {
    let quirky: QuirkyFcm;
    let quirkyAdapter: FcmPushAdapter;

    beforeAll(async () => {
      quirky = await new QuirkyFcm({}, await sandboxTls()).listen();
      quirkyAdapter = new FcmPushAdapter({
        ...options,
        serviceAccount: quirky.serviceAccount,
        endpointOverride: quirky.endpoints,
      });
    });
    afterEach(() => {
      quirky.reset();
      quirky.success = 'normal';
    });
    afterAll(async () => {
      await quirkyAdapter.close();
      await quirky.close();
    });

    it('never puts the token FCM echoes into the error', async () => {
      quirky.setFailurePlan({ recipientErrors: { [TOKEN]: 'UNREGISTERED' } });

      const error = await rejection(quirkyAdapter.send(push()));

      expect(quirky.errorBodies.at(-1)).toContain(TOKEN);
      expect(error).toMatchObject({
        kind: 'unreachable_token',
        vendorCode: 'messaging/registration-token-not-registered',
      });
      expect(error.message).toBe(
        'fcm: FCM error messaging/registration-token-not-registered (HTTP 404): registration token no longer registered',
      );
      expect(String(error)).not.toContain(TOKEN);
      const logged = inspect(error, { depth: 20 });
      expect(logged).not.toContain(TOKEN);
      expect(logged).not.toMatch(/ya29|Bearer|PRIVATE KEY/);
    });

    it.each(['html', 'no name'] as const)(
      'a 200 we cannot read (%s) is outcome_unknown',
      async (success) => {
        quirky.success = success;

        const error = await rejection(quirkyAdapter.send(push()));

        expect(quirky.requests.at(-1)?.status).toBe(200);
        expect(error.kind).toBe('outcome_unknown');
        expect(error.retryable).toBe(false);
        expect(error.vendorCode).toBe(
          success === 'html' ? 'messaging/unknown-error' : FCM_UNREADABLE_RESPONSE,
        );
        // firebase-admin's message would quote the raw body, and the body quoted the token.
        expect(`${String(error)} ${inspect(error, { depth: 20 })}`).not.toContain(TOKEN);
      },
    );
  });

  describe('no usable answer', () => {
    it('a dropped connection is outcome_unknown (ECONNRESET): FCM may have the message', async () => {
      fake.setFailurePlan({ failNext: { count: 1, status: DROP_CONNECTION } });
      const error = await rejection(adapter.send(push()));
      expect(error).toMatchObject({ kind: 'outcome_unknown', vendorCode: 'ECONNRESET' });
      expect(fake.requests).toHaveLength(1);
    });

    it('a refused connection is transient (ECONNREFUSED)', async () => {
      const nowhere = adapterWith({
        endpointOverride: { fcm: await closedPortUrl(), oauth2: fake.endpoints.oauth2 },
      });
      const error = await rejection(nowhere.send(push()));
      expect(error).toMatchObject({ kind: 'transient', vendorCode: 'ECONNREFUSED' });
    });

    it('a slow FCM is cut at requestTimeoutMs (TIMEOUT, outcome_unknown)', async () => {
      const impatient = adapterWith({ requestTimeoutMs: 300 });
      await impatient.send(push()); // fetch the access token first
      fake.setFailurePlan({ latency: { minMs: 1_000, maxMs: 1_000 } });
      const started = Date.now();
      const error = await rejection(impatient.send(push()));
      expect(error).toMatchObject({ kind: 'outcome_unknown', vendorCode: 'TIMEOUT' });
      expect(Date.now() - started).toBeLessThan(900);
    });

    it('an unavailable token endpoint is transient', async () => {
      fake.setTokenFailure({ status: 503, count: 1 });
      const error = await rejection(adapterWith({}).send(push()));
      expect(error).toMatchObject({ kind: 'transient', vendorCode: 'oauth2/internal_failure' });
    });

    it('an unreachable token endpoint is transient', async () => {
      const nowhere = adapterWith({
        endpointOverride: { fcm: fake.url, oauth2: await closedPortUrl() },
      });
      const error = await rejection(nowhere.send(push()));
      expect(error).toMatchObject({ kind: 'transient', vendorCode: 'oauth2/ECONNREFUSED' });
      expect(fake.requests).toHaveLength(0);
    });

    // Only ECONNREFUSED, ECONNRESET and TIMEOUT can be provoked through the fake (it answers on
    // 127.0.0.1, so DNS and a write to a closed socket never fail); every row is asserted here.
    it.each(Object.entries(FCM_NETWORK_ERROR_KINDS))('network code %s → %s', (code, kind) => {
      expect(classifyFcmNetworkError(code)).toBe(kind);
    });

    it('TLS failures are configuration, unknown network codes outcome_unknown', () => {
      expect(classifyFcmNetworkError('CERT_HAS_EXPIRED')).toBe('configuration');
      expect(classifyFcmNetworkError('HPE_INVALID_CONSTANT')).toBe('outcome_unknown');
    });

    it('an access token Google no longer accepts is configuration (401, reported by the SDK as a third-party auth error)', async () => {
      const account = fake.createServiceAccount();
      const revoked = adapterWith({ serviceAccount: account });
      await revoked.send(push());
      fake.revokeAccessTokens(account.client_email);
      const error = await rejection(revoked.send(push()));
      expect(error).toMatchObject({
        kind: 'configuration',
        vendorCode: 'messaging/third-party-auth-error',
      });
      expect(error.message).toContain('HTTP 401');
    });

    it('an untrusted certificate is configuration, not a retry', async () => {
      const distrustful = adapterWith({ caCertPem: undefined });
      const error = await rejection(distrustful.send(push()));
      expect(error).toMatchObject({
        kind: 'configuration',
        vendorCode: 'oauth2/DEPTH_ZERO_SELF_SIGNED_CERT',
      });
    });

    it('an empty token is an invalid recipient, without calling FCM', async () => {
      const error = await rejection(adapter.send(push({ address: '  ' })));
      expect(error.kind).toBe('invalid_recipient');
      expect(fake.requests).toHaveLength(0);
    });
  });

  describe('configuration', () => {
    it.each([
      ['providerId', { providerId: '' }],
      ['serviceAccount', { serviceAccount: undefined }],
      ['serviceAccount.project_id', { serviceAccount: { client_email: 'a@b', private_key: 'k' } }],
      ['serviceAccount.client_email', { serviceAccount: { project_id: 'p', private_key: 'k' } }],
      ['serviceAccount.private_key', { serviceAccount: { project_id: 'p', client_email: 'a@b' } }],
    ])('names a missing %s', (name, overrides) => {
      const build = () => new FcmPushAdapter({ ...options, ...(overrides as object) });
      expect(build).toThrow(ChannelError);
      expect(build).toThrow(`missing option "${name}"`);
    });

    it('rejects an unreadable private key and a bad timeout', () => {
      const badKey = { ...options.serviceAccount, private_key: 'not a key' };
      expect(() => new FcmPushAdapter({ ...options, serviceAccount: badKey })).toThrow(
        /serviceAccount\.private_key is not a readable PEM key/,
      );
      expect(() => new FcmPushAdapter({ ...options, requestTimeoutMs: 0 })).toThrow(
        /requestTimeoutMs/,
      );
      const halfOverride = { fcm: fake.url } as FcmPushAdapterOptions['endpointOverride'];
      expect(() => new FcmPushAdapter({ ...options, endpointOverride: halfOverride })).toThrow(
        /"endpointOverride\.oauth2" is not a URL/,
      );
    });

    it('uses a named app per adapter and never the default app; close() removes it', async () => {
      const before = getApps().length;
      const second = new FcmPushAdapter(options);
      expect(getApps()).toHaveLength(before + 1);
      expect(getApps().map((app) => app.name)).not.toContain('[DEFAULT]');
      await second.send(push());
      await second.close();
      expect(getApps()).toHaveLength(before);
      // The first adapter is unaffected by the second one's deletion.
      await expect(adapter.send(push())).resolves.toBeDefined();
    });

    it('keeps adapters for different projects apart', async () => {
      // Two FCMs of the test's own: a call the timeout tests left on the shared fake may land
      // on it late (it did, on a loaded CI machine) and would count here.
      const own = await FakeFcm.start();
      const other = await FakeFcm.start({ projectId: 'other-project' });
      try {
        const ownAdapter = adapterWith({
          serviceAccount: own.serviceAccount,
          endpointOverride: own.endpoints,
          caCertPem: own.caCertPem,
        });
        const otherAdapter = adapterWith({
          serviceAccount: other.serviceAccount,
          endpointOverride: other.endpoints,
          caCertPem: other.caCertPem,
        });
        await otherAdapter.send(push());
        await ownAdapter.send(push());
        expect(other.messages).toHaveLength(1);
        expect(other.requests[0]?.path).toBe('/v1/projects/other-project/messages:send');
        expect(own.messages).toHaveLength(1);
        expect(own.requests.at(-1)?.path).not.toContain('other-project');
      } finally {
        await Promise.all([own.close(), other.close()]);
      }
    });
  });

  describe('connection pool (firebase-admin through our httpAgent)', () => {
    // An FCM of its own: calls left over from the timeout tests would count here.
    let pooled: FakeFcm;
    const pooledAdapter = (maxSockets?: number): FcmPushAdapter =>
      adapterWith({
        serviceAccount: pooled.serviceAccount,
        endpointOverride: pooled.endpoints,
        caCertPem: pooled.caCertPem,
        ...(maxSockets !== undefined && { maxSockets }),
      });
    beforeEach(async () => {
      pooled = await FakeFcm.start();
    });
    afterEach(() => pooled.close());

    it('sends one message after another over one kept-alive connection', async () => {
      const sender = pooledAdapter();

      for (let i = 0; i < 5; i += 1) await sender.send(push());

      expect(pooled.messages).toHaveLength(5);
      expect(pooled.connectionsOpened).toBe(1);
    });

    it('opens no more than maxSockets connections, however many messages wait', async () => {
      const sender = pooledAdapter(2);
      await sender.send(push()); // the access token first, so the six below only send
      pooled.setFailurePlan({ latency: { minMs: 50, maxMs: 50 } });

      await Promise.all(Array.from({ length: 6 }, () => sender.send(push())));

      expect(pooled.messages).toHaveLength(7);
      expect(pooled.connectionsOpened).toBe(2);
      expect(pooled.peakInFlight).toBe(2);
    });
  });
});
