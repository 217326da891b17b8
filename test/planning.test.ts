import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeliveryReceipt } from '@omnigate/contracts';
import { SandboxSuite } from '@omnigate/sandbox';
import { gatewayEnv } from './support/env';
import { GatewayProcess } from './support/gateway';
import {
  createTestTopics,
  publish,
  testKafka,
  TopicReader,
  type TestTopics,
} from './support/kafka';
import {
  DATABASE_URL,
  dropSchema,
  REDIS_URL,
  storedProfileDocument,
  storedProfileVersion,
  uniqueSchema,
} from './support/storage';

type Receipt = DeliveryReceipt;

const CONSENTED = ['sms', 'email', 'whatsapp'].map((channel) => ({
  channel,
  granted: true,
  source: 'signup-form',
  at: '2026-01-01T00:00:00Z',
}));

/**
 * Profiles from the profiles topic, preferences, consent, caps and fallback, end to end on the
 * real broker, PostgreSQL, Redis and the provider sandbox.
 */
describe('profiles, preferences, caps and fallback', () => {
  const kafka = testKafka();
  const schema = uniqueSchema();
  const gateways: GatewayProcess[] = [];
  let suite: SandboxSuite;
  let topics: TestTopics;
  let receipts: TopicReader;
  let env: Record<string, string>;

  beforeAll(async () => {
    suite = await SandboxSuite.start();
    topics = await createTestTopics(kafka, 3);
    // One SMS-wide rule: 3 a day per customer, then the next channel.
    const rulesFile = join(mkdtempSync(join(tmpdir(), 'caps-')), 'caps.json');
    writeFileSync(
      rulesFile,
      JSON.stringify([
        {
          id: 'sms-daily',
          scope: { channel: 'sms' },
          windowSeconds: 86400,
          limit: 3,
          overCap: 'next_channel',
        },
      ]),
    );
    env = gatewayEnv(topics, {
      ...suite.gatewayEnvironment(),
      DATABASE_URL,
      DATABASE_SCHEMA: schema,
      REDIS_URL,
      CAP_RULES_FILE: rulesFile,
    });
    gateways.push(await GatewayProcess.start(env, 'planning-1'));
    receipts = await new TopicReader(kafka, topics.receipts).start();
  });

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    await receipts?.stop();
    await suite?.close();
    await dropSchema(schema);
  });

  async function publishProfile(
    customerId: string,
    version: number,
    profile: Record<string, unknown>,
  ): Promise<void> {
    const event = {
      type: 'upsert',
      customerId,
      version,
      occurredAt: new Date().toISOString(),
      profile,
    };
    await publish(kafka, topics.profiles, [{ key: customerId, value: JSON.stringify(event) }]);
    const deadline = Date.now() + 20000;
    while (((await storedProfileVersion(schema, customerId)) ?? -1) < version) {
      if (Date.now() > deadline)
        throw new Error(`profile ${customerId} v${version} was not applied`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  function command(
    customerId: string,
    category: string,
    fields: Record<string, unknown> = {},
  ): Record<string, unknown> {
    return {
      id: `cmd-${randomUUID()}`,
      customerId,
      category,
      content: {
        sms: { text: `A ${category} message` },
        email: { subject: category, text: `A ${category} message` },
      },
      ...fields,
    };
  }

  async function sendAll(
    commands: Array<Record<string, unknown>>,
    key: (c: Record<string, unknown>) => string = (c) => String(c.customerId),
  ): Promise<Receipt[]> {
    await publish(
      kafka,
      topics.send,
      commands.map((c) => ({ key: key(c), value: JSON.stringify(c) })),
    );
    const ids = new Set(commands.map((c) => String(c.id)));
    await receipts.waitFor(
      (records) =>
        records.filter((r) => ids.has((JSON.parse(r.value) as Receipt).messageId)).length >=
        ids.size,
      60000,
      `${ids.size} receipts`,
    );
    const byId = new Map(
      receipts.records
        .map((r) => JSON.parse(r.value) as Receipt)
        .filter((r) => ids.has(r.messageId))
        .map((r) => [r.messageId, r]),
    );
    return commands.map((c) => byId.get(String(c.id))!);
  }

  const customer = (): string => `cust-${randomUUID().slice(0, 8)}`;
  const contacts = (n: number) => ({
    phones: [{ value: `+1415555${String(1000 + n).slice(-4)}`, verified: true }],
    emails: [{ value: `c${n}@example.com` }],
  });

  it('a profile update on the profiles topic changes the channel chosen for the next command', async () => {
    const id = customer();
    await publishProfile(id, 1, { ...contacts(1), preferredChannels: ['email'] });
    // Stored sealed: neither contact is in the row, the channel order is.
    const stored = await storedProfileDocument(schema, id);
    expect(stored).not.toContain('4155551001');
    expect(stored).not.toContain('c1@example.com');
    expect(stored).toContain('"preferredChannels": ["email"]');
    const [first] = await sendAll([command(id, 'order_updates')]);
    expect(first).toMatchObject({ status: 'sent', channel: 'email' });

    await publishProfile(id, 2, { preferredChannels: ['sms'] });
    const [second] = await sendAll([command(id, 'order_updates')]);
    expect(second).toMatchObject({ status: 'sent', channel: 'sms' });

    // A stale event (compaction redelivers) changes nothing: a newer event that leaves the
    // channel order alone is stored after it, and the order is still the one of version 2.
    const stale = {
      type: 'upsert',
      customerId: id,
      version: 1,
      occurredAt: new Date().toISOString(),
      profile: { preferredChannels: ['email'] },
    };
    await publish(kafka, topics.profiles, [{ key: id, value: JSON.stringify(stale) }]);
    await publishProfile(id, 3, { locale: 'en' });
    const [third] = await sendAll([command(id, 'order_updates')]);
    expect(third).toMatchObject({ status: 'sent', channel: 'sms' });
  });

  it('a channel opt-out is respected, and a required category reaches the customer anyway', async () => {
    const id = customer();
    await publishProfile(id, 1, {
      ...contacts(2),
      consents: CONSENTED,
      channelPreferences: { '*': { sms: false } },
    });
    const [marketing, security] = await sendAll([
      command(id, 'marketing', { channels: ['sms', 'email'] }),
      command(id, 'account_security', { channels: ['sms'] }),
    ]);
    expect(marketing).toMatchObject({ status: 'sent', channel: 'email' });
    expect(marketing!.trace.find((t) => t.channel === 'sms')).toMatchObject({
      decision: 'skipped',
      reasonCode: 'OPTED_OUT',
    });
    expect(security).toMatchObject({ status: 'sent', channel: 'sms' });
    expect(security!.trace.find((t) => t.decision === 'chosen')!.detail).toMatch(
      /required category/,
    );
  });

  it('a cap of 3 SMS a day: 3 marketing SMS, then the next channel; transactional sends are never blocked and are counted', async () => {
    const id = customer();
    await publishProfile(id, 1, {
      ...contacts(3),
      preferredChannels: ['sms', 'email'],
      consents: CONSENTED,
    });
    const marketing = await sendAll([1, 2, 3, 4, 5].map(() => command(id, 'marketing')));
    expect(marketing.map((r) => `${r.status}:${r.channel}`)).toEqual([
      'sent:sms',
      'sent:sms',
      'sent:sms',
      'sent:email',
      'sent:email',
    ]);
    expect(marketing[3]!.fallbackFrom).toBe('sms');
    expect(marketing[3]!.trace.find((t) => t.reasonCode === 'CAPPED')!.detail).toMatch(
      /sms-daily: 3 in 24 h/,
    );

    const transactional = await sendAll([
      command(id, 'order_updates', { channels: ['sms'] }),
      command(id, 'otp', { channels: ['sms'] }),
    ]);
    for (const receipt of transactional) {
      expect(receipt).toMatchObject({ status: 'sent', channel: 'sms' });
      expect(receipt.trace.map((t) => t.detail).join(' ')).toMatch(
        /sent anyway \(transactional\), and counted/,
      );
    }
    const smsSent =
      suite.twilio.acceptedMessages.filter((m) => m.To === `+1415555${String(1003).slice(-4)}`)
        .length +
      suite.twilioBackup.acceptedMessages.filter(
        (m) => m.To === `+1415555${String(1003).slice(-4)}`,
      ).length;
    expect(smsSent).toBe(5);
  });

  it('transactional sends count against the cap: after three of them, marketing SMS is already capped', async () => {
    const id = customer();
    await publishProfile(id, 1, {
      ...contacts(4),
      preferredChannels: ['sms', 'email'],
      consents: CONSENTED,
    });
    const transactional = await sendAll(
      [1, 2, 3].map(() => command(id, 'order_updates', { channels: ['sms'] })),
    );
    expect(transactional.map((r) => `${r.status}:${r.channel}`)).toEqual([
      'sent:sms',
      'sent:sms',
      'sent:sms',
    ]);
    const [marketing] = await sendAll([command(id, 'marketing')]);
    expect(marketing).toMatchObject({ status: 'sent', channel: 'email', fallbackFrom: 'sms' });
    expect(marketing!.trace.find((t) => t.reasonCode === 'CAPPED')!.detail).toMatch(/sms-daily/);
  });

  it('two gateway processes consuming together never exceed a cap', async () => {
    gateways.push(await GatewayProcess.start(env, 'planning-2'));
    const customers = [customer(), customer(), customer()];
    for (const [index, id] of customers.entries()) {
      await publishProfile(id, 1, { ...contacts(10 + index), consents: CONSENTED });
    }
    // Random keys spread each customer's burst over every partition, so both processes race on it.
    const burst = customers.flatMap((id) =>
      Array.from({ length: 12 }, () =>
        command(id, 'marketing', { channels: ['sms'], content: { sms: { text: 'Flash sale' } } }),
      ),
    );
    const results = await sendAll(burst, () => randomUUID());
    for (const id of customers) {
      const mine = results.filter((r) => r.customerId === id);
      expect(mine.filter((r) => r.status === 'sent')).toHaveLength(3);
      expect(mine.filter((r) => r.status === 'capped')).toHaveLength(9);
    }
  });
});
