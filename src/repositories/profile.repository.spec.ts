import { randomBytes } from 'node:crypto';
import type { ProfilePatch as ContractProfilePatch } from '@omnigate/contracts';
import { sql } from 'kysely';
import { migrateToLatest } from './database/migrate';
import { DATABASE_KINDS, openTestDatabase, type TestDatabase } from './database/testing';
import { MessageSealer, SealedValueError } from './message-sealer';
import { ProfileRepository, type ProfileUpdate } from './profile.repository';

// Without this, PGlite cannot start inside Jest's sandbox: see database/pglite-outside-jest.ts.
jest.mock('@electric-sql/pglite', () =>
  jest
    .requireActual<typeof import('./database/pglite-outside-jest')>(
      './database/pglite-outside-jest',
    )
    .pgliteOutsideJest(),
);

const T0 = '2030-01-01T09:00:00.000Z';
const T1 = '2030-01-01T10:00:00.000Z';
const ALICE = 'cust-alice';
const BOB = 'cust-bob';
const KEY = randomBytes(32);

const phone = (value: string) => ({ value, verified: true });
const email = (value: string) => ({ value });

function update(overrides: Partial<ProfileUpdate> & Pick<ProfileUpdate, 'patch'>): ProfileUpdate {
  return { customerId: ALICE, occurredAt: T0, ...overrides };
}

describe.each(DATABASE_KINDS)('ProfileRepository on %s', (kind) => {
  let database: TestDatabase;
  let profiles: ProfileRepository;

  beforeAll(async () => {
    database = await openTestDatabase(kind);
    await migrateToLatest(database.db);
    profiles = new ProfileRepository(database.db, new MessageSealer(KEY));
  });
  afterAll(async () => {
    await database?.dispose();
  });
  beforeEach(async () => {
    await sql`truncate customer_profiles`.execute(database.db);
  });

  async function storedRow(customerId: string) {
    return database.db
      .selectFrom('customer_profiles')
      .selectAll()
      .where('customer_id', '=', customerId)
      .executeTakeFirst();
  }

  it('reads concurrent get()s in one statement, each caller getting its own customer', async () => {
    await profiles.applyUpdate(update({ version: 1, patch: { emails: [email('a@example.com')] } }));
    await profiles.applyUpdate(
      update({ customerId: 'cust-bob', version: 1, patch: { emails: [email('b@example.com')] } }),
    );
    await profiles.delete('cust-bob', 2);
    let statements = 0;
    const counted = new ProfileRepository(
      database.db.withPlugin({
        transformQuery: (args) => {
          statements += 1;
          return args.node;
        },
        transformResult: (args) => Promise.resolve(args.result),
      }),
      new MessageSealer(KEY),
    );
    const read = await Promise.all([
      counted.get(ALICE),
      counted.get('nobody'),
      counted.get('cust-bob'),
      // The same customer twice in one batch.
      counted.get(ALICE),
    ]);
    expect(statements).toBe(1);
    expect(read.map((p) => p?.emails[0]?.value ?? null)).toEqual([
      'a@example.com',
      null,
      null,
      'a@example.com',
    ]);
  });

  it('rejects every get() of a batch whose read fails', async () => {
    await profiles.applyUpdate(update({ version: 1, patch: {} }));
    // PostgreSQL text cannot hold NUL: the whole statement fails.
    const read = await Promise.allSettled([profiles.get(ALICE), profiles.get('bad\u0000')]);
    expect(read.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await expect(profiles.get(ALICE)).resolves.toMatchObject({ customerId: ALICE });
  });

  it('returns null for a customer it has never seen', async () => {
    expect(await profiles.get('nobody')).toBeNull();
  });

  it('creates a profile from a partial update, with defaults for the rest', async () => {
    const outcome = await profiles.applyUpdate(
      update({ version: 3, patch: { phones: [phone('+14155550100')] } }),
    );

    expect(outcome).toBe('applied');
    expect(await profiles.get(ALICE)).toEqual({
      customerId: ALICE,
      phones: [phone('+14155550100')],
      emails: [],
      whatsapp: [],
      webPushSubscriptions: [],
      fcmTokens: [],
      preferredChannels: [],
      channelPreferences: {},
      consents: [],
      timeZone: 'UTC',
      version: 3,
      updatedAt: T0,
    });
  });

  it('replaces the fields a patch names and keeps the others', async () => {
    await profiles.applyUpdate(
      update({
        version: 1,
        patch: {
          phones: [phone('+14155550100'), phone('+14155550101')],
          emails: [email('a@example.com')],
          preferredChannels: ['email', 'sms'],
          timeZone: 'Europe/Berlin',
          locale: 'de-DE',
          quietHours: { start: '22:00', end: '07:00' },
        },
      }),
    );

    await profiles.applyUpdate(
      update({
        version: 2,
        occurredAt: T1,
        patch: { phones: [phone('+14155550199')], timeZone: 'America/New_York' },
      }),
    );

    expect(await profiles.get(ALICE)).toMatchObject({
      // Replaced whole, not appended to.
      phones: [phone('+14155550199')],
      emails: [email('a@example.com')],
      preferredChannels: ['email', 'sms'],
      timeZone: 'America/New_York',
      locale: 'de-DE',
      quietHours: { start: '22:00', end: '07:00' },
      version: 2,
      updatedAt: T1,
    });
  });

  it('merges channel preferences per category', async () => {
    await profiles.applyUpdate(
      update({
        version: 1,
        patch: {
          channelPreferences: {
            marketing: { sms: true, email: true },
            '*': { whatsapp: false },
          },
        },
      }),
    );

    await profiles.applyUpdate(
      update({
        version: 2,
        patch: { channelPreferences: { marketing: { sms: false }, billing: { email: true } } },
      }),
    );

    expect((await profiles.get(ALICE))?.channelPreferences).toEqual({
      // A category in the patch replaces that category; the others stay.
      marketing: { sms: false },
      billing: { email: true },
      '*': { whatsapp: false },
    });
  });

  it('clears optional fields given as null', async () => {
    await profiles.applyUpdate(
      update({
        version: 1,
        patch: { locale: 'pt-BR', quietHours: { start: '21:00', end: '08:00' } },
      }),
    );

    await profiles.applyUpdate(update({ version: 2, patch: { locale: null, quietHours: null } }));

    const profile = await profiles.get(ALICE);
    expect(profile).not.toHaveProperty('locale');
    expect(profile).not.toHaveProperty('quietHours');
  });

  it('ignores an event whose version is not above the stored one', async () => {
    await profiles.applyUpdate(
      update({ version: 5, patch: { emails: [email('new@example.com')] } }),
    );

    const older = await profiles.applyUpdate(
      update({ version: 4, occurredAt: T1, patch: { emails: [email('old@example.com')] } }),
    );
    const redelivered = await profiles.applyUpdate(
      update({ version: 5, occurredAt: T1, patch: { emails: [email('again@example.com')] } }),
    );

    expect([older, redelivered]).toEqual(['stale', 'stale']);
    expect(await profiles.get(ALICE)).toMatchObject({
      emails: [email('new@example.com')],
      version: 5,
      updatedAt: T0,
    });
  });

  it('applies an unversioned update whatever is stored, keeping the version', async () => {
    await profiles.applyUpdate(update({ version: 7, patch: { phones: [phone('+14155550100')] } }));

    const outcome = await profiles.applyUpdate(
      update({
        occurredAt: T1,
        patch: {
          consents: [{ channel: 'sms', granted: false, source: 'sms-stop', at: T1 }],
        },
      }),
    );

    expect(outcome).toBe('applied');
    expect(await profiles.get(ALICE)).toMatchObject({
      phones: [phone('+14155550100')],
      consents: [{ channel: 'sms', granted: false, source: 'sms-stop', at: T1 }],
      version: 7,
    });
  });

  it('takes the patch type of the profile event contract as it is', async () => {
    const patch: ContractProfilePatch = {
      whatsapp: [{ value: '+14155550123' }],
      fcmTokens: [{ token: 'fcm-1', platform: 'android' }],
      quietHours: null,
    };
    expect(await profiles.applyUpdate(update({ version: 1, patch }))).toBe('applied');
    expect((await profiles.get(ALICE))?.fcmTokens).toEqual([
      { token: 'fcm-1', platform: 'android' },
    ]);
  });

  it('deletes to a tombstone that keeps the version and nothing personal', async () => {
    await profiles.applyUpdate(
      update({
        version: 2,
        patch: { phones: [phone('+14155550100')], locale: 'fr-FR', timeZone: 'Europe/Paris' },
      }),
    );

    expect(await profiles.delete(ALICE, 3)).toBe('applied');

    expect(await profiles.get(ALICE)).toBeNull();
    const row = await storedRow(ALICE);
    expect(row).toMatchObject({ document: {}, locale: null, time_zone: 'UTC' });
    expect(row?.deleted_at).not.toBeNull();
    expect(Number(row?.version)).toBe(3);
  });

  it('keeps a deleted profile deleted against older events, and revives it on a newer one', async () => {
    await profiles.applyUpdate(
      update({ version: 1, patch: { phones: [phone('+14155550100')], locale: 'fr-FR' } }),
    );
    await profiles.delete(ALICE, 5);

    expect(
      await profiles.applyUpdate(
        update({ version: 4, patch: { emails: [email('x@example.com')] } }),
      ),
    ).toBe('stale');
    expect(await profiles.get(ALICE)).toBeNull();

    expect(
      await profiles.applyUpdate(
        update({ version: 6, patch: { emails: [email('y@example.com')] } }),
      ),
    ).toBe('applied');
    // Nothing from before the delete comes back.
    expect(await profiles.get(ALICE)).toMatchObject({
      phones: [],
      emails: [email('y@example.com')],
      timeZone: 'UTC',
      version: 6,
    });
    expect(await profiles.get(ALICE)).not.toHaveProperty('locale');
  });

  it('ignores a delete older than the stored profile', async () => {
    await profiles.applyUpdate(update({ version: 9, patch: { phones: [phone('+14155550100')] } }));

    expect(await profiles.delete(ALICE, 8)).toBe('stale');
    expect(await profiles.get(ALICE)).toMatchObject({ version: 9 });
  });

  it('applies an unversioned delete (a Kafka tombstone) whatever is stored', async () => {
    await profiles.applyUpdate(update({ version: 9, patch: { phones: [phone('+14155550100')] } }));

    expect(await profiles.delete(ALICE)).toBe('applied');
    expect(await profiles.get(ALICE)).toBeNull();
    // The version stays, so redelivered older upserts remain stale.
    expect(await profiles.applyUpdate(update({ version: 9, patch: {} }))).toBe('stale');
  });

  it('remembers the version of a delete for a customer it never saw', async () => {
    expect(await profiles.delete('cust-ghost', 4)).toBe('applied');

    expect(
      await profiles.applyUpdate(update({ customerId: 'cust-ghost', version: 3, patch: {} })),
    ).toBe('stale');
    expect(await profiles.get('cust-ghost')).toBeNull();
  });

  it('reads several profiles in one call, leaving out unknown and deleted ones', async () => {
    await profiles.applyUpdate(update({ customerId: 'a', version: 1, patch: {} }));
    await profiles.applyUpdate(update({ customerId: 'b', version: 1, patch: {} }));
    await profiles.delete('b', 2);

    const found = await profiles.getMany(['a', 'b', 'c', 'a']);

    expect([...found.keys()]).toEqual(['a']);
    expect(await profiles.getMany([])).toEqual(new Map());
  });

  it('ends at the highest version when updates race in any order', async () => {
    const versions = Array.from({ length: 30 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);

    const outcomes = await Promise.all(
      versions.map((version) =>
        profiles.applyUpdate(
          update({ version, patch: { emails: [email(`v${version}@example.com`)] } }),
        ),
      ),
    );

    expect(outcomes).toContain('applied');
    expect(await profiles.get(ALICE)).toMatchObject({
      version: 30,
      emails: [email('v30@example.com')],
    });
  });

  it('refuses a version that is not a non-negative integer', async () => {
    await expect(profiles.applyUpdate(update({ version: -1, patch: {} }))).rejects.toThrow(
      RangeError,
    );
    await expect(profiles.delete(ALICE, 1.5)).rejects.toThrow(RangeError);
  });

  describe('contacts at rest', () => {
    const subscription = {
      endpoint: 'https://push.example.net/send/sub-secret-endpoint',
      keys: { p256dh: 'p256dh-secret-key', auth: 'auth-secret' },
    };
    const contacts = {
      phones: [phone('+14155550100')],
      emails: [email('alice.secret@example.com')],
      whatsapp: [{ value: '+14155550177', lastSeenAt: T0 }],
      webPushSubscriptions: [{ subscription, device: 'laptop' }],
      fcmTokens: [{ token: 'fcm-secret-token', platform: 'android' as const }],
    };
    const PLAINTEXT = [
      '4155550100',
      'alice.secret',
      '4155550177',
      'sub-secret-endpoint',
      'p256dh-secret-key',
      'auth-secret',
      'fcm-secret-token',
    ];

    async function storedDocument(customerId: string): Promise<string> {
      const { rows } = await sql<{ document: string }>`
        select document::text as document from customer_profiles where customer_id = ${customerId}
      `.execute(database.db);
      return rows[0]!.document;
    }

    async function storeDocument(customerId: string, document: object): Promise<void> {
      await sql`
        insert into customer_profiles (customer_id, document, version, updated_at)
        values (${customerId}, ${JSON.stringify(document)}::jsonb, 1, ${T0})
        on conflict (customer_id) do update set document = excluded.document
      `.execute(database.db);
    }

    it('stores every contact sealed and keeps preferences and consents readable', async () => {
      await profiles.applyUpdate(
        update({
          version: 1,
          patch: {
            ...contacts,
            preferredChannels: ['email'],
            channelPreferences: { marketing: { sms: false } },
            consents: [{ channel: 'sms', granted: true, source: 'signup-form', at: T0 }],
          },
        }),
      );

      const stored = await storedDocument(ALICE);
      for (const plaintext of PLAINTEXT) expect(stored).not.toContain(plaintext);
      const document = JSON.parse(stored) as Record<string, unknown>;
      const sealed: unknown = expect.stringMatching(/^v1\./);
      expect(document).toMatchObject({
        phones: [{ sealed, verified: true }],
        emails: [{ sealed }],
        whatsapp: [{ sealed, lastSeenAt: T0 }],
        webPushSubscriptions: [{ sealed, device: 'laptop' }],
        fcmTokens: [{ sealed, platform: 'android' }],
        preferredChannels: ['email'],
        channelPreferences: { marketing: { sms: false } },
        consents: [{ channel: 'sms', granted: true, source: 'signup-form', at: T0 }],
      });
      expect(await profiles.get(ALICE)).toMatchObject(contacts);
    });

    it('reads contacts stored in plaintext before sealing, and seals a field its next write names', async () => {
      await storeDocument(ALICE, contacts);

      expect(await profiles.get(ALICE)).toMatchObject(contacts);

      await profiles.applyUpdate(
        update({ version: 2, patch: { phones: [phone('+14155550199')] } }),
      );
      const stored = await storedDocument(ALICE);
      expect(stored).not.toContain('4155550199');
      expect(await profiles.get(ALICE)).toMatchObject({
        ...contacts,
        phones: [phone('+14155550199')],
      });
    });

    it('refuses a sealed contact moved to another customer or another field, naming no contact', async () => {
      await profiles.applyUpdate(update({ version: 1, patch: contacts }));
      const document = JSON.parse(await storedDocument(ALICE)) as Record<string, unknown>;

      await storeDocument(BOB, { phones: document.phones });
      const moved = profiles.get(BOB);
      await expect(moved).rejects.toThrow(SealedValueError);
      await expect(moved).rejects.toThrow(
        /the phones of the profile of customer cust-bob cannot be opened \(sealed value failed authentication\)/,
      );

      await storeDocument(BOB, { whatsapp: document.phones });
      await expect(profiles.get(BOB)).rejects.toThrow(/the whatsapp of the profile/);

      await storeDocument(ALICE, { ...document, emails: document.fcmTokens });
      const error = await profiles.get(ALICE).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(SealedValueError);
      for (const plaintext of PLAINTEXT) expect(String(error)).not.toContain(plaintext);
    });

    it('opens contacts sealed under a previous key after a rotation, and names a missing key', async () => {
      await profiles.applyUpdate(update({ version: 1, patch: contacts }));
      const newKey = randomBytes(32);
      const rotated = new ProfileRepository(database.db, new MessageSealer(newKey, [KEY]));

      expect(await rotated.get(ALICE)).toMatchObject(contacts);

      // Writes seal under the new key: the old key alone no longer opens them.
      await rotated.applyUpdate(update({ customerId: BOB, version: 1, patch: contacts }));
      expect(await rotated.get(BOB)).toMatchObject(contacts);
      await expect(profiles.get(BOB)).rejects.toThrow(/which is not configured/);

      const withoutOldKey = new ProfileRepository(database.db, new MessageSealer(newKey));
      await expect(withoutOldKey.get(ALICE)).rejects.toThrow(
        /sealed with key [0-9a-f]{8}, which is not configured\); MESSAGE_LOG_KEY or MESSAGE_LOG_PREVIOUS_KEYS must hold/,
      );
    });
  });
});
