import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { migrateToLatest } from '../src/repositories/database/migrate';
import { MIGRATIONS } from '../src/repositories/database/migrations';
import { openTestDatabase, type TestDatabase } from '../src/repositories/database/testing';
import { MessageSealer } from '../src/repositories/message-sealer';
import { ProfileRepository } from '../src/repositories/profile.repository';
import { SchedulerRepository } from '../src/repositories/scheduler.repository';

/**
 * What PGlite cannot show: several replicas (separate pools, so separate sessions) working one
 * real PostgreSQL at the same time. Needs the server at DATABASE_URL; fails when it is absent.
 */

const WORKERS = 4;
const NOW = new Date('2030-01-01T09:00:00.000Z');
const SEALER = new MessageSealer(randomBytes(32));

describe('PostgreSQL with several replicas at once', () => {
  let owner: TestDatabase;
  let replicas: TestDatabase[] = [];
  let migrationRuns: (readonly string[])[] = [];

  beforeAll(async () => {
    owner = await openTestDatabase('postgres', { maxConnections: 4 });
    replicas = await Promise.all(
      Array.from({ length: WORKERS }, () =>
        openTestDatabase('postgres', { schema: owner.schema, maxConnections: 3 }),
      ),
    );
    // Every replica migrates at start, as the service does.
    migrationRuns = await Promise.all(replicas.map((replica) => migrateToLatest(replica.db)));
  });
  beforeEach(async () => {
    await sql`truncate scheduled_jobs, customer_profiles`.execute(owner.db);
  });
  afterAll(async () => {
    await Promise.all(replicas.map((replica) => replica.dispose()));
    await owner?.dispose();
  });

  it('runs each migration once when every replica migrates at start', () => {
    // Kysely's advisory lock serialises the runs: one does the work, the rest find nothing to do.
    expect(migrationRuns.flat().sort()).toEqual(Object.keys(MIGRATIONS));
  });

  it('claims each of 500 due jobs exactly once across 4 workers × 3 claim loops', async () => {
    const scheduler = new SchedulerRepository(owner.db);
    const scheduled = new Set<string>();
    for (let start = 0; start < 500; start += 50) {
      const batch = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          scheduler.schedule({
            kind: 'load',
            runAt: new Date(NOW.getTime() - (start + i)),
            payload: { n: start + i },
          }),
        ),
      );
      for (const { id } of batch) scheduled.add(id);
    }
    expect(scheduled.size).toBe(500);

    const claimedBy = new Map<string, string[]>();
    let released!: () => void;
    const go = new Promise<void>((resolve) => (released = resolve));
    const loops = replicas.flatMap((replica, worker) => {
      const repository = new SchedulerRepository(replica.db);
      return [0, 1, 2].map(async (loop) => {
        const workerId = `worker-${worker}-loop-${loop}`;
        const mine: string[] = [];
        claimedBy.set(workerId, mine);
        await go;
        for (;;) {
          const jobs = await repository.claimDue(NOW, { limit: 7, workerId, leaseMs: 60_000 });
          if (jobs.length === 0) return;
          for (const job of jobs) {
            mine.push(job.id);
            // Finishing the job proves the lease names this loop and no other.
            expect(await repository.complete(job.id, workerId)).toBe(true);
          }
        }
      });
    });
    released();
    await Promise.all(loops);

    const claims = [...claimedBy.values()].flat();
    expect(claims).toHaveLength(500);
    expect(new Set(claims)).toEqual(scheduled);
    const busyWorkers = [...claimedBy.values()].filter((ids) => ids.length > 0).length;
    expect(busyWorkers).toBeGreaterThan(1);
    expect(await scheduler.backlog(NOW)).toEqual({ due: 0, leased: 0, total: 0 });
  });

  it('keeps one job per dedupe key when replicas schedule it at the same moment', async () => {
    const results = await Promise.all(
      replicas.flatMap((replica) =>
        Array.from({ length: 5 }, () =>
          new SchedulerRepository(replica.db).schedule({
            kind: 'dedupe',
            runAt: NOW,
            payload: {},
            dedupeKey: 'deferred:m-race',
          }),
        ),
      ),
    );

    expect(new Set(results.map((result) => result.id)).size).toBe(1);
    expect(results.filter((result) => result.created)).toHaveLength(1);
    expect((await new SchedulerRepository(owner.db).backlog(NOW)).total).toBe(1);
  });

  it('ends every customer at its highest version when updates interleave across replicas', async () => {
    const customers = Array.from({ length: 20 }, (_, i) => `cust-${i}`);
    const TOP = 25;
    // Each customer gets versions 1..TOP, shuffled and dealt round-robin to the replicas; every
    // third customer's last event is a delete.
    const events = customers.flatMap((customerId, c) =>
      Array.from({ length: TOP }, (_, i) => ({ customerId, version: i + 1, deletes: c % 3 === 0 })),
    );
    events.sort(() => Math.random() - 0.5);

    const outcomes = await Promise.all(
      events.map((event, i) => {
        const profiles = new ProfileRepository(replicas[i % WORKERS]!.db, SEALER);
        if (event.deletes && event.version === TOP) {
          return profiles.delete(event.customerId, event.version);
        }
        return profiles.applyUpdate({
          customerId: event.customerId,
          version: event.version,
          occurredAt: new Date(NOW.getTime() + event.version * 1_000),
          patch: {
            emails: [{ value: `v${event.version}@example.com` }],
            channelPreferences: { [`c${event.version}`]: { sms: true } },
          },
        });
      }),
    );

    expect(outcomes.filter((outcome) => outcome === 'applied').length).toBeGreaterThanOrEqual(
      customers.length,
    );
    const profiles = new ProfileRepository(owner.db, SEALER);
    for (const [c, customerId] of customers.entries()) {
      const profile = await profiles.get(customerId);
      if (c % 3 === 0) {
        expect(profile).toBeNull();
        continue;
      }
      expect(profile).toMatchObject({
        version: TOP,
        emails: [{ value: `v${TOP}@example.com` }],
        updatedAt: new Date(NOW.getTime() + TOP * 1_000).toISOString(),
      });
      // Every applied update merged its category in; none can be newer than the winner.
      expect(profile?.channelPreferences).toHaveProperty(`c${TOP}`);
    }
  });
});
