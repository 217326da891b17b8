/**
 * `npm run bench:webhooks [-- --callbacks N --connections C --cpu-prof DIR --keep]`: how many provider callbacks per
 * second one gateway takes, and whether any is lost.
 *
 * Starts a gateway child process on a provider-events topic of its own (only the broker is
 * involved: the endpoint verifies, publishes with acks=-1 and answers), then autocannon posts N
 * correctly signed Twilio status callbacks, each with its own message sid, over C connections.
 * Prints callbacks/s, latency p50/p99, and "lost": callbacks answered 2xx whose event is not on the
 * topic afterwards (must be 0). Not a test: the numbers depend on the machine.
 */
import autocannon from 'autocannon';
import { randomBytes, randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ConsumerRunner, createKafkaClient, ensureTopics } from '../libs/kafka/src';
import {
  BROKERS,
  cleanUp,
  freePort,
  PARTITIONS,
  quietLogger,
  ROOT,
  startGateway,
  stopGateway,
  waitUntil,
} from './lib/bench-support';
import { signedTwilioCallback, twilioSid, type SignedCallback } from './lib/provider-callbacks';

interface Options {
  readonly callbacks: number;
  readonly connections: number;
  readonly keep: boolean;
  /** Write the gateway's CPU profile here (node --cpu-prof). */
  readonly cpuProfDir: string | undefined;
}

function parseOptions(argv: readonly string[]): Options {
  const value = (name: string, fallback: number): number => {
    const index = argv.indexOf(`--${name}`);
    if (index < 0) return fallback;
    const parsed = Number(argv[index + 1]);
    if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`--${name} needs a whole number`);
    return parsed;
  };
  return {
    callbacks: value('callbacks', 20000),
    connections: value('connections', 64),
    keep: argv.includes('--keep'),
    cpuProfDir: argv.includes('--cpu-prof')
      ? resolve(argv[argv.indexOf('--cpu-prof') + 1] ?? '.')
      : undefined,
  };
}

const PUBLIC_BASE = 'https://omnigate.bench';

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const run = `bench-webhooks-${randomUUID().slice(0, 8)}`;
  const topic = `${run}.provider-events`;
  const kafka = createKafkaClient({ clientId: run, brokers: BROKERS }, quietLogger);
  await ensureTopics(kafka, [{ topic, partitions: PARTITIONS, replicationFactor: 1 }]);
  const authToken = randomBytes(16).toString('hex');
  const port = await freePort();
  const gateway = await startGateway(
    {
      STORAGE: 'embedded',
      PATH: process.env.PATH,
      KAFKA_BROKERS: BROKERS.join(','),
      KAFKA_GROUP_ID: `${run}-send`,
      KAFKA_PROFILES_GROUP_ID: `${run}-profiles`,
      TOPIC_SEND: `${run}.send`,
      TOPIC_RECEIPTS: `${run}.receipts`,
      TOPIC_DEAD_LETTER: `${run}.dlq`,
      TOPIC_PROFILES: `${run}.profiles`,
      TOPIC_CANCEL: `${run}.cancel`,
      TOPIC_PROVIDER_EVENTS: topic,
      KAFKA_CREATE_TOPICS: 'true',
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(port),
      LOG_LEVEL: 'warn',
      TEMPLATES_DIR: join(ROOT, 'templates'),
      MESSAGE_LOG_KEY: randomBytes(32).toString('base64'),
      WEBHOOK_PUBLIC_BASE_URL: PUBLIC_BASE,
      PROVIDERS_SMS: 'twilio',
      PROVIDERS_EMAIL: 'log',
      PROVIDERS_WHATSAPP: 'log',
      PROVIDERS_WEBPUSH: 'log',
      PROVIDERS_MOBILEPUSH: 'log',
      PROVIDER_TWILIO_ACCOUNT_SID: `AC${'1'.repeat(32)}`,
      PROVIDER_TWILIO_AUTH_TOKEN: authToken,
      PROVIDER_TWILIO_FROM: '+15005550006',
    },
    run,
    options.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir] : [],
  );

  // Signed in advance, so the load generator spends its time posting.
  const callbacks: Array<{ path: string; eventId: string; signed: SignedCallback }> = [];
  for (let i = 0; i < options.callbacks; i++) {
    const path = `/webhooks/twilio/twilio/status?messageId=${run}-${i}`;
    const sid = twilioSid(i + 1);
    callbacks.push({
      path,
      eventId: `${sid}:delivered`,
      signed: signedTwilioCallback(authToken, `${PUBLIC_BASE}${path}`, {
        MessageSid: sid,
        MessageStatus: 'delivered',
        To: '+14155550123',
      }),
    });
  }

  console.log(
    `posting ${options.callbacks} signed Twilio status callbacks over ${options.connections} connections ` +
      `(${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)})`,
  );
  const answered = new Set<string>();
  let next = 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: options.connections,
    amount: options.callbacks,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        setupRequest: (request, context) => {
          const callback = callbacks[next++ % callbacks.length]!;
          context.eventId = callback.eventId;
          return {
            ...request,
            path: callback.path,
            headers: callback.signed.headers,
            body: callback.signed.body,
          };
        },
        onResponse: (status, _body, context) => {
          if (status >= 200 && status < 300) answered.add(String(context.eventId));
        },
      },
    ],
  });

  // Read the topic back from the start; every 2xx must be there.
  const seen = new Set<string>();
  const reader = new ConsumerRunner(
    kafka,
    {
      groupId: `${run}-reader`,
      topics: [topic],
      concurrency: 64,
      partitionsConsumedConcurrently: PARTITIONS,
      sessionTimeoutMs: 10000,
      heartbeatIntervalMs: 1000,
      maxConsecutiveFailures: 5,
      fromBeginning: true,
      commitIntervalMs: 1000,
      commitThreshold: 1000,
    },
    (record) => {
      const value = record.value?.toString() ?? '';
      seen.add((JSON.parse(value) as { eventId: string }).eventId);
      return Promise.resolve();
    },
    quietLogger,
    (error) => console.error(`reader failed: ${error.message}`),
  );
  const readStarted = performance.now();
  await reader.start();
  await waitUntil('every answered callback on the topic', 60000, () =>
    [...answered].every((id) => seen.has(id)),
  ).catch(() => undefined);
  const lost = [...answered].filter((id) => !seen.has(id)).length;
  await reader.stop();
  await stopGateway(gateway);
  if (!options.keep) {
    const gatewayTopics = ['send', 'receipts', 'dlq', 'profiles'].map((t) => `${run}.${t}`);
    await cleanUp(kafka, [topic, ...gatewayTopics], undefined, undefined);
  }

  const perSecond = result['2xx'] / result.duration;
  console.log(
    [
      `callbacks/s       ${perSecond.toFixed(0)} (2xx ${result['2xx']} of ${options.callbacks} in ${result.duration.toFixed(1)} s)`,
      `latency p50/p99   ${result.latency.p50} ms / ${result.latency.p99} ms (max ${result.latency.max} ms)`,
      `non-2xx/errors    ${result.non2xx} / ${result.errors} (timeouts ${result.timeouts})`,
      `lost              ${lost} (answered 2xx, not on the topic; read back in ${((performance.now() - readStarted) / 1000).toFixed(1)} s)`,
    ].join('\n'),
  );
  if (lost > 0 || result.non2xx > 0 || result.errors > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack : String(error));
  process.exit(1);
});
