import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { DeliveryReceipt } from '@omnigate/contracts';
import { SandboxSuite } from '@omnigate/sandbox';
import { AppModule } from '../src/app.module';
import { loadConfig } from '../src/config/environment';
import { createLogger } from '../src/observability/logger';
import { Clock } from '../src/repositories/clock';
import { ProfileRepository } from '../src/repositories/profile.repository';
import { DeferredDispatchWorker } from '../src/services/deferred-dispatch.worker';
import { gatewayEnv } from './support/env';
import { createTestTopics, publish, testKafka, TopicReader } from './support/kafka';
import { DATABASE_URL, dropSchema, REDIS_URL, uniqueSchema } from './support/storage';

/** A clock the test moves by hand: the deferral is proven without waiting until morning. */
class ManualClock extends Clock {
  constructor(public current: Date) {
    super();
  }
  now(): Date {
    return new Date(this.current);
  }
}

type Receipt = DeliveryReceipt;

describe('deferred dispatch: quiet hours and a cap that defers', () => {
  const kafka = testKafka();
  const schema = uniqueSchema();
  // 23:00 in Berlin (CET, UTC+1) on a November evening.
  const clock = new ManualClock(new Date('2026-11-24T22:00:00Z'));
  let app: INestApplicationContext;
  let suite: SandboxSuite;
  let receipts: TopicReader;
  let sendTopic: string;

  beforeAll(async () => {
    suite = await SandboxSuite.start();
    const topics = await createTestTopics(kafka, 3);
    sendTopic = topics.send;
    // One marketing email an hour; the next one waits until the window frees.
    const rulesFile = join(mkdtempSync(join(tmpdir(), 'caps-')), 'caps.json');
    writeFileSync(
      rulesFile,
      JSON.stringify([
        {
          id: 'marketing-email-hourly',
          scope: { channel: 'email', category: 'marketing' },
          windowSeconds: 3600,
          limit: 1,
          overCap: 'defer',
        },
      ]),
    );
    const loaded = loadConfig(
      gatewayEnv(topics, {
        ...suite.gatewayEnvironment(),
        DATABASE_URL,
        DATABASE_SCHEMA: schema,
        REDIS_URL,
        // The test runs the scheduler itself, after moving the clock.
        SCHEDULER_POLL_MS: '60000',
        CAP_RULES_FILE: rulesFile,
        LOG_LEVEL: 'warn',
      }),
    );
    if (!loaded.ok) throw new Error(loaded.problems.join('; '));
    app = await NestFactory.createApplicationContext(
      AppModule.forRoot({
        config: loaded.config,
        logger: createLogger('warn'),
        clock,
        onFatal: (error) => {
          throw error;
        },
      }),
      { logger: false },
    );
    await app.init();
    receipts = await new TopicReader(kafka, topics.receipts).start();
  });

  afterAll(async () => {
    await app?.close();
    await receipts?.stop();
    await suite?.close();
    await dropSchema(schema);
  });

  it('defers a marketing SMS at 23:00 customer time and sends it when quiet hours end', async () => {
    const customerId = `cust-${randomUUID().slice(0, 8)}`;
    await app.get(ProfileRepository).applyUpdate({
      customerId,
      version: 1,
      occurredAt: clock.now().toISOString(),
      patch: {
        phones: [{ value: '+14155550777', verified: true }],
        timeZone: 'Europe/Berlin',
        quietHours: { start: '22:00', end: '07:00' },
        consents: [
          { channel: 'sms', granted: true, source: 'signup-form', at: '2026-01-01T00:00:00Z' },
        ],
      },
    });
    const id = `cmd-${randomUUID()}`;
    const command = {
      id,
      customerId,
      category: 'marketing',
      channels: ['sms'],
      content: { sms: { text: 'Winter sale starts tomorrow' } },
    };
    await publish(kafka, sendTopic, [{ key: customerId, value: JSON.stringify(command) }]);
    await receipts.waitFor(
      (records) => records.some((r) => r.value.includes(id)),
      30000,
      'the deferral receipt',
    );

    const deferred = JSON.parse(
      receipts.records.find((r) => r.value.includes(id))!.value,
    ) as Receipt;
    expect(deferred.status).toBe('deferred');
    // 07:00 in Berlin the next morning.
    expect(deferred.deferredUntil).toBe('2026-11-25T06:00:00.000Z');
    expect(deferred.trace.find((t) => t.reasonCode === 'QUIET_HOURS')!.detail).toMatch(
      /22:00.07:00 Europe\/Berlin/,
    );
    expect(suite.twilio.requests).toHaveLength(0);

    const worker = app.get(DeferredDispatchWorker);
    clock.current = new Date('2026-11-25T05:59:00Z');
    expect(await worker.runDue()).toBe(0);

    clock.current = new Date('2026-11-25T06:00:01Z');
    expect(await worker.runDue()).toBe(1);
    await receipts.waitFor(
      (records) => records.filter((r) => r.value.includes(id)).length >= 2,
      30000,
      'the receipt after quiet hours',
    );
    const sent = receipts.records
      .filter((r) => r.value.includes(id))
      .map((r) => JSON.parse(r.value) as Receipt)[1]!;
    expect(sent).toMatchObject({ status: 'sent', channel: 'sms' });
    expect(suite.twilio.acceptedMessages.map((m) => m.To)).toEqual(['+14155550777']);
    expect(await worker.runDue()).toBe(0);
  });

  it('defers a message over a cap whose rule says defer, and sends it when the window frees', async () => {
    clock.current = new Date('2026-11-26T10:00:00Z');
    const customerId = `cust-${randomUUID().slice(0, 8)}`;
    await app.get(ProfileRepository).applyUpdate({
      customerId,
      version: 1,
      occurredAt: clock.now().toISOString(),
      patch: {
        emails: [{ value: 'dana@example.com' }],
        preferredChannels: ['email'],
        consents: [
          { channel: 'email', granted: true, source: 'signup-form', at: '2026-01-01T00:00:00Z' },
        ],
      },
    });
    const commands = [1, 2].map((n) => ({
      id: `cmd-${randomUUID()}`,
      customerId,
      category: 'marketing',
      channels: ['email'],
      content: { email: { subject: `Offer ${n}`, text: `Offer ${n}` } },
    }));
    await publish(
      kafka,
      sendTopic,
      commands.map((c) => ({ key: customerId, value: JSON.stringify(c) })),
    );
    const receiptOf = (id: string): Receipt[] =>
      receipts.records
        .filter((r) => r.value.includes(id))
        .map((r) => JSON.parse(r.value) as Receipt);
    await receipts.waitFor(
      () => commands.every((c) => receiptOf(c.id).length >= 1),
      30000,
      'both receipts',
    );
    expect(receiptOf(commands[0]!.id)[0]).toMatchObject({ status: 'sent', channel: 'email' });
    const deferred = receiptOf(commands[1]!.id)[0]!;
    expect(deferred.status).toBe('deferred');
    expect(deferred.deferredUntil).toBe('2026-11-26T11:00:00.000Z');
    expect(deferred.trace.find((t) => t.reasonCode === 'CAPPED')!.detail).toMatch(
      /marketing-email-hourly: 1 in 1 h/,
    );

    const worker = app.get(DeferredDispatchWorker);
    clock.current = new Date('2026-11-26T11:00:01Z');
    expect(await worker.runDue()).toBe(1);
    await receipts.waitFor(
      () => receiptOf(commands[1]!.id).length >= 2,
      30000,
      'the receipt once the window freed',
    );
    expect(receiptOf(commands[1]!.id)[1]).toMatchObject({ status: 'sent', channel: 'email' });
    expect(suite.sendgrid.acceptedMails.map((m) => (m as { subject: string }).subject)).toEqual([
      'Offer 1',
      'Offer 2',
    ]);
  });

  it('retries a provider failing 503 twice through the scheduler with backoff, honours Retry-After, and does not hold up later messages', async () => {
    // The TTL runs from the real Kafka timestamp, so this test starts from the real time.
    clock.current = new Date();
    suite.reset();
    const customerId = `cust-${randomUUID().slice(0, 8)}`;
    const message = (text: string) => ({
      id: `cmd-${randomUUID()}`,
      customerId,
      category: 'order_updates',
      channels: ['whatsapp'],
      recipient: { whatsapp: '+14155550888' },
      content: { whatsapp: { text } },
    });
    const receiptOf = (id: string): Receipt[] =>
      receipts.records
        .filter((r) => r.value.includes(id))
        .map((r) => JSON.parse(r.value) as Receipt);
    const worker = app.get(DeferredDispatchWorker);

    // WhatsApp has one provider here, so a 503 leaves nothing to fail over to.
    suite.twilio.setFailurePlan({ failNext: { count: 1, status: 503 } });
    const first = message('Your parcel is out for delivery');
    await publish(kafka, sendTopic, [{ key: customerId, value: JSON.stringify(first) }]);
    await receipts.waitFor(() => receiptOf(first.id).length >= 1, 30000, 'the first deferral');
    const retry1 = receiptOf(first.id)[0]!;
    expect(retry1.status).toBe('deferred');
    expect(retry1.trace.map((t) => t.reasonCode)).toContain('PROVIDER_RETRY');

    // While it waits, the next message of the same customer (same partition) goes straight out.
    const second = message('Your parcel was delivered');
    await publish(kafka, sendTopic, [{ key: customerId, value: JSON.stringify(second) }]);
    await receipts.waitFor(() => receiptOf(second.id).length >= 1, 30000, 'the later message');
    expect(receiptOf(second.id)[0]).toMatchObject({ status: 'sent', channel: 'whatsapp' });

    // The provider is still down for the first retry.
    suite.twilio.setFailurePlan({ failNext: { count: 1, status: 503 } });
    clock.current = new Date(new Date(retry1.deferredUntil!).getTime() + 1);
    expect(await worker.runDue()).toBe(1);
    await receipts.waitFor(() => receiptOf(first.id).length >= 2, 30000, 'the second deferral');
    const retry2 = receiptOf(first.id)[1]!;
    expect(retry2.status).toBe('deferred');
    expect(new Date(retry2.deferredUntil!).getTime()).toBeGreaterThan(clock.current.getTime());

    clock.current = new Date(new Date(retry2.deferredUntil!).getTime() + 1);
    expect(await worker.runDue()).toBe(1);
    await receipts.waitFor(
      () => receiptOf(first.id).length >= 3,
      30000,
      'the delivery on the third attempt',
    );
    expect(receiptOf(first.id)[2]).toMatchObject({ status: 'sent', channel: 'whatsapp' });
    const toCustomer = suite.twilio.requests.filter((r) => r.recipient?.includes('+14155550888'));
    expect(toCustomer.map((r) => r.status)).toEqual([503, 201, 503, 201]);

    // A 429 with Retry-After: the retry waits at least that long.
    suite.twilio.setFailurePlan({ failNext: { count: 1, status: 429, retryAfterSeconds: 120 } });
    const third = message('Rate the delivery');
    await publish(kafka, sendTopic, [{ key: customerId, value: JSON.stringify(third) }]);
    await receipts.waitFor(
      () => receiptOf(third.id).length >= 1,
      30000,
      'the rate-limited deferral',
    );
    const throttled = receiptOf(third.id)[0]!;
    expect(throttled.status).toBe('deferred');
    expect(
      new Date(throttled.deferredUntil!).getTime() - clock.current.getTime(),
    ).toBeGreaterThanOrEqual(120000);
  });
});
