import { Inject, Injectable } from '@nestjs/common';
import type { Kysely } from 'kysely';
import { KYSELY } from './database/database';
import type { Database } from './database/types';

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
