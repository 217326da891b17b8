import { Inject, Injectable } from '@nestjs/common';
import type { TraceEntry } from '@omnigate/contracts';
import { sql, type Kysely } from 'kysely';
import { KYSELY } from '../repositories/database/database';
import type { Database } from '../repositories/database/types';
import { decodeCursor, encodeCursor } from './cursor';

export interface MessageFilter {
  readonly customerId?: string;
  readonly status?: string;
  readonly channel?: string;
  readonly category?: string;
  readonly from?: Date;
  readonly to?: Date;
  readonly limit: number;
  readonly cursor?: string;
}

/** A message as support agents see it: its state, never its sealed command. */
export interface MessageSummary {
  readonly id: string;
  readonly customerId: string;
  readonly category: string;
  readonly status: string;
  readonly reasonCode: string | null;
  readonly channel: string | null;
  readonly provider: string | null;
  readonly providerMessageId: string | null;
  readonly deferrals: number;
  readonly retries: number;
  readonly source: string;
  readonly resendOf: string | null;
  readonly receivedAt: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface MessageDetail extends MessageSummary {
  readonly trace: readonly TraceEntry[];
  /** How far the provider got (sent, delivered, read, failed, bounced, unknown); null before. */
  readonly deliveryStatus: string | null;
}

/** A provider's report on the message, as the timeline shows it: no address, no body. */
export interface ProviderEventEntry {
  readonly provider: string;
  readonly eventId: string;
  readonly channel: string;
  readonly type: string;
  readonly outcome: string | null;
  readonly providerStatus: string | null;
  readonly errorCode: string | null;
  readonly detail: string | null;
  /** What applying it did: advanced, no_regress, no_change, duplicate, orphaned, … */
  readonly effect: string;
  readonly occurredAt: string;
  readonly appliedAt: string;
}

/**
 * Read-only queries of the message log for the admin API: filtered, cursor-paged lists and the
 * decision trace. The cursor carries created_at in microseconds, because a JS Date would cut it to
 * milliseconds and rows sharing that millisecond would be skipped or repeated.
 */
@Injectable()
export class AdminMessagesRepository {
  constructor(@Inject(KYSELY) private readonly db: Kysely<Database>) {}

  async list(
    filter: MessageFilter,
  ): Promise<{ items: MessageSummary[]; nextCursor: string | null }> {
    let query = this.db
      .selectFrom('messages')
      .select([
        'id',
        'customer_id',
        'category',
        'status',
        'reason_code',
        'channel',
        'provider',
        'provider_message_id',
        'deferrals',
        'retries',
        'source',
        'resend_of',
        'received_at',
        'created_at',
        'updated_at',
        sql<string>`(extract(epoch from created_at) * 1000000)::bigint::text`.as('created_us'),
      ]);
    if (filter.customerId !== undefined) query = query.where('customer_id', '=', filter.customerId);
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    if (filter.channel !== undefined) query = query.where('channel', '=', filter.channel);
    if (filter.category !== undefined) query = query.where('category', '=', filter.category);
    if (filter.from !== undefined) query = query.where('created_at', '>=', filter.from);
    if (filter.to !== undefined) query = query.where('created_at', '<', filter.to);
    if (filter.cursor !== undefined) {
      const [micros, id] = decodeCursor(filter.cursor, 2) as [string, string];
      if (!/^\d{1,18}$/.test(micros)) decodeCursor('', 2);
      query = query.where(
        sql<boolean>`(created_at, id) < (timestamptz 'epoch' + ${micros}::bigint * interval '1 microsecond', ${id})`,
      );
    }
    const rows = await query
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(filter.limit + 1)
      .execute();
    const page = rows.slice(0, filter.limit);
    const last = page[page.length - 1];
    return {
      items: page.map(toSummary),
      nextCursor:
        rows.length > filter.limit && last ? encodeCursor([last.created_us, last.id]) : null,
    };
  }

  async get(messageId: string): Promise<MessageDetail | undefined> {
    const row = await this.db
      .selectFrom('messages')
      .selectAll()
      .where('id', '=', messageId)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      ...toSummary(row),
      trace: row.trace as TraceEntry[],
      deliveryStatus: row.delivery_status,
    };
  }

  /** The provider events applied to the message, in the order they happened. */
  async providerEventsOf(messageId: string): Promise<ProviderEventEntry[]> {
    const rows = await this.db
      .selectFrom('provider_events')
      .selectAll()
      .where('message_id', '=', messageId)
      .orderBy('occurred_at')
      .orderBy('applied_at')
      .limit(500)
      .execute();
    return rows.map((row) => ({
      provider: row.provider,
      eventId: row.event_id,
      channel: row.channel,
      type: row.type,
      outcome: row.outcome,
      providerStatus: row.provider_status,
      errorCode: row.error_code,
      detail: row.detail,
      effect: row.effect,
      occurredAt: row.occurred_at.toISOString(),
      appliedAt: row.applied_at.toISOString(),
    }));
  }

  /** Messages resent from this one, oldest first. */
  async resendsOf(messageId: string): Promise<MessageSummary[]> {
    const rows = await this.db
      .selectFrom('messages')
      .selectAll()
      .where('resend_of', '=', messageId)
      .orderBy('created_at')
      .limit(100)
      .execute();
    return rows.map(toSummary);
  }
}

interface SummaryRow {
  id: string;
  customer_id: string;
  category: string;
  status: string;
  reason_code: string | null;
  channel: string | null;
  provider: string | null;
  provider_message_id: string | null;
  deferrals: number;
  retries: number;
  source: string;
  resend_of: string | null;
  received_at: Date;
  created_at: Date;
  updated_at: Date;
}

function toSummary(row: SummaryRow): MessageSummary {
  return {
    id: row.id,
    customerId: row.customer_id,
    category: row.category,
    status: row.status,
    reasonCode: row.reason_code,
    channel: row.channel,
    provider: row.provider,
    providerMessageId: row.provider_message_id,
    deferrals: row.deferrals,
    retries: row.retries,
    source: row.source,
    resendOf: row.resend_of,
    receivedAt: row.received_at.toISOString(),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
