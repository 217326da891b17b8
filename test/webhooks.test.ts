import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeProviderEvent, type ProviderEvent } from '@omnigate/contracts';
import { PushAckTokens } from '@omnigate/channels';
import {
  sendGridSigningKeys,
  signedSendGridBatch,
  signedTwilioCallback,
  twilioSid,
  type SignedCallback,
} from '../scripts/lib/provider-callbacks';
import { AddressHasher } from '../src/repositories/address-hasher';
import { gatewayEnv, MESSAGE_LOG_KEY } from './support/env';
import { GatewayProcess, OUTPUT_DIR } from './support/gateway';
import { createTestTopics, testKafka, TopicReader, type TestTopics } from './support/kafka';

/**
 * The webhook endpoints on a real gateway process and the real broker: signed callbacks from
 * Twilio and SendGrid and a push app's ack each land on the provider-events topic as the right
 * ProviderEvent (read back from the topic); tampered, wrongly signed, unsigned and stale requests
 * are refused with 4xx, publish nothing and are counted.
 */
const PUBLIC_BASE = 'https://omnigate.test';
const TWILIO_TOKEN = `twilio-${randomUUID()}`;
const SENDGRID = sendGridSigningKeys();
const PHONE = '+14155550123';

describe('provider webhooks → provider-events topic', () => {
  const kafka = testKafka();
  let gateway: GatewayProcess;
  let events: TopicReader;
  let topic: string;

  const url = (path: string) => `http://127.0.0.1:${gateway.port}${path}`;
  const post = (path: string, callback: SignedCallback) =>
    fetch(url(path), { method: 'POST', headers: callback.headers, body: callback.body });
  const twilioCallback = (path: string, params: Record<string, string>, token = TWILIO_TOKEN) =>
    signedTwilioCallback(token, `${PUBLIC_BASE}${path}`, params);

  /** Every provider event on the topic, decoded as the applier decodes it. */
  const published = (): ProviderEvent[] =>
    events.records.map((record) => {
      const decoded = decodeProviderEvent(record.key, Buffer.from(record.value), {
        maxBytes: 65536,
      });
      if (!decoded.ok) throw new Error(`undecodable provider event: ${decoded.message}`);
      return decoded.event;
    });
  const waitForEvent = async (eventId: string): Promise<ProviderEvent> => {
    await events.waitFor(
      () => published().some((e) => e.eventId === eventId),
      20000,
      `event ${eventId}`,
    );
    return published().find((e) => e.eventId === eventId)!;
  };
  const counter = async (name: string, labels: Record<string, string>): Promise<number> => {
    const text = await (await fetch(url('/metrics'))).text();
    const line = text
      .split('\n')
      .find(
        (l) =>
          l.startsWith(`${name}{`) &&
          Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)),
      );
    return line === undefined ? 0 : Number(line.split(' ').at(-1));
  };

  beforeAll(async () => {
    const topics = await createTestTopics(kafka, 3);
    // Not created here: the gateway creates it at start, like its other topics.
    topic = `test.provider-events.${randomUUID().slice(0, 8)}`;
    gateway = await GatewayProcess.start(
      gatewayEnv(topics, {
        KAFKA_CREATE_TOPICS: 'true',
        TOPIC_PROVIDER_EVENTS: topic,
        WEBHOOK_PUBLIC_BASE_URL: PUBLIC_BASE,
        PROVIDERS_SMS: 'twilio',
        PROVIDERS_WHATSAPP: 'twilio',
        PROVIDER_TWILIO_ACCOUNT_SID: `AC${'1'.repeat(32)}`,
        PROVIDER_TWILIO_AUTH_TOKEN: TWILIO_TOKEN,
        PROVIDER_TWILIO_FROM: '+15005550006',
        PROVIDER_TWILIO_WHATSAPP_FROM: '+15005550006',
        PROVIDERS_EMAIL: 'sendgrid',
        PROVIDER_SENDGRID_API_KEY: 'SG.test',
        PROVIDER_SENDGRID_FROM_EMAIL: 'shop@example.com',
        PROVIDER_SENDGRID_WEBHOOK_PUBLIC_KEY: SENDGRID.publicKeyBase64,
      }),
      'webhooks',
    );
    events = await new TopicReader(kafka, topic).start();
  }, 90000);

  afterAll(async () => {
    await gateway?.stop();
    await events?.stop();
  });

  it('publishes a signed Twilio status callback as the message status, keyed by our message id', async () => {
    const sid = twilioSid(1);
    const path = '/webhooks/twilio/twilio/status?messageId=msg%2Ftw-1';
    const response = await post(
      path,
      twilioCallback(path, {
        MessageSid: sid,
        MessageStatus: 'delivered',
        To: `whatsapp:${PHONE}`,
        From: 'whatsapp:+15005550006',
      }),
    );
    expect(response.status).toBe(204);

    const event = await waitForEvent(`${sid}:delivered`);
    expect(event).toMatchObject({
      type: 'message-status',
      provider: 'twilio',
      channel: 'whatsapp',
      messageId: 'msg/tw-1',
      providerMessageId: sid,
      outcome: 'delivered',
      providerStatus: 'delivered',
      errorCode: null,
    });
    expect(events.records.find((r) => r.value.includes(sid))?.key).toBe('msg/tw-1');
  });

  it('turns an inbound STOP into an opt-out of the hashed number, answering empty TwiML', async () => {
    const sid = twilioSid(2);
    const path = '/webhooks/twilio/twilio/inbound';
    const response = await post(
      path,
      twilioCallback(path, { MessageSid: sid, From: PHONE, To: '+15005550006', Body: 'Stop' }),
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/xml/);
    expect(await response.text()).toContain('<Response/>');

    const event = await waitForEvent(sid);
    const addressHash = new AddressHasher(Buffer.from(MESSAGE_LOG_KEY, 'base64')).hash(
      'sms',
      PHONE,
    );
    expect(event).toMatchObject({
      type: 'address-consent',
      channel: 'sms',
      addressHash,
      action: 'opt-out',
      keyword: 'STOP',
    });
    expect(events.records.find((r) => r.value.includes(sid))?.key).toBe(`address:${addressHash}`);
    expect(events.records.some((r) => r.value.includes(PHONE))).toBe(false);
  });

  it('publishes each event of a signed SendGrid batch and skips the mail it did not send', async () => {
    const skippedBefore = await counter('omnigate_webhook_events_skipped_total', {
      provider: 'sendgrid',
      reason: 'foreign',
    });
    const now = Math.floor(Date.now() / 1000);
    const common = { email: 'ana@example.com', timestamp: now, category: ['order_updates'] };
    const batch = [
      { ...common, event: 'delivered', sg_event_id: 'sg-1', messageId: 'msg-em-1' },
      { ...common, event: 'open', sg_event_id: 'sg-2', messageId: 'msg-em-1' },
      { ...common, event: 'bounce', type: 'bounce', sg_event_id: 'sg-3', messageId: 'msg-em-2' },
      { ...common, event: 'delivered', sg_event_id: 'sg-4' },
    ];
    const response = await post(
      '/webhooks/sendgrid/sendgrid/events',
      signedSendGridBatch(SENDGRID.privateKey, batch),
    );
    expect(response.status).toBe(204);

    expect(await waitForEvent('sg-1')).toMatchObject({
      messageId: 'msg-em-1',
      outcome: 'delivered',
    });
    expect(await waitForEvent('sg-2')).toMatchObject({ messageId: 'msg-em-1', outcome: 'read' });
    expect(await waitForEvent('sg-3')).toMatchObject({
      channel: 'email',
      messageId: 'msg-em-2',
      outcome: 'bounced',
      occurredAt: new Date(now * 1000).toISOString(),
      suppress: {
        reason: 'HARD_BOUNCE',
        addressHash: new AddressHasher(Buffer.from(MESSAGE_LOG_KEY, 'base64')).hash(
          'email',
          'ana@example.com',
        ),
      },
    });
    expect(published().some((e) => e.eventId === 'sg-4')).toBe(false);
    expect(
      await counter('omnigate_webhook_events_skipped_total', {
        provider: 'sendgrid',
        reason: 'foreign',
      }),
    ).toBe(skippedBefore + 1);
  });

  it('publishes a push ack carrying a token signed with the message-log key', async () => {
    const tokens = new PushAckTokens(Buffer.from(MESSAGE_LOG_KEY, 'base64'), [], 3600);
    const token = tokens.issue({
      messageId: 'msg-push-1',
      channel: 'webpush',
      providerId: 'webpush',
    });
    const tokenId = tokens.verify(token);
    if (!tokenId.ok) throw new Error('the test token does not verify');
    const response = await fetch(url('/webhooks/push/ack'), {
      method: 'POST',
      // text/plain: what a service worker sends to skip the CORS preflight.
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ token, event: 'read' }),
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');

    expect(await waitForEvent(`${tokenId.claims.tokenId}:read`)).toMatchObject({
      type: 'message-status',
      provider: 'webpush',
      channel: 'webpush',
      messageId: 'msg-push-1',
      outcome: 'read',
    });
  });

  it('refuses tampered, wrongly signed, unsigned and stale requests with 4xx, publishes nothing, and counts them', async () => {
    const statusPath = '/webhooks/twilio/twilio/status?messageId=msg-refused';
    const statusParams = { MessageSid: twilioSid(900), MessageStatus: 'undelivered', To: PHONE };
    const signed = twilioCallback(statusPath, statusParams);
    const now = Math.floor(Date.now() / 1000);
    const refusedBatch = [
      {
        email: 'bo@example.com',
        timestamp: now,
        event: 'delivered',
        sg_event_id: 'sg-refused',
        messageId: 'msg-refused',
      },
    ];
    const sendgridBatch = signedSendGridBatch(SENDGRID.privateKey, refusedBatch);
    const forgedToken = new PushAckTokens(Buffer.alloc(32, 9), [], 3600).issue({
      messageId: 'msg-refused',
      channel: 'webpush',
      providerId: 'webpush',
    });
    const label = (provider: string, endpoint: string, result: string) => ({
      provider,
      endpoint,
      result,
    });
    const cases: ReadonlyArray<{
      readonly name: string;
      readonly send: () => Promise<Response>;
      readonly status: number;
      readonly labels: Record<string, string>;
    }> = [
      {
        name: 'Twilio body tampered (status changed after signing)',
        send: () =>
          post(statusPath, {
            ...signed,
            body: signed.body.replace('undelivered', 'delivered'),
          }),
        status: 403,
        labels: label('twilio', 'twilio_status', 'refused_signature'),
      },
      {
        name: 'Twilio URL tampered (another message id)',
        send: () => post(statusPath.replace('msg-refused', 'msg-other'), signed),
        status: 403,
        labels: label('twilio', 'twilio_status', 'refused_signature'),
      },
      {
        name: 'Twilio signed with the wrong auth token',
        send: () => post(statusPath, twilioCallback(statusPath, statusParams, 'not-the-token')),
        status: 403,
        labels: label('twilio', 'twilio_status', 'refused_signature'),
      },
      {
        name: 'Twilio unsigned',
        send: () =>
          post(statusPath, {
            body: signed.body,
            headers: { 'content-type': signed.headers['content-type']! },
          }),
        status: 401,
        labels: label('twilio', 'twilio_status', 'missing_signature'),
      },
      {
        name: 'SendGrid body tampered',
        send: () =>
          post('/webhooks/sendgrid/sendgrid/events', {
            ...sendgridBatch,
            body: sendgridBatch.body.replace('bo@', 'eve@'),
          }),
        status: 403,
        labels: label('sendgrid', 'sendgrid_events', 'refused_signature'),
      },
      {
        name: 'SendGrid signed with another key',
        send: () =>
          post(
            '/webhooks/sendgrid/sendgrid/events',
            signedSendGridBatch(sendGridSigningKeys().privateKey, refusedBatch),
          ),
        status: 403,
        labels: label('sendgrid', 'sendgrid_events', 'refused_signature'),
      },
      {
        name: 'SendGrid unsigned',
        send: () =>
          post('/webhooks/sendgrid/sendgrid/events', {
            body: sendgridBatch.body,
            headers: { 'content-type': 'application/json' },
          }),
        status: 401,
        labels: label('sendgrid', 'sendgrid_events', 'missing_signature'),
      },
      {
        name: 'SendGrid timestamp outside the window (correctly signed, an hour old)',
        send: () =>
          post(
            '/webhooks/sendgrid/sendgrid/events',
            signedSendGridBatch(SENDGRID.privateKey, refusedBatch, now - 3600),
          ),
        status: 403,
        labels: label('sendgrid', 'sendgrid_events', 'stale'),
      },
      {
        name: 'push ack with a token signed under another key',
        send: () =>
          fetch(url('/webhooks/push/ack'), {
            method: 'POST',
            body: JSON.stringify({ token: forgedToken, event: 'delivered' }),
          }),
        status: 403,
        labels: label('push', 'push_ack', 'refused_signature'),
      },
      {
        name: 'push ack without a token',
        send: () =>
          fetch(url('/webhooks/push/ack'), {
            method: 'POST',
            body: JSON.stringify({ event: 'delivered' }),
          }),
        status: 401,
        labels: label('push', 'push_ack', 'missing_signature'),
      },
      {
        name: 'push ack with an expired token',
        send: () =>
          fetch(url('/webhooks/push/ack'), {
            method: 'POST',
            body: JSON.stringify({
              token: new PushAckTokens(Buffer.from(MESSAGE_LOG_KEY, 'base64'), [], 60).issue(
                { messageId: 'msg-refused', channel: 'mobilepush', providerId: 'fcm' },
                Date.now() - 120_000,
              ),
              event: 'delivered',
            }),
          }),
        status: 403,
        labels: label('push', 'push_ack', 'stale'),
      },
      {
        name: 'Twilio status callback, correctly signed, without our message id',
        send: () =>
          post(
            '/webhooks/twilio/twilio/status',
            twilioCallback('/webhooks/twilio/twilio/status', statusParams),
          ),
        status: 400,
        labels: label('twilio', 'twilio_status', 'unknown_message_ref'),
      },
      {
        name: 'SendGrid body, correctly signed, that is not an array of events',
        send: () =>
          post(
            '/webhooks/sendgrid/sendgrid/events',
            signedSendGridBatch(SENDGRID.privateKey, { not: 'a batch' }),
          ),
        status: 400,
        labels: label('sendgrid', 'sendgrid_events', 'invalid'),
      },
    ];

    const name = 'omnigate_webhook_requests_total';
    for (const refusal of cases) {
      const before = await counter(name, refusal.labels);
      const response = await refusal.send();
      expect({ name: refusal.name, status: response.status }).toEqual({
        name: refusal.name,
        status: refusal.status,
      });
      expect({ name: refusal.name, count: await counter(name, refusal.labels) }).toEqual({
        name: refusal.name,
        count: before + 1,
      });
    }

    // A genuine callback after the refusals: once it is on the topic, anything the refusals had
    // published (before answering) would be there too.
    const sentinelPath = '/webhooks/twilio/twilio/status?messageId=msg-sentinel';
    const sentinel = twilioSid(901);
    expect(
      (
        await post(
          sentinelPath,
          twilioCallback(sentinelPath, { MessageSid: sentinel, MessageStatus: 'sent', To: PHONE }),
        )
      ).status,
    ).toBe(204);
    await waitForEvent(`${sentinel}:sent`);
    const refusedIds = published().filter(
      (e) => e.type === 'message-status' && ['msg-refused', 'msg-other'].includes(e.messageId),
    );
    expect(refusedIds).toEqual([]);
    expect(published().some((e) => e.eventId === 'sg-refused')).toBe(false);
  });

  it('refuses a body over the limit unread, and lets any origin post push acks', async () => {
    const huge = await fetch(url('/webhooks/sendgrid/sendgrid/events'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `[${'"x",'.repeat(600_000)}"x"]`,
    });
    expect(huge.status).toBe(413);
    const preflight = await fetch(url('/webhooks/push/ack'), {
      method: 'OPTIONS',
      headers: {
        origin: 'https://shop.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-methods')).toBe('POST');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('content-type');
  });

  it('answers 404 for a provider id it does not have', async () => {
    const path = '/webhooks/twilio/nobody/status?messageId=m';
    const response = await post(
      path,
      twilioCallback(path, { MessageSid: twilioSid(3), MessageStatus: 'sent' }),
    );
    expect(response.status).toBe(404);
    const sendgrid = await post(
      '/webhooks/twilio/sendgrid/inbound',
      twilioCallback('/webhooks/twilio/sendgrid/inbound', {
        MessageSid: twilioSid(4),
        From: PHONE,
      }),
    );
    expect(sendgrid.status).toBe(404);
  });
});

describe('a gateway without a public base URL', () => {
  const kafka = testKafka();
  let gateway: GatewayProcess;
  const url = (path: string) => `http://127.0.0.1:${gateway.port}${path}`;
  // Its own log file: the start-up line must come from this run (logs are appended to).
  const logName = `webhooks-unavailable-${randomUUID().slice(0, 8)}`;

  let topics: TestTopics;

  beforeAll(async () => {
    topics = await createTestTopics(kafka, 1);
    gateway = await GatewayProcess.start(
      gatewayEnv(topics, {
        WEBHOOK_PUBLISH_TIMEOUT_MS: '1500',
        PROVIDERS_SMS: 'twilio',
        PROVIDER_TWILIO_ACCOUNT_SID: `AC${'1'.repeat(32)}`,
        PROVIDER_TWILIO_AUTH_TOKEN: TWILIO_TOKEN,
        PROVIDER_TWILIO_FROM: '+15005550006',
        PROVIDERS_EMAIL: 'sendgrid',
        PROVIDER_SENDGRID_API_KEY: 'SG.test',
        PROVIDER_SENDGRID_FROM_EMAIL: 'shop@example.com',
        PROVIDER_SENDGRID_WEBHOOK_PUBLIC_KEY: SENDGRID.publicKeyBase64,
      }),
      logName,
    );
  }, 90000);

  afterAll(async () => {
    await gateway?.stop();
  });

  it('says at start that delivery reports are off, and has no Twilio or push-ack endpoint', async () => {
    const log = readFileSync(join(OUTPUT_DIR, `${logName}.log`), 'utf8');
    expect(log).toContain('WEBHOOK_PUBLIC_BASE_URL is unset: provider delivery reports are off');
    const path = '/webhooks/twilio/twilio/status?messageId=m1';
    const signed = signedTwilioCallback(TWILIO_TOKEN, `${PUBLIC_BASE}${path}`, {
      MessageSid: twilioSid(5),
      MessageStatus: 'delivered',
    });
    const twilioAnswer = await fetch(url(path), {
      method: 'POST',
      headers: signed.headers,
      body: signed.body,
    });
    expect(twilioAnswer.status).toBe(404);
    const ack = await fetch(url('/webhooks/push/ack'), {
      method: 'POST',
      body: JSON.stringify({ token: 'v1.a.b', event: 'read' }),
    });
    expect(ack.status).toBe(404);
  });

  it('answers 503 when Kafka does not acknowledge the events, so the provider retries, and counts it', async () => {
    // The broker refuses the write from now on: the topic is gone and the broker creates none.
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.deleteTopics({ topics: [topics.providerEvents], timeout: 15000 });
    } finally {
      await admin.disconnect();
    }
    const batch = signedSendGridBatch(SENDGRID.privateKey, [
      {
        email: 'ana@example.com',
        timestamp: Math.floor(Date.now() / 1000),
        event: 'delivered',
        sg_event_id: 'sg-unavailable',
        messageId: 'msg-em-9',
      },
    ]);
    const response = await fetch(url('/webhooks/sendgrid/sendgrid/events'), {
      method: 'POST',
      headers: batch.headers,
      body: batch.body,
    });
    expect(response.status).toBe(503);
    const metrics = await (await fetch(url('/metrics'))).text();
    expect(metrics).toMatch(
      /omnigate_webhook_requests_total\{provider="sendgrid",endpoint="sendgrid_events",result="unavailable"\} 1/,
    );
  });
});
