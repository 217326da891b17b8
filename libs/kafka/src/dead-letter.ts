import { DEAD_LETTER_HEADERS } from '@omnigate/contracts';
import type { KafkaPublisher } from './publisher';
import type { InboundRecord } from './types';

export interface DeadLetterReason {
  readonly code: string;
  readonly message: string;
}

/**
 * Copies a record that cannot be processed to the dead-letter topic, unchanged, with headers that
 * say why and where it came from, so an operator can fix and re-drive it.
 */
export class DeadLetterPublisher {
  constructor(
    private readonly publisher: KafkaPublisher,
    private readonly topic: string,
  ) {}

  async publish(record: InboundRecord, reason: DeadLetterReason, failedAt: Date): Promise<void> {
    await this.publisher.publish(this.topic, [
      {
        key: record.key,
        value: record.value ?? Buffer.alloc(0),
        headers: {
          ...record.headers,
          [DEAD_LETTER_HEADERS.reasonCode]: reason.code,
          [DEAD_LETTER_HEADERS.reason]: reason.message,
          [DEAD_LETTER_HEADERS.sourceTopic]: record.topic,
          [DEAD_LETTER_HEADERS.sourcePartition]: String(record.partition),
          [DEAD_LETTER_HEADERS.sourceOffset]: record.offset,
          [DEAD_LETTER_HEADERS.failedAt]: failedAt.toISOString(),
        },
      },
    ]);
  }
}
