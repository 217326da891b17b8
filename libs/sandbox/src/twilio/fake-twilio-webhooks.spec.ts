import twilio from 'twilio';
import { webhookIngress } from '../core';
import { RecordingReceiver } from '../core/recording-receiver.testing';
import { FakeTwilio } from './fake-twilio';

const ACCOUNT = `AC${'7'.repeat(32)}`;
const TOKEN = 'auth-token-7';
const PUBLIC_BASE = 'https://omnigate.example.com';
const STATUS_PATH = '/webhooks/twilio/twilio/status?messageId=msg%2Fsms-1';
const INBOUND_PATH = '/webhooks/twilio/twilio/inbound';

/**
 * The fake's outbound half against a local receiver that checks every request the way the gateway
 * does, with the twilio package's own validateRequest over the public URL Twilio was given.
 */
describe('FakeTwilio status callbacks and inbound messages', () => {
  let receiver: RecordingReceiver;
  let fake: FakeTwilio;

  const fields = (body: string): Record<string, string> =>
    Object.fromEntries(new URLSearchParams(body));
  const verifies = (body: string, signature: unknown, url: string, token = TOKEN) =>
    twilio.validateRequest(token, String(signature), url, fields(body));
  const send = (params: Record<string, string>) =>
    fetch(`${fake.url}/2010-04-01/Accounts/${ACCOUNT}/Messages.json`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${ACCOUNT}:${TOKEN}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams(params).toString(),
    }).then(async (r) => (await r.json()) as { sid: string });
  const statuses = () =>
    receiver.received.map((r) => fields(r.body)).map((f) => [f.MessageStatus, f.ErrorCode]);

  beforeAll(async () => {
    receiver = await new RecordingReceiver().listen();
    fake = await new FakeTwilio({
      accounts: { [ACCOUNT]: TOKEN },
      statusCallbacks: { delayMs: 5, undeliveredNumbers: ['+14155550199'] },
      inboundUrl: `${PUBLIC_BASE}${INBOUND_PATH}`,
      webhooks: { route: webhookIngress(PUBLIC_BASE, receiver.url), backoffMs: 5, maxAttempts: 3 },
    }).listen();
  });
  afterEach(() => {
    fake.reset();
    fake.setStatusCallbacks({ delayMs: 5, undeliveredNumbers: ['+14155550199'] });
    receiver.clear();
  });
  afterAll(async () => {
    await fake.close();
    await receiver.close();
  });

  it('posts sent then delivered, form-encoded and signed over the exact public URL', async () => {
    const { sid } = await send({
      To: '+14155550100',
      From: '+15005550006',
      Body: 'hi',
      StatusCallback: `${PUBLIC_BASE}${STATUS_PATH}`,
    });
    await fake.webhooksIdle();

    expect(statuses()).toEqual([
      ['sent', undefined],
      ['delivered', undefined],
    ]);
    for (const request of receiver.received) {
      // The ingress forwarded path and query unchanged.
      expect(request.url).toBe(STATUS_PATH);
      expect(request.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
      expect(fields(request.body)).toMatchObject({
        MessageSid: sid,
        SmsSid: sid,
        AccountSid: ACCOUNT,
        From: '+15005550006',
        To: '+14155550100',
        ApiVersion: '2010-04-01',
      });
      const signature = request.headers['x-twilio-signature'];
      expect(verifies(request.body, signature, `${PUBLIC_BASE}${STATUS_PATH}`)).toBe(true);
      // A tampered body, another URL or another account's token do not verify.
      const tampered = request.body.replace(/MessageStatus=\w+/, 'MessageStatus=read');
      expect(verifies(tampered, signature, `${PUBLIC_BASE}${STATUS_PATH}`)).toBe(false);
      expect(verifies(request.body, signature, `${PUBLIC_BASE}${INBOUND_PATH}`)).toBe(false);
      expect(verifies(request.body, signature, `${PUBLIC_BASE}${STATUS_PATH}`, 'other')).toBe(
        false,
      );
    }
    expect(fake.statusCallbackPosts.map((p) => [p.ok, p.status])).toEqual([
      [true, 204],
      [true, 204],
    ]);
  });

  it('reports undelivered with ErrorCode 30003 for a chosen number, and read for WhatsApp when asked', async () => {
    const callback = `${PUBLIC_BASE}${STATUS_PATH}`;
    await send({ To: '+14155550199', From: '+15005550006', Body: 'x', StatusCallback: callback });
    await fake.webhooksIdle();
    expect(statuses()).toEqual([
      ['sent', undefined],
      ['undelivered', '30003'],
    ]);

    receiver.clear();
    fake.setStatusCallbacks({ delayMs: 5, readForWhatsApp: true });
    await send({
      To: 'whatsapp:+14155550100',
      From: 'whatsapp:+14155238886',
      Body: 'x',
      StatusCallback: callback,
    });
    await fake.webhooksIdle();
    expect(statuses()).toEqual([
      ['sent', undefined],
      ['delivered', undefined],
      ['read', undefined],
    ]);
    expect(fields(receiver.received[2]!.body)).toMatchObject({
      To: 'whatsapp:+14155550100',
      ChannelPrefix: 'whatsapp',
    });
  });

  it('retries a callback the gateway refuses, and gives up after the last attempt', async () => {
    receiver.answerNext(503, 500);
    await send({
      To: '+14155550100',
      From: '+15005550006',
      Body: 'x',
      StatusCallback: `${PUBLIC_BASE}${STATUS_PATH}`,
    });
    await fake.webhooksIdle();
    const [sent, delivered] = fake.statusCallbackPosts;
    expect(sent?.attempts.map((a) => a.status)).toEqual([503, 500, 204]);
    expect(sent?.ok).toBe(true);
    expect(delivered?.attempts.map((a) => a.status)).toEqual([204]);
    // Every attempt carried the same signed body.
    expect(new Set(receiver.received.slice(0, 3).map((r) => r.body)).size).toBe(1);

    fake.reset();
    receiver.answerNext(500, 500, 500);
    fake.setStatusCallbacks({ delayMs: 5 });
    await send({
      To: '+14155550100',
      From: '+15005550006',
      Body: 'x',
      StatusCallback: `${PUBLIC_BASE}${STATUS_PATH}`,
    });
    await fake.webhooksIdle();
    expect(fake.statusCallbackPosts[0]).toMatchObject({ ok: false, status: 500 });
    expect(fake.statusCallbackPosts[0]?.attempts).toHaveLength(3);
  });

  it('records a connection failure as an attempt without a status', async () => {
    const unreachable = await new FakeTwilio({
      accounts: { [ACCOUNT]: TOKEN },
      statusCallbacks: { delayMs: 1 },
      // Port 9 on loopback: nothing listens, the connection is refused.
      webhooks: {
        route: webhookIngress(PUBLIC_BASE, 'http://127.0.0.1:9'),
        backoffMs: 1,
        maxAttempts: 2,
      },
    }).listen();
    try {
      await fetch(`${unreachable.url}/2010-04-01/Accounts/${ACCOUNT}/Messages.json`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${ACCOUNT}:${TOKEN}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({
          To: '+14155550100',
          From: '+15005550006',
          Body: 'x',
          StatusCallback: `${PUBLIC_BASE}${STATUS_PATH}`,
        }).toString(),
      });
      await unreachable.webhooksIdle();
      const [post] = unreachable.statusCallbackPosts;
      expect(post).toMatchObject({ ok: false, status: undefined });
      expect(post?.attempts).toHaveLength(2);
      expect(post?.attempts[0]?.error).toMatch(/ECONNREFUSED|fetch failed/);
    } finally {
      await unreachable.close();
    }
  });

  it('posts nothing when callbacks are off or the message has no StatusCallback', async () => {
    await send({ To: '+14155550100', From: '+15005550006', Body: 'x' });
    fake.setStatusCallbacks(false);
    await send({
      To: '+14155550100',
      From: '+15005550006',
      Body: 'x',
      StatusCallback: `${PUBLIC_BASE}${STATUS_PATH}`,
    });
    await fake.webhooksIdle();
    expect(receiver.received).toEqual([]);
    expect(fake.acceptedMessages).toHaveLength(2);
  });

  it('simulates an inbound STOP with OptOutType, signed like Twilio, and records the answer', async () => {
    const twiml = await new RecordingReceiver(200, '<?xml version="1.0"?><Response/>').listen();
    fake.setWebhookRoute(webhookIngress(PUBLIC_BASE, twiml.url));
    try {
      const post = await fake.inboundMessage({
        from: '+14155550100',
        to: '+15005550006',
        body: ' stop ',
      });
      expect(post).toMatchObject({ kind: 'inbound-message', ok: true, status: 200 });
      expect(post.responseBody).toContain('<Response/>');
      const [request] = twiml.received;
      expect(request?.url).toBe(INBOUND_PATH);
      expect(fields(request!.body)).toMatchObject({
        From: '+14155550100',
        To: '+15005550006',
        Body: ' stop ',
        AccountSid: ACCOUNT,
        OptOutType: 'STOP',
      });
      expect(fields(request!.body).MessageSid).toMatch(/^SM[0-9a-f]{32}$/);
      const signature = request!.headers['x-twilio-signature'];
      expect(verifies(request!.body, signature, `${PUBLIC_BASE}${INBOUND_PATH}`)).toBe(true);
      const tampered = request!.body.replace('OptOutType=STOP', 'OptOutType=START');
      expect(verifies(tampered, signature, `${PUBLIC_BASE}${INBOUND_PATH}`)).toBe(false);

      await fake.inboundMessage({
        from: 'whatsapp:+14155550100',
        to: 'whatsapp:+14155238886',
        body: 'START',
      });
      await fake.inboundMessage({
        from: '+14155550100',
        to: '+15005550006',
        body: 'where is my order?',
      });
      expect(twiml.received.map((r) => fields(r.body).OptOutType)).toEqual([
        'STOP',
        'START',
        undefined,
      ]);
    } finally {
      fake.setWebhookRoute(webhookIngress(PUBLIC_BASE, receiver.url));
      await twiml.close();
    }
  });
});
