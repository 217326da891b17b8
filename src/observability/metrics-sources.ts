import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { ChannelRouter } from '@omnigate/channels';
import { consumerGroupLag, type Kafka } from '@omnigate/kafka';
import type { AppConfig } from '../config/environment';
import { APP_CONFIG } from '../config/app-config.token';
import { KAFKA_CLIENT } from '../controllers/tokens';
import { Clock } from '../repositories/clock';
import { ReceiptOutboxRepository } from '../repositories/receipt-outbox.repository';
import { SchedulerRepository } from '../repositories/scheduler.repository';
import { SPEND_COUNTERS, type SpendCounters } from '../repositories/spend-counters';
import { budgetDay, SPEND_CHANNELS } from '../policy/spend-guard';
import { Metrics } from './metrics';

/** Points the scrape-time gauges at the running app: breakers, consumer lag, outbox, scheduler. */
@Injectable()
export class MetricsSources implements OnApplicationBootstrap {
  constructor(
    private readonly metrics: Metrics,
    private readonly router: ChannelRouter,
    private readonly outbox: ReceiptOutboxRepository,
    private readonly scheduler: SchedulerRepository,
    private readonly clock: Clock,
    @Inject(KAFKA_CLIENT) private readonly kafka: Kafka,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(SPEND_COUNTERS) private readonly spend: SpendCounters,
  ) {}

  onApplicationBootstrap(): void {
    const { kafka, topics, priorityLane, profilesGroupId, providerEvents } = this.config;
    const groups = [
      { groupId: kafka.groupId, topic: topics.send },
      ...(priorityLane ? [{ groupId: priorityLane.groupId, topic: priorityLane.topic }] : []),
      { groupId: profilesGroupId, topic: topics.profiles },
      { groupId: providerEvents.groupId, topic: topics.providerEvents },
    ];
    this.metrics.attach({
      breakers: () => this.router.breakerStates(),
      consumerLag: () => consumerGroupLag(this.kafka, groups),
      outboxBacklog: () => this.outbox.backlog(),
      schedulerBacklog: () => this.scheduler.backlog(this.clock.now()),
      spendBudgets: () => this.spendBudgets(),
    });
  }

  private spendBudgets(): Promise<Array<{ channel: string; used: number; budget: number }>> {
    const day = budgetDay(this.clock.now());
    const { dailyBudget } = this.config.spendGuard;
    return Promise.all(
      SPEND_CHANNELS.filter((channel) => dailyBudget[channel] > 0).map(async (channel) => ({
        channel,
        used: await this.spend.budgetUsed(channel, day),
        budget: dailyBudget[channel],
      })),
    );
  }
}
