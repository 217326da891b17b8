import { Kafka } from 'kafkajs';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deliveryReceiptSchema } from '@omnigate/contracts';
import { kafkaClientConfig, type KafkaLogger } from '@omnigate/kafka';
import { writeSandboxCaFile } from '@omnigate/sandbox';
import { sendCommand } from './support/commands';
import { gatewayEnv } from './support/env';
import { BUILD_DIR, freePort, GatewayProcess, OUTPUT_DIR, ROOT } from './support/gateway';
import { createTestTopics, publish, TopicReader, type TestTopics } from './support/kafka';
import { SecureKafka } from './support/secure-kafka';

const quietLogger: KafkaLogger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * The gateway on a broker that only speaks TLS with SCRAM: a second broker on ports of its own
 * (scripts/kafka.sh with a SASL_SSL listener), set up and read by the test over its PLAINTEXT one.
 */
describe('Kafka over TLS with SCRAM', () => {
  const password = `pw-${randomUUID()}`;
  const wrongPassword = `wrong-${randomUUID()}`;
  let broker: SecureKafka | undefined;
  const gateways: GatewayProcess[] = [];
  const readers: TopicReader[] = [];

  beforeAll(async () => {
    broker = await SecureKafka.start(password);
  }, 240000);

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    await Promise.all(readers.map((r) => r.stop()));
    await broker?.stop();
  });

  function secureEnv(
    topics: TestTopics,
    overrides: Record<string, string>,
  ): Record<string, string> {
    if (!broker) throw new Error('the broker did not start');
    return gatewayEnv(topics, {
      KAFKA_BROKERS: broker.secureBroker,
      KAFKA_TLS: 'true',
      KAFKA_TLS_CA_FILE: broker.caFile,
      KAFKA_SASL_MECHANISM: 'scram-sha-256',
      KAFKA_SASL_USERNAME: SecureKafka.USERNAME,
      ...overrides,
    });
  }

  /** Runs a gateway that is expected to give up; returns its exit code and everything it wrote. */
  async function failedStart(env: Record<string, string>, logName: string) {
    const gateway = new GatewayProcess(env, await freePort(), logName);
    gateways.push(gateway);
    gateway.spawn();
    const exit = await gateway.waitForExit(120000);
    return { exit, output: readFileSync(join(OUTPUT_DIR, `${logName}.log`), 'utf8') };
  }

  it('consumes a command and publishes its receipt through the SASL_SSL listener', async () => {
    const kafka = broker!.plainKafka();
    const topics = await createTestTopics(kafka, 1);
    const passwordFile = join(OUTPUT_DIR, `kafka-password-${randomUUID()}`);
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    const gateway = await GatewayProcess.start(
      secureEnv(topics, { KAFKA_SASL_PASSWORD_FILE: passwordFile }),
      'kafka-sasl-ssl',
    );
    gateways.push(gateway);
    const receipts = await new TopicReader(kafka, topics.receipts).start();
    readers.push(receipts);

    const command = sendCommand({
      channels: ['sms'],
      content: { sms: { text: 'Your order shipped' } },
    });
    await publish(kafka, topics.send, [
      { key: String(command.customerId), value: JSON.stringify(command) },
    ]);
    const receiptOf = () =>
      receipts.records
        .map((r) => deliveryReceiptSchema.parse(JSON.parse(r.value)))
        .find((r) => r.messageId === command.id);
    await receipts.waitFor(() => receiptOf() !== undefined, 60000, 'the receipt');
    expect(receiptOf()?.status).toBe('sent');
    await gateway.stop();
    const log = readFileSync(join(OUTPUT_DIR, 'kafka-sasl-ssl.log'), 'utf8');
    expect(log).not.toContain(password);
  });

  it('stops on a wrong password, saying authentication failed, without printing it', async () => {
    const topics = await createTestTopics(broker!.plainKafka(), 1);
    const { exit, output } = await failedStart(
      secureEnv(topics, { KAFKA_SASL_PASSWORD: wrongPassword }),
      `kafka-sasl-wrong-password-${topics.send}`,
    );
    expect(exit.code).not.toBe(0);
    expect(output).toMatch(/SASL SCRAM SHA256 authentication failed/);
    expect(output).not.toContain(wrongPassword);
  });

  // The client's own settings, without the gateway's connection retries (a minute and more).
  it('verifies the broker certificate against the CA it was given', async () => {
    const connect = async (ca: string): Promise<void> => {
      const kafka = new Kafka({
        ...kafkaClientConfig(
          {
            clientId: 'omnigate-test',
            brokers: [broker!.secureBroker],
            tls: { ca },
            sasl: { mechanism: 'scram-sha-512', username: SecureKafka.USERNAME, password },
          },
          quietLogger,
        ),
        retry: { retries: 0 },
      });
      const admin = kafka.admin();
      await admin.connect();
      await admin.listTopics();
      await admin.disconnect();
    };
    const otherCa = await writeSandboxCaFile(join(OUTPUT_DIR, `other-ca-${randomUUID()}.pem`));
    await expect(connect(readFileSync(otherCa, 'utf8'))).rejects.toThrow(/certificate/);
    await expect(connect(readFileSync(broker!.caFile, 'utf8'))).resolves.toBeUndefined();
  });

  it('lets the dead-letter redrive read through the same listener with the same variables', () => {
    const cli = join(BUILD_DIR, 'scripts', 'redrive.js');
    const run = (extra: Record<string, string>) =>
      spawnSync(process.execPath, [cli, '--brokers', broker!.secureBroker, '--from', 'test.none'], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 60000,
        env: {
          PATH: process.env.PATH ?? '',
          KAFKA_TLS: 'true',
          KAFKA_TLS_CA_FILE: broker!.caFile,
          KAFKA_SASL_MECHANISM: 'scram-sha-256',
          KAFKA_SASL_USERNAME: SecureKafka.USERNAME,
          ...extra,
        },
      });
    // The topic does not exist: reaching the broker and being told so proves the connection.
    const good = run({ KAFKA_SASL_PASSWORD: password });
    expect(good.stdout + good.stderr).not.toMatch(/authentication failed|certificate/i);
    expect(good.stdout + good.stderr).toMatch(/test\.none/);
    const wrong = run({ KAFKA_SASL_PASSWORD: wrongPassword });
    expect(wrong.status).not.toBe(0);
    expect(wrong.stdout + wrong.stderr).toMatch(/SASL SCRAM SHA256 authentication failed/);
    expect(wrong.stdout + wrong.stderr).not.toContain(wrongPassword);
    const bare = run({ KAFKA_SASL_MECHANISM: '', KAFKA_SASL_USERNAME: '', KAFKA_TLS: 'false' });
    expect(bare.status).not.toBe(0);
  });
});
