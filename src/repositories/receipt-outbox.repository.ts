import { Inject, Injectable } from '@nestjs/common';
import type { DeliveryReceipt } from '@omnigate/contracts';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { KYSELY } from './database/database';
import { PREPARED } from './database/prepared-statements';
import type { Database } from './database/types';

export interface OutboxEntry {
  readonly receipt: DeliveryReceipt;
  /** The Kafka key it is published under (the customer, so one customer's receipts stay in order). */
  readonly key: string;
  /** The trace the receipt belongs to, put on its Kafka headers when it is published. */
  readonly traceparent?: string | null;
}

export interface PendingReceipt extends OutboxEntry {
  readonly id: string;
  readonly traceparent: string | null;
}

/**
 * The receipts outbox: receipts are rows of message_events, written in the transaction that
 * changes the message, and published later by the relay. The eventId is unique, so a step redone
 * after a crash cannot queue its receipt twice. What waits to be published is the queue
 * unpublished_receipts, which a trigger fills as receipts are written (migration 0010).
 */
@Injectable()
export class ReceiptOutboxRepository {
  constructor(@Inject(KYSELY) private readonly db: Kysely<Database>) {}

  async enqueue(
    entries: readonly OutboxEntry[],
    executor: Kysely<Database> = this.db,
  ): Promise<void> {
    if (entries.length === 0) return;
    await receiptInsert(entries).execute(executor);
  }

  /**
   * Hands the oldest unpublished receipts, in the order they were written, to `publish`, and
   * takes them off the queue once it resolves. One relay at a time per schema holds the
   * transaction's advisory lock, which keeps each message's receipts in order across replicas;
   * answers null when another relay holds it. If `publish` throws, nothing is taken off and the
   * batch comes back. A queued id whose receipt is gone is taken off unpublished.
   */
  async publishOldest(
    limit: number,
    publish: (batch: readonly PendingReceipt[]) => Promise<void>,
  ): Promise<number | null> {
    return this.db.transaction().execute(async (trx) => {
      const { rows } = await sql<{ locked: boolean }>`${PREPARED}
        select pg_try_advisory_xact_lock(hashtext(current_schema() || '.omnigate.receipt-relay')) as locked
      `.execute(trx);
      if (!rows[0]?.locked) return null;
      const queued = await oldestQueued(trx, limit).execute();
      if (queued.length === 0) return 0;
      const batch: PendingReceipt[] = queued.flatMap((row) =>
        row.receipt === null || row.kafka_key === null
          ? []
          : [
              {
                id: String(row.id),
                receipt: row.receipt as DeliveryReceipt,
                key: row.kafka_key,
                traceparent: row.traceparent,
              },
            ],
      );
      if (batch.length > 0) await publish(batch);
      await sql`${PREPARED}
        delete from unpublished_receipts where id = any(${queued.map((row) => String(row.id))}::bigint[])
      `.execute(trx);
      return queued.length;
    });
  }

  /** Receipts written but not yet published. */
  async backlog(): Promise<number> {
    const row = await this.db
      .selectFrom('unpublished_receipts')
      .select(sql<number>`count(*)::int`.as('count'))
      .executeTakeFirstOrThrow();
    return row.count;
  }

  async eventsOf(messageId: string): Promise<Array<PendingReceipt & { published: boolean }>> {
    const rows = await this.db
      .selectFrom('message_events as e')
      .leftJoin('unpublished_receipts as q', 'q.id', 'e.id')
      .select(['e.id', 'e.receipt', 'e.kafka_key', 'e.traceparent', 'q.id as queued'])
      .where('e.message_id', '=', messageId)
      .orderBy('e.id')
      .execute();
    return rows.map((row) => ({
      id: String(row.id),
      receipt: row.receipt as DeliveryReceipt,
      key: row.kafka_key,
      traceparent: row.traceparent,
      published: row.queued === null,
    }));
  }

  /**
   * Deletes receipts older than `cutoff` that are published; a waiting one stays. In batches, by
   * the occurred_at index, so a purge never holds one long delete (a retention shortened by a
   * month would otherwise be a single statement).
   */
  async purgePublishedBefore(cutoff: Date, batchSize = 1000): Promise<void> {
    for (;;) {
      const result = await this.db
        .deleteFrom('message_events')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('message_events as old')
            .select('old.id')
            .where('old.occurred_at', '<', cutoff)
            .where((inner) =>
              inner.not(
                inner.exists(
                  inner
                    .selectFrom('unpublished_receipts as q')
                    .select('q.id')
                    .whereRef('q.id', '=', 'old.id'),
                ),
              ),
            )
            .orderBy('old.occurred_at')
            .limit(batchSize),
        )
        .executeTakeFirst();
      if (Number(result.numDeletedRows) < batchSize) return;
    }
  }
}

/**
 * The oldest queued receipt ids with their rows, each row looked up by its id. Not a plain join:
 * the planner may merge the queue with message_events' primary key, which walks the key from the
 * start, through every receipt published before, to reach the first queued id (17,623 entries for
 * 45 queued in a benchmark run, 110 ms a read). The lateral lookup's `limit 1` keeps the planner
 * from turning it back into a join.
 */
export function oldestQueued(executor: Kysely<Database>, limit: number) {
  return executor
    .selectFrom((eb) =>
      eb.selectFrom('unpublished_receipts').select('id').orderBy('id').limit(limit).as('q'),
    )
    .leftJoinLateral(
      (eb) =>
        eb
          .selectFrom('message_events as e')
          .select(['e.receipt', 'e.kafka_key', 'e.traceparent'])
          .whereRef('e.id', '=', 'q.id')
          .limit(1)
          .as('e'),
      (join) => join.onTrue(),
    )
    .select(['q.id', 'e.receipt', 'e.kafka_key', 'e.traceparent'])
    .modifyFront(PREPARED)
    .orderBy('q.id');
}

/**
 * The statement that writes receipts to the outbox; with `onlyFor`, a query answering message ids
 * (a CTE of a larger statement), only the receipts of those messages are written.
 * The batch is one JSON parameter, one statement text for every batch size; ids (the relay's
 * order) follow the entries' order. Not text arrays: each receipt would be stringified, then
 * escaped again as an array element in JavaScript, and unescaped by the server (profile).
 */
export function receiptInsert(
  entries: readonly OutboxEntry[],
  onlyFor?: RawBuilder<unknown>,
): RawBuilder<unknown> {
  const rows = entries.map((e) => ({
    message_id: e.receipt.messageId,
    event_id: e.receipt.eventId,
    status: e.receipt.status,
    receipt: e.receipt,
    kafka_key: e.key,
    occurred_at: e.receipt.occurredAt,
    traceparent: e.traceparent ?? null,
  }));
  const filter = onlyFor ? sql`where v.message_id in (${onlyFor})` : sql``;
  return sql`
    insert into message_events
      (message_id, event_id, status, receipt, kafka_key, occurred_at, traceparent)
    select v.message_id, v.event_id::uuid, v.status, v.receipt, v.kafka_key,
      v.occurred_at::timestamptz, v.traceparent
    from rows from (
      jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as (message_id text, event_id text,
        status text, receipt jsonb, kafka_key text, occurred_at text, traceparent text)
    ) with ordinality as v(message_id, event_id, status, receipt, kafka_key, occurred_at,
      traceparent, n)
    ${filter}
    order by v.n
    on conflict (event_id) do nothing
  `;
}
