import type { LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';
import { scrubContacts } from '../services/policy/scrub-contacts';
import { traceLogFields } from './tracing';

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

/**
 * Free-text fields: words from us, the SDKs or the providers, which can quote a recipient. Their
 * phone numbers, email addresses and long tokens are masked; ids live in fields of their own.
 */
const FREE_TEXT_KEYS = ['error', 'detail', 'reason', 'message', 'trace', 'stack', 'cause'];

function scrubFreeText(object: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key of FREE_TEXT_KEYS) {
    const value = object[key];
    if (typeof value !== 'string') continue;
    const scrubbed = scrubContacts(value);
    if (scrubbed === value) continue;
    copy ??= { ...object };
    copy[key] = scrubbed;
  }
  return copy ?? object;
}

/**
 * The one logger of the service: JSON lines with the trace and span id of the work they describe,
 * and two layers of redaction applied to every line: fields that hold personal data or secrets
 * are censored by name, and free text (the message and error fields) has anything that looks like
 * a phone number, an email address or a token masked.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const paths = SENSITIVE_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);
  return pino(
    {
      level,
      base: { service: 'omnigate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths, censor: '[redacted]' },
      mixin: () => traceLogFields(),
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => scrubFreeText(object),
      },
      hooks: {
        logMethod(args, method) {
          // pino's (fields, message) and (message) forms: only the message string is free text.
          const at = typeof args[0] === 'string' ? 0 : 1;
          const message = args[at];
          if (typeof message === 'string') args[at] = scrubContacts(message);
          method.apply(this, args);
        },
      },
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
