import { buildReceipt, type DeliveryReceipt } from '@omnigate/contracts';
import { sql } from 'kysely';
import { migrateToLatest } from './database/migrate';
import {
  DATABASE_KINDS,
  openTestDatabase,
  StatementRecorder,
  type TestDatabase,
} from './database/testing';
import { InstanceRepository } from './instance.repository';
import {
  MessageLogRepository,
  OwnershipLostError,
  type NewMessage,
  type Settlement,
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

function message(overrides: Partial<NewMessage> = {}): NewMessage {
  return {
    id: 'm-1',
    customerId: 'c-1',
    category: 'otp',
    payloadHash: 'hash-a',
    sealedCommand: 'v1.sealed',
    source: 'send:0:10',
    receivedAt: new Date('2030-01-01T00:00:00Z'),
    ...overrides,
  };
}

function receipt(status: DeliveryReceipt['status'], code?: string, discriminator?: string) {
  return buildReceipt({
    messageId: 'm-1',
    customerId: 'c-1',
    status,
    ...(code && { reason: { code, message: code } }),
    ...(status === 'deferred' && { deferredUntil: '2030-01-01T00:01:00Z' }),
    ...(discriminator && { discriminator }),
  });
}

describe.each(DATABASE_KINDS)('MessageLogRepository on %s', (kind) => {
  let database: TestDatabase;
  let log: MessageLogRepository;
  let outbox: ReceiptOutboxRepository;
  let instances: InstanceRepository;

  beforeAll(async () => {
    database = await openTestDatabase(kind);
    await migrateToLatest(database.db);
    outbox = new ReceiptOutboxRepository(database.db);
    log = new MessageLogRepository(database.db, outbox, new SchedulerRepository(database.db));
    instances = new InstanceRepository(database.db);
  });
  afterAll(async () => {
    await database?.dispose();
  });
  beforeEach(async () => {
    await sql`truncate messages, message_attempts, message_events, unpublished_receipts, gateway_instances, scheduled_jobs`.execute(
      database.db,
    );
    await instances.register('gw-a');
    await instances.register('gw-b');
  });

  const settle = (status: DeliveryReceipt['status'], owner = 'gw-a', code?: string) =>
    log.settle({
      quietIfRepeated: code === 'THROTTLED',
      messageId: 'm-1',
      owner,
      status,
      reasonCode: code ?? null,
      channel: null,
      provider: null,
      providerMessageId: null,
      trace: [],
      receipt: receipt(status, code, code),
      kafkaKey: 'c-1',
      deferrals: 0,
      retries: 0,
    });

  it('claims a new id once; the same record again is not a duplicate, another record is', async () => {
    expect(await log.claim(message(), 'gw-a', STALE_MS)).toEqual({ kind: 'claimed' });
    await settle('sent');

    expect((await log.claim(message(), 'gw-b', STALE_MS)).kind).toBe('settled');
    expect((await log.claim(message({ source: 'send:1:99' }), 'gw-b', STALE_MS)).kind).toBe(
      'duplicate',
    );
    expect(
      (await log.claim(message({ source: 'send:1:99', payloadHash: 'hash-b' }), 'gw-b', STALE_MS))
        .kind,
    ).toBe('conflict');
    // Hashed under a previous key (or unkeyed, before hashes were keyed): still the same command.
    const rehashed = message({
      source: 'send:1:100',
      payloadHash: 'hash-b',
      earlierPayloadHashes: ['hash-old-key', 'hash-a'],
    });
    expect((await log.claim(rehashed, 'gw-b', STALE_MS)).kind).toBe('duplicate');
  });

  it('leaves a message with its live owner and takes it from a dead one, abandoning its in-flight call', async () => {
    await log.claim(message(), 'gw-a', STALE_MS);
    const attempt = await log.startAttempt({
      messageId: 'm-1',
      channel: 'sms',
      provider: 'twilio',
      owner: 'gw-a',
      startedAt: new Date(),
    });

    expect((await log.claim(message(), 'gw-b', STALE_MS)).kind).toBe('busy');

    await instances.deregister('gw-a');
    const taken = await log.claim(message(), 'gw-b', STALE_MS);
    expect(taken.kind).toBe('taken_over');
    if (taken.kind !== 'taken_over') return;
    expect(taken.abandoned.map((a) => [a.id, a.outcome])).toEqual([[attempt, 'abandoned']]);
    expect(taken.accepted).toBeUndefined();
    expect((await log.get('m-1'))?.owner).toBe('gw-b');
    // The old owner can no longer settle it.
    await expect(settle('sent', 'gw-a')).rejects.toBeInstanceOf(OwnershipLostError);
  });

  it('treats an instance whose heartbeat is older than the staleness window as dead', async () => {
    await log.claim(message(), 'gw-a', STALE_MS);
    await sql`update gateway_instances set heartbeat_at = now() - interval '11 seconds' where id = 'gw-a'`.execute(
      database.db,
    );
    expect((await log.claim(message(), 'gw-b', STALE_MS)).kind).toBe('taken_over');
  });

  it('reports a send a provider accepted before its owner died, so it is not repeated', async () => {
    await log.claim(message(), 'gw-a', STALE_MS);
    const id = await log.startAttempt({
      messageId: 'm-1',
      channel: 'sms',
      provider: 'twilio',
      owner: 'gw-a',
      startedAt: new Date(),
    });
    await log.finishAttempt(id, {
      outcome: 'accepted',
      finishedAt: new Date(),
      providerMessageId: 'SM123',
    });
    await instances.deregister('gw-a');

    const taken = await log.claim(message(), 'gw-b', STALE_MS);
    expect(taken.kind === 'taken_over' && taken.accepted?.providerMessageId).toBe('SM123');
    expect(taken.kind === 'taken_over' && taken.abandoned).toEqual([]);
  });

  it('writes the receipt with the state change, once per event id, and a repeated deferral reason only once', async () => {
    await log.claim(message(), 'gw-a', STALE_MS);
    expect(await settle('deferred', 'gw-a', 'THROTTLED')).toBe(true);
    // The scheduler takes it, and it is throttled again: the state changes, no new receipt.
    expect((await log.takeOver('m-1', 'gw-a', STALE_MS, { fromDeferred: true }))?.kind).toBe(
      'taken_over',
    );
    expect(await settle('deferred', 'gw-a', 'THROTTLED')).toBe(false);
    await log.takeOver('m-1', 'gw-a', STALE_MS, { fromDeferred: true });
    expect(await settle('sent')).toBe(true);

    const events = await outbox.eventsOf('m-1');
    expect(events.map((e) => e.receipt.status)).toEqual(['deferred', 'sent']);
    expect((await log.get('m-1'))?.status).toBe('sent');
  });

  it('schedules the follow-up job and completes the current one in the same transaction', async () => {
    const scheduler = new SchedulerRepository(database.db);
    await log.claim(message(), 'gw-a', STALE_MS);
    const { id: jobId } = await scheduler.schedule({
      kind: 'dispatch',
      runAt: new Date('2000-01-01T00:00:00Z'),
      payload: { messageId: 'm-1' },
    });
    const [claimed] = await scheduler.claimDue(new Date(), {
      limit: 1,
      workerId: 'w',
      leaseMs: 60_000,
    });
    expect(claimed?.id).toBe(jobId);

    await log.settle({
      messageId: 'm-1',
      owner: 'gw-a',
      status: 'deferred',
      reasonCode: 'QUIET_HOURS',
      channel: null,
      provider: null,
      providerMessageId: null,
      trace: [],
      receipt: receipt('deferred', 'QUIET_HOURS'),
      kafkaKey: 'c-1',
      deferrals: 1,
      retries: 0,
      schedule: {
        kind: 'dispatch',
        runAt: new Date(),
        payload: { messageId: 'm-1' },
        dedupeKey: 'dispatch:m-1:1',
      },
      completeJob: { id: jobId, workerId: 'w' },
    });
    const jobs = await sql<{
      dedupe_key: string | null;
    }>`select dedupe_key from scheduled_jobs`.execute(database.db);
    expect(jobs.rows).toEqual([{ dedupe_key: 'dispatch:m-1:1' }]);
    expect((await log.get('m-1'))?.deferrals).toBe(1);
  });

  it('publishes the outbox oldest first, marks only what the publish confirmed, and keeps a failed batch', async () => {
    await outbox.enqueue([
      { receipt: receipt('rejected', 'A', 'a'), key: 'k' },
      { receipt: receipt('rejected', 'B', 'b'), key: 'k' },
      { receipt: receipt('rejected', 'C', 'c'), key: 'k' },
    ]);
    await expect(
      outbox.publishOldest(2, () => Promise.reject(new Error('broker down'))),
    ).rejects.toThrow('broker down');
    expect(await outbox.backlog()).toBe(3);

    const seen: string[] = [];
    const publish = (batch: readonly { receipt: DeliveryReceipt }[]) => {
      seen.push(...batch.map((entry) => entry.receipt.reason!.code));
      return Promise.resolve();
    };
    expect(await outbox.publishOldest(2, publish)).toBe(2);
    expect(await outbox.publishOldest(2, publish)).toBe(1);
    expect(await outbox.publishOldest(2, publish)).toBe(0);
    expect(seen).toEqual(['A', 'B', 'C']);
    expect(await outbox.backlog()).toBe(0);
  });

  it('says which receipts are published, and retention keeps one still waiting', async () => {
    const second = receipt('sent', undefined, 'second');
    await outbox.enqueue([
      { receipt: receipt('sent', undefined, 'first'), key: 'k' },
      { receipt: second, key: 'k' },
    ]);
    expect(await outbox.publishOldest(1, () => Promise.resolve())).toBe(1);
    expect((await outbox.eventsOf('m-1')).map((e) => e.published)).toEqual([true, false]);

    await outbox.purgePublishedBefore(new Date(Date.now() + 60_000));

    const left = await outbox.eventsOf('m-1');
    expect(left.map((e) => [e.receipt.eventId, e.published])).toEqual([[second.eventId, false]]);
    expect(await outbox.backlog()).toBe(1);
  });

  it('purges old published receipts in batches until none is left, and keeps a waiting one', async () => {
    await outbox.enqueue(
      ['a', 'b', 'c', 'd', 'e', 'f'].map((d) => ({
        receipt: receipt('sent', undefined, d),
        key: 'k',
      })),
    );
    // All but the last published.
    await outbox.publishOldest(5, () => Promise.resolve());

    await outbox.purgePublishedBefore(new Date(Date.now() + 60_000), 2);

    expect((await outbox.eventsOf('m-1')).map((e) => e.published)).toEqual([false]);
    expect(await outbox.backlog()).toBe(1);
  });

  it('takes a queued id whose receipt is gone off the queue, and publishes the rest', async () => {
    await sql`insert into unpublished_receipts (id) values (1)`.execute(database.db);
    const real = receipt('sent', undefined, 'real');
    await outbox.enqueue([{ receipt: real, key: 'k' }]);
    const seen: string[] = [];
    expect(
      await outbox.publishOldest(10, (batch) => {
        seen.push(...batch.map((entry) => entry.receipt.eventId));
        return Promise.resolve();
      }),
    ).toBe(2);
    expect(seen).toEqual([real.eventId]);
    expect(await outbox.backlog()).toBe(0);
  });

  it('keeps a receipt exactly as enqueued, quotes, backslashes and any script included, and a repeated event once', async () => {
    const awkward = {
      ...receipt('rejected', 'SCHEMA_VIOLATION'),
      reason: {
        code: 'SCHEMA_VIOLATION',
        message: 'content.sms.text: "\\n" isn\'t {allowed} [here] — مرحبا 👋 \u200f',
      },
    };
    const plain = receipt('sent', undefined, 'plain');
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await outbox.enqueue([
      { receipt: awkward, key: 'c-"1"' },
      { receipt: plain, key: 'c-1', traceparent },
    ]);
    // The same event again (a step redone after a crash) is not queued twice.
    await outbox.enqueue([{ receipt: awkward, key: 'c-"1"' }]);
    const published: Array<{ receipt: DeliveryReceipt; key: string; traceparent: string | null }> =
      [];
    await outbox.publishOldest(10, (batch) => {
      published.push(
        ...batch.map(({ receipt, key, traceparent }) => ({ receipt, key, traceparent })),
      );
      return Promise.resolve();
    });
    expect(published).toEqual([
      { receipt: awkward, key: 'c-"1"', traceparent: null },
      { receipt: plain, key: 'c-1', traceparent },
    ]);
  });

  it('purges settled messages past retention, with their attempts and published receipts, freeing the id', async () => {
    await log.claim(message(), 'gw-a', STALE_MS);
    await log.startAttempt({
      messageId: 'm-1',
      channel: 'sms',
      provider: 'twilio',
      owner: 'gw-a',
      startedAt: new Date(),
    });
    await settle('sent');
    await outbox.publishOldest(10, () => Promise.resolve());
    await log.claim(message({ id: 'm-2' }), 'gw-a', STALE_MS);

    // Nothing is old enough yet.
    expect(await log.purgeOlderThan(new Date(Date.now() - 60_000))).toBe(0);
    // m-2 is still being processed, so only m-1 goes.
    expect(await log.purgeOlderThan(new Date(Date.now() + 60_000))).toBe(1);
    expect(await log.get('m-1')).toBeUndefined();
    expect(await log.attempts('m-1')).toEqual([]);
    expect(await outbox.eventsOf('m-1')).toEqual([]);
    expect(await log.get('m-2')).toBeDefined();
    expect(await log.claim(message(), 'gw-a', STALE_MS)).toEqual({ kind: 'claimed' });
  });
});

describe.each(DATABASE_KINDS)('MessageLogRepository batching concurrent calls on %s', (kind) => {
  let database: TestDatabase;
  let log: MessageLogRepository;
  let outbox: ReceiptOutboxRepository;
  let statements: StatementRecorder;

  beforeAll(async () => {
    database = await openTestDatabase(kind);
    await migrateToLatest(database.db);
    statements = new StatementRecorder(database.db);
    const db = database.db.withPlugin(statements);
    outbox = new ReceiptOutboxRepository(db);
    log = new MessageLogRepository(db, outbox, new SchedulerRepository(db));
    const instances = new InstanceRepository(database.db);
    await instances.register('gw-a');
    await instances.register('gw-b');
  });
  afterAll(async () => {
    await database?.dispose();
  });
  beforeEach(async () => {
    await sql`truncate messages, message_attempts, message_events, unpublished_receipts, scheduled_jobs`.execute(
      database.db,
    );
    statements.clear();
  });

  const settlement = (id: string, owner = 'gw-a', trace: Settlement['trace'] = []): Settlement => ({
    messageId: id,
    owner,
    status: 'sent',
    reasonCode: null,
    channel: 'sms',
    provider: 'twilio',
    providerMessageId: `SM-${id}`,
    trace,
    receipt: buildReceipt({ messageId: id, customerId: 'c-1', status: 'sent' }),
    kafkaKey: 'c-1',
    deferrals: 0,
    retries: 0,
  });

  it('claims many new ids in one statement', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `m-${i}`);
    const claims = await Promise.all(
      ids.map((id, i) => log.claim(message({ id, source: `send:0:${i}` }), 'gw-a', STALE_MS)),
    );
    expect(claims).toEqual(ids.map(() => ({ kind: 'claimed' })));
    expect(statements.count).toBe(1);
    expect((await log.get('m-49'))?.owner).toBe('gw-a');
  });

  it('stores what a batch of claims carries and what settling writes, awkward text included', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await Promise.all([
      log.claim(
        message({
          id: 'm-full',
          overrides: { ignoreOptOut: true },
          traceparent,
          groupKey: 'cart-8812',
          resendOf: 'm-original',
        }),
        'gw-a',
        STALE_MS,
      ),
      log.claim(message({ id: 'm-bare', source: 'send:0:2' }), 'gw-a', STALE_MS),
    ]);
    expect(await log.get('m-full')).toMatchObject({
      overrides: { ignoreOptOut: true },
      traceparent,
      groupKey: 'cart-8812',
      resendOf: 'm-original',
      sealedCommand: 'v1.sealed',
    });
    expect(await log.get('m-bare')).toMatchObject({
      overrides: null,
      traceparent: null,
      groupKey: null,
      resendOf: null,
    });
    // SQL NULL, not a JSON null: what the admin API and the purge query test for.
    const nulls = await sql<{ id: string }>`
      select id from messages where overrides is null and traceparent is null`.execute(database.db);
    expect(nulls.rows).toEqual([{ id: 'm-bare' }]);

    const first: Settlement['trace'] = [
      { channel: 'sms', decision: 'skipped', detail: 'no "phone" \\ on file — لا يوجد 📵' },
    ];
    const second: Settlement['trace'] = [{ channel: 'email', decision: 'sent', detail: 'sent' }];
    await log.settle({ ...settlement('m-full'), status: 'deferred', trace: first, deferrals: 1 });
    await log.takeOver('m-full', 'gw-b', STALE_MS, { fromDeferred: true });
    await log.settle({ ...settlement('m-full', 'gw-b'), trace: second, appendTrace: true });
    await log.settle(settlement('m-bare', 'gw-a', first));
    const traces = await sql<{ id: string; trace: unknown; deferrals: number }>`
      select id, trace, deferrals from messages order by id`.execute(database.db);
    expect(traces.rows).toEqual([
      { id: 'm-bare', trace: first, deferrals: 0 },
      { id: 'm-full', trace: [...first, ...second], deferrals: 0 },
    ]);
    expect(await log.get('m-full')).toMatchObject({ status: 'sent', owner: null });
  });

  it('answers a mix of new, duplicate, conflict and settled ids each as claim() alone would', async () => {
    await log.claim(message({ id: 'm-dup', source: 'send:0:1' }), 'gw-a', STALE_MS);
    await log.claim(message({ id: 'm-conflict', source: 'send:0:2' }), 'gw-a', STALE_MS);
    await log.claim(message({ id: 'm-settled', source: 'send:0:3' }), 'gw-a', STALE_MS);
    await log.settle(settlement('m-settled'));
    statements.clear();

    const claims = await Promise.all([
      log.claim(message({ id: 'm-new', source: 'send:0:4' }), 'gw-a', STALE_MS),
      log.claim(message({ id: 'm-dup', source: 'send:1:1' }), 'gw-a', STALE_MS),
      log.claim(
        message({ id: 'm-conflict', source: 'send:1:2', payloadHash: 'hash-b' }),
        'gw-a',
        STALE_MS,
      ),
      log.claim(message({ id: 'm-settled', source: 'send:0:3' }), 'gw-b', STALE_MS),
    ]);
    expect(claims.map((c) => c.kind)).toEqual(['claimed', 'duplicate', 'conflict', 'settled']);
    // The insert, then one read of the ids that were there already.
    expect(statements.count).toBe(2);
  });

  it('answers the second call of an id in one batch as if it came after the first', async () => {
    const [first, copy, redelivery] = await Promise.all([
      log.claim(message({ id: 'm-1', source: 'send:0:1' }), 'gw-a', STALE_MS),
      log.claim(message({ id: 'm-1', source: 'send:0:2' }), 'gw-a', STALE_MS),
      log.claim(
        message({ id: 'm-1', source: 'send:0:1', payloadHash: 'hash-b' }),
        'gw-a',
        STALE_MS,
      ),
    ]);
    expect(first).toEqual({ kind: 'claimed' });
    expect(copy.kind).toBe('duplicate');
    expect(redelivery.kind).toBe('conflict');
    expect((await log.get('m-1'))?.source).toBe('send:0:1');
  });

  it('takes over a redelivered message of a dead instance inside a batch of new claims', async () => {
    await log.claim(message({ id: 'm-old', source: 'send:0:1' }), 'gw-gone', STALE_MS);
    const [taken, fresh] = await Promise.all([
      log.claim(message({ id: 'm-old', source: 'send:0:1' }), 'gw-a', STALE_MS),
      log.claim(message({ id: 'm-fresh', source: 'send:0:2' }), 'gw-a', STALE_MS),
    ]);
    expect(taken.kind).toBe('taken_over');
    expect(fresh).toEqual({ kind: 'claimed' });
    // A live owner keeps it.
    expect(
      (await log.claim(message({ id: 'm-old', source: 'send:0:1' }), 'gw-b', STALE_MS)).kind,
    ).toBe('busy');
  });

  it('rejects every claim of a batch whose insert fails, and claims none of them', async () => {
    const claims = await Promise.allSettled([
      log.claim(message({ id: 'm-ok', source: 'send:0:1' }), 'gw-a', STALE_MS),
      // PostgreSQL text cannot hold NUL: the whole statement fails.
      log.claim(message({ id: 'm-bad\u0000', source: 'send:0:2' }), 'gw-a', STALE_MS),
    ]);
    expect(claims.map((c) => c.status)).toEqual(['rejected', 'rejected']);
    expect(await log.get('m-ok')).toBeUndefined();
    // The next batch claims it as usual.
    expect(await log.claim(message({ id: 'm-ok', source: 'send:0:1' }), 'gw-a', STALE_MS)).toEqual({
      kind: 'claimed',
    });
  });

  it('writes the attempts of a batch in one insert and their outcomes in one update, each to its own row', async () => {
    await Promise.all(
      ['m-1', 'm-2', 'm-3'].map((id, i) =>
        log.claim(message({ id, source: `send:0:${i}` }), 'gw-a', STALE_MS),
      ),
    );
    statements.clear();
    const started = await Promise.all(
      ['m-1', 'm-2', 'm-3'].map((id) =>
        log.startAttempt({
          messageId: id,
          channel: 'sms',
          provider: `twilio-${id}`,
          owner: 'gw-a',
          startedAt: new Date(),
        }),
      ),
    );
    // Lock of the batch's messages (a cancelled one gets no attempt) and insert: one statement.
    expect(statements.count).toBe(1);
    await Promise.all([
      log.finishAttempt(started[0]!, {
        outcome: 'accepted',
        finishedAt: new Date(),
        providerMessageId: 'SM-1',
      }),
      log.finishAttempt(started[1]!, {
        outcome: 'failed',
        finishedAt: new Date(),
        errorKind: 'transient',
        vendorCode: '503',
        detail: 'x'.repeat(2000),
      }),
    ]);
    // Plus one update for both outcomes.
    expect(statements.count).toBe(2);
    const rows = await Promise.all(['m-1', 'm-2', 'm-3'].map((id) => log.attempts(id)));
    expect(rows.map((r) => [r[0]!.id, r[0]!.provider, r[0]!.outcome])).toEqual([
      [started[0], 'twilio-m-1', 'accepted'],
      [started[1], 'twilio-m-2', 'failed'],
      [started[2], 'twilio-m-3', null],
    ]);
    expect(rows[0]![0]!.providerMessageId).toBe('SM-1');
    expect(rows[1]![0]).toMatchObject({ errorKind: 'transient', vendorCode: '503' });
    expect(rows[1]![0]!.detail).toHaveLength(1000);
  });

  it('marks its batch statements PREPARED, so the server parses them once per connection', async () => {
    await Promise.all(
      ['m-1', 'm-2'].map((id, i) =>
        log.claim(message({ id, source: `send:0:${i}` }), 'gw-a', STALE_MS),
      ),
    );
    const started = await Promise.all(
      ['m-1', 'm-2'].map((id) =>
        log.startAttempt({
          messageId: id,
          channel: 'sms',
          provider: 'twilio',
          owner: 'gw-a',
          startedAt: new Date(),
        }),
      ),
    );
    await Promise.all(
      started.map((id) => log.finishAttempt(id, { outcome: 'accepted', finishedAt: new Date() })),
    );
    await Promise.all(['m-1', 'm-2'].map((id) => log.settle(settlement(id))));

    // Claim, attempt start, attempt finish, settle: one statement each, every one marked.
    expect(statements.statements.map((statement) => statement.sql.trimStart())).toEqual([
      expect.stringMatching(/^\/\* prepared \*\/\s+insert into messages/),
      expect.stringMatching(/^\/\* prepared \*\/\s+with locked as materialized/),
      expect.stringMatching(/^\/\* prepared \*\/\s+update message_attempts/),
      expect.stringMatching(/^\/\* prepared \*\/\s+with locked as materialized/),
    ]);
  });

  it('rejects every attempt of a batch whose insert fails', async () => {
    await log.claim(message(), 'gw-a', STALE_MS);
    const start = (provider: string) =>
      log.startAttempt({
        messageId: 'm-1',
        channel: 'sms',
        provider,
        owner: 'gw-a',
        startedAt: new Date(),
      });
    const results = await Promise.allSettled([start('twilio'), start('bad\u0000')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(await log.attempts('m-1')).toEqual([]);
  });

  it('settles a group in one statement; the settlement that lost its message fails alone', async () => {
    await Promise.all(
      ['m-1', 'm-2', 'm-3'].map((id, i) =>
        log.claim(message({ id, source: `send:0:${i}` }), id === 'm-2' ? 'gw-b' : 'gw-a', STALE_MS),
      ),
    );
    statements.clear();
    const results = await Promise.allSettled([
      log.settle(settlement('m-1')),
      // gw-b holds m-2 now: gw-a's settlement comes too late.
      log.settle(settlement('m-2', 'gw-a')),
      log.settle(settlement('m-3')),
      // A second settlement of m-3 in the same group finds it settled already.
      log.settle(settlement('m-3')),
      log.settle(settlement('m-unknown')),
    ]);
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'rejected',
    ]);
    for (const index of [1, 3, 4]) {
      expect((results[index] as PromiseRejectedResult).reason).toBeInstanceOf(OwnershipLostError);
    }
    // Lock, update and receipts in one statement.
    expect(statements.count).toBe(1);
    expect(await log.get('m-1')).toMatchObject({
      status: 'sent',
      owner: null,
      providerMessageId: 'SM-m-1',
    });
    expect(await log.get('m-2')).toMatchObject({ status: 'processing', owner: 'gw-b' });
    expect(await log.get('m-3')).toMatchObject({ status: 'sent', owner: null });
    expect((await outbox.eventsOf('m-1')).map((e) => e.receipt.status)).toEqual(['sent']);
    expect(await outbox.eventsOf('m-2')).toEqual([]);
    expect(await outbox.eventsOf('m-3')).toHaveLength(1);
  });

  it('settles a group with scheduler work beside plain ones: each written, the job with its message', async () => {
    await Promise.all(
      ['m-1', 'm-2', 'm-3'].map((id, i) =>
        log.claim(message({ id, source: `send:0:${i}` }), 'gw-a', STALE_MS),
      ),
    );
    const deferral: Settlement = {
      ...settlement('m-2'),
      status: 'deferred',
      reasonCode: 'QUIET_HOURS',
      receipt: buildReceipt({ messageId: 'm-2', customerId: 'c-1', status: 'deferred' }),
      deferrals: 1,
      schedule: {
        kind: 'dispatch',
        runAt: new Date(),
        payload: { messageId: 'm-2' },
        dedupeKey: 'dispatch:m-2:1',
      },
    };
    const results = await Promise.allSettled([
      log.settle(settlement('m-1')),
      log.settle(deferral),
      log.settle(settlement('m-3', 'gw-b')),
    ]);

    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect((results[2] as PromiseRejectedResult).reason).toBeInstanceOf(OwnershipLostError);
    expect(await log.get('m-1')).toMatchObject({ status: 'sent', owner: null });
    expect(await log.get('m-2')).toMatchObject({ status: 'deferred', owner: null, deferrals: 1 });
    expect(await log.get('m-3')).toMatchObject({ status: 'processing', owner: 'gw-a' });
    const jobs = await sql<{ dedupe_key: string | null }>`
      select dedupe_key from scheduled_jobs`.execute(database.db);
    expect(jobs.rows).toEqual([{ dedupe_key: 'dispatch:m-2:1' }]);
    expect((await outbox.eventsOf('m-1')).map((e) => e.receipt.status)).toEqual(['sent']);
    expect((await outbox.eventsOf('m-2')).map((e) => e.receipt.status)).toEqual(['deferred']);
    expect(await outbox.eventsOf('m-3')).toEqual([]);
  });

  it('rejects every settlement of a group whose transaction fails, and writes none of them', async () => {
    await Promise.all(
      ['m-1', 'm-2'].map((id, i) =>
        log.claim(message({ id, source: `send:0:${i}` }), 'gw-a', STALE_MS),
      ),
    );
    const results = await Promise.allSettled([
      log.settle(settlement('m-1')),
      // jsonb cannot hold \u0000: the group's update fails.
      log.settle(
        settlement('m-2', 'gw-a', [
          { channel: 'sms', decision: 'sent', detail: '\u0000', at: '2030-01-01T00:00:00Z' },
        ]),
      ),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(await log.get('m-1')).toMatchObject({ status: 'processing', owner: 'gw-a' });
    expect(await outbox.backlog()).toBe(0);
    // Each is settled by its retry.
    await expect(log.settle(settlement('m-1'))).resolves.toBe(true);
  });

  it('rejects every settlement of a group with scheduler work when its transaction fails, and writes none of them', async () => {
    await Promise.all(
      ['m-1', 'm-2'].map((id, i) =>
        log.claim(message({ id, source: `send:0:${i}` }), 'gw-a', STALE_MS),
      ),
    );
    const deferred = (base: Settlement): Settlement => ({
      ...base,
      status: 'deferred',
      reasonCode: 'QUIET_HOURS',
      deferrals: 1,
      schedule: {
        kind: 'dispatch',
        runAt: new Date(),
        payload: { messageId: base.messageId },
        dedupeKey: `dispatch:${base.messageId}:1`,
      },
    });
    const results = await Promise.allSettled([
      log.settle(deferred(settlement('m-1'))),
      // Text cannot hold \u0000: the receipts, the group's last write after both jobs, fail.
      log.settle({ ...deferred(settlement('m-2')), kafkaKey: 'c-1\u0000' }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(await log.get('m-1')).toMatchObject({ status: 'processing', owner: 'gw-a' });
    const jobs = await sql`select 1 from scheduled_jobs`.execute(database.db);
    expect(jobs.rows).toEqual([]);
    expect(await outbox.backlog()).toBe(0);
  });
});
