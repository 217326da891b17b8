import { sql } from 'kysely';
import { migrateToLatest } from './database/migrate';
import { DATABASE_KINDS, openTestDatabase, type TestDatabase } from './database/testing';
import { SchedulerRepository, type ScheduledJob } from './scheduler.repository';

// Without this, PGlite cannot start inside Jest's sandbox: see database/pglite-outside-jest.ts.
jest.mock('@electric-sql/pglite', () =>
  jest
    .requireActual<typeof import('./database/pglite-outside-jest')>(
      './database/pglite-outside-jest',
    )
    .pgliteOutsideJest(),
);

const NOW = new Date('2030-01-01T09:00:00.000Z');
const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs);
const LEASE = { leaseMs: 30_000, limit: 10 };

describe.each(DATABASE_KINDS)('SchedulerRepository on %s', (kind) => {
  let database: TestDatabase;
  let scheduler: SchedulerRepository;

  beforeAll(async () => {
    database = await openTestDatabase(kind);
    await migrateToLatest(database.db);
    scheduler = new SchedulerRepository(database.db);
  });
  afterAll(async () => {
    await database?.dispose();
  });
  beforeEach(async () => {
    await sql`truncate scheduled_jobs`.execute(database.db);
  });

  const claim = (now: Date, workerId: string, options: Partial<typeof LEASE> = {}) =>
    scheduler.claimDue(now, { ...LEASE, ...options, workerId });
  const ids = (jobs: readonly ScheduledJob[]) => jobs.map((job) => job.id);

  it('releases at once the leases of an instance whose heartbeat is stale, and only those', async () => {
    await sql`delete from gateway_instances where id in ('gw-dead', 'gw-alive')`.execute(
      database.db,
    );
    await sql`insert into gateway_instances (id, heartbeat_at)
      values ('gw-dead', now() - interval '30 seconds'), ('gw-alive', now())`.execute(database.db);
    const jobs = await Promise.all(
      ['m-dead', 'm-alive', 'm-unregistered'].map((messageId) =>
        scheduler.schedule({ kind: 'dispatch.deferred', runAt: at(0), payload: { messageId } }),
      ),
    );
    expect(await claim(NOW, 'gw-dead', { limit: 1 })).toHaveLength(1);
    expect(await claim(NOW, 'gw-alive', { limit: 1 })).toHaveLength(1);
    // A holder that is no registered instance (e.g. an older version's worker id): left alone.
    expect(await claim(NOW, 'worker-old', { limit: 1 })).toHaveLength(1);
    expect(await claim(at(1_000), 'w2')).toEqual([]);

    expect(await scheduler.releaseLeasesOfDeadInstances(10_000)).toBe(1);
    const again = await claim(at(1_000), 'w2');
    expect(again).toHaveLength(1);
    expect(again[0]!.payload).toEqual({ messageId: 'm-dead' });
    expect(ids(again)).toEqual([jobs[0]!.id]);
    // Nothing more to release: the live instance's and the unknown holder's leases stand.
    expect(await scheduler.releaseLeasesOfDeadInstances(10_000)).toBe(0);
  });

  it('schedules a job that becomes claimable at its run time, not before', async () => {
    const { id, created } = await scheduler.schedule({
      kind: 'dispatch.deferred',
      runAt: at(60_000),
      payload: { messageId: 'm-1' },
    });

    expect(created).toBe(true);
    expect(await claim(at(59_999), 'w1')).toEqual([]);
    expect(ids(await claim(at(60_000), 'w1'))).toEqual([id]);
  });

  it('returns the job already scheduled under the same dedupe key', async () => {
    const first = await scheduler.schedule({
      kind: 'dispatch.deferred',
      runAt: at(0),
      payload: { n: 1 },
      dedupeKey: 'deferred:m-1',
    });
    const again = await scheduler.schedule({
      kind: 'dispatch.deferred',
      runAt: at(5_000),
      payload: { n: 2 },
      dedupeKey: 'deferred:m-1',
    });
    const other = await scheduler.schedule({
      kind: 'dispatch.deferred',
      runAt: at(0),
      payload: { n: 3 },
      dedupeKey: 'deferred:m-2',
    });

    expect(again).toEqual({ id: first.id, created: false });
    expect(other.created).toBe(true);
    // The first request wins: neither its payload nor its run time changed.
    const [claimedFirst] = (await claim(at(0), 'w1')).filter((job) => job.id === first.id);
    expect(claimedFirst).toMatchObject({ payload: { n: 1 }, runAt: at(0) });
    expect((await scheduler.backlog(at(0))).total).toBe(2);
  });

  it('never deduplicates jobs without a key', async () => {
    const a = await scheduler.schedule({ kind: 'k', runAt: at(0), payload: {} });
    const b = await scheduler.schedule({ kind: 'k', runAt: at(0), payload: {} });

    expect(a.id).not.toBe(b.id);
    expect((await scheduler.backlog(at(0))).total).toBe(2);
  });

  it('accepts a dedupe key again once its job is done', async () => {
    const first = await scheduler.schedule({
      kind: 'k',
      runAt: at(0),
      payload: {},
      dedupeKey: 'd',
    });
    await claim(at(0), 'w1');
    await scheduler.complete(first.id, 'w1');

    const second = await scheduler.schedule({
      kind: 'k',
      runAt: at(0),
      payload: {},
      dedupeKey: 'd',
    });

    expect(second.created).toBe(true);
    expect(second.id).not.toBe(first.id);
  });

  it('claims up to the limit, oldest first, and leases them to the worker', async () => {
    const scheduled = [];
    for (const offset of [-3_000, -1_000, -2_000, 0, 1_000]) {
      scheduled.push({
        offset,
        ...(await scheduler.schedule({ kind: 'k', runAt: at(offset), payload: { offset } })),
      });
    }

    const claimed = await claim(NOW, 'w1', { limit: 3 });

    expect(claimed.map((job) => job.payload)).toEqual([
      { offset: -3_000 },
      { offset: -2_000 },
      { offset: -1_000 },
    ]);
    for (const job of claimed) {
      expect(job).toMatchObject({
        kind: 'k',
        attempts: 0,
        lockedBy: 'w1',
        lockedUntil: at(LEASE.leaseMs),
        lastError: null,
        dedupeKey: null,
      });
    }
    // The one left that is due; the future one stays.
    expect(ids(await claim(NOW, 'w2'))).toEqual([scheduled.find((job) => job.offset === 0)?.id]);
    expect(await claim(NOW, 'w3')).toEqual([]);
  });

  it('round-trips any JSON payload, arrays and nesting included', async () => {
    const payload = [{ command: { id: 'm-1', tags: ['a', 'b'], n: 1.5, flag: null } }, 'x', 3];
    await scheduler.schedule({ kind: 'k', runAt: at(0), payload });

    expect((await claim(NOW, 'w1'))[0]?.payload).toEqual(payload);
  });

  it('refuses a payload JSON cannot carry', async () => {
    await expect(
      scheduler.schedule({ kind: 'k', runAt: at(0), payload: undefined }),
    ).rejects.toThrow(/JSON-serialisable/);
  });

  it('completes only for the worker holding the job', async () => {
    const { id } = await scheduler.schedule({ kind: 'k', runAt: at(0), payload: {} });
    await claim(NOW, 'w1');

    expect(await scheduler.complete(id, 'w2')).toBe(false);
    expect((await scheduler.backlog(NOW)).total).toBe(1);

    expect(await scheduler.complete(id, 'w1')).toBe(true);
    expect((await scheduler.backlog(NOW)).total).toBe(0);
    expect(await scheduler.complete(id, 'w1')).toBe(false);
  });

  it('reschedules: counts the attempt, keeps the error and releases the lease', async () => {
    const { id } = await scheduler.schedule({ kind: 'k', runAt: at(0), payload: { p: 1 } });
    await claim(NOW, 'w1');

    expect(await scheduler.reschedule(id, 'w2', at(10_000), 'not mine')).toBe(false);
    expect(await scheduler.reschedule(id, 'w1', at(10_000), 'provider timeout')).toBe(true);

    expect(await claim(at(9_999), 'w2')).toEqual([]);
    const [again] = await claim(at(10_000), 'w2');
    expect(again).toMatchObject({
      id,
      payload: { p: 1 },
      runAt: at(10_000),
      attempts: 1,
      lastError: 'provider timeout',
      lockedBy: 'w2',
    });

    // A plain deferral (no error) clears the previous one.
    await scheduler.reschedule(id, 'w2', at(20_000));
    expect((await claim(at(20_000), 'w3'))[0]).toMatchObject({ attempts: 2, lastError: null });
  });

  it('lets another worker claim a job whose lease ran out, and fences the first', async () => {
    const { id } = await scheduler.schedule({ kind: 'k', runAt: at(0), payload: {} });
    await claim(NOW, 'w1', { leaseMs: 1_000 });

    expect(await claim(at(999), 'w2')).toEqual([]);
    const [reclaimed] = await claim(at(1_000), 'w2', { leaseMs: 1_000 });
    expect(reclaimed).toMatchObject({ id, lockedBy: 'w2', lockedUntil: at(2_000), runAt: at(0) });

    // The first worker woke up late: its lease is gone, so it may not finish or move the job.
    expect(await scheduler.complete(id, 'w1')).toBe(false);
    expect(await scheduler.reschedule(id, 'w1', at(5_000))).toBe(false);
    expect(await scheduler.complete(id, 'w2')).toBe(true);
  });

  it('counts the backlog: claimable now, under lease, and all', async () => {
    await scheduler.schedule({ kind: 'k', runAt: at(-2_000), payload: {} });
    await scheduler.schedule({ kind: 'k', runAt: at(-1_000), payload: {} });
    await scheduler.schedule({ kind: 'k', runAt: at(0), payload: {} });
    await scheduler.schedule({ kind: 'k', runAt: at(60_000), payload: {} });
    await claim(NOW, 'w1', { limit: 1, leaseMs: 5_000 });

    expect(await scheduler.backlog(NOW)).toEqual({ due: 2, leased: 1, total: 4 });
    // Once the lease ends the claimed job counts as due again.
    expect(await scheduler.backlog(at(5_000))).toEqual({ due: 3, leased: 0, total: 4 });
  });

  it('gives parallel claimers disjoint batches', async () => {
    for (let i = 0; i < 60; i += 1) {
      await scheduler.schedule({ kind: 'k', runAt: at(-i), payload: { i } });
    }

    const batches = await Promise.all(
      ['w1', 'w2', 'w3', 'w4'].map(async (workerId) => {
        const mine: string[] = [];
        for (;;) {
          const jobs = await claim(NOW, workerId, { limit: 5 });
          if (jobs.length === 0) return mine;
          mine.push(...ids(jobs));
        }
      }),
    );

    const all = batches.flat();
    expect(all).toHaveLength(60);
    expect(new Set(all).size).toBe(60);
  });

  it('refuses a claim with no room or no lease', async () => {
    await expect(claim(NOW, 'w1', { limit: 0 })).rejects.toThrow(RangeError);
    await expect(claim(NOW, 'w1', { leaseMs: 0 })).rejects.toThrow(RangeError);
  });
});
