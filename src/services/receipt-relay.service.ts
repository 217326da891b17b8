import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { RECEIPT_HEADERS } from '@omnigate/contracts';
import { KafkaPublisher } from '@omnigate/kafka';
import type { AppConfig } from '../config/environment';
import { APP_CONFIG } from '../config/app-config.token';
import { LOGGER, type Logger } from '../observability/logger';
import { Metrics } from '../observability/metrics';
import { TRACEPARENT } from '../observability/tracing';
import { ReceiptOutboxRepository } from '../repositories/receipt-outbox.repository';

/**
 * Publishes the receipts outbox to the receipts topic: oldest first, one batch at a time, marked
 * published only once every in-sync replica has it. A crash between the publish and the mark
 * republishes the batch with the same eventIds, which consumers deduplicate. It runs when kicked
 * (a receipt was just written) and on a timer for receipts other replicas left behind.
 */
@Injectable()
export class ReceiptRelay implements OnApplicationBootstrap {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly outbox: ReceiptOutboxRepository,
    private readonly publisher: KafkaPublisher,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => this.kick(), this.config.receiptRelay.pollMs);
  }

  /** Asks for a run soon; runs already under way pick the new receipts up with one more pass. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .catch((error: unknown) => {
        // Kafka or the database is down: the rows stay, and the timer tries again.
        this.logger.error(
          { error: error instanceof Error ? error.message : String(error) },
          'receipt relay failed; retrying',
        );
      })
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick();
        }
      });
  }

  /**
   * Publishes everything written so far, for shutdown: the consumers and the scheduler have
   * stopped, so the outbox no longer grows. Gives up at the deadline; what is left is published
   * by the next instance's relay.
   */
  async flush(deadline: Date): Promise<void> {
    clearInterval(this.timer);
    this.stopped = true;
    await this.running;
    while (Date.now() < deadline.getTime()) {
      try {
        const published = await this.publishBatch();
        if (published === 0) return;
        if (published === null) await new Promise((resolve) => setTimeout(resolve, 50));
      } catch (error) {
        this.logger.error(
          { error: error instanceof Error ? error.message : String(error) },
          'receipt relay flush failed',
        );
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    this.logger.warn(
      {},
      'receipt relay flush ran out of time; the next instance publishes the rest',
    );
  }

  private async drain(): Promise<void> {
    for (;;) {
      const published = await this.publishBatch();
      // null: another replica's relay holds the lock and publishes these.
      if (published === null || published < this.config.receiptRelay.batchSize) return;
    }
  }

  private publishBatch(): Promise<number | null> {
    return this.outbox.publishOldest(this.config.receiptRelay.batchSize, async (batch) => {
      await this.publisher.publish(
        this.config.topics.receipts,
        batch.map(({ receipt, key, traceparent }) => ({
          key,
          value: JSON.stringify(receipt),
          headers: {
            [RECEIPT_HEADERS.eventId]: receipt.eventId,
            [RECEIPT_HEADERS.status]: receipt.status,
            [RECEIPT_HEADERS.schema]: 'omnigate.delivery-receipt.v1',
            // The command's trace, so upstream sees the receipt in the trace it started.
            ...(traceparent && { [TRACEPARENT]: traceparent }),
          },
        })),
      );
      for (const { receipt } of batch) this.metrics.receiptPublished(receipt);
    });
  }
}
