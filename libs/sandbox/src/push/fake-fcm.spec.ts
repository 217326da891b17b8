import { execFile } from 'node:child_process';
import { sign } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  FakeFcm,
  FCM_ERROR_RESPONSES,
  FCM_ERROR_TYPE,
  FCM_SCOPE,
  GOOGLE_TOKEN_URL,
  JWT_BEARER_GRANT_TYPE,
  type FakeServiceAccount,
} from './fake-fcm';
import { writeSandboxCaFile } from './tls';

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

function call(
  url: string,
  ca: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((done, fail) => {
    const outgoing = request(
      url,
      { method: init.method ?? 'POST', headers: init.headers, ca },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          done({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    outgoing.on('error', fail);
    outgoing.end(init.body);
  });
}

const json = (answer: Answer): Record<string, unknown> =>
  JSON.parse(answer.text) as Record<string, unknown>;

function b64(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** A JWT-bearer assertion as a service account signs it, with claims to override. */
function assertion(
  account: FakeServiceAccount,
  overrides: Record<string, unknown> = {},
  options: { key?: string; alg?: string } = {},
): string {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: options.alg ?? 'RS256', typ: 'JWT' })}.${b64({
    iss: account.client_email,
    scope: FCM_SCOPE,
    aud: GOOGLE_TOKEN_URL,
    iat: now,
    exp: now + 3600,
    ...overrides,
  })}`;
  const signature = sign('sha256', Buffer.from(input), options.key ?? account.private_key);
  return `${input}.${signature.toString('base64url')}`;
}

describe('FakeFcm', () => {
  let fake: FakeFcm;

  const exchange = (form: Record<string, string>) =>
    call(fake.tokenUrl, fake.caCertPem, {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
  const accessToken = async (account = fake.serviceAccount): Promise<string> => {
    const answer = await exchange({
      grant_type: JWT_BEARER_GRANT_TYPE,
      assertion: assertion(account),
    });
    return json(answer).access_token as string;
  };
  const sendUrl = (projectId = fake.projectId) =>
    `${fake.url}/v1/projects/${projectId}/messages:send`;
  const send = async (body: unknown, token?: string, projectId?: string) =>
    call(sendUrl(projectId), fake.caCertPem, {
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
    });
  const message = (token = 'device-token-1') => ({
    message: { token, notification: { title: 't', body: 'b' } },
  });

  beforeAll(async () => {
    fake = await FakeFcm.start();
  });
  afterEach(() => fake.reset());
  afterAll(() => fake.close());

  describe('token endpoint', () => {
    it('mints a service account whose key signs assertions it accepts', async () => {
      expect(fake.serviceAccount).toMatchObject({
        type: 'service_account',
        project_id: 'omnigate-sandbox',
        token_uri: GOOGLE_TOKEN_URL,
      });
      expect(fake.serviceAccount.client_email).toMatch(
        /@omnigate-sandbox\.iam\.gserviceaccount\.com$/,
      );

      const answer = await exchange({
        grant_type: JWT_BEARER_GRANT_TYPE,
        assertion: assertion(fake.serviceAccount),
      });

      expect(answer.status).toBe(200);
      expect(json(answer)).toEqual({
        access_token: expect.stringMatching(/^ya29\./) as unknown,
        expires_in: 3599,
        token_type: 'Bearer',
      });
      expect(fake.tokenRequests).toEqual([
        expect.objectContaining({
          status: 200,
          clientEmail: fake.serviceAccount.client_email,
          scopes: [FCM_SCOPE],
        }),
      ]);
    });

    const refusals: Record<string, [error: string, description: string, make: () => string]> = {
      'a signature by another key': [
        'invalid_grant',
        'Invalid JWT Signature.',
        () => assertion(fake.serviceAccount, {}, { key: fake.createServiceAccount().private_key }),
      ],
      'an unknown account': [
        'invalid_grant',
        'account not found',
        () => assertion(fake.serviceAccount, { iss: 'nobody@nowhere.iam.gserviceaccount.com' }),
      ],
      'another audience': [
        'invalid_grant',
        'Failed audience check',
        () => assertion(fake.serviceAccount, { aud: 'https://example.com/token' }),
      ],
      'a lifetime over an hour': [
        'invalid_grant',
        'short-lived',
        () => assertion(fake.serviceAccount, { exp: Math.floor(Date.now() / 1000) + 7200 }),
      ],
      'an expired assertion': [
        'invalid_grant',
        'short-lived',
        () => {
          const now = Math.floor(Date.now() / 1000);
          return assertion(fake.serviceAccount, { iat: now - 7200, exp: now - 3600 });
        },
      ],
      'no scope': ['invalid_scope', 'scope', () => assertion(fake.serviceAccount, { scope: '' })],
      'an HS256 header': [
        'invalid_grant',
        'RS256',
        () => assertion(fake.serviceAccount, {}, { alg: 'HS256' }),
      ],
    };

    it.each(Object.keys(refusals))('refuses %s', async (kind) => {
      const [error, description, make] = refusals[kind] ?? ['', '', () => ''];
      const answer = await exchange({ grant_type: JWT_BEARER_GRANT_TYPE, assertion: make() });
      expect(answer.status).toBe(400);
      expect(json(answer).error).toBe(error);
      expect(json(answer).error_description).toContain(description);
    });

    it('refuses other grant types', async () => {
      const answer = await exchange({ grant_type: 'client_credentials' });
      expect(answer.status).toBe(400);
      expect(json(answer).error).toBe('unsupported_grant_type');
    });

    it('fails on request, and is not affected by the send failure plan', async () => {
      fake.setFailurePlan({ failNext: { count: 5, status: 503 } });
      expect((await exchange({ grant_type: 'x' })).status).toBe(400);

      fake.setTokenFailure({ status: 503, count: 1 });
      const failed = await exchange({
        grant_type: JWT_BEARER_GRANT_TYPE,
        assertion: assertion(fake.serviceAccount),
      });
      expect(failed.status).toBe(503);
      expect((await accessToken()).length).toBeGreaterThan(10);
    });

    it('accepts the assertion google-auth-library makes (firebase-admin cert() from a key file, plain Node)', async () => {
      // jest cannot run google-auth-library's transport (a dynamic import of node-fetch), so the
      // real SDK credential runs in a child process, redirected by an agent like the adapter's.
      const dir = await mkdtemp(join(tmpdir(), 'fake-fcm-'));
      try {
        const keyFile = join(dir, 'service-account.json');
        await writeFile(keyFile, JSON.stringify(fake.serviceAccount), { mode: 0o600 });
        const caFile = await writeSandboxCaFile(join(dir, 'ca.pem'));
        const script = `
          const https = require('node:https');
          const tls = require('node:tls');
          const fs = require('node:fs');
          const { initializeApp, cert, deleteApp } = require('firebase-admin/app');
          const { getMessaging } = require('firebase-admin/messaging');
          const routes = {
            'fcm.googleapis.com': new URL(process.env.FCM_URL),
            'oauth2.googleapis.com': new URL(process.env.OAUTH_URL),
          };
          const ca = fs.readFileSync(process.env.CA_FILE, 'utf8');
          class Redirect extends https.Agent {
            createConnection(options) {
              const target = routes[options.host];
              return tls.connect({ host: target.hostname, port: Number(target.port), servername: options.host, ca });
            }
          }
          const agent = new Redirect({ keepAlive: true });
          const app = initializeApp({ credential: cert(process.env.KEY_FILE, agent), httpAgent: agent }, 'cross-check');
          getMessaging(app)
            .send({ token: 'cross-check-token', notification: { title: 'hi', body: 'there' } })
            .then((name) => process.stdout.write(JSON.stringify({ name })))
            .catch((error) => process.stdout.write(JSON.stringify({ error: error.code, message: error.message })))
            .finally(() => deleteApp(app).then(() => agent.destroy()));
        `;
        const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], {
          cwd: resolve(__dirname, '../../../..'),
          env: {
            ...process.env,
            FCM_URL: fake.endpoints.fcm,
            OAUTH_URL: fake.endpoints.oauth2,
            KEY_FILE: keyFile,
            CA_FILE: caFile,
          },
          timeout: 30_000,
        });
        expect(JSON.parse(stdout)).toEqual({
          name: expect.stringMatching(/^projects\/omnigate-sandbox\/messages\//) as unknown,
        });
        expect(fake.tokenRequests[0]).toMatchObject({
          status: 200,
          clientEmail: fake.serviceAccount.client_email,
        });
        expect(fake.tokenRequests[0]?.scopes).toContain(FCM_SCOPE);
        expect(fake.messages[0]).toMatchObject({ token: 'cross-check-token' });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }, 40_000);
  });

  describe('messages:send', () => {
    it('accepts a message and records it', async () => {
      const answer = await send(message(), await accessToken());
      expect(answer.status).toBe(200);
      const name = json(answer).name as string;
      expect(name).toMatch(/^projects\/omnigate-sandbox\/messages\/0:\d+%[0-9a-f]{16}$/);
      expect(fake.requests.at(-1)).toMatchObject({
        provider: 'fcm',
        status: 200,
        recipient: 'device-token-1',
        providerMessageId: name,
      });
      expect(fake.messages).toEqual([message().message]);
    });

    it('answers a dry run (validate_only) without delivering', async () => {
      const answer = await send({ ...message(), validate_only: true }, await accessToken());
      expect(answer.status).toBe(200);
      expect(json(answer).name).toBe('projects/omnigate-sandbox/messages/fake_message_id');
      expect(fake.messages).toEqual([]);
    });

    it('wants a valid access token (401 UNAUTHENTICATED)', async () => {
      for (const token of [undefined, 'ya29.made-up']) {
        const answer = await send(message(), token);
        expect(answer.status).toBe(401);
        expect(json(answer).error).toMatchObject({ code: 401, status: 'UNAUTHENTICATED' });
      }
    });

    it('refuses a token of another project (403 PERMISSION_DENIED)', async () => {
      const stranger = fake.createServiceAccount('other-project');
      const answer = await send(message(), await accessToken(stranger));
      expect(answer.status).toBe(403);
      expect(json(answer).error).toMatchObject({ status: 'PERMISSION_DENIED' });
    });

    it('answers unknown paths with Google’s HTML 404', async () => {
      const answer = await call(`${fake.url}/v1/messages`, fake.caCertPem, { body: '{}' });
      expect(answer.status).toBe(404);
      expect(answer.headers['content-type']).toContain('text/html');
    });

    it.each([
      ['not a token!', 'message.token'],
      ['', 'message.token'],
    ])('rejects the token %p as INVALID_ARGUMENT on %s', async (token, field) => {
      const answer = await send(message(token), await accessToken());
      expect(answer.status).toBe(400);
      expect(json(answer).error).toMatchObject({
        status: 'INVALID_ARGUMENT',
        details: [
          { '@type': FCM_ERROR_TYPE, errorCode: 'INVALID_ARGUMENT' },
          { fieldViolations: [expect.objectContaining({ field }) as unknown] },
        ],
      });
    });

    it.each([
      ['a ttl without unit', { android: { ttl: '1 hour' } }, 'message.android.ttl'],
      ['an unknown priority', { android: { priority: 'urgent' } }, 'message.android.priority'],
      ['apns-priority 7', { apns: { headers: { 'apns-priority': '7' } } }, 'message.apns.headers'],
      ['a number in data', { data: { n: 1 } }, 'message.data'],
      ['an unknown field', { colour: 'red' }, 'message.colour'],
      ['5 kB of data', { data: { big: 'x'.repeat(5000) } }, 'message'],
    ])('rejects %s as INVALID_ARGUMENT', async (_label, extra, field) => {
      const body = { message: { ...message().message, ...extra } };
      const answer = await send(body, await accessToken());
      expect(answer.status).toBe(400);
      const error = json(answer).error as { details: { fieldViolations?: { field: string }[] }[] };
      expect(error.details[1]?.fieldViolations?.[0]?.field).toBe(field);
    });

    it.each(Object.entries(FCM_ERROR_RESPONSES))(
      'answers recipientErrors %s in Google’s shape',
      async (code, spec) => {
        fake.setFailurePlan({ recipientErrors: { 'device-token-1': code }, retryAfterSeconds: 9 });
        const answer = await send(message(), await accessToken());
        expect(answer.status).toBe(spec.status);
        expect(json(answer).error).toEqual({
          code: spec.status,
          message: spec.message,
          status: spec.canonical,
          details: [{ '@type': FCM_ERROR_TYPE, errorCode: code }],
        });
        expect(answer.headers['retry-after']).toBe(spec.status === 429 ? '9' : undefined);
        expect(fake.requests.at(-1)?.recipient).toBe('device-token-1');
      },
    );

    it('answers an unknown recipient error code 400 with that errorCode', async () => {
      fake.setFailurePlan({ recipientErrors: { 'device-token-1': 'BRAND_NEW' } });
      const answer = await send(message(), await accessToken());
      expect(answer.status).toBe(400);
      expect(json(answer).error).toMatchObject({ details: [{ errorCode: 'BRAND_NEW' }] });
    });

    it('applies the failure plan in FCM’s shapes', async () => {
      const token = await accessToken();
      fake.setFailurePlan({ failNext: { count: 2, status: 503 } });
      const unavailable = await send(message(), token);
      expect(unavailable.status).toBe(503);
      expect(json(unavailable).error).toMatchObject({ details: [{ errorCode: 'UNAVAILABLE' }] });
      fake.setFailurePlan({ failNext: { count: 1, status: 502 } });
      const gateway = await send(message(), token);
      expect(gateway.status).toBe(502);
      expect(gateway.headers['content-type']).toContain('text/html');
      fake.setFailurePlan({ rateLimitRate: 1 });
      const limited = await send(message(), token);
      expect(limited.status).toBe(429);
      expect(limited.headers['retry-after']).toBe('30');
    });

    it('forgets revoked access tokens, per account', async () => {
      const other = fake.createServiceAccount();
      const mine = await accessToken();
      const theirs = await accessToken(other);
      fake.revokeAccessTokens(other.client_email);
      expect((await send(message(), theirs)).status).toBe(401);
      expect((await send(message(), mine)).status).toBe(200);
    });
  });
});
