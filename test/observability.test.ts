import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { DeliveryReceipt } from '@omnigate/contracts';
import { SandboxSuite } from '@omnigate/sandbox';
import { METRIC_NAMES } from '../src/observability/metrics';
import { gatewayEnv } from './support/env';
import { GatewayProcess, OUTPUT_DIR } from './support/gateway';
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
 * Logs, metrics and traces of a real run: commands with known phone numbers, email addresses,
 * push tokens, subscription keys and bodies go through every channel, the error paths included
 * (an invalid number, an unregistered FCM token, an expired web push subscription, a provider
 * outage, malformed records quoting contacts), and then
 * - the gateway's whole log holds none of those values;
 * - each command's W3C trace id is on its receipts' headers, in the log lines of its dispatch,
 *   and on the spans exported to an OTLP/HTTP receiver, down to the provider calls;
 * - /metrics has every series of the catalogue, with labels that name no customer or contact.
 */
const kafka = testKafka();
const schema = uniqueSchema();
const LOG_NAME = `observability-${randomUUID().slice(0, 8)}`;

const PHONE = '+14155550181';
const PHONE_INVALID = '+14155550182';
const WHATSAPP = '+14155550183';
const EMAIL = 'maria.garcia@example.org';
const EMAIL_FALLBACK = 'kenji.tanaka@example.net';
const FCM_TOKEN = `fcm-ok-${randomBytes(24).toString('base64url')}`;
const FCM_GONE = `fcm-gone-${randomBytes(24).toString('base64url')}`;
const BODY = (what: string): string => `secret-body-${what}-${randomBytes(6).toString('hex')}`;

interface Span {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
}

let suite: SandboxSuite;
let topics: TestTopics;
let gateway: GatewayProcess;
let receipts: TopicReader;
let otlp: Server;
const spans: Span[] = [];
const secrets: string[] = [
  PHONE,
  PHONE_INVALID,
  WHATSAPP,
  EMAIL,
  EMAIL_FALLBACK,
  FCM_TOKEN,
  FCM_GONE,
];
const commands: Array<{ id: string; traceId: string; expect: DeliveryReceipt['status'][] }> = [];

function traceparent(): { header: string; traceId: string } {
  const traceId = randomBytes(16).toString('hex');
  return { header: `00-${traceId}-${randomBytes(8).toString('hex')}-01`, traceId };
}

/** The OTLP/HTTP JSON encoding gives ids as hex (per the spec's JSON mapping). */
function collectSpans(body: unknown): void {
  const resourceSpans = (body as { resourceSpans?: unknown[] }).resourceSpans ?? [];
  for (const rs of resourceSpans as Array<{ scopeSpans?: Array<{ spans?: Span[] }> }>) {
    for (const scope of rs.scopeSpans ?? []) spans.push(...(scope.spans ?? []));
  }
}

function logLines(): Array<Record<string, unknown>> {
  return readFileSync(join(OUTPUT_DIR, `${LOG_NAME}.log`), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

beforeAll(async () => {
  otlp = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces') collectSpans(JSON.parse(Buffer.concat(chunks).toString()));
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => otlp.listen(0, '127.0.0.1', resolve));

  suite = await SandboxSuite.start();
  suite.twilio.setFailurePlan({ recipientErrors: { [PHONE_INVALID]: '21211' } });
  suite.fcm.setFailurePlan({ recipientErrors: { [FCM_GONE]: 'UNREGISTERED' } });
  // The gateway's own credentials must never be logged either.
  secrets.push(
    suite.credentials.twilio.authToken,
    suite.credentials.sendgridApiKey,
    suite.credentials.vapid.privateKey,
  );
  topics = await createTestTopics(kafka, 2);
  gateway = await GatewayProcess.start(
    gatewayEnv(topics, {
      ...suite.gatewayEnvironment(),
      DATABASE_URL,
      DATABASE_SCHEMA: schema,
      REDIS_URL,
      LOG_LEVEL: 'debug',
      RETRY_BASE_DELAY_MS: '200',
      SCHEDULER_POLL_MS: '200',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(otlp.address() as AddressInfo).port}`,
      OTEL_BSP_SCHEDULE_DELAY: '200',
    }),
    LOG_NAME,
  );
  receipts = await new TopicReader(kafka, topics.receipts).start();
});

afterAll(async () => {
  await gateway?.stop();
  await receipts?.stop();
  await suite?.close();
  await new Promise<void>((resolve) => (otlp ? otlp.close(() => resolve()) : resolve()));
  await dropSchema(schema);
});

describe('observability of a run through every channel and its error paths', () => {
  it('answers every command', async () => {
    const push = suite.newWebPushSubscription();
    const expired = suite.newWebPushSubscription();
    suite.webPush.expireSubscription(expired.id);
    secrets.push(
      push.subscription.endpoint,
      push.subscription.keys.p256dh,
      push.subscription.keys.auth,
      expired.subscription.endpoint,
    );
    const customer = (): string => `cust-${randomUUID().slice(0, 8)}`;
    const body = (channel: string): Record<string, unknown> => {
      const text = BODY(channel);
      secrets.push(text);
      return channel === 'email'
        ? { subject: BODY('subject'), text, html: `<p>${text}</p>` }
        : channel === 'webpush' || channel === 'mobilepush'
          ? { title: BODY('title'), body: text }
          : { text };
    };
    // Subjects and titles are secrets too.
    const cases: Array<{ command: Record<string, unknown>; expect: DeliveryReceipt['status'][] }> =
      [
        {
          command: {
            channels: ['sms'],
            recipient: { phone: PHONE },
            content: { sms: body('sms') },
          },
          expect: ['sent'],
        },
        {
          command: {
            channels: ['whatsapp'],
            recipient: { whatsapp: WHATSAPP },
            content: { whatsapp: body('whatsapp') },
          },
          expect: ['sent'],
        },
        {
          command: {
            channels: ['email'],
            recipient: { email: EMAIL },
            content: { email: body('email') },
          },
          expect: ['sent'],
        },
        {
          command: {
            channels: ['mobilepush'],
            recipient: { fcmTokens: [FCM_TOKEN] },
            content: { mobilepush: body('mobilepush') },
          },
          expect: ['sent'],
        },
        {
          command: {
            channels: ['webpush'],
            recipient: { webPushSubscriptions: [push.subscription] },
            content: { webpush: body('webpush') },
          },
          expect: ['sent'],
        },
        {
          // The carrier refuses the number (21211): falls back to email.
          command: {
            channels: ['sms', 'email'],
            recipient: { phone: PHONE_INVALID, email: EMAIL_FALLBACK },
            content: { sms: body('sms'), email: body('email') },
          },
          expect: ['sent'],
        },
        {
          command: {
            channels: ['mobilepush'],
            recipient: { fcmTokens: [FCM_GONE] },
            content: { mobilepush: body('mobilepush') },
          },
          expect: ['failed'],
        },
        {
          command: {
            channels: ['webpush'],
            recipient: { webPushSubscriptions: [expired.subscription] },
            content: { webpush: body('webpush') },
          },
          expect: ['failed'],
        },
      ];
    const records = cases.map(({ command, expect: statuses }) => {
      const id = `cmd-${randomUUID()}`;
      const trace = traceparent();
      commands.push({ id, traceId: trace.traceId, expect: statuses });
      const customerId = customer();
      return {
        key: customerId,
        value: JSON.stringify({ id, customerId, category: 'order_updates', ...command }),
        headers: { traceparent: trace.header },
      };
    });
    // Malformed records that quote contacts and a body: rejected, dead-lettered, never logged.
    const malformed = [
      `{"id":"cmd-bad-1","customerId":"c1","recipient":{"phone":"${PHONE}"},"content":{"sms":{"text":"${BODY('bad')}"}}`,
      JSON.stringify({
        id: `cmd-${randomUUID()}`,
        customerId: 'c2',
        category: 'order_updates',
        recipient: { phone: 'call me on 415 555 0181', email: EMAIL },
        content: { sms: { text: BODY('bad-schema') } },
      }),
    ];
    await publish(kafka, topics.send, [
      ...records,
      ...malformed.map((value) => ({
        key: 'c-bad',
        value,
        headers: { traceparent: traceparent().header },
      })),
    ]);
    await receipts.waitFor(
      (got) =>
        commands.every((c) =>
          got.some((r) => {
            const receipt = JSON.parse(r.value) as DeliveryReceipt;
            return receipt.messageId === c.id && c.expect.includes(receipt.status);
          }),
        ) && got.filter((r) => r.value.includes('"rejected"')).length >= malformed.length,
      60000,
      'every command to be answered',
    );
    // The provider outage path: SendGrid answers 503 once, the message is retried and sent.
    suite.sendgrid.setFailurePlan({ failNext: { count: 1, status: 503 } });
    const retried = { id: `cmd-${randomUUID()}`, ...traceparent() };
    commands.push({ id: retried.id, traceId: retried.traceId, expect: ['sent'] });
    await publish(kafka, topics.send, [
      {
        key: 'cust-retry',
        value: JSON.stringify({
          id: retried.id,
          customerId: 'cust-retry',
          category: 'order_updates',
          channels: ['email'],
          recipient: { email: EMAIL },
          content: { email: body('email') },
        }),
        headers: { traceparent: retried.header },
      },
    ]);
    await receipts.waitFor(
      (got) => got.some((r) => r.value.includes(retried.id) && r.value.includes('"sent"')),
      30000,
      'the retried email',
    );
  });

  it('logs none of the phone numbers, addresses, tokens, keys or bodies', async () => {
    // Let the relay and the exporter finish writing, then read the whole log.
    await new Promise((r) => setTimeout(r, 1000));
    const text = readFileSync(join(OUTPUT_DIR, `${LOG_NAME}.log`), 'utf8');
    expect(text.length).toBeGreaterThan(1000);
    const digitsOnly = (phone: string): string => phone.replace(/\D/g, '');
    const found = secrets.filter((secret) => text.includes(secret));
    const foundDigits = [PHONE, PHONE_INVALID, WHATSAPP].filter((p) =>
      text.includes(digitsOnly(p)),
    );
    expect(found).toEqual([]);
    expect(foundDigits).toEqual([]);
    // The error paths did run, so their log lines were scanned too.
    const messages = logLines().map((line) => String(line.msg));
    expect(messages).toContain('channel did not take the message');
    expect(messages).toContain('command rejected and dead-lettered');
  });

  it('carries each command’s trace id onto its receipts and into the logs of its dispatch', () => {
    const lines = logLines();
    for (const command of commands) {
      const mine = receipts.records.filter(
        (r) => (JSON.parse(r.value) as DeliveryReceipt).messageId === command.id,
      );
      expect(mine.length).toBeGreaterThan(0);
      for (const record of mine) {
        expect(record.headers.traceparent?.split('-')[1]).toBe(command.traceId);
      }
      const logged = lines.filter((line) => line.messageId === command.id);
      expect(logged.length).toBeGreaterThan(0);
      expect(logged.every((line) => line.traceId === command.traceId)).toBe(true);
    }
  });

  it('exports spans of each trace to the OTLP receiver, down to the provider calls', async () => {
    await until('the spans', () =>
      commands.every((c) =>
        spans.some((s) => s.traceId === c.traceId && s.name === 'omnigate.provider.send'),
      )
        ? true
        : undefined,
    );
    const first = commands[0]!;
    const ofTrace = spans.filter((s) => s.traceId === first.traceId);
    const intake = ofTrace.find((s) => s.name === 'omnigate.intake');
    const provider = ofTrace.find((s) => s.name === 'omnigate.provider.send');
    expect(intake?.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(provider?.parentSpanId).toBe(intake?.spanId);
    // The retried email's second attempt ran from the scheduler, in the same trace.
    const retried = commands[commands.length - 1]!;
    expect(
      spans.some((s) => s.traceId === retried.traceId && s.name === 'omnigate.scheduled-run'),
    ).toBe(true);
  });

  it('exposes every metric of the catalogue, labelled without customers or contacts', async () => {
    const text = await (await fetch(`http://127.0.0.1:${gateway.port}/metrics`)).text();
    for (const name of METRIC_NAMES) expect(text).toContain(`# TYPE ${name} `);
    expect(text).toContain('nodejs_eventloop_lag_p99_seconds');
    expect(text).toContain('process_resident_memory_bytes');
    expect(text).toMatch(
      /omnigate_receipts_total\{status="sent",channel="sms",provider="twilio"\} [1-9]/,
    );
    expect(text).toMatch(/omnigate_fallbacks_total\{from_channel="sms",to_channel="email"\} [1-9]/);
    expect(text).toMatch(/omnigate_dead_letters_total\{reason="INVALID_JSON"\} [1-9]/);
    expect(text).toMatch(/omnigate_retries_total\{channel="email"\} [1-9]/);
    expect(text).toMatch(
      /omnigate_provider_request_duration_seconds_count\{channel="webpush",provider="webpush",outcome="accepted"\} [1-9]/,
    );
    // Every command was read: each one waited some time, and none waited five minutes.
    const waited = (series: string) =>
      Number(
        text
          .split('\n')
          .find((line) => line.startsWith(`omnigate_command_wait_seconds_${series} `))
          ?.split(' ')[1],
      );
    expect(waited('count{lane="send"}')).toBeGreaterThan(0);
    expect(waited('sum{lane="send"}')).toBeGreaterThan(0);
    expect(waited('bucket{le="300",lane="send"}')).toBe(waited('count{lane="send"}'));
    expect(text).toMatch(/omnigate_consumer_lag\{group="[^"]+",topic="[^"]+",partition="0"\} \d/);
    expect(text).toMatch(/omnigate_breaker_state\{channel="sms",provider="twilio"\} 0/);
    // Every claimed command waited for its claim; operations are the storage batchers' names.
    expect(text).toMatch(/omnigate_storage_call_seconds_count\{operation="claim"\} [1-9]/);
    const operations = [
      ...text.matchAll(/omnigate_storage_call_seconds_count\{operation="([^"]+)"/g),
    ];
    expect(operations.map((m) => m[1]).filter((o) => !/^[a-z_]+$/.test(o!))).toEqual([]);

    const labels = [...text.matchAll(/^[a-z_]+\{([^}]*)\}/gm)].flatMap((m) =>
      [...m[1]!.matchAll(/([a-z_]+)="([^"]*)"/g)].map((l) => ({ name: l[1]!, value: l[2]! })),
    );
    const allowed = new Set([
      ...['lane', 'outcome', 'reason', 'status', 'channel', 'provider', 'from_channel'],
      ...['to_channel', 'action', 'group', 'topic', 'partition', 'state', 'source', 'le'],
      'operation',
      // prom-client's own process and runtime metrics
      ...['version', 'major', 'minor', 'patch', 'kind', 'type', 'space', 'quantile'],
    ]);
    expect([...new Set(labels.map((l) => l.name))].filter((n) => !allowed.has(n))).toEqual([]);
    const leaking = labels.filter(
      (l) => /cust-|cmd-|@|\+\d{6,}/.test(l.value) || secrets.includes(l.value),
    );
    expect(leaking).toEqual([]);
  });
});
