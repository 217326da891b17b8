import { Inject, Injectable } from '@nestjs/common';
import type { Kysely } from 'kysely';
import { KYSELY } from '../repositories/database/database';
import type { Database } from '../repositories/database/types';
import { decodeCursor, encodeCursor } from './cursor';

export interface NewAuditRecord {
  readonly actorId: string;
  readonly actorRole: string;
  readonly action: string;
  readonly messageId: string | null;
  readonly customerId: string | null;
  readonly reason: string;
  readonly details: Readonly<Record<string, unknown>>;
}

export interface AuditRecord extends NewAuditRecord {
  readonly id: string;
  readonly at: string;
}

/** The append-only admin audit log (table admin_audit). */
@Injectable()
export class AdminAuditRepository {
  constructor(@Inject(KYSELY) private readonly db: Kysely<Database>) {}

  /** Writes the record and answers its id, which the resend's message source refers to. */
  async record(entry: NewAuditRecord): Promise<string> {
    const row = await this.db
      .insertInto('admin_audit')
      .values({
        actor_id: entry.actorId,
        actor_role: entry.actorRole,
        action: entry.action,
        message_id: entry.messageId,
        customer_id: entry.customerId,
        reason: entry.reason,
        details: JSON.stringify(entry.details),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return String(row.id);
  }

  /** Amends the details of a record (e.g. the id of the message a resend created). */
  async addDetails(id: string, details: Readonly<Record<string, unknown>>): Promise<void> {
    const current = await this.db
      .selectFrom('admin_audit')
      .select('details')
      .where('id', '=', id)
      .executeTakeFirst();
    if (!current) return;
    await this.db
      .updateTable('admin_audit')
      .set({ details: JSON.stringify({ ...current.details, ...details }) })
      .where('id', '=', id)
      .execute();
  }

  /** Newest first. */
  async list(
    limit: number,
    cursor?: string,
  ): Promise<{ items: AuditRecord[]; nextCursor: string | null }> {
    let query = this.db.selectFrom('admin_audit').selectAll();
    if (cursor !== undefined) {
      const [id] = decodeCursor(cursor, 1) as [string];
      if (!/^\d{1,18}$/.test(id)) decodeCursor('', 1);
      query = query.where('id', '<', Number(id) as unknown as string);
    }
    const rows = await query
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map((row) => ({
        id: String(row.id),
        at: row.at.toISOString(),
        actorId: row.actor_id,
        actorRole: row.actor_role,
        action: row.action,
        messageId: row.message_id,
        customerId: row.customer_id,
        reason: row.reason,
        details: row.details,
      })),
      nextCursor: rows.length > limit && last ? encodeCursor([String(last.id)]) : null,
    };
  }
}
