import { Agent } from 'node:https';
import { generateVAPIDKeys, sendNotification } from 'web-push';
import { webhookIngress } from '../core';
import { RecordingReceiver } from '../core/recording-receiver.testing';
import { fcmAck, webPushAck } from './app-acks';
import { FakeWebPush } from './fake-web-push';

const PUBLIC_BASE = 'https://omnigate.example.com';
const ACK_URL = `${PUBLIC_BASE}/webhooks/push/ack`;

describe('push fakes acknowledge as the app', () => {
  it('reads the ack from a web push payload and from FCM data, and nothing else', () => {
    expect(
      webPushAck(JSON.stringify({ title: 't', ack: { url: ACK_URL, token: 'v1.a.b' } })),
    ).toEqual({ url: ACK_URL, token: 'v1.a.b' });
    expect(webPushAck('not json')).toBeUndefined();
    expect(webPushAck(JSON.stringify({ ack: { url: ACK_URL } }))).toBeUndefined();
    expect(fcmAck({ omnigate_ack_url: ACK_URL, omnigate_ack_token: 't' })).toEqual({
      url: ACK_URL,
      token: 't',
    });
    expect(fcmAck({ other: 'x' })).toBeUndefined();
  });

  it('posts delivered, then read for a chosen subscription, to the ack URL from the decrypted payload', async () => {
    const receiver = await new RecordingReceiver(204).listen();
    const fake = await FakeWebPush.start({
      webhooks: { route: webhookIngress(PUBLIC_BASE, receiver.url), backoffMs: 5 },
    });
    try {
      const vapid = generateVAPIDKeys();
      const reader = fake.createSubscription();
      const glancer = fake.createSubscription();
      fake.setAppAcks({ delayMs: 5, readRecipients: [reader.id] });
      const push = (subscription: typeof reader, token: string) =>
        sendNotification(
          subscription.subscription,
          JSON.stringify({ title: 'Hi', ack: { url: ACK_URL, token } }),
          {
            vapidDetails: { subject: 'mailto:ops@omnigate.example', ...vapid },
            TTL: 60,
            agent: new Agent({ ca: fake.caCertPem }),
          },
        );
      await push(reader, 'token-reader');
      await push(glancer, 'token-glancer');
      await fake.webhooksIdle();

      const acks = receiver.received.map((r) => JSON.parse(r.body) as unknown);
      expect(receiver.received.every((r) => r.url === '/webhooks/push/ack')).toBe(true);
      expect(acks).toEqual(
        expect.arrayContaining([
          { token: 'token-reader', event: 'delivered' },
          { token: 'token-reader', event: 'read' },
          { token: 'token-glancer', event: 'delivered' },
        ]),
      );
      expect(acks).toHaveLength(3);
      expect(fake.ackPosts.every((p) => p.ok && p.kind === 'push-ack')).toBe(true);

      // Without app acks the device stays silent.
      receiver.clear();
      fake.setAppAcks(undefined);
      await push(reader, 'token-silent');
      await fake.webhooksIdle();
      expect(receiver.received).toEqual([]);
    } finally {
      await fake.close();
      await receiver.close();
    }
  });
});
