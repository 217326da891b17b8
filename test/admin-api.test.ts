import { generateKeyPairSync, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { SandboxSuite, sandboxTls } from '@omnigate/sandbox';
import { adminApiKeys, seedCustomerWithMessage } from './support/admin';
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
import { until } from './support/wait';

/**
 * The admin API against the built gateway, the real broker, PostgreSQL, Redis and the provider
 * sandbox: every route refuses bad credentials and low roles, viewers never see whole contacts,
 * and a resend goes through the normal pipeline to the sandbox, is linked and audited, and
 * respects opt-outs unless an admin overrides them. An agent names a contact by its index on the
 * profile and learns nothing from typing one; dry runs and unmasked reads are audited; repeated
 * bad credentials from one address get 429.
 */
const kafka = testKafka();
const schema = uniqueSchema();
const apiKeys = adminApiKeys();
const { secrets } = apiKeys;
const kid = randomUUID();
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ISSUER = 'https://idp.omnigate.test';
const AUDIENCE = 'omnigate-admin';

const PHONE = '+14155550142';
const EMAIL = 'li.wei@example.com';
const WHATSAPP = '+14155550143';
const FCM_TOKEN = 'fcm-token-abcdefghijklmnopqrstuvwxyz-0123456789';

let jwks: Server;
let suite: SandboxSuite;
let topics: TestTopics;
let gateway: GatewayProcess;
let receipts: TopicReader;
let base: string;
const customerId = `cust-${randomUUID().slice(0, 8)}`;
const originalId = `cmd-${randomUUID()}`;

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
function jwt(claims: Record<string, unknown>, key: KeyObject = privateKey): string {
  const input = `${b64({ alg: 'RS256', typ: 'JWT', kid })}.${b64(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}
const now = (): number => Math.floor(Date.now() / 1000);
const claims = (role: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: ISSUER,
  aud: AUDIENCE,
  sub: `person-${role}`,
  iat: now(),
  exp: now() + 600,
  omnigate_role: role,
  ...extra,
});

async function call(
  method: string,
  path: string,
  token: string | undefined,
  body?: unknown,
): Promise<{
  status: number;
  type: string;
  json: Record<string, unknown>;
  text: string;
  headers: Headers;
}> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(token !== undefined && { authorization: `Bearer ${token}` }),
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON; the assertion on status or type will say so
  }
  return {
    status: response.status,
    type: response.headers.get('content-type') ?? '',
    json,
    text,
    headers: response.headers,
  };
}

beforeAll(async () => {
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  // The JWKS URL must be https; the gateway trusts the sandbox certificate via NODE_EXTRA_CA_CERTS.
  jwks = createServer(await sandboxTls(), (_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  const jwksPort = (jwks.address() as AddressInfo).port;

  suite = await SandboxSuite.start();
  topics = await createTestTopics(kafka, 2);
  gateway = await GatewayProcess.start(
    gatewayEnv(topics, {
      ...suite.gatewayEnvironment(),
      DATABASE_URL,
      DATABASE_SCHEMA: schema,
      REDIS_URL,
      NODE_EXTRA_CA_CERTS: suite.caFile,
      ADMIN_API_KEYS: apiKeys.env,
      ADMIN_OIDC_JWKS_URL: `https://127.0.0.1:${jwksPort}/jwks.json`,
      ADMIN_OIDC_ISSUER: ISSUER,
      ADMIN_OIDC_AUDIENCE: AUDIENCE,
      ADMIN_OIDC_MAX_TOKEN_AGE_SECONDS: '3600',
      ADMIN_RESENDS_PER_CUSTOMER_PER_HOUR: '5',
      ADMIN_DRY_RUNS_PER_CUSTOMER_PER_HOUR: '20',
      // Above the 401s the route checks cause in a minute; the last test runs into it on purpose.
      ADMIN_AUTH_FAILURES_PER_MINUTE: '100',
      // The test client stands in for the ingress: its X-Forwarded-For names the caller.
      HTTP_TRUSTED_PROXIES: '127.0.0.1',
      // A provider failure is retried within a second, so a retried resend settles quickly.
      RETRY_BASE_DELAY_MS: '200',
      SCHEDULER_POLL_MS: '200',
    }),
    'admin-api',
  );
  base = `http://127.0.0.1:${gateway.port}`;
  receipts = await new TopicReader(kafka, topics.receipts).start();

  await seedCustomerWithMessage({
    kafka,
    topics,
    receipts,
    schema,
    customerId,
    profile: {
      phones: [{ value: PHONE, verified: true }],
      emails: [{ value: EMAIL }],
      whatsapp: [{ value: WHATSAPP }],
      fcmTokens: [{ token: FCM_TOKEN }],
      channelPreferences: { '*': { whatsapp: false } },
    },
    command: {
      id: originalId,
      category: 'order_updates',
      channels: ['sms'],
      content: {
        sms: { text: 'Your order shipped' },
        email: { subject: 'Shipped', text: 'Your order shipped' },
        whatsapp: { text: 'Your order shipped' },
      },
    },
  });
});

afterAll(async () => {
  await gateway?.stop();
  await receipts?.stop();
  await suite?.close();
  await new Promise<void>((resolve) => (jwks ? jwks.close(() => resolve()) : resolve()));
  await dropSchema(schema);
});

describe('admin API authentication and roles', () => {
  const routes: Array<{
    name: string;
    method: string;
    path: () => string;
    need: string;
    body?: unknown;
  }> = [
    { name: 'list messages', method: 'GET', path: () => '/admin/v1/messages', need: 'viewer' },
    {
      name: 'timeline',
      method: 'GET',
      path: () => `/admin/v1/messages/${originalId}`,
      need: 'viewer',
    },
    {
      name: 'customer',
      method: 'GET',
      path: () => `/admin/v1/customers/${customerId}`,
      need: 'viewer',
    },
    {
      name: 'resend',
      method: 'POST',
      path: () => `/admin/v1/messages/${originalId}/resend`,
      need: 'agent',
      body: { reason: 'customer asked again', dryRun: true },
    },
    {
      name: 'cancel',
      method: 'POST',
      path: () => `/admin/v1/messages/${originalId}/cancel`,
      need: 'agent',
      body: { reason: 'customer bought the cart', dryRun: true },
    },
    {
      name: 'group cancel',
      method: 'POST',
      path: () => `/admin/v1/customers/${customerId}/groups/cart-1/cancel`,
      need: 'agent',
      body: { reason: 'customer bought the cart', dryRun: true },
    },
    { name: 'audit', method: 'GET', path: () => '/admin/v1/audit', need: 'admin' },
    { name: 'openapi', method: 'GET', path: () => '/admin/v1/openapi.json', need: 'viewer' },
    { name: 'me', method: 'GET', path: () => '/admin/v1/me', need: 'viewer' },
  ];
  const below: Record<string, string | undefined> = {
    viewer: undefined,
    agent: 'viewer',
    admin: 'agent',
  };
  const badCredentials: Array<[string, () => string | undefined]> = [
    ['no token', () => undefined],
    ['an unknown API key', () => randomBytes(24).toString('base64url')],
    ['a malformed JWT', () => 'eyJhbGciOiJSUzI1NiJ9.e30.c2ln'],
    ['an expired JWT', () => jwt(claims('admin', { exp: now() - 120, iat: now() - 600 }))],
    ['a JWT for another audience', () => jwt(claims('admin', { aud: 'another-service' }))],
    ['a JWT from another issuer', () => jwt(claims('admin', { iss: 'https://evil.test' }))],
    [
      'a JWT signed by another key',
      () => jwt(claims('admin'), generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey),
    ],
    ['a JWT without a role', () => jwt(claims('admin', { omnigate_role: undefined }))],
    ['a JWT issued too long ago', () => jwt(claims('admin', { iat: now() - 7200 }))],
    ['a JWT without iat', () => jwt(claims('admin', { iat: undefined }))],
  ];

  for (const route of routes) {
    it.each(badCredentials)(`${route.name} refuses %s with a 401 problem`, async (_what, token) => {
      const response = await call(route.method, route.path(), token(), route.body);
      expect(response.status).toBe(401);
      expect(response.type).toContain('application/problem+json');
      expect(response.json).toMatchObject({ status: 401, title: 'Unauthenticated' });
      expect(typeof response.json.type).toBe('string');
      expect(typeof response.json.detail).toBe('string');
    });

    const lower = below[route.need];
    if (lower !== undefined) {
      it.each([
        ['API key', () => secrets[lower as 'viewer' | 'agent']],
        ['JWT', () => jwt(claims(lower))],
      ])(`${route.name} refuses the ${lower} role (%s) with a 403 problem`, async (_via, token) => {
        const response = await call(route.method, route.path(), token(), route.body);
        expect(response.status).toBe(403);
        expect(response.type).toContain('application/problem+json');
        expect(response.json).toMatchObject({ status: 403, title: 'Forbidden' });
        expect(String(response.json.detail)).toContain(route.need);
      });
    }

    it(`${route.name} answers the ${route.need} role`, async () => {
      const byKey = await call(
        route.method,
        route.path(),
        secrets[route.need as 'viewer'],
        route.body,
      );
      expect(byKey.status).toBe(200);
      const byJwt = await call(route.method, route.path(), jwt(claims(route.need)), route.body);
      expect(byJwt.status).toBe(200);
    });
  }
});

describe('admin API reads', () => {
  const wholeContacts = [PHONE, EMAIL, WHATSAPP, FCM_TOKEN];

  it('shows a viewer and an agent no whole phone, email or push token', async () => {
    for (const token of [secrets.viewer, jwt(claims('agent'))]) {
      const customer = await call('GET', `/admin/v1/customers/${customerId}`, token);
      const timeline = await call('GET', `/admin/v1/messages/${originalId}`, token);
      expect(customer.status).toBe(200);
      expect(timeline.status).toBe(200);
      for (const text of [customer.text, timeline.text]) {
        for (const contact of wholeContacts) expect(text).not.toContain(contact);
      }
      expect(customer.text).toContain('+1 ••••••••42');
      expect(customer.text).toContain('l•••@e•••.com');
      expect(customer.text).not.toContain('4155');
      expect(customer.json).toMatchObject({ masked: true });
    }
  });

  it('shows an admin the contacts whole, and audits the read', async () => {
    const customer = await call('GET', `/admin/v1/customers/${customerId}`, secrets.admin);
    expect(customer.text).toContain(PHONE);
    expect(customer.text).toContain(EMAIL);
    expect(customer.json).toMatchObject({ masked: false });
    const audit = await call('GET', '/admin/v1/audit?limit=5', secrets.admin);
    expect(audit.json.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          actorId: 'key-admin',
          action: 'read_unmasked',
          customerId,
          details: { what: 'profile' },
        }),
      ]),
    );
  });

  it('lists messages by customer, with a cursor over pages', async () => {
    const page = await call(
      'GET',
      `/admin/v1/messages?customerId=${customerId}&limit=1`,
      secrets.viewer,
    );
    expect(page.status).toBe(200);
    const items = page.json.items as Array<Record<string, unknown>>;
    expect(items.map((m) => m.id)).toContain(originalId);
    const bad = await call('GET', '/admin/v1/messages?limit=0&cursor=nope', secrets.viewer);
    expect(bad.status).toBe(400);
    expect(bad.type).toContain('application/problem+json');
  });

  it('tells the timeline of a message: state, attempts, receipts and trace', async () => {
    const timeline = await call('GET', `/admin/v1/messages/${originalId}`, secrets.viewer);
    expect(timeline.json).toMatchObject({
      message: { id: originalId, status: 'sent', channel: 'sms' },
      attempts: [expect.objectContaining({ channel: 'sms', outcome: 'accepted' })],
    });
    const events = timeline.json.events as Array<{ status: string }>;
    expect(events.map((e) => e.status)).toContain('sent');
    expect((timeline.json.message as { trace: unknown[] }).trace.length).toBeGreaterThan(0);
    // The sent receipt reached the topic before this spec ran; the relay's dequeue commits just
    // after it, so the timeline says published once that is done.
    await until(
      'the timeline to say the sent receipt is published',
      async () => {
        const again = await call('GET', `/admin/v1/messages/${originalId}`, secrets.viewer);
        const sent = (again.json.events as Array<{ status: string; published?: unknown }>).find(
          (e) => e.status === 'sent',
        );
        return sent?.published === true;
      },
      10_000,
    );
  });

  it('tells the console who signed in, and with what role', async () => {
    const byJwt = await call('GET', '/admin/v1/me', jwt(claims('agent')));
    expect(byJwt.json).toEqual({ id: 'oidc:person-agent', role: 'agent', via: 'oidc' });
    const byKey = await call('GET', '/admin/v1/me', secrets.viewer);
    expect(byKey.json).toEqual({ id: 'key-viewer', role: 'viewer', via: 'api-key' });
  });

  it('describes every route in an OpenAPI 3.1 document', async () => {
    const doc = await call('GET', '/admin/v1/openapi.json', secrets.viewer);
    expect(doc.json.openapi).toBe('3.1.0');
    expect(Object.keys(doc.json.paths as object).sort()).toEqual([
      '/admin/v1/audit',
      '/admin/v1/customers/{customerId}',
      '/admin/v1/customers/{customerId}/groups/{groupKey}/cancel',
      '/admin/v1/me',
      '/admin/v1/messages',
      '/admin/v1/messages/{id}',
      '/admin/v1/messages/{id}/cancel',
      '/admin/v1/messages/{id}/resend',
      '/admin/v1/openapi.json',
    ]);
  });
});

describe('admin cancel', () => {
  it('refuses a cancel without a good reason', async () => {
    const short = await call('POST', `/admin/v1/messages/${originalId}/cancel`, secrets.agent, {
      reason: 'x',
    });
    expect(short.status).toBe(400);
  });

  it('reports a sent message too late, changes nothing, and audits the agent', async () => {
    const before = await call('GET', `/admin/v1/messages/${originalId}`, secrets.viewer);
    const dry = await call('POST', `/admin/v1/messages/${originalId}/cancel`, secrets.agent, {
      reason: 'customer bought the cart',
      dryRun: true,
    });
    expect(dry.json).toMatchObject({ outcome: 'too_late', tooLate: [originalId], dryRun: true });
    const cancelled = await call('POST', `/admin/v1/messages/${originalId}/cancel`, secrets.agent, {
      reason: 'customer bought the cart',
    });
    expect(cancelled.status).toBe(200);
    expect(cancelled.json).toMatchObject({ outcome: 'too_late', withdrawn: [], dryRun: false });
    const after = await call('GET', `/admin/v1/messages/${originalId}`, secrets.viewer);
    expect(after.json.message).toEqual(before.json.message);
    const audit = await call('GET', '/admin/v1/audit', secrets.admin);
    expect(audit.json.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          actorId: 'key-agent',
          action: 'cancel',
          messageId: originalId,
          reason: 'customer bought the cart',
        }),
        expect.objectContaining({ actorId: 'key-agent', action: 'cancel_dry_run' }),
      ]),
    );
  });

  it("withdraws a customer's pending messages by group key after a dry run: refused for a viewer, audited for an agent, CANCELLED in the timeline", async () => {
    // SendGrid asks to come back in ten minutes: both emails wait in the scheduler.
    suite.sendgrid.setFailurePlan({ failNext: { count: 20, status: 429, retryAfterSeconds: 600 } });
    // A customer of its own, so the other tests' message lists stay as they were.
    const shopper = `cust-${randomUUID().slice(0, 8)}`;
    const pending = [`cmd-${randomUUID()}`, `cmd-${randomUUID()}`];
    await publish(
      kafka,
      topics.send,
      pending.map((id) => ({
        key: shopper,
        value: JSON.stringify({
          id,
          customerId: shopper,
          category: 'order_updates',
          channels: ['email'],
          recipient: { email: 'shopper@example.com' },
          groupKey: 'cart-9',
          content: { email: { subject: 'Your cart', text: 'Your cart misses you' } },
        }),
      })),
    );
    const statusesOf = (id: string) => receiptStatusesOf(receipts.records, id);
    await until('both emails deferred', () =>
      pending.every((id) => statusesOf(id).includes('deferred')),
    );
    suite.sendgrid.setFailurePlan({});
    const mailsBefore = suite.sendgrid.requests.length;
    const path = `/admin/v1/customers/${shopper}/groups/cart-9/cancel`;
    const body = { reason: 'customer bought the cart in the shop' };

    expect((await call('POST', path, secrets.viewer, body)).status).toBe(403);
    const dry = await call('POST', path, secrets.agent, { ...body, dryRun: true });
    expect(dry.json).toMatchObject({ outcome: 'cancelled', dryRun: true });
    expect([...(dry.json.withdrawn as string[])].sort()).toEqual([...pending].sort());
    for (const id of pending) expect(statusesOf(id)).toEqual(['deferred']);

    const done = await call('POST', path, secrets.agent, body);
    expect(done.json).toMatchObject({ outcome: 'cancelled', dryRun: false });
    expect([...(done.json.withdrawn as string[])].sort()).toEqual([...pending].sort());
    await until('both CANCELLED receipts', () =>
      pending.every((id) => statusesOf(id).includes('cancelled')),
    );
    for (const id of pending) {
      expect(statusesOf(id)).toEqual(['deferred', 'cancelled']);
      const timeline = await call('GET', `/admin/v1/messages/${id}`, secrets.viewer);
      expect(timeline.json.message).toMatchObject({ id, status: 'cancelled' });
      const events = timeline.json.events as Array<{
        status: string;
        receipt: { reason?: { code: string; message: string } };
      }>;
      expect(events.find((e) => e.status === 'cancelled')?.receipt.reason).toEqual({
        code: 'CANCELLED_BY_AGENT',
        message: 'customer bought the cart in the shop',
      });
    }
    const audit = await call('GET', '/admin/v1/audit', secrets.admin);
    expect(audit.json.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          actorId: 'key-agent',
          action: 'cancel',
          customerId: shopper,
          reason: 'customer bought the cart in the shop',
          details: { groupKey: 'cart-9' },
        }),
      ]),
    );
    // Nothing was handed to SendGrid since the cancel.
    expect(suite.sendgrid.requests).toHaveLength(mailsBefore);
  });

  it('remembers a group key cancel with nothing pending yet, and answers 404 for an unknown message', async () => {
    const group = await call(
      'POST',
      `/admin/v1/customers/${customerId}/groups/cart-77/cancel`,
      secrets.agent,
      { reason: 'customer bought the cart' },
    );
    expect(group.json).toMatchObject({ outcome: 'remembered', withdrawn: [] });
    const unknown = await call('POST', '/admin/v1/messages/no-such-message/cancel', secrets.agent, {
      reason: 'customer bought the cart',
    });
    expect(unknown.status).toBe(404);
  });
});

describe('admin resend', () => {
  const resendPath = (): string => `/admin/v1/messages/${originalId}/resend`;

  it('refuses a body without a good reason, and one that is too large', async () => {
    const short = await call('POST', resendPath(), secrets.agent, { reason: 'x' });
    expect(short.status).toBe(400);
    expect(String(short.json.detail)).toContain('reason');
    const huge = await call('POST', resendPath(), secrets.agent, { reason: 'x'.repeat(40000) });
    expect(huge.status).toBe(413);
    expect(huge.type).toContain('application/problem+json');
  });

  it('dry-runs the decision without a provider request or a new message', async () => {
    const before = suite.sendgrid.requests.length + suite.twilio.requests.length;
    const dry = await call('POST', resendPath(), secrets.agent, {
      reason: 'check before resending',
      channel: 'email',
      dryRun: true,
    });
    expect(dry.status).toBe(200);
    expect(dry.json).toMatchObject({
      dryRun: true,
      decision: 'send',
      channel: 'email',
      provider: 'sendgrid',
      channels: ['email'],
      steps: [{ channel: 'email', step: 'send', provider: 'sendgrid' }],
      capsChecked: true,
    });
    const opted = await call('POST', resendPath(), secrets.admin, {
      reason: 'check the override',
      channel: 'whatsapp',
      overrideOptOut: true,
      dryRun: true,
    });
    expect(opted.json).toMatchObject({ decision: 'send', channel: 'whatsapp', provider: 'twilio' });
    const refused = await call('POST', resendPath(), secrets.agent, {
      reason: 'check the opt-out',
      channel: 'whatsapp',
      dryRun: true,
    });
    expect(refused.status).toBe(409);
    await new Promise((r) => setTimeout(r, 1000));
    expect(suite.sendgrid.requests.length + suite.twilio.requests.length).toBe(before);
    const list = await call('GET', `/admin/v1/messages?customerId=${customerId}`, secrets.viewer);
    expect((list.json.items as unknown[]).length).toBe(1);
  });

  it('resends on the requested channel, links it to the original and audits it', async () => {
    const mailsBefore = suite.sendgrid.acceptedMails.length;
    const accepted = await call('POST', resendPath(), jwt(claims('agent')), {
      reason: 'customer did not get the SMS',
      channel: 'email',
    });
    expect(accepted.status).toBe(202);
    expect(accepted.json).toMatchObject({ resendOf: originalId });
    const resendId = String(accepted.json.messageId);

    await until('the resent mail', () => suite.sendgrid.acceptedMails.length > mailsBefore);
    expect(JSON.stringify(suite.sendgrid.acceptedMails.slice(mailsBefore))).toContain(EMAIL);

    const resent = await until('the resend to settle', async () => {
      const t = await call('GET', `/admin/v1/messages/${resendId}`, secrets.viewer);
      const message = t.json.message as { status?: string } | undefined;
      return message?.status === 'sent' ? t : undefined;
    });
    expect(resent.json).toMatchObject({ message: { resendOf: originalId, channel: 'email' } });
    expect(String((resent.json.message as { source: string }).source)).toMatch(/^admin:\d+$/);

    const timeline = await call('GET', `/admin/v1/messages/${originalId}`, secrets.viewer);
    expect((timeline.json.resends as Array<{ id: string }>).map((r) => r.id)).toContain(resendId);

    const audit = await call('GET', '/admin/v1/audit', secrets.admin);
    expect(audit.json.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          actorId: 'oidc:person-agent',
          actorRole: 'agent',
          action: 'resend',
          messageId: originalId,
          customerId,
          reason: 'customer did not get the SMS',
          details: expect.objectContaining({
            newMessageId: resendId,
            channel: 'email',
          }) as unknown,
        }),
      ]),
    );
  });

  it('refuses a channel the customer opted out of, unless an admin overrides it (audited)', async () => {
    const refused = await call('POST', resendPath(), secrets.agent, {
      reason: 'customer wants WhatsApp',
      channel: 'whatsapp',
    });
    expect(refused.status).toBe(409);
    expect(refused.type).toContain('application/problem+json');
    expect(String(refused.json.detail)).toMatch(/opted out of WhatsApp/);

    const agentOverride = await call('POST', resendPath(), secrets.agent, {
      reason: 'customer wants WhatsApp',
      channel: 'whatsapp',
      overrideOptOut: true,
    });
    expect(agentOverride.status).toBe(403);

    const before = suite.twilio.acceptedMessages.length;
    const overridden = await call('POST', resendPath(), secrets.admin, {
      reason: 'customer asked on the phone to get it on WhatsApp once',
      channel: 'whatsapp',
      overrideOptOut: true,
    });
    expect(overridden.status).toBe(202);
    await until('the WhatsApp message', () =>
      suite.twilio.acceptedMessages
        .slice(before)
        .some((m) => String(m.To) === `whatsapp:${WHATSAPP}`),
    );
    const audit = await call('GET', '/admin/v1/audit?limit=10', secrets.admin);
    expect(audit.json.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          actorId: 'key-admin',
          action: 'resend_with_override',
          details: expect.objectContaining({
            overrides: ['optOut'],
            optOutOverridden: true,
            newMessageId: overridden.json.messageId,
          }) as unknown,
        }),
      ]),
    );
  });

  it('keeps an admin override when the resend is retried from the scheduler', async () => {
    // The first WhatsApp call fails with 503, so the resend waits for a retry; the retry runs
    // from the scheduler and must still carry the opt-out override, or it would be suppressed.
    const before = suite.twilio.acceptedMessages.length;
    suite.twilio.setFailurePlan({ failNext: { count: 1, status: 503 } });
    try {
      const overridden = await call('POST', resendPath(), secrets.admin, {
        reason: 'customer asked on the phone for WhatsApp again',
        channel: 'whatsapp',
        overrideOptOut: true,
      });
      expect(overridden.status).toBe(202);
      const resendId = String(overridden.json.messageId);
      const settled = await until('the retried resend to settle', async () => {
        const t = await call('GET', `/admin/v1/messages/${resendId}`, secrets.viewer);
        const status = (t.json.message as { status?: string } | undefined)?.status;
        return status === 'sent' || status === 'suppressed' || status === 'failed' ? t : undefined;
      });
      const events = (settled.json.events as Array<{ status: string }>).map((e) => e.status);
      expect(events).toEqual(['deferred', 'sent']);
      expect(settled.json.message).toMatchObject({ status: 'sent', channel: 'whatsapp' });
      expect(
        suite.twilio.acceptedMessages
          .slice(before)
          .filter((m) => String(m.To) === `whatsapp:${WHATSAPP}`),
      ).toHaveLength(1);
    } finally {
      suite.twilio.setFailurePlan({});
    }
  });

  it('lets an agent name a contact only by its index, so a guess tells nothing', async () => {
    // A right and a wrong guess of the customer's number get the same refusal, before any lookup.
    const guesses = await Promise.all(
      [PHONE, '+14155550199'].map((contact) =>
        call('POST', resendPath(), secrets.agent, {
          reason: 'is this the customer number?',
          channel: 'sms',
          contact,
          dryRun: true,
        }),
      ),
    );
    expect(guesses.map((g) => g.status)).toEqual([403, 403]);
    expect(guesses[0]?.text).toBe(guesses[1]?.text);

    const byIndex = await call('POST', resendPath(), secrets.agent, {
      reason: 'resend to the first number on file',
      channel: 'sms',
      contactIndex: 0,
      dryRun: true,
    });
    expect(byIndex.status).toBe(200);
    expect(byIndex.json).toMatchObject({ decision: 'send', channel: 'sms' });
    const missing = await call('POST', resendPath(), secrets.agent, {
      reason: 'resend to the third number on file',
      channel: 'sms',
      contactIndex: 2,
      dryRun: true,
    });
    expect(missing.status).toBe(422);
    expect(missing.text).not.toContain(PHONE);

    // The dry run is in the audit log, with the index it named.
    const audit = await call('GET', '/admin/v1/audit?limit=10', secrets.admin);
    expect(audit.json.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          actorId: 'key-agent',
          action: 'dry_run',
          messageId: originalId,
          customerId,
          reason: 'resend to the first number on file',
          details: expect.objectContaining({
            channel: 'sms',
            contactIndex: 0,
            decision: 'send',
          }) as unknown,
        }),
      ]),
    );

    // An admin may still type a new address (audited masked); nothing is compared with the profile.
    const admin = await call('POST', resendPath(), secrets.admin, {
      reason: 'send to the new address',
      channel: 'email',
      contact: 'someone.else@example.com',
      dryRun: true,
    });
    expect(admin.status).toBe(200);
  });

  it('pages through every message of the customer with the cursor, each once', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
      const page = await call(
        'GET',
        `/admin/v1/messages?customerId=${customerId}&limit=2${query}`,
        secrets.viewer,
      );
      expect(page.status).toBe(200);
      seen.push(...(page.json.items as Array<{ id: string }>).map((m) => m.id));
      cursor = page.json.nextCursor as string | null;
    } while (cursor !== null);
    // The original and its three resends so far.
    expect(seen).toHaveLength(4);
    expect(new Set(seen).size).toBe(4);
    expect(seen[seen.length - 1]).toBe(originalId);
  });

  it('limits resends per customer with a 429 problem and Retry-After', async () => {
    // Three real resends so far; the limit is 5 an hour.
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 3; i += 1) {
      last = await call('POST', resendPath(), secrets.agent, {
        reason: `resend number ${i}`,
        channel: 'sms',
      });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([202, 202, 429]);
    expect(last?.type).toContain('application/problem+json');
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('limits dry runs per customer with their own 429', async () => {
    let last: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i <= 20 && last?.status !== 429; i += 1) {
      last = await call('POST', resendPath(), secrets.agent, {
        reason: `dry run number ${i}`,
        channel: 'email',
        dryRun: true,
      });
    }
    expect(last?.status).toBe(429);
    expect(String(last?.json.detail)).toContain('dry runs');
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('admin sign-in throttle', () => {
  it('answers 429 to an address after repeated bad credentials, even with a good one', async () => {
    let last: Awaited<ReturnType<typeof call>> | undefined;
    const statuses = new Set<number>();
    for (let i = 0; i <= 100 && last?.status !== 429; i += 1) {
      last = await call('GET', '/admin/v1/me', randomBytes(24).toString('base64url'));
      statuses.add(last.status);
    }
    expect([...statuses].sort()).toEqual([401, 429]);
    expect(last?.type).toContain('application/problem+json');
    const good = await call('GET', '/admin/v1/me', secrets.admin);
    expect(good.status).toBe(429);
    expect(Number(good.headers.get('retry-after'))).toBeGreaterThan(0);
    // Behind a trusted proxy, another caller is another address: one attacker does not lock
    // every agent out.
    const elsewhere = await fetch(`${base}/admin/v1/me`, {
      headers: { authorization: `Bearer ${secrets.admin}`, 'x-forwarded-for': '203.0.113.7' },
    });
    expect(elsewhere.status).toBe(200);
  });
});
