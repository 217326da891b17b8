import type { LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';
import { scrubContacts } from '../policy/scrub-contacts';
import { traceLogFields } from './tracing';

/**
 * Field names whose values are personal data or secrets. They are censored at any depth, whatever
 * their case or separators (`Phone`, `EMAIL`, `api_key`, `Authorization`), so a careless log call
 * cannot leak a phone number, a password or a message body.
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
  'authToken',
  'accessToken',
  'privateKey',
];

/**
 * Free-text fields: words from us, the SDKs or the providers, which can quote a recipient. Their
 * phone numbers, email addresses and long tokens are masked; ids live in fields of their own.
 */
const FREE_TEXT_KEYS = ['error', 'detail', 'reason', 'message', 'trace', 'stack', 'cause'];

/** `apiKey`, `API_KEY` and `api-key` are one name. */
const normalKey = (key: string): string => key.toLowerCase().replace(/[-_]/g, '');
const SENSITIVE = new Set(SENSITIVE_KEYS.map(normalKey));
const FREE_TEXT = new Set(FREE_TEXT_KEYS.map(normalKey));
const CENSORED = '[redacted]';
/** Deeper than any field we log on purpose; also what stops a cycle. */
const MAX_DEPTH = 8;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * An error as a plain object (pino's shape: type, message and stack with their causes, and its own
 * fields), so its message and stack are scrubbed like any free text.
 */
function errorFields(error: Error): Record<string, unknown> {
  return { ...pino.stdSerializers.err(error) };
}

/**
 * A copy of a log object with sensitive fields censored and free text scrubbed, at any depth.
 * Only plain objects, arrays and errors are walked; anything else is logged as it is.
 */
function redact(value: unknown, depth: number): unknown {
  if (value instanceof Error) return redact(errorFields(value), depth);
  if (depth > MAX_DEPTH) return Array.isArray(value) || isPlainObject(value) ? '[too deep]' : value;
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  if (!isPlainObject(value)) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    const name = normalKey(key);
    if (SENSITIVE.has(name)) copy[key] = CENSORED;
    else if (FREE_TEXT.has(name) && typeof field === 'string') copy[key] = scrubContacts(field);
    else copy[key] = redact(field, depth + 1);
  }
  return copy;
}

const redactFields = (object: Record<string, unknown>): Record<string, unknown> =>
  redact(object, 0) as Record<string, unknown>;

/**
 * The one logger of the service: JSON lines with the trace and span id of the work they describe,
 * and two layers of redaction applied to every line and every child's bindings: fields that hold
 * personal data or secrets are censored by name, and free text (the message, error fields, an
 * error's message and stack) has anything that looks like a phone number, an email address or a
 * token masked.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const logger = pino(
    {
      level,
      base: { service: 'omnigate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      mixin: () => traceLogFields(),
      formatters: {
        level: (label) => ({ level: label }),
        log: redactFields,
      },
      serializers: {
        // The log formatter has already made errors plain and scrubbed; pino's own err serializer
        // would take that object for an error again and call it an "Object".
        err: (value: unknown) => redact(value, 0),
        // Every message, also the one pino takes from an error logged without a message.
        msg: (message: unknown) => (typeof message === 'string' ? scrubContacts(message) : message),
      },
    },
    destination,
  );
  // pino skips the bindings formatter for children; every child (and its children, which inherit
  // this method) has its bindings redacted here instead.
  const pinoMethods = Object.getPrototypeOf(logger) as Pick<Logger, 'child'>;
  logger.child = function child<ChildLevels extends string = never>(
    this: Logger,
    bindings: pino.Bindings,
    options?: pino.ChildLoggerOptions<ChildLevels>,
  ): Logger<ChildLevels> {
    return pinoMethods.child.call<
      Logger,
      [pino.Bindings, pino.ChildLoggerOptions<ChildLevels>?],
      Logger<ChildLevels>
    >(this, redactFields(bindings), options);
  };
  return logger;
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
