import { randomUUID } from 'node:crypto';
import { signedTwilioCallback, twilioSid } from '../scripts/lib/provider-callbacks';
import { gatewayEnv } from './support/env';
import { GatewayProcess } from './support/gateway';
import { createTestTopics, testKafka, TopicReader } from './support/kafka';

/**
 * The webhook endpoint answers 2xx only after the broker acknowledged the event: a gateway killed
 * with SIGKILL while 2,000 signed status callbacks are being posted has written every event it
 * answered 2xx for. (Events written but not answered are allowed: the provider retries them and the
 * applier dedupes on the event id.)
 */
const CALLBACKS = 2000;
const IN_FLIGHT = 200;
const KILL_AFTER_ANSWERS = 700;
const PUBLIC_BASE = 'https://omnigate.test';
const TWILIO_TOKEN = `twilio-${randomUUID()}`;

const kafka = testKafka();
let gateway: GatewayProcess | undefined;
let reader: TopicReader | undefined;

afterAll(async () => {
  await gateway?.stop();
  await reader?.stop();
});

it('loses none of the callbacks it answered 2xx for when SIGKILLed midway through 2,000', async () => {
  const topics = await createTestTopics(kafka, 3);
  const topic = `test.provider-events.${randomUUID().slice(0, 8)}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic, numPartitions: 3, replicationFactor: 1 }],
  });
  await admin.disconnect();
  gateway = await GatewayProcess.start(
    gatewayEnv(topics, {
      TOPIC_PROVIDER_EVENTS: topic,
      WEBHOOK_PUBLIC_BASE_URL: PUBLIC_BASE,
      PROVIDERS_SMS: 'twilio',
      PROVIDER_TWILIO_ACCOUNT_SID: `AC${'1'.repeat(32)}`,
      PROVIDER_TWILIO_AUTH_TOKEN: TWILIO_TOKEN,
      PROVIDER_TWILIO_FROM: '+15005550006',
      LOG_LEVEL: 'warn',
    }),
    'webhook-crash',
  );
  const port = gateway.port;
  const callbacks = Array.from({ length: CALLBACKS }, (_, i) => {
    const path = `/webhooks/twilio/twilio/status?messageId=crash-${i}`;
    const sid = twilioSid(i + 1);
    return {
      eventId: `${sid}:delivered`,
      path,
      signed: signedTwilioCallback(TWILIO_TOKEN, `${PUBLIC_BASE}${path}`, {
        MessageSid: sid,
        MessageStatus: 'delivered',
        To: '+14155550123',
      }),
    };
  });

  const answered2xx: string[] = [];
  let failed = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < callbacks.length) {
      const callback = callbacks[next++]!;
      try {
        const response = await fetch(`http://127.0.0.1:${port}${callback.path}`, {
          method: 'POST',
          headers: callback.signed.headers,
          body: callback.signed.body,
        });
        await response.arrayBuffer();
        if (response.status >= 200 && response.status < 300) {
          answered2xx.push(callback.eventId);
          if (answered2xx.length === KILL_AFTER_ANSWERS) gateway?.kill('SIGKILL');
        } else {
          failed++;
        }
      } catch {
        failed++; // the connection died with the process
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const exit = await gateway.waitForExit(10000);
  expect(exit.signal).toBe('SIGKILL');
  // The kill landed midway: some callbacks were answered, the rest never were.
  expect(answered2xx.length).toBeGreaterThanOrEqual(KILL_AFTER_ANSWERS);
  expect(answered2xx.length).toBeLessThan(CALLBACKS);
  expect(failed).toBe(CALLBACKS - answered2xx.length);

  reader = await new TopicReader(kafka, topic).start();
  const onTopic = (): Set<string> =>
    new Set(reader!.records.map((r) => (JSON.parse(r.value) as { eventId: string }).eventId));
  const missing = (): string[] => {
    const seen = onTopic();
    return answered2xx.filter((id) => !seen.has(id));
  };
  await reader
    .waitFor(() => missing().length === 0, 30000, 'every 2xx-answered callback')
    .catch(() => undefined);
  console.log(
    `webhook crash: ${answered2xx.length} answered 2xx before and around the SIGKILL, ` +
      `${failed} not answered, ${onTopic().size} events on the topic, ${missing().length} lost`,
  );
  expect(missing()).toEqual([]);
}, 180000);
