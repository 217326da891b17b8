import { Inject, Injectable } from '@nestjs/common';
import { buildReceipt, decodeSendCommand } from '@omnigate/contracts';
import { DeadLetterPublisher, type InboundRecord } from '@omnigate/kafka';
import type { AppConfig } from '../config/environment';
import { APP_CONFIG } from '../config/app-config.token';
import { LOGGER, type Logger } from '../observability/logger';
import { Clock } from '../repositories/clock';
import { ReceiptsRepository } from '../repositories/receipts.repository';
import { DispatchService } from './dispatch.service';

/**
 * Settles one record from the send topic: a record that is not a valid command goes to the
 * dead-letter topic with its reason and gets a REJECTED receipt; a valid one is dispatched and its
 * receipt published. It resolves only when the outcome is durable in Kafka.
 */
@Injectable()
export class IntakeService {
  constructor(
    private readonly dispatcher: DispatchService,
    private readonly receipts: ReceiptsRepository,
    private readonly deadLetters: DeadLetterPublisher,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async handle(record: InboundRecord): Promise<void> {
    const decoded = decodeSendCommand(record.value, { maxBytes: this.config.maxCommandBytes });
    if (!decoded.ok) {
      await this.reject(record, decoded.rejection);
      return;
    }
    const receivedAt = new Date(Number(record.timestamp));
    const receipt = await this.dispatcher.dispatch(decoded.command, receivedAt);
    await this.receipts.publish(receipt, decoded.command.customerId);
  }

  private async reject(
    record: InboundRecord,
    rejection: {
      code: string;
      message: string;
      commandId: string | null;
      customerId: string | null;
    },
  ): Promise<void> {
    const now = this.clock.now();
    // An unreadable record has no command id; its position in the log identifies it for good.
    const messageId =
      rejection.commandId ?? `kafka:${record.topic}:${record.partition}:${record.offset}`;
    // The record key stands in for an unreadable customerId, when it fits the receipt's field.
    const key =
      record.key !== null && record.key.length > 0 && record.key.length <= 128 ? record.key : null;
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
    const receipt = buildReceipt({
      messageId,
      customerId,
      status: 'rejected',
      reason: { code: rejection.code, message: rejection.message },
      occurredAt: now,
      // The record position makes the id stable even when two records share a bad command id.
      discriminator: `${record.topic}:${record.partition}:${record.offset}`,
    });
    await this.receipts.publish(receipt, customerId ?? messageId);
  }
}
