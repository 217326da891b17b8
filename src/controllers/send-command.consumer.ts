import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { ConsumerRunner, ensureTopics, KafkaPublisher, type Kafka } from '@omnigate/kafka';
import type { AppConfig } from '../config/environment';
import { APP_CONFIG } from '../config/app-config.token';
import { LOGGER, type Logger } from '../observability/logger';
import { IntakeService } from '../services/intake.service';
import { FATAL_ERROR_HANDLER, KAFKA_CLIENT, type FatalErrorHandler } from './tokens';

/**
 * The Kafka entry point: consumes the send topic and hands each record to the intake use case.
 * Starts after the app is up and stops before it shuts down, draining in-flight records first.
 */
@Injectable()
export class SendCommandConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly runner: ConsumerRunner;

  constructor(
    @Inject(KAFKA_CLIENT) private readonly kafka: Kafka,
    private readonly publisher: KafkaPublisher,
    private readonly intake: IntakeService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(FATAL_ERROR_HANDLER) onFatal: FatalErrorHandler,
  ) {
    this.runner = new ConsumerRunner(
      kafka,
      {
        groupId: config.kafka.groupId,
        topics: [config.topics.send],
        ...config.consumer,
      },
      (record) => this.intake.handle(record),
      logger.child({ component: 'consumer' }),
      onFatal,
    );
  }

  get ready(): boolean {
    return this.runner.isReady;
  }

  get state(): string {
    return this.runner.state;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.kafka.createTopics) {
      const { topicPartitions: partitions, replicationFactor } = this.config.kafka;
      const created = await ensureTopics(
        this.kafka,
        Object.values(this.config.topics).map((topic) => ({
          topic,
          partitions,
          replicationFactor,
        })),
      );
      if (created.length > 0) this.logger.info({ topics: created }, 'created missing topics');
    }
    await this.publisher.connect();
    await this.runner.start();
    this.logger.info(
      { groupId: this.config.kafka.groupId, topic: this.config.topics.send },
      'consumer started',
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.logger.info({ processed: this.runner.processedCount }, 'draining consumer');
    await this.runner.stop();
    await this.publisher.disconnect();
    this.logger.info(
      { processed: this.runner.processedCount },
      'consumer drained and offsets committed',
    );
  }
}
