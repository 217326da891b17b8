import { Module, type DynamicModule } from '@nestjs/common';
import { ChannelRouter, type SendPermits } from '@omnigate/channels';
import {
  createKafkaClient,
  DeadLetterPublisher,
  KafkaPublisher,
  type Kafka,
} from '@omnigate/kafka';
import { adminControllers, adminProviders } from './admin/admin.providers';
import type { AppConfig } from './config/environment';
import { APP_CONFIG } from './config/app-config.token';
import { ConsoleController } from './console/console.controller';
import { HealthController } from './controllers/health.controller';
import { MetricsController } from './controllers/metrics.controller';
import { Metrics } from './observability/metrics';
import { MetricsSources } from './observability/metrics-sources';
import { KafkaConsumers } from './controllers/kafka-consumers';
import {
  PushAckController,
  SendGridWebhooksController,
  TwilioWebhooksController,
} from './controllers/webhooks';
import { ProviderWebhooksService } from './services/provider-webhooks.service';
import { ProviderEventsRepository } from './repositories/provider-events.repository';
import { FATAL_ERROR_HANDLER, KAFKA_CLIENT, type FatalErrorHandler } from './controllers/tokens';
import { LOGGER, type Logger } from './observability/logger';
import { Clock, SystemClock } from './repositories/clock';
import { ProfileRepository } from './repositories/profile.repository';
import { InstanceRepository } from './repositories/instance.repository';
import { MessageLogRepository } from './repositories/message-log.repository';
import { ReceiptOutboxRepository } from './repositories/receipt-outbox.repository';
import { SchedulerRepository } from './repositories/scheduler.repository';
import { EscalationScheduler } from './services/escalation-scheduler';
import { SEND_PERMITS, storageProviders } from './repositories/storage.providers';
import { DeferredDispatchWorker } from './services/deferred-dispatch.worker';
import { ProfileUpdatesService } from './services/profile-updates.service';
import { ProviderEventsService } from './services/provider-events.service';
import { AddressSuppressionsService } from './services/address-suppressions.service';
import { AddressSuppressionRepository } from './repositories/address-suppression.repository';
import { ProviderEventRepository } from './repositories/provider-event.repository';
import { DispatchService } from './services/dispatch.service';
import { ContentRenderer } from './services/content/content-renderer';
import { TemplateRepository } from './repositories/template.repository';
import { buildChannelRouter, ChannelsLifecycle } from './config/channel-router.factory';
import { IntakeService } from './services/intake.service';
import { CancelService } from './services/cancel.service';
import { CancellationRepository } from './repositories/cancellation.repository';
import { GatewayInstance } from './services/gateway-instance';
import { MessageProcessingService } from './services/message-processing.service';
import { MessageRetentionService } from './services/message-retention.service';
import { ReceiptRelay } from './services/receipt-relay.service';
import { ShutdownSequence } from './services/shutdown-sequence';

export interface AppModuleOptions {
  readonly config: AppConfig;
  readonly logger: Logger;
  readonly onFatal: FatalErrorHandler;
  readonly clock?: Clock;
}

@Module({})
export class AppModule {
  static forRoot(options: AppModuleOptions): DynamicModule {
    const { config, logger } = options;
    return {
      module: AppModule,
      controllers: [
        HealthController,
        MetricsController,
        ConsoleController,
        TwilioWebhooksController,
        SendGridWebhooksController,
        PushAckController,
        ...adminControllers,
      ],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
        { provide: FATAL_ERROR_HANDLER, useValue: options.onFatal },
        { provide: Clock, useValue: options.clock ?? new SystemClock() },
        // A registry per app, so several apps in one process (tests) keep their own counts.
        { provide: Metrics, useValue: new Metrics() },
        MetricsSources,
        {
          provide: KAFKA_CLIENT,
          useFactory: () =>
            createKafkaClient(
              {
                clientId: config.kafka.clientId,
                brokers: config.kafka.brokers,
                tls: config.kafka.tls,
                sasl: config.kafka.sasl,
              },
              logger.child({ component: 'kafka' }),
            ),
        },
        {
          provide: KafkaPublisher,
          inject: [KAFKA_CLIENT],
          useFactory: (kafka: Kafka) => new KafkaPublisher(kafka, logger),
        },
        {
          provide: DeadLetterPublisher,
          inject: [KafkaPublisher],
          useFactory: (publisher: KafkaPublisher) =>
            new DeadLetterPublisher(publisher, config.topics.deadLetter),
        },
        {
          provide: ChannelRouter,
          inject: [SEND_PERMITS],
          useFactory: (permits: SendPermits) =>
            buildChannelRouter(
              config,
              // fromState/toState: "from" and "to" are censored log fields (they usually hold contacts).
              (change) =>
                logger.warn(
                  {
                    channel: change.channel,
                    provider: change.provider,
                    fromState: change.from,
                    toState: change.to,
                    component: 'breaker',
                  },
                  `circuit breaker ${change.to}`,
                ),
              permits,
              (provider, error) =>
                logger.warn(
                  {
                    provider,
                    component: 'send-permits',
                    error: error instanceof Error ? error.message : String(error),
                  },
                  'could not record the end of a provider call; its slot counts from the grant',
                ),
            ),
        },
        {
          provide: TemplateRepository,
          useFactory: () => new TemplateRepository(config.content.templatesDir),
        },
        ContentRenderer,
        {
          provide: ChannelsLifecycle,
          inject: [ChannelRouter],
          useFactory: (router: ChannelRouter) => new ChannelsLifecycle(router),
        },
        ...storageProviders(config, logger),
        ProfileRepository,
        SchedulerRepository,
        InstanceRepository,
        ReceiptOutboxRepository,
        MessageLogRepository,
        AddressSuppressionRepository,
        ProviderEventRepository,
        {
          provide: GatewayInstance,
          inject: [InstanceRepository],
          useFactory: (instances: InstanceRepository) =>
            GatewayInstance.start(instances, logger, config.messageLog.instanceStaleAfterMs),
        },
        ReceiptRelay,
        MessageRetentionService,
        MessageProcessingService,
        AddressSuppressionsService,
        DispatchService,
        IntakeService,
        CancellationRepository,
        CancelService,
        ProfileUpdatesService,
        ProviderEventsRepository,
        ProviderWebhooksService,
        ProviderEventsService,
        DeferredDispatchWorker,
        EscalationScheduler,
        KafkaConsumers,
        ShutdownSequence,
        ...adminProviders(config, logger),
      ],
    };
  }
}
