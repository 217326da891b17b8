import { FakeSendGrid } from './fake-sendgrid';

const KEY = 'SG.fake.key';

const validMail = {
  personalizations: [{ to: [{ email: 'ana@example.com' }] }],
  from: { email: 'noreply@shop.example' },
  subject: 'Hi',
  content: [
    { type: 'text/plain', value: 'plain' },
    { type: 'text/html', value: '<p>html</p>' },
  ],
};

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

describe('FakeSendGrid', () => {
  let fake: FakeSendGrid;

  beforeAll(async () => {
    fake = await new FakeSendGrid({
      apiKeys: [KEY],
      keysWithoutSendScope: ['SG.read.only'],
      maxBodyBytes: 2048,
    }).listen();
  });
  afterEach(() => fake.reset());
  afterAll(() => fake.close());

  /** `key: null` sends no Authorization header at all. */
  async function send(
    body: unknown,
    { key = KEY, path = '/v3/mail/send' }: { key?: string | null; path?: string } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (key !== null) headers.authorization = `Bearer ${key}`;
    const response = await fetch(`${fake.url}${path}`, {
      method: 'POST',
      headers,
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, headers: response.headers, text: await response.text() };
  }

  const errorsOf = (answer: Answer) =>
    (
      JSON.parse(answer.text) as {
        errors: { message: string; field: string | null; help: string | null }[];
      }
    ).errors;

  it('accepts with 202, an empty body and X-Message-Id', async () => {
    const answer = await send(validMail);

    expect(answer.status).toBe(202);
    expect(answer.text).toBe('');
    expect(answer.headers.get('x-message-id')).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(fake.requests[0]).toMatchObject({
      provider: 'sendgrid',
      recipient: 'ana@example.com',
      providerMessageId: answer.headers.get('x-message-id'),
    });
    expect(fake.acceptedMails).toEqual([validMail]);
  });

  it.each([
    ['no key', { key: null }, 401, 'authorization required'],
    [
      'an unknown key',
      { key: 'SG.other' },
      401,
      'The provided authorization grant is invalid, expired, or revoked',
    ],
    ['a key without mail.send', { key: 'SG.read.only' }, 403, 'access forbidden'],
    ['another path', { path: '/v3/marketing/contacts' }, 404, 'resource not found'],
  ])('refuses %s with %s', async (_label, options, status, message) => {
    const answer = await send(validMail, options);

    expect(answer.status).toBe(status);
    expect(errorsOf(answer)).toEqual([{ message, field: null, help: null }]);
  });

  it('refuses bodies over maxBodyBytes with 413', async () => {
    const answer = await send({
      ...validMail,
      content: [{ type: 'text/plain', value: 'x'.repeat(4096) }],
    });

    expect(answer.status).toBe(413);
  });

  it('refuses malformed JSON with 400', async () => {
    const answer = await send('{"personalizations":');

    expect(answer.status).toBe(400);
    expect(errorsOf(answer)[0]?.message).toBe('Bad Request');
  });

  it('reports every validation problem at once, with fields', async () => {
    const answer = await send({
      personalizations: [{ to: [{ email: 'not-an-address' }] }],
      from: { email: 'also-bad' },
      content: [
        { type: 'text/html', value: '<p>x</p>' },
        { type: 'text/plain', value: '' },
      ],
      custom_args: { messageId: 42 },
      categories: Array.from({ length: 11 }, (_, i) => `c${i}`),
    });

    expect(answer.status).toBe(400);
    expect(errorsOf(answer).map((e) => e.field)).toEqual([
      'personalizations.0.to.0.email',
      'from.email',
      'subject',
      'content.1.value',
      'content',
      'custom_args.messageId',
      'categories',
    ]);
    expect(errorsOf(answer)[0]?.help).toMatch(/^http:\/\/sendgrid\.com\/docs\//);
  });

  it('requires personalizations and content', async () => {
    const answer = await send({ from: { email: 'a@b.example' }, subject: 'x' });

    expect(errorsOf(answer).map((e) => e.field)).toEqual(['personalizations', 'content']);
  });

  it('answers planned statuses for any recipient, case-insensitively, naming its field', async () => {
    fake.setFailurePlan({ recipientErrors: { 'BOB@example.com': '400' } });

    const answer = await send({
      ...validMail,
      personalizations: [
        { to: [{ email: 'ana@example.com' }], cc: [{ email: 'bob@example.com' }] },
      ],
    });

    expect(answer.status).toBe(400);
    expect(errorsOf(answer)[0]).toMatchObject({
      message: 'Does not contain a valid address.',
      field: 'personalizations.0.cc.0.email',
    });
  });

  it('sends X-RateLimit headers on a 429', async () => {
    fake.setFailurePlan({ rateLimitRate: 1, retryAfterSeconds: 30 });
    const before = Math.floor(Date.now() / 1000);

    const answer = await send(validMail);

    expect(answer.status).toBe(429);
    expect(answer.headers.get('x-ratelimit-limit')).toBe('600');
    expect(answer.headers.get('x-ratelimit-remaining')).toBe('0');
    const reset = Number(answer.headers.get('x-ratelimit-reset'));
    expect(reset - before).toBeGreaterThanOrEqual(30);
    expect(reset - before).toBeLessThanOrEqual(32);
    expect(errorsOf(answer)[0]?.message).toBe('too many requests');
  });

  it('answers plan server errors in SendGrid shape', async () => {
    fake.setFailurePlan({ failNext: { count: 1, status: 500 } });

    const answer = await send(validMail);

    expect(answer.status).toBe(500);
    expect(errorsOf(answer)).toEqual([
      { message: 'internal server error', field: null, help: null },
    ]);
  });
});
