import { DEFAULT_TOPICS, type Channel } from '@omnigate/contracts';
import type { BreakerSettings } from '@omnigate/channels';
import { isIP } from 'node:net';
import { z } from 'zod';
import type { CapRule } from '../policy/frequency-caps';
import type { CategoryPolicy } from '../policy/model';
import type { RetryPolicy } from '../policy/retry-backoff';
import { loadCapRules, loadCategoryPolicies } from './policies';
import { loadProviderSettings, PROVIDER_VARIABLE_FIELDS, type ProviderSettings } from './providers';
import type { TracingConfig } from '../observability/tracing';
import { adminEnvironmentShape, loadAdminConfig, type AdminConfig } from '../admin/admin-config';
import type { SpendGuardConfig } from '../policy/spend-guard';
import { spendGuardEnvironmentShape, toSpendGuardConfig } from './spend-guard-config';
import {
  kafkaSecurityEnvironmentShape,
  loadKafkaSecurity,
  type KafkaSecurity,
} from './kafka-security';

/**
 * Every environment variable the service reads, validated at start-up. A bad or missing value
 * stops the process with one message that names each offending variable.
 */

function isAddressOrCidr(entry: string): boolean {
  const [address = '', bits, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  const prefix = Number(bits);
  return /^\d{1,3}$/.test(bits) && prefix <= (family === 4 ? 32 : 128);
}

const integer = (min: number, max: number, fallback: number) =>
  z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return fallback;
      if (!/^-?\d+$/.test(raw)) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number, got "${raw}"` });
        return z.NEVER;
      }
      const value = Number(raw);
      if (value < min || value > max) {
        ctx.addIssue({
          code: 'custom',
          message: `must be between ${min} and ${max}, got ${value}`,
        });
        return z.NEVER;
      }
      return value;
    });

const boolean = (fallback: boolean) =>
  z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return fallback;
      if (['true', '1', 'yes'].includes(raw.toLowerCase())) return true;
      if (['false', '0', 'no'].includes(raw.toLowerCase())) return false;
      ctx.addIssue({ code: 'custom', message: `must be true or false, got "${raw}"` });
      return z.NEVER;
    });

const topicName = (fallback: string) =>
  z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      const value = raw === undefined || raw === '' ? fallback : raw;
      if (!/^[A-Za-z0-9._-]{1,249}$/.test(value)) {
        ctx.addIssue({
          code: 'custom',
          message: `must be a Kafka topic name (letters, digits, ".", "_", "-"), got "${value}"`,
        });
        return z.NEVER;
      }
      return value;
    });

/** A topic name, or undefined when the variable is unset or empty (the caller derives a default). */
const optionalTopicName = z
  .string()
  .trim()
  .optional()
  .transform((raw, ctx) => {
    if (raw === undefined || raw === '') return undefined;
    const parsed = topicName(raw).safeParse(raw);
    if (parsed.success) return parsed.data;
    for (const { message } of parsed.error.issues) ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  });

const brokerList = z
  .string({ error: 'is required (comma-separated host:port list, e.g. 127.0.0.1:9092)' })
  .trim()
  .min(1, 'is required (comma-separated host:port list, e.g. 127.0.0.1:9092)')
  .transform((raw, ctx) => {
    const brokers = raw
      .split(',')
      .map((b) => b.trim())
      .filter((b) => b.length > 0);
    const bad = brokers.filter((b) => !/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/.test(b));
    if (brokers.length === 0 || bad.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `must be a comma-separated host:port list, bad entries: ${bad.join(', ') || '(none given)'}`,
      });
      return z.NEVER;
    }
    return brokers;
  });

const KEY_HELP = '32 random bytes, base64 (e.g. `openssl rand -base64 32`)';

function decodeKey(raw: string): Buffer | undefined {
  const key = Buffer.from(raw, 'base64');
  return key.length === 32 && /^[A-Za-z0-9+/]+={0,2}$/.test(raw) ? key : undefined;
}

/** Seals contacts and content in the message log; required, since a lost key loses resends. */
const messageLogKey = z
  .string({ error: `is required: ${KEY_HELP}` })
  .trim()
  .min(1, `is required: ${KEY_HELP}`)
  .transform((raw, ctx) => {
    const key = decodeKey(raw);
    if (!key) {
      ctx.addIssue({ code: 'custom', message: `must be ${KEY_HELP}` });
      return z.NEVER;
    }
    return key;
  });

/** Keys retired by a rotation, comma-separated: rows sealed with them still open. */
const previousMessageLogKeys = z
  .string()
  .trim()
  .optional()
  .transform((raw, ctx) => {
    const parts = (raw ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p.length > 0);
    const keys = parts.map(decodeKey);
    if (keys.some((key) => key === undefined)) {
      ctx.addIssue({ code: 'custom', message: `every entry must be ${KEY_HELP}` });
      return z.NEVER;
    }
    return keys.filter((key): key is Buffer => key !== undefined);
  });

/** The version traces and logs report; kept with package.json's by a spec. */
export const SERVICE_VERSION = '0.1.0';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Unset is undefined, so a deployment that forgot a channel is told (see safeDefaultProblems). */
const providerList = z
  .string()
  .trim()
  .optional()
  .transform((raw, ctx) => {
    if (raw === undefined) return undefined;
    const ids = raw
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p.length > 0);
    // Ids become parts of variable names (PROVIDER_<ID>_…), so no hyphens.
    const bad = ids.filter((p) => !/^[a-z][a-z0-9_]*$/.test(p));
    if (bad.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `provider ids must be lowercase letters, digits and _, got ${bad.join(', ')}`,
      });
      return z.NEVER;
    }
    return ids;
  });

const environmentSchema = z.object({
  KAFKA_BROKERS: brokerList,
  KAFKA_CLIENT_ID: z.string().trim().min(1).default('omnigate'),
  KAFKA_GROUP_ID: z.string().trim().min(1).default('omnigate-dispatch'),
  KAFKA_CREATE_TOPICS: boolean(false),
  KAFKA_TOPIC_PARTITIONS: integer(1, 1000, 3),
  KAFKA_REPLICATION_FACTOR: integer(1, 10, 1),
  KAFKA_TLS: boolean(false),
  ...kafkaSecurityEnvironmentShape,
  TOPIC_SEND: topicName(DEFAULT_TOPICS.send),
  // Unset: the default priority topic while TOPIC_SEND keeps its default (see priorityLaneOf).
  TOPIC_SEND_PRIORITY: optionalTopicName,
  // Unset: KAFKA_GROUP_ID + "-priority", so a deployment that renames its group renames both.
  KAFKA_PRIORITY_GROUP_ID: z.string().trim().optional(),
  PRIORITY_CONSUMER_CONCURRENCY: integer(1, 10000, 32),
  // While the priority lane has records in hand, the send lane starts new ones only below this.
  CONSUMER_CONCURRENCY_BEHIND_PRIORITY: integer(1, 10000, 32),
  TOPIC_RECEIPTS: topicName(DEFAULT_TOPICS.receipts),
  TOPIC_DEAD_LETTER: topicName(DEFAULT_TOPICS.deadLetter),
  TOPIC_PROFILES: topicName(DEFAULT_TOPICS.profiles),
  TOPIC_PROVIDER_EVENTS: topicName(DEFAULT_TOPICS.providerEvents),
  TOPIC_CANCEL: topicName(DEFAULT_TOPICS.cancel),
  // Where providers reach this gateway through the ingress; unset: no provider delivery reports.
  WEBHOOK_PUBLIC_BASE_URL: z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return undefined;
      const parsed = URL.canParse(raw) ? new URL(raw) : undefined;
      if (parsed?.protocol !== 'https:' || parsed.search !== '' || parsed.hash !== '') {
        ctx.addIssue({
          code: 'custom',
          message: `must be an https:// URL without query or fragment, e.g. https://omnigate.example.com; got "${raw}"`,
        });
        return z.NEVER;
      }
      return raw.replace(/\/+$/, '');
    }),
  WEBHOOK_MAX_AGE_SECONDS: integer(10, 86400, 600),
  // Below Twilio's 15 s: a 503 the provider retries beats a request it abandons.
  WEBHOOK_PUBLISH_TIMEOUT_MS: integer(100, 60000, 10000),
  PUSH_ACK_TTL_SECONDS: integer(60, 2592000, 604800),
  KAFKA_PROFILES_GROUP_ID: z.string().trim().min(1).default('omnigate-profiles'),
  KAFKA_PROVIDER_EVENTS_GROUP_ID: z.string().trim().min(1).default('omnigate-provider-events'),
  // An event for a message the log does not have yet is retried this long, then kept as orphaned.
  PROVIDER_EVENT_RETRY_FOR_MS: integer(1000, 604800000, 3600000),
  DATABASE_URL: z
    .string()
    .trim()
    .optional()
    .refine((v) => !v || /^postgres(ql)?:\/\//.test(v), 'must be a postgres:// URL'),
  DATABASE_POOL_SIZE: integer(1, 200, 20),
  DATABASE_CONNECT_TIMEOUT_MS: integer(100, 120000, 5000),
  DATABASE_STATEMENT_TIMEOUT_MS: integer(100, 3600000, 30000),
  DATABASE_QUERY_TIMEOUT_MS: integer(100, 3600000, 35000),
  DATABASE_IDLE_TIMEOUT_MS: integer(1000, 3600000, 30000),
  // Hot statements prepared once per connection; off behind PgBouncer's transaction mode < 1.21.
  DATABASE_PREPARED_STATEMENTS: boolean(true),
  DATABASE_SCHEMA: z
    .string()
    .trim()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be lower-case letters, digits and _')
    .optional(),
  PGLITE_DATA_DIR: z.string().trim().optional(),
  // In-process stores (PGlite, counters in memory) only when asked for: see safeDefaultProblems.
  STORAGE: z
    .enum(['external', 'embedded'], { error: 'must be external or embedded' })
    .default('external'),
  REDIS_URL: z
    .string()
    .trim()
    .optional()
    .refine((v) => !v || /^rediss?:\/\//.test(v), 'must be a redis:// or rediss:// URL'),
  REDIS_COMMAND_TIMEOUT_MS: integer(50, 120000, 2000),
  REDIS_CONNECT_TIMEOUT_MS: integer(100, 120000, 5000),
  STORAGE_BATCH_WINDOW_MS: integer(0, 1000, 0),
  STORAGE_BATCH_MAX_SIZE: integer(1, 5000, 500),
  STORAGE_BATCH_MAX_IN_FLIGHT: integer(1, 64, 2),
  CATEGORY_POLICIES_FILE: z.string().trim().optional(),
  CAP_RULES_FILE: z.string().trim().optional(),
  SCHEDULER_POLL_MS: integer(50, 60000, 500),
  MESSAGE_LOG_KEY: messageLogKey,
  MESSAGE_LOG_PREVIOUS_KEYS: previousMessageLogKeys,
  MESSAGE_RETENTION_DAYS: integer(1, 3650, 30),
  // How long a cancel waits for a send command that has not arrived yet (default 24 h).
  CANCEL_REMEMBER_SECONDS: integer(1, 30 * 24 * 3600, 24 * 3600),
  MESSAGE_PURGE_INTERVAL_MS: integer(1000, 86400000, 600000),
  INFLIGHT_ATTEMPTS: z
    .enum(['resend', 'unknown'], { error: 'must be resend or unknown' })
    .default('resend'),
  INSTANCE_STALE_AFTER_MS: integer(2000, 600000, 10000),
  RECEIPT_RELAY_POLL_MS: integer(10, 60000, 250),
  RECEIPT_RELAY_BATCH_SIZE: integer(1, 5000, 500),
  RETRY_MAX_RETRIES: integer(0, 50, 5),
  RETRY_BASE_DELAY_MS: integer(10, 3600000, 2000),
  RETRY_MAX_DELAY_MS: integer(10, 86400000, 300000),
  SCHEDULER_BATCH_SIZE: integer(1, 1000, 50),
  SCHEDULER_CONCURRENCY: integer(1, 256, 16),
  CONSUMER_CONCURRENCY: integer(1, 10000, 256),
  CONSUMER_PARTITIONS_CONCURRENTLY: integer(1, 1000, 8),
  CONSUMER_SESSION_TIMEOUT_MS: integer(6000, 300000, 30000),
  CONSUMER_HEARTBEAT_INTERVAL_MS: integer(100, 60000, 3000),
  CONSUMER_MAX_CONSECUTIVE_FAILURES: integer(0, 1000, 20),
  CONSUMER_GIVE_UP_AFTER_MS: integer(1000, 86400000, 900000),
  CONSUMER_FROM_BEGINNING: boolean(true),
  CONSUMER_COMMIT_INTERVAL_MS: integer(100, 60000, 1000),
  CONSUMER_COMMIT_THRESHOLD: integer(1, 100000, 100),
  CONSUMER_RECORD_MAX_ATTEMPTS: integer(1, 100, 3),
  CONSUMER_RECORD_GIVE_UP_MS: integer(100, 3600000, 10000),
  MAX_COMMAND_BYTES: integer(256, 1048576, 65536),
  MAX_COMMAND_DEPTH: integer(4, 256, 32),
  SHUTDOWN_GRACE_MS: integer(1000, 600000, 25000),
  HTTP_HOST: z.string().trim().min(1).default('0.0.0.0'),
  HTTP_PORT: integer(0, 65535, 8080),
  // The addresses of the ingress/load balancers in front of the service, so the admin API's
  // per-address limits see the caller's address from X-Forwarded-For and not the proxy's.
  HTTP_TRUSTED_PROXIES: z
    .string()
    .default('')
    .transform((text) =>
      text
        .split(',')
        .map((entry) => entry.trim())
        .filter((entry) => entry !== ''),
    )
    .refine((entries) => entries.every(isAddressOrCidr), {
      error: 'must be a comma-separated list of IP addresses or CIDR ranges (e.g. 10.0.0.0/8)',
    }),
  // OpenTelemetry's own names; the exporter reads OTEL_EXPORTER_OTLP_* itself. Off by default.
  OTEL_TRACES_EXPORTER: z
    .enum(['none', 'otlp', 'console'], { error: 'must be none, otlp or console' })
    .default('none'),
  OTEL_SDK_DISABLED: boolean(false),
  OTEL_SERVICE_NAME: z.string().trim().min(1).default('omnigate'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .optional(),
  LOG_LEVEL: z
    .enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` })
    .default('info'),
  LOG_ADAPTER_RECORD_FILE: z.string().trim().optional(),
  LOG_ADAPTER_LATENCY_MS: integer(0, 60000, 0),
  TEMPLATES_DIR: z.string().trim().optional(),
  DEFAULT_LOCALE: z
    .string()
    .trim()
    .regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'must be a BCP 47 locale like en or pt-BR')
    .default('en'),
  SMS_MAX_SEGMENTS: integer(1, 20, 10),
  BREAKER_TIMEOUT_MS: integer(100, 120000, 10000),
  BREAKER_ERROR_THRESHOLD_PERCENT: integer(1, 100, 50),
  BREAKER_RESET_MS: integer(100, 3600000, 30000),
  BREAKER_ROLLING_WINDOW_MS: integer(1000, 3600000, 10000),
  BREAKER_VOLUME_THRESHOLD: integer(0, 100000, 5),
  // Added to every PROVIDER_<ID>_RATE_LIMIT window, for jitter between permit and provider.
  RATE_LIMIT_GUARD_MS: integer(0, 10000, 50),
  PROVIDERS_SMS: providerList,
  PROVIDERS_EMAIL: providerList,
  PROVIDERS_WHATSAPP: providerList,
  PROVIDERS_WEBPUSH: providerList,
  PROVIDERS_MOBILEPUSH: providerList,
  ...adminEnvironmentShape,
  ...spendGuardEnvironmentShape,
});

type ParsedEnvironment = z.output<typeof environmentSchema>;

/** Every variable with a fixed name that the service reads (the manifests are checked against it). */
export const ENVIRONMENT_VARIABLES: readonly string[] = Object.keys(environmentSchema.shape).sort();

/**
 * Whether the service reads a variable of this name: a fixed one, a provider's
 * `PROVIDER_<ID>_<FIELD>`, or OpenTelemetry's standard `OTEL_*` (read by the SDK itself).
 */
export function isServiceVariable(name: string): boolean {
  if (ENVIRONMENT_VARIABLES.includes(name)) return true;
  if (name.startsWith('OTEL_')) return true;
  // PROVIDER_, a non-empty id, then a field some provider type reads.
  return PROVIDER_VARIABLE_FIELDS.some((field) =>
    new RegExp(`^PROVIDER_[A-Z0-9_]+_${field}$`).test(name),
  );
}

const providerChoiceSchema = environmentSchema.pick({
  PROVIDERS_SMS: true,
  PROVIDERS_EMAIL: true,
  PROVIDERS_WHATSAPP: true,
  PROVIDERS_WEBPUSH: true,
  PROVIDERS_MOBILEPUSH: true,
});

/** The variables whose absence would otherwise fall back to a fake or an in-process store. */
const safeDefaultChoiceSchema = providerChoiceSchema.extend(
  environmentSchema.pick({ STORAGE: true, DATABASE_URL: true, REDIS_URL: true }).shape,
);

export interface AppConfig {
  /** The support agents' HTTP API under /admin/v1 (credentials, abuse limits). */
  readonly admin: AdminConfig;
  readonly kafka: {
    readonly brokers: readonly string[];
    readonly clientId: string;
    readonly groupId: string;
    readonly createTopics: boolean;
    readonly topicPartitions: number;
    readonly replicationFactor: number;
    /** TLS and SASL to the brokers; both undefined for a plaintext listener. */
    readonly tls: KafkaSecurity['tls'];
    readonly sasl: KafkaSecurity['sasl'];
  };
  readonly topics: {
    readonly send: string;
    readonly receipts: string;
    readonly deadLetter: string;
    readonly profiles: string;
    /** ProviderEvent v1: what the webhook endpoints verified, for the applier. */
    readonly providerEvents: string;
    /** CancelCommand v1, consumed in the group `<KAFKA_GROUP_ID>-cancel`. */
    readonly cancel: string;
  };
  /** The provider webhook endpoints under /webhooks. */
  readonly webhooks: {
    /**
     * The gateway's public https base URL (no trailing slash): Twilio signs the URL it called,
     * and the adapters build status callback and push ack URLs from it. Unset: the Twilio and push
     * endpoints answer 404 and sends carry no callback.
     */
    readonly publicBaseUrl: string | undefined;
    /** SendGrid's signed timestamp may be at most this old (or this far ahead). */
    readonly maxAgeSeconds: number;
    /** Without the broker's acknowledgement after this long, the endpoint answers 503. */
    readonly publishTimeoutMs: number;
    /** How long a push ack token stays acceptable. */
    readonly pushAckTtlSeconds: number;
  };
  readonly profilesGroupId: string;
  readonly providerEvents: {
    /** The applier's consumer group. */
    readonly groupId: string;
    /** How long an event whose message is not in the log yet is retried before it is orphaned. */
    readonly retryForMs: number;
  };
  /**
   * The priority lane for OTP and transactional commands: its own topic, group and concurrency, so
   * a backlog on the send topic never sits in front of it. Undefined when the lane is off.
   */
  readonly priorityLane:
    | {
        readonly topic: string;
        readonly groupId: string;
        readonly concurrency: number;
        /** Send-lane records that may start while the lane has records in hand. */
        readonly sendConcurrencyBehindIt: number;
      }
    | undefined;
  readonly storage: {
    /** Unset only with STORAGE=embedded: a PGlite database (single local instance only). */
    readonly databaseUrl: string | undefined;
    readonly databasePoolSize: number;
    /** How long to wait for a new PostgreSQL connection (at start and from the pool). */
    readonly databaseConnectTimeoutMs: number;
    /** Server-side statement_timeout of every connection: PostgreSQL cancels a longer statement. */
    readonly databaseStatementTimeoutMs: number;
    /** Client-side limit on a query's answer, for a server that has stopped answering at all. */
    readonly databaseQueryTimeoutMs: number;
    /** An unused pooled connection is closed after this long. */
    readonly databaseIdleTimeoutMs: number;
    /** Schema for the tables (created when missing); unset uses the server's default. */
    readonly databaseSchema: string | undefined;
    /** Hot statements prepared once per connection (off for a pooler that moves sessions). */
    readonly databasePreparedStatements: boolean;
    readonly pgliteDataDir: string | undefined;
    /** Unset only with STORAGE=embedded: caps are counted in process (single local instance only). */
    readonly redisUrl: string | undefined;
    /** A Redis command without an answer after this long fails (and counts as an outage). */
    readonly redisCommandTimeoutMs: number;
    readonly redisConnectTimeoutMs: number;
    /**
     * Concurrent storage calls (claims, profile reads, attempts, settles, cap reserves) share one
     * statement or round trip: 0 flushes them on the next turn of the event loop, more waits this
     * long for company; a batch of batchMaxSize goes at once. At most batchMaxInFlight batches of a
     * kind run at once: the calls that arrive meanwhile go together when one ends (group commit).
     */
    readonly batchWindowMs: number;
    readonly batchMaxSize: number;
    readonly batchMaxInFlight: number;
  };
  readonly policies: {
    readonly categories: readonly CategoryPolicy[];
    readonly capRules: readonly CapRule[];
  };
  readonly scheduler: {
    readonly pollMs: number;
    readonly batchSize: number;
    /** Jobs run at once by one instance. */
    readonly concurrency: number;
  };
  readonly messageLog: {
    readonly key: Buffer;
    readonly previousKeys: readonly Buffer[];
    readonly retentionDays: number;
    readonly purgeIntervalMs: number;
    /** How long a cancel is remembered for a send command that has not arrived yet. */
    readonly cancelRememberMs: number;
    /** What a restart does with a provider call that was in flight when its instance died. */
    readonly inflightAttempts: 'resend' | 'unknown';
    /** An instance whose heartbeat is older than this is dead, and its messages are taken over. */
    readonly instanceStaleAfterMs: number;
  };
  readonly receiptRelay: { readonly pollMs: number; readonly batchSize: number };
  /** Retries, through the scheduler, when every candidate failed on the provider side. */
  readonly retry: RetryPolicy;
  readonly consumer: {
    readonly concurrency: number;
    readonly partitionsConsumedConcurrently: number;
    readonly sessionTimeoutMs: number;
    readonly heartbeatIntervalMs: number;
    readonly maxConsecutiveFailures: number;
    /**
     * While a dependency (PostgreSQL, Redis) is down the consumers pause and wait for it; after
     * this long without a single record getting through, the process exits non-zero.
     */
    readonly giveUpAfterMs: number;
    readonly fromBeginning: boolean;
    readonly commitIntervalMs: number;
    readonly commitThreshold: number;
    /**
     * A record whose handler keeps failing for a reason other than a dependency outage is set
     * aside (dead-lettered, answered) after this many attempts or this long, whichever is first.
     */
    readonly recordMaxAttempts: number;
    readonly recordGiveUpMs: number;
  };
  readonly maxCommandBytes: number;
  /** Deepest nesting of objects and arrays accepted in a command or profile event. */
  readonly maxCommandDepth: number;
  readonly shutdownGraceMs: number;
  readonly http: {
    readonly host: string;
    readonly port: number;
    /** Proxies whose X-Forwarded-For is believed; empty: the socket's address is the caller's. */
    readonly trustedProxies: readonly string[];
  };
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly tracing: TracingConfig;
  readonly content: {
    readonly templatesDir: string | undefined;
    readonly defaultLocale: string;
    readonly smsMaxSegments: number;
  };
  /** Refused destinations and the velocity and budget limits of SMS and WhatsApp sends. */
  readonly spendGuard: SpendGuardConfig;
  readonly channels: {
    readonly providers: Readonly<Record<Channel, readonly string[]>>;
    readonly logAdapterRecordFile: string | undefined;
    readonly logAdapterLatencyMs: number;
    readonly providerSettings: readonly ProviderSettings[];
    readonly breaker: BreakerSettings;
    /** Widens each provider's rate-limit window (see SendRateTable.guardMs for why). */
    readonly rateLimitGuardMs: number;
  };
}

export type ConfigResult =
  | { readonly ok: true; readonly config: AppConfig }
  | { readonly ok: false; readonly problems: readonly string[] };

export function loadConfig(env: Readonly<Record<string, string | undefined>>): ConfigResult {
  const parsed = environmentSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const variable = issue.path.map(String).join('.') || '(environment)';
      return `${variable}: ${issue.message}`;
    });
    // Still name the provider variables that are wrong, so one start shows every problem.
    const channels = providerChoiceSchema.safeParse(env);
    if (channels.success) {
      const providers = loadProviderSettings(env, providersOf(channels.data));
      if (!providers.ok) problems.push(...providers.problems);
    }
    const choices = safeDefaultChoiceSchema.safeParse(env);
    if (choices.success) problems.push(...safeDefaultProblems(choices.data));
    return { ok: false, problems };
  }
  const e = parsed.data;
  const problems = [...crossFieldProblems(e), ...safeDefaultProblems(e)];
  const providers = loadProviderSettings(env, providersOf(e));
  if (!providers.ok) problems.push(...providers.problems);
  const policies = {
    categories: loadCategoryPolicies(e.CATEGORY_POLICIES_FILE || undefined, problems),
    capRules: loadCapRules(e.CAP_RULES_FILE || undefined, problems),
  };
  const admin = loadAdminConfig(e, problems);
  const kafkaSecurity = loadKafkaSecurity(e, problems);
  if (problems.length > 0 || !providers.ok) return { ok: false, problems };
  const config = toConfig(e, providers.providers, policies);
  return {
    ok: true,
    config: { ...config, kafka: { ...config.kafka, ...kafkaSecurity }, admin },
  };
}

const CHANNEL_PROVIDER_VARIABLES = [
  'PROVIDERS_SMS',
  'PROVIDERS_EMAIL',
  'PROVIDERS_WHATSAPP',
  'PROVIDERS_WEBPUSH',
  'PROVIDERS_MOBILEPUSH',
] as const;

/**
 * The log provider and the in-process stores are right for a laptop and wrong in production,
 * where they would drop every message or let replicas each count caps on their own. So they run
 * only when chosen by name, and a deployment that forgot its providers or its database stops.
 */
function safeDefaultProblems(e: z.output<typeof safeDefaultChoiceSchema>): string[] {
  const problems: string[] = [];
  const unset = CHANNEL_PROVIDER_VARIABLES.filter((name) => e[name] === undefined);
  if (unset.length > 0) {
    problems.push(
      `${unset.join(', ')}: not set; name each channel's providers in priority order (e.g. PROVIDERS_SMS=twilio), "log" to only log its messages (nothing is sent), or leave it empty to turn the channel off`,
    );
  }
  if (e.STORAGE === 'external' && !e.DATABASE_URL) {
    problems.push(
      'DATABASE_URL: is required (postgres://…), or set STORAGE=embedded for an in-process PGlite database (one local instance only)',
    );
  }
  if (e.STORAGE === 'external' && !e.REDIS_URL) {
    problems.push(
      'REDIS_URL: is required (redis://…), or set STORAGE=embedded to count caps and send rates in this process (one local instance only)',
    );
  }
  return problems;
}

function crossFieldProblems(e: ParsedEnvironment): string[] {
  const problems: string[] = [];
  if (e.CONSUMER_HEARTBEAT_INTERVAL_MS * 3 > e.CONSUMER_SESSION_TIMEOUT_MS) {
    problems.push(
      'CONSUMER_HEARTBEAT_INTERVAL_MS: must be at most a third of CONSUMER_SESSION_TIMEOUT_MS',
    );
  }
  // The server cancels a slow statement first; the client's own timer is for a silent server.
  if (e.DATABASE_QUERY_TIMEOUT_MS <= e.DATABASE_STATEMENT_TIMEOUT_MS) {
    problems.push('DATABASE_QUERY_TIMEOUT_MS: must be longer than DATABASE_STATEMENT_TIMEOUT_MS');
  }
  if (e.KAFKA_GROUP_ID === e.KAFKA_PROFILES_GROUP_ID) {
    problems.push('KAFKA_PROFILES_GROUP_ID: must differ from KAFKA_GROUP_ID');
  }
  if ([e.KAFKA_GROUP_ID, e.KAFKA_PROFILES_GROUP_ID].includes(e.KAFKA_PROVIDER_EVENTS_GROUP_ID)) {
    problems.push(
      'KAFKA_PROVIDER_EVENTS_GROUP_ID: must differ from KAFKA_GROUP_ID and KAFKA_PROFILES_GROUP_ID',
    );
  }
  const lane = priorityLaneOf(e);
  // One group over two topics would let Kafka hand send partitions to the priority consumer.
  if (lane && [e.KAFKA_GROUP_ID, e.KAFKA_PROFILES_GROUP_ID].includes(lane.groupId)) {
    problems.push(
      'KAFKA_PRIORITY_GROUP_ID: must differ from KAFKA_GROUP_ID and KAFKA_PROFILES_GROUP_ID',
    );
  }
  const topics = [
    e.TOPIC_SEND,
    e.TOPIC_RECEIPTS,
    e.TOPIC_DEAD_LETTER,
    e.TOPIC_PROFILES,
    e.TOPIC_PROVIDER_EVENTS,
    e.TOPIC_CANCEL,
  ];
  if (lane) topics.push(lane.topic);
  if (new Set(topics).size !== topics.length) {
    problems.push(
      `TOPIC_SEND, TOPIC_RECEIPTS, TOPIC_DEAD_LETTER, TOPIC_PROFILES, TOPIC_PROVIDER_EVENTS, TOPIC_CANCEL${lane ? ', TOPIC_SEND_PRIORITY' : ''}: must be different topics`,
    );
  }
  return problems;
}

/**
 * The lane is on when TOPIC_SEND_PRIORITY is set, or when both send topics keep their default
 * names. A deployment that renamed its send topic (another environment, a test) gets no lane until
 * it names one: falling back to the shared default topic would let two deployments on one cluster
 * each consume it in their own group, and send every OTP twice.
 */
function priorityLaneOf(e: ParsedEnvironment): AppConfig['priorityLane'] {
  const topic =
    e.TOPIC_SEND_PRIORITY ??
    (e.TOPIC_SEND === DEFAULT_TOPICS.send ? DEFAULT_TOPICS.sendPriority : undefined);
  if (topic === undefined) return undefined;
  return {
    topic,
    groupId: e.KAFKA_PRIORITY_GROUP_ID || `${e.KAFKA_GROUP_ID}-priority`,
    concurrency: e.PRIORITY_CONSUMER_CONCURRENCY,
    sendConcurrencyBehindIt: Math.min(
      e.CONSUMER_CONCURRENCY_BEHIND_PRIORITY,
      e.CONSUMER_CONCURRENCY,
    ),
  };
}

function providersOf(
  e: Pick<
    ParsedEnvironment,
    | 'PROVIDERS_SMS'
    | 'PROVIDERS_EMAIL'
    | 'PROVIDERS_WHATSAPP'
    | 'PROVIDERS_WEBPUSH'
    | 'PROVIDERS_MOBILEPUSH'
  >,
): Record<Channel, readonly string[]> {
  // An unset list is reported by safeDefaultProblems; here it only has no providers.
  return {
    sms: e.PROVIDERS_SMS ?? [],
    email: e.PROVIDERS_EMAIL ?? [],
    whatsapp: e.PROVIDERS_WHATSAPP ?? [],
    webpush: e.PROVIDERS_WEBPUSH ?? [],
    mobilepush: e.PROVIDERS_MOBILEPUSH ?? [],
  };
}

function toConfig(
  e: ParsedEnvironment,
  providerSettings: readonly ProviderSettings[],
  policies: AppConfig['policies'],
): Omit<AppConfig, 'admin' | 'kafka'> & {
  readonly kafka: Omit<AppConfig['kafka'], keyof KafkaSecurity>;
} {
  const providers = providersOf(e);
  return {
    kafka: {
      brokers: e.KAFKA_BROKERS,
      clientId: e.KAFKA_CLIENT_ID,
      groupId: e.KAFKA_GROUP_ID,
      createTopics: e.KAFKA_CREATE_TOPICS,
      topicPartitions: e.KAFKA_TOPIC_PARTITIONS,
      replicationFactor: e.KAFKA_REPLICATION_FACTOR,
    },
    topics: {
      send: e.TOPIC_SEND,
      receipts: e.TOPIC_RECEIPTS,
      deadLetter: e.TOPIC_DEAD_LETTER,
      profiles: e.TOPIC_PROFILES,
      providerEvents: e.TOPIC_PROVIDER_EVENTS,
      cancel: e.TOPIC_CANCEL,
    },
    webhooks: {
      publicBaseUrl: e.WEBHOOK_PUBLIC_BASE_URL,
      maxAgeSeconds: e.WEBHOOK_MAX_AGE_SECONDS,
      publishTimeoutMs: e.WEBHOOK_PUBLISH_TIMEOUT_MS,
      pushAckTtlSeconds: e.PUSH_ACK_TTL_SECONDS,
    },
    profilesGroupId: e.KAFKA_PROFILES_GROUP_ID,
    providerEvents: {
      groupId: e.KAFKA_PROVIDER_EVENTS_GROUP_ID,
      retryForMs: e.PROVIDER_EVENT_RETRY_FOR_MS,
    },
    priorityLane: priorityLaneOf(e),
    storage: {
      databaseUrl: e.DATABASE_URL || undefined,
      databasePoolSize: e.DATABASE_POOL_SIZE,
      databaseConnectTimeoutMs: e.DATABASE_CONNECT_TIMEOUT_MS,
      databaseStatementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
      databaseQueryTimeoutMs: e.DATABASE_QUERY_TIMEOUT_MS,
      databaseIdleTimeoutMs: e.DATABASE_IDLE_TIMEOUT_MS,
      databaseSchema: e.DATABASE_SCHEMA,
      databasePreparedStatements: e.DATABASE_PREPARED_STATEMENTS,
      pgliteDataDir: e.PGLITE_DATA_DIR || undefined,
      redisUrl: e.REDIS_URL || undefined,
      redisCommandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
      redisConnectTimeoutMs: e.REDIS_CONNECT_TIMEOUT_MS,
      batchWindowMs: e.STORAGE_BATCH_WINDOW_MS,
      batchMaxSize: e.STORAGE_BATCH_MAX_SIZE,
      batchMaxInFlight: e.STORAGE_BATCH_MAX_IN_FLIGHT,
    },
    policies,
    scheduler: {
      pollMs: e.SCHEDULER_POLL_MS,
      batchSize: e.SCHEDULER_BATCH_SIZE,
      concurrency: e.SCHEDULER_CONCURRENCY,
    },
    messageLog: {
      key: e.MESSAGE_LOG_KEY,
      previousKeys: e.MESSAGE_LOG_PREVIOUS_KEYS,
      retentionDays: e.MESSAGE_RETENTION_DAYS,
      purgeIntervalMs: e.MESSAGE_PURGE_INTERVAL_MS,
      inflightAttempts: e.INFLIGHT_ATTEMPTS,
      instanceStaleAfterMs: e.INSTANCE_STALE_AFTER_MS,
      cancelRememberMs: e.CANCEL_REMEMBER_SECONDS * 1000,
    },
    receiptRelay: { pollMs: e.RECEIPT_RELAY_POLL_MS, batchSize: e.RECEIPT_RELAY_BATCH_SIZE },
    retry: {
      maxRetries: e.RETRY_MAX_RETRIES,
      baseDelayMs: e.RETRY_BASE_DELAY_MS,
      maxDelayMs: e.RETRY_MAX_DELAY_MS,
    },
    consumer: {
      concurrency: e.CONSUMER_CONCURRENCY,
      partitionsConsumedConcurrently: e.CONSUMER_PARTITIONS_CONCURRENTLY,
      sessionTimeoutMs: e.CONSUMER_SESSION_TIMEOUT_MS,
      heartbeatIntervalMs: e.CONSUMER_HEARTBEAT_INTERVAL_MS,
      maxConsecutiveFailures: e.CONSUMER_MAX_CONSECUTIVE_FAILURES,
      giveUpAfterMs: e.CONSUMER_GIVE_UP_AFTER_MS,
      fromBeginning: e.CONSUMER_FROM_BEGINNING,
      commitIntervalMs: e.CONSUMER_COMMIT_INTERVAL_MS,
      commitThreshold: e.CONSUMER_COMMIT_THRESHOLD,
      recordMaxAttempts: e.CONSUMER_RECORD_MAX_ATTEMPTS,
      recordGiveUpMs: e.CONSUMER_RECORD_GIVE_UP_MS,
    },
    maxCommandBytes: e.MAX_COMMAND_BYTES,
    maxCommandDepth: e.MAX_COMMAND_DEPTH,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT, trustedProxies: e.HTTP_TRUSTED_PROXIES },
    logLevel: e.LOG_LEVEL,
    tracing: {
      exporter: e.OTEL_SDK_DISABLED ? 'none' : e.OTEL_TRACES_EXPORTER,
      serviceName: e.OTEL_SERVICE_NAME,
      serviceVersion: SERVICE_VERSION,
    },
    content: {
      templatesDir: e.TEMPLATES_DIR || undefined,
      defaultLocale: e.DEFAULT_LOCALE,
      smsMaxSegments: e.SMS_MAX_SEGMENTS,
    },
    spendGuard: toSpendGuardConfig(e),
    channels: {
      providers,
      logAdapterRecordFile: e.LOG_ADAPTER_RECORD_FILE || undefined,
      logAdapterLatencyMs: e.LOG_ADAPTER_LATENCY_MS,
      providerSettings,
      breaker: {
        timeoutMs: e.BREAKER_TIMEOUT_MS,
        errorThresholdPercentage: e.BREAKER_ERROR_THRESHOLD_PERCENT,
        resetTimeoutMs: e.BREAKER_RESET_MS,
        rollingCountTimeoutMs: e.BREAKER_ROLLING_WINDOW_MS,
        volumeThreshold: e.BREAKER_VOLUME_THRESHOLD,
      },
      rateLimitGuardMs: e.RATE_LIMIT_GUARD_MS,
    },
  };
}
