/**
 * `npm run demo`: the gateway's main job on this machine. Starts the gateway against the local
 * broker, publishes a realistic workload (hundreds of commands over many customers, a few of them
 * malformed) with a progress bar, and prints the receipts by status, channel and provider.
 */
import { SingleBar, Presets } from 'cli-progress';
import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { DEAD_LETTER_HEADERS, DEFAULT_TOPICS, type DeliveryReceipt } from '../libs/contracts/src';
import { SandboxSuite } from '../libs/sandbox/src';
import { buildScenarios, type Scenarios } from './lib/demo-scenarios';
import { buildWorkload } from './lib/workload';
import { DEFAULT_CATEGORY_POLICIES } from '../src/config/policies';

const ROOT = resolve(__dirname, '..', '..');
const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const COMMANDS = Number(process.env.DEMO_COMMANDS ?? 600);
const CUSTOMERS = Number(process.env.DEMO_CUSTOMERS ?? 120);
const MALFORMED = Number(process.env.DEMO_MALFORMED ?? 12);
const HTTP_PORT = process.env.DEMO_HTTP_PORT ?? '8080';
const MAX_COMMAND_BYTES = 65536;
// How long the console stays up after the summary: until Ctrl-C in a terminal, else a minute.
const LINGER_SECONDS = process.env.DEMO_LINGER_SECONDS
  ? Number(process.env.DEMO_LINGER_SECONDS)
  : process.stdin.isTTY
    ? Infinity
    : 60;

/** One fresh key per role for this run; the gateway stores only their hashes. */
function demoApiKeys(): { keys: Record<'agent' | 'admin', string>; env: string } {
  const keys = {
    agent: `og_demo_agent_${randomBytes(18).toString('base64url')}`,
    admin: `og_demo_admin_${randomBytes(18).toString('base64url')}`,
  };
  const env = JSON.stringify(
    (['agent', 'admin'] as const).map((role) => ({
      id: `demo-${role}`,
      role,
      sha256: createHash('sha256').update(keys[role]).digest('hex'),
    })),
  );
  return { keys, env };
}

type Receipt = DeliveryReceipt;

async function endOffsets(kafka: Kafka, topic: string): Promise<Map<number, bigint>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
  } finally {
    await admin.disconnect();
  }
}

async function waitForReady(port: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health/ready`)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `the gateway was not ready on port ${port} within ${timeoutMs} ms (see test-output/demo-gateway.log)`,
  );
}

function table(title: string, counts: Map<string, number>): void {
  console.log(`\n${title}`);
  const width = Math.max(...[...counts.keys()].map((k) => k.length), 8);
  for (const [key, count] of [...counts.entries()].sort((a, b) => b[1] - a[1])) {
    console.log(`  ${key.padEnd(width)}  ${String(count).padStart(6)}`);
  }
}

async function main(): Promise<void> {
  const kafka = new Kafka({
    clientId: 'omnigate-demo',
    brokers: BROKERS,
    logLevel: logLevel.NOTHING,
  });
  const runId = `demo-${randomUUID().slice(0, 8)}`;
  const { createWriteStream, mkdirSync } = await import('node:fs');
  mkdirSync(join(ROOT, 'test-output'), { recursive: true });
  const gatewayLog = createWriteStream(join(ROOT, 'test-output', 'demo-gateway.log'));

  // The provider fakes run in this process; the gateway's real SDKs talk to them over HTTP, and
  // they call the gateway back (status callbacks, event batches, push acks) as the providers do.
  const scenarios = buildScenarios(runId, CUSTOMERS, new Date());
  const sandbox = await SandboxSuite.start({
    defaultPlan: { latency: { minMs: 20, maxMs: 120 } },
    webhooks: {
      gatewayUrl: `http://127.0.0.1:${HTTP_PORT}`,
      twilio: {
        delayMs: 300,
        undeliveredNumbers: ['+14155560007', scenarios.escalation.phone],
        readForWhatsApp: true,
      },
      sendgrid: {
        delayMs: 300,
        bounceAddresses: [scenarios.bounce.address],
        openFraction: 0.4,
      },
      pushAcks: { delayMs: 300, readFraction: 0.4 },
    },
  });
  // A few numbers the carrier refuses, so the demo shows a permanent failure falling back to email.
  // The primary Twilio account also fails 5% of calls with a 503: the backup account takes those.
  sandbox.twilio.setFailurePlan({
    latency: { minMs: 20, maxMs: 120 },
    serverErrorRate: 0.05,
    recipientErrors: { '+14155550005': '21211', '+14155550011': '21610' },
  });
  const apiKeys = demoApiKeys();
  console.log(
    `Omnigate demo ${runId}: broker ${BROKERS.join(',')}, ${COMMANDS} commands over ${CUSTOMERS} customers, ${MALFORMED} malformed`,
  );
  const gateway = spawn(
    process.execPath,
    ['--disable-warning=TimeoutNegativeWarning', join(ROOT, 'dist', 'src', 'main.js')],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        KAFKA_BROKERS: BROKERS.join(','),
        KAFKA_CREATE_TOPICS: 'true',
        KAFKA_GROUP_ID: 'omnigate-demo',
        HTTP_PORT,
        HTTP_HOST: '127.0.0.1',
        LOG_ADAPTER_LATENCY_MS: process.env.LOG_ADAPTER_LATENCY_MS ?? '20',
        TEMPLATES_DIR: join(ROOT, 'templates'),
        // One local instance: PGlite and in-process counters unless DATABASE_URL / REDIS_URL are set.
        STORAGE: 'embedded',
        ...sandbox.gatewayEnvironment(),
        MAX_COMMAND_BYTES: String(MAX_COMMAND_BYTES),
        // A fresh key per demo run: the demo's embedded database lives no longer than the run.
        MESSAGE_LOG_KEY: process.env.MESSAGE_LOG_KEY ?? randomBytes(32).toString('base64'),
        ADMIN_API_KEYS: apiKeys.env,
        // The default category policies, but appointment reminders escalate within seconds.
        CATEGORY_POLICIES_FILE: writeDemoPolicies(),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  gateway.stdout.pipe(gatewayLog);
  gateway.stderr.pipe(gatewayLog);
  const gatewayExit = new Promise<number | null>((r) => gateway.once('exit', (code) => r(code)));
  await waitForReady(HTTP_PORT, 60000);
  console.log(
    `Gateway ready: http://127.0.0.1:${HTTP_PORT}/health/ready (logs: test-output/demo-gateway.log)`,
  );

  // Only this run's receipts count: remember where the topics end now.
  const receiptsStart = await endOffsets(kafka, DEFAULT_TOPICS.receipts);
  const deadLetterStart = await endOffsets(kafka, DEFAULT_TOPICS.deadLetter);
  const receipts: Receipt[] = [];
  const deadLetters: string[] = [];
  const reader = kafka.consumer({ groupId: `omnigate-demo-reader-${runId}` });
  await reader.connect();
  await reader.subscribe({
    topics: [DEFAULT_TOPICS.receipts, DEFAULT_TOPICS.deadLetter],
    fromBeginning: true,
  });
  await reader.run({
    eachMessage: ({ topic, partition, message }) => {
      const start =
        (topic === DEFAULT_TOPICS.receipts ? receiptsStart : deadLetterStart).get(partition) ?? 0n;
      if (BigInt(message.offset) < start) return Promise.resolve();
      if (topic === DEFAULT_TOPICS.receipts)
        receipts.push(JSON.parse(message.value?.toString() ?? '{}') as Receipt);
      else deadLetters.push(message.headers?.[DEAD_LETTER_HEADERS.reasonCode]?.toString() ?? '?');
      return Promise.resolve();
    },
  });

  // One real subscription per customer on the sandbox push service, as a browser would hold.
  const subscriptions = new Map<
    number,
    ReturnType<SandboxSuite['newWebPushSubscription']>['subscription']
  >();
  const workload = buildWorkload({
    webPushSubscription: (index) => {
      if (!subscriptions.has(index))
        subscriptions.set(index, sandbox.newWebPushSubscription().subscription);
      return subscriptions.get(index)!;
    },
    commands: COMMANDS,
    customers: CUSTOMERS,
    malformed: MALFORMED,
    runId,
    maxCommandBytes: MAX_COMMAND_BYTES,
  });
  const bars = {
    published: new SingleBar(
      { format: 'published {bar} {value}/{total}', hideCursor: true },
      Presets.shades_classic,
    ),
  };
  const producer = kafka.producer();
  await producer.connect();
  // Customer profiles first (the profiles topic), then a moment for the gateway to store them.
  await producer.send({ topic: DEFAULT_TOPICS.profiles, acks: -1, messages: scenarios.profiles });
  console.log(
    `Published ${scenarios.profiles.length} customer profiles to ${DEFAULT_TOPICS.profiles}`,
  );
  await new Promise((r) => setTimeout(r, 3000));
  workload.push(
    ...scenarios.commands.map((c) => ({
      key: c.key,
      value: c.value,
      label: 'scenario',
      valid: true,
    })),
  );
  const startedAt = Date.now();
  bars.published.start(workload.length, 0);
  for (let i = 0; i < workload.length; i += 50) {
    const chunk = workload.slice(i, i + 50);
    await producer.send({
      topic: DEFAULT_TOPICS.send,
      acks: -1,
      messages: chunk.map(({ key, value }) => ({ key, value })),
    });
    bars.published.update(Math.min(workload.length, i + 50));
  }
  bars.published.stop();
  await producer.disconnect();

  const receiptBar = new SingleBar(
    { format: 'receipts  {bar} {value}/{total}', hideCursor: true },
    Presets.shades_classic,
  );
  receiptBar.start(workload.length, 0);
  const deadline = Date.now() + 120000;
  // A retried or deferred message has more than one receipt: count commands answered.
  const answered = (): number => new Set(receipts.map((r) => r.messageId)).size;
  while (answered() < workload.length && Date.now() < deadline) {
    receiptBar.update(answered());
    await new Promise((r) => setTimeout(r, 200));
  }
  receiptBar.update(answered());
  receiptBar.stop();
  const elapsedMs = Date.now() - startedAt;
  // The workload's figure: the follow-up email published later is not part of it.
  const answeredInTime = answered();
  const receiptsInTime = receipts.length;

  // The providers' reports arrive after the sends: wait for the sandbox to post them all, then
  // send the bounced customer a second email, which the gateway should suppress.
  await Promise.race([sandbox.webhooksIdle(), new Promise((r) => setTimeout(r, 20000))]);
  await new Promise((r) => setTimeout(r, 2000));
  const followUp = scenarios.bounce.followUp;
  const followUpProducer = kafka.producer();
  await followUpProducer.connect();
  await followUpProducer.send({
    topic: DEFAULT_TOPICS.send,
    acks: -1,
    messages: [{ key: followUp.key, value: followUp.value }],
  });
  await followUpProducer.disconnect();
  const followUpDeadline = Date.now() + 15000;
  while (!receipts.some((r) => r.messageId === followUp.messageId) && Date.now() < followUpDeadline)
    await new Promise((r) => setTimeout(r, 200));
  // The appointment reminder's SMS was reported undelivered: its escalation timer sends the email.
  const escalationDeadline = Date.now() + (DEMO_ESCALATION_SECONDS + 20) * 1000;
  const escalatedYet = () =>
    receipts.some(
      (r) =>
        r.messageId === scenarios.escalation.messageId &&
        r.trace.some((t) => t.reasonCode === 'ESCALATED'),
    );
  while (!escalatedYet() && Date.now() < escalationDeadline)
    await new Promise((r) => setTimeout(r, 200));

  const count = (values: string[]) =>
    values.reduce((m, v) => m.set(v, (m.get(v) ?? 0) + 1), new Map<string, number>());
  table('Receipts by status', count(receipts.map((r) => r.status)));
  table(
    'Sent by channel / provider',
    count(receipts.filter((r) => r.status === 'sent').map((r) => `${r.channel} / ${r.provider}`)),
  );
  table(
    'Fallbacks (from → to)',
    count(receipts.filter((r) => r.fallbackFrom).map((r) => `${r.fallbackFrom} → ${r.channel}`)),
  );
  table('Dead-lettered by reason', count(deadLetters));
  printLifecycle(receipts, sandbox, scenarios.bounce);
  table(
    'Requests the sandbox providers received',
    new Map(sandbox.labelledFakes().map(([label, fake]) => [label, fake.requests.length])),
  );
  const fellBack = receipts.find((r) => r.fallbackFrom && r.messageId.startsWith(`${runId}-0`));
  const traced = [
    ...(fellBack
      ? [{ messageId: fellBack.messageId, shows: 'a channel failing over to the next' }]
      : []),
    ...scenarios.highlights,
  ];
  for (const { messageId, shows } of traced) {
    const receipt = receipts.find((r) => r.messageId === messageId);
    if (!receipt) continue;
    const how = receipt.channel ? ` by ${receipt.channel}` : '';
    const until = receipt.deferredUntil ? ` until ${receipt.deferredUntil}` : '';
    console.log(`\nDecision trace of ${messageId} (${shows}): ${receipt.status}${how}${until}`);
    for (const t of receipt.trace) {
      const code = (t.reasonCode ?? '').padEnd(17);
      console.log(`  ${t.channel.padEnd(10)} ${t.decision.padEnd(7)} ${code} ${t.detail}`);
    }
  }
  await cancelCartReminder(kafka, scenarios.cartReminder, receipts);
  console.log(
    '\nMarketing needs a consent record: the workload customers have no stored profile, so their marketing is suppressed.',
  );
  const examples = receipts.filter((r) => r.status === 'rejected').slice(0, 3);
  if (examples.length > 0) {
    console.log('\nSome rejection reasons:');
    for (const r of examples) console.log(`  ${r.reason?.code}: ${r.reason?.message}`);
  }
  console.log(
    `\n${answeredInTime}/${workload.length} commands answered (${receiptsInTime} receipts) in ${(elapsedMs / 1000).toFixed(1)} s (${Math.round((answeredInTime / elapsedMs) * 1000)} commands/s)`,
  );

  await reader.disconnect();
  const complete = answered() >= workload.length;
  if (complete) await lingerWithConsole(apiKeys.keys, traced, receipts, gatewayExit);
  gateway.kill('SIGTERM');
  const code = await gatewayExit;
  await sandbox.close();
  console.log(
    `Gateway stopped with exit code ${code}. The broker keeps running; stop it with: npm run kafka -- stop`,
  );
  if (answered() < workload.length) {
    console.error('Not every command got a receipt; see test-output/demo-gateway.log');
    process.exit(1);
  }
}

/** Seconds an appointment reminder waits for a delivered report before the demo's escalation. */
const DEMO_ESCALATION_SECONDS = 10;

/** The default category policies as a CATEGORY_POLICIES_FILE, with a short escalation window. */
function writeDemoPolicies(): string {
  const policies = DEFAULT_CATEGORY_POLICIES.map((policy) =>
    policy.escalation
      ? { ...policy, escalation: { ...policy.escalation, afterSeconds: DEMO_ESCALATION_SECONDS } }
      : policy,
  );
  const path = join(ROOT, 'test-output', 'demo-category-policies.json');
  writeFileSync(path, JSON.stringify(policies, null, 2));
  return path;
}

const LIFECYCLE_STATUSES = ['sent', 'delivered', 'read', 'bounced', 'failed', 'unknown'] as const;

/**
 * What the providers reported after the sends, as receipts: counts per lifecycle status, the
 * auto-suppressed follow-up email and any escalation. Zero counts are printed too: the counts
 * come from the receipts topic, so they say what the gateway made of the reports.
 */
function printLifecycle(
  receipts: readonly Receipt[],
  sandbox: SandboxSuite,
  bounce: ReturnType<typeof buildScenarios>['bounce'],
): void {
  const byStatus = new Map<string, Set<string>>(LIFECYCLE_STATUSES.map((s) => [s, new Set()]));
  for (const r of receipts) byStatus.get(r.status)?.add(r.messageId);
  table(
    'Delivery lifecycle (messages with a receipt of each status)',
    new Map([...byStatus].map(([status, ids]) => [status, ids.size])),
  );
  const posts = sandbox.webhookPosts();
  table(
    'Provider reports the sandbox posted to the gateway (answered 2xx / all)',
    new Map(
      (['status-callback', 'event-batch', 'push-ack', 'inbound-message'] as const).map((kind) => {
        const ofKind = posts.filter((p) => p.kind === kind);
        return [`${kind} ${ofKind.filter((p) => p.ok).length}/${ofKind.length}`, ofKind.length];
      }),
    ),
  );
  const bounced = receipts.find(
    (r) => r.messageId === bounce.firstMessageId && r.status === 'bounced',
  );
  const followUp = receipts.find((r) => r.messageId === bounce.followUp.messageId);
  console.log(
    `\nAuto-suppression: the first email ${bounced ? 'bounced' : 'has no bounced receipt yet'}; the follow-up is ${followUp ? `${followUp.status}${followUp.reason ? ` (${followUp.reason.code}: ${followUp.reason.message})` : ''}` : 'not answered yet'}`,
  );
  const escalated = receipts.filter((r) => r.trace.some((t) => t.reasonCode === 'ESCALATED'));
  const first = escalated[0];
  const why = first?.trace.find((t) => t.reasonCode === 'ESCALATED')?.detail;
  console.log(
    first
      ? `Escalation: ${first.messageId} went on by ${first.channel ?? '?'}: ${why ?? ''} (${escalated.length} escalated in all)`
      : 'Escalation: none this run (no category policy escalated a message)',
  );
}

/**
 * Publishes the CancelCommand of the deferred cart reminder (the cart was bought) and prints what
 * came of it: the reminder's CANCELLED receipt, and that it never reaches a provider.
 */
async function cancelCartReminder(
  kafka: Kafka,
  cart: Scenarios['cartReminder'],
  receipts: readonly Receipt[],
): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({ topic: DEFAULT_TOPICS.cancel, acks: -1, messages: [cart.cancel] });
  } finally {
    await producer.disconnect();
  }
  const deadline = Date.now() + 15000;
  const cancelledReceipt = () =>
    receipts.find((r) => r.messageId === cart.messageId && r.status === 'cancelled');
  while (!cancelledReceipt() && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
  }
  const history = receipts
    .filter((r) => r.messageId === cart.messageId)
    .map((r) => `${r.status}${r.reason ? ` (${r.reason.code})` : ''}`);
  console.log(
    `\nCart reminder ${cart.messageId}, deferred by quiet hours, then the cart was bought: ${history.join(' → ') || 'no receipt yet'}`,
  );
  const receipt = cancelledReceipt();
  if (receipt)
    console.log(`  cancelled: ${receipt.reason?.message}; withdrawn before it reached a provider`);
}

/** Keeps the gateway up so the support console can be tried on this run's messages. */
async function lingerWithConsole(
  keys: Record<'agent' | 'admin', string>,
  traced: ReadonlyArray<{ messageId: string; shows: string }>,
  receipts: readonly Receipt[],
  gatewayExit: Promise<number | null>,
): Promise<void> {
  if (!(LINGER_SECONDS > 0)) return;
  const base = `http://127.0.0.1:${HTTP_PORT}`;
  console.log(`\nSupport console: ${base}/console`);
  console.log(`  sign in as an agent with the API key  ${keys.agent}`);
  console.log(`  or as an admin (overrides, whole contacts)  ${keys.admin}`);
  for (const { messageId, shows } of traced) {
    const customer = receipts.find((r) => r.messageId === messageId)?.customerId;
    if (customer) console.log(`  customer ${customer}: ${shows} (message ${messageId})`);
  }
  console.log(`  admin API: ${base}/admin/v1/openapi.json (Authorization: Bearer <key>)`);
  console.log(
    Number.isFinite(LINGER_SECONDS)
      ? `The console stays up for ${LINGER_SECONDS} s (DEMO_LINGER_SECONDS); Ctrl-C ends it sooner.`
      : 'The console stays up until Ctrl-C (DEMO_LINGER_SECONDS=N ends it after N seconds).',
  );
  await new Promise<void>((resolveLinger) => {
    const done = (): void => resolveLinger();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    void gatewayExit.then(done);
    if (Number.isFinite(LINGER_SECONDS)) setTimeout(done, LINGER_SECONDS * 1000).unref();
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
