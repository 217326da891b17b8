import { EventWebhook } from '@sendgrid/eventwebhook';
import { webhookIngress } from '../core';
import { RecordingReceiver } from '../core/recording-receiver.testing';
import { FakeSendGrid, type SendGridEvent } from './fake-sendgrid';

const KEY = 'SG.events-spec';
const PUBLIC_BASE = 'https://omnigate.example.com';
const EVENTS_PATH = '/webhooks/sendgrid/sendgrid/events';

/** The Event Webhook against a local receiver that verifies each batch with SendGrid's own helper. */
describe('FakeSendGrid event webhook', () => {
  let receiver: RecordingReceiver;
  let fake: FakeSendGrid;
  const helper = new EventWebhook();

  const mail = (to: string, messageId: string) =>
    fetch(`${fake.url}/v3/mail/send`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        personalizations: [{ to: [{ email: to }] }],
        from: { email: 'shop@example.com' },
        subject: 's',
        content: [{ type: 'text/plain', value: 'v' }],
        custom_args: { messageId, category: 'order_updates' },
        categories: ['order_updates'],
      }),
    }).then((r) => r.headers.get('x-message-id') ?? '');
  const verifies = (body: string, headers: RecordingReceiver['received'][number]['headers']) =>
    helper.verifySignature(
      helper.convertPublicKeyToECDSA(fake.eventWebhookPublicKey),
      body,
      String(headers['x-twilio-email-event-webhook-signature']),
      String(headers['x-twilio-email-event-webhook-timestamp']),
    );

  beforeAll(async () => {
    receiver = await new RecordingReceiver(200).listen();
    fake = await new FakeSendGrid({
      apiKeys: [KEY],
      eventWebhook: {
        url: `${PUBLIC_BASE}${EVENTS_PATH}`,
        delayMs: 5,
        batchWindowMs: 30,
        bounceAddresses: ['Gone@example.com'],
        openAddresses: ['reader@example.com'],
      },
      webhooks: { route: webhookIngress(PUBLIC_BASE, receiver.url), backoffMs: 5 },
    }).listen();
  });
  afterEach(() => {
    fake.reset();
    receiver.clear();
  });
  afterAll(async () => {
    await fake.close();
    await receiver.close();
  });

  it('posts signed batches of several messages: processed, delivered or bounce, open', async () => {
    const [readerId, goneId] = await Promise.all([
      mail('reader@example.com', 'msg-reader'),
      mail('gone@example.com', 'msg-gone'),
    ]);
    await fake.webhooksIdle();

    expect(receiver.received.length).toBeGreaterThan(0);
    for (const request of receiver.received) {
      expect(request.url).toBe(EVENTS_PATH);
      expect(verifies(request.body, request.headers)).toBe(true);
      // A tampered body, or the same body under another timestamp, does not verify.
      expect(
        verifies(
          request.body.replace('"delivered"', '"bounce"').replace('"processed"', '"open"'),
          request.headers,
        ),
      ).toBe(false);
      expect(
        verifies(request.body, {
          ...request.headers,
          'x-twilio-email-event-webhook-timestamp': '1',
        }),
      ).toBe(false);
    }
    // Both messages' events share batches.
    const batches = receiver.received.map((r) => JSON.parse(r.body) as SendGridEvent[]);
    expect(batches.some((b) => new Set(b.map((e) => e.messageId)).size === 2)).toBe(true);

    const events = batches.flat();
    const of = (messageId: string) =>
      events.filter((e) => e.messageId === messageId).map((e) => e.event);
    expect(of('msg-reader')).toEqual(['processed', 'delivered', 'open']);
    expect(of('msg-gone')).toEqual(['processed', 'bounce']);
    const bounce = events.find((e) => e.event === 'bounce');
    expect(bounce).toMatchObject({ type: 'bounce', status: '5.1.1', email: 'gone@example.com' });
    for (const event of events) {
      expect(event).toMatchObject({ category: ['order_updates'] });
      expect(typeof event.timestamp).toBe('number');
      expect(event.sg_event_id).toMatch(/^[A-Za-z0-9_-]{10,}$/);
      const xMessageId = event.messageId === 'msg-reader' ? readerId : goneId;
      expect(event.sg_message_id.startsWith(`${xMessageId}.`)).toBe(true);
    }
    expect(new Set(events.map((e) => e.sg_event_id)).size).toBe(events.length);
    expect(fake.postedEvents).toHaveLength(events.length);
  });

  it('retries a batch the gateway refuses with the same signed body', async () => {
    receiver.answerNext(503);
    await mail('someone@example.com', 'msg-retry');
    await fake.webhooksIdle();
    const first = fake.eventPosts[0];
    expect(first?.attempts.map((a) => a.status)).toEqual([503, 200]);
    expect(receiver.received[0]?.body).toBe(receiver.received[1]?.body);
  });

  it('posts nothing without an event webhook', async () => {
    fake.setEventWebhook(undefined);
    try {
      await mail('someone@example.com', 'msg-quiet');
      await fake.webhooksIdle();
      expect(receiver.received).toEqual([]);
    } finally {
      fake.setEventWebhook({
        url: `${PUBLIC_BASE}${EVENTS_PATH}`,
        delayMs: 5,
        batchWindowMs: 30,
        bounceAddresses: ['Gone@example.com'],
        openAddresses: ['reader@example.com'],
      });
    }
  });
});
