import { Inject, Injectable } from '@nestjs/common';
import { buildReceipt, decodeCancelCommand, isStorableText } from '@omnigate/contracts';
import { DeadLetterPublisher, type HandlerFailure, type InboundRecord } from '@omnigate/kafka';
import type { AppConfig } from '../config/environment';
import { APP_CONFIG } from '../config/app-config.token';
import { LOGGER, type Logger } from '../observability/logger';
import { Metrics } from '../observability/metrics';
import { activeTraceparent } from '../observability/tracing';
import {
  CancellationRepository,
  type CancelRequest,
  type CancelResult,
} from '../repositories/cancellation.repository';
import { Clock } from '../repositories/clock';
import type { ArrivingMessage } from '../repositories/cancellation.repository';
import { ReceiptOutboxRepository } from '../repositories/receipt-outbox.repository';
import { ReceiptRelay } from './receipt-relay.service';

/**
 * Cancels from the cancel topic and from the admin API. What a cancel does is decided by the
 * message log (CancellationRepository); this service reads the record, answers a malformed one
 * like a bad send command (dead-letter topic, REJECTED receipt), counts the outcome and logs it
 * without contacts or content.
 */
@Injectable()
export class CancelService {
  constructor(
    private readonly cancellations: CancellationRepository,
    private readonly outbox: ReceiptOutboxRepository,
    private readonly relay: ReceiptRelay,
    private readonly deadLetters: DeadLetterPublisher,
    private readonly clock: Clock,
    private readonly metrics: Metrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async handle(record: InboundRecord): Promise<void> {
    const decoded = decodeCancelCommand(record.key, record.value, {
      maxBytes: this.config.maxCommandBytes,
      maxDepth: this.config.maxCommandDepth,
    });
    if (!decoded.ok) {
      await this.reject(record, { code: decoded.code, message: decoded.message });
      return;
    }
    const { cancel } = decoded;
    await this.cancel({
      cancelId: cancel.cancelId,
      customerId: cancel.customerId,
      ...(cancel.messageId !== undefined && { messageId: cancel.messageId }),
      ...(cancel.groupKey !== undefined && { groupKey: cancel.groupKey }),
      reason: cancel.reason,
      requestedBy: cancel.requestedBy,
      requestedAt: new Date(cancel.requestedAt),
    });
  }

  /** Applies (or with dryRun, only answers) one cancel; counted and logged unless a dry run. */
  async cancel(request: CancelRequest, options: { dryRun?: boolean } = {}): Promise<CancelResult> {
    const result = await this.cancellations.cancel(request, {
      now: this.clock.now(),
      rememberForMs: this.config.messageLog.cancelRememberMs,
      ...(options.dryRun && { dryRun: true }),
    });
    if (result.dryRun) return result;
    if (!result.repeated) this.metrics.cancels.inc({ outcome: result.outcome });
    this.logger.info(
      {
        cancelId: result.cancelId,
        customerId: request.customerId,
        messageId: request.messageId,
        groupKey: request.groupKey,
        reasonCode: request.reason.code,
        requestedBy: request.requestedBy,
        outcome: result.outcome,
        withdrawn: result.withdrawn,
        tooLate: result.tooLate,
        repeated: result.repeated,
      },
      'cancel applied',
    );
    if (result.withdrawn.length > 0) this.relay.kick();
    return result;
  }

  /**
   * A command just claimed meets a cancel that came before it: withdrawn on arrival. Answers
   * whether it was.
   */
  async withdrawOnArrival(message: ArrivingMessage): Promise<boolean> {
    const applied = await this.cancellations.applyRemembered(message, this.clock.now());
    if (!applied) return false;
    this.logger.info(
      { messageId: message.id, customerId: message.customerId, cancelId: applied.cancelId },
      'command cancelled on arrival by a cancel that came before it',
    );
    this.relay.kick();
    return true;
  }

  /** A cancel whose handling kept failing goes to the dead-letter topic, to be re-driven. */
  async setAside(record: InboundRecord, failure: HandlerFailure): Promise<void> {
    await this.deadLetters.publish(
      record,
      {
        code: 'HANDLER_FAILED',
        message: `handling the cancel failed ${failure.attempts} time${failure.attempts === 1 ? '' : 's'} (${failure.error.name}); it was set aside for an operator`,
      },
      this.clock.now(),
    );
    this.metrics.deadLetters.inc({ reason: 'HANDLER_FAILED' });
  }

  private async reject(
    record: InboundRecord,
    reason: { readonly code: string; readonly message: string },
  ): Promise<void> {
    const now = this.clock.now();
    const position = `${record.topic}:${record.partition}:${record.offset}`;
    const customerId =
      record.key !== null &&
      record.key.length > 0 &&
      record.key.length <= 128 &&
      isStorableText(record.key)
        ? record.key
        : null;
    this.logger.warn(
      {
        customerId,
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        reasonCode: reason.code,
      },
      'cancel rejected and dead-lettered',
    );
    await this.deadLetters.publish(record, reason, now);
    this.metrics.deadLetters.inc({ reason: reason.code });
    const messageId = `kafka:${position}`;
    const receipt = buildReceipt({
      messageId,
      customerId,
      status: 'rejected',
      reason,
      occurredAt: now,
      discriminator: position,
    });
    await this.outbox.enqueue([
      { receipt, key: customerId ?? messageId, traceparent: activeTraceparent() },
    ]);
    this.relay.kick();
  }
}
