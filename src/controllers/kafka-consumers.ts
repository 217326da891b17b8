import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { LanePrecedence } from '@omnigate/common';
import {
  ConsumerRunner,
  ensureTopics,
  KafkaPublisher,
  type Kafka,
  type PoisonRecordPolicy,
} from '@omnigate/kafka';
import type { AppConfig } from '../config/environment';
import { APP_CONFIG } from '../config/app-config.token';
import { LOGGER, type Logger } from '../observability/logger';
import { isDependencyFailure } from '../repositories/dependency-failure';
import { DependencyHealth } from '../repositories/dependency-health';
import { IntakeService } from '../services/intake.service';
import { ProfileUpdatesService } from '../services/profile-updates.service';
import { ProviderEventsService } from '../services/provider-events.service';
import { CancelService } from '../services/cancel.service';
import { FATAL_ERROR_HANDLER, KAFKA_CLIENT, type FatalErrorHandler } from './tokens';

/** While a dependency is down the consumers ask it this often, so work resumes within ~1 s. */
const OUTAGE_PROBE_INTERVAL_MS = 1_000;

/**
 * The Kafka entry points: send commands go to the intake use case, profile events to the profile
 * updates use case, provider events (delivery reports, STOP replies) to the provider-events use
 * case, each in its own consumer group so a profile or webhook backlog never delays sends. The
 * priority lane (OTP, transactional) feeds the same intake from its own topic, group and slots, so
 * a marketing backlog on the send topic never sits in front of it.
 * They start after the app is up and stop before it shuts down, draining in-flight records first.
 */
@Injectable()
export class KafkaConsumers
  implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown
{
  private stopping: Promise<void> | undefined;
  private readonly runners: ReadonlyArray<{
    readonly name: string;
    readonly runner: ConsumerRunner;
  }>;

  constructor(
    @Inject(KAFKA_CLIENT) private readonly kafka: Kafka,
    private readonly publisher: KafkaPublisher,
    intake: IntakeService,
    profileUpdates: ProfileUpdatesService,
    providerEvents: ProviderEventsService,
    cancels: CancelService,
    dependencies: DependencyHealth,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(FATAL_ERROR_HANDLER) onFatal: FatalErrorHandler,
  ) {
    const runner = (
      name: string,
      groupId: string,
      topic: string,
      handle: IntakeService['handle'],
      setAside: PoisonRecordPolicy['setAside'],
      concurrency = config.consumer.concurrency,
    ) => ({
      name,
      runner: new ConsumerRunner(
        kafka,
        // Leave half the grace period for what follows the drain (the worker, the producer).
        {
          groupId,
          topics: [topic],
          ...config.consumer,
          concurrency,
          drainBudgetMs: Math.floor(config.shutdownGraceMs / 2),
          poison: {
            maxAttempts: config.consumer.recordMaxAttempts,
            giveUpAfterMs: config.consumer.recordGiveUpMs,
            isDependencyFailure,
            setAside,
          },
          outage: {
            probe: () => dependencies.probe(),
            probeIntervalMs: OUTAGE_PROBE_INTERVAL_MS,
            giveUpAfterMs: config.consumer.giveUpAfterMs,
          },
        },
        handle,
        logger.child({ component: `consumer:${name}` }),
        onFatal,
      ),
    });
    const lane = config.priorityLane;
    // The lanes share the event loop, the database pool and the storage batches: while the
    // priority lane has records in hand, the send lane starts few new ones, so OTPs do not queue
    // behind a marketing backlog inside the process either.
    const lanes = new LanePrecedence(lane?.sendConcurrencyBehindIt ?? config.consumer.concurrency);
    this.runners = [
      runner(
        'send',
        config.kafka.groupId,
        config.topics.send,
        (record) => lanes.bulk(() => intake.handle(record)),
        (record, failure) => intake.setAside(record, failure),
      ),
      ...(lane
        ? [
            runner(
              'priority',
              lane.groupId,
              lane.topic,
              (record) => lanes.priority(() => intake.handle(record)),
              (record, failure) => intake.setAside(record, failure),
              lane.concurrency,
            ),
          ]
        : []),
      runner(
        'profiles',
        config.profilesGroupId,
        config.topics.profiles,
        (record) => profileUpdates.handle(record),
        (record, failure) => profileUpdates.setAside(record, failure),
      ),
      runner(
        'provider-events',
        config.providerEvents.groupId,
        config.topics.providerEvents,
        (record) => providerEvents.handle(record),
        (record, failure) => providerEvents.setAside(record, failure),
      ),
      runner(
        'cancel',
        `${config.kafka.groupId}-cancel`,
        config.topics.cancel,
        (record) => cancels.handle(record),
        (record, failure) => cancels.setAside(record, failure),
      ),
    ];
  }

  /** Ready once every consumer is a member of its group. */
  get ready(): boolean {
    return this.runners.every(({ runner }) => runner.isReady);
  }

  get states(): Record<string, string> {
    return Object.fromEntries(this.runners.map(({ name, runner }) => [name, runner.state]));
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.kafka.createTopics) {
      const { topicPartitions: partitions, replicationFactor } = this.config.kafka;
      const { profiles, ...others } = this.config.topics;
      const lane = this.config.priorityLane;
      const plain = [...Object.values(others), ...(lane ? [lane.topic] : [])];
      const created = await ensureTopics(this.kafka, [
        ...plain.map((topic) => ({ topic, partitions, replicationFactor })),
        // Compaction keeps the latest event per customer: the topic is the profiles' source of truth.
        { topic: profiles, partitions, replicationFactor, config: { 'cleanup.policy': 'compact' } },
      ]);
      if (created.length > 0) this.logger.info({ topics: created }, 'created missing topics');
    }
    await this.publisher.connect();
    for (const { runner } of this.runners) await runner.start();
    const lane = this.config.priorityLane;
    // Said at start because an unnamed lane is off when TOPIC_SEND is renamed (see environment.ts).
    this.logger.info(
      {
        consumers: this.states,
        priorityLane: lane ? lane.topic : 'off (TOPIC_SEND_PRIORITY unset)',
      },
      'consumers started',
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  /** Drains every consumer and commits; the shutdown sequence waits on it. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.drain();
    return this.stopping;
  }

  private async drain(): Promise<void> {
    this.logger.info({ consumers: this.states }, 'draining consumers');
    await Promise.all(this.runners.map(({ runner }) => runner.stop()));
    const processed = Object.fromEntries(
      this.runners.map(({ name, runner }) => [name, runner.processedCount]),
    );
    this.logger.info({ processed }, 'consumers drained and offsets committed');
  }

  /** After every before-shutdown hook (the scheduler worker's too): nothing publishes any more. */
  async onApplicationShutdown(): Promise<void> {
    await this.publisher.disconnect();
  }
}
