import type { OnApplicationShutdown, Provider } from '@nestjs/common';
import type { RedisOptions } from 'ioredis';
import { sql } from 'kysely';
import { describeSendRate, type SendPermits } from '@omnigate/channels';
import { sendRateTable } from '../config/channel-router.factory';
import type { AppConfig } from '../config/environment';
import type { Logger } from '../observability/logger';
import { Metrics } from '../observability/metrics';
import { CAP_STORE, type CapStore } from './cap-store';
import { createDatabase, KYSELY, migrateToLatest, type DatabaseHandle } from './database';
import { DependencyHealth, type DependencyProbe } from './dependency-health';
import { MemoryCapStore } from './memory-cap-store';
import { STORAGE_BATCHING, type BatchingOptions } from './micro-batcher';
import { MemorySendPermits } from './memory-send-permits';
import { MessageSealer } from './message-sealer';
import { RedisCapStore, redisOptionsFor } from './redis-cap-store';
import { RedisSendPermits } from './redis-send-permits';
import { MemorySpendCounters } from './memory-spend-counters';
import { RedisSpendCounters } from './redis-spend-counters';
import { SPEND_COUNTERS, type SpendCounters } from './spend-counters';

const DATABASE_HANDLE = Symbol('DATABASE_HANDLE');

/** Nest injection token for the configured SendPermits (providers' send rates). */
export const SEND_PERMITS = Symbol('SendPermits');

type SendPermitStore = SendPermits & { close(): Promise<void> };

/** Closes the send-rate store's connection once nothing sends any more. */
class SendPermitsLifecycle implements OnApplicationShutdown {
  constructor(private readonly permits: SendPermitStore) {}

  async onApplicationShutdown(): Promise<void> {
    await this.permits.close();
  }
}

/** Closes the spend guard's counters once nothing sends any more. */
class SpendCountersLifecycle implements OnApplicationShutdown {
  constructor(private readonly counters: SpendCounters) {}

  async onApplicationShutdown(): Promise<void> {
    await this.counters.close();
  }
}

/** Closes the database pool and the cap store after everything that uses them has stopped. */
class StorageLifecycle implements OnApplicationShutdown {
  constructor(
    private readonly database: DatabaseHandle,
    private readonly caps: CapStore,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.caps.close();
    await this.database.close();
  }
}

/** Every Redis client of the service uses the same deliberate timeouts (see redisOptionsFor). */
export function redisOptionsOf(config: AppConfig): RedisOptions {
  return redisOptionsFor({
    commandTimeoutMs: config.storage.redisCommandTimeoutMs,
    connectTimeoutMs: config.storage.redisConnectTimeoutMs,
  });
}

function batchingOf(config: AppConfig, metrics: Metrics): BatchingOptions {
  return {
    windowMs: config.storage.batchWindowMs,
    maxSize: config.storage.batchMaxSize,
    maxInFlight: config.storage.batchMaxInFlight,
    observe: (operation) => {
      const series = metrics.storageCallSeconds.labels({ operation });
      return (seconds) => series.observe(seconds);
    },
  };
}

/**
 * PostgreSQL (or the embedded PGlite without DATABASE_URL) migrated to the latest schema, the
 * sealer of the contacts stored there, and the frequency-cap store (Redis, or in process without
 * REDIS_URL). Each embedded default says so in the start-up log: it is right for one local
 * instance, not for replicas.
 */
export function storageProviders(config: AppConfig, logger: Logger): Provider[] {
  return [
    {
      provide: STORAGE_BATCHING,
      inject: [Metrics],
      useFactory: (metrics: Metrics) => batchingOf(config, metrics),
    },
    {
      provide: DATABASE_HANDLE,
      useFactory: async (): Promise<DatabaseHandle> => {
        const handle = await createDatabase({
          databaseUrl: config.storage.databaseUrl,
          pgliteDataDir: config.storage.pgliteDataDir,
          maxConnections: config.storage.databasePoolSize,
          connectTimeoutMs: config.storage.databaseConnectTimeoutMs,
          statementTimeoutMs: config.storage.databaseStatementTimeoutMs,
          queryTimeoutMs: config.storage.databaseQueryTimeoutMs,
          idleTimeoutMs: config.storage.databaseIdleTimeoutMs,
          schema: config.storage.databaseSchema,
          preparedStatements: config.storage.databasePreparedStatements,
          logger: logger.child({ component: 'database' }),
        });
        const applied = await migrateToLatest(handle.db);
        logger.info({ database: handle.kind, migrationsApplied: applied }, 'database ready');
        return handle;
      },
    },
    {
      provide: KYSELY,
      inject: [DATABASE_HANDLE],
      useFactory: (handle: DatabaseHandle) => handle.db,
    },
    {
      // Seals contacts on stored profiles under the message-log keys (ProfileRepository).
      provide: MessageSealer,
      useFactory: () => new MessageSealer(config.messageLog.key, config.messageLog.previousKeys),
    },
    {
      provide: CAP_STORE,
      inject: [STORAGE_BATCHING],
      useFactory: async (batching: BatchingOptions): Promise<CapStore> => {
        if (config.storage.redisUrl) {
          const store = await RedisCapStore.connect(config.storage.redisUrl, {
            redis: redisOptionsOf(config),
            batching,
            logger: logger.child({ component: 'redis:caps' }),
          });
          logger.info({ caps: 'redis' }, 'frequency caps counted in Redis');
          return store;
        }
        logger.warn(
          { caps: 'memory' },
          'REDIS_URL is not set: frequency caps are counted in this process only (fine for one local instance, wrong for replicas)',
        );
        return new MemoryCapStore();
      },
    },
    {
      provide: SEND_PERMITS,
      useFactory: async (): Promise<SendPermitStore> => {
        const table = sendRateTable(config);
        // Nothing to count: no connection, and nothing to warn about.
        if (table.rates.size === 0) return new MemorySendPermits(table);
        const sendRates = Object.fromEntries(
          [...table.rates].map(([id, rate]) => [id, describeSendRate(rate)]),
        );
        if (config.storage.redisUrl) {
          const store = await RedisSendPermits.connect(config.storage.redisUrl, table, {
            redis: redisOptionsOf(config),
            logger: logger.child({ component: 'redis:send-rates' }),
          });
          logger.info(
            { sendRates, guardMs: table.guardMs },
            'provider send rates counted in Redis',
          );
          return store;
        }
        logger.warn(
          { sendRates, guardMs: table.guardMs },
          'REDIS_URL is not set: provider send rates are counted in this process only (fine for one local instance; replicas would each send at the full rate)',
        );
        return new MemorySendPermits(table);
      },
    },
    {
      provide: SPEND_COUNTERS,
      useFactory: async (): Promise<SpendCounters> => {
        if (config.storage.redisUrl) {
          const counters = await RedisSpendCounters.connect(config.storage.redisUrl, {
            keyPrefix: config.spendGuard.keyPrefix,
            redis: redisOptionsOf(config),
          });
          logger.info({ spendGuard: 'redis' }, 'spend guard velocity and budgets counted in Redis');
          return counters;
        }
        logger.warn(
          { spendGuard: 'memory' },
          'REDIS_URL is not set: spend guard velocity and budgets are counted in this process only (fine for one local instance; replicas would each allow the full limits)',
        );
        return new MemorySpendCounters();
      },
    },
    {
      provide: SpendCountersLifecycle,
      inject: [SPEND_COUNTERS],
      useFactory: (counters: SpendCounters) => new SpendCountersLifecycle(counters),
    },
    {
      provide: SendPermitsLifecycle,
      inject: [SEND_PERMITS],
      useFactory: (permits: SendPermitStore) => new SendPermitsLifecycle(permits),
    },
    {
      provide: DependencyHealth,
      inject: [DATABASE_HANDLE, CAP_STORE],
      useFactory: (handle: DatabaseHandle, caps: CapStore): DependencyHealth => {
        const probes: DependencyProbe[] = [];
        // PGlite lives in this process: it cannot become unreachable, only busy.
        if (handle.kind === 'postgres') {
          probes.push({
            name: 'postgresql',
            check: async () => void (await sql`select 1`.execute(handle.db)),
          });
        }
        // The send-rate and admin clients go to the same Redis: one probe answers for them.
        if (caps instanceof RedisCapStore) probes.push({ name: 'redis', check: () => caps.ping() });
        return new DependencyHealth(probes, logger.child({ component: 'dependencies' }));
      },
    },
    {
      provide: StorageLifecycle,
      inject: [DATABASE_HANDLE, CAP_STORE],
      useFactory: (handle: DatabaseHandle, caps: CapStore) => new StorageLifecycle(handle, caps),
    },
  ];
}
