import { createServer } from 'node:net';
import { inspect } from 'node:util';
import {
  DROP_CONNECTION,
  FakeTwilio,
  sandboxTls,
  type FailurePlan,
  type FakeRequest,
  type FakeResponse,
  type ParsedRequest,
  type TwilioFormFields,
} from '@omnigate/sandbox';
import type { OutboundMessage } from '../channel-adapter';
import { ChannelError } from '../channel-error';
import { UNREADABLE_RESPONSE } from './twilio-client';
import {
  TWILIO_SMS_ERROR_DESCRIPTIONS,
  TWILIO_SMS_ERROR_KINDS,
  TwilioSmsAdapter,
  type TwilioSmsAdapterOptions,
} from './twilio-sms.adapter';
import { rejectionOf } from '../../../../test/support/rejections';

const ACCOUNT_SID = `AC${'1'.repeat(32)}`;
const AUTH_TOKEN = 'secret-token';
const FROM = '+15005550006';
const TO = '+14155550123';

function smsTo(address: string, text = 'Your order shipped'): OutboundMessage<'sms'> {
  return {
    messageId: 'msg-1',
    customerId: 'cust-1',
    channel: 'sms',
    address,
    content: { text },
    category: 'order_updates',
    priority: 'normal',
  };
}

const rejection = (promise: Promise<unknown>) => rejectionOf(promise, ChannelError);

/** What a 201 carries when Twilio's answer is unreadable. */
type GarbledBody = 'not JSON' | 'no sid' | 'null';

/**
 * The Twilio fake, except that it accepts messages with a 201 we cannot read (its failure plans
 * only make errors). Garbled bodies quote the recipient, as a proxy's error page might.
 */
class GarbledTwilio extends FakeTwilio {
  garble: GarbledBody = 'not JSON';

  protected override respond(
    request: FakeRequest,
    parsed: ParsedRequest,
    plan: FailurePlan,
  ): FakeResponse {
    const answer = super.respond(request, parsed, plan);
    if (answer.status !== 201) return answer;
    const to = (parsed.body as TwilioFormFields).To as string;
    const bodies: Record<GarbledBody, unknown> = {
      'not JSON': `${to} queued`,
      'no sid': { to, status: 'queued' },
      null: 'null',
    };
    return {
      ...answer,
      headers: { 'content-type': 'application/json' },
      body: bodies[this.garble],
    };
  }
}

/** A URL nothing listens on. */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('TwilioSmsAdapter against the Twilio fake', () => {
  let fake: FakeTwilio;
  let options: TwilioSmsAdapterOptions;
  let adapter: TwilioSmsAdapter;

  beforeAll(async () => {
    fake = await new FakeTwilio({ accounts: { [ACCOUNT_SID]: AUTH_TOKEN } }).listen();
    options = {
      providerId: 'twilio',
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      from: FROM,
      webhookBaseUrl: 'https://gateway.example.com/',
      baseUrl: fake.url,
      requestTimeoutMs: 2_000,
    };
    adapter = new TwilioSmsAdapter(options);
  });

  afterEach(() => fake.reset());
  afterAll(() => fake.close());

  const lastFields = (): TwilioFormFields => fake.requests.at(-1)?.body as TwilioFormFields;

  it('posts To, From, Body and StatusCallback and returns the message sid', async () => {
    const acceptance = await adapter.send(smsTo(TO));

    const recorded = fake.requests[0];
    expect(recorded).toMatchObject({
      method: 'POST',
      path: `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`,
      status: 201,
    });
    expect(recorded?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(recorded?.headers.authorization).toBe(
      `Basic ${Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64')}`,
    );
    expect(recorded?.body).toEqual({
      To: TO,
      From: FROM,
      Body: 'Your order shipped',
      StatusCallback: 'https://gateway.example.com/webhooks/twilio/twilio/status?messageId=msg-1',
    });
    expect(acceptance.provider).toBe('twilio');
    expect(acceptance.providerMessageId).toMatch(/^SM[0-9a-f]{32}$/);
    expect(acceptance.providerMessageId).toBe(recorded?.providerMessageId);
    expect(acceptance.acceptedAt).toBeInstanceOf(Date);
  });

  it('names each message in its own StatusCallback, encoded, under a base URL with a path', async () => {
    const behindPrefix = new TwilioSmsAdapter({
      ...options,
      providerId: 'backup_1',
      webhookBaseUrl: 'https://omnigate.example.com/gw',
    });

    await behindPrefix.send({ ...smsTo(TO), messageId: 'order 7/a&b=c' });

    expect(lastFields().StatusCallback).toBe(
      'https://omnigate.example.com/gw/webhooks/twilio/backup_1/status?messageId=order%207%2Fa%26b%3Dc',
    );
  });

  it('sends through a Messaging Service with the TTL as ValidityPeriod', async () => {
    const viaService = new TwilioSmsAdapter({
      ...options,
      providerId: 'twilio-backup',
      from: undefined,
      messagingServiceSid: `MG${'2'.repeat(32)}`,
      webhookBaseUrl: undefined,
    });

    const acceptance = await viaService.send({ ...smsTo(TO), ttlSeconds: 90_000 });

    expect(lastFields()).toEqual({
      To: TO,
      MessagingServiceSid: `MG${'2'.repeat(32)}`,
      Body: 'Your order shipped',
      ValidityPeriod: '36000',
    });
    expect(acceptance.provider).toBe('twilio-backup');
  });

  it.each([
    ['Chinese', '您的订单已发货，请查收。'],
    ['emoji', 'Shipped 📦🚚 — ETA 2 days 👍🏽 👨‍👩‍👧'],
    ['Arabic (RTL)', '\u200Fتم شحن طلبك رقم ١٢٣ + خصم 10%'],
    ['form-encoding specials', 'a+b=c&d%20e ~!*()\'"\n<tag>'],
  ])('delivers %s text byte-identical', async (_label, text) => {
    await adapter.send(smsTo(TO, text));

    const body = lastFields().Body;
    expect(typeof body).toBe('string');
    expect(Buffer.from(body as string, 'utf8').equals(Buffer.from(text, 'utf8'))).toBe(true);
  });

  describe('every row of TWILIO_SMS_ERROR_KINDS', () => {
    it.each(Object.entries(TWILIO_SMS_ERROR_KINDS))('Twilio %s becomes %s', async (code, kind) => {
      fake.setFailurePlan({ recipientErrors: { [TO]: code } });

      const error = await rejection(adapter.send(smsTo(TO)));

      expect(error.kind).toBe(kind);
      expect(error.vendorCode).toBe(code);
      expect(error.provider).toBe('twilio');
      expect(error.message).toMatch(
        new RegExp(`^twilio: Twilio error ${code} \\(HTTP \\d{3}\\): `),
      );
      expect(error.message).toContain(
        TWILIO_SMS_ERROR_DESCRIPTIONS[code as keyof typeof TWILIO_SMS_ERROR_DESCRIPTIONS],
      );
      expect(error.message).not.toContain(TO);
    });
  });

  it('falls back on the HTTP status for codes not in the table', async () => {
    fake.setFailurePlan({ recipientErrors: { [TO]: '21999' } });
    const unknown4xx = await rejection(adapter.send(smsTo(TO)));
    expect(unknown4xx).toMatchObject({ kind: 'permanent', vendorCode: '21999' });
    expect(unknown4xx.message).toBe('twilio: Twilio error 21999 (HTTP 400): request refused');

    fake.setFailurePlan({ failNext: { count: 1, status: 502 } });
    const codeless5xx = await rejection(adapter.send(smsTo(TO)));
    expect(codeless5xx).toMatchObject({ kind: 'transient', vendorCode: '502' });
  });

  it.each([401, 403])(
    'sends a code-less HTTP %s (suspended account, missing permission) to the next account',
    async (status) => {
      fake.setFailurePlan({ failNext: { count: 1, status } });

      const error = await rejection(adapter.send(smsTo(TO)));

      expect(error).toMatchObject({ kind: 'configuration', vendorCode: String(status) });
      expect(error.message).toBe(
        `twilio: Twilio answered HTTP ${status}: account credentials or permissions refused`,
      );
    },
  );

  it('reads Retry-After on a 429 and does not retry on its own', async () => {
    fake.setFailurePlan({ failNext: { count: 1, status: 429, retryAfterSeconds: 7 } });

    const error = await rejection(adapter.send(smsTo(TO)));

    expect(error).toMatchObject({ kind: 'rate_limited', vendorCode: '20429', retryAfterMs: 7_000 });
    expect(error.retryable).toBe(true);
    expect(fake.requests).toHaveLength(1);
  });

  it('leaves retryAfterMs unset when a 429 has no Retry-After', async () => {
    fake.setFailurePlan({ rateLimitRate: 1 });

    const error = await rejection(adapter.send(smsTo(TO)));

    expect(error).toMatchObject({ kind: 'rate_limited', vendorCode: '20429' });
    expect(error.retryAfterMs).toBeUndefined();
  });

  it('maps plan-driven 500 and 503 to transient', async () => {
    fake.setFailurePlan({ failNext: { count: 2, status: 500 } });
    expect(await rejection(adapter.send(smsTo(TO)))).toMatchObject({
      kind: 'transient',
      vendorCode: '20500',
    });

    fake.setFailurePlan({ serverErrorRate: 1 });
    expect(await rejection(adapter.send(smsTo(TO)))).toMatchObject({
      kind: 'transient',
      vendorCode: '20503',
    });
  });

  it('rejects an invalid number (21211) without quoting it, though Twilio does', async () => {
    const invalid = '+0555123987';

    const error = await rejection(adapter.send(smsTo(invalid)));

    // The fake answers as Twilio: "The 'To' number +0555123987 is not a valid phone number."
    expect(fake.requests[0]).toMatchObject({ status: 400, recipient: invalid });
    expect(error).toMatchObject({ kind: 'invalid_recipient', vendorCode: '21211' });
    expect(error.message).toBe("twilio: Twilio error 21211 (HTTP 400): invalid 'To' phone number");
    expect(String(error)).not.toContain(invalid);
    const logged = inspect(error, { depth: 20 });
    expect(logged).not.toContain(invalid);
    expect(logged).not.toContain(AUTH_TOKEN);
  });

  it('keeps the number out of the error for every planned vendor error', async () => {
    fake.setFailurePlan({ recipientErrors: { [TO]: '21610' } });

    const error = await rejection(adapter.send(smsTo(TO)));

    expect(`${error.message} ${String(error)} ${inspect(error, { depth: 20 })}`).not.toContain(
      TO.slice(1),
    );
  });

  it('reports wrong credentials as a configuration error (20003)', async () => {
    const wrongToken = new TwilioSmsAdapter({ ...options, authToken: 'not-the-token' });

    const error = await rejection(wrongToken.send(smsTo(TO)));

    expect(error).toMatchObject({ kind: 'configuration', vendorCode: '20003' });
    expect(fake.requests[0]?.status).toBe(401);
  });

  describe('network failures: nothing sent is transient, maybe sent is outcome_unknown', () => {
    it('connection refused: transient', async () => {
      const nowhere = new TwilioSmsAdapter({ ...options, baseUrl: await closedPortUrl() });

      const error = await rejection(nowhere.send(smsTo(TO)));

      expect(error).toMatchObject({ kind: 'transient', vendorCode: 'ECONNREFUSED' });
      // The error is logged; the SDK's request config (with the Authorization header) must not be.
      const logged = inspect(error, { depth: 20 });
      expect(logged).not.toContain(AUTH_TOKEN);
      expect(logged).not.toContain(Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64'));
      expect(logged).not.toContain(TO);
    });

    it('TLS handshake failure: transient (no request was written)', async () => {
      const secure = await new FakeTwilio({
        accounts: { [ACCOUNT_SID]: AUTH_TOKEN },
        tls: await sandboxTls(),
      }).listen();
      try {
        // Node does not trust the sandbox's self-signed certificate.
        const distrustful = new TwilioSmsAdapter({ ...options, baseUrl: secure.url });

        const error = await rejection(distrustful.send(smsTo(TO)));

        expect(error).toMatchObject({
          kind: 'transient',
          vendorCode: 'DEPTH_ZERO_SELF_SIGNED_CERT',
        });
        expect(secure.requests).toHaveLength(0);
      } finally {
        await secure.close();
      }
    });

    it('request timeout: outcome_unknown, not retryable', async () => {
      const impatient = new TwilioSmsAdapter({ ...options, requestTimeoutMs: 100 });
      fake.setFailurePlan({ latency: { minMs: 400, maxMs: 400 } });

      const error = await rejection(impatient.send(smsTo(TO)));

      expect(error.kind).toBe('outcome_unknown');
      expect(error.retryable).toBe(false);
      expect(['ECONNABORTED', 'ETIMEDOUT']).toContain(error.vendorCode);
    });

    it('socket hang up after sending: outcome_unknown', async () => {
      fake.setFailurePlan({ failNext: { count: 1, status: DROP_CONNECTION } });

      expect(await rejection(adapter.send(smsTo(TO)))).toMatchObject({
        kind: 'outcome_unknown',
        vendorCode: 'ECONNRESET',
      });
      expect(fake.requests).toHaveLength(1);
    });
  });

  describe('a 201 we cannot read is outcome_unknown, never a refusal', () => {
    let garbled: GarbledTwilio;

    beforeAll(async () => {
      garbled = await new GarbledTwilio({ accounts: { [ACCOUNT_SID]: AUTH_TOKEN } }).listen();
    });
    afterAll(() => garbled.close());

    it.each(['not JSON', 'no sid', 'null'] as const)('body: %s', async (body) => {
      garbled.garble = body;
      garbled.reset();
      const reader = new TwilioSmsAdapter({ ...options, baseUrl: garbled.url });

      const error = await rejection(reader.send(smsTo(TO)));

      expect(garbled.requests[0]?.status).toBe(201);
      expect(error).toMatchObject({
        kind: 'outcome_unknown',
        vendorCode: UNREADABLE_RESPONSE,
        provider: 'twilio',
      });
      expect(error.message).toContain('HTTP 201');
      // The body quoted the number; a JSON SyntaxError would have quoted the body.
      expect(`${String(error)} ${inspect(error, { depth: 20 })}`).not.toContain(TO.slice(1));
    });
  });

  describe('configuration', () => {
    it.each([
      ['accountSid', { accountSid: '' }, /missing option "accountSid"/],
      ['authToken', { authToken: undefined as unknown as string }, /missing option "authToken"/],
      [
        'from or messagingServiceSid',
        { from: undefined },
        /missing option "from" \(or "messagingServiceSid"\)/,
      ],
      ['both senders', { messagingServiceSid: `MG${'3'.repeat(32)}` }, /not both/],
      [
        'an API key as accountSid',
        { accountSid: `SK${'1'.repeat(32)}` },
        /"accountSid" must start with AC/,
      ],
      ['a bad timeout', { requestTimeoutMs: 0 }, /"requestTimeoutMs"/],
      ['a bad base URL', { baseUrl: 'not a url' }, /"baseUrl"/],
    ])('names the problem: %s', (_label, override, message) => {
      const build = () => new TwilioSmsAdapter({ ...options, ...override });

      expect(build).toThrow(ChannelError);
      expect(build).toThrow(message);
      try {
        build();
      } catch (error) {
        expect((error as ChannelError).kind).toBe('configuration');
      }
    });
  });

  describe('connection pool', () => {
    let pooled: FakeTwilio;
    beforeEach(async () => {
      pooled = await new FakeTwilio({ accounts: { [ACCOUNT_SID]: AUTH_TOKEN } }).listen();
    });
    afterEach(() => pooled.close());

    it('sends one request after another over one kept-alive connection', async () => {
      const sender = new TwilioSmsAdapter({ ...options, baseUrl: pooled.url });

      for (let i = 0; i < 5; i += 1) await sender.send(smsTo(TO));

      expect(pooled.requests.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
      expect(pooled.connectionsOpened).toBe(1);
    });

    it('opens no more than maxSockets connections, however many sends wait', async () => {
      pooled.setFailurePlan({ latency: { minMs: 50, maxMs: 50 } });
      const sender = new TwilioSmsAdapter({ ...options, baseUrl: pooled.url, maxSockets: 2 });

      await Promise.all(Array.from({ length: 6 }, () => sender.send(smsTo(TO))));

      expect(pooled.requests).toHaveLength(6);
      expect(pooled.connectionsOpened).toBe(2);
      expect(pooled.peakInFlight).toBe(2);
    });
  });
});
