import type { ColumnType, Generated } from 'kysely';
import type { CustomerProfile } from '../../services/policy/model';

/**
 * The tables as Kysely sees them. Column names stay snake_case as in SQL; the repositories map
 * rows to the camelCase models.
 */
export interface Database {
  customer_profiles: CustomerProfilesTable;
  scheduled_jobs: ScheduledJobsTable;
}

/**
 * int8 comes back as a string from node-postgres but as a number (a bigint above 2^53) from
 * PGlite, so readers must convert; writers send numbers.
 */
export type Int8 = ColumnType<string | number | bigint, number, number>;

/** timestamptz: both drivers return Date; writes accept a Date or an ISO string. */
export type Timestamp = ColumnType<Date, Date | string, Date | string>;
export type NullableTimestamp = ColumnType<Date | null, Date | string | null, Date | string | null>;

/**
 * jsonb written as JSON text: node-postgres would turn a top-level JS array into a PostgreSQL
 * array literal, so the repositories always serialize themselves.
 */
export type Jsonb<T> = ColumnType<T, string, string>;

/** What the `document` column holds: everything of a profile that has no column of its own. */
export type ProfileDocument = Partial<
  Pick<
    CustomerProfile,
    | 'phones'
    | 'emails'
    | 'whatsapp'
    | 'webPushSubscriptions'
    | 'fcmTokens'
    | 'preferredChannels'
    | 'channelPreferences'
    | 'consents'
    | 'quietHours'
  >
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
