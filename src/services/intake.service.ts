import { Inject, Injectable } from '@nestjs/common';
import {
  buildReceipt,
  decodeSendCommand,
  isStorableText,
  type SendCommand,
} from '@omnigate/contracts';
import {
  DeadLetterPublisher,
  recordAgeMs,
  type HandlerFailure,
  type InboundRecord,
} from '@omnigate/kafka';
import type { AppConfig } from '../config/environment';
import { APP_CONFIG } from '../config/app-config.token';
import { LOGGER, type Logger } from '../observability/logger';
import { Metrics, type ConsumeOutcome } from '../observability/metrics';
import { activeTraceparent, inSpan, TRACEPARENT } from '../observability/tracing';
import { Clock } from '../repositories/clock';
import {
  MessageLogRepository,
  PROCESSING,
  type StoredMessage,
} from '../repositories/message-log.repository';
import { ReceiptOutboxRepository } from '../repositories/receipt-outbox.repository';
import { SchedulerRepository } from '../repositories/scheduler.repository';
import {
  MessageProcessingService,
  RECOVER_JOB,
  type MessageJobPayload,
} from './message-processing.service';
import { ReceiptRelay } from './receipt-relay.service';
import { CancelService } from './cancel.service';

interface Rejection {
  readonly code: string;
  readonly message: string;
  readonly commandId: string | null;
  readonly customerId: string | null;
}

/**
 * Settles one record from a send topic. A record that is not a valid command goes to the
 * dead-letter topic with its reason and gets a REJECTED receipt. A valid one claims its command id
 * in the message log: a new id is dispatched; a repeat of an id is acknowledged with a DUPLICATE
 * receipt (same payload) or rejected (another payload); a redelivery of the record that claimed
 * the id resumes the message if its instance died. It resolves once the outcome is durable in the
 * database; the receipts follow through the outbox.
 */
@Injectable()
export class IntakeService {
  constructor(
    private readonly processing: MessageProcessingService,
    private readonly cancels: CancelService,
    private readonly messages: MessageLogRepository,
    private readonly outbox: ReceiptOutboxRepository,
    private readonly scheduler: SchedulerRepository,
    private readonly relay: ReceiptRelay,
    private readonly deadLetters: DeadLetterPublisher,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  /** Continues the trace the record's traceparent header names, so logs and receipts carry it. */
  async handle(record: InboundRecord): Promise<void> {
    const waitedMs = recordAgeMs(record, Date.now());
    if (waitedMs !== undefined) {
      this.metrics.commandWait.observe({ lane: this.laneOf(record) }, waitedMs / 1000);
    }
    await inSpan(
      'omnigate.intake',
      record.headers[TRACEPARENT],
      {
        'messaging.system': 'kafka',
        'messaging.operation.type': 'process',
        'messaging.destination.name': record.topic,
        'messaging.destination.partition.id': String(record.partition),
        'messaging.kafka.offset': Number(record.offset),
      },
      () => this.settleRecord(record),
    );
  }

  private async settleRecord(record: InboundRecord): Promise<void> {
    const decoded = this.decode(record);
    if (!decoded.ok) {
      await this.reject(record, decoded.rejection);
      this.count(record, 'rejected');
      return;
    }
    const command = decoded.command;
    // Another handler of this instance may hold the id: a copy of the command read at the same
    // time, or its recovery. Claim after it finishes, so a copy still gets its DUPLICATE answer.
    for (;;) {
      const handled = await this.processing.exclusively(command.id, () =>
        this.claimAndRun(record, command),
      );
      if (handled) return;
      await this.processing.idle(command.id);
    }
  }

  /**
   * Sets aside a record whose handling kept failing for a reason other than a dependency outage:
   * it goes to the dead-letter topic as HANDLER_FAILED and is answered, so its partition moves on.
   * A command this record had claimed is settled FAILED in the message log (which would otherwise
   * say it is still processing); any other record gets a REJECTED receipt. The reason names the
   * error's kind only: its message may quote the payload.
   */
  async setAside(record: InboundRecord, failure: HandlerFailure): Promise<void> {
    const reason = {
      code: 'HANDLER_FAILED',
      message: `handling the record failed ${failure.attempts} time${failure.attempts === 1 ? '' : 's'} over ${failure.elapsedMs} ms (${failure.error.name}); it was set aside for an operator`,
    };
    const decoded = this.decode(record);
    const command = decoded.ok ? decoded.command : undefined;
    this.count(record, 'set_aside');
    if (command) {
      const claimed = await this.messages.get(command.id);
      if (
        claimed?.status === PROCESSING &&
        claimed.owner === this.processing.owner &&
        claimed.source === positionOf(record)
      ) {
        const settled = await this.processing.exclusively(command.id, async () => {
          await this.deadLetters.publish(record, reason, this.clock.now());
          this.metrics.deadLetters.inc({ reason: reason.code });
          await this.processing.giveUp(
            command,
            { deferrals: claimed.deferrals, retries: claimed.retries },
            reason,
          );
        });
        if (settled) return;
      }
    }
    await this.reject(record, {
      ...reason,
      commandId: command?.id ?? (decoded.ok ? null : decoded.rejection.commandId),
      customerId: command?.customerId ?? (decoded.ok ? null : decoded.rejection.customerId),
    });
  }

  private decode(record: InboundRecord): ReturnType<typeof decodeSendCommand> {
    return decodeSendCommand(record.value, {
      maxBytes: this.config.maxCommandBytes,
      maxDepth: this.config.maxCommandDepth,
    });
  }

  private async claimAndRun(record: InboundRecord, command: SendCommand): Promise<void> {
    const receivedAt = new Date(Number(record.timestamp));
    const claim = await this.messages.claim(
      {
        id: command.id,
        customerId: command.customerId,
        category: command.category,
        ...this.processing.seal(command),
        source: positionOf(record),
        receivedAt,
        traceparent: activeTraceparent(),
        groupKey: command.groupKey ?? null,
      },
      this.processing.owner,
      this.config.messageLog.instanceStaleAfterMs,
    );
    this.count(record, OUTCOME_OF_CLAIM[claim.kind]);
    switch (claim.kind) {
      case 'claimed':
        if (await this.withdrawnOnArrival(command)) return;
        await this.processing.run(command, receivedAt, { deferrals: 0, retries: 0 });
        return;
      case 'taken_over':
        this.logger.warn(
          { messageId: command.id, abandonedAttempts: claim.abandoned.length },
          'resuming a message its instance left unfinished',
        );
        await this.processing.run(command, claim.message.receivedAt, {
          deferrals: claim.message.deferrals,
          retries: claim.message.retries,
          abandoned: claim.abandoned,
          ...(claim.accepted && { accepted: claim.accepted }),
          ...(claim.message.overrides && { overrides: claim.message.overrides }),
        });
        return;
      case 'busy':
        await this.watch(claim.message);
        return;
      case 'settled':
        this.logger.info(
          { messageId: command.id, status: claim.message.status },
          'redelivered record was already settled',
        );
        return;
      case 'duplicate':
        await this.acknowledgeDuplicate(record, command, claim.message);
        return;
      case 'conflict':
        await this.reject(record, {
          code: 'ID_CONFLICT',
          // The id travels in commandId; the reason itself quotes nothing from the payload.
          message: 'the command id was already used by a command with a different payload',
          commandId: command.id,
          customerId: command.customerId,
        });
        return;
    }
  }

  /** A cancel that came before this command withdraws it now (see CancelService). */
  private async withdrawnOnArrival(command: SendCommand): Promise<boolean> {
    return this.cancels.withdrawOnArrival({
      id: command.id,
      customerId: command.customerId,
      groupKey: command.groupKey ?? null,
      owner: this.processing.owner,
    });
  }

  private count(record: InboundRecord, outcome: ConsumeOutcome): void {
    this.metrics.commandsConsumed.inc({ lane: this.laneOf(record), outcome });
  }

  private laneOf(record: InboundRecord): 'priority' | 'send' {
    return record.topic === this.config.priorityLane?.topic ? 'priority' : 'send';
  }

  /** A live instance holds the message; a recovery job takes it over if that instance dies. */
  private async watch(message: StoredMessage): Promise<void> {
    const staleMs = this.config.messageLog.instanceStaleAfterMs;
    await this.scheduler.schedule({
      kind: RECOVER_JOB,
      runAt: new Date(this.clock.now().getTime() + staleMs),
      payload: { messageId: message.id } satisfies MessageJobPayload,
      dedupeKey: `${RECOVER_JOB}:${message.id}:${message.owner ?? ''}`,
    });
    this.logger.info(
      { messageId: message.id, owner: message.owner },
      'redelivered record is being processed by another instance; watching it',
    );
  }

  private async acknowledgeDuplicate(
    record: InboundRecord,
    command: SendCommand,
    original: StoredMessage,
  ): Promise<void> {
    this.logger.info(
      { messageId: command.id, customerId: command.customerId, originalStatus: original.status },
      'duplicate command acknowledged, not sent again',
    );
    const receipt = buildReceipt({
      messageId: command.id,
      customerId: command.customerId,
      status: 'duplicate',
      reason: {
        code: 'DUPLICATE',
        message: `command id ${command.id} was received before (status ${original.status}); this copy is ignored`,
      },
      occurredAt: this.clock.now(),
      // Each repeat is its own event: the record position tells the copies apart.
      discriminator: positionOf(record),
    });
    await this.outbox.enqueue([
      { receipt, key: command.customerId, traceparent: activeTraceparent() },
    ]);
    this.relay.kick();
  }

  private async reject(record: InboundRecord, rejection: Rejection): Promise<void> {
    const now = this.clock.now();
    // An unreadable record has no command id; its position in the log identifies it for good.
    const messageId = rejection.commandId ?? `kafka:${positionOf(record)}`;
    // The record key stands in for an unreadable customerId, when it fits the receipt's field.
    const key =
      record.key !== null &&
      record.key.length > 0 &&
      record.key.length <= 128 &&
      isStorableText(record.key)
        ? record.key
        : null;
    const customerId = rejection.customerId ?? key;
    this.logger.warn(
      {
        messageId,
        customerId,
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        reasonCode: rejection.code,
      },
      'command rejected and dead-lettered',
    );
    await this.deadLetters.publish(
      record,
      { code: rejection.code, message: rejection.message },
      now,
    );
    this.metrics.deadLetters.inc({ reason: rejection.code });
    const receipt = buildReceipt({
      messageId,
      customerId,
      status: 'rejected',
      reason: { code: rejection.code, message: rejection.message },
      occurredAt: now,
      // The record position makes the id stable even when two records share a bad command id.
      discriminator: positionOf(record),
    });
    await this.outbox.enqueue([
      { receipt, key: customerId ?? messageId, traceparent: activeTraceparent() },
    ]);
    this.relay.kick();
  }
}

/** What a claim's result means for the intake counter. */
const OUTCOME_OF_CLAIM: Record<
  'claimed' | 'taken_over' | 'busy' | 'settled' | 'duplicate' | 'conflict',
  ConsumeOutcome
> = {
  claimed: 'accepted',
  taken_over: 'redelivered',
  busy: 'redelivered',
  settled: 'redelivered',
  duplicate: 'duplicate',
  conflict: 'conflict',
};

function positionOf(record: InboundRecord): string {
  return `${record.topic}:${record.partition}:${record.offset}`;
}
