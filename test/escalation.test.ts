import { ProviderEventsService } from '../src/services/provider-events.service';
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { buildReceipt, type DeliveryReceipt, type TraceEntry } from '@omnigate/contracts';
import { SandboxSuite } from '@omnigate/sandbox';
import { sql, type Kysely } from 'kysely';
import { AppModule } from '../src/app.module';
import { APP_CONFIG } from '../src/config/app-config.token';
import { loadConfig, type AppConfig } from '../src/config/environment';
import { createLogger, LOGGER, type Logger } from '../src/observability/logger';
import { Metrics } from '../src/observability/metrics';
import { Clock } from '../src/repositories/clock';
import { KYSELY } from '../src/repositories/database/database';
import type { Database } from '../src/repositories/database/types';
import { InstanceRepository } from '../src/repositories/instance.repository';
import { MessageLogRepository } from '../src/repositories/message-log.repository';
import { ProfileRepository } from '../src/repositories/profile.repository';
import { ReceiptOutboxRepository } from '../src/repositories/receipt-outbox.repository';
import { SchedulerRepository } from '../src/repositories/scheduler.repository';
import { DeferredDispatchWorker } from '../src/services/deferred-dispatch.worker';
import { DispatchService } from '../src/services/dispatch.service';
import {
  ESCALATE_JOB,
  EscalationScheduler,
  escalationDedupeKey,
} from '../src/services/escalation-scheduler';
import { GatewayInstance } from '../src/services/gateway-instance';
import { MessageProcessingService } from '../src/services/message-processing.service';
import { ReceiptRelay } from '../src/services/receipt-relay.service';
import { gatewayEnv } from './support/env';
import { createTestTopics, publish, testKafka, TopicReader } from './support/kafka';
import { DATABASE_URL, dropSchema, REDIS_URL, uniqueSchema } from './support/storage';

/** A clock the test moves by hand: ten minutes pass without waiting for them. */
class ManualClock extends Clock {
  constructor(public current: Date) {
    super();
  }
  now(): Date {
    return new Date(this.current);
  }
}

const TEN_MINUTES_MS = 600_000;

describe('escalation: an SMS not delivered in time goes out again by email', () => {
  const kafka = testKafka();
  const schema = uniqueSchema();
  const clock = new ManualClock(new Date());
  let app: INestApplicationContext;
  let suite: SandboxSuite;
  let receipts: TopicReader;
  let sendTopic: string;
  let db: Kysely<Database>;
  let worker: DeferredDispatchWorker;

  beforeAll(async () => {
    suite = await SandboxSuite.start();
    const topics = await createTestTopics(kafka, 3);
    sendTopic = topics.send;
    const loaded = loadConfig(
      gatewayEnv(topics, {
        ...suite.gatewayEnvironment(),
        DATABASE_URL,
        DATABASE_SCHEMA: schema,
        REDIS_URL,
        // The test runs the scheduler itself, after moving the clock, one job per call.
        SCHEDULER_POLL_MS: '60000',
        SCHEDULER_BATCH_SIZE: '1',
        SCHEDULER_CONCURRENCY: '1',
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
    db = app.get(KYSELY);
    worker = app.get(DeferredDispatchWorker);
    receipts = await new TopicReader(kafka, topics.receipts).start();
  });

  afterAll(async () => {
    await app?.close();
    await receipts?.stop();
    await suite?.close();
    await dropSchema(schema);
  });

  const receiptsOf = (id: string): DeliveryReceipt[] =>
    receipts.records
      .filter((r) => r.value.includes(id))
      .map((r) => JSON.parse(r.value) as DeliveryReceipt);

  const escalationJobs = (id: string) =>
    db
      .selectFrom('scheduled_jobs')
      .selectAll()
      .where('kind', '=', ESCALATE_JOB)
      .where(sql<string>`payload->>'messageId'`, '=', id)
      .execute();

  const storedTrace = async (id: string): Promise<TraceEntry[]> => {
    const row = await db
      .selectFrom('messages')
      .select('trace')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    return row.trace as TraceEntry[];
  };

  const mailsTo = (email: string) =>
    suite.sendgrid.acceptedMails.filter((mail) => JSON.stringify(mail).includes(email));
  const smsTo = (phone: string) => suite.twilio.acceptedMessages.filter((m) => m.To === phone);

  /** A customer with a phone and an email, and an appointment reminder sent to them by SMS. */
  async function sendReminder(): Promise<{ id: string; phone: string; email: string }> {
    // The TTL runs from the real Kafka timestamp, so each case starts from the real time.
    clock.current = new Date();
    const customerId = `cust-${randomUUID().slice(0, 8)}`;
    const phone = `+1415555${String(Math.floor(Math.random() * 10000)).padStart(4, '0')}`;
    const email = `${customerId}@example.com`;
    await app.get(ProfileRepository).applyUpdate({
      customerId,
      version: 1,
      occurredAt: clock.now().toISOString(),
      patch: { phones: [{ value: phone, verified: true }], emails: [{ value: email }] },
    });
    const id = `cmd-${randomUUID()}`;
    const command = {
      id,
      customerId,
      category: 'appointment_reminders',
      content: {
        sms: { text: 'Your appointment is tomorrow at 09:30' },
        email: { subject: 'Your appointment', text: 'Your appointment is tomorrow at 09:30' },
      },
    };
    await publish(kafka, sendTopic, [{ key: customerId, value: JSON.stringify(command) }]);
    await receipts.waitFor(() => receiptsOf(id).length >= 1, 30000, 'the sent receipt');
    const [sent] = receiptsOf(id);
    expect(sent).toMatchObject({ status: 'sent', channel: 'sms' });
    expect(sent!.trace.find((t) => t.reasonCode === 'ESCALATION_SCHEDULED')?.detail).toBe(
      'if sms gives no delivery report within 10 minutes, email is tried next',
    );
    return { id, phone, email };
  }

  /** A delivered receipt for the message, written as the provider-event applier writes one. */
  async function deliveredReceipt(id: string): Promise<void> {
    const message = await app.get(MessageLogRepository).get(id);
    await app.get(ReceiptOutboxRepository).enqueue([
      {
        receipt: buildReceipt({
          messageId: id,
          customerId: message!.customerId,
          status: 'delivered',
          channel: 'sms',
          provider: message!.provider,
          providerMessageId: message!.providerMessageId,
          occurredAt: clock.now(),
        }),
        key: message!.customerId,
      },
    ]);
  }

  const advance = (ms: number) => {
    clock.current = new Date(clock.current.getTime() + ms);
  };

  it('sends by email an SMS with no delivered receipt within 10 minutes, and says why', async () => {
    const { id, phone, email } = await sendReminder();
    const [job] = await escalationJobs(id);
    expect(job).toMatchObject({
      dedupe_key: escalationDedupeKey(id),
      payload: { messageId: id, channel: 'sms', unless: 'delivered', afterSeconds: 600 },
    });
    expect(job!.run_at.getTime()).toBe(new Date(receiptsOf(id)[0]!.occurredAt).getTime() + 600_000);

    advance(TEN_MINUTES_MS - 1000);
    expect(await worker.runDue()).toBe(0);
    expect(mailsTo(email)).toHaveLength(0);

    advance(2000);
    expect(await worker.runDue()).toBe(1);
    await receipts.waitFor(() => receiptsOf(id).length >= 2, 30000, 'the escalated receipt');
    const [first, escalated] = receiptsOf(id);
    expect(first).toMatchObject({ status: 'sent', channel: 'sms' });
    expect(escalated).toMatchObject({
      status: 'sent',
      channel: 'email',
      provider: 'sendgrid',
      fallbackFrom: 'sms',
    });
    expect(escalated!.eventId).not.toBe(first!.eventId);
    expect(escalated!.trace[0]).toMatchObject({
      channel: 'email',
      decision: 'chosen',
      reasonCode: 'ESCALATED',
      detail: 'no delivery report from sms within 10 minutes; trying email',
    });
    // The re-plan's words about sms (used already) are left out; mobile push had no token.
    expect(escalated!.trace.map((t) => [t.channel, t.decision, t.reasonCode ?? null])).toEqual([
      ['email', 'chosen', 'ESCALATED'],
      ['email', 'chosen', null],
      ['mobilepush', 'skipped', 'NO_CONTACT'],
      ['email', 'sent', null],
    ]);
    expect(smsTo(phone)).toHaveLength(1);
    expect(mailsTo(email)).toHaveLength(1);
    expect(mailsTo(email)[0]).toMatchObject({ subject: 'Your appointment' });

    // The message log: sent on email now, both attempts, and the timeline's trace keeps both runs.
    const stored = await app.get(MessageLogRepository).get(id);
    expect(stored).toMatchObject({ status: 'sent', channel: 'email', owner: null });
    const attempts = await app.get(MessageLogRepository).attempts(id);
    expect(attempts.map((a) => [a.channel, a.outcome])).toEqual([
      ['sms', 'accepted'],
      ['email', 'accepted'],
    ]);
    const trace = await storedTrace(id);
    expect(trace.map((t) => t.reasonCode).filter(Boolean)).toEqual(
      expect.arrayContaining(['ESCALATION_SCHEDULED', 'ESCALATED']),
    );
    // Nothing is left to escalate to: no further job.
    expect(await escalationJobs(id)).toHaveLength(0);

    // The same timer firing again (a duplicate job) finds the message moved on and sends nothing.
    await app.get(SchedulerRepository).schedule(
      EscalationScheduler.request(id, {
        runAt: clock.now(),
        channel: 'sms',
        unless: 'delivered',
        afterSeconds: 600,
      }),
    );
    expect(await worker.runDue()).toBe(1);
    expect(await escalationJobs(id)).toHaveLength(0);
    expect(mailsTo(email)).toHaveLength(1);
    expect(smsTo(phone)).toHaveLength(1);
    expect(await app.get(ReceiptOutboxRepository).eventsOf(id)).toHaveLength(2);
    const counted = await app
      .get(Metrics)
      .registry.getSingleMetricAsString('omnigate_escalations_total');
    expect(counted).toMatch(
      /omnigate_escalations_total\{from_channel="sms",result="escalated"\} 1\b/,
    );
  });

  it('does not escalate an SMS whose delivered receipt came in time; the trace says so', async () => {
    const { id, phone, email } = await sendReminder();
    advance(60_000);
    await deliveredReceipt(id);

    // Nobody cancelled the job here (the applier does that): it fires and finds the receipt.
    advance(TEN_MINUTES_MS);
    expect(await worker.runDue()).toBe(1);
    expect(await escalationJobs(id)).toHaveLength(0);
    expect(mailsTo(email)).toHaveLength(0);
    expect(smsTo(phone)).toHaveLength(1);
    expect(await app.get(MessageLogRepository).get(id)).toMatchObject({
      status: 'sent',
      channel: 'sms',
      owner: null,
    });
    const events = await app.get(ReceiptOutboxRepository).eventsOf(id);
    expect(events.map((e) => e.receipt.status)).toEqual(['sent', 'delivered']);
    const trace = await storedTrace(id);
    expect(trace[trace.length - 1]).toMatchObject({
      channel: 'sms',
      reasonCode: 'REACHED_IN_TIME',
      detail: 'delivered in time on sms (within 10 minutes); not escalated',
    });
  });

  it('cancels the escalation when the delivered receipt arrives, so no job fires', async () => {
    const { id, email } = await sendReminder();
    const escalations = app.get(EscalationScheduler);
    expect(await escalationJobs(id)).toHaveLength(1);
    expect(await escalations.cancel(id, 'delivered')).toBe(true);
    expect(await escalationJobs(id)).toHaveLength(0);
    expect(await escalations.cancel(id, 'delivered')).toBe(false);
    advance(TEN_MINUTES_MS + 1000);
    expect(await worker.runDue()).toBe(0);
    expect(mailsTo(email)).toHaveLength(0);
  });

  it('cancels only what the receipt satisfies, and inside the caller’s transaction', async () => {
    const escalations = app.get(EscalationScheduler);
    const scheduler = app.get(SchedulerRepository);
    const id = `cmd-${randomUUID()}`;
    await scheduler.schedule(
      EscalationScheduler.request(id, {
        runAt: new Date(clock.now().getTime() + 3_600_000),
        channel: 'whatsapp',
        unless: 'read',
        afterSeconds: 3600,
      }),
    );
    // Delivered is not read: the job waits on.
    expect(await escalations.cancel(id, 'delivered')).toBe(false);
    expect(await escalationJobs(id)).toHaveLength(1);
    // A transaction that rolls back takes the cancellation with it.
    await expect(
      db.transaction().execute(async (trx) => {
        expect(await escalations.cancel(id, 'read', trx)).toBe(true);
        throw new Error('the receipt could not be recorded');
      }),
    ).rejects.toThrow('the receipt could not be recorded');
    expect(await escalationJobs(id)).toHaveLength(1);
    await db.transaction().execute(async (trx) => {
      expect(await escalations.cancel(id, 'read', trx)).toBe(true);
    });
    expect(await escalationJobs(id)).toHaveLength(0);
  });

  it('settles, without sending again, an escalation a provider accepted before its gateway died', async () => {
    const { id, phone, email } = await sendReminder();
    const log = app.get(MessageLogRepository);
    // A gateway that took the escalation, had SendGrid accept the email, and died before settling.
    const dead = `gw-dead-${randomUUID()}`;
    const taken = await log.takeForEscalation(id, dead, 10_000, 'sms');
    expect(taken?.outcome.kind).toBe('taken_over');
    const attempt = await log.startAttempt({
      messageId: id,
      channel: 'email',
      provider: 'sendgrid',
      owner: dead,
      startedAt: clock.now(),
    });
    await log.finishAttempt(attempt, {
      outcome: 'accepted',
      finishedAt: clock.now(),
      providerMessageId: 'sg-accepted-before-the-crash',
    });

    advance(TEN_MINUTES_MS + 1000);
    expect(await worker.runDue()).toBe(1);
    await receipts.waitFor(() => receiptsOf(id).length >= 2, 30000, 'the recovered receipt');
    expect(receiptsOf(id)[1]).toMatchObject({
      status: 'sent',
      channel: 'email',
      provider: 'sendgrid',
      providerMessageId: 'sg-accepted-before-the-crash',
      fallbackFrom: 'sms',
    });
    expect(mailsTo(email)).toHaveLength(0);
    expect(smsTo(phone)).toHaveLength(1);
    expect(await log.get(id)).toMatchObject({ status: 'sent', channel: 'email', owner: null });
    expect(await escalationJobs(id)).toHaveLength(0);
  });

  it('sends the email again when the escalation had the call in flight as its gateway died', async () => {
    const { id, email } = await sendReminder();
    const log = app.get(MessageLogRepository);
    const dead = `gw-dead-${randomUUID()}`;
    await log.takeForEscalation(id, dead, 10_000, 'sms');
    await log.startAttempt({
      messageId: id,
      channel: 'email',
      provider: 'sendgrid',
      owner: dead,
      startedAt: clock.now(),
    });

    advance(TEN_MINUTES_MS + 1000);
    expect(await worker.runDue()).toBe(1);
    await receipts.waitFor(() => receiptsOf(id).length >= 2, 30000, 'the escalated receipt');
    const escalated = receiptsOf(id)[1]!;
    expect(escalated).toMatchObject({ status: 'sent', channel: 'email', fallbackFrom: 'sms' });
    expect(escalated.trace.map((t) => t.reasonCode)).toEqual(
      expect.arrayContaining(['IN_FLIGHT_AT_CRASH', 'ESCALATED']),
    );
    expect(mailsTo(email)).toHaveLength(1);
    const attempts = await log.attempts(id);
    expect(attempts.map((a) => [a.channel, a.outcome])).toEqual([
      ['sms', 'accepted'],
      ['email', 'abandoned'],
      ['email', 'accepted'],
    ]);
  });

  it('escalates once when two gateways run the timer at the same moment', async () => {
    const { id, phone, email } = await sendReminder();
    // A second gateway instance on the same database: its own owner name and worker.
    const config = app.get<AppConfig>(APP_CONFIG);
    const logger = app.get<Logger>(LOGGER);
    const other = await GatewayInstance.start(
      app.get(InstanceRepository),
      logger,
      config.messageLog.instanceStaleAfterMs,
    );
    const otherWorker = new DeferredDispatchWorker(
      app.get(SchedulerRepository),
      app.get(MessageLogRepository),
      new MessageProcessingService(
        app.get(DispatchService),
        app.get(MessageLogRepository),
        app.get(ReceiptRelay),
        other,
        clock,
        config,
        logger,
        app.get(Metrics),
      ),
      app.get(ProviderEventsService),
      clock,
      config,
      logger,
    );
    try {
      // The timer twice (as if it had been written twice), one for each gateway.
      const [job] = await escalationJobs(id);
      await app.get(SchedulerRepository).schedule({
        kind: ESCALATE_JOB,
        runAt: job!.run_at,
        payload: job!.payload,
        dedupeKey: `${escalationDedupeKey(id)}:copy`,
      });
      advance(TEN_MINUTES_MS + 1000);
      const ran = await Promise.all([worker.runDue(), otherWorker.runDue()]);
      expect(ran).toEqual([1, 1]);
      // One of them may have found the other at work and looks again once it could have died.
      advance(config.messageLog.instanceStaleAfterMs + 1000);
      await worker.runDue();
      await receipts.waitFor(() => receiptsOf(id).length >= 2, 30000, 'the escalated receipt');
      expect(await escalationJobs(id)).toHaveLength(0);
      expect(mailsTo(email)).toHaveLength(1);
      expect(smsTo(phone)).toHaveLength(1);
      const statuses = (await app.get(ReceiptOutboxRepository).eventsOf(id)).map((e) => [
        e.receipt.status,
        e.receipt.channel,
      ]);
      expect(statuses).toEqual([
        ['sent', 'sms'],
        ['sent', 'email'],
      ]);
    } finally {
      await otherWorker.stop();
      await other.stop();
    }
  });
});
