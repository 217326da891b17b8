import type { ColumnType, Generated } from 'kysely';
import type {
  ContactPoint,
  CustomerProfile,
  StoredFcmToken,
  StoredWebPushSubscription,
} from '../../policy/model';

/**
 * The tables as Kysely sees them. Column names stay snake_case as in SQL; the repositories map
 * rows to the camelCase models.
 */
export interface Database {
  customer_profiles: CustomerProfilesTable;
  scheduled_jobs: ScheduledJobsTable;
  messages: MessagesTable;
  message_attempts: MessageAttemptsTable;
  message_events: MessageEventsTable;
  unpublished_receipts: UnpublishedReceiptsTable;
  gateway_instances: GatewayInstancesTable;
  admin_audit: AdminAuditTable;
  provider_events: ProviderEventsTable;
  address_suppressions: AddressSuppressionsTable;
  cancel_requests: CancelRequestsTable;
}

/**
 * int8 comes back as a string from node-postgres but as a number (a bigint above 2^53) from
 * PGlite, so readers must convert; writers send numbers.
 */
export type Int8 = ColumnType<string | number | bigint, number, number>;

/** A bigserial key: generated on insert, read like int8. */
export type BigSerial = ColumnType<string | number | bigint, never, never>;

/** timestamptz: both drivers return Date; writes accept a Date or an ISO string. */
export type Timestamp = ColumnType<Date, Date | string, Date | string>;
export type NullableTimestamp = ColumnType<Date | null, Date | string | null, Date | string | null>;

/**
 * jsonb written as JSON text: node-postgres would turn a top-level JS array into a PostgreSQL
 * array literal, so the repositories always serialize themselves.
 */
export type Jsonb<T> = ColumnType<T, string, string>;

/**
 * A contact sealed at rest: `sealed` (a MessageSealer value bound to the customer and the field)
 * takes the place of the entry's contact key; the entry's other keys stay readable.
 */
export type SealedEntry<T, K extends keyof T> = Omit<T, K> & { readonly sealed: string };

/** An entry as stored: sealed, or in plaintext as written before contacts were sealed. */
export type StoredEntry<T, K extends keyof T> = T | SealedEntry<T, K>;

/** The contact fields of a profile as stored: each entry sealed, or legacy plaintext. */
export interface StoredContacts {
  phones: readonly StoredEntry<ContactPoint, 'value'>[];
  emails: readonly StoredEntry<ContactPoint, 'value'>[];
  whatsapp: readonly StoredEntry<ContactPoint, 'value'>[];
  webPushSubscriptions: readonly StoredEntry<StoredWebPushSubscription, 'subscription'>[];
  fcmTokens: readonly StoredEntry<StoredFcmToken, 'token'>[];
}

/** What the `document` column holds: everything of a profile that has no column of its own. */
export type ProfileDocument = Partial<
  StoredContacts &
    Pick<CustomerProfile, 'preferredChannels' | 'channelPreferences' | 'consents' | 'quietHours'>
>;

export interface CustomerProfilesTable {
  customer_id: string;
  /** `{}` on a tombstone; missing keys read as their defaults. */
  document: Jsonb<ProfileDocument>;
  time_zone: string;
  locale: string | null;
  version: Int8;
  updated_at: Timestamp;
  deleted_at: NullableTimestamp;
}

export interface ScheduledJobsTable {
  id: Generated<string>;
  kind: string;
  dedupe_key: string | null;
  payload: Jsonb<unknown>;
  run_at: Timestamp;
  attempts: Generated<number>;
  locked_by: string | null;
  locked_until: NullableTimestamp;
  created_at: ColumnType<Date, Date | string | undefined, never>;
  last_error: string | null;
}

export interface MessagesTable {
  id: string;
  customer_id: string;
  category: string;
  payload_hash: string;
  sealed_command: string;
  status: string;
  reason_code: string | null;
  channel: string | null;
  provider: string | null;
  provider_message_id: string | null;
  trace: ColumnType<unknown[], string | undefined, string>;
  source: string;
  owner: string | null;
  deferrals: Generated<number>;
  retries: Generated<number>;
  received_at: Timestamp;
  resend_of: string | null;
  /** PlanOverrides of an admin resend; null for every other message. */
  overrides: ColumnType<unknown, string | null | undefined, string | null>;
  /** The W3C traceparent the command came with; null without one. */
  traceparent: ColumnType<string | null, string | null | undefined, string | null>;
  /** How far the provider got (sent, delivered, read, failed, bounced, unknown); null before. */
  delivery_status: ColumnType<string | null, string | null | undefined, string | null>;
  /** The SendCommand's groupKey; null without one. */
  group_key: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: ColumnType<Date, Date | string | undefined, never>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface CancelRequestsTable {
  cancel_id: string;
  customer_id: string;
  message_id: string | null;
  group_key: string | null;
  reason_code: string;
  reason_message: string;
  requested_by: string;
  requested_at: Timestamp;
  outcome: string;
  withdrawn: ColumnType<string[], string | undefined, string>;
  too_late: ColumnType<string[], string | undefined, string>;
  expires_at: Timestamp;
  created_at: ColumnType<Date, Date | string | undefined, never>;
}

export interface MessageAttemptsTable {
  id: BigSerial;
  message_id: string;
  channel: string;
  provider: string;
  owner: string;
  started_at: Timestamp;
  finished_at: NullableTimestamp;
  outcome: string | null;
  error_kind: string | null;
  vendor_code: string | null;
  provider_message_id: string | null;
  detail: string | null;
}

export interface MessageEventsTable {
  id: BigSerial;
  message_id: string;
  event_id: string;
  status: string;
  receipt: Jsonb<unknown>;
  kafka_key: string;
  occurred_at: Timestamp;
  /** Legacy: set for receipts published before 0010; the epoch since (the queue says). */
  published_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  traceparent: ColumnType<string | null, string | null | undefined, string | null>;
}

/** Ids of message_events rows whose receipts the relay has not published yet. */
export interface UnpublishedReceiptsTable {
  id: ColumnType<string, string | number | bigint, never>;
}

export interface GatewayInstancesTable {
  id: string;
  started_at: ColumnType<Date, Date | string | undefined, never>;
  heartbeat_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface AdminAuditTable {
  id: BigSerial;
  at: ColumnType<Date, Date | string | undefined, never>;
  actor_id: string;
  actor_role: string;
  action: string;
  message_id: string | null;
  customer_id: string | null;
  reason: string;
  details: Jsonb<Record<string, unknown>>;
}

export interface ProviderEventsTable {
  provider: string;
  event_id: string;
  /** Null for an address event (an inbound STOP). */
  message_id: string | null;
  channel: string;
  type: string;
  outcome: string | null;
  provider_status: string | null;
  error_code: string | null;
  detail: string | null;
  occurred_at: Timestamp;
  received_at: Timestamp;
  applied_at: Timestamp;
  /** What applying it did: advanced, no_regress, duplicate, unknown_status, orphaned, … */
  effect: string;
}

export interface AddressSuppressionsTable {
  channel: string;
  address_hash: string;
  scope: string;
  reason: string;
  source: string;
  created_at: ColumnType<Date, Date | string | undefined, never>;
}
