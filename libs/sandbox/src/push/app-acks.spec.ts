import { sign } from 'node:crypto';
import { Agent } from 'node:https';
import { generateVAPIDKeys, sendNotification } from 'web-push';
import { webhookIngress } from '../core';
import { RecordingReceiver } from '../core/recording-receiver.testing';
import { fcmAck, webPushAck } from './app-acks';
import { FakeFcm, FCM_SCOPE, GOOGLE_TOKEN_URL, JWT_BEARER_GRANT_TYPE } from './fake-fcm';
import { FakeWebPush } from './fake-web-push';

/** POSTs over HTTPS trusting the sandbox certificate (the fakes' own CA). */
async function postTrusting(
  ca: string,
  url: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const { request } = await import('node:https');
  return new Promise((done, fail) => {
    const outgoing = request(url, { method: 'POST', headers, ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        done({
          status: res.statusCode ?? 0,
          json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
        }),
      );
    });
    outgoing.on('error', fail);
    outgoing.end(body);
  });
}

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

  it('acks an FCM message from its data omnigate_ack_url / omnigate_ack_token', async () => {
    const receiver = await new RecordingReceiver(204).listen();
    const fake = await FakeFcm.start({
      appAcks: { delayMs: 5, readRecipients: ['device-1'] },
      webhooks: { route: webhookIngress(PUBLIC_BASE, receiver.url), backoffMs: 5 },
    });
    try {
      const account = fake.serviceAccount;
      const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
      const now = Math.floor(Date.now() / 1000);
      const input = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({
        iss: account.client_email,
        scope: FCM_SCOPE,
        aud: GOOGLE_TOKEN_URL,
        iat: now,
        exp: now + 3600,
      })}`;
      const assertion = `${input}.${sign('sha256', Buffer.from(input), account.private_key).toString('base64url')}`;
      const token = await postTrusting(
        fake.caCertPem,
        fake.tokenUrl,
        { 'content-type': 'application/x-www-form-urlencoded' },
        new URLSearchParams({ grant_type: JWT_BEARER_GRANT_TYPE, assertion }).toString(),
      );
      const send = (device: string, data: Record<string, string>) =>
        postTrusting(
          fake.caCertPem,
          `${fake.url}/v1/projects/${fake.projectId}/messages:send`,
          {
            'content-type': 'application/json',
            authorization: `Bearer ${String(token.json.access_token)}`,
          },
          JSON.stringify({ message: { token: device, notification: { title: 't' }, data } }),
        );
      expect(
        (await send('device-1', { omnigate_ack_url: ACK_URL, omnigate_ack_token: 'tk-1' })).status,
      ).toBe(200);
      expect((await send('device-2', { unrelated: 'x' })).status).toBe(200);
      await fake.webhooksIdle();
      expect(receiver.received.map((r) => [r.url, JSON.parse(r.body) as unknown])).toEqual([
        ['/webhooks/push/ack', { token: 'tk-1', event: 'delivered' }],
        ['/webhooks/push/ack', { token: 'tk-1', event: 'read' }],
      ]);
    } finally {
      await fake.close();
      await receiver.close();
    }
  });
});
