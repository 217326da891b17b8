import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  DEAD_LETTER_HEADERS,
  providerEventKey,
  type AddressConsentEvent,
  type DeliveryReceipt,
  type MessageStatusEvent,
  type ProviderEvent,
} from '@omnigate/contracts';
import { SandboxSuite } from '@omnigate/sandbox';
import type { Kysely } from 'kysely';
import { AdminMessagesService } from '../src/admin/messages.service';
import { ResendService, type DryRunDecision } from '../src/admin/resend.service';
import { AppModule } from '../src/app.module';
import { loadConfig } from '../src/config/environment';
import { createLogger } from '../src/observability/logger';
import { Metrics } from '../src/observability/metrics';
import { AddressHasher } from '../src/repositories/address-hasher';
import { Clock } from '../src/repositories/clock';
import { KYSELY } from '../src/repositories/database/database';
import type { Database } from '../src/repositories/database/types';
import { ProfileRepository } from '../src/repositories/profile.repository';
import { DeferredDispatchWorker } from '../src/services/deferred-dispatch.worker';
import { MESSAGE_LOG_KEY, gatewayEnv } from './support/env';
import {
  createTestTopics,
  publish,
  testKafka,
  TopicReader,
  type TestTopics,
} from './support/kafka';
import { DATABASE_URL, dropSchema, REDIS_URL, uniqueSchema } from './support/storage';

/** A clock the test moves by hand: the retry of an early event is proven without waiting. */
class ManualClock extends Clock {
  constructor(public current: Date) {
    super();
  }
  now(): Date {
    return new Date(this.current);
  }
}

const PHONE = '+14155550142';
const EMAIL = 'lifecycle@example.com';

/**
 * The delivery lifecycle from the provider-events topic on: the gateway sends through the provider
 * sandbox, the test publishes what the webhooks would (helper A's endpoints produce the same
 * records), and reads the receipts topic.
 */
describe('delivery lifecycle: provider events, receipts and suppressions', () => {
  const kafka = testKafka();
  const schema = uniqueSchema();
  const clock = new ManualClock(new Date('2026-12-04T12:00:00Z'));
  const hasher = new AddressHasher(Buffer.from(MESSAGE_LOG_KEY, 'base64'));
  let app: INestApplicationContext;
  let suite: SandboxSuite;
  let topics: TestTopics;
  let receipts: TopicReader;
  let db: Kysely<Database>;

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
    db = app.get<Kysely<Database>>(KYSELY);
    receipts = await new TopicReader(kafka, topics.receipts).start();
  });

  afterAll(async () => {
    await app?.close();
    await receipts?.stop();
    await suite?.close();
    await dropSchema(schema);
  });

  const receiptsOf = (messageId: string): DeliveryReceipt[] =>
    receipts.records
      .map((record) => JSON.parse(record.value) as DeliveryReceipt)
      .filter((receipt) => receipt.messageId === messageId);

  const waitForReceipt = async (messageId: string, status: string): Promise<DeliveryReceipt> => {
    await receipts.waitFor(
      () => receiptsOf(messageId).some((receipt) => receipt.status === status),
      30000,
      `a ${status} receipt of ${messageId}`,
    );
    return receiptsOf(messageId).find((receipt) => receipt.status === status)!;
  };

  const statuses = (messageId: string) => receiptsOf(messageId).map((receipt) => receipt.status);

  async function customer(patch: Parameters<ProfileRepository['applyUpdate']>[0]['patch']) {
    const customerId = `cust-${randomUUID().slice(0, 8)}`;
    await app.get(ProfileRepository).applyUpdate({
      customerId,
      version: 1,
      occurredAt: clock.now().toISOString(),
      patch,
    });
    return customerId;
  }

  async function send(
    customerId: string,
    fields: {
      channels: string[];
      category?: string;
      id?: string;
      recipient?: Record<string, unknown>;
    },
  ): Promise<string> {
    const id = fields.id ?? `cmd-${randomUUID()}`;
    const command = {
      id,
      customerId,
      category: fields.category ?? 'order_updates',
      channels: fields.channels,
      recipient: fields.recipient ?? { phone: PHONE, email: EMAIL },
      content: {
        sms: { text: 'Your parcel is on its way' },
        email: { subject: 'Parcel', text: 'Your parcel is on its way' },
        mobilepush: { title: 'Parcel', body: 'Your parcel is on its way' },
        webpush: { title: 'Parcel', body: 'Your parcel is on its way' },
      },
    };
    await publish(kafka, topics.send, [{ key: customerId, value: JSON.stringify(command) }]);
    return id;
  }

  const publishEvents = (events: readonly ProviderEvent[]) =>
    publish(
      kafka,
      topics.providerEvents,
      events.map((event) => ({ key: providerEventKey(event), value: JSON.stringify(event) })),
    );

  function statusEvent(
    messageId: string,
    outcome: MessageStatusEvent['outcome'],
    fields: Partial<MessageStatusEvent> = {},
  ): MessageStatusEvent {
    const at = clock.now().toISOString();
    return {
      schemaVersion: 1,
      type: 'message-status',
      eventId: `${messageId}:${outcome}`,
      provider: 'twilio',
      channel: 'sms',
      occurredAt: at,
      receivedAt: at,
      messageId,
      providerMessageId: null,
      outcome,
      providerStatus: outcome,
      errorCode: null,
      detail: null,
      ...fields,
    };
  }

  function consentEvent(action: AddressConsentEvent['action']): AddressConsentEvent {
    const at = clock.now().toISOString();
    return {
      schemaVersion: 1,
      type: 'address-consent',
      eventId: `SM${randomUUID().replaceAll('-', '')}`,
      provider: 'twilio',
      channel: 'sms',
      occurredAt: at,
      receivedAt: at,
      addressHash: hasher.hash('sms', PHONE),
      action,
      keyword: action === 'opt-out' ? 'STOP' : 'START',
    };
  }

  const appliedEvent = (provider: string, eventId: string) =>
    db
      .selectFrom('provider_events')
      .selectAll()
      .where('provider', '=', provider)
      .where('event_id', '=', eventId)
      .executeTakeFirst();

  async function waitForApplied(provider: string, eventId: string) {
    const deadline = Date.now() + 30000;
    while (!(await appliedEvent(provider, eventId))) {
      if (Date.now() > deadline) throw new Error(`event ${provider}/${eventId} was not applied`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  const deliveryStatus = async (messageId: string) =>
    (
      await db
        .selectFrom('messages')
        .select('delivery_status')
        .where('id', '=', messageId)
        .executeTakeFirstOrThrow()
    ).delivery_status;

  it('an SMS delivered after sent gets exactly one delivered receipt, after the sent one', async () => {
    const customerId = await customer({});
    const id = await send(customerId, { channels: ['sms'] });
    const sent = await waitForReceipt(id, 'sent');
    expect(suite.twilio.requests.length).toBeGreaterThan(0);

    const later = (seconds: number) => {
      clock.current = new Date(clock.current.getTime() + seconds * 1000);
      return clock.now().toISOString();
    };
    const delivered = statusEvent(id, 'delivered', {
      eventId: `${sent.providerMessageId}:delivered`,
      providerMessageId: sent.providerMessageId,
      occurredAt: later(1),
    });
    // The same callback twice, then a late `sent`, then a read as the marker that all were applied.
    await publishEvents([
      delivered,
      delivered,
      statusEvent(id, 'sent', { eventId: `${sent.providerMessageId}:sent`, occurredAt: later(1) }),
      statusEvent(id, 'read', { eventId: `${sent.providerMessageId}:read`, occurredAt: later(1) }),
    ]);
    await waitForReceipt(id, 'read');
    expect(statuses(id)).toEqual(['sent', 'delivered', 'read']);
    const receipt = receiptsOf(id).find((r) => r.status === 'delivered')!;
    expect(receipt).toMatchObject({
      channel: 'sms',
      provider: 'twilio',
      providerMessageId: sent.providerMessageId,
      customerId,
    });
    expect(await deliveryStatus(id)).toBe('read');
    const effects = await db
      .selectFrom('provider_events')
      .select(['outcome', 'effect'])
      .where('message_id', '=', id)
      .orderBy('applied_at')
      .execute();
    expect(effects).toEqual([
      { outcome: 'delivered', effect: 'advanced' },
      { outcome: 'sent', effect: 'no_regress' },
      { outcome: 'read', effect: 'advanced' },
    ]);
    // The support timeline: each provider event with its effect, in order with the receipts.
    const timeline = await app
      .get(AdminMessagesService)
      .timeline(id, { id: 'agent-1', role: 'viewer', via: 'api-key' });
    expect(timeline.message.deliveryStatus).toBe('read');
    expect(
      timeline.lifecycle.map((entry) =>
        entry.kind === 'receipt' ? `receipt ${entry.status}` : `${entry.outcome} ${entry.effect}`,
      ),
    ).toEqual([
      'receipt sent',
      'delivered advanced',
      'receipt delivered',
      'sent no_regress',
      'read advanced',
      'receipt read',
    ]);
    expect(JSON.stringify(timeline.providerEvents)).not.toContain(PHONE);
    const metrics = await app.get(Metrics).registry.metrics();
    expect(metrics).toMatch(
      /omnigate_provider_events_applied_total\{channel="sms",provider="twilio",outcome="delivered",effect="duplicate"\} 1/,
    );
    expect(metrics).toMatch(
      /omnigate_messages_delivered_total\{channel="sms",provider="twilio"\} 1\n/,
    );
    // One second from the sent receipt to the delivered report.
    expect(metrics).toMatch(
      /omnigate_time_to_delivered_seconds_sum\{channel="sms",provider="twilio"\} 1\n/,
    );
    expect(metrics).toMatch(
      /omnigate_time_to_delivered_seconds_count\{channel="sms",provider="twilio"\} 1\n/,
    );
  });

  it('an email with events twice and out of order gets one receipt per status and ends bounced', async () => {
    const customerId = await customer({});
    const id = await send(customerId, { channels: ['email'] });
    await waitForReceipt(id, 'sent');
    const email = { provider: 'sendgrid', channel: 'email' as const };
    const events = [
      statusEvent(id, 'delivered', { ...email, eventId: 'sg-delivered-1' }),
      statusEvent(id, 'sent', { ...email, eventId: 'sg-processed-1' }),
      statusEvent(id, 'delivered', { ...email, eventId: 'sg-delivered-1' }),
      // SendGrid can report a second delivered under another event id.
      statusEvent(id, 'delivered', { ...email, eventId: 'sg-delivered-2' }),
      statusEvent(id, 'deferred', { ...email, eventId: 'sg-deferred-1' }),
      // Email's late bounce after delivery is real.
      statusEvent(id, 'bounced', {
        ...email,
        eventId: 'sg-bounce-1',
        providerStatus: 'bounce',
        errorCode: '550',
        detail: `mailbox ${EMAIL} does not exist`,
      }),
    ];
    await publishEvents(events);
    await waitForReceipt(id, 'bounced');
    await waitForApplied('sendgrid', 'sg-bounce-1');
    expect(statuses(id)).toEqual(['sent', 'delivered', 'bounced']);
    const bounced = receiptsOf(id).find((r) => r.status === 'bounced')!;
    expect(bounced.reason?.code).toBe('PROVIDER_BOUNCED');
    expect(bounced.reason?.message).toContain('550');
    expect(bounced.reason?.message).not.toContain(EMAIL);
    expect(await deliveryStatus(id)).toBe('bounced');
  });

  it('read implies delivered: a lone read gives delivered, then read', async () => {
    const customerId = await customer({});
    const id = await send(customerId, { channels: ['sms'] });
    await waitForReceipt(id, 'sent');
    await publishEvents([statusEvent(id, 'read')]);
    await waitForReceipt(id, 'read');
    expect(statuses(id)).toEqual(['sent', 'delivered', 'read']);
  });

  it('an unknown status gives one unknown receipt and never a success', async () => {
    const customerId = await customer({});
    const id = await send(customerId, { channels: ['sms'] });
    await waitForReceipt(id, 'sent');
    await publishEvents([
      statusEvent(id, 'unknown', { eventId: 'u-1', providerStatus: 'canceled' }),
      statusEvent(id, 'unknown', { eventId: 'u-2', providerStatus: 'canceled' }),
      // Marker: a failure after it still ends the message.
      statusEvent(id, 'failed', {
        eventId: 'f-1',
        providerStatus: 'undelivered',
        errorCode: '30003',
      }),
    ]);
    await waitForReceipt(id, 'failed');
    expect(statuses(id)).toEqual(['sent', 'unknown', 'failed']);
    const unknown = receiptsOf(id).find((r) => r.status === 'unknown')!;
    expect(unknown.reason?.code).toBe('PROVIDER_STATUS_UNKNOWN');
    expect(unknown.reason?.message).toContain('canceled');
  });

  it('an event that comes before its message is applied once the message is in the log', async () => {
    const customerId = await customer({});
    const id = `cmd-${randomUUID()}`;
    await publishEvents([statusEvent(id, 'delivered')]);
    const job = async () =>
      db
        .selectFrom('scheduled_jobs')
        .select(['run_at'])
        .where('kind', '=', 'provider-event.retry')
        .where('dedupe_key', '=', `provider-event.retry:twilio:${id}:delivered`)
        .executeTakeFirst();
    const deadline = Date.now() + 30000;
    while (!(await job())) {
      if (Date.now() > deadline) throw new Error('no retry job was scheduled');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const worker = app.get(DeferredDispatchWorker);
    // Not due yet; and due but the message still missing: it waits again.
    expect(await worker.runDue()).toBe(0);
    clock.current = new Date(clock.current.getTime() + 2_000);
    expect(await worker.runDue()).toBe(1);
    expect(await job()).toBeDefined();
    expect(await appliedEvent('twilio', `${id}:delivered`)).toBeUndefined();

    await send(customerId, { channels: ['sms'], id });
    await waitForReceipt(id, 'sent');
    clock.current = new Date(clock.current.getTime() + 10_000);
    expect(await worker.runDue()).toBe(1);
    await waitForReceipt(id, 'delivered');
    expect(statuses(id)).toEqual(['sent', 'delivered']);
    expect(await job()).toBeUndefined();
  });

  it('an opt-out by STOP skips SMS as suppressed and falls back to email; START restores SMS', async () => {
    const granted = { granted: true, source: 'signup-form', at: '2026-01-01T00:00:00Z' };
    const customerId = await customer({
      consents: [
        { channel: 'sms', ...granted },
        { channel: 'email', ...granted },
      ],
    });
    const stop = consentEvent('opt-out');
    await publishEvents([stop]);
    await waitForApplied('twilio', stop.eventId);

    const first = await send(customerId, { channels: ['sms', 'email'], category: 'marketing' });
    const fellBack = await waitForReceipt(first, 'sent');
    expect(fellBack.channel).toBe('email');
    const skipped = fellBack.trace.find((entry) => entry.channel === 'sms')!;
    expect(skipped).toMatchObject({ decision: 'skipped', reasonCode: 'SUPPRESSED' });
    expect(skipped.detail).toContain('the customer replied STOP to an SMS on 2026-12-04');
    expect(JSON.stringify(fellBack)).not.toContain(PHONE);

    const start = consentEvent('opt-in');
    await publishEvents([start]);
    await waitForApplied('twilio', start.eventId);
    const second = await send(customerId, { channels: ['sms', 'email'], category: 'marketing' });
    expect((await waitForReceipt(second, 'sent')).channel).toBe('sms');
  });

  it('a hard bounce suppresses the email address for the next message, with the reason', async () => {
    const customerId = await customer({});
    const id = await send(customerId, { channels: ['email'] });
    await waitForReceipt(id, 'sent');
    const bounce = statusEvent(id, 'bounced', {
      provider: 'sendgrid',
      channel: 'email',
      eventId: `sg-${randomUUID()}`,
      providerStatus: 'bounce',
      suppress: { reason: 'HARD_BOUNCE', addressHash: hasher.hash('email', EMAIL) },
    });
    await publishEvents([bounce]);
    await waitForReceipt(id, 'bounced');

    const next = await send(customerId, { channels: ['email'] });
    const suppressed = await waitForReceipt(next, 'suppressed');
    expect(suppressed.reason?.code).toBe('SUPPRESSED');
    expect(suppressed.trace[0]).toMatchObject({ channel: 'email', reasonCode: 'SUPPRESSED' });
    expect(suppressed.trace[0]!.detail).toContain('the email address bounced hard on 2026-12-04');

    // A support agent's resend preview skips the address as the send does.
    const preview = (await app
      .get(ResendService)
      .resend(
        next,
        { reason: 'customer asked again', dryRun: true },
        { id: 'agent-1', role: 'agent', via: 'api-key' },
      )) as DryRunDecision;
    expect(preview.decision).toBe('suppress');
    expect(preview.skipped).toEqual([
      expect.objectContaining({ channel: 'email', reasonCode: 'SUPPRESSED' }),
    ]);
  });

  it('an FCM token the provider calls unregistered is suppressed and leaves the profile', async () => {
    const gone = `fcm-gone-${'g'.repeat(40)}`;
    const live = `fcm-live-${'l'.repeat(40)}`;
    const customerId = await customer({
      fcmTokens: [
        { token: live, lastSeenAt: '2026-11-01T00:00:00Z' },
        { token: gone, lastSeenAt: '2026-12-01T00:00:00Z' },
      ],
    });
    suite.fcm.setFailurePlan({ recipientErrors: { [gone]: 'UNREGISTERED' } });
    try {
      const first = await send(customerId, { channels: ['mobilepush'], recipient: {} });
      await waitForReceipt(first, 'failed');
      const profile = await app.get(ProfileRepository).get(customerId);
      expect(profile?.fcmTokens.map((entry) => entry.token)).toEqual([live]);
      expect(profile?.version).toBe(1);
      // The same token named in a command is suppressed now, with the reason in words.
      const again = await send(customerId, {
        channels: ['mobilepush'],
        recipient: { fcmTokens: [gone] },
      });
      const suppressed = await waitForReceipt(again, 'suppressed');
      expect(suppressed.trace[0]!.detail).toContain('the mobile push token is gone');
      const next = await send(customerId, { channels: ['mobilepush'], recipient: {} });
      expect((await waitForReceipt(next, 'sent')).channel).toBe('mobilepush');
    } finally {
      suite.fcm.setFailurePlan({});
    }
  });

  it('a web push subscription the push service answers 410 for is suppressed and leaves the profile', async () => {
    const gone = suite.newWebPushSubscription();
    const live = suite.newWebPushSubscription();
    const customerId = await customer({
      webPushSubscriptions: [
        { subscription: live.subscription, lastSeenAt: '2026-11-01T00:00:00Z' },
        { subscription: gone.subscription, lastSeenAt: '2026-12-01T00:00:00Z' },
      ],
    });
    suite.webPush.setFailurePlan({ recipientErrors: { [gone.id]: '410' } });
    try {
      const first = await send(customerId, { channels: ['webpush'], recipient: {} });
      await waitForReceipt(first, 'failed');
      const profile = await app.get(ProfileRepository).get(customerId);
      expect(profile?.webPushSubscriptions.map((entry) => entry.subscription.endpoint)).toEqual([
        live.subscription.endpoint,
      ]);
      // The same subscription named in a command is suppressed now.
      const again = await send(customerId, {
        channels: ['webpush'],
        recipient: { webPushSubscriptions: [gone.subscription] },
      });
      expect((await waitForReceipt(again, 'suppressed')).reason?.code).toBeDefined();
      const next = await send(customerId, { channels: ['webpush'], recipient: {} });
      expect((await waitForReceipt(next, 'sent')).channel).toBe('webpush');
      expect(suite.webPush.requests.at(-1)).toMatchObject({ status: 201, recipient: live.id });
    } finally {
      suite.webPush.setFailurePlan({});
    }
  });

  it('Twilio error 21610 records a STOP for the number: the next SMS is suppressed', async () => {
    const phone = '+14155550199';
    const customerId = await customer({});
    suite.twilio.setFailurePlan({ recipientErrors: { [phone]: '21610' } });
    try {
      const first = await send(customerId, { channels: ['sms'], recipient: { phone } });
      await waitForReceipt(first, 'failed');
    } finally {
      suite.twilio.setFailurePlan({});
    }
    const next = await send(customerId, { channels: ['sms'], recipient: { phone } });
    const suppressed = await waitForReceipt(next, 'suppressed');
    expect(suppressed.trace[0]).toMatchObject({ channel: 'sms', reasonCode: 'SUPPRESSED' });
    expect(suppressed.trace[0]!.detail).toContain('replied STOP to an SMS');
  });

  it('a record that is not a ProviderEvent is dead-lettered with the reason, and the rest go on', async () => {
    const deadLetters = await new TopicReader(kafka, topics.deadLetter).start();
    try {
      const customerId = await customer({});
      const id = await send(customerId, { channels: ['sms'] });
      await waitForReceipt(id, 'sent');
      const wrong = { ...statusEvent(id, 'delivered'), outcome: 'arrived' };
      await publish(kafka, topics.providerEvents, [
        { key: id, value: '{"not json' },
        { key: id, value: JSON.stringify(wrong) },
      ]);
      await publishEvents([statusEvent(id, 'delivered')]);
      await waitForReceipt(id, 'delivered');
      await deadLetters.waitFor((records) => records.length >= 2, 30000, 'two dead letters');
      expect(
        deadLetters.records.map((record) => record.headers[DEAD_LETTER_HEADERS.reasonCode]),
      ).toEqual(['INVALID_JSON', 'SCHEMA_VIOLATION']);
      expect(deadLetters.records[1]!.headers[DEAD_LETTER_HEADERS.reason]).toContain('outcome');
    } finally {
      await deadLetters.stop();
    }
  });

  it('an event whose message never appears is recorded as orphaned after the retry window', async () => {
    const id = `cmd-${randomUUID()}`;
    await publishEvents([statusEvent(id, 'delivered')]);
    const worker = app.get(DeferredDispatchWorker);
    const deadline = Date.now() + 30000;
    while (
      !(await db
        .selectFrom('scheduled_jobs')
        .select('id')
        .where('dedupe_key', '=', `provider-event.retry:twilio:${id}:delivered`)
        .executeTakeFirst())
    ) {
      if (Date.now() > deadline) throw new Error('no retry job was scheduled');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    clock.current = new Date(clock.current.getTime() + 3_600_000 + 1_000);
    await worker.runDue();
    expect((await appliedEvent('twilio', `${id}:delivered`))?.effect).toBe('orphaned');
    expect(receiptsOf(id)).toEqual([]);
  });
});
