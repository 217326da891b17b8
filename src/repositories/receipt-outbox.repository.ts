import { Inject, Injectable } from '@nestjs/common';
import type { DeliveryReceipt } from '@omnigate/contracts';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { KYSELY } from './database/database';
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
 * after a crash cannot queue its receipt twice.
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
   * marks them published once it resolves. One relay at a time per schema holds the transaction's
   * advisory lock, which keeps each message's receipts in order across replicas; answers null when
   * another relay holds it. If `publish` throws, nothing is marked and the batch comes back.
   */
  async publishOldest(
    limit: number,
    publish: (batch: readonly PendingReceipt[]) => Promise<void>,
  ): Promise<number | null> {
    return this.db.transaction().execute(async (trx) => {
      const { rows } = await sql<{ locked: boolean }>`
        select pg_try_advisory_xact_lock(hashtext(current_schema() || '.omnigate.receipt-relay')) as locked
      `.execute(trx);
      if (!rows[0]?.locked) return null;
      const batch = await trx
        .selectFrom('message_events')
        .select(['id', 'receipt', 'kafka_key', 'traceparent'])
        .where('published_at', 'is', null)
        .orderBy('id')
        .limit(limit)
        .execute();
      if (batch.length === 0) return 0;
      await publish(
        batch.map((row) => ({
          id: String(row.id),
          receipt: row.receipt as DeliveryReceipt,
          key: row.kafka_key,
          traceparent: row.traceparent,
        })),
      );
      await trx
        .updateTable('message_events')
        .set({ published_at: new Date() })
        .where(
          'id',
          'in',
          batch.map((row) => row.id),
        )
        .execute();
      return batch.length;
    });
  }

  /** Receipts written but not yet published. */
  async backlog(): Promise<number> {
    const row = await this.db
      .selectFrom('message_events')
      .select(sql<number>`count(*)::int`.as('count'))
      .where('published_at', 'is', null)
      .executeTakeFirstOrThrow();
    return row.count;
  }

  async eventsOf(messageId: string): Promise<Array<PendingReceipt & { publishedAt: Date | null }>> {
    const rows = await this.db
      .selectFrom('message_events')
      .select(['id', 'receipt', 'kafka_key', 'published_at', 'traceparent'])
      .where('message_id', '=', messageId)
      .orderBy('id')
      .execute();
    return rows.map((row) => ({
      id: String(row.id),
      receipt: row.receipt as DeliveryReceipt,
      key: row.kafka_key,
      traceparent: row.traceparent,
      publishedAt: row.published_at,
    }));
  }

  async purgePublishedBefore(cutoff: Date): Promise<void> {
    await this.db
      .deleteFrom('message_events')
      .where('occurred_at', '<', cutoff)
      .where('published_at', 'is not', null)
      .execute();
  }
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
