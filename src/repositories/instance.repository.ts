import { Inject, Injectable } from '@nestjs/common';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { KYSELY } from './database/database';
import type { Database } from './database/types';

/**
 * The heartbeat time before which an instance counts as gone, by the database's clock (so replicas'
 * clocks never disagree): the one rule the message log's takeover and the scheduler's lease release
 * share.
 */
export function heartbeatCutoff(staleAfterMs: number): RawBuilder<Date> {
  return sql<Date>`now() - make_interval(secs => ${staleAfterMs / 1000})`;
}

/**
 * Gateway instances and their heartbeats, in PostgreSQL: a message left in flight by an instance
 * whose heartbeat stopped may be taken over. Times are the database's, so replicas' clocks never
 * disagree about who is alive.
 */
@Injectable()
export class InstanceRepository {
  constructor(@Inject(KYSELY) private readonly db: Kysely<Database>) {}

  async register(id: string): Promise<void> {
    await this.db.insertInto('gateway_instances').values({ id }).execute();
  }

  /** False when the row is gone (deregistered, or removed by an operator). */
  async heartbeat(id: string): Promise<boolean> {
    const row = await this.db
      .updateTable('gateway_instances')
      .set({ heartbeat_at: new Date() })
      .where('id', '=', id)
      .returning('id')
      .executeTakeFirst();
    return row !== undefined;
  }

  async deregister(id: string): Promise<void> {
    await this.db.deleteFrom('gateway_instances').where('id', '=', id).execute();
  }
}
