import { randomBytes } from 'node:crypto';
import { buildReceipt } from '@omnigate/contracts';
import { sql } from 'kysely';
import { AddressHasher } from './address-hasher';
import { AddressSuppressionRepository } from './address-suppression.repository';
import { migrateToLatest } from './database/migrate';
import { DATABASE_KINDS, openTestDatabase, type TestDatabase } from './database/testing';
import { InstanceRepository } from './instance.repository';
import { MessageLogRepository } from './message-log.repository';
import { MessageSealer } from './message-sealer';
import { ProfileRepository } from './profile.repository';
import {
  ProviderEventRepository,
  type MessageDeliveryState,
  type ProviderEventRecord,
  type StatusApplication,
} from './provider-event.repository';
import { ReceiptOutboxRepository } from './receipt-outbox.repository';
import { SchedulerRepository } from './scheduler.repository';

// Without this, PGlite cannot start inside Jest's sandbox: see database/pglite-outside-jest.ts.
jest.mock('@electric-sql/pglite', () =>
  jest
    .requireActual<typeof import('./database/pglite-outside-jest')>(
      './database/pglite-outside-jest',
    )
    .pgliteOutsideJest(),
);

const T0 = new Date('2030-01-01T00:00:00Z');
const HASH = 'a'.repeat(64);

function record(overrides: Partial<ProviderEventRecord> = {}): ProviderEventRecord {
  return {
    provider: 'twilio',
    eventId: 'SM1:delivered',
    messageId: 'm-1',
    channel: 'sms',
    type: 'message-status',
    outcome: 'delivered',
    providerStatus: 'delivered',
    errorCode: null,
    detail: null,
    occurredAt: new Date(T0.getTime() + 5_000),
    receivedAt: new Date(T0.getTime() + 6_000),
    effect: 'advanced',
    ...overrides,
  };
}

describe.each(DATABASE_KINDS)('provider events and suppressions on %s', (kind) => {
  let database: TestDatabase;
  let log: MessageLogRepository;
  let outbox: ReceiptOutboxRepository;
  let scheduler: SchedulerRepository;
  let suppressions: AddressSuppressionRepository;
  let events: ProviderEventRepository;

  beforeAll(async () => {
    database = await openTestDatabase(kind);
    await migrateToLatest(database.db);
    outbox = new ReceiptOutboxRepository(database.db);
    scheduler = new SchedulerRepository(database.db);
    log = new MessageLogRepository(database.db, outbox, scheduler);
    suppressions = new AddressSuppressionRepository(database.db);
    events = new ProviderEventRepository(database.db, outbox, suppressions, scheduler);
  });
  afterAll(async () => {
    await database?.dispose();
  });
  beforeEach(async () => {
    await sql`truncate messages, message_attempts, message_events, unpublished_receipts, gateway_instances, scheduled_jobs,
      provider_events, address_suppressions, customer_profiles`.execute(database.db);
    await new InstanceRepository(database.db).register('gw-a');
  });

  /** A message claimed by gw-a and, unless told otherwise, settled as sent at T0. */
  async function sentMessage(settle = true): Promise<void> {
    await log.claim(
      {
        id: 'm-1',
        customerId: 'c-1',
        category: 'marketing',
        payloadHash: 'h',
        sealedCommand: 'v1.sealed',
        source: 'send:0:1',
        receivedAt: T0,
      },
      'gw-a',
      10_000,
    );
    if (!settle) return;
    await log.settle({
      messageId: 'm-1',
      owner: 'gw-a',
      status: 'sent',
      reasonCode: null,
      channel: 'sms',
      provider: 'twilio',
      providerMessageId: 'SM1',
      trace: [],
      receipt: buildReceipt({
        messageId: 'm-1',
        customerId: 'c-1',
        status: 'sent',
        channel: 'sms',
        provider: 'twilio',
        occurredAt: T0,
      }),
      kafkaKey: 'c-1',
      deferrals: 0,
      retries: 0,
    });
  }

  /** Delivered, with its receipt and a suppression, as the applier would decide. */
  const delivered = (state: MessageDeliveryState): StatusApplication => ({
    record: record(),
    deliveryStatus: 'delivered',
    receipts: [
      {
        receipt: buildReceipt({
          messageId: state.messageId,
          customerId: state.customerId,
          status: 'delivered',
          channel: 'sms',
          provider: 'twilio',
          occurredAt: new Date(T0.getTime() + 5_000),
          discriminator: 'provider-report',
        }),
        key: state.customerId,
      },
    ],
    suppressions: [
      { channel: 'sms', addressHash: HASH, scope: '*', reason: 'STOP_KEYWORD', source: 'twilio:x' },
    ],
  });
  const key = { provider: 'twilio', eventId: 'SM1:delivered', messageId: 'm-1' };

  it('applies an event once: status, receipt, suppression and timeline row in one go', async () => {
    await sentMessage();
    let seen: MessageDeliveryState | undefined;
    const first = await events.applyToMessage(key, (state) => {
      seen = state;
      return delivered(state);
    });
    expect(first.kind).toBe('applied');
    expect(seen).toMatchObject({
      customerId: 'c-1',
      status: 'sent',
      deliveryStatus: null,
      channel: 'sms',
      providerMessageId: 'SM1',
      sentAt: T0,
    });
    expect([...seen!.reported]).toEqual(['sent']);

    const again = await events.applyToMessage(key, () => {
      throw new Error('a repeat must not be decided again');
    });
    expect(again).toEqual({ kind: 'duplicate' });

    const row = await database.db
      .selectFrom('messages')
      .select('delivery_status')
      .where('id', '=', 'm-1')
      .executeTakeFirstOrThrow();
    expect(row.delivery_status).toBe('delivered');
    expect((await outbox.eventsOf('m-1')).map((e) => e.receipt.status)).toEqual([
      'sent',
      'delivered',
    ]);
    expect(await events.eventsOf('m-1')).toEqual([record()]);
    expect(await suppressions.findByHashes([HASH, 'b'.repeat(64)])).toMatchObject([
      { channel: 'sms', addressHash: HASH, scope: '*', reason: 'STOP_KEYWORD' },
    ]);
  });

  it('answers not_yet, writing nothing, while the message is missing or still being dispatched', async () => {
    expect(await events.applyToMessage(key, delivered)).toEqual({ kind: 'not_yet' });
    await sentMessage(false);
    expect(await events.applyToMessage(key, delivered)).toEqual({ kind: 'not_yet' });
    expect(await events.eventsOf('m-1')).toEqual([]);
    expect(await suppressions.findByHashes([HASH])).toEqual([]);
  });

  it('undoes everything when the decision fails halfway', async () => {
    await sentMessage();
    await expect(
      events.applyToMessage(key, (state) => ({
        ...delivered(state),
        // Not a valid scope row: the insert fails after the status and receipt were written.
        suppressions: [
          {
            channel: 'sms',
            addressHash: HASH,
            scope: null as unknown as string,
            reason: 'STOP_KEYWORD',
            source: 'x',
          },
        ],
      })),
    ).rejects.toThrow();
    expect(await events.eventsOf('m-1')).toEqual([]);
    expect((await outbox.eventsOf('m-1')).map((e) => e.receipt.status)).toEqual(['sent']);
  });

  it('completes the retry job in the transaction that applies its event', async () => {
    await sentMessage();
    const { id } = await scheduler.schedule({
      kind: 'provider-event.retry',
      runAt: T0,
      payload: {},
    });
    const [job] = await scheduler.claimDue(new Date(T0.getTime() + 1), {
      limit: 1,
      workerId: 'w',
      leaseMs: 60_000,
    });
    expect(job?.id).toBe(id);
    await events.applyToMessage(key, delivered, { id, workerId: 'w' });
    expect((await scheduler.backlog(T0)).total).toBe(0);
  });

  it('records an address event once; opt-in lifts only STOP rows of the phone channels', async () => {
    const consent = record({
      eventId: 'SMin:1',
      messageId: null,
      type: 'address-consent',
      outcome: 'opt-out',
      providerStatus: 'STOP',
      effect: 'suppressed',
    });
    const stop = {
      channel: 'sms' as const,
      addressHash: HASH,
      scope: '*',
      reason: 'STOP_KEYWORD' as const,
      source: 's',
    };
    expect(await events.recordAlone(consent, { add: [stop] })).toBe(true);
    expect(await events.recordAlone(consent, { add: [stop] })).toBe(false);
    await suppressions.add([
      { ...stop, channel: 'whatsapp' },
      { ...stop, channel: 'email', reason: 'HARD_BOUNCE' },
      { ...stop, channel: 'sms', scope: 'marketing', reason: 'UNSUBSCRIBE' },
    ]);
    const optIn = record({
      ...consent,
      eventId: 'SMin:2',
      outcome: 'opt-in',
      effect: 'unsuppressed',
    });
    expect(
      await events.recordAlone(optIn, {
        lift: { channels: ['sms', 'whatsapp'], addressHash: HASH, reason: 'STOP_KEYWORD' },
      }),
    ).toBe(true);
    const left = await suppressions.findByHashes([HASH]);
    expect(left.map((row) => `${row.channel}/${row.scope}/${row.reason}`).sort()).toEqual([
      'email/*/HARD_BOUNCE',
      'sms/marketing/UNSUBSCRIBE',
    ]);
  });

  it('keeps the timeline in the order events happened, not the order they came', async () => {
    await sentMessage();
    await events.recordAlone(
      record({ eventId: 'late', occurredAt: new Date(T0.getTime() + 9_000) }),
    );
    await events.recordAlone(
      record({ eventId: 'early', occurredAt: new Date(T0.getTime() + 1_000) }),
    );
    expect((await events.eventsOf('m-1')).map((e) => e.eventId)).toEqual(['early', 'late']);
  });

  it('purges provider reports with old messages, and keeps suppressions', async () => {
    await events.recordAlone(record({ eventId: 'old', receivedAt: T0 }));
    await events.recordAlone(
      record({ eventId: 'new', receivedAt: new Date(T0.getTime() + 120_000) }),
    );
    await suppressions.add([
      {
        channel: 'sms',
        addressHash: HASH,
        scope: '*',
        reason: 'STOP_KEYWORD',
        source: 's',
        createdAt: T0,
      },
    ]);
    await log.purgeOlderThan(new Date(T0.getTime() + 60_000));
    expect((await events.eventsOf('m-1')).map((e) => e.eventId)).toEqual(['new']);
    expect(await suppressions.findByHashes([HASH])).toHaveLength(1);
  });

  it('removes a gone push token from the profile without changing its version', async () => {
    const profiles = new ProfileRepository(database.db, new MessageSealer(randomBytes(32)));
    await profiles.applyUpdate({
      customerId: 'c-1',
      version: 7,
      patch: { fcmTokens: [{ token: 'tok-gone' }, { token: 'tok-live' }] },
      occurredAt: T0,
    });
    expect(await profiles.removePushAddress('c-1', 'mobilepush', 'tok-gone')).toBe(true);
    expect(await profiles.removePushAddress('c-1', 'mobilepush', 'tok-gone')).toBe(false);
    const profile = await profiles.get('c-1');
    expect(profile?.fcmTokens.map((t) => t.token)).toEqual(['tok-live']);
    expect(profile?.version).toBe(7);
    expect(profile?.updatedAt).toBe(T0.toISOString());
  });

  it('answers concurrent lookups from one query, each with its own rows', async () => {
    const other = 'c'.repeat(64);
    const row = {
      channel: 'sms' as const,
      scope: '*',
      reason: 'STOP_KEYWORD' as const,
      source: 's',
    };
    await suppressions.add([
      { ...row, addressHash: HASH },
      { ...row, addressHash: other },
    ]);
    const [mine, theirs, none] = await Promise.all([
      suppressions.findByHashes([HASH]),
      suppressions.findByHashes([other, 'd'.repeat(64)]),
      suppressions.findByHashes(['e'.repeat(64)]),
    ]);
    expect(mine.map((found) => found.addressHash)).toEqual([HASH]);
    expect(theirs.map((found) => found.addressHash)).toEqual([other]);
    expect(none).toEqual([]);
  });

  it('finds suppressions under a previous key after a rotation', async () => {
    const oldKey = randomBytes(32);
    const before = new AddressHasher(oldKey);
    await suppressions.add([
      {
        channel: 'email',
        addressHash: before.hash('email', 'Anna@Example.com'),
        scope: '*',
        reason: 'HARD_BOUNCE',
        source: 'sendgrid:e1',
      },
    ]);
    const after = new AddressHasher(randomBytes(32), [oldKey]);
    expect(await suppressions.findByHashes(after.all('email', 'anna@example.com'))).toHaveLength(1);
  });
});
