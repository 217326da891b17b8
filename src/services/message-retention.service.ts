import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { AppConfig } from '../config/environment';
import { APP_CONFIG } from '../config/app-config.token';
import { LOGGER, type Logger } from '../observability/logger';
import { Clock } from '../repositories/clock';
import { CancellationRepository } from '../repositories/cancellation.repository';
import { MessageLogRepository } from '../repositories/message-log.repository';

const DAY_MS = 86_400_000;

/**
 * Enforces MESSAGE_RETENTION_DAYS: messages, their attempts and published receipts older than that
 * are deleted, and with them the claim on their command id. Every replica runs it; the deletes
 * are idempotent, so overlapping runs only repeat work.
 */
@Injectable()
export class MessageRetentionService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(
    private readonly messages: MessageLogRepository,
    private readonly cancellations: CancellationRepository,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.purge()
        .catch((error: unknown) => {
          this.logger.error(
            { error: error instanceof Error ? error.message : String(error) },
            'message purge failed; retrying at the next interval',
          );
          return 0;
        })
        .finally(() => (this.running = undefined));
    }, this.config.messageLog.purgeIntervalMs);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Deletes what is past retention now; answers how many messages went. */
  async purge(): Promise<number> {
    const cutoff = new Date(
      this.clock.now().getTime() - this.config.messageLog.retentionDays * DAY_MS,
    );
    const purged = await this.messages.purgeOlderThan(cutoff);
    // A cancel past its remember window no longer waits for its command.
    await this.cancellations.purgeExpired(this.clock.now());
    if (purged > 0) {
      this.logger.info({ purged, cutoff: cutoff.toISOString() }, 'messages past retention purged');
    }
    return purged;
  }
}
