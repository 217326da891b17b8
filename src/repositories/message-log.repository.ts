import { Inject, Injectable } from '@nestjs/common';
import type { DeliveryReceipt, TraceEntry } from '@omnigate/contracts';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { KYSELY } from './database/database';
import type { Database, MessageAttemptsTable, MessagesTable } from './database/types';
import type { PlanOverrides } from '../policy/model';
import { ReceiptOutboxRepository } from './receipt-outbox.repository';
import { SchedulerRepository, type ScheduleRequest } from './scheduler.repository';

/** Status of a message that an instance is working on right now. */
export const PROCESSING = 'processing';

export interface NewMessage {
  readonly id: string;
  readonly customerId: string;
  readonly category: string;
  readonly payloadHash: string;
  /** What the same payload hashed to before (a previous key, or unkeyed): still a repeat. */
  readonly earlierPayloadHashes?: readonly string[];
  readonly sealedCommand: string;
  /** topic:partition:offset of the record that claimed the id. */
  readonly source: string;
  readonly receivedAt: Date;
  readonly resendOf?: string;
  /** An admin's audited overrides; kept with the message so every later run applies them. */
  readonly overrides?: PlanOverrides;
  /** The W3C traceparent the command arrived with. */
  readonly traceparent?: string | null;
}

export interface StoredMessage {
  readonly id: string;
  readonly customerId: string;
  readonly category: string;
  readonly payloadHash: string;
  readonly sealedCommand: string;
  readonly status: string;
  readonly reasonCode: string | null;
  readonly channel: string | null;
  readonly provider: string | null;
  readonly providerMessageId: string | null;
  readonly source: string;
  readonly owner: string | null;
  readonly deferrals: number;
  readonly retries: number;
  readonly receivedAt: Date;
  readonly resendOf: string | null;
  readonly overrides: PlanOverrides | null;
  readonly traceparent: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export type AttemptOutcome = 'accepted' | 'failed' | 'abandoned';

export interface AttemptRecord {
  readonly id: string;
  readonly messageId: string;
  readonly channel: string;
  readonly provider: string;
  readonly owner: string;
  readonly startedAt: Date;
  readonly finishedAt: Date | null;
  /** null: the call was in flight when this was read. */
  readonly outcome: AttemptOutcome | null;
  readonly errorKind: string | null;
  readonly vendorCode: string | null;
  readonly providerMessageId: string | null;
  readonly detail: string | null;
}

/** What claiming a command id found. */
export type ClaimOutcome =
  /** The id was new: this instance owns the message now. */
  | { readonly kind: 'claimed' }
  /**
   * The message was left unfinished by a dead instance (or by an earlier failed run of this one)
   * and is this instance's now. `abandoned`: the attempts that were in flight, now marked so;
   * `accepted`: an attempt a provider accepted although the message was never settled.
   */
  | {
      readonly kind: 'taken_over';
      readonly message: StoredMessage;
      readonly abandoned: readonly AttemptRecord[];
      readonly accepted: AttemptRecord | undefined;
    }
  /** A live instance is working on it. */
  | { readonly kind: 'busy'; readonly message: StoredMessage }
  /** Nothing left to do here: settled, or waiting in the scheduler. */
  | { readonly kind: 'settled'; readonly message: StoredMessage }
  /** Another record with the same payload claimed the id before. */
  | { readonly kind: 'duplicate'; readonly message: StoredMessage }
  /** Another record with a different payload claimed the id before. */
  | { readonly kind: 'conflict'; readonly message: StoredMessage };

export interface Settlement {
  readonly messageId: string;
  readonly owner: string;
  readonly status: string;
  readonly reasonCode: string | null;
  readonly channel: string | null;
  readonly provider: string | null;
  readonly providerMessageId: string | null;
  readonly trace: readonly TraceEntry[];
  readonly receipt: DeliveryReceipt;
  readonly kafkaKey: string;
  /** The trace of the run that settles it, for the receipt's headers. */
  readonly traceparent?: string | null;
  readonly deferrals: number;
  readonly retries: number;
  /**
   * Publish nothing when the last receipt had this status and reason already (a message that is
   * still waiting for its sender's rate): the state changes, the consumers learn nothing new.
   */
  readonly quietIfRepeated?: boolean;
  /** The scheduler job that continues the message (a deferral), written in the same transaction. */
  readonly schedule?: ScheduleRequest;
  /** The scheduler job this run came from, completed in the same transaction. */
  readonly completeJob?: { readonly id: string; readonly workerId: string };
}

/** This instance no longer owns the message it tried to settle: another took it over. */
export class OwnershipLostError extends Error {
  override readonly name = 'OwnershipLostError';
  constructor(readonly messageId: string) {
    super(`message ${messageId} was taken over by another instance before it was settled`);
  }
}

/**
 * The message log in PostgreSQL: the idempotency claim on each command id, each provider attempt
 * (written before the call, completed after it), and each status change with its receipt, written
 * in one transaction with the message's new state so the receipts outbox never misses one.
 */
@Injectable()
export class MessageLogRepository {
  constructor(
    @Inject(KYSELY) private readonly db: Kysely<Database>,
    private readonly outbox: ReceiptOutboxRepository,
    private readonly scheduler: SchedulerRepository,
  ) {}

  /**
   * Claims `message.id` for `owner`. A repeat of the id is told apart from a redelivery of the same
   * record by its source position; a redelivered message whose owner is gone is taken over.
   */
  async claim(message: NewMessage, owner: string, staleAfterMs: number): Promise<ClaimOutcome> {
    return this.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('messages')
        .values({
          id: message.id,
          customer_id: message.customerId,
          category: message.category,
          payload_hash: message.payloadHash,
          sealed_command: message.sealedCommand,
          status: PROCESSING,
          source: message.source,
          owner,
          received_at: message.receivedAt,
          resend_of: message.resendOf ?? null,
          overrides: message.overrides === undefined ? null : JSON.stringify(message.overrides),
          traceparent: message.traceparent ?? null,
        })
        .onConflict((conflict) => conflict.column('id').doNothing())
        .returning('id')
        .executeTakeFirst();
      if (inserted) return { kind: 'claimed' };
      const existing = await this.lockMessage(trx, message.id);
      if (!existing) throw new Error(`message ${message.id} vanished while being claimed`);
      const samePayload =
        existing.payloadHash === message.payloadHash ||
        (message.earlierPayloadHashes ?? []).includes(existing.payloadHash);
      if (!samePayload) return { kind: 'conflict', message: existing };
      if (existing.source !== message.source) return { kind: 'duplicate', message: existing };
      if (existing.status !== PROCESSING) return { kind: 'settled', message: existing };
      return this.takeOverLocked(trx, existing, owner, staleAfterMs);
    });
  }

  /**
   * Takes a message for a scheduler job: one waiting in the scheduler, or one left in flight by a
   * dead instance. Answers null when the message no longer exists (purged).
   */
  async takeOver(
    messageId: string,
    owner: string,
    staleAfterMs: number,
    options: { readonly fromDeferred: boolean },
  ): Promise<ClaimOutcome | null> {
    return this.db.transaction().execute(async (trx) => {
      const existing = await this.lockMessage(trx, messageId);
      if (!existing) return null;
      if (existing.status === 'deferred' && options.fromDeferred) {
        await trx
          .updateTable('messages')
          .set({ status: PROCESSING, owner, updated_at: new Date() })
          .where('id', '=', messageId)
          .execute();
        return {
          kind: 'taken_over',
          message: { ...existing, status: PROCESSING, owner },
          abandoned: [],
          accepted: undefined,
        };
      }
      if (existing.status !== PROCESSING) return { kind: 'settled', message: existing };
      return this.takeOverLocked(trx, existing, owner, staleAfterMs);
    });
  }

  async get(messageId: string): Promise<StoredMessage | undefined> {
    const row = await this.db
      .selectFrom('messages')
      .selectAll()
      .where('id', '=', messageId)
      .executeTakeFirst();
    return row ? toMessage(row) : undefined;
  }

  async attempts(messageId: string): Promise<AttemptRecord[]> {
    return this.attemptsOf(this.db, messageId);
  }

  /** Writes an attempt as in flight, before the provider call; answers its id. */
  async startAttempt(input: {
    messageId: string;
    channel: string;
    provider: string;
    owner: string;
    startedAt: Date;
  }): Promise<string> {
    const row = await this.db
      .insertInto('message_attempts')
      .values({
        message_id: input.messageId,
        channel: input.channel,
        provider: input.provider,
        owner: input.owner,
        started_at: input.startedAt,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return String(row.id);
  }

  async finishAttempt(
    id: string,
    result: {
      outcome: 'accepted' | 'failed';
      finishedAt: Date;
      errorKind?: string;
      vendorCode?: string;
      providerMessageId?: string;
      detail?: string;
    },
  ): Promise<void> {
    await this.db
      .updateTable('message_attempts')
      .set({
        outcome: result.outcome,
        finished_at: result.finishedAt,
        error_kind: result.errorKind ?? null,
        vendor_code: result.vendorCode ?? null,
        provider_message_id: result.providerMessageId ?? null,
        detail: result.detail?.slice(0, 1000) ?? null,
      })
      .where('id', '=', id)
      .execute();
  }

  /**
   * Records where a step of the message ended, in one transaction: the message's new state, its
   * receipt in the outbox, the job that continues it and the completion of the job it came from.
   * Answers whether a receipt was written.
   */
  async settle(settlement: Settlement): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const current = await this.lockMessage(trx, settlement.messageId);
      if (!current || current.owner !== settlement.owner) {
        throw new OwnershipLostError(settlement.messageId);
      }
      await trx
        .updateTable('messages')
        .set({
          status: settlement.status,
          reason_code: settlement.reasonCode,
          channel: settlement.channel,
          provider: settlement.provider,
          provider_message_id: settlement.providerMessageId,
          trace: JSON.stringify(settlement.trace),
          owner: null,
          deferrals: settlement.deferrals,
          retries: settlement.retries,
          updated_at: new Date(),
        })
        .where('id', '=', settlement.messageId)
        .execute();
      if (settlement.schedule) await this.scheduler.schedule(settlement.schedule, trx);
      if (settlement.completeJob) {
        await this.scheduler.complete(
          settlement.completeJob.id,
          settlement.completeJob.workerId,
          trx,
        );
      }
      const repeated =
        settlement.quietIfRepeated === true &&
        (await this.lastEventMatches(
          trx,
          settlement.messageId,
          settlement.status,
          settlement.reasonCode,
        ));
      if (repeated) return false;
      await this.outbox.enqueue(
        [
          {
            receipt: settlement.receipt,
            key: settlement.kafkaKey,
            traceparent: settlement.traceparent ?? null,
          },
        ],
        trx,
      );
      return true;
    });
  }

  /**
   * Deletes what is older than `cutoff`, in batches: messages nobody is working on, with their
   * attempts, and receipts already published. Answers how many messages went.
   */
  async purgeOlderThan(cutoff: Date, batchSize = 1000): Promise<number> {
    let purged = 0;
    for (;;) {
      const ids = await this.db
        .selectFrom('messages')
        .select('id')
        .where('created_at', '<', cutoff)
        .where('status', '!=', PROCESSING)
        .limit(batchSize)
        .execute();
      if (ids.length === 0) break;
      const list = ids.map((row) => row.id);
      await this.db.transaction().execute(async (trx) => {
        await trx.deleteFrom('message_attempts').where('message_id', 'in', list).execute();
        await trx.deleteFrom('messages').where('id', 'in', list).execute();
      });
      purged += list.length;
      if (ids.length < batchSize) break;
    }
    await this.outbox.purgePublishedBefore(cutoff);
    return purged;
  }

  private async takeOverLocked(
    trx: Transaction<Database>,
    existing: StoredMessage,
    owner: string,
    staleAfterMs: number,
  ): Promise<ClaimOutcome> {
    if (existing.owner !== owner && existing.owner !== null) {
      const alive = await trx
        .selectFrom('gateway_instances')
        .select('id')
        .where('id', '=', existing.owner)
        .where(
          'heartbeat_at',
          '>',
          sql<Date>`now() - make_interval(secs => ${staleAfterMs / 1000})`,
        )
        .executeTakeFirst();
      if (alive) return { kind: 'busy', message: existing };
    }
    const now = new Date();
    const abandoned = await trx
      .updateTable('message_attempts')
      .set({ outcome: 'abandoned', finished_at: now })
      .where('message_id', '=', existing.id)
      .where('outcome', 'is', null)
      .returningAll()
      .execute();
    const accepted = await trx
      .selectFrom('message_attempts')
      .selectAll()
      .where('message_id', '=', existing.id)
      .where('outcome', '=', 'accepted')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    await trx
      .updateTable('messages')
      .set({ owner, updated_at: now })
      .where('id', '=', existing.id)
      .execute();
    return {
      kind: 'taken_over',
      message: { ...existing, owner },
      abandoned: abandoned.map(toAttempt),
      accepted: accepted ? toAttempt(accepted) : undefined,
    };
  }

  private async lockMessage(
    trx: Transaction<Database>,
    messageId: string,
  ): Promise<StoredMessage | undefined> {
    const row = await trx
      .selectFrom('messages')
      .selectAll()
      .where('id', '=', messageId)
      .forUpdate()
      .executeTakeFirst();
    return row ? toMessage(row) : undefined;
  }

  private async lastEventMatches(
    trx: Transaction<Database>,
    messageId: string,
    status: string,
    reasonCode: string | null,
  ): Promise<boolean> {
    const last = await trx
      .selectFrom('message_events')
      .select(['status', sql<string | null>`receipt->'reason'->>'code'`.as('reason_code')])
      .where('message_id', '=', messageId)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return last?.status === status && last.reason_code === reasonCode;
  }

  private async attemptsOf(db: Kysely<Database>, messageId: string): Promise<AttemptRecord[]> {
    const rows = await db
      .selectFrom('message_attempts')
      .selectAll()
      .where('message_id', '=', messageId)
      .orderBy('id')
      .execute();
    return rows.map(toAttempt);
  }
}

function toMessage(row: Selectable<MessagesTable>): StoredMessage {
  return {
    id: row.id,
    customerId: row.customer_id,
    category: row.category,
    payloadHash: row.payload_hash,
    sealedCommand: row.sealed_command,
    status: row.status,
    reasonCode: row.reason_code,
    channel: row.channel,
    provider: row.provider,
    providerMessageId: row.provider_message_id,
    source: row.source,
    owner: row.owner,
    deferrals: row.deferrals,
    retries: row.retries,
    receivedAt: row.received_at,
    resendOf: row.resend_of,
    overrides: toOverrides(row.overrides),
    traceparent: row.traceparent,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toAttempt(row: Selectable<MessageAttemptsTable>): AttemptRecord {
  return {
    id: String(row.id),
    messageId: row.message_id,
    channel: row.channel,
    provider: row.provider,
    owner: row.owner,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    outcome: row.outcome as AttemptOutcome | null,
    errorKind: row.error_kind,
    vendorCode: row.vendor_code,
    providerMessageId: row.provider_message_id,
    detail: row.detail,
  };
}

/** Only the two known flags, each only when true: a stored row cannot grant more than it says. */
function toOverrides(value: unknown): PlanOverrides | null {
  if (typeof value !== 'object' || value === null) return null;
  const stored = value as Record<string, unknown>;
  const overrides: PlanOverrides = {
    ...(stored.ignoreOptOut === true && { ignoreOptOut: true }),
    ...(stored.ignoreCaps === true && { ignoreCaps: true }),
  };
  return Object.keys(overrides).length > 0 ? overrides : null;
}
