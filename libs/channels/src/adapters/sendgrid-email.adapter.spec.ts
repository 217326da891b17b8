import { createServer } from 'node:net';
import { inspect } from 'node:util';
import {
  DROP_CONNECTION,
  FakeSendGrid,
  sandboxTls,
  type FailurePlan,
  type FakeRequest,
  type FakeResponse,
  type ParsedRequest,
} from '@omnigate/sandbox';
import type { ChannelContent, OutboundMessage } from '../channel-adapter';
import { ChannelError } from '../channel-error';
import {
  classifySendGridNetworkError,
  classifySendGridStatus,
  SENDGRID_ERROR_DESCRIPTIONS,
  SENDGRID_ERROR_KINDS,
  SENDGRID_MISSING_MESSAGE_ID,
  SENDGRID_NETWORK_ERROR_KINDS,
  SendGridEmailAdapter,
  sendGridRetryAfterMs,
  type SendGridEmailAdapterOptions,
} from './sendgrid-email.adapter';
import { rejectionOf } from '../../../../test/support/rejections';

const API_KEY = 'SG.test-key.abcdef';
const TO = 'ana@example.com';

function emailTo(
  content: ChannelContent<'email'> = {
    subject: 'Order shipped',
    text: 'Plain body',
    html: '<p>HTML body</p>',
  },
  address = TO,
): OutboundMessage<'email'> {
  return {
    messageId: 'msg-email-1',
    customerId: 'cust-1',
    channel: 'email',
    address,
    content,
    category: 'order_updates',
    priority: 'normal',
  };
}

const rejection = (promise: Promise<unknown>) => rejectionOf(promise, ChannelError);

/**
 * The SendGrid fake with two quirks its failure plans cannot make: error messages that name the
 * address (as SendGrid's sometimes do), and, when asked, a 202 without X-Message-Id.
 */
class QuirkySendGrid extends FakeSendGrid {
  dropMessageId = false;
  /** Every error body it sent, to prove the address really was in the vendor's answer. */
  readonly errorBodies: string[] = [];

  protected override respond(
    request: FakeRequest,
    parsed: ParsedRequest,
    plan: FailurePlan,
  ): FakeResponse {
    const answer = super.respond(request, parsed, plan);
    if (answer.status === 202) {
      if (!this.dropMessageId) return answer;
      return { ...answer, headers: {} };
    }
    const address = parsed.recipient ?? '';
    const body = {
      errors: [
        {
          message: `The address ${address} does not contain a valid address.`,
          field: 'personalizations.0.to.0.email',
          help: null,
        },
        { message: `Recipient ${address} refused`, field: address, help: null },
      ],
    };
    this.errorBodies.push(JSON.stringify(body));
    return { ...answer, body };
  }
}

async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('SendGridEmailAdapter against the SendGrid fake', () => {
  let fake: FakeSendGrid;
  let options: SendGridEmailAdapterOptions;
  let adapter: SendGridEmailAdapter;

  beforeAll(async () => {
    fake = await new FakeSendGrid({
      apiKeys: [API_KEY],
      keysWithoutSendScope: ['SG.read-only.key'],
      maxBodyBytes: 64 * 1024,
    }).listen();
    options = {
      providerId: 'sendgrid',
      apiKey: API_KEY,
      fromEmail: 'noreply@shop.example',
      fromName: 'Shop',
      baseUrl: fake.url,
      requestTimeoutMs: 2_000,
    };
    adapter = new SendGridEmailAdapter(options);
  });

  afterEach(() => fake.reset());
  afterAll(() => fake.close());

  const lastMail = (): Record<string, unknown> =>
    fake.requests.at(-1)?.body as Record<string, unknown>;

  it('posts a v3 mail with both content types, custom_args and categories', async () => {
    const acceptance = await adapter.send(emailTo());

    const recorded = fake.requests[0];
    expect(recorded).toMatchObject({
      method: 'POST',
      path: '/v3/mail/send',
      status: 202,
      recipient: TO,
    });
    expect(recorded?.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(recorded?.body).toEqual({
      personalizations: [{ to: [{ email: TO }] }],
      from: { email: 'noreply@shop.example', name: 'Shop' },
      subject: 'Order shipped',
      content: [
        { type: 'text/plain', value: 'Plain body' },
        { type: 'text/html', value: '<p>HTML body</p>' },
      ],
      custom_args: { messageId: 'msg-email-1', category: 'order_updates' },
      categories: ['order_updates'],
    });
    expect(acceptance.provider).toBe('sendgrid');
    expect(acceptance.providerMessageId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(acceptance.providerMessageId).toBe(recorded?.providerMessageId);
  });

  it('sends html alone, and a bare from address without fromName', async () => {
    const plainSender = new SendGridEmailAdapter({ ...options, fromName: undefined });

    await plainSender.send(emailTo({ subject: 'Hi', html: '<b>only html</b>' }));

    expect(lastMail().content).toEqual([{ type: 'text/html', value: '<b>only html</b>' }]);
    expect(lastMail().from).toEqual({ email: 'noreply@shop.example' });
  });

  it.each([
    ['Chinese', '订单已发货', '<p>您的订单已发货，请查收。</p>'],
    ['emoji', 'Shipped 📦🚚', '<p>On its way 👍🏽 👨‍👩‍👧</p>'],
    ['Arabic (RTL)', 'تم شحن طلبك', '<p dir="rtl">\u200Fتم شحن طلبك رقم ١٢٣</p>'],
  ])('delivers %s subject, text and html byte-identical', async (_label, subject, html) => {
    await adapter.send(emailTo({ subject, text: subject, html }));

    const mail = lastMail();
    const [plainBlock, htmlBlock] = mail.content as { value: string }[];
    expect(Buffer.from(mail.subject as string).equals(Buffer.from(subject))).toBe(true);
    expect(Buffer.from(plainBlock?.value ?? '').equals(Buffer.from(subject))).toBe(true);
    expect(Buffer.from(htmlBlock?.value ?? '').equals(Buffer.from(html))).toBe(true);
  });

  describe('every row of SENDGRID_ERROR_KINDS', () => {
    it.each(Object.entries(SENDGRID_ERROR_KINDS))('HTTP %s becomes %s', async (status, kind) => {
      fake.setFailurePlan({ recipientErrors: { [TO]: status } });

      const error = await rejection(adapter.send(emailTo()));

      expect(error.kind).toBe(kind);
      expect(error.vendorCode).toBe(status);
      expect(error.provider).toBe('sendgrid');
      expect(fake.requests.at(-1)?.status).toBe(Number(status));
      expect(error.message).toContain(
        `sendgrid: SendGrid answered HTTP ${status}: ${
          SENDGRID_ERROR_DESCRIPTIONS[status as keyof typeof SENDGRID_ERROR_DESCRIPTIONS]
        }`,
      );
      expect(error.message).not.toContain(TO);
    });
  });

  it('explains a recipient rejection with the field SendGrid blamed, not its message', async () => {
    fake.setFailurePlan({ recipientErrors: { [TO]: '400' } });

    const error = await rejection(adapter.send(emailTo()));

    expect(error.message).toBe(
      'sendgrid: SendGrid answered HTTP 400: request refused as invalid (fields: personalizations.0.to.0.email)',
    );
  });

  describe('personal data', () => {
    let quirky: QuirkySendGrid;

    beforeAll(async () => {
      quirky = await new QuirkySendGrid({ apiKeys: [API_KEY] }).listen();
    });
    afterEach(() => quirky.reset());
    afterAll(() => quirky.close());

    it('never puts the address SendGrid echoes into the error', async () => {
      quirky.setFailurePlan({ recipientErrors: { [TO]: '400' } });
      const echoed = new SendGridEmailAdapter({ ...options, baseUrl: quirky.url });

      const error = await rejection(echoed.send(emailTo()));

      expect(quirky.errorBodies.at(-1)).toContain(TO);
      expect(error).toMatchObject({ kind: 'permanent', vendorCode: '400' });
      expect(error.message).toBe(
        'sendgrid: SendGrid answered HTTP 400: request refused as invalid (fields: personalizations.0.to.0.email)',
      );
      expect(String(error)).not.toContain(TO);
      const logged = inspect(error, { depth: 20 });
      expect(logged).not.toContain(TO);
      expect(logged).not.toContain(API_KEY);
    });

    it('reports a 202 without X-Message-Id as outcome_unknown', async () => {
      quirky.dropMessageId = true;
      try {
        const reader = new SendGridEmailAdapter({ ...options, baseUrl: quirky.url });

        const error = await rejection(reader.send(emailTo()));

        expect(quirky.requests.at(-1)?.status).toBe(202);
        expect(error).toMatchObject({
          kind: 'outcome_unknown',
          vendorCode: SENDGRID_MISSING_MESSAGE_ID,
          provider: 'sendgrid',
        });
        expect(error.retryable).toBe(false);
        expect(inspect(error, { depth: 20 })).not.toContain(TO);
      } finally {
        quirky.dropMessageId = false;
      }
    });
  });

  it('falls back on 4xx/5xx for statuses not in the table', async () => {
    fake.setFailurePlan({ failNext: { count: 1, status: 418 } });
    expect(await rejection(adapter.send(emailTo()))).toMatchObject({
      kind: 'permanent',
      vendorCode: '418',
    });

    fake.setFailurePlan({ failNext: { count: 1, status: 507 } });
    expect(await rejection(adapter.send(emailTo()))).toMatchObject({
      kind: 'transient',
      vendorCode: '507',
    });
  });

  it('reads X-RateLimit-Reset on a 429 and does not retry on its own', async () => {
    fake.setFailurePlan({ failNext: { count: 1, status: 429, retryAfterSeconds: 7 } });

    const error = await rejection(adapter.send(emailTo()));

    expect(error.kind).toBe('rate_limited');
    expect(error.retryAfterMs).toBeGreaterThan(6_000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(8_000);
    expect(fake.requests).toHaveLength(1);
  });

  it('maps the plan server errors to transient', async () => {
    fake.setFailurePlan({ serverErrorRate: 1, serverErrorStatus: 500 });

    expect(await rejection(adapter.send(emailTo()))).toMatchObject({
      kind: 'transient',
      vendorCode: '500',
    });
  });

  it('answers 413 for a mail over the configured size', async () => {
    const error = await rejection(
      adapter.send(emailTo({ subject: 'big', html: 'x'.repeat(70 * 1024) })),
    );

    expect(error).toMatchObject({ kind: 'permanent', vendorCode: '413' });
  });

  it('reports an unknown key (401) and a key without mail.send (403) as configuration', async () => {
    const unknownKey = new SendGridEmailAdapter({ ...options, apiKey: 'SG.revoked.key' });
    const readOnlyKey = new SendGridEmailAdapter({ ...options, apiKey: 'SG.read-only.key' });

    expect(await rejection(unknownKey.send(emailTo()))).toMatchObject({
      kind: 'configuration',
      vendorCode: '401',
    });
    expect(await rejection(readOnlyKey.send(emailTo()))).toMatchObject({
      kind: 'configuration',
      vendorCode: '403',
    });
  });

  it('keeps two adapters with different keys apart (no shared SDK singleton)', async () => {
    const other = new SendGridEmailAdapter({
      ...options,
      providerId: 'sendgrid-backup',
      apiKey: 'SG.other.key',
    });

    await adapter.send(emailTo());
    await rejection(other.send(emailTo()));
    await adapter.send(emailTo());

    expect(fake.requests.map((r) => [r.headers.authorization, r.status])).toEqual([
      [`Bearer ${API_KEY}`, 202],
      ['Bearer SG.other.key', 401],
      [`Bearer ${API_KEY}`, 202],
    ]);
  });

  describe('network failures: nothing sent is transient, maybe sent is outcome_unknown', () => {
    it('connection refused: transient, without the API key in the logged error', async () => {
      const nowhere = new SendGridEmailAdapter({ ...options, baseUrl: await closedPortUrl() });

      const error = await rejection(nowhere.send(emailTo()));

      expect(error).toMatchObject({ kind: 'transient', vendorCode: 'ECONNREFUSED' });
      expect(inspect(error, { depth: 20 })).not.toContain(API_KEY);
      expect(inspect(error, { depth: 20 })).not.toContain(TO);
    });

    it('TLS handshake failure: transient (no request was written)', async () => {
      const secure = await new FakeSendGrid({
        apiKeys: [API_KEY],
        tls: await sandboxTls(),
      }).listen();
      try {
        // Node does not trust the sandbox's self-signed certificate.
        const distrustful = new SendGridEmailAdapter({ ...options, baseUrl: secure.url });

        const error = await rejection(distrustful.send(emailTo()));

        expect(error).toMatchObject({
          kind: 'transient',
          vendorCode: 'DEPTH_ZERO_SELF_SIGNED_CERT',
        });
        expect(secure.requests).toHaveLength(0);
      } finally {
        await secure.close();
      }
    });

    it('request timeout: outcome_unknown', async () => {
      const impatient = new SendGridEmailAdapter({ ...options, requestTimeoutMs: 100 });
      fake.setFailurePlan({ latency: { minMs: 400, maxMs: 400 } });

      const error = await rejection(impatient.send(emailTo()));

      expect(error.kind).toBe('outcome_unknown');
      expect(['ECONNABORTED', 'ETIMEDOUT']).toContain(error.vendorCode);
    });

    it('socket hang up after sending: outcome_unknown', async () => {
      fake.setFailurePlan({ failNext: { count: 1, status: DROP_CONNECTION } });

      expect(await rejection(adapter.send(emailTo()))).toMatchObject({
        kind: 'outcome_unknown',
        vendorCode: 'ECONNRESET',
      });
      expect(fake.requests).toHaveLength(1);
    });
  });

  describe('configuration', () => {
    it.each([
      ['apiKey', { apiKey: '' }, /sendgrid: missing option "apiKey"/],
      ['fromEmail', { fromEmail: undefined as unknown as string }, /missing option "fromEmail"/],
      ['providerId', { providerId: '' }, /missing option "providerId"/],
      ['a key that is not a SendGrid key', { apiKey: 'abc' }, /"apiKey" must start with "SG\."/],
      ['a bad timeout', { requestTimeoutMs: -1 }, /"requestTimeoutMs"/],
      ['a bad base URL', { baseUrl: '::' }, /"baseUrl"/],
    ])('names the problem: %s', (_label, override, message) => {
      const build = () => new SendGridEmailAdapter({ ...options, ...override });

      expect(build).toThrow(ChannelError);
      expect(build).toThrow(message);
    });
  });

  describe('connection pool', () => {
    let pooled: FakeSendGrid;
    beforeEach(async () => {
      pooled = await new FakeSendGrid({ apiKeys: [API_KEY] }).listen();
    });
    afterEach(() => pooled.close());

    it('sends one request after another over one kept-alive connection', async () => {
      const sender = new SendGridEmailAdapter({ ...options, baseUrl: pooled.url });

      for (let i = 0; i < 5; i += 1) await sender.send(emailTo());

      expect(pooled.requests.map((r) => r.status)).toEqual([202, 202, 202, 202, 202]);
      expect(pooled.connectionsOpened).toBe(1);
    });

    it('opens no more than maxSockets connections, however many sends wait', async () => {
      pooled.setFailurePlan({ latency: { minMs: 50, maxMs: 50 } });
      const sender = new SendGridEmailAdapter({ ...options, baseUrl: pooled.url, maxSockets: 2 });

      await Promise.all(Array.from({ length: 6 }, () => sender.send(emailTo())));

      expect(pooled.requests).toHaveLength(6);
      expect(pooled.connectionsOpened).toBe(2);
      expect(pooled.peakInFlight).toBe(2);
    });
  });
});

describe('SendGrid classification fallbacks', () => {
  it.each([
    [400, 'permanent'],
    [404, 'permanent'],
    [405, 'permanent'],
    [422, 'permanent'],
    [429, 'rate_limited'],
    [500, 'transient'],
    [501, 'transient'],
    [599, 'transient'],
  ] as const)('HTTP %s → %s', (status, kind) => {
    expect(classifySendGridStatus(status)).toBe(kind);
  });

  // Only ECONNREFUSED, ECONNRESET and the timeout can be provoked through the fake (it answers on
  // 127.0.0.1, so DNS and a write to a closed socket never fail); every row is asserted here.
  it.each(Object.entries(SENDGRID_NETWORK_ERROR_KINDS))('network code %s → %s', (code, kind) => {
    expect(classifySendGridNetworkError(code)).toBe(kind);
  });

  it('keeps TLS handshake failures transient and an unknown network code outcome_unknown', () => {
    expect(classifySendGridNetworkError('DEPTH_ZERO_SELF_SIGNED_CERT')).toBe('transient');
    expect(classifySendGridNetworkError('HPE_INVALID_CONSTANT')).toBe('outcome_unknown');
  });

  it('reads Retry-After first, then X-RateLimit-Reset', () => {
    const now = 1_700_000_000_000;
    expect(
      sendGridRetryAfterMs({ 'retry-after': '3', 'x-ratelimit-reset': '1700000060' }, now),
    ).toBe(3_000);
    expect(sendGridRetryAfterMs({ 'x-ratelimit-reset': '1700000060' }, now)).toBe(60_000);
    expect(sendGridRetryAfterMs({ 'x-ratelimit-reset': '1600000000' }, now)).toBe(0);
    expect(sendGridRetryAfterMs({}, now)).toBeUndefined();
    expect(sendGridRetryAfterMs(undefined, now)).toBeUndefined();
  });
});
