import type { LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';

/**
 * Field names whose values are personal data or secrets. They are censored wherever they appear
 * one or two levels deep, so a careless log call cannot leak a phone number or a message body.
 */
const SENSITIVE_KEYS = [
  'phone',
  'email',
  'whatsapp',
  'address',
  'to',
  'from',
  'token',
  'fcmToken',
  'fcmTokens',
  'endpoint',
  'keys',
  'webPushSubscriptions',
  'recipient',
  'content',
  'body',
  'text',
  'html',
  'subject',
  'value',
  'password',
  'secret',
  'apiKey',
  'authorization',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const paths = SENSITIVE_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);
  return pino(
    {
      level,
      base: { service: 'omnigate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** Lets Nest's own messages go through the same JSON logger. */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, context?: string): void {
    this.logger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string): void {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string): void {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string): void {
    this.logger.trace({ context }, String(message));
  }
}

export const LOGGER = Symbol('LOGGER');
export type { Logger };
