import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { sql, type Kysely, type Selectable } from 'kysely';
import { KYSELY } from './database/database';
import type { Database, ScheduledJobsTable } from './database/types';
import { heartbeatCutoff } from './instance.repository';

export interface ScheduleRequest {
  /** What to do when due, e.g. "dispatch.retry"; the worker picks the handler by it. */
  readonly kind: string;
  readonly runAt: Date;
  /** Anything JSON can carry; read back as parsed JSON. */
  readonly payload: unknown;
  /** While a job with this key exists, scheduling it again returns that job instead. */
  readonly dedupeKey?: string;
}

export interface ScheduleResult {
  readonly id: string;
  /** False when the dedupe key matched a job already scheduled. */
  readonly created: boolean;
}

export interface ScheduledJob {
  readonly id: string;
  readonly kind: string;
  readonly dedupeKey: string | null;
  readonly payload: unknown;
  readonly runAt: Date;
  /** How often the job was rescheduled so far. */
  readonly attempts: number;
  readonly lockedBy: string | null;
  readonly lockedUntil: Date | null;
  readonly createdAt: Date;
  readonly lastError: string | null;
}

export interface ClaimOptions {
  readonly limit: number;
  readonly workerId: string;
  /** After this long without complete/reschedule, another worker may claim the job again. */
  readonly leaseMs: number;
}

export interface SchedulerBacklog {
  /** Claimable now: due and not under a live lease. */
  readonly due: number;
  /** Claimed by a worker whose lease has not run out. */
  readonly leased: number;
  readonly total: number;
}

/*
 * A job is claimable from coalesce(locked_until, run_at) on: an unlocked job from its run_at, a
 * claimed one once its lease ends (a lease always ends after run_at, since only due jobs are
 * claimed). The expression index of migration 0002 serves both the filter and the order.
 */
const AVAILABLE_AT = sql<Date>`coalesce(locked_until, run_at)`;

/**
 * Deferred work (quiet hours, retries, escalation timers) as rows that workers lease. Replicas
 * share the table; FOR UPDATE SKIP LOCKED lets each claim a disjoint batch without waiting.
 */
@Injectable()
export class SchedulerRepository {
  constructor(@Inject(KYSELY) private readonly db: Kysely<Database>) {}

  /** `executor` lets a caller schedule inside its own transaction. */
  async schedule(
    request: ScheduleRequest,
    executor: Kysely<Database> = this.db,
  ): Promise<ScheduleResult> {
    const payload = JSON.stringify(request.payload);
    // JSON.stringify returns undefined (despite its type) for undefined, functions and symbols.
    if (typeof payload !== 'string') {
      throw new TypeError(`the payload of a ${request.kind} job must be JSON-serialisable`);
    }
    const id = randomUUID();
    // The no-op DO UPDATE (rather than DO NOTHING) makes RETURNING yield the existing row, in the
    // same statement: a separate SELECT could miss a row committed meanwhile.
    const row = await executor
      .insertInto('scheduled_jobs')
      .values({
        id,
        kind: request.kind,
        dedupe_key: request.dedupeKey ?? null,
        payload,
        run_at: request.runAt,
      })
      .onConflict((conflict) =>
        conflict
          .column('dedupe_key')
          .doUpdateSet((eb) => ({ dedupe_key: eb.ref('excluded.dedupe_key') })),
      )
      .returning('id')
      .executeTakeFirstOrThrow();
    return { id: row.id, created: row.id === id };
  }

  /**
   * Leases up to `limit` due jobs to `workerId`, oldest first. One statement (so one implicit
   * transaction): the CTE locks the rows with FOR UPDATE SKIP LOCKED, skipping those another
   * worker is claiming right now, and the UPDATE marks them before the locks go.
   */
  async claimDue(now: Date, options: ClaimOptions): Promise<ScheduledJob[]> {
    if (!Number.isInteger(options.limit) || options.limit < 1) {
      throw new RangeError(`claim limit must be a positive integer, got ${options.limit}`);
    }
    if (!(options.leaseMs > 0)) {
      throw new RangeError(`leaseMs must be positive, got ${options.leaseMs}`);
    }
    const rows = await this.db
      // MATERIALIZED: the locking SELECT must run exactly once, not be inlined into the UPDATE.
      .with(
        (cte) => cte('due').materialized(),
        (db) =>
          db
            .selectFrom('scheduled_jobs')
            .select('id')
            .where(AVAILABLE_AT, '<=', now)
            .orderBy(AVAILABLE_AT)
            .limit(options.limit)
            .forUpdate()
            .skipLocked(),
      )
      .updateTable('scheduled_jobs')
      .from('due')
      .set({
        locked_by: options.workerId,
        locked_until: new Date(now.getTime() + options.leaseMs),
      })
      .whereRef('scheduled_jobs.id', '=', 'due.id')
      .returningAll('scheduled_jobs')
      .execute();
    return rows.map(toJob).sort((a, b) => a.runAt.getTime() - b.runAt.getTime());
  }

  /**
   * Releases the leases held by gateway instances whose heartbeat is older than `staleAfterMs`
   * (by the database's clock, like the message log's takeover), so a crashed instance's jobs run
   * again at once instead of when their lease ends; answers how many. A holder that is not a
   * registered instance is left to its lease.
   */
  async releaseLeasesOfDeadInstances(staleAfterMs: number): Promise<number> {
    const rows = await this.db
      .updateTable('scheduled_jobs')
      .set({ locked_by: null, locked_until: null })
      .where('locked_by', 'is not', null)
      .where((eb) =>
        eb.exists(
          eb
            .selectFrom('gateway_instances')
            .select('gateway_instances.id')
            .whereRef('gateway_instances.id', '=', 'scheduled_jobs.locked_by')
            .where('gateway_instances.heartbeat_at', '<=', heartbeatCutoff(staleAfterMs)),
        ),
      )
      .returning('id')
      .execute();
    return rows.length;
  }

  /** Removes a finished job; false when the lease was lost (another worker owns it now). */
  async complete(
    id: string,
    workerId: string,
    executor: Kysely<Database> = this.db,
  ): Promise<boolean> {
    const row = await executor
      .deleteFrom('scheduled_jobs')
      .where('id', '=', id)
      .where('locked_by', '=', workerId)
      .returning('id')
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Deletes the job scheduled under `dedupeKey` when it is of `kind` and its payload contains one
   * of `payloadAnyOf` (JSON containment); answers whether one went. A job a worker holds right now
   * goes too: its run then fails to complete it, which changes nothing it has already done.
   */
  async cancel(
    filter: {
      readonly dedupeKey: string;
      readonly kind: string;
      readonly payloadAnyOf: readonly Record<string, unknown>[];
    },
    executor: Kysely<Database> = this.db,
  ): Promise<boolean> {
    if (filter.payloadAnyOf.length === 0) return false;
    const rows = await executor
      .deleteFrom('scheduled_jobs')
      .where('dedupe_key', '=', filter.dedupeKey)
      .where('kind', '=', filter.kind)
      .where((eb) =>
        eb.or(
          filter.payloadAnyOf.map(
            (part) => sql<boolean>`payload @> ${JSON.stringify(part)}::jsonb`,
          ),
        ),
      )
      .returning('id')
      .execute();
    return rows.length > 0;
  }

  /**
   * Releases the job to run again at `runAt`, counting the attempt unless told it was only a
   * wait; false when the lease was lost. `error` replaces the previous one, so a deferral without error clears it.
   */
  async reschedule(
    id: string,
    workerId: string,
    runAt: Date,
    error?: string,
    options: { readonly countAttempt?: boolean } = {},
  ): Promise<boolean> {
    const counted = options.countAttempt ?? true;
    const row = await this.db
      .updateTable('scheduled_jobs')
      .set((eb) => ({
        run_at: runAt,
        attempts: eb('attempts', '+', counted ? 1 : 0),
        locked_by: null,
        locked_until: null,
        last_error: error ?? null,
      }))
      .where('id', '=', id)
      .where('locked_by', '=', workerId)
      .returning('id')
      .executeTakeFirst();
    return row !== undefined;
  }

  async backlog(now: Date): Promise<SchedulerBacklog> {
    const row = await this.db
      .selectFrom('scheduled_jobs')
      .select([
        // ::int because count() is int8, which the two drivers return as different JS types.
        sql<number>`(count(*) filter (where ${AVAILABLE_AT} <= ${now}))::int`.as('due'),
        sql<number>`(count(*) filter (where locked_until > ${now}))::int`.as('leased'),
        sql<number>`count(*)::int`.as('total'),
      ])
      .executeTakeFirstOrThrow();
    return { due: row.due, leased: row.leased, total: row.total };
  }
}

function toJob(row: Selectable<ScheduledJobsTable>): ScheduledJob {
  return {
    id: row.id,
    kind: row.kind,
    dedupeKey: row.dedupe_key,
    payload: row.payload,
    runAt: row.run_at,
    attempts: row.attempts,
    lockedBy: row.locked_by,
    lockedUntil: row.locked_until,
    createdAt: row.created_at,
    lastError: row.last_error,
  };
}
