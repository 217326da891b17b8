import { Inject, Injectable } from '@nestjs/common';
import { RECEIPT_HEADERS, type DeliveryReceipt } from '@omnigate/contracts';
import { KafkaPublisher } from '@omnigate/kafka';
import type { AppConfig } from '../config/environment';
import { APP_CONFIG } from '../config/app-config.token';

/**
 * Publishes delivery receipts to the receipts topic, keyed by customer so a consumer of the topic
 * sees one customer's receipts in order. Resolves once every in-sync replica has them.
 */
@Injectable()
export class ReceiptsRepository {
  constructor(
    private readonly publisher: KafkaPublisher,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async publish(receipt: DeliveryReceipt, key: string): Promise<void> {
    await this.publisher.publish(this.config.topics.receipts, [
      {
        key,
        value: JSON.stringify(receipt),
        headers: {
          [RECEIPT_HEADERS.eventId]: receipt.eventId,
          [RECEIPT_HEADERS.status]: receipt.status,
          [RECEIPT_HEADERS.schema]: 'omnigate.delivery-receipt.v1',
        },
      },
    ]);
  }
}
