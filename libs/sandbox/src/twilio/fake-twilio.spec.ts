import { countSmsSegments, FakeTwilio } from './fake-twilio';

const ACCOUNT = `AC${'9'.repeat(32)}`;
const TOKEN = 'token-9';
const MESSAGES = `/2010-04-01/Accounts/${ACCOUNT}/Messages.json`;

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly json: Record<string, unknown>;
}

describe('FakeTwilio', () => {
  let fake: FakeTwilio;

  beforeAll(async () => {
    fake = await new FakeTwilio({ accounts: { [ACCOUNT]: TOKEN } }).listen();
  });
  afterEach(() => fake.reset());
  afterAll(() => fake.close());

  async function post(
    fields: Record<string, string>,
    { path = MESSAGES, user = ACCOUNT, password = TOKEN } = {},
  ): Promise<Answer> {
    const response = await fetch(`${fake.url}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams(fields).toString(),
    });
    return {
      status: response.status,
      headers: response.headers,
      json: (await response.json()) as Record<string, unknown>,
    };
  }

  it('creates a queued message resource', async () => {
    const answer = await post({ To: '+14155550100', From: '+15005550006', Body: 'hello' });

    expect(answer.status).toBe(201);
    expect(answer.json).toMatchObject({
      account_sid: ACCOUNT,
      api_version: '2010-04-01',
      to: '+14155550100',
      from: '+15005550006',
      body: 'hello',
      status: 'queued',
      direction: 'outbound-api',
      num_segments: '1',
      error_code: null,
    });
    expect(answer.json.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(answer.json.date_created).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$/);
    expect(answer.json.uri).toBe(
      `/2010-04-01/Accounts/${ACCOUNT}/Messages/${answer.json.sid as string}.json`,
    );
    expect(fake.acceptedMessages).toEqual([
      { To: '+14155550100', From: '+15005550006', Body: 'hello' },
    ]);
  });

  it('answers "accepted" with no from for a Messaging Service', async () => {
    const answer = await post({
      To: '+14155550100',
      MessagingServiceSid: `MG${'0'.repeat(32)}`,
      Body: 'x',
    });

    expect(answer.json).toMatchObject({
      status: 'accepted',
      from: null,
      messaging_service_sid: `MG${'0'.repeat(32)}`,
    });
  });

  it.each([
    ['wrong token', { password: 'nope' }],
    ['unknown account', { user: `AC${'8'.repeat(32)}` }],
    [
      'another account in the path',
      { path: `/2010-04-01/Accounts/AC${'8'.repeat(32)}/Messages.json` },
    ],
  ])('answers 401 / 20003 for %s', async (_label, auth) => {
    const answer = await post({ To: '+14155550100', From: '+15005550006', Body: 'x' }, auth);

    expect(answer.status).toBe(401);
    expect(answer.json).toEqual({
      code: 20003,
      message: 'Authenticate',
      more_info: 'https://www.twilio.com/docs/errors/20003',
      status: 401,
    });
  });

  it('answers 404 / 20404 for other paths', async () => {
    const answer = await post({}, { path: `/2010-04-01/Accounts/${ACCOUNT}/Calls.json` });

    expect(answer).toMatchObject({ status: 404, json: { code: 20404, status: 404 } });
  });

  it.each([
    ['no To', { From: '+15005550006', Body: 'x' }, 21604],
    ['no From', { To: '+14155550100', Body: 'x' }, 21603],
    ['no Body', { To: '+14155550100', From: '+15005550006' }, 21602],
    ['a malformed To', { To: '4155550100', From: '+15005550006', Body: 'x' }, 21211],
    ['mixed channels', { To: 'whatsapp:+14155550100', From: '+15005550006', Body: 'x' }, 21910],
    [
      'a body over 1600 characters',
      { To: '+14155550100', From: '+15005550006', Body: 'x'.repeat(1601) },
      21617,
    ],
    [
      'a malformed ContentSid',
      { To: 'whatsapp:+14155550100', From: 'whatsapp:+15005550006', ContentSid: 'HX1' },
      21655,
    ],
    [
      'ContentVariables that are not a JSON object',
      {
        To: 'whatsapp:+14155550100',
        From: 'whatsapp:+15005550006',
        ContentSid: `HX${'a'.repeat(32)}`,
        ContentVariables: '[1]',
      },
      21656,
    ],
  ])('validates: %s → %s', async (_label, fields, code) => {
    const answer = await post(fields);

    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({
      code,
      status: 400,
      more_info: `https://www.twilio.com/docs/errors/${code}`,
    });
  });

  it('answers planned recipient codes with their HTTP status, and 400 for codes it does not know', async () => {
    fake.setFailurePlan({
      recipientErrors: {
        '+14155550100': '20429',
        '+14155550101': '20503',
        '+14155550102': '29876',
      },
      retryAfterSeconds: 4,
    });
    const send = (to: string) => post({ To: to, From: '+15005550006', Body: 'x' });

    const limited = await send('+14155550100');
    const unavailable = await send('+14155550101');
    const unknown = await send('+14155550102');

    expect(limited).toMatchObject({ status: 429, json: { code: 20429 } });
    expect(limited.headers.get('retry-after')).toBe('4');
    expect(unavailable).toMatchObject({ status: 503, json: { code: 20503 } });
    expect(unknown).toMatchObject({ status: 400, json: { code: 29876, message: 'Error 29876' } });
  });

  it('records the form fields and the recipient', async () => {
    await post({ To: '+14155550100', From: '+15005550006', Body: 'a+b & c' });

    expect(fake.requests[0]).toMatchObject({
      provider: 'twilio',
      recipient: '+14155550100',
      body: { To: '+14155550100', From: '+15005550006', Body: 'a+b & c' },
    });
  });
});

describe('countSmsSegments', () => {
  it.each([
    ['', 1],
    ['a'.repeat(160), 1],
    ['a'.repeat(161), 2],
    ['a'.repeat(306), 2],
    ['a'.repeat(307), 3],
    ['€'.repeat(80), 1], // extension characters count twice in GSM-7
    ['€'.repeat(81), 2],
    ['你'.repeat(70), 1],
    ['你'.repeat(71), 2],
    ['😀'.repeat(35), 1], // two UTF-16 units each
    ['😀'.repeat(36), 2],
  ])('%j → %s', (body, segments) => {
    expect(countSmsSegments(body)).toBe(segments);
  });
});
