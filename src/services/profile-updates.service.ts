import { Inject, Injectable } from '@nestjs/common';
import { decodeProfileEvent } from '@omnigate/contracts';
import { DeadLetterPublisher, type HandlerFailure, type InboundRecord } from '@omnigate/kafka';
import type { AppConfig } from '../config/environment';
import { APP_CONFIG } from '../config/app-config.token';
import { LOGGER, type Logger } from '../observability/logger';
import { Clock } from '../repositories/clock';
import { ProfileRepository } from '../repositories/profile.repository';

/**
 * Applies one record of the compacted profiles topic to the stored profile. An event that cannot
 * be read goes to the dead-letter topic with its reason; an event older than the stored version
 * is ignored, since compaction and retries redeliver.
 */
@Injectable()
export class ProfileUpdatesService {
  constructor(
    private readonly profiles: ProfileRepository,
    private readonly deadLetters: DeadLetterPublisher,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async handle(record: InboundRecord): Promise<void> {
    const decoded = decodeProfileEvent(record.key, record.value, {
      maxBytes: this.config.maxCommandBytes,
      maxDepth: this.config.maxCommandDepth,
    });
    if (!decoded.ok) {
      this.logger.warn(
        {
          customerId: record.key,
          topic: record.topic,
          partition: record.partition,
          offset: record.offset,
          reasonCode: decoded.code,
        },
        'profile event rejected and dead-lettered',
      );
      await this.deadLetters.publish(
        record,
        { code: decoded.code, message: decoded.message },
        this.clock.now(),
      );
      return;
    }
    if ('tombstone' in decoded) {
      await this.profiles.delete(decoded.tombstone.customerId);
      this.logger.info({ customerId: decoded.tombstone.customerId }, 'profile deleted (tombstone)');
      return;
    }
    const event = decoded.event;
    if (event.type === 'delete') {
      await this.profiles.delete(event.customerId, event.version);
      this.logger.info({ customerId: event.customerId, version: event.version }, 'profile deleted');
      return;
    }
    const outcome = await this.profiles.applyUpdate({
      customerId: event.customerId,
      version: event.version,
      patch: event.profile,
      occurredAt: event.occurredAt,
    });
    this.logger.debug(
      { customerId: event.customerId, version: event.version, outcome },
      'profile event applied',
    );
  }

  /** A profile event whose handling kept failing goes to the dead-letter topic, to be re-driven. */
  async setAside(record: InboundRecord, failure: HandlerFailure): Promise<void> {
    await this.deadLetters.publish(
      record,
      {
        code: 'HANDLER_FAILED',
        message: `handling the profile event failed ${failure.attempts} time${failure.attempts === 1 ? '' : 's'} (${failure.error.name}); it was set aside for an operator`,
      },
      this.clock.now(),
    );
  }
}
