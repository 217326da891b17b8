import { Inject, Injectable } from '@nestjs/common';
import { providerEventKey, type ProviderEvent } from '@omnigate/contracts';
import { KafkaPublisher } from '@omnigate/kafka';
import type { AppConfig } from '../config/environment';
import { APP_CONFIG } from '../config/app-config.token';
import { DEFAULT_BATCHING, MicroBatcher } from './micro-batcher';

/**
 * The provider-events topic, written by the webhook endpoints. Concurrent requests share one
 * produce request (acks = -1, as every write of the publisher): each caller's promise settles only
 * when the broker acknowledged the batch holding its events, so a 2xx still means "on the topic".
 */
@Injectable()
export class ProviderEventsRepository {
  private readonly batcher: MicroBatcher<readonly ProviderEvent[], undefined>;

  constructor(publisher: KafkaPublisher, @Inject(APP_CONFIG) config: AppConfig) {
    const topic = config.topics.providerEvents;
    this.batcher = new MicroBatcher<readonly ProviderEvent[], undefined>(async (batches) => {
      await publisher.publish(
        topic,
        batches.flat().map((event) => ({
          key: providerEventKey(event),
          value: JSON.stringify(event),
        })),
      );
      return batches.map(() => ({ value: undefined }));
    }, DEFAULT_BATCHING);
  }

  /** Resolves once the broker has the events; rejects with the publisher's error otherwise. */
  async write(events: readonly ProviderEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.batcher.call(events);
  }
}
