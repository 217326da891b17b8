import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Express } from 'express';
import { ChannelRouter } from '@omnigate/channels';
import { adminBodyParser } from './admin/body-limit';
import { AppModule } from './app.module';
import { webhookBodyParser } from './controllers/webhooks';
import { loadConfig } from './config/environment';
import { createLogger, NestPinoLogger } from './observability/logger';
import { setUpTracing } from './observability/tracing';

async function bootstrap(): Promise<void> {
  const loaded = loadConfig(process.env);
  if (!loaded.ok) {
    process.stderr.write(
      `omnigate: invalid configuration, not starting:\n${loaded.problems.map((p) => `  - ${p}`).join('\n')}\n`,
    );
    process.exit(78); // EX_CONFIG
  }
  const { config } = loaded;
  // Before anything that logs or consumes: the trace context must be in place for both.
  const tracing = setUpTracing(config.tracing);
  const logger = createLogger(config.logLevel);

  // Filled once Nest has built the app; a fatal error before that exits without closing.
  const running: { app?: INestApplication } = {};
  let shuttingDown = false;
  const exitAfterClose = (code: number, reason: string): void => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info({ reason, graceMs: config.shutdownGraceMs }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error({ graceMs: config.shutdownGraceMs }, 'shutdown exceeded its grace period');
      process.exit(1);
    }, config.shutdownGraceMs);
    deadline.unref();
    if (!running.app) process.exit(code);
    running.app
      .close()
      .then(() => tracing.shutdown())
      .then(() => {
        logger.info({ code }, 'stopped');
        process.exit(code);
      })
      .catch((error: unknown) => {
        logger.error({ error: String(error) }, 'shutdown failed');
        process.exit(1);
      });
  };

  const app = await NestFactory.create(
    AppModule.forRoot({
      config,
      logger,
      onFatal: (error) => {
        logger.fatal({ error: error.message }, 'consumer crashed and will not recover; exiting');
        exitAfterClose(1, 'consumer crashed');
      },
    }),
    { logger: new NestPinoLogger(logger.child({ component: 'nest' })), abortOnError: false },
  );
  running.app = app;
  if (config.http.trustedProxies.length > 0) {
    const express = app.getHttpAdapter().getInstance() as Express;
    express.set('trust proxy', [...config.http.trustedProxies]);
  }
  // Before Nest's own parser, so the admin routes' smaller body limit is the one that applies.
  app.use('/admin', ...adminBodyParser(config.admin.bodyLimitBytes));
  // The providers sign the bytes they send: the webhook routes get them unparsed.
  app.use('/webhooks', ...webhookBodyParser());
  process.once('SIGTERM', () => exitAfterClose(0, 'SIGTERM'));
  process.once('SIGINT', () => exitAfterClose(0, 'SIGINT'));

  logger.info({ channels: app.get(ChannelRouter).describe() }, 'channel providers configured');
  await app.listen(config.http.port, config.http.host);
  logger.info({ port: config.http.port }, 'http listening');
}

bootstrap().catch((error: unknown) => {
  process.stderr.write(
    `omnigate: failed to start: ${error instanceof Error ? error.stack : String(error)}\n`,
  );
  process.exit(1);
});
