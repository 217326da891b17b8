/**
 * `npm run sandbox`: the provider fakes on fixed local ports, for running the gateway by hand.
 * Prints (and writes to test-output/sandbox.env) the environment that points the gateway at them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SandboxSuite } from '../libs/sandbox/src';

const ROOT = resolve(__dirname, '..', '..');
const BASE_PORT = Number(process.env.SANDBOX_BASE_PORT ?? 4010);
// The providers call the gateway back unless SANDBOX_WEBHOOKS=off: signed at the public base URL,
// delivered to the gateway's local port (the sandbox plays the ingress).
const WEBHOOKS = process.env.SANDBOX_WEBHOOKS !== 'off';
const PUBLIC_BASE_URL =
  process.env.SANDBOX_WEBHOOK_PUBLIC_BASE_URL ?? 'https://omnigate.sandbox.test';
const GATEWAY_URL = process.env.SANDBOX_GATEWAY_URL ?? 'http://127.0.0.1:8080';
const list = (name: string): string[] =>
  (process.env[name] ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);

async function main(): Promise<void> {
  const suite = await SandboxSuite.start({
    ports: { twilio: BASE_PORT, twilioBackup: BASE_PORT + 1, sendgrid: BASE_PORT + 2 },
    defaultPlan: { latency: { minMs: 20, maxMs: 120 } },
    webhooks: WEBHOOKS
      ? {
          publicBaseUrl: PUBLIC_BASE_URL,
          gatewayUrl: GATEWAY_URL,
          twilio: {
            delayMs: 1000,
            undeliveredNumbers: list('SANDBOX_UNDELIVERED_NUMBERS'),
            readForWhatsApp: true,
          },
          sendgrid: {
            delayMs: 1000,
            bounceAddresses: list('SANDBOX_BOUNCE_ADDRESSES'),
            openFraction: Number(process.env.SANDBOX_OPEN_FRACTION ?? 0.3),
          },
          pushAcks: { delayMs: 500, readFraction: 0.3 },
        }
      : undefined,
  });
  const env = {
    ...suite.gatewayEnvironment(),
    TEMPLATES_DIR: join(ROOT, 'templates'),
    // A gateway run by hand is one local instance: PGlite and in-process counters are fine.
    STORAGE: 'embedded',
  };
  const lines = Object.entries(env).map(([name, value]) => `export ${name}='${value}'`);
  mkdirSync(join(ROOT, 'test-output'), { recursive: true });
  const file = join(ROOT, 'test-output', 'sandbox.env');
  writeFileSync(file, `${lines.join('\n')}\n`);
  console.log('Omnigate provider sandbox');
  for (const [label, fake] of suite.labelledFakes())
    console.log(`  ${label.padEnd(14)} ${fake.url}`);
  console.log(`\nGateway environment written to ${file}; start the gateway with:`);
  console.log(
    `  source ${file} && KAFKA_BROKERS=127.0.0.1:9092 KAFKA_CREATE_TOPICS=true npm start\n`,
  );
  if (WEBHOOKS) {
    console.log(
      `Callbacks, event batches and push acks go to ${PUBLIC_BASE_URL} (forwarded to ${GATEWAY_URL});`,
    );
    console.log('SANDBOX_WEBHOOKS=off turns them off, SANDBOX_GATEWAY_URL moves them.\n');
  }
  console.log('Ctrl-C stops the sandbox. Requests received so far are counted every 10 s.');
  const timer = setInterval(() => {
    const counts = suite.labelledFakes().map(([label, f]) => `${label}=${f.requests.length}`);
    const posts = suite.webhookPosts();
    const refused = posts.filter((p) => !p.ok).length;
    console.log(
      `requests: ${counts.join(' ')}; webhooks posted: ${posts.length} (${refused} not 2xx)`,
    );
  }, 10000);
  const stop = (): void => {
    clearInterval(timer);
    void suite.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
