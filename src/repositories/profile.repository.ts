import { Inject, Injectable, Optional } from '@nestjs/common';
import { sql, type Kysely, type RawBuilder, type Selectable } from 'kysely';
import type { CustomerProfile, QuietHours } from '../policy/model';
import { KYSELY } from './database/database';
import type { CustomerProfilesTable, Database, ProfileDocument } from './database/types';
import { MessageSealer } from './message-sealer';
import { ProfileContactSealer } from './profile-contacts';
import {
  DEFAULT_BATCHING,
  MicroBatcher,
  STORAGE_BATCHING,
  type BatchingOptions,
} from './micro-batcher';

type ProfileFields = Omit<CustomerProfile, 'customerId' | 'version' | 'updatedAt'>;

/**
 * The fields an update may carry. A given field replaces the stored one, except
 * `channelPreferences`, whose categories replace the stored categories of the same name and leave
 * the others. `null` clears an optional field.
 */
export type ProfilePatch = {
  readonly [K in Exclude<keyof ProfileFields, 'locale' | 'quietHours'>]?: ProfileFields[K];
} & {
  readonly locale?: string | null;
  readonly quietHours?: QuietHours | null;
};

export interface ProfileUpdate {
  readonly customerId: string;
  /**
   * Increases per customer at the source. Absent (a change made here, e.g. a STOP reply): the
   * update applies whatever is stored and keeps the stored version.
   */
  readonly version?: number;
  readonly patch: ProfilePatch;
  readonly occurredAt: Date | string;
}

/** 'stale': the stored version is the same or newer, so the event was already reflected. */
export type ProfileWriteOutcome = 'applied' | 'stale';

/** Document fields that a patch replaces whole; channelPreferences merges and is handled apart. */
const REPLACED_FIELDS = [
  'phones',
  'emails',
  'whatsapp',
  'webPushSubscriptions',
  'fcmTokens',
  'preferredChannels',
  'consents',
  'quietHours',
] as const satisfies readonly (keyof ProfileDocument)[];

const DEFAULT_TIME_ZONE = 'UTC';

/**
 * Customer profiles in PostgreSQL. Every write is one INSERT … ON CONFLICT statement whose
 * version check runs on the locked, latest row, so consumers racing on the same customer cannot
 * lose an update or let an older version win. Contacts are sealed at rest (ProfileContactSealer):
 * a write seals the contact fields it replaces; a read opens them, and reads entries stored
 * before sealing as they are.
 */
@Injectable()
export class ProfileRepository {
  private readonly contacts: ProfileContactSealer;
  /** Concurrent get()s share one getMany(). */
  private readonly reads: MicroBatcher<string, CustomerProfile | null>;

  constructor(
    @Inject(KYSELY) private readonly db: Kysely<Database>,
    sealer: MessageSealer,
    @Optional() @Inject(STORAGE_BATCHING) batching: BatchingOptions = DEFAULT_BATCHING,
  ) {
    this.contacts = new ProfileContactSealer(sealer);
    this.reads = new MicroBatcher(
      async (customerIds) => {
        const profiles = await this.getMany(customerIds);
        return customerIds.map((id) => ({ value: profiles.get(id) ?? null }));
      },
      batching,
      'profile_read',
    );
  }

  /** The live profile, or null when unknown or deleted. */
  async get(customerId: string): Promise<CustomerProfile | null> {
    return this.reads.call(customerId);
  }

  /** Live profiles of several customers in one round trip, keyed by customer id. */
  async getMany(customerIds: readonly string[]): Promise<Map<string, CustomerProfile>> {
    if (customerIds.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('customer_profiles')
      .selectAll()
      .where('customer_id', 'in', [...new Set(customerIds)])
      .where('deleted_at', 'is', null)
      .execute();
    return new Map(rows.map((row) => [row.customer_id, this.toProfile(row)]));
  }

  /**
   * Merges the patch over the stored profile (or over the defaults, for a new or deleted one).
   * An event whose version is not above the stored one is ignored: compacted topics and retries
   * redeliver old events.
   */
  async applyUpdate(update: ProfileUpdate): Promise<ProfileWriteOutcome> {
    checkVersion(update.version);
    const { patch } = update;
    // The patch with its contacts sealed: plaintext contacts never reach the statement.
    const stored = { ...patch, ...this.contacts.seal(update.customerId, patch) };
    const replaced: Record<string, unknown> = {};
    const cleared: string[] = [];
    for (const field of REPLACED_FIELDS) {
      const value = stored[field];
      if (value === null) cleared.push(field);
      else if (value !== undefined) replaced[field] = value;
    }
    const insertedDocument: ProfileDocument = {
      phones: [],
      emails: [],
      whatsapp: [],
      webPushSubscriptions: [],
      fcmTokens: [],
      preferredChannels: [],
      consents: [],
      ...replaced,
      channelPreferences: patch.channelPreferences ?? {},
    };

    // The stored document, with replaced fields swapped in and cleared ones removed. A tombstone's
    // document is `{}`, so a deleted profile starts over from the defaults.
    let document: RawBuilder<unknown> = sql`customer_profiles.document || ${json(replaced)}::jsonb`;
    // Parenthesised because `-` binds tighter than `||`.
    for (const field of cleared) document = sql`(${document}) - ${field}::text`;
    if (patch.channelPreferences !== undefined) {
      document = sql`(${document}) || jsonb_build_object('channelPreferences',
        coalesce(customer_profiles.document -> 'channelPreferences', '{}'::jsonb)
          || ${json(patch.channelPreferences)}::jsonb)`;
    }

    const row = await this.db
      .insertInto('customer_profiles')
      .values({
        customer_id: update.customerId,
        document: json(insertedDocument),
        time_zone: patch.timeZone ?? DEFAULT_TIME_ZONE,
        locale: patch.locale ?? null,
        version: update.version ?? 0,
        updated_at: update.occurredAt,
        deleted_at: null,
      })
      .onConflict((conflict) => {
        const updating = conflict.column('customer_id').doUpdateSet((eb) => ({
          document: sql<string>`${document}`,
          updated_at: eb.ref('excluded.updated_at'),
          deleted_at: null,
          // Only the fields the patch names; the rest keep their stored values.
          ...(patch.timeZone !== undefined && { time_zone: eb.ref('excluded.time_zone') }),
          ...(patch.locale !== undefined && { locale: eb.ref('excluded.locale') }),
          ...(update.version !== undefined && { version: eb.ref('excluded.version') }),
        }));
        return update.version === undefined
          ? updating
          : updating.whereRef('customer_profiles.version', '<', 'excluded.version');
      })
      .returning('customer_id')
      .executeTakeFirst();
    return row ? 'applied' : 'stale';
  }

  /**
   * Tombstones the profile: the row stays with its version (so older events arriving later are
   * still recognised as stale) but loses every personal field. Without a version (a Kafka
   * tombstone) it applies whatever is stored.
   */
  async delete(customerId: string, version?: number): Promise<ProfileWriteOutcome> {
    checkVersion(version);
    const row = await this.db
      .insertInto('customer_profiles')
      .values({
        customer_id: customerId,
        document: '{}',
        time_zone: DEFAULT_TIME_ZONE,
        locale: null,
        version: version ?? 0,
        updated_at: sql<Date>`now()`,
        deleted_at: sql<Date>`now()`,
      })
      .onConflict((conflict) => {
        const updating = conflict.column('customer_id').doUpdateSet((eb) => ({
          document: eb.ref('excluded.document'),
          time_zone: eb.ref('excluded.time_zone'),
          locale: null,
          updated_at: eb.ref('excluded.updated_at'),
          deleted_at: eb.ref('excluded.deleted_at'),
          ...(version !== undefined && { version: eb.ref('excluded.version') }),
        }));
        return version === undefined
          ? updating
          : updating.whereRef('customer_profiles.version', '<', 'excluded.version');
      })
      .returning('customer_id')
      .executeTakeFirst();
    return row ? 'applied' : 'stale';
  }

  /**
   * Removes a web push subscription (named by its endpoint) or an FCM token that the push service
   * says is gone, so the next plan does not pick it. The version and updated_at stay: this is not
   * a change from the profile's source, whose later events still apply. Answers whether one went.
   */
  async removePushAddress(
    customerId: string,
    channel: 'webpush' | 'mobilepush',
    identity: string,
  ): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('customer_profiles')
        .select('document')
        .where('customer_id', '=', customerId)
        .where('deleted_at', 'is', null)
        .forUpdate()
        .executeTakeFirst();
      if (!row) return false;
      const contacts = this.contacts.open(customerId, row.document);
      let replaced: Partial<ProfileDocument>;
      if (channel === 'webpush') {
        const kept = contacts.webPushSubscriptions.filter(
          (entry) => entry.subscription.endpoint !== identity,
        );
        if (kept.length === contacts.webPushSubscriptions.length) return false;
        replaced = this.contacts.seal(customerId, { webPushSubscriptions: kept });
      } else {
        const kept = contacts.fcmTokens.filter((entry) => entry.token !== identity);
        if (kept.length === contacts.fcmTokens.length) return false;
        replaced = this.contacts.seal(customerId, { fcmTokens: kept });
      }
      await trx
        .updateTable('customer_profiles')
        .set({ document: sql<string>`document || ${json(replaced)}::jsonb` })
        .where('customer_id', '=', customerId)
        .execute();
      return true;
    });
  }

  /** Fills what an older or cleared document lacks, so readers never meet a missing list. */
  private toProfile(row: Selectable<CustomerProfilesTable>): CustomerProfile {
    const document = row.document;
    return {
      customerId: row.customer_id,
      ...this.contacts.open(row.customer_id, document),
      preferredChannels: document.preferredChannels ?? [],
      channelPreferences: document.channelPreferences ?? {},
      consents: document.consents ?? [],
      timeZone: row.time_zone,
      ...(row.locale !== null && { locale: row.locale }),
      ...(document.quietHours !== undefined && { quietHours: document.quietHours }),
      version: Number(row.version),
      updatedAt: row.updated_at.toISOString(),
    };
  }
}

function checkVersion(version: number | undefined): void {
  if (version !== undefined && !(Number.isSafeInteger(version) && version >= 0)) {
    throw new RangeError(`profile version must be a non-negative integer, got ${version}`);
  }
}

/** Serialised here rather than by the driver: see Jsonb in database/types. */
function json(value: unknown): string {
  return JSON.stringify(value);
}
