import { spawn } from 'node:child_process';
import { join } from 'node:path';
import {
  DEAD_LETTER_HEADERS,
  REDRIVE_HEADERS,
  deliveryReceiptSchema,
  type DeliveryReceipt,
} from '@omnigate/contracts';
import type { Kafka } from 'kafkajs';
import { sendCommand } from './support/commands';
import { gatewayEnv } from './support/env';
import { GatewayProcess, ROOT } from './support/gateway';
import {
  BROKERS,
  createTestTopics,
  publish,
  testKafka,
  TopicReader,
  type TestTopics,
} from './support/kafka';

// OMNIGATE_BUILD_DIR: the same override the gateway harness honours when builds share a checkout.
const CLI = join(process.env.OMNIGATE_BUILD_DIR ?? join(ROOT, 'dist'), 'scripts', 'redrive.js');

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built CLI the way an operator does (`npm run redrive` runs this same file). */
async function redrive(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 90000,
): Promise<CliResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(
      process.execPath,
      ['--disable-warning=TimeoutNegativeWarning', CLI, ...args],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redrive still running after ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    // 'close', not 'exit': only then has the last output been read.
    child.once('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

async function endOffsetTotal(kafka: Kafka, topic: string): Promise<bigint> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, o) => sum + BigInt(o.high), 0n);
  } finally {
    await admin.disconnect();
  }
}

function receiptsOf(reader: TopicReader): DeliveryReceipt[] {
  return reader.records.map((r) => deliveryReceiptSchema.parse(JSON.parse(r.value)));
}

describe('dead-letter re-drive', () => {
  const kafka = testKafka();
  const gateways: GatewayProcess[] = [];
  const readers: TopicReader[] = [];

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    await Promise.all(readers.map((r) => r.stop()));
  });

  it('re-drives a command rejected as too large once the limit is raised, and nothing else', async () => {
    const topics: TestTopics = await createTestTopics(kafka, 3);
    const receipts = await new TopicReader(kafka, topics.receipts).start();
    const deadLetters = await new TopicReader(kafka, topics.deadLetter).start();
    const sendLog = await new TopicReader(kafka, topics.send).start();
    readers.push(receipts, deadLetters, sendLog);

    // 1. A gateway with the smallest allowed limit rejects a valid command that is larger.
    const small = await GatewayProcess.start(
      gatewayEnv(topics, { MAX_COMMAND_BYTES: '256' }),
      'redrive-small-limit',
    );
    gateways.push(small);
    const command = sendCommand({
      channels: ['sms'],
      content: {
        sms: { text: `Your order has shipped. ${'Tracking details follow. '.repeat(20)}` },
      },
    });
    const commandId = String(command.id);
    const customerId = String(command.customerId);
    const largeValue = JSON.stringify(command);
    expect(Buffer.byteLength(largeValue)).toBeGreaterThan(256);
    const invalidKey = `cust-invalid-${commandId.slice(4, 12)}`;
    await publish(kafka, topics.send, [
      { key: customerId, value: largeValue },
      { key: invalidKey, value: '{"schemaVersion": 1, "id": ' },
    ]);
    await deadLetters.waitForCount(2, 60000);
    await receipts.waitForCount(2, 60000);
    const byReason = new Map(
      deadLetters.records.map((r) => [r.headers[DEAD_LETTER_HEADERS.reasonCode], r]),
    );
    const tooLarge = byReason.get('PAYLOAD_TOO_LARGE');
    const invalid = byReason.get('INVALID_JSON');
    expect(tooLarge).toBeDefined();
    expect(invalid).toBeDefined();
    expect(receiptsOf(receipts)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          status: 'rejected',
          customerId,
          reason: expect.objectContaining({ code: 'PAYLOAD_TOO_LARGE' }) as unknown,
        }),
      ]),
    );
    // Graceful stop commits the offsets, so the next gateway does not read the originals again.
    await small.stop();

    // 2. "The fix": a gateway with the default limit, in the same consumer group.
    const env = gatewayEnv(topics);
    delete env.MAX_COMMAND_BYTES;
    const fixed = await GatewayProcess.start(env, 'redrive-default-limit');
    gateways.push(fixed);
    // The fixed gateway must not have re-read the original record on its own.
    await new Promise((r) => setTimeout(r, 2000));
    expect(receiptsOf(receipts).filter((r) => r.messageId === commandId)).toEqual([]);

    const tooLargePosition = `${tooLarge!.partition}:${tooLarge!.offset}`;
    const invalidPosition = `${invalid!.partition}:${invalid!.offset}`;
    const sendEnd = await endOffsetTotal(kafka, topics.send);

    // 3. Dry run, configured the way the gateway is (environment variables): lists, publishes nothing.
    const dry = await redrive([], {
      KAFKA_BROKERS: BROKERS.join(','),
      TOPIC_SEND: topics.send,
      TOPIC_DEAD_LETTER: topics.deadLetter,
    });
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/scanned 2; selected 2;/);
    expect(dry.stdout).toMatch(/^ {2}INVALID_JSON +1$/m);
    expect(dry.stdout).toMatch(/^ {2}PAYLOAD_TOO_LARGE +1$/m);
    expect(dry.stdout).toContain(
      `select  dead-letter ${tooLargePosition}  reason PAYLOAD_TOO_LARGE  source ${topics.send}:`,
    );
    expect(dry.stdout).toContain(`select  dead-letter ${invalidPosition}  reason INVALID_JSON`);
    expect(dry.stdout).toMatch(/dry run: published 0/);
    // Never the record value (personal data) nor the key (a customer id).
    expect(dry.stdout).not.toContain('Tracking details');
    expect(dry.stdout).not.toContain(customerId);
    expect(await endOffsetTotal(kafka, topics.send)).toBe(sendEnd);

    // 4. Execute for the reason that was fixed only.
    const run = await redrive([
      '--brokers',
      BROKERS.join(','),
      '--from',
      topics.deadLetter,
      '--to',
      topics.send,
      '--reason',
      'PAYLOAD_TOO_LARGE',
      '--execute',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/scanned 2; selected 1; not matching 1;/);
    expect(run.stdout).toContain(`published 1 record(s) to ${topics.send} (acks=all)`);

    await receipts.waitFor(
      (records) => records.some((r) => r.value.includes(commandId) && r.value.includes('"sent"')),
      60000,
      `a sent receipt for ${commandId}`,
    );
    const forCommand = receiptsOf(receipts).filter((r) => r.messageId === commandId);
    expect(forCommand).toEqual([expect.objectContaining({ status: 'sent', customerId })]);

    // The send topic gained exactly the re-driven copy: original key and value, the re-drive
    // marker, and none of the dead-letter headers.
    await sendLog.waitForCount(3, 30000);
    const redriven = sendLog.records.filter((r) => r.headers[REDRIVE_HEADERS.redrivenFrom]);
    expect(redriven).toHaveLength(1);
    expect(redriven[0]).toMatchObject({
      key: customerId,
      value: largeValue,
      headers: { [REDRIVE_HEADERS.redrivenFrom]: `${topics.deadLetter}:${tooLargePosition}` },
    });
    expect(Object.keys(redriven[0]!.headers).some((h) => h.startsWith('omnigate.dlq.'))).toBe(
      false,
    );
    // The INVALID_JSON record stayed where it was: no new dead-letter, no new rejection.
    await new Promise((r) => setTimeout(r, 1500));
    expect(sendLog.records).toHaveLength(3);
    expect(deadLetters.records).toHaveLength(2);
    expect(receiptsOf(receipts).filter((r) => r.status === 'rejected')).toHaveLength(2);
  });

  it('explains bad arguments and exits non-zero without touching the broker', async () => {
    const env = { KAFKA_BROKERS: '127.0.0.1:1' };
    const help = await redrive(['--help'], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: npm run redrive --/);
    expect(help.stdout).toContain('--execute');

    const cases: Array<[string[], RegExp]> = [
      [['--reasn', 'X'], /Unknown option '--reasn'/],
      [['--reason', 'schema_violation'], /--reason: "schema_violation" is not a reason code/],
      [['--execute'], /--execute without a selection would re-drive every record/],
      [['--all', '--reason', 'INVALID_JSON'], /--all cannot be combined/],
      [['--position', '3'], /--position: "3" is not partition:offset/],
      [['--source-offsets', '1-2'], /--source-offsets needs --source-partition/],
      [['--failed-from', '2025-03-01'], /--failed-from: .* with a zone/],
      [['--to', 'bad topic!'], /--to: "bad topic!" is not a Kafka topic name/],
      [['stray'], /Unexpected argument 'stray'/],
    ];
    for (const [args, message] of cases) {
      const result = await redrive(args, env);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toMatch(message);
      expect(result.stdout).toBe('');
    }
    const noBrokers = await redrive(['--reason', 'INVALID_JSON'], {});
    expect(noBrokers.code).toBe(2);
    expect(noBrokers.stderr).toMatch(/pass --brokers or set KAFKA_BROKERS/);
  });
});
