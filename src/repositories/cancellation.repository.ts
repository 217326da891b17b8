import { Inject, Injectable, Optional } from '@nestjs/common';
import { buildReceipt, type ReceiptReason } from '@omnigate/contracts';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { KYSELY } from './database/database';
import { PREPARED } from './database/prepared-statements';
import type { Database } from './database/types';
import { CANCELLED, PROCESSING } from './message-log.repository';
import {
  DEFAULT_BATCHING,
  MicroBatcher,
  STORAGE_BATCHING,
  type BatchingOptions,
} from './micro-batcher';
import { ReceiptOutboxRepository, type OutboxEntry } from './receipt-outbox.repository';

/** What a cancel found, as counted in omnigate_cancels_total{outcome}. */
export const CANCEL_OUTCOMES = ['cancelled', 'too_late', 'remembered', 'unknown'] as const;
export type CancelOutcome = (typeof CANCEL_OUTCOMES)[number];

export interface CancelRequest {
  readonly cancelId: string;
  readonly customerId: string;
  /** Exactly one of messageId and groupKey. */
  readonly messageId?: string;
  readonly groupKey?: string;
  readonly reason: ReceiptReason;
  readonly requestedBy: string;
  readonly requestedAt: Date;
}

export interface CancelResult {
  readonly cancelId: string;
  readonly outcome: CancelOutcome;
  /** Messages this cancel withdrew (each settled `cancelled` with a CANCELLED receipt). */
  readonly withdrawn: readonly string[];
  /** Messages it matched that were handed to a provider (or settled) already: unchanged. */
  readonly tooLate: readonly string[];
  /** Messages an earlier cancel had withdrawn already. */
  readonly alreadyCancelled: readonly string[];
  /** A repeat of a cancelId seen before: the first answer, nothing done again. */
  readonly repeated: boolean;
  readonly dryRun: boolean;
}

export interface CancelOptions {
  readonly now: Date;
  /** How long a cancel is remembered for a send command that has not arrived yet. */
  readonly rememberForMs: number;
  /** Decide and answer, write nothing. */
  readonly dryRun?: boolean;
}

/** A message that has just been claimed, checked against the remembered cancels. */
export interface ArrivingMessage {
  readonly id: string;
  readonly customerId: string;
  readonly groupKey: string | null;
  readonly owner: string;
}

/** The remembered cancel that withdrew an arriving message. */
export interface AppliedCancel {
  readonly cancelId: string;
  readonly reason: ReceiptReason;
}

/** What the shared check of arriving messages reads of a remembered cancel. */
type RememberedCancel = Pick<
  Selectable<Database['cancel_requests']>,
  'customer_id' | 'message_id' | 'group_key' | 'expires_at'
>;

interface Candidate {
  readonly id: string;
  readonly status: string;
  readonly traceparent: string | null;
  /** An attempt in flight, accepted, or abandoned in flight: a provider may have the message. */
  readonly handedOver: boolean;
}

/**
 * Cancels, decided on the message log's state under each message's row lock: a message waiting
 * (status `deferred`: quiet hours, a cap, a retry backoff, a rate-limit hold) or claimed but not
 * yet handed to a provider (`processing` without an attempt that a provider may have) is settled
 * `cancelled` with its receipt, and its scheduler jobs are deleted, in one transaction. The
 * message log's startAttempt takes the same lock and refuses a cancelled message, so a run racing
 * the cancel either got its attempt first (the cancel is too late) or makes no provider request.
 *
 * Cancels of one customer are serialised with each other and with the remembered-cancel check of
 * an arriving command by a transaction-scoped advisory lock on the customer, so a cancel and the
 * command it names cannot miss each other when they arrive together.
 */
@Injectable()
export class CancellationRepository {
  /** Arriving messages checked together: which of them a remembered cancel may name. */
  private readonly remembered: MicroBatcher<ArrivingMessage & { readonly now: Date }, boolean>;

  constructor(
    @Inject(KYSELY) private readonly db: Kysely<Database>,
    private readonly outbox: ReceiptOutboxRepository,
    @Optional() @Inject(STORAGE_BATCHING) batching: BatchingOptions = DEFAULT_BATCHING,
  ) {
    this.remembered = new MicroBatcher(
      async (calls) => {
        const matches = await this.rememberedFor(calls);
        return calls.map((call) => ({
          value: matches.some(
            (row) =>
              row.customer_id === call.customerId &&
              row.expires_at > call.now &&
              (row.message_id === call.id ||
                (call.groupKey !== null && row.group_key === call.groupKey)),
          ),
        }));
      },
      batching,
      'remembered_cancels',
    );
  }

  async cancel(request: CancelRequest, options: CancelOptions): Promise<CancelResult> {
    const dryRun = options.dryRun === true;
    return this.db.transaction().execute(async (trx) => {
      await lockCustomer(trx, request.customerId);
      const seen = await trx
        .selectFrom('cancel_requests')
        .selectAll()
        .where('cancel_id', '=', request.cancelId)
        .executeTakeFirst();
      if (seen) {
        return {
          cancelId: seen.cancel_id,
          outcome: seen.outcome as CancelOutcome,
          withdrawn: seen.withdrawn,
          tooLate: seen.too_late,
          alreadyCancelled: [],
          repeated: true,
          dryRun,
        };
      }
      const candidates = await this.lockCandidates(trx, request);
      const withdrawn = candidates.filter(isWithdrawable);
      const tooLate = candidates.filter((c) => c.status !== CANCELLED && !withdrawn.includes(c));
      const alreadyCancelled = candidates.filter((c) => c.status === CANCELLED);
      const outcome: CancelOutcome =
        withdrawn.length > 0 || (tooLate.length === 0 && alreadyCancelled.length > 0)
          ? 'cancelled'
          : tooLate.length > 0
            ? 'too_late'
            : request.messageId !== undefined
              ? 'unknown'
              : 'remembered';
      const result: CancelResult = {
        cancelId: request.cancelId,
        outcome,
        withdrawn: withdrawn.map((c) => c.id),
        tooLate: tooLate.map((c) => c.id),
        alreadyCancelled: alreadyCancelled.map((c) => c.id),
        repeated: false,
        dryRun,
      };
      if (dryRun) return result;
      await this.withdraw(trx, request.customerId, withdrawn, request.reason, options.now);
      await trx
        .insertInto('cancel_requests')
        .values({
          cancel_id: request.cancelId,
          customer_id: request.customerId,
          message_id: request.messageId ?? null,
          group_key: request.groupKey ?? null,
          reason_code: request.reason.code,
          reason_message: request.reason.message,
          requested_by: request.requestedBy,
          requested_at: request.requestedAt,
          outcome,
          withdrawn: JSON.stringify(result.withdrawn),
          too_late: JSON.stringify(result.tooLate),
          expires_at: new Date(options.now.getTime() + options.rememberForMs),
        })
        .execute();
      return result;
    });
  }

  /**
   * Run once a command has been claimed, before it is dispatched: a cancel remembered (not yet
   * expired) for its id or its customer's group key withdraws it on arrival. Answers that cancel,
   * or null when none applies or the message is no longer this owner's to withdraw.
   */
  async applyRemembered(message: ArrivingMessage, now: Date): Promise<AppliedCancel | null> {
    // Nearly every command has no cancel waiting for it: a shared check answers that for all the
    // messages arriving together, and only a possible match takes the customer's lock alone.
    if (!(await this.remembered.call({ ...message, now }))) return null;
    return this.db.transaction().execute(async (trx) => {
      await lockCustomer(trx, message.customerId);
      const remembered = await trx
        .selectFrom('cancel_requests')
        .select(['cancel_id', 'reason_code', 'reason_message'])
        .where('customer_id', '=', message.customerId)
        .where('expires_at', '>', now)
        .where((eb) =>
          message.groupKey === null
            ? eb('message_id', '=', message.id)
            : eb.or([eb('message_id', '=', message.id), eb('group_key', '=', message.groupKey)]),
        )
        .orderBy('created_at')
        .limit(1)
        .executeTakeFirst();
      if (!remembered) return null;
      const [candidate] = await this.lockCandidates(trx, {
        customerId: message.customerId,
        messageId: message.id,
      });
      if (!candidate || !isWithdrawable(candidate)) return null;
      const owner = await trx
        .selectFrom('messages')
        .select('owner')
        .where('id', '=', message.id)
        .executeTakeFirst();
      if (owner?.owner !== message.owner) return null;
      const reason = { code: remembered.reason_code, message: remembered.reason_message };
      await this.withdraw(trx, message.customerId, [candidate], reason, now);
      await trx
        .updateTable('cancel_requests')
        .set({ withdrawn: sql`withdrawn || ${JSON.stringify([message.id])}::jsonb` })
        .where('cancel_id', '=', remembered.cancel_id)
        .execute();
      return { cancelId: remembered.cancel_id, reason };
    });
  }

  /**
   * The remembered cancels of these messages' customers, read once every cancel of theirs that is
   * under way has committed: the shared locks wait for a cancel's exclusive one, and the read that
   * follows (its own statement, so its own snapshot) sees what that cancel remembered. A cancel
   * that starts later waits for these locks and then finds the message claimed, so it withdraws
   * the message itself. Either way a cancel and its command cannot miss each other. Both steps
   * run in one call of remembered_cancels (migration 0012): one round trip for the batch.
   */
  private async rememberedFor(
    calls: ReadonlyArray<ArrivingMessage & { readonly now: Date }>,
  ): Promise<RememberedCancel[]> {
    const customers = [...new Set(calls.map((call) => call.customerId))];
    const earliest = new Date(Math.min(...calls.map((call) => call.now.getTime())));
    const ids = calls.map((call) => call.id);
    const groupKeys = [
      ...new Set(calls.flatMap((call) => (call.groupKey === null ? [] : [call.groupKey]))),
    ];
    // The caller matches customer and key exactly; the function narrows by either side.
    const { rows } = await sql<RememberedCancel>`${PREPARED}
      select customer_id, message_id, group_key, expires_at
      from remembered_cancels(${customers}::text[], ${ids}::text[], ${groupKeys}::text[],
        ${earliest}::timestamptz)
    `.execute(this.db);
    return rows;
  }

  /** Forgets cancels whose window has passed. Answers how many went. */
  async purgeExpired(now: Date): Promise<number> {
    const rows = await this.db
      .deleteFrom('cancel_requests')
      .where('expires_at', '<=', now)
      .returning('cancel_id')
      .execute();
    return rows.length;
  }

  /** The customer's matching messages, locked in id order (the order settle locks in). */
  private async lockCandidates(
    trx: Transaction<Database>,
    match: { readonly customerId: string; readonly messageId?: string; readonly groupKey?: string },
  ): Promise<Candidate[]> {
    let query = trx
      .selectFrom('messages')
      .select(['id', 'status', 'traceparent'])
      .where('customer_id', '=', match.customerId);
    if (match.messageId !== undefined) query = query.where('id', '=', match.messageId);
    else if (match.groupKey !== undefined) query = query.where('group_key', '=', match.groupKey);
    else return [];
    const rows = await query.orderBy('id').forUpdate().execute();
    if (rows.length === 0) return [];
    const handedOver = new Set(
      (
        await trx
          .selectFrom('message_attempts')
          .select('message_id')
          .distinct()
          .where(
            'message_id',
            'in',
            rows.map((row) => row.id),
          )
          .where((eb) =>
            eb.or([eb('outcome', 'is', null), eb('outcome', 'in', ['accepted', 'abandoned'])]),
          )
          .execute()
      ).map((row) => row.message_id),
    );
    return rows.map((row) => ({ ...row, handedOver: handedOver.has(row.id) }));
  }

  private async withdraw(
    trx: Transaction<Database>,
    customerId: string,
    messages: readonly Candidate[],
    reason: ReceiptReason,
    now: Date,
  ): Promise<void> {
    if (messages.length === 0) return;
    const ids = messages.map((m) => m.id);
    await trx
      .updateTable('messages')
      .set({ status: CANCELLED, reason_code: reason.code, owner: null, updated_at: now })
      .where('id', 'in', ids)
      .execute();
    await deleteJobsOf(trx, ids).execute();
    const receipts: OutboxEntry[] = messages.map((message) => ({
      receipt: buildReceipt({
        messageId: message.id,
        customerId,
        status: 'cancelled',
        reason,
        occurredAt: now,
      }),
      key: customerId,
      traceparent: message.traceparent,
    }));
    await this.outbox.enqueue(receipts, trx);
  }
}

/** Waiting in the scheduler, or claimed and not yet handed to a provider. */
function isWithdrawable(candidate: Candidate): boolean {
  if (candidate.status === 'deferred') return true;
  return candidate.status === PROCESSING && !candidate.handedOver;
}

async function lockCustomer(trx: Transaction<Database>, customerId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`cancel:${customerId}`}, 0))`.execute(
    trx,
  );
}

/**
 * Deletes every job that would continue the messages: dispatch deferrals, recovery watches,
 * escalation timers. By the payload's messageId, which scheduled_jobs_message_idx indexes
 * (migration 0011); a containment test (`payload @> …`) would read every job.
 */
export function deleteJobsOf(executor: Kysely<Database>, messageIds: readonly string[]) {
  return executor
    .deleteFrom('scheduled_jobs')
    .where(sql<boolean>`payload ->> 'messageId' = any(${[...messageIds]}::text[])`);
}
