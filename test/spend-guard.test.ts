import { randomUUID } from 'node:crypto';
import type { DeliveryReceipt } from '@omnigate/contracts';
import { SandboxSuite } from '@omnigate/sandbox';
import { sendCommand } from './support/commands';
import { gatewayEnv } from './support/env';
import { GatewayProcess } from './support/gateway';
import { createTestTopics, publish, testKafka, TopicReader } from './support/kafka';
import { DATABASE_URL, dropSchema, REDIS_URL, uniqueSchema } from './support/storage';
import { until } from './support/wait';

const NUMBER_PER_MINUTE = 10;
const BUDGET = 15;

/** A valid US number no other test run uses, so per-number counters start empty. */
function freshUsNumber(): string {
  return `+1415555${String(Math.floor(Math.random() * 10000)).padStart(4, '0')}`;
}

/**
 * The spend guard in a real gateway (Redis counters, PostgreSQL, the Twilio sandbox): refused
 * destinations never reach Twilio, one number stops at its velocity limit whichever customers
 * send to it, and a used-up daily budget stops non-transactional SMS but not OTP.
 */
describe('spend guard for SMS', () => {
  const kafka = testKafka();
  const schema = uniqueSchema();
  let suite: SandboxSuite | undefined;
  let gateway: GatewayProcess | undefined;
  let receipts: TopicReader | undefined;
  let send: (commands: ReadonlyArray<Record<string, unknown>>) => Promise<DeliveryReceipt[]>;

  beforeAll(async () => {
    suite = await SandboxSuite.start();
    const topics = await createTestTopics(kafka, 3);
    gateway = await GatewayProcess.start(
      gatewayEnv(topics, {
        ...suite.gatewayEnvironment(),
        PROVIDERS_SMS: 'twilio',
        DATABASE_URL,
        DATABASE_SCHEMA: schema,
        REDIS_URL,
        // The budget is global per day: this run counts under keys of its own.
        SPEND_GUARD_KEY_PREFIX: `test:spend-guard:${randomUUID()}:`,
        SPEND_GUARD_SMS_COUNTRIES: 'US,GB',
        SPEND_GUARD_NUMBER_PER_MINUTE: String(NUMBER_PER_MINUTE),
        SPEND_GUARD_SMS_DAILY_BUDGET: String(BUDGET),
      }),
      'spend-guard',
    );
    receipts = await new TopicReader(kafka, topics.receipts).start();
    const reader = receipts;
    send = async (commands) => {
      await publish(
        kafka,
        topics.send,
        commands.map((command) => ({
          key: String(command.customerId),
          value: JSON.stringify(command),
        })),
      );
      const ids = new Set(commands.map((command) => String(command.id)));
      const finals = (): DeliveryReceipt[] =>
        reader.records
          .map((record) => JSON.parse(record.value) as DeliveryReceipt)
          .filter((receipt) => ids.has(receipt.messageId) && receipt.status !== 'deferred');
      await reader.waitFor(() => finals().length >= ids.size, 30_000, `${ids.size} final receipts`);
      return finals();
    };
  });

  afterAll(async () => {
    await gateway?.stop();
    await receipts?.stop();
    await suite?.close();
    await dropSchema(schema);
  });

  function sms(phone: string, category: string): Record<string, unknown> {
    return sendCommand({
      category,
      channels: ['sms'],
      recipient: { phone },
      content: { sms: { text: `Spend guard check ${randomUUID()}` } },
    });
  }

  function twilioRequestsTo(phone: string): number {
    return (suite?.twilio.requests ?? []).filter((request) => {
      const body = request.body as Record<string, unknown> | undefined;
      return body?.['To'] === phone;
    }).length;
  }

  async function metricsText(): Promise<string> {
    return (await fetch(`http://127.0.0.1:${gateway!.port}/metrics`)).text();
  }

  it('refuses an international-network, a premium-rate and a not-allowed country number, none reaching Twilio', async () => {
    const cases = [
      ['+882130123456', 'SPEND_INTERNATIONAL_NETWORK', 'international-network number (no country)'],
      ['+449098790123', 'SPEND_PREMIUM_RATE', 'premium-rate number (GB)'],
      ['+33612345678', 'SPEND_COUNTRY_NOT_ALLOWED', 'country (FR) is not in the sms allowlist'],
    ] as const;
    const control = freshUsNumber();
    const commands = [...cases.map(([phone]) => sms(phone, 'promotions')), sms(control, 'otp')];
    const found = await send(commands);
    const byId = new Map(found.map((receipt) => [receipt.messageId, receipt]));

    cases.forEach(([phone, code, words], index) => {
      const receipt = byId.get(String(commands[index]!.id));
      expect(receipt).toMatchObject({ status: 'failed', reason: { code } });
      expect(receipt?.reason?.message).toContain(words);
      expect(JSON.stringify(receipt)).not.toContain(phone.slice(1));
      expect(receipt?.trace).toContainEqual(
        expect.objectContaining({ channel: 'sms', decision: 'skipped', reasonCode: code }),
      );
      expect(twilioRequestsTo(phone)).toBe(0);
    });
    // The same gateway does send to an allowed number: the refusals are the guard's doing.
    expect(byId.get(String(commands[3]!.id))?.status).toBe('sent');
    expect(twilioRequestsTo(control)).toBe(1);
    const text = await metricsText();
    expect(text).toMatch(
      /omnigate_spend_guard_refusals_total\{channel="sms",reason="SPEND_PREMIUM_RATE"\} 1/,
    );
  });

  it(`lets ${NUMBER_PER_MINUTE} of 50 SMS to one number from 50 customers through in a minute`, async () => {
    const phone = freshUsNumber();
    // Transactional on purpose: the velocity limit binds OTP too.
    const found = await send(Array.from({ length: 50 }, () => sms(phone, 'otp')));
    const sent = found.filter((receipt) => receipt.status === 'sent');
    const refused = found.filter((receipt) => receipt.reason?.code === 'SPEND_VELOCITY_NUMBER');
    expect(sent).toHaveLength(NUMBER_PER_MINUTE);
    expect(refused).toHaveLength(50 - NUMBER_PER_MINUTE);
    expect(refused[0]?.status).toBe('failed');
    expect(twilioRequestsTo(phone)).toBe(NUMBER_PER_MINUTE);
  });

  it('stops non-transactional SMS once the daily budget is used up, not OTP, and the budget metric reaches 1', async () => {
    // 1 + NUMBER_PER_MINUTE sends are counted already; refusals counted nothing.
    const used = 1 + NUMBER_PER_MINUTE;
    const promotions = await send(
      Array.from({ length: 8 }, () => sms(freshUsNumber(), 'promotions')),
    );
    const promotionsSent = promotions.filter((receipt) => receipt.status === 'sent');
    const overBudget = promotions.filter(
      (receipt) => receipt.reason?.code === 'SPEND_DAILY_BUDGET',
    );
    expect(promotionsSent).toHaveLength(BUDGET - used);
    expect(overBudget).toHaveLength(8 - (BUDGET - used));
    expect(overBudget[0]?.reason?.message).toContain('the daily sms budget of 15 sends is used up');

    const otp = await send([sms(freshUsNumber(), 'otp'), sms(freshUsNumber(), 'otp')]);
    expect(otp.map((receipt) => receipt.status)).toEqual(['sent', 'sent']);
    expect(otp[0]?.trace).toContainEqual(
      expect.objectContaining({
        decision: 'chosen',
        detail: expect.stringContaining('transactional, so sent anyway') as unknown,
      }),
    );

    // The gauge the alert reads: today's sends over the budget, read from Redis at scrape time.
    const ratio = await until(
      'the sms budget ratio to reach 1',
      async () => {
        const match = /omnigate_spend_daily_budget_used_ratio\{channel="sms"\} ([\d.]+)/.exec(
          await metricsText(),
        );
        return match && Number(match[1]) >= 1 ? Number(match[1]) : undefined;
      },
      15_000,
    );
    expect(ratio).toBeCloseTo((BUDGET + 2) / BUDGET);
  });
});
