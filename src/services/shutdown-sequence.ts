import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import type { AppConfig } from '../config/environment';
import { APP_CONFIG } from '../config/app-config.token';
import { KafkaConsumers } from '../controllers/kafka-consumers';
import { LOGGER, type Logger } from '../observability/logger';
import { DeferredDispatchWorker } from './deferred-dispatch.worker';
import { GatewayInstance } from './gateway-instance';
import { MessageRetentionService } from './message-retention.service';
import { ReceiptRelay } from './receipt-relay.service';

/**
 * The order of a graceful stop, which Nest's parallel shutdown hooks cannot give: stop taking work
 * (consumers drained and committed, scheduler and purge idle), then publish the receipts outbox,
 * then deregister the instance so nothing of ours looks alive. The producer and the database
 * close after this, in the application-shutdown hooks.
 */
@Injectable()
export class ShutdownSequence implements BeforeApplicationShutdown {
  constructor(
    private readonly consumers: KafkaConsumers,
    private readonly worker: DeferredDispatchWorker,
    private readonly retention: MessageRetentionService,
    private readonly relay: ReceiptRelay,
    private readonly instance: GatewayInstance,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async beforeApplicationShutdown(): Promise<void> {
    const started = Date.now();
    await Promise.all([
      this.consumers.stop(),
      this.worker.stop(),
      this.retention.beforeApplicationShutdown(),
    ]);
    // The consumers used up to half the grace period; keep a margin for closing connections.
    await this.relay.flush(new Date(started + Math.floor(this.config.shutdownGraceMs * 0.8)));
    await this.instance.stop();
    this.logger.info({ tookMs: Date.now() - started }, 'work drained and receipts published');
  }
}
