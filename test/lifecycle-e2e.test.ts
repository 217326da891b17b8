import { randomUUID } from 'node:crypto';
import { SandboxSuite } from '@omnigate/sandbox';
import { adminApiKeys } from './support/admin';
import { gatewayEnv, receiptStatusesOf } from './support/env';
import { GatewayProcess } from './support/gateway';
import {
  createTestTopics,
  publish,
  testKafka,
  TopicReader,
  type TestTopics,
} from './support/kafka';
import { DATABASE_URL, dropSchema, REDIS_URL, uniqueSchema } from './support/storage';

/**
 * The whole delivery lifecycle with nothing played by the test: the gateway sends through the
 * provider sandbox, the sandbox calls it back as the providers do (signed Twilio status callbacks,
 * signed SendGrid event batches, the push apps' signed acks), the webhook endpoints publish provider
 * events, the applier turns them into receipts. Every channel ends delivered, and WhatsApp, email
 * and both pushes end read, each status once and in lifecycle order.
 */
const kafka = testKafka();
const schema = uniqueSchema();
const apiKeys = adminApiKeys();
const PHONE = '+14155550161';
const WHATSAPP = '+14155550162';
const EMAIL = 'lifecycle.e2e@example.com';
const FCM_TOKEN = 'fcm-token-lifecycle-e2e-0123456789abcdefghijklmnop';

describe('delivery lifecycle end to end: sandbox callbacks → webhooks → applier → receipts', () => {
  let suite: SandboxSuite;
  let topics: TestTopics;
  let gateway: GatewayProcess;
  let receipts: TopicReader;

  beforeAll(async () => {
    suite = await SandboxSuite.start({
      webhooks: {
        twilio: { delayMs: 100, readForWhatsApp: true },
        sendgrid: { delayMs: 100, openAddresses: [EMAIL] },
        pushAcks: { delayMs: 100, readFraction: 1 },
      },
    });
    topics = await createTestTopics(kafka, 3);
    gateway = await GatewayProcess.start(
      gatewayEnv(topics, {
        ...suite.gatewayEnvironment(),
        DATABASE_URL,
        DATABASE_SCHEMA: schema,
        REDIS_URL,
        ADMIN_API_KEYS: apiKeys.env,
      }),
      'lifecycle-e2e',
    );
    suite.routeWebhooksTo(`http://127.0.0.1:${gateway.port}`);
    receipts = await new TopicReader(kafka, topics.receipts).start();
  }, 90000);

  afterAll(async () => {
    await gateway?.stop();
    await receipts?.stop();
    await suite?.close();
    await dropSchema(schema);
  });

  const statusesOf = (messageId: string): string[] =>
    receiptStatusesOf(receipts.records, messageId);

  async function send(channel: string, recipient: Record<string, unknown>): Promise<string> {
    const id = `cmd-${channel}-${randomUUID()}`;
    const customerId = `cust-${randomUUID().slice(0, 8)}`;
    const command = {
      id,
      customerId,
      category: 'order_updates',
      channels: [channel],
      recipient,
      content: {
        sms: { text: 'Your parcel is on its way' },
        whatsapp: { text: 'Your parcel is on its way' },
        email: { subject: 'Parcel', text: 'Your parcel is on its way' },
        webpush: { title: 'Parcel', body: 'Your parcel is on its way' },
        mobilepush: { title: 'Parcel', body: 'Your parcel is on its way' },
      },
    };
    await publish(kafka, topics.send, [{ key: customerId, value: JSON.stringify(command) }]);
    return id;
  }

  it('ends an SMS delivered, and WhatsApp, email, web push and mobile push read, each status once and in order', async () => {
    const subscription = suite.newWebPushSubscription().subscription;
    const expected: Record<string, string[]> = {
      [await send('sms', { phone: PHONE })]: ['sent', 'delivered'],
      [await send('whatsapp', { whatsapp: WHATSAPP })]: ['sent', 'delivered', 'read'],
      [await send('email', { email: EMAIL })]: ['sent', 'delivered', 'read'],
      [await send('webpush', { webPushSubscriptions: [subscription] })]: [
        'sent',
        'delivered',
        'read',
      ],
      [await send('mobilepush', { fcmTokens: [FCM_TOKEN] })]: ['sent', 'delivered', 'read'],
    };
    const done = () =>
      Object.entries(expected).every(([id, statuses]) =>
        statuses.every((status) => statusesOf(id).includes(status)),
      );
    await receipts.waitFor(done, 30000, 'every lifecycle receipt').catch((error: Error) => {
      const seen = Object.keys(expected).map((id) => `${id}: ${statusesOf(id).join(',')}`);
      throw new Error(`${error.message}; seen ${seen.join('; ')}`);
    });
    // Late or repeated reports must not add a receipt: wait for the sandbox to finish posting.
    await suite.webhooksIdle();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    for (const [id, statuses] of Object.entries(expected)) {
      expect({ id, statuses: statusesOf(id) }).toEqual({ id, statuses });
    }

    // Every post the sandbox made was signed well enough to be taken.
    const refused = suite
      .webhookPosts()
      .filter((post) => post.status === undefined || post.status >= 300)
      .map((post) => `${post.kind} ${post.status}`);
    expect(refused).toEqual([]);

    // The support agent's timeline tells each provider report beside the receipts.
    const whatsappId = Object.keys(expected)[1]!;
    const response = await fetch(
      `http://127.0.0.1:${gateway.port}/admin/v1/messages/${whatsappId}`,
      {
        headers: { authorization: `Bearer ${apiKeys.secrets.viewer}` },
      },
    );
    const timeline = (await response.json()) as {
      providerEvents: Array<{ provider: string; outcome: string | null }>;
    };
    expect(timeline.providerEvents.map((event) => [event.provider, event.outcome])).toEqual(
      expect.arrayContaining([
        ['twilio', 'delivered'],
        ['twilio', 'read'],
      ]),
    );
  });
});
