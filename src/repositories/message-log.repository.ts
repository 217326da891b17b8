import { Inject, Injectable, Optional } from '@nestjs/common';
import type { DeliveryReceipt, TraceEntry } from '@omnigate/contracts';
import {
  sql,
  type Insertable,
  type Kysely,
  type RawBuilder,
  type Selectable,
  type Transaction,
} from 'kysely';
import { KYSELY } from './database/database';
import { PREPARED } from './database/prepared-statements';
import type { Database, MessageAttemptsTable, MessagesTable } from './database/types';
import type { PlanOverrides } from '../policy/model';
import {
  DEFAULT_BATCHING,
  MicroBatcher,
  STORAGE_BATCHING,
  type BatchingOptions,
  type BatchOutcome,
} from './micro-batcher';
import { heartbeatCutoff } from './instance.repository';
import {
  ReceiptOutboxRepository,
  receiptInsert,
  type OutboxEntry,
} from './receipt-outbox.repository';
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
  /** The command's groupKey, so a cancel by group key finds it. */
  readonly groupKey?: string | null;
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
  readonly groupKey: string | null;
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
  /** Add `trace` to the message's trace instead of replacing it (a step that continues it). */
  readonly appendTrace?: boolean;
  /** Absent: the step changes the message's state and tells the consumers nothing new. */
  readonly receipt?: DeliveryReceipt;
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

/** What taking a message for its escalation job found. */
export interface EscalationClaim {
  readonly outcome: ClaimOutcome;
  /** The channels the message was attempted on so far. */
  readonly used: readonly string[];
  /** Its strongest delivered/read receipt; null when it has none. */
  readonly reached: 'delivered' | 'read' | null;
}

/** Status of a message a cancel withdrew before it was handed to a provider. */
export const CANCELLED = 'cancelled';

/**
 * The message was cancelled before this run handed it to a provider: no attempt was written and
 * the provider must not be called. The cancel settled the message already; the run just stops.
 */
export class MessageCancelledError extends Error {
  override readonly name = 'MessageCancelledError';
  constructor(readonly messageId: string) {
    super(`message ${messageId} was cancelled before it was handed to a provider`);
  }
}

/** This instance no longer owns the message it tried to settle: another took it over. */
export class OwnershipLostError extends Error {
  override readonly name = 'OwnershipLostError';
  constructor(readonly messageId: string) {
    super(`message ${messageId} was taken over by another instance before it was settled`);
  }
}

interface ClaimCall {
  readonly message: NewMessage;
  readonly owner: string;
  readonly staleAfterMs: number;
}

interface FinishCall {
  readonly id: string;
  readonly result: AttemptResult;
}

export interface AttemptStart {
  readonly messageId: string;
  readonly channel: string;
  readonly provider: string;
  readonly owner: string;
  readonly startedAt: Date;
}

export interface AttemptResult {
  readonly outcome: 'accepted' | 'failed';
  readonly finishedAt: Date;
  readonly errorKind?: string;
  readonly vendorCode?: string;
  readonly providerMessageId?: string;
  readonly detail?: string;
}

/**
 * The message log in PostgreSQL: the idempotency claim on each command id, each provider attempt
 * (written before the call, completed after it), and each status change with its receipt, written
 * in one transaction with the message's new state so the receipts outbox never misses one.
 *
 * Concurrent calls of claim, startAttempt, finishAttempt and settle share their statements (see
 * MicroBatcher): many claims are one multi-row insert, many settles one transaction (a group
 * commit). Each caller still gets its own answer, as if it had been alone.
 */
@Injectable()
export class MessageLogRepository {
  private readonly claims: MicroBatcher<ClaimCall, ClaimOutcome>;
  private readonly starts: MicroBatcher<AttemptStart, string>;
  private readonly finishes: MicroBatcher<FinishCall, void>;
  private readonly settlements: MicroBatcher<Settlement, boolean>;

  constructor(
    @Inject(KYSELY) private readonly db: Kysely<Database>,
    private readonly outbox: ReceiptOutboxRepository,
    private readonly scheduler: SchedulerRepository,
    @Optional() @Inject(STORAGE_BATCHING) batching: BatchingOptions = DEFAULT_BATCHING,
  ) {
    this.claims = new MicroBatcher((calls) => this.claimBatch(calls), batching, 'claim');
    this.starts = new MicroBatcher((calls) => this.startBatch(calls), batching, 'attempt_start');
    this.finishes = new MicroBatcher(
      (calls) => this.finishBatch(calls),
      batching,
      'attempt_finish',
    );
    this.settlements = new MicroBatcher((calls) => this.settleBatch(calls), batching, 'settle');
  }

  /**
   * Claims `message.id` for `owner`. A repeat of the id is told apart from a redelivery of the same
   * record by its source position; a redelivered message whose owner is gone is taken over.
   */
  async claim(message: NewMessage, owner: string, staleAfterMs: number): Promise<ClaimOutcome> {
    return this.claims.call({ message, owner, staleAfterMs });
  }

  /**
   * Claims in three steps, each shared by the batch: one multi-row insert of every new id (the
   * first call of an id in the batch inserts it; a later one meets that row, as it would have
   * had it come later); one read of the ids that were there already, which settles repeats
   * (conflict, duplicate, settled: answers that write nothing); and for a redelivery of a message
   * still processing, the locked takeover of claimAlone, one message at a time.
   */
  private async claimBatch(
    calls: readonly ClaimCall[],
  ): Promise<Array<BatchOutcome<ClaimOutcome>>> {
    const firstOf = new Map<string, number>();
    calls.forEach((call, index) => {
      if (!firstOf.has(call.message.id)) firstOf.set(call.message.id, index);
    });
    const firsts = [...firstOf.values()].map((index) => calls[index]!);
    const column = <T>(pick: (call: ClaimCall) => T): T[] => firsts.map(pick);
    // Columns as arrays: one statement text for every batch size (see settleBatch).
    const inserted = new Set(
      (
        await sql<{ id: string }>`${PREPARED}
          insert into messages (id, customer_id, category, payload_hash, sealed_command, status,
            source, owner, received_at, resend_of, overrides, traceparent, group_key)
          select v.id, v.customer_id, v.category, v.payload_hash, v.sealed_command, ${PROCESSING},
            v.source, v.owner, v.received_at::timestamptz, v.resend_of, v.overrides::jsonb,
            v.traceparent, v.group_key
          from unnest(
            ${column((c) => c.message.id)}::text[], ${column((c) => c.message.customerId)}::text[],
            ${column((c) => c.message.category)}::text[],
            ${column((c) => c.message.payloadHash)}::text[],
            ${column((c) => c.message.sealedCommand)}::text[],
            ${column((c) => c.message.source)}::text[], ${column((c) => c.owner)}::text[],
            ${column((c) => c.message.receivedAt.toISOString())}::text[],
            ${column((c) => c.message.resendOf ?? null)}::text[],
            ${column((c) => (c.message.overrides === undefined ? null : JSON.stringify(c.message.overrides)))}::text[],
            ${column((c) => c.message.traceparent ?? null)}::text[],
            ${column((c) => c.message.groupKey ?? null)}::text[]
          ) as v(id, customer_id, category, payload_hash, sealed_command, source, owner,
            received_at, resend_of, overrides, traceparent, group_key)
          on conflict (id) do nothing
          returning id
        `.execute(this.db)
      ).rows.map((row) => row.id),
    );
    const outcomes: Array<BatchOutcome<ClaimOutcome> | undefined> = calls.map((call, index) =>
      inserted.has(call.message.id) && firstOf.get(call.message.id) === index
        ? { value: { kind: 'claimed' } }
        : undefined,
    );
    const repeated = [...new Set(calls.filter((_, i) => !outcomes[i]).map((c) => c.message.id))];
    if (repeated.length === 0) return outcomes as Array<BatchOutcome<ClaimOutcome>>;
    const rows = await this.db
      .selectFrom('messages')
      .selectAll()
      .where('id', 'in', repeated)
      .execute();
    const existing = new Map(rows.map((row) => [row.id, toMessage(row)]));
    // What needs the lock: one chain per id, so two calls of an id run in their order.
    const locked = new Map<string, number[]>();
    calls.forEach((call, index) => {
      if (outcomes[index]) return;
      const found = existing.get(call.message.id);
      const answer = found && classifyRepeat(found, call.message);
      if (answer) outcomes[index] = { value: answer };
      else locked.set(call.message.id, [...(locked.get(call.message.id) ?? []), index]);
    });
    await Promise.all(
      [...locked.values()].map(async (indexes) => {
        for (const index of indexes) {
          const { message, owner, staleAfterMs } = calls[index]!;
          try {
            outcomes[index] = { value: await this.claimAlone(message, owner, staleAfterMs) };
          } catch (error) {
            outcomes[index] = { error };
          }
        }
      }),
    );
    return outcomes as Array<BatchOutcome<ClaimOutcome>>;
  }

  /** One claim in its own transaction, the repeat read under the row's lock. */
  private async claimAlone(
    message: NewMessage,
    owner: string,
    staleAfterMs: number,
  ): Promise<ClaimOutcome> {
    return this.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('messages')
        .values(claimRow({ message, owner, staleAfterMs }))
        .onConflict((conflict) => conflict.column('id').doNothing())
        .returning('id')
        .executeTakeFirst();
      if (inserted) return { kind: 'claimed' };
      const existing = await this.lockMessage(trx, message.id);
      if (!existing) throw new Error(`message ${message.id} vanished while being claimed`);
      return (
        classifyRepeat(existing, message) ?? this.takeOverLocked(trx, existing, owner, staleAfterMs)
      );
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

  /**
   * Takes a message for its escalation job: one settled `sent` on `sentOn` (the channel the job
   * moves away from), or one an escalation run left in flight (a dead instance's is taken over, a
   * live one's is busy). Anything else has moved on (settled). Answers, from the same
   * transaction, the channels the message has used (its attempts) and the strongest of its
   * delivered/read receipts. Null when the message no longer exists.
   */
  async takeForEscalation(
    messageId: string,
    owner: string,
    staleAfterMs: number,
    sentOn: string,
  ): Promise<EscalationClaim | null> {
    return this.db.transaction().execute(async (trx) => {
      const existing = await this.lockMessage(trx, messageId);
      if (!existing) return null;
      const receipts = await trx
        .selectFrom('message_events')
        .select('status')
        .distinct()
        .where('message_id', '=', messageId)
        .where('status', 'in', ['delivered', 'read'])
        .execute();
      const statuses = receipts.map((row) => row.status);
      const reached = statuses.includes('read')
        ? 'read'
        : statuses.includes('delivered')
          ? 'delivered'
          : null;
      const used = (
        await trx
          .selectFrom('message_attempts')
          .select('channel')
          .distinct()
          .where('message_id', '=', messageId)
          .execute()
      ).map((row) => row.channel);
      let outcome: ClaimOutcome;
      if (existing.status === 'sent' && existing.channel === sentOn) {
        await trx
          .updateTable('messages')
          .set({ status: PROCESSING, owner, updated_at: new Date() })
          .where('id', '=', messageId)
          .execute();
        outcome = {
          kind: 'taken_over',
          message: { ...existing, status: PROCESSING, owner },
          abandoned: [],
          accepted: undefined,
        };
      } else if (existing.status === PROCESSING) {
        outcome = await this.takeOverLocked(trx, existing, owner, staleAfterMs);
      } else {
        outcome = { kind: 'settled', message: existing };
      }
      return { outcome, used, reached };
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
  async startAttempt(input: AttemptStart): Promise<string> {
    return this.starts.call(input);
  }

  async finishAttempt(id: string, result: AttemptResult): Promise<void> {
    return this.finishes.call({ id, result });
  }

  /**
   * The hand-over point that a cancel races with: under the lock of the messages (taken in id
   * order, as settle does, and as a cancel takes it), a message a cancel settled is refused with
   * MessageCancelledError and gets no attempt; the others get theirs in one multi-row insert.
   * Lock and insert are one statement, so the locks go as it ends (see settleInOneStatement).
   * Attempt ids come from the sequence in row order, which pairs them back.
   */
  private async startBatch(calls: readonly AttemptStart[]): Promise<Array<BatchOutcome<string>>> {
    const ids = [...new Set(calls.map((call) => call.messageId))];
    // Ids come from the sequence in the order the rows are inserted: WITH ORDINALITY and ORDER BY
    // make that the calls' order.
    const { rows } = await sql<{
      cancelled: boolean;
      id: string | number | bigint | null;
      message_id: string;
    }>`${PREPARED}
      with locked as materialized (
        select id, status from messages where id = any(${ids}::text[]) order by id for update
      ),
      started as (
        insert into message_attempts (message_id, channel, provider, owner, started_at)
        select v.message_id, v.channel, v.provider, v.owner, v.started_at::timestamptz
        from unnest(
          ${calls.map((input) => input.messageId)}::text[],
          ${calls.map((input) => input.channel)}::text[],
          ${calls.map((input) => input.provider)}::text[],
          ${calls.map((input) => input.owner)}::text[],
          ${calls.map((input) => input.startedAt.toISOString())}::text[]
        ) with ordinality as v(message_id, channel, provider, owner, started_at, n)
        where not exists (
          select 1 from locked where locked.id = v.message_id and locked.status = ${CANCELLED}
        )
        order by v.n
        returning id, message_id
      )
      select true as cancelled, null::bigint as id, id as message_id
        from locked where status = ${CANCELLED}
      union all
      select false, id, message_id from started
    `.execute(this.db);
    const cancelled = new Set(rows.filter((row) => row.cancelled).map((row) => row.message_id));
    const ordered = rows
      .filter((row) => !row.cancelled)
      .map((row) => ({ id: BigInt(row.id!), messageId: row.message_id }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    let next = 0;
    return calls.map((call, index): BatchOutcome<string> => {
      if (cancelled.has(call.messageId)) {
        return { error: new MessageCancelledError(call.messageId) };
      }
      const row = ordered[next];
      next += 1;
      if (row?.messageId !== call.messageId) {
        throw new Error(`attempt rows came back out of order (${call.messageId} at ${index})`);
      }
      return { value: String(row.id) };
    });
  }

  /** One UPDATE … FROM unnest(…); of two results for one attempt, the later one stands. */
  private async finishBatch(calls: readonly FinishCall[]): Promise<Array<BatchOutcome<void>>> {
    const last = [...new Map(calls.map((call) => [call.id, call.result]))];
    const column = <T>(pick: (result: AttemptResult) => T): T[] => last.map(([, r]) => pick(r));
    await sql`${PREPARED}
      update message_attempts set
        outcome = v.outcome, finished_at = v.finished_at::timestamptz, error_kind = v.error_kind,
        vendor_code = v.vendor_code, provider_message_id = v.provider_message_id, detail = v.detail
      from unnest(
        ${last.map(([id]) => id)}::text[], ${column((r) => r.outcome)}::text[],
        ${column((r) => r.finishedAt.toISOString())}::text[], ${column((r) => r.errorKind ?? null)}::text[],
        ${column((r) => r.vendorCode ?? null)}::text[],
        ${column((r) => r.providerMessageId ?? null)}::text[],
        ${column((r) => r.detail?.slice(0, 1000) ?? null)}::text[]
      ) as v(id, outcome, finished_at, error_kind, vendor_code, provider_message_id, detail)
      where message_attempts.id = v.id::bigint
    `.execute(this.db);
    return calls.map(() => ({ value: undefined }));
  }

  /**
   * Records where a step of the message ended, in one transaction: the message's new state, its
   * receipt in the outbox, the job that continues it and the completion of the job it came from.
   * Answers whether a receipt was written. Throws OwnershipLostError, and writes nothing, when
   * `owner` no longer holds the message.
   */
  async settle(settlement: Settlement): Promise<boolean> {
    return this.settlements.call(settlement);
  }

  /**
   * A group commit. Settlements that only change the message and write its receipt (most of them)
   * share one statement; those that also touch the scheduler or read the last receipt share one
   * transaction. In both, the messages are locked in id order (two groups cannot deadlock), a
   * settlement whose owner lost the message is answered OwnershipLostError alone and writes
   * nothing, and a failure fails every settlement of that statement or transaction, which then
   * writes nothing. A message with settlements of both kinds in the batch goes to the transaction.
   */
  private async settleBatch(
    settlements: readonly Settlement[],
  ): Promise<Array<BatchOutcome<boolean>>> {
    const needsTransaction = new Set(
      settlements.filter((s) => !isPlainSettlement(s)).map((s) => s.messageId),
    );
    const outcomes = new Array<BatchOutcome<boolean>>(settlements.length);
    const settleGroup = async (
      inTransaction: boolean,
      settle: (group: readonly Settlement[]) => Promise<Array<BatchOutcome<boolean>>>,
    ): Promise<void> => {
      const indexes = settlements.flatMap((s, index) =>
        needsTransaction.has(s.messageId) === inTransaction ? [index] : [],
      );
      if (indexes.length === 0) return;
      const group = indexes.map((index) => settlements[index]!);
      const answers = await settle(group).catch((error: unknown) => group.map(() => ({ error })));
      answers.forEach((answer, i) => (outcomes[indexes[i]!] = answer));
    };
    await Promise.all([
      settleGroup(false, (group) => this.settleInOneStatement(group)),
      settleGroup(true, (group) => this.settleInTransaction(group)),
    ]);
    return outcomes;
  }

  /**
   * Settlements without scheduler work or a repeat check, in one statement: lock (in id order),
   * update and receipts are one implicit transaction that commits as the statement ends. As a
   * transaction of three statements it took four round trips, and under load its rows stayed
   * locked 70-180 ms while this busy process got round to sending the next one (pg_stat_activity:
   * "idle in transaction").
   */
  private async settleInOneStatement(
    settlements: readonly Settlement[],
  ): Promise<Array<BatchOutcome<boolean>>> {
    // Settling gives the message up: a second settlement of it in this group comes too late.
    const first = new Map<string, Settlement>();
    for (const settlement of settlements) {
      if (!first.has(settlement.messageId)) first.set(settlement.messageId, settlement);
    }
    const owned = [...first.values()];
    const receipts = owned.flatMap((s) => (s.receipt ? [outboxEntry(s, s.receipt)] : []));
    const { rows } = await sql<{ id: string }>`${PREPARED}
      with locked as materialized (
        select id, owner from messages
        where id = any(${owned.map((s) => s.messageId)}::text[])
        order by id
        for update
      ),
      settled as (
        ${settleUpdate(owned, sql`join locked on locked.id = v.id and locked.owner = v.owner`)}
        returning messages.id
      )${
        receipts.length === 0
          ? sql``
          : sql`,
      receipts as (${receiptInsert(receipts, sql`select id from settled`)})`
      }
      select id from settled
    `.execute(this.db);
    const settled = new Set(rows.map((row) => row.id));
    return settlements.map((settlement) =>
      first.get(settlement.messageId) === settlement && settled.has(settlement.messageId)
        ? { value: settlement.receipt !== undefined }
        : { error: new OwnershipLostError(settlement.messageId) },
    );
  }

  /** Settlements with scheduler work or a repeat check: one transaction for the group. */
  private async settleInTransaction(
    settlements: readonly Settlement[],
  ): Promise<Array<BatchOutcome<boolean>>> {
    return this.db.transaction().execute(async (trx) => {
      const ids = [...new Set(settlements.map((s) => s.messageId))].sort();
      const rows = await trx
        .selectFrom('messages')
        .select(['id', 'owner'])
        .where('id', 'in', ids)
        .orderBy('id')
        .forUpdate()
        .execute();
      const owners = new Map(rows.map((row) => [row.id, row.owner]));
      const owned: Array<Settlement & { readonly index: number }> = [];
      const outcomes: Array<BatchOutcome<boolean>> = settlements.map((settlement, index) => {
        if (owners.get(settlement.messageId) !== settlement.owner) {
          return { error: new OwnershipLostError(settlement.messageId) };
        }
        // Settling gives the message up: a second settlement of it in this group comes too late.
        owners.set(settlement.messageId, null);
        owned.push({ ...settlement, index });
        return { value: true };
      });
      if (owned.length === 0) return outcomes;
      await settleUpdate(owned, sql``).execute(trx);
      const receipts: OutboxEntry[] = [];
      for (const settlement of owned) {
        // Completed before the follow-up is scheduled: a job that schedules its own successor
        // under the same dedupe key (an escalation after an escalation) must not meet itself.
        if (settlement.completeJob) {
          await this.scheduler.complete(
            settlement.completeJob.id,
            settlement.completeJob.workerId,
            trx,
          );
        }
        if (settlement.schedule) await this.scheduler.schedule(settlement.schedule, trx);
        if (!settlement.receipt) {
          outcomes[settlement.index] = { value: false };
          continue;
        }
        const repeated =
          settlement.quietIfRepeated === true &&
          (await this.lastEventMatches(
            trx,
            settlement.messageId,
            settlement.status,
            settlement.reasonCode,
          ));
        if (repeated) {
          outcomes[settlement.index] = { value: false };
          continue;
        }
        receipts.push(outboxEntry(settlement, settlement.receipt));
      }
      await this.outbox.enqueue(receipts, trx);
      return outcomes;
    });
  }

  /**
   * Deletes what is older than `cutoff`, in batches: messages nobody is working on, with their
   * attempts, receipts already published and provider reports. Answers how many messages went.
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
    // The provider reports go with their messages; suppressions stay (an address that bounced
    // or replied STOP does not come back by time passing).
    await this.db.deleteFrom('provider_events').where('received_at', '<', cutoff).execute();
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
        .where('heartbeat_at', '>', heartbeatCutoff(staleAfterMs))
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

function claimRow({ message, owner }: ClaimCall): Insertable<MessagesTable> {
  return {
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
    group_key: message.groupKey ?? null,
  };
}

/**
 * What a claim of an id that exists already means, when it writes nothing: another payload, a
 * repeat from another record, or a redelivery of a settled message. Undefined: a redelivery of a
 * message still processing, which the takeover decides under the row's lock.
 */
function classifyRepeat(existing: StoredMessage, message: NewMessage): ClaimOutcome | undefined {
  const samePayload =
    existing.payloadHash === message.payloadHash ||
    (message.earlierPayloadHashes ?? []).includes(existing.payloadHash);
  if (!samePayload) return { kind: 'conflict', message: existing };
  if (existing.source !== message.source) return { kind: 'duplicate', message: existing };
  if (existing.status !== PROCESSING) return { kind: 'settled', message: existing };
  return undefined;
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
    groupKey: row.group_key,
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

/** A settlement that only changes its message and writes its receipt: no scheduler work, no read. */
function isPlainSettlement(settlement: Settlement): boolean {
  return (
    settlement.schedule === undefined &&
    settlement.completeJob === undefined &&
    settlement.quietIfRepeated !== true
  );
}

/** The outbox row of a settlement's receipt. */
function outboxEntry(settlement: Settlement, receipt: DeliveryReceipt): OutboxEntry {
  return { receipt, key: settlement.kafkaKey, traceparent: settlement.traceparent ?? null };
}

/**
 * The update that settles messages, one row of `settlements` each (one per message), stamped now;
 * `guard` joins the values to what they may only update (or is empty). Columns as arrays: the
 * statement's text is the same for every batch size, so neither side builds or parses a list of
 * thousands of parameters.
 */
function settleUpdate(
  settlements: readonly Settlement[],
  guard: RawBuilder<unknown>,
): RawBuilder<unknown> {
  const column = <T>(pick: (settlement: Settlement) => T): T[] => settlements.map(pick);
  return sql`
    update messages set
      status = v.status, reason_code = v.reason_code, channel = v.channel,
      provider = v.provider, provider_message_id = v.provider_message_id,
      trace = case when v.append_trace then messages.trace || v.trace::jsonb
        else v.trace::jsonb end,
      owner = null, deferrals = v.deferrals, retries = v.retries, updated_at = ${new Date()}
    from unnest(
      ${column((s) => s.messageId)}::text[], ${column((s) => s.owner)}::text[],
      ${column((s) => s.status)}::text[], ${column((s) => s.reasonCode)}::text[],
      ${column((s) => s.channel)}::text[], ${column((s) => s.provider)}::text[],
      ${column((s) => s.providerMessageId)}::text[],
      ${column((s) => JSON.stringify(s.trace))}::text[],
      ${column((s) => s.appendTrace === true)}::boolean[],
      ${column((s) => s.deferrals)}::int[], ${column((s) => s.retries)}::int[]
    ) as v(id, owner, status, reason_code, channel, provider, provider_message_id, trace,
      append_trace, deferrals, retries)
    ${guard}
    where messages.id = v.id
  `;
}
