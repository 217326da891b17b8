import type { OnApplicationShutdown, Provider, Type } from '@nestjs/common';
import type { AppConfig } from '../config/environment';
import type { Logger } from '../observability/logger';
import { connectRedis } from '../repositories/redis-cap-store';
import { redisOptionsOf } from '../repositories/storage.providers';
import { AdminAuditRepository } from './admin-audit.repository';
import { AdminMessagesRepository } from './admin-messages.repository';
import { AdminAuditController } from './audit.controller';
import { AdminAuthGuard } from './auth/admin-auth.guard';
import { AdminCancelController } from './cancel.controller';
import { AdminCustomersController } from './customers.controller';
import { AdminCustomersService } from './customers.service';
import { AdminMessagesController } from './messages.controller';
import { AdminMessagesService } from './messages.service';
import { AdminOpenApiController } from './openapi.controller';
import { AdminProblemFilter } from './problem';
import {
  ADMIN_RATE_LIMITS,
  MemoryRateLimitStore,
  RedisRateLimitStore,
  type RateLimitStore,
} from './rate-limit.repository';
import { ResendService } from './resend.service';
import { AdminSessionController } from './session.controller';

class AdminRateLimitsLifecycle implements OnApplicationShutdown {
  constructor(private readonly store: RateLimitStore) {}

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}

export const adminControllers: Type[] = [
  AdminMessagesController,
  AdminCancelController,
  AdminCustomersController,
  AdminAuditController,
  AdminOpenApiController,
  AdminSessionController,
];

/** The admin API's providers; they use the app's message log, profiles and processing. */
export function adminProviders(config: AppConfig, logger: Logger): Provider[] {
  return [
    {
      provide: ADMIN_RATE_LIMITS,
      useFactory: async (): Promise<RateLimitStore> => {
        if (!config.storage.redisUrl) {
          logger.warn(
            { component: 'admin' },
            'REDIS_URL is not set: admin rate limits are counted in this process only',
          );
          return new MemoryRateLimitStore();
        }
        // The schema keeps gateways that share a Redis but not a database from sharing counts.
        const prefix = `omnigate:admin:${config.storage.databaseSchema ?? 'public'}`;
        const client = await connectRedis(
          config.storage.redisUrl,
          redisOptionsOf(config),
          logger.child({ component: 'redis:admin' }),
        );
        return new RedisRateLimitStore(client, prefix);
      },
    },
    {
      provide: AdminRateLimitsLifecycle,
      inject: [ADMIN_RATE_LIMITS],
      useFactory: (store: RateLimitStore) => new AdminRateLimitsLifecycle(store),
    },
    AdminMessagesRepository,
    AdminAuditRepository,
    AdminMessagesService,
    AdminCustomersService,
    ResendService,
    AdminAuthGuard,
    AdminProblemFilter,
  ];
}
