import type { DeliveryReceipt } from '@omnigate/contracts';
import { SandboxSuite } from '@omnigate/sandbox';
import { describeSms } from '@omnigate/channels';
import { sendCommand } from './support/commands';
import { startSandboxGateway, type SandboxGateway } from './support/sandbox-gateway';
import { publish, testKafka, TopicReader, type TestTopics } from './support/kafka';

type Receipt = DeliveryReceipt;

/**
 * Commands through Kafka, the gateway, the real provider SDKs and the sandbox fakes.
 */
describe('channels through the real SDKs and the sandbox', () => {
  const kafka = testKafka();
  let harness: SandboxGateway | undefined;
  let suite: SandboxSuite;
  let topics: TestTopics;
  let receipts: TopicReader;

  beforeAll(async () => {
    harness = await startSandboxGateway('channels', 3, { BREAKER_VOLUME_THRESHOLD: '1000' });
    ({ suite, topics, receipts } = harness);
  });

  afterAll(() => harness?.stop());

  beforeEach(() => suite.reset());

  async function send(command: Record<string, unknown>): Promise<Receipt> {
    await publish(kafka, topics.send, [
      { key: String(command.customerId), value: JSON.stringify(command) },
    ]);
    const id = String(command.id);
    await receipts.waitFor(
      (records) => records.some((r) => r.value.includes(id)),
      30000,
      `the receipt of ${id}`,
    );
    const record = receipts.records.find((r) => (JSON.parse(r.value) as Receipt).messageId === id)!;
    return JSON.parse(record.value) as Receipt;
  }

  it('SMS: Twilio receives To, From, Body and the receipt carries its message sid', async () => {
    const text = 'Your order #1042 has shipped.';
    const receipt = await send(sendCommand({ channels: ['sms'], content: { sms: { text } } }));
    expect(receipt).toMatchObject({ status: 'sent', channel: 'sms', provider: 'twilio' });
    expect(suite.twilio.acceptedMessages).toHaveLength(1);
    const request = suite.twilio.acceptedMessages[0]!;
    expect(request).toMatchObject({
      To: '+14155550142',
      From: SandboxSuite.SENDERS.sms,
      Body: text,
    });
    const sid = suite.twilio.requests[0]!.providerMessageId;
    expect(sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(receipt.providerMessageId).toBe(sid);
  });

  it('WhatsApp: free text goes from and to whatsapp: addresses', async () => {
    const text = 'Hi Li 👋 your order has shipped';
    const receipt = await send(
      sendCommand({ channels: ['whatsapp'], content: { whatsapp: { text } } }),
    );
    expect(receipt).toMatchObject({ status: 'sent', channel: 'whatsapp', provider: 'twilio' });
    expect(suite.twilio.acceptedMessages[0]).toMatchObject({
      To: 'whatsapp:+14155550142',
      From: `whatsapp:${SandboxSuite.SENDERS.whatsapp}`,
      Body: text,
    });
    expect(receipt.providerMessageId).toBe(suite.twilio.requests[0]!.providerMessageId);
  });

  it('WhatsApp: an approved template goes as ContentSid with its variables', async () => {
    const receipt = await send(
      sendCommand({
        category: 'otp',
        channels: ['whatsapp'],
        template: { id: 'otp_code', data: { code: '482913', minutes: 10 } },
      }),
    );
    expect(receipt.status).toBe('sent');
    const request = suite.twilio.acceptedMessages[0]!;
    expect(request.ContentSid).toBe('HX0a1b2c3d4e5f60718293a4b5c6d7e8f9');
    expect(JSON.parse(String(request.ContentVariables))).toEqual({ code: '482913', minutes: '10' });
    expect(request.Body).toBeUndefined();
  });

  it('email: SendGrid receives subject, text and html, our message id and the category', async () => {
    const command = sendCommand({
      channels: ['email'],
      content: {
        email: {
          subject: 'Order shipped',
          text: 'It is on its way.',
          html: '<p>It is on its way.</p>',
        },
      },
    });
    const receipt = await send(command);
    expect(receipt).toMatchObject({ status: 'sent', channel: 'email', provider: 'sendgrid' });
    const mail = suite.sendgrid.acceptedMails[0] as {
      personalizations: Array<{ to: Array<{ email: string }> }>;
      from: { email: string };
      subject: string;
      content: Array<{ type: string; value: string }>;
      custom_args: Record<string, string>;
      categories: string[];
    };
    expect(mail.personalizations[0]!.to[0]!.email).toBe('li.wei@example.com');
    expect(mail.from.email).toBe(SandboxSuite.SENDERS.email);
    expect(mail.subject).toBe('Order shipped');
    expect(mail.content).toEqual([
      { type: 'text/plain', value: 'It is on its way.' },
      { type: 'text/html', value: '<p>It is on its way.</p>' },
    ]);
    expect(mail.custom_args.messageId).toBe(command.id);
    expect(mail.categories).toEqual(['order_updates']);
    expect(receipt.providerMessageId).toBe(suite.sendgrid.requests[0]!.providerMessageId);
  });

  it('mobile push: FCM receives token, notification, data and Android/APNs options; the receipt carries the message name', async () => {
    const token = `fcm-${'a'.repeat(40)}`;
    const command = sendCommand({
      priority: 'high',
      ttlSeconds: 600,
      channels: ['mobilepush'],
      recipient: { fcmTokens: [token] },
      content: {
        mobilepush: {
          title: 'Order shipped',
          body: 'It is on its way 📦',
          data: { orderId: 'A-1' },
        },
      },
    });
    const receipt = await send(command);
    expect(receipt).toMatchObject({ status: 'sent', channel: 'mobilepush', provider: 'fcm' });
    const message = suite.fcm.messages[0]!;
    expect(message.token).toBe(token);
    expect(message.notification).toMatchObject({
      title: 'Order shipped',
      body: 'It is on its way 📦',
    });
    expect(message.data).toMatchObject({ orderId: 'A-1' });
    expect(message.android?.priority).toBe('high');
    expect(JSON.stringify(message)).toContain('apns-priority');
    expect(receipt.providerMessageId).toMatch(/^projects\/.+\/messages\/.+/);
    expect(receipt.providerMessageId).toBe(
      suite.fcm.requests.find((r) => r.status === 200)!.providerMessageId,
    );
  });

  it('web push: the push service decrypts exactly the payload sent, with a valid VAPID JWT, TTL and urgency', async () => {
    const { id, subscription } = suite.newWebPushSubscription();
    const command = sendCommand({
      priority: 'low',
      channels: ['webpush'],
      recipient: { webPushSubscriptions: [subscription] },
      content: {
        webpush: {
          title: '订单已发货',
          body: 'مرحبا — on its way 📦',
          url: 'https://shop.example.com/o/1',
        },
      },
    });
    const receipt = await send(command);
    expect(receipt).toMatchObject({ status: 'sent', channel: 'webpush', provider: 'webpush' });
    const [delivery] = suite.webPush.deliveries(id);
    expect(JSON.parse(delivery!.payload)).toEqual({
      title: '订单已发货',
      body: 'مرحبا — on its way 📦',
      url: 'https://shop.example.com/o/1',
      messageId: command.id,
    });
    expect(delivery!.urgency).toBe('low');
    expect(delivery!.ttl).toBeGreaterThan(0);
    expect(delivery!.vapid.sub).toBe('mailto:ops@omnigate.example');
    expect(receipt.providerMessageId).toBe(delivery!.location);
  });

  it('a gone web push subscription is an unreachable token, and the message falls back to email', async () => {
    const { id, subscription } = suite.newWebPushSubscription();
    suite.webPush.expireSubscription(id);
    const receipt = await send(
      sendCommand({
        channels: ['webpush', 'email'],
        recipient: { webPushSubscriptions: [subscription], email: 'li.wei@example.com' },
        content: { webpush: { title: 't', body: 'b' }, email: { subject: 's', text: 't' } },
      }),
    );
    expect(receipt).toMatchObject({ status: 'sent', channel: 'email', fallbackFrom: 'webpush' });
    expect(receipt.trace.find((t) => t.decision === 'failed')?.reasonCode).toBe(
      'UNREACHABLE_TOKEN',
    );
  });

  it('primary SMS provider down: the backup account carries the message and the receipt says so', async () => {
    suite.twilio.setFailurePlan({ serverErrorRate: 1 });
    const receipt = await send(
      sendCommand({ channels: ['sms'], content: { sms: { text: 'Backup route test' } } }),
    );
    expect(receipt).toMatchObject({ status: 'sent', channel: 'sms', provider: 'twilio_backup' });
    expect(suite.twilio.requests).toHaveLength(1);
    expect(suite.twilio.requests[0]!.status).toBe(503);
    expect(suite.twilioBackup.acceptedMessages[0]).toMatchObject({
      From: SandboxSuite.SENDERS.smsBackup,
    });
    expect(receipt.trace.map((t) => [t.decision, t.reasonCode ?? ''])).toEqual([
      ['chosen', ''],
      ['failed', 'TRANSIENT'],
      ['sent', ''],
    ]);
  });

  it('an invalid number is a permanent failure with the vendor reason; SMS falls back to email', async () => {
    suite.twilio.setFailurePlan({ recipientErrors: { '+14155550199': '21211' } });
    const receipt = await send(
      sendCommand({
        channels: ['sms', 'email'],
        recipient: { phone: '+14155550199', email: 'li.wei@example.com' },
        content: { sms: { text: 'hi' }, email: { subject: 'hi', text: 'hi' } },
      }),
    );
    expect(receipt).toMatchObject({ status: 'sent', channel: 'email', fallbackFrom: 'sms' });
    expect(suite.twilioBackup.requests).toHaveLength(0);
    expect(receipt.trace.find((t) => t.decision === 'failed')?.reasonCode).toBe(
      'INVALID_RECIPIENT',
    );
  });

  it('a template in three locales arrives intact: SMS in UCS-2 with the right segment count, email and push', async () => {
    const data = { name: '林', orderId: 'A-77', trackingUrl: 'https://t.example/A-77' };
    for (const locale of ['zh-TW', 'zh-CN', 'ar']) {
      suite.reset();
      const sms = await send(
        sendCommand({ channels: ['sms'], template: { id: 'order_shipped', locale, data } }),
      );
      expect(sms.status).toBe('sent');
      const body = String(suite.twilio.acceptedMessages[0]!.Body);
      expect(body).toContain('A-77');
      expect(body).toContain('📦');
      const envelope = describeSms(body);
      expect(envelope.encoding).toBe('UCS-2');
      const sentDetail = sms.trace.find((t) => t.decision === 'sent')!.detail;
      expect(sentDetail).toContain(`UCS-2, ${envelope.segments} segment`);
      expect(Number(suite.twilio.requests[0]!.status)).toBe(201);

      const email = await send(
        sendCommand({ channels: ['email'], template: { id: 'order_shipped', locale, data } }),
      );
      expect(email.status).toBe('sent');
      const mail = suite.sendgrid.acceptedMails[0] as {
        subject: string;
        content: Array<{ value: string }>;
      };
      expect(mail.subject).toContain('A-77');
      expect(mail.content.map((c) => c.value).join('')).toContain('📦');
    }
    // The zh-TW SMS used traditional characters, zh-CN fell back to the simplified zh file.
    expect(receipts.records.map((r) => r.value).join('\n')).toContain('template locale zh-TW');
  });
});

/** The breaker needs a gateway with a single SMS provider so "no request while open" is visible. */
describe('circuit breaker on the SMS provider', () => {
  const kafka = testKafka();
  let harness: SandboxGateway | undefined;
  let suite: SandboxSuite;
  let topics: TestTopics;
  let receipts: TopicReader;

  beforeAll(async () => {
    harness = await startSandboxGateway('breaker', 1, {
      PROVIDERS_SMS: 'twilio',
      BREAKER_VOLUME_THRESHOLD: '5',
      // Retries are tested elsewhere; here each failure must end at once.
      RETRY_MAX_RETRIES: '0',
      BREAKER_ERROR_THRESHOLD_PERCENT: '50',
      BREAKER_RESET_MS: '3000',
      BREAKER_ROLLING_WINDOW_MS: '60000',
    });
    ({ suite, topics, receipts } = harness);
  });

  afterAll(() => harness?.stop());

  async function sendBurst(count: number, phone: string): Promise<Receipt[]> {
    const commands = Array.from({ length: count }, () =>
      sendCommand({
        customerId: 'breaker-customer',
        channels: ['sms'],
        recipient: { phone },
        content: { sms: { text: 'ping' } },
      }),
    );
    const before = receipts.records.length;
    await publish(
      kafka,
      topics.send,
      commands.map((c) => ({ key: 'breaker-customer', value: JSON.stringify(c) })),
    );
    await receipts.waitForCount(before + count, 30000);
    return receipts.records.slice(before).map((r) => JSON.parse(r.value) as Receipt);
  }

  it('opens at 100% 503, lets nothing through while open, and a probe after the reset closes it', async () => {
    suite.reset();
    suite.twilio.setFailurePlan({ serverErrorRate: 1 });
    const failing = await sendBurst(15, '+14155550142');
    const reached = suite.twilio.requests.length;
    // Opens once 5 calls in the window failed: at most the volume threshold reached the provider.
    expect(reached).toBe(5);
    expect(failing.slice(reached).every((r) => r.reason?.code === 'BREAKER_OPEN')).toBe(true);

    suite.twilio.setFailurePlan({});
    await new Promise((r) => setTimeout(r, 3500));
    const recovered = await sendBurst(3, '+14155550142');
    expect(recovered.map((r) => r.status)).toEqual(['sent', 'sent', 'sent']);
    expect(suite.twilio.requests.length).toBe(reached + 3);
  });
  it('invalid numbers never open it', async () => {
    suite.reset();
    suite.twilio.setFailurePlan({ recipientErrors: { '+14155550199': '21211' } });
    const results = await sendBurst(12, '+14155550199');
    expect(
      results.every((r) => r.status === 'failed' && r.reason?.code === 'INVALID_RECIPIENT'),
    ).toBe(true);
    expect(suite.twilio.requests).toHaveLength(12);
  });
});
