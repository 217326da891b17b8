import { execFile } from 'node:child_process';
import nodeCrypto from 'node:crypto';
import { createPrivateKey, sign } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  generateRequestDetails,
  generateVAPIDKeys,
  sendNotification,
  type RequestOptions,
  type VapidKeys,
} from 'web-push';
import { FakeWebPush, type FakePushSubscription } from './fake-web-push';
import { sandboxTls, writeSandboxCaFile } from './tls';

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

function call(
  url: string,
  ca: string,
  init: { headers?: Record<string, string>; body?: Buffer | string | null } = {},
): Promise<Answer> {
  return new Promise((done, fail) => {
    const outgoing = request(url, { method: 'POST', headers: init.headers, ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        done({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    outgoing.on('error', fail);
    outgoing.end(init.body ?? undefined);
  });
}

/** An ES256 VAPID JWT signed with `keys`, with claims chosen by the test. */
function vapidJwt(keys: VapidKeys, claims: Record<string, unknown>): string {
  const point = Buffer.from(keys.publicKey, 'base64url');
  const privateKey = createPrivateKey({
    key: {
      kty: 'EC',
      crv: 'P-256',
      d: keys.privateKey,
      x: point.subarray(1, 33).toString('base64url'),
      y: point.subarray(33).toString('base64url'),
    },
    format: 'jwk',
  });
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode({ typ: 'JWT', alg: 'ES256' })}.${encode(claims)}`;
  const signature = sign('sha256', Buffer.from(input), {
    key: privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return `${input}.${signature.toString('base64url')}`;
}

describe('FakeWebPush', () => {
  let fake: FakeWebPush;
  let vapid: VapidKeys;
  let subscriber: FakePushSubscription;

  const vapidDetails = () => ({
    subject: 'mailto:ops@omnigate.example',
    publicKey: vapid.publicKey,
    privateKey: vapid.privateKey,
  });
  /** The request web-push would send, for tests that tamper with it before sending. */
  const details = (payload: string, options: RequestOptions = {}) => {
    const built = generateRequestDetails(subscriber.subscription, payload, {
      vapidDetails: vapidDetails(),
      TTL: 60,
      ...options,
    });
    return { headers: built.headers, body: built.body };
  };
  const post = (init: { headers: Record<string, string>; body: Buffer | null }) =>
    call(subscriber.subscription.endpoint, fake.caCertPem, init);

  beforeAll(async () => {
    fake = await FakeWebPush.start();
    vapid = generateVAPIDKeys();
  });
  beforeEach(() => {
    subscriber = fake.createSubscription();
  });
  afterEach(() => fake.reset());
  afterAll(() => fake.close());

  it('mints subscriptions like a browser: HTTPS endpoint, P-256 key, 16-byte auth secret', () => {
    const { id, subscription } = subscriber;
    expect(subscription.endpoint).toBe(`${fake.url}/push/${id}`);
    expect(subscription.endpoint).toMatch(/^https:\/\/localhost:\d+\/push\//);
    expect(subscription.expirationTime).toBeNull();
    const point = Buffer.from(subscription.keys.p256dh, 'base64url');
    expect(point).toHaveLength(65);
    expect(point[0]).toBe(0x04);
    expect(Buffer.from(subscription.keys.auth, 'base64url')).toHaveLength(16);
    expect(fake.createSubscription().id).not.toBe(id);
  });

  it('accepts what web-push sends, decrypts it and records TTL, Urgency, Topic and the VAPID claims', async () => {
    const payload = JSON.stringify({ title: 'Hello', body: '你好 👋 مرحبا' });
    const result = await sendNotification(subscriber.subscription, payload, {
      vapidDetails: vapidDetails(),
      TTL: 120,
      urgency: 'high',
      topic: 'order-42',
      // web-push has no `ca` option; trust comes from an agent.
      agent: new Agent({ ca: fake.caCertPem }),
    });

    expect(result.statusCode).toBe(201);
    expect(result.headers.location).toMatch(new RegExp(`^${fake.url}/message/[0-9a-f-]{36}$`));
    const [delivery] = fake.deliveries(subscriber.id);
    expect(delivery).toMatchObject({
      subscriptionId: subscriber.id,
      location: result.headers.location,
      payload,
      ttl: 120,
      urgency: 'high',
      topic: 'order-42',
      vapid: {
        aud: new URL(fake.url).origin,
        sub: 'mailto:ops@omnigate.example',
        publicKey: vapid.publicKey,
      },
    });
    const now = Math.floor(Date.now() / 1000);
    expect(delivery?.vapid.exp).toBeGreaterThan(now);
    expect(delivery?.vapid.exp).toBeLessThanOrEqual(now + 24 * 3600);
    expect(fake.requests.at(-1)).toMatchObject({ provider: 'webpush', status: 201, body: payload });
  });

  describe('VAPID', () => {
    const signedWith = (claims: Record<string, unknown>, keys = vapid) => {
      const request = details('x');
      return {
        headers: {
          ...request.headers,
          Authorization: `vapid t=${vapidJwt(keys, claims)}, k=${vapid.publicKey}`,
        },
        body: request.body,
      };
    };
    const valid = () => ({
      aud: new URL(fake.url).origin,
      exp: Math.floor(Date.now() / 1000) + 3600,
      sub: 'mailto:ops@omnigate.example',
    });

    it('accepts a hand-made valid JWT (the checks below differ in one claim each)', async () => {
      expect((await post(signedWith(valid()))).status).toBe(201);
    });

    it.each([
      [
        'no Authorization header',
        () => ({ ...details('x'), headers: { ...details('x').headers, Authorization: '' } }),
      ],
      [
        'a JWT for another audience',
        () => signedWith({ ...valid(), aud: 'https://elsewhere.example' }),
      ],
      [
        'an expired JWT',
        () => signedWith({ ...valid(), exp: Math.floor(Date.now() / 1000) - 600 }),
      ],
      [
        'a JWT valid for 48 hours',
        () => signedWith({ ...valid(), exp: Math.floor(Date.now() / 1000) + 48 * 3600 }),
      ],
      ['a JWT without sub', () => signedWith({ aud: valid().aud, exp: valid().exp })],
      ['a JWT signed by a key other than k', () => signedWith(valid(), generateVAPIDKeys())],
    ])('refuses %s with 401', async (_label, build) => {
      const answer = await post(build());
      expect(answer.status).toBe(401);
      expect(fake.deliveries()).toHaveLength(0);
    });

    describe('a token it has verified before', () => {
      const withToken = (token: string, key = vapid.publicKey) => {
        const request = details('x');
        return {
          headers: { ...request.headers, Authorization: `vapid t=${token}, k=${key}` },
          body: request.body,
        };
      };

      afterEach(() => jest.restoreAllMocks());

      it('is accepted again, and refused once its exp has passed', async () => {
        const token = vapidJwt(vapid, {
          ...valid(),
          exp: Math.floor(Date.now() / 1000) + 120,
        });
        expect((await post(withToken(token))).status).toBe(201);
        expect((await post(withToken(token))).status).toBe(201);
        const later = Date.now() + 60 * 60 * 1000;
        jest.spyOn(Date, 'now').mockReturnValue(later);
        expect((await post(withToken(token))).status).toBe(401);
      });

      it('is not verified again', async () => {
        const token = vapidJwt(vapid, valid());
        const verify = jest.spyOn(nodeCrypto, 'verify');
        try {
          expect((await post(withToken(token))).status).toBe(201);
          expect((await post(withToken(token))).status).toBe(201);
          expect(verify).toHaveBeenCalledTimes(1);
        } finally {
          verify.mockRestore();
        }
      });

      it('vouches for nothing under another k', async () => {
        const token = vapidJwt(vapid, valid());
        expect((await post(withToken(token))).status).toBe(201);
        const other = generateVAPIDKeys().publicKey;
        expect((await post(withToken(token, other))).status).toBe(401);
      });

      it('still meets the key a subscription was created with (403)', async () => {
        const token = vapidJwt(vapid, valid());
        expect((await post(withToken(token))).status).toBe(201);
        const bound = fake.createSubscription({
          applicationServerKey: generateVAPIDKeys().publicKey,
        });
        const request = withToken(token);
        const answer = await call(bound.subscription.endpoint, fake.caCertPem, {
          headers: request.headers,
          body: generateRequestDetails(bound.subscription, 'x', {
            vapidDetails: vapidDetails(),
          }).body,
        });
        expect(answer.status).toBe(403);
      });
    });

    it('refuses a key other than the one the subscription was created with (403)', async () => {
      const bound = fake.createSubscription({
        applicationServerKey: generateVAPIDKeys().publicKey,
      });
      const request = generateRequestDetails(bound.subscription, 'x', {
        vapidDetails: vapidDetails(),
      });
      const answer = await call(bound.subscription.endpoint, fake.caCertPem, request);
      expect(answer.status).toBe(403);
    });
  });

  describe('headers and payload', () => {
    it.each([
      ['no TTL', (h: Record<string, string>) => ({ ...h, TTL: '' })],
      ['an unknown Urgency', (h: Record<string, string>) => ({ ...h, Urgency: 'urgent' })],
      [
        'a Topic over 32 characters',
        (h: Record<string, string>) => ({ ...h, Topic: 't'.repeat(33) }),
      ],
      [
        'the old aesgcm encoding',
        (h: Record<string, string>) => ({ ...h, 'Content-Encoding': 'aesgcm' }),
      ],
    ])('answers 400 to %s', async (_label, tamper) => {
      const request = details('hello');
      const headers = Object.fromEntries(
        Object.entries(tamper(request.headers)).filter(([, value]) => value !== ''),
      );
      expect((await post({ headers, body: request.body })).status).toBe(400);
    });

    it('answers 400 to a payload it cannot decrypt', async () => {
      const request = details('hello');
      const body = Buffer.from(request.body ?? Buffer.alloc(0));
      body[body.length - 1] = (body[body.length - 1] ?? 0) ^ 0xff;
      const answer = await post({ headers: request.headers, body });
      expect(answer.status).toBe(400);
      expect(answer.text).toContain('could not be decrypted');
    });

    it('answers 413 to an encrypted body over 4096 bytes', async () => {
      const request = details('x'.repeat(4000));
      expect(request.body?.length).toBeGreaterThan(4096);
      expect((await post(request)).status).toBe(413);
    });

    it('accepts a payload right at the limit', async () => {
      const request = details('y'.repeat(3993));
      expect(request.body?.length).toBe(4096);
      expect((await post(request)).status).toBe(201);
      expect(fake.deliveries()[0]?.payload).toBe('y'.repeat(3993));
    });
  });

  describe('failures', () => {
    it('answers 404 to unknown subscriptions and 410 to expired ones', async () => {
      const unknown = await call(`${fake.url}/push/nobody`, fake.caCertPem, details('x'));
      expect(unknown.status).toBe(404);
      fake.expireSubscription(subscriber.id);
      expect((await post(details('x'))).status).toBe(410);
    });

    it.each(['400', '404', '410', '413', '429', '503'])(
      'answers recipientErrors %s for that subscription only',
      async (code) => {
        const other = fake.createSubscription();
        fake.setFailurePlan({ recipientErrors: { [subscriber.id]: code }, retryAfterSeconds: 12 });
        const answer = await post(details('x'));
        expect(answer.status).toBe(Number(code));
        expect(answer.headers['retry-after']).toBe(code === '429' ? '12' : undefined);
        expect(fake.requests.at(-1)?.recipient).toBe(subscriber.id);
        const request = generateRequestDetails(other.subscription, 'x', {
          vapidDetails: vapidDetails(),
        });
        expect((await call(other.subscription.endpoint, fake.caCertPem, request)).status).toBe(201);
      },
    );

    it('applies the failure plan: 5xx and 429 with Retry-After', async () => {
      fake.setFailurePlan({ failNext: { count: 1, status: 500 } });
      expect((await post(details('x'))).status).toBe(500);
      fake.setFailurePlan({ rateLimitRate: 1 });
      const limited = await post(details('x'));
      expect(limited.status).toBe(429);
      expect(limited.headers['retry-after']).toBe('30');
    });
  });

  describe('forwarding payloads unread (payloads: forward)', () => {
    let forwarder: FakeWebPush;
    let reader: FakePushSubscription;
    const sent = (payload: string) =>
      generateRequestDetails(reader.subscription, payload, {
        vapidDetails: vapidDetails(),
        TTL: 60,
      });
    /** Sends a body, perhaps cut short, with its own Content-Length. */
    const postTo = (init: { headers: Record<string, string>; body: Buffer | null }) =>
      call(reader.subscription.endpoint, forwarder.caCertPem, {
        headers: { ...init.headers, 'Content-Length': String(init.body?.length ?? 0) },
        body: init.body,
      });

    beforeAll(async () => {
      forwarder = await FakeWebPush.start({ payloads: 'forward' });
    });
    beforeEach(() => {
      reader = forwarder.createSubscription();
    });
    afterAll(() => forwarder.close());

    it('accepts what web-push sends without reading it', async () => {
      const answer = await postTo(sent('not for the push service'));
      expect(answer.status).toBe(201);
      expect(forwarder.deliveries(reader.id)).toEqual([
        expect.objectContaining({ subscriptionId: reader.id, payload: '', ttl: 60 }),
      ]);
    });

    it('cannot tell a tampered tag, as a real push service cannot', async () => {
      const request = sent('hello');
      const body = Buffer.from(request.body ?? Buffer.alloc(0));
      body[body.length - 1] = (body[body.length - 1] ?? 0) ^ 0xff;
      expect((await postTo({ headers: request.headers, body })).status).toBe(201);
    });

    it.each([
      ['a body shorter than the header', (body: Buffer) => body.subarray(0, 20)],
      [
        'a key id that is not a P-256 point',
        (body: Buffer) =>
          Buffer.concat([body.subarray(0, 20), Buffer.from([16]), body.subarray(21)]),
      ],
      ['no record after the header', (body: Buffer) => body.subarray(0, 21 + 65 + 16)],
      [
        'a record over the record size',
        (body: Buffer) => {
          const copy = Buffer.from(body);
          copy.writeUInt32BE(18, 16);
          return copy;
        },
      ],
    ])('still refuses %s (400)', async (_label, tamper) => {
      const request = sent('hello');
      const answer = await postTo({
        headers: request.headers,
        body: tamper(request.body ?? Buffer.alloc(0)),
      });
      expect(answer.status).toBe(400);
      expect(answer.text).toContain('Payload is not aes128gcm');
    });

    it('still refuses another content encoding and a body over the limit', async () => {
      const request = sent('hello');
      const aesgcm = { ...request.headers, 'Content-Encoding': 'aesgcm' };
      expect((await postTo({ headers: aesgcm, body: request.body })).status).toBe(400);
      expect((await postTo(sent('x'.repeat(4000)))).status).toBe(413);
    });

    it('takes no acks, which the pretend browser reads from the payload', async () => {
      const tls = await sandboxTls();
      expect(() => new FakeWebPush({ payloads: 'forward', appAcks: {} }, tls)).toThrow(
        /acks from the payload/,
      );
      expect(() => forwarder.setAppAcks({})).toThrow(/acks from the payload/);
    });
  });

  it('is trusted by a child process started with NODE_EXTRA_CA_CERTS=<writeSandboxCaFile()>', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fake-web-push-'));
    try {
      const caFile = await writeSandboxCaFile(join(dir, 'sandbox-ca.pem'));
      const script = `
        require('node:https')
          .request(process.env.TARGET, { method: 'POST', agent: false }, (res) => {
            process.stdout.write(String(res.statusCode));
            res.resume();
          })
          .on('error', (error) => process.stdout.write(error.code))
          .end();
      `;
      const run = (extraEnv: Record<string, string>) =>
        promisify(execFile)(process.execPath, ['-e', script], {
          env: { ...process.env, TARGET: `${fake.url}/push/nobody`, ...extraEnv },
          timeout: 20_000,
        });
      expect((await run({ NODE_EXTRA_CA_CERTS: caFile })).stdout).toBe('404');
      expect((await run({ NODE_EXTRA_CA_CERTS: '' })).stdout).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
