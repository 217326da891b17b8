import { Inject, Injectable } from '@nestjs/common';
import type { Channel, SuppressionReason } from '@omnigate/contracts';
import type { Kysely, Transaction } from 'kysely';
import type { DeliveryStatus } from '../policy/delivery-progress';
import {
  AddressSuppressionRepository,
  type NewSuppression,
} from './address-suppression.repository';
import { KYSELY } from './database/database';
import type { Database } from './database/types';
import { PROCESSING } from './message-log.repository';
import { ReceiptOutboxRepository, type OutboxEntry } from './receipt-outbox.repository';
import { SchedulerRepository } from './scheduler.repository';

/** One provider event as the timeline keeps it (never an address). */
export interface ProviderEventRecord {
  readonly provider: string;
  readonly eventId: string;
  readonly messageId: string | null;
  readonly channel: Channel;
  readonly type: 'message-status' | 'address-consent';
  /** The ProviderOutcome of a status event, or the consent action. */
  readonly outcome: string | null;
  readonly providerStatus: string | null;
  readonly errorCode: string | null;
  readonly detail: string | null;
  readonly occurredAt: Date;
  readonly receivedAt: Date;
  readonly effect: string;
}

/** The message as a status event meets it, read under the message's lock. */
export interface MessageDeliveryState {
  readonly messageId: string;
  readonly customerId: string;
  /** The dispatch's status (sent, unknown, failed, …). */
  readonly status: string;
  readonly deliveryStatus: DeliveryStatus | null;
  readonly channel: Channel | null;
  readonly provider: string | null;
  readonly providerMessageId: string | null;
  readonly traceparent: string | null;
  /** Statuses of the receipts written for the message so far. */
  readonly reported: ReadonlySet<string>;
  /** When the `sent` receipt was written, if it was. */
  readonly sentAt: Date | null;
}

/** What applying a status event writes, decided by the caller from the state it is shown. */
export interface StatusApplication {
  readonly record: ProviderEventRecord;
  readonly deliveryStatus: DeliveryStatus | null;
  readonly receipts: readonly OutboxEntry[];
  readonly suppressions: readonly NewSuppression[];
}

export type StatusApplyResult<T> =
  /** (provider, eventId) was applied before: nothing written. */
  | { readonly kind: 'duplicate' }
  /** The log does not have the message settled yet (the event raced its send): nothing written. */
  | { readonly kind: 'not_yet' }
  | { readonly kind: 'applied'; readonly state: MessageDeliveryState; readonly application: T };

export interface JobCompletion {
  readonly id: string;
  readonly workerId: string;
}

/** Thrown inside the transaction to undo it when another applier recorded the event first. */
class AppliedMeanwhile extends Error {}

/**
 * Provider events applied to the message log: each event once per (provider, eventId), the
 * message's delivery status, its receipts (through the receipts outbox), the suppressions it
 * calls for and the completion of the retry job it came from, all in one transaction.
 */
@Injectable()
export class ProviderEventRepository {
  constructor(
    @Inject(KYSELY) private readonly db: Kysely<Database>,
    private readonly outbox: ReceiptOutboxRepository,
    private readonly suppressions: AddressSuppressionRepository,
    private readonly scheduler: SchedulerRepository,
  ) {}

  /**
   * Applies a status event to its message: `decide` sees the message under its lock and answers
   * what to write. A message that is not in the log, or still being dispatched, answers `not_yet`.
   */
  async applyToMessage<T extends StatusApplication>(
    key: { readonly provider: string; readonly eventId: string; readonly messageId: string },
    decide: (state: MessageDeliveryState) => T,
    completeJob?: JobCompletion,
    /** More writes of the same transaction once the event is applied (cancelling a timer). */
    alsoInTransaction?: (application: T, trx: Kysely<Database>) => Promise<void>,
  ): Promise<StatusApplyResult<T>> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        if (await this.seen(trx, key.provider, key.eventId)) {
          if (completeJob) await this.completeJob(trx, completeJob);
          return { kind: 'duplicate' };
        }
        const message = await trx
          .selectFrom('messages')
          .select([
            'id',
            'customer_id',
            'status',
            'delivery_status',
            'channel',
            'provider',
            'provider_message_id',
            'traceparent',
          ])
          .where('id', '=', key.messageId)
          .forUpdate()
          .executeTakeFirst();
        // Still processing or waiting in the scheduler: its `sent` receipt is not written yet.
        if (!message || message.status === PROCESSING || message.status === 'deferred') {
          return { kind: 'not_yet' };
        }
        const events = await trx
          .selectFrom('message_events')
          .select(['status', 'occurred_at'])
          .where('message_id', '=', key.messageId)
          .execute();
        const sent = events.find((event) => event.status === 'sent');
        const state: MessageDeliveryState = {
          messageId: message.id,
          customerId: message.customer_id,
          status: message.status,
          deliveryStatus: message.delivery_status as DeliveryStatus | null,
          channel: message.channel as Channel | null,
          provider: message.provider,
          providerMessageId: message.provider_message_id,
          traceparent: message.traceparent,
          reported: new Set(events.map((event) => event.status)),
          sentAt: sent ? sent.occurred_at : null,
        };
        const application = decide(state);
        await this.insertRecord(trx, application.record);
        if (application.deliveryStatus !== state.deliveryStatus) {
          await trx
            .updateTable('messages')
            .set({ delivery_status: application.deliveryStatus, updated_at: new Date() })
            .where('id', '=', key.messageId)
            .execute();
        }
        await this.outbox.enqueue(application.receipts, trx);
        await this.suppressions.add(application.suppressions, trx);
        if (alsoInTransaction) await alsoInTransaction(application, trx);
        if (completeJob) await this.completeJob(trx, completeJob);
        return { kind: 'applied', state, application };
      });
    } catch (error) {
      if (error instanceof AppliedMeanwhile) return { kind: 'duplicate' };
      throw error;
    }
  }

  /**
   * Records an event that touches no message (an address's consent, or a status event whose
   * message never appeared), with the suppressions it adds or lifts. False: recorded before.
   */
  async recordAlone(
    record: ProviderEventRecord,
    changes: {
      readonly add?: readonly NewSuppression[];
      readonly lift?: {
        readonly channels: readonly Channel[];
        readonly addressHash: string;
        readonly reason: SuppressionReason;
      };
      readonly completeJob?: JobCompletion;
    } = {},
  ): Promise<boolean> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        if (changes.completeJob) await this.completeJob(trx, changes.completeJob);
        if (await this.seen(trx, record.provider, record.eventId)) return false;
        await this.insertRecord(trx, record);
        await this.suppressions.add(changes.add ?? [], trx);
        if (changes.lift) {
          const { channels, addressHash, reason } = changes.lift;
          await this.suppressions.lift(channels, [addressHash], reason, trx);
        }
        return true;
      });
    } catch (error) {
      if (error instanceof AppliedMeanwhile) return false;
      throw error;
    }
  }

  /** A message's provider events in the order they happened (the admin timeline). */
  async eventsOf(messageId: string): Promise<ProviderEventRecord[]> {
    const rows = await this.db
      .selectFrom('provider_events')
      .selectAll()
      .where('message_id', '=', messageId)
      .orderBy('occurred_at')
      .orderBy('applied_at')
      .execute();
    return rows.map((row) => ({
      provider: row.provider,
      eventId: row.event_id,
      messageId: row.message_id,
      channel: row.channel as Channel,
      type: row.type as ProviderEventRecord['type'],
      outcome: row.outcome,
      providerStatus: row.provider_status,
      errorCode: row.error_code,
      detail: row.detail,
      occurredAt: row.occurred_at,
      receivedAt: row.received_at,
      effect: row.effect,
    }));
  }

  private async seen(trx: Transaction<Database>, provider: string, eventId: string) {
    const row = await trx
      .selectFrom('provider_events')
      .select('event_id')
      .where('provider', '=', provider)
      .where('event_id', '=', eventId)
      .executeTakeFirst();
    return row !== undefined;
  }

  private async insertRecord(trx: Transaction<Database>, record: ProviderEventRecord) {
    const inserted = await trx
      .insertInto('provider_events')
      .values({
        provider: record.provider,
        event_id: record.eventId,
        message_id: record.messageId,
        channel: record.channel,
        type: record.type,
        outcome: record.outcome,
        provider_status: record.providerStatus,
        error_code: record.errorCode,
        detail: record.detail,
        occurred_at: record.occurredAt,
        received_at: record.receivedAt,
        applied_at: new Date(),
        effect: record.effect,
      })
      .onConflict((conflict) => conflict.columns(['provider', 'event_id']).doNothing())
      .returning('event_id')
      .executeTakeFirst();
    // Another applier (a retry job and a redelivery) got there first: undo everything of ours.
    if (!inserted) throw new AppliedMeanwhile();
  }

  private async completeJob(trx: Transaction<Database>, job: JobCompletion) {
    await this.scheduler.complete(job.id, job.workerId, trx);
  }
}
