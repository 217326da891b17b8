import { Inject, Injectable, Optional } from '@nestjs/common';
import type { Channel, SuppressionReason } from '@omnigate/contracts';
import type { Kysely } from 'kysely';
import { KYSELY } from './database/database';
import type { Database } from './database/types';
import {
  DEFAULT_BATCHING,
  MicroBatcher,
  STORAGE_BATCHING,
  type BatchingOptions,
} from './micro-batcher';

/** Every category: what a STOP, a hard bounce, a spam report or a gone subscription means. */
export const ALL_CATEGORIES = '*';

export interface AddressSuppression {
  readonly channel: Channel;
  readonly addressHash: string;
  /** '*' for every category, else the one category. */
  readonly scope: string;
  readonly reason: SuppressionReason;
  /** "<provider>:<event id>" of the report that caused it, or "dispatch:<message id>". */
  readonly source: string;
  readonly createdAt: Date;
}

export type NewSuppression = Omit<AddressSuppression, 'createdAt'> & { readonly createdAt?: Date };

/**
 * Addresses that must not receive a channel, by their keyed hash (AddressHasher): the table never
 * holds an address. One row per channel, address and scope; a repeat keeps the first reason and
 * time, which is when the address stopped receiving. Concurrent lookups (one per message being
 * planned) share one query.
 */
@Injectable()
export class AddressSuppressionRepository {
  private readonly lookups: MicroBatcher<readonly string[], AddressSuppression[]>;

  constructor(
    @Inject(KYSELY) private readonly db: Kysely<Database>,
    @Optional() @Inject(STORAGE_BATCHING) batching: BatchingOptions = DEFAULT_BATCHING,
  ) {
    this.lookups = new MicroBatcher(
      async (calls) => {
        const rows = await this.query(calls.flat());
        return calls.map((hashes) => {
          const wanted = new Set(hashes);
          return { value: rows.filter((row) => wanted.has(row.addressHash)) };
        });
      },
      batching,
      'suppression_lookup',
    );
  }

  async add(rows: readonly NewSuppression[], executor: Kysely<Database> = this.db): Promise<void> {
    if (rows.length === 0) return;
    await executor
      .insertInto('address_suppressions')
      .values(
        rows.map((row) => ({
          channel: row.channel,
          address_hash: row.addressHash,
          scope: row.scope,
          reason: row.reason,
          source: row.source,
          ...(row.createdAt && { created_at: row.createdAt }),
        })),
      )
      .onConflict((conflict) => conflict.columns(['channel', 'address_hash', 'scope']).doNothing())
      .execute();
  }

  /** Lifts the suppressions of these hashes on these channels that have this reason; answers how many. */
  async lift(
    channels: readonly Channel[],
    addressHashes: readonly string[],
    reason: SuppressionReason,
    executor: Kysely<Database> = this.db,
  ): Promise<number> {
    if (channels.length === 0 || addressHashes.length === 0) return 0;
    const rows = await executor
      .deleteFrom('address_suppressions')
      .where('channel', 'in', [...channels])
      .where('address_hash', 'in', [...addressHashes])
      .where('reason', '=', reason)
      .returning('address_hash')
      .execute();
    return rows.length;
  }

  /** Every suppression of any of these hashes, oldest first (the planner's batched lookup). */
  async findByHashes(addressHashes: readonly string[]): Promise<AddressSuppression[]> {
    if (addressHashes.length === 0) return [];
    return this.lookups.call(addressHashes);
  }

  private async query(addressHashes: readonly string[]): Promise<AddressSuppression[]> {
    if (addressHashes.length === 0) return [];
    const rows = await this.db
      .selectFrom('address_suppressions')
      .selectAll()
      .where('address_hash', 'in', [...new Set(addressHashes)])
      .orderBy('created_at')
      .execute();
    return rows.map((row) => ({
      channel: row.channel as Channel,
      addressHash: row.address_hash,
      scope: row.scope,
      reason: row.reason as SuppressionReason,
      source: row.source,
      createdAt: row.created_at,
    }));
  }
}
