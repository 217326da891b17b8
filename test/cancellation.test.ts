import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { DeliveryReceipt } from '@omnigate/contracts';
import { SandboxSuite } from '@omnigate/sandbox';
import { Client } from 'pg';
import { AppModule } from '../src/app.module';
import { loadConfig } from '../src/config/environment';
import { createLogger } from '../src/observability/logger';
import { Metrics } from '../src/observability/metrics';
import { Clock } from '../src/repositories/clock';
import { ProfileRepository } from '../src/repositories/profile.repository';
import { DeferredDispatchWorker } from '../src/services/deferred-dispatch.worker';
import { gatewayEnv } from './support/env';
import {
  createTestTopics,
  publish,
  testKafka,
  TopicReader,
  type TestTopics,
} from './support/kafka';
import { DATABASE_URL, dropSchema, REDIS_URL, uniqueSchema } from './support/storage';

/** A clock the test moves by hand: the waits end without waiting. */
class ManualClock extends Clock {
  constructor(public current: Date) {
    super();
  }
  now(): Date {
    return new Date(this.current);
  }
}

/**
 * Cancels on the real broker, PostgreSQL, Redis and the provider sandbox: messages waiting for
 * quiet hours, a retry and a provider's rate are withdrawn by group key and never sent; a cancel
 * that comes before its command withdraws the command on arrival; a sent message is too late.
 */
describe('cancelling pending messages', () => {
  const kafka = testKafka();
  const schema = uniqueSchema();
  // 11:00 in Berlin.
  const clock = new ManualClock(new Date('2026-11-24T10:00:00Z'));
  let app: INestApplicationContext;
  let suite: SandboxSuite;
  let receipts: TopicReader;
  let deadLetters: TopicReader;
  let topics: TestTopics;
  const customerId = `cust-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    suite = await SandboxSuite.start();
    topics = await createTestTopics(kafka, 3);
    const loaded = loadConfig(
      gatewayEnv(topics, {
        ...suite.gatewayEnvironment(),
        DATABASE_URL,
        DATABASE_SCHEMA: schema,
        REDIS_URL,
        // The test runs the scheduler itself, after moving the clock.
        SCHEDULER_POLL_MS: '60000',
        // One SMS provider: a failing Twilio makes the message wait, not fail over.
        PROVIDERS_SMS: 'twilio',
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
    deadLetters = await new TopicReader(kafka, topics.deadLetter).start();
    await app.get(ProfileRepository).applyUpdate({
      customerId,
      version: 1,
      occurredAt: clock.now().toISOString(),
      patch: {
        phones: [{ value: '+14155550777', verified: true }],
        emails: [{ value: 'dana@example.com' }],
        timeZone: 'Europe/Berlin',
        quietHours: { start: '22:00', end: '07:00' },
      },
    });
  });

  afterAll(async () => {
    await app?.close();
    await receipts?.stop();
    await deadLetters?.stop();
    await suite?.close();
    await dropSchema(schema);
  });

  const receiptsOf = (id: string): DeliveryReceipt[] =>
    receipts.records
      .map((r) => JSON.parse(r.value) as DeliveryReceipt)
      .filter((r) => r.messageId === id);

  async function receiptOf(id: string, status: DeliveryReceipt['status']) {
    await receipts
      .waitFor(
        () => receiptsOf(id).some((r) => r.status === status),
        15000,
        `the ${status} receipt of ${id}`,
      )
      .catch((error: Error) => {
        const seen = receipts.records.map((r) => JSON.parse(r.value) as DeliveryReceipt);
        const summary = seen.map((r) => `${r.messageId} ${r.status} ${r.reason?.code ?? ''}`);
        throw new Error(`${error.message}; receipts: ${summary.join(', ')}`);
      });
    return receiptsOf(id).find((r) => r.status === status)!;
  }

  const sms = (id: string, groupKey?: string) => ({
    id,
    customerId,
    category: 'cart_reminders',
    channels: ['sms'],
    content: { sms: { text: 'Your cart misses you' } },
    ...(groupKey && { groupKey }),
  });

  const cancel = (fields: Record<string, unknown>) => ({
    cancelId: `cancel-${randomUUID()}`,
    customerId,
    reason: { code: 'CART_PURCHASED', message: 'the customer bought the cart' },
    requestedBy: 'checkout-service',
    requestedAt: clock.now().toISOString(),
    ...fields,
  });

  async function outcomeOf(cancelId: string): Promise<string> {
    const client = new Client({ connectionString: DATABASE_URL });
    await client.connect();
    try {
      for (let i = 0; i < 300; i += 1) {
        const { rows } = await client.query<{ outcome: string }>(
          `select outcome from "${schema}".cancel_requests where cancel_id = $1`,
          [cancelId],
        );
        if (rows[0]) return rows[0].outcome;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`cancel ${cancelId} was not applied`);
    } finally {
      await client.end();
    }
  }

  const sentId = `cmd-${randomUUID()}`;

  it('withdraws by group key a message deferred by quiet hours, one waiting for a retry and one held by a rate limit; none is sent when its time comes', async () => {
    const group = 'cart-8812';
    await publish(kafka, topics.send, [{ key: customerId, value: JSON.stringify(sms(sentId)) }]);
    expect((await receiptOf(sentId, 'sent')).channel).toBe('sms');

    // Twilio down: the SMS waits for a retry (more failures than the router's calls in one go).
    suite.twilio.setFailurePlan({ failNext: { count: 20, status: 503 } });
    const waitingForRetry = `cmd-${randomUUID()}`;
    await publish(kafka, topics.send, [
      { key: customerId, value: JSON.stringify(sms(waitingForRetry, group)) },
    ]);
    const retryReceipt = await receiptOf(waitingForRetry, 'deferred');
    expect(retryReceipt.reason?.code).toBeDefined();
    suite.twilio.setFailurePlan({});

    // SendGrid's rate limit: 429s asking to come back in ten minutes.
    suite.sendgrid.setFailurePlan({ failNext: { count: 20, status: 429, retryAfterSeconds: 600 } });
    const rateLimited = `cmd-${randomUUID()}`;
    await publish(kafka, topics.send, [
      {
        key: customerId,
        value: JSON.stringify({
          id: rateLimited,
          customerId,
          category: 'cart_reminders',
          channels: ['email'],
          groupKey: group,
          content: { email: { subject: 'Your cart', text: 'Your cart misses you' } },
        }),
      },
    ]);
    const heldReceipt = await receiptOf(rateLimited, 'deferred');
    expect(heldReceipt.reason?.code).not.toBe('QUIET_HOURS');
    suite.sendgrid.setFailurePlan({});

    // 23:00 in Berlin: quiet hours.
    clock.current = new Date('2026-11-24T22:00:00Z');
    const quiet = `cmd-${randomUUID()}`;
    await publish(kafka, topics.send, [
      { key: customerId, value: JSON.stringify(sms(quiet, group)) },
    ]);
    expect((await receiptOf(quiet, 'deferred')).reason?.code).toBe('QUIET_HOURS');

    const smsRequests = suite.twilio.requests.length;
    const emailRequests = suite.sendgrid.requests.length;
    const byGroup = cancel({ groupKey: group });
    await publish(kafka, topics.cancel, [{ key: customerId, value: JSON.stringify(byGroup) }]);
    for (const id of [waitingForRetry, rateLimited, quiet]) {
      expect(await receiptOf(id, 'cancelled')).toMatchObject({
        status: 'cancelled',
        reason: { code: 'CART_PURCHASED', message: 'the customer bought the cart' },
      });
    }
    expect(await outcomeOf(byGroup.cancelId)).toBe('cancelled');

    // The next morning, every wait is over: nothing is due, nothing is sent.
    clock.current = new Date('2026-11-25T08:00:00Z');
    expect(await app.get(DeferredDispatchWorker).runDue()).toBe(0);
    expect(suite.twilio.requests).toHaveLength(smsRequests);
    expect(suite.sendgrid.requests).toHaveLength(emailRequests);
    for (const id of [waitingForRetry, rateLimited, quiet]) {
      expect(receiptsOf(id).map((r) => r.status)).toEqual(['deferred', 'cancelled']);
    }
    const metrics = await app
      .get(Metrics)
      .registry.getSingleMetricAsString('omnigate_cancels_total');
    expect(metrics).toMatch(/omnigate_cancels_total\{outcome="cancelled"\} 1/);
  });

  it('a cancel published before its command: the command is CANCELLED on arrival, with no provider request', async () => {
    clock.current = new Date('2026-11-25T12:00:00Z');
    const id = `cmd-${randomUUID()}`;
    const early = cancel({ messageId: id });
    await publish(kafka, topics.cancel, [{ key: customerId, value: JSON.stringify(early) }]);
    expect(await outcomeOf(early.cancelId)).toBe('unknown');

    const smsRequests = suite.twilio.requests.length;
    await publish(kafka, topics.send, [{ key: customerId, value: JSON.stringify(sms(id)) }]);
    expect(await receiptOf(id, 'cancelled')).toMatchObject({
      reason: { code: 'CART_PURCHASED' },
    });
    expect(receiptsOf(id).map((r) => r.status)).toEqual(['cancelled']);
    expect(suite.twilio.requests).toHaveLength(smsRequests);
  });

  it('cancelling a sent message reports too late and changes nothing', async () => {
    const late = cancel({ messageId: sentId });
    await publish(kafka, topics.cancel, [{ key: customerId, value: JSON.stringify(late) }]);
    expect(await outcomeOf(late.cancelId)).toBe('too_late');
    expect(receiptsOf(sentId).map((r) => r.status)).toEqual(['sent']);
  });

  it('a malformed cancel goes to the dead-letter topic with its reason and gets a REJECTED receipt', async () => {
    await publish(kafka, topics.cancel, [
      { key: customerId, value: JSON.stringify(cancel({ messageId: 'x', groupKey: 'y' })) },
    ]);
    await deadLetters.waitFor((records) => records.length > 0, 30000, 'the dead-lettered cancel');
    expect(deadLetters.records[0]!.headers['omnigate.dlq.reason-code']).toBe('SCHEMA_VIOLATION');
    await receipts.waitFor(
      (records) =>
        records.some((r) => r.value.includes('"rejected"') && r.value.includes(topics.cancel)),
      30000,
      'the REJECTED receipt',
    );
  });
});
