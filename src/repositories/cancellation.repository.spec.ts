import { buildReceipt, type DeliveryReceipt } from '@omnigate/contracts';
import { sql } from 'kysely';
import { CancellationRepository, type CancelRequest } from './cancellation.repository';
import { migrateToLatest } from './database/migrate';
import { DATABASE_KINDS, openTestDatabase, type TestDatabase } from './database/testing';
import { InstanceRepository } from './instance.repository';
import {
  MessageCancelledError,
  MessageLogRepository,
  type NewMessage,
} from './message-log.repository';
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

const STALE_MS = 10_000;
const DAY_MS = 24 * 60 * 60 * 1000;
const NOW = new Date('2030-01-01T00:00:00Z');

function message(id: string, overrides: Partial<NewMessage> = {}): NewMessage {
  return {
    id,
    customerId: 'c-1',
    category: 'cart_reminders',
    payloadHash: `hash-${id}`,
    sealedCommand: 'v1.sealed',
    source: `send:0:${id}`,
    receivedAt: NOW,
    groupKey: 'cart-8812',
    ...overrides,
  };
}

function cancelOf(overrides: Partial<CancelRequest> = {}): CancelRequest {
  return {
    cancelId: `cancel-${Math.random().toString(36).slice(2)}`,
    customerId: 'c-1',
    groupKey: 'cart-8812',
    reason: { code: 'CART_PURCHASED', message: 'the cart was bought' },
    requestedBy: 'checkout',
    requestedAt: NOW,
    ...overrides,
  };
}

describe.each(DATABASE_KINDS)('CancellationRepository on %s', (kind) => {
  let database: TestDatabase;
  let log: MessageLogRepository;
  let cancels: CancellationRepository;
  let scheduler: SchedulerRepository;

  beforeAll(async () => {
    database = await openTestDatabase(kind, { maxConnections: 10 });
    await migrateToLatest(database.db);
    const outbox = new ReceiptOutboxRepository(database.db);
    scheduler = new SchedulerRepository(database.db);
    log = new MessageLogRepository(database.db, outbox, scheduler);
    cancels = new CancellationRepository(database.db, outbox);
  });
  afterAll(async () => {
    await database?.dispose();
  });
  beforeEach(async () => {
    await sql`truncate messages, message_attempts, message_events, unpublished_receipts, gateway_instances, scheduled_jobs, cancel_requests`.execute(
      database.db,
    );
    await new InstanceRepository(database.db).register('gw-a');
  });

  const receipt = (id: string, status: DeliveryReceipt['status']) =>
    buildReceipt({
      messageId: id,
      customerId: 'c-1',
      status,
      ...(status === 'deferred' && {
        deferredUntil: '2030-01-01T08:00:00Z',
        reason: { code: 'QUIET_HOURS', message: 'quiet hours' },
      }),
    });

  /** Claimed by gw-a and left waiting in the scheduler, as a deferral leaves it. */
  async function deferred(id: string, overrides: Partial<NewMessage> = {}): Promise<void> {
    await log.claim(message(id, overrides), 'gw-a', STALE_MS);
    await log.settle({
      messageId: id,
      owner: 'gw-a',
      status: 'deferred',
      reasonCode: 'QUIET_HOURS',
      channel: null,
      provider: null,
      providerMessageId: null,
      trace: [],
      receipt: receipt(id, 'deferred'),
      kafkaKey: 'c-1',
      deferrals: 1,
      retries: 0,
      schedule: {
        kind: 'dispatch',
        runAt: new Date(NOW.getTime() + 8 * 3600_000),
        payload: { messageId: id },
        dedupeKey: `dispatch:${id}:1`,
      },
    });
  }

  async function sent(id: string): Promise<void> {
    await log.claim(message(id), 'gw-a', STALE_MS);
    const attempt = await log.startAttempt({
      messageId: id,
      channel: 'sms',
      provider: 'twilio',
      owner: 'gw-a',
      startedAt: NOW,
    });
    await log.finishAttempt(attempt, {
      outcome: 'accepted',
      finishedAt: NOW,
      providerMessageId: 'SM1',
    });
    await log.settle({
      messageId: id,
      owner: 'gw-a',
      status: 'sent',
      reasonCode: null,
      channel: 'sms',
      provider: 'twilio',
      providerMessageId: 'SM1',
      trace: [],
      receipt: receipt(id, 'sent'),
      kafkaKey: 'c-1',
      deferrals: 0,
      retries: 0,
    });
  }

  const statusesOf = async (id: string) =>
    (
      await database.db
        .selectFrom('message_events')
        .select('status')
        .where('message_id', '=', id)
        .orderBy('id')
        .execute()
    ).map((row) => row.status);

  const jobsOf = async (id: string) =>
    database.db
      .selectFrom('scheduled_jobs')
      .select('id')
      .where(sql<boolean>`payload @> ${JSON.stringify({ messageId: id })}::jsonb`)
      .execute();

  const options = { now: NOW, rememberForMs: DAY_MS };

  it('withdraws every waiting message of a group key with a CANCELLED receipt and removes their jobs', async () => {
    await deferred('m-1');
    await deferred('m-2');
    await deferred('m-other', { groupKey: 'cart-1' });

    const result = await cancels.cancel(cancelOf(), options);

    expect(result).toMatchObject({ outcome: 'cancelled', withdrawn: ['m-1', 'm-2'], tooLate: [] });
    for (const id of ['m-1', 'm-2']) {
      expect((await log.get(id))?.status).toBe('cancelled');
      expect(await statusesOf(id)).toEqual(['deferred', 'cancelled']);
      expect(await jobsOf(id)).toEqual([]);
    }
    const events = await database.db
      .selectFrom('message_events')
      .select('receipt')
      .where('message_id', '=', 'm-1')
      .where('status', '=', 'cancelled')
      .executeTakeFirstOrThrow();
    expect(events.receipt).toMatchObject({
      reason: { code: 'CART_PURCHASED', message: 'the cart was bought' },
    });
    expect((await log.get('m-other'))?.status).toBe('deferred');
    expect(await jobsOf('m-other')).toHaveLength(1);
  });

  it('a dry run answers what would be withdrawn and changes nothing', async () => {
    await deferred('m-1');
    const result = await cancels.cancel(cancelOf(), { ...options, dryRun: true });
    expect(result).toMatchObject({ outcome: 'cancelled', withdrawn: ['m-1'], dryRun: true });
    expect((await log.get('m-1'))?.status).toBe('deferred');
    expect(await jobsOf('m-1')).toHaveLength(1);
    expect(await database.db.selectFrom('cancel_requests').selectAll().execute()).toEqual([]);
  });

  it('reports a sent message as too late and changes nothing', async () => {
    await sent('m-1');
    const result = await cancels.cancel(
      cancelOf({ groupKey: undefined, messageId: 'm-1' }),
      options,
    );
    expect(result).toMatchObject({ outcome: 'too_late', withdrawn: [], tooLate: ['m-1'] });
    expect((await log.get('m-1'))?.status).toBe('sent');
    expect(await statusesOf('m-1')).toEqual(['sent']);
  });

  it('leaves a message with an attempt in flight (too late); one claimed without an attempt is withdrawn and its start refused', async () => {
    await log.claim(message('m-flight'), 'gw-a', STALE_MS);
    await log.startAttempt({
      messageId: 'm-flight',
      channel: 'sms',
      provider: 'twilio',
      owner: 'gw-a',
      startedAt: NOW,
    });
    await log.claim(message('m-claimed'), 'gw-a', STALE_MS);

    const result = await cancels.cancel(cancelOf(), options);

    expect(result).toMatchObject({ withdrawn: ['m-claimed'], tooLate: ['m-flight'] });
    await expect(
      log.startAttempt({
        messageId: 'm-claimed',
        channel: 'sms',
        provider: 'twilio',
        owner: 'gw-a',
        startedAt: NOW,
      }),
    ).rejects.toBeInstanceOf(MessageCancelledError);
    expect(await log.attempts('m-claimed')).toEqual([]);
  });

  it('answers an unknown id, remembers it, and withdraws the command when it arrives within the window', async () => {
    const first = await cancels.cancel(
      cancelOf({ cancelId: 'k-1', groupKey: undefined, messageId: 'm-late' }),
      options,
    );
    expect(first).toMatchObject({ outcome: 'unknown', withdrawn: [] });
    // The same cancelId again: the first answer, nothing done twice.
    const again = await cancels.cancel(
      cancelOf({ cancelId: 'k-1', groupKey: undefined, messageId: 'm-late' }),
      options,
    );
    expect(again).toMatchObject({ outcome: 'unknown', repeated: true });

    await log.claim(message('m-late', { groupKey: null }), 'gw-a', STALE_MS);
    const arriving = { id: 'm-late', customerId: 'c-1', groupKey: null, owner: 'gw-a' };
    expect(await cancels.applyRemembered(arriving, NOW)).toMatchObject({ cancelId: 'k-1' });
    expect((await log.get('m-late'))?.status).toBe('cancelled');
    expect(await statusesOf('m-late')).toEqual(['cancelled']);
  });

  it('remembers a group key cancel with nothing to withdraw yet and applies it to a command arriving later', async () => {
    expect(await cancels.cancel(cancelOf(), options)).toMatchObject({ outcome: 'remembered' });
    await log.claim(message('m-1'), 'gw-a', STALE_MS);
    const arriving = { id: 'm-1', customerId: 'c-1', groupKey: 'cart-8812', owner: 'gw-a' };
    expect(await cancels.applyRemembered(arriving, NOW)).not.toBeNull();
    const later = new Date(NOW.getTime() + DAY_MS + 1);
    await log.claim(message('m-2'), 'gw-a', STALE_MS);
    const expired = { ...arriving, id: 'm-2' };
    expect(await cancels.applyRemembered(expired, later)).toBeNull();
    expect((await log.get('m-2'))?.status).toBe('processing');
  });

  it('forgets cancels whose window has passed', async () => {
    await cancels.cancel(cancelOf({ cancelId: 'old' }), options);
    expect(await cancels.purgeExpired(new Date(NOW.getTime() + DAY_MS - 1))).toBe(0);
    expect(await cancels.purgeExpired(new Date(NOW.getTime() + DAY_MS))).toBe(1);
  });

  it('an arriving command waits for a cancel of its customer that is under way, and sees what it remembered', async () => {
    await log.claim(message('m-raced', { groupKey: null }), 'gw-a', STALE_MS);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const lockTaken = new Promise<void>((resolve) => (locked = resolve));
    // A cancel that looked before the claim committed (found nothing) and commits only now.
    const inFlightCancel = database.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtextextended(${'cancel:c-1'}, 0))`.execute(trx);
      await trx
        .insertInto('cancel_requests')
        .values({
          cancel_id: 'k-in-flight',
          customer_id: 'c-1',
          message_id: 'm-raced',
          group_key: null,
          reason_code: 'CART_PURCHASED',
          reason_message: 'the cart was bought',
          requested_by: 'checkout',
          requested_at: NOW,
          outcome: 'unknown',
          withdrawn: JSON.stringify([]),
          too_late: JSON.stringify([]),
          expires_at: new Date(NOW.getTime() + DAY_MS),
        })
        .execute();
      locked();
      await held;
    });
    await lockTaken;
    const arriving = cancels.applyRemembered(
      { id: 'm-raced', customerId: 'c-1', groupKey: null, owner: 'gw-a' },
      NOW,
    );
    await new Promise((resolve) => setTimeout(resolve, 150));
    release();
    await inFlightCancel;
    expect(await arriving).toMatchObject({ cancelId: 'k-in-flight' });
    expect((await log.get('m-raced'))?.status).toBe('cancelled');
  });

  if (kind === 'postgres') {
    it('300 races of an arriving command against its cancel: the cancel withdraws it, on one side or the other, every time', async () => {
      const runs = 300;
      let withdrawnOnArrival = 0;
      const race = async (i: number) => {
        const id = `arrive-${i}`;
        const customerId = `c-arrive-${i % 60}`;
        const arrive = async () => {
          await log.claim(message(id, { customerId, groupKey: `g-${i}` }), 'gw-a', STALE_MS);
          const applied = await cancels.applyRemembered(
            { id, customerId, groupKey: `g-${i}`, owner: 'gw-a' },
            NOW,
          );
          if (applied) withdrawnOnArrival += 1;
        };
        const cancel = async () => {
          if (i % 3 === 2) await new Promise((resolve) => setTimeout(resolve, i % 5));
          return cancels.cancel(
            cancelOf({
              cancelId: `arrive-cancel-${i}`,
              customerId,
              ...(i % 2 === 0 ? { groupKey: `g-${i}` } : { groupKey: undefined, messageId: id }),
            }),
            options,
          );
        };
        // One in three: the cancel first (remembered, applied on arrival); one in three: the
        // command first (the cancel finds it claimed); the rest at once, staggered by 0-4 ms, so
        // both sides are covered however fast this machine is, and the true races come on top.
        if (i % 3 === 0) await cancel().then(arrive);
        else if (i % 3 === 1) await arrive().then(cancel);
        else await Promise.all([arrive(), cancel()]);
        return id;
      };
      const ids: string[] = [];
      for (let i = 0; i < runs; i += 30) {
        ids.push(...(await Promise.all(Array.from({ length: 30 }, (_, j) => race(i + j)))));
      }
      for (const id of ids) {
        expect([id, (await log.get(id))?.status]).toEqual([id, 'cancelled']);
        expect(await statusesOf(id)).toEqual(['cancelled']);
      }
      // Both paths ran: some cancels found the claimed message, some were remembered.
      expect(withdrawnOnArrival).toBeGreaterThan(0);
      expect(withdrawnOnArrival).toBeLessThan(runs);
    }, 60_000);

    it('1,000 races of a due dispatch against a cancel: each message is sent or cancelled, never both, never neither', async () => {
      const runs = 1000;
      const ids = Array.from({ length: runs }, (_, i) => `race-${i}`);
      for (let i = 0; i < runs; i += 100) {
        await Promise.all(ids.slice(i, i + 100).map((id) => deferred(id, { groupKey: `g-${id}` })));
      }
      let providerCalls = 0;
      let refusedAtStart = 0;
      const dueDispatch = async (id: string): Promise<'sent' | 'refused'> => {
        const taken = await log.takeOver(id, 'gw-a', STALE_MS, { fromDeferred: true });
        if (taken?.kind !== 'taken_over') return 'refused';
        let attempt: string;
        try {
          attempt = await log.startAttempt({
            messageId: id,
            channel: 'sms',
            provider: 'twilio',
            owner: 'gw-a',
            startedAt: NOW,
          });
        } catch (error) {
          if (error instanceof MessageCancelledError) {
            refusedAtStart += 1;
            return 'refused';
          }
          throw error;
        }
        providerCalls += 1;
        await log.finishAttempt(attempt, { outcome: 'accepted', finishedAt: NOW });
        await log.settle({
          messageId: id,
          owner: 'gw-a',
          status: 'sent',
          reasonCode: null,
          channel: 'sms',
          provider: 'twilio',
          providerMessageId: null,
          trace: [],
          receipt: receipt(id, 'sent'),
          kafkaKey: 'c-1',
          deferrals: 1,
          retries: 0,
        });
        return 'sent';
      };
      const race = async (id: string, i: number) => {
        // Staggered by a few milliseconds, so that some cancels meet a run at each of its steps
        // (before its takeover, between takeover and startAttempt, after startAttempt).
        const cancel = async () => {
          await new Promise((resolve) => setTimeout(resolve, i % 8));
          return cancels.cancel(
            cancelOf({
              cancelId: `race-cancel-${i}`,
              ...(i % 2 === 0 ? { groupKey: `g-${id}` } : { groupKey: undefined, messageId: id }),
            }),
            options,
          );
        };
        const [dispatched, cancelled] = await Promise.all([dueDispatch(id), cancel()]);
        return { id, dispatched, cancelled };
      };
      // In waves of 25 pairs: all 1,000 at once would queue every run's second step behind every
      // cancel on the connection pool, and the cancels would win every race.
      const results: Array<Awaited<ReturnType<typeof race>>> = [];
      for (let i = 0; i < runs; i += 25) {
        results.push(...(await Promise.all(ids.slice(i, i + 25).map((id, j) => race(id, i + j)))));
      }

      const rows = await database.db
        .selectFrom('messages')
        .select(['id', 'status'])
        .where('id', 'like', 'race-%')
        .execute();
      const events = await database.db
        .selectFrom('message_events')
        .select(['message_id', 'status'])
        .where('message_id', 'like', 'race-%')
        .where('status', 'in', ['sent', 'cancelled'])
        .execute();
      const finals = new Map(rows.map((row) => [row.id, row.status]));
      let sentCount = 0;
      for (const { id, dispatched, cancelled } of results) {
        const final = finals.get(id);
        const receipts = events.filter((e) => e.message_id === id).map((e) => e.status);
        expect([final, receipts]).toEqual(
          final === 'sent' ? ['sent', ['sent']] : ['cancelled', ['cancelled']],
        );
        // The cancel's answer agrees with what happened.
        expect(cancelled.outcome).toBe(final === 'sent' ? 'too_late' : 'cancelled');
        expect(dispatched).toBe(final === 'sent' ? 'sent' : 'refused');
        if (final === 'sent') sentCount += 1;
      }
      expect(providerCalls).toBe(sentCount);
      const cancelledIds = ids.filter((id) => finals.get(id) === 'cancelled');
      const leftJobs = await database.db
        .selectFrom('scheduled_jobs')
        .select(sql<string>`payload->>'messageId'`.as('messageId'))
        .execute();
      expect(leftJobs.filter((job) => cancelledIds.includes(job.messageId))).toEqual([]);
      // Both sides won some races, or the test proved nothing about the race.
      expect(sentCount).toBeGreaterThan(0);
      expect(sentCount).toBeLessThan(runs);
      // Some cancels came between a run's takeover and its startAttempt: the refusal decided those.
      expect(refusedAtStart).toBeGreaterThan(0);
    }, 120_000);
  }
});
