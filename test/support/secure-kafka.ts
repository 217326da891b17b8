import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { generate } from 'selfsigned';
import { freePort, OUTPUT_DIR, ROOT } from './gateway';

const DAY_MS = 24 * 60 * 60 * 1000;

/** A CA and a broker certificate it signed, valid for the names the tests connect to. */
async function brokerCertificates(): Promise<{ ca: string; keystore: string }> {
  const notBeforeDate = new Date(Date.now() - DAY_MS);
  const notAfterDate = new Date(Date.now() + 7 * DAY_MS);
  const ec = { keyType: 'ec', curve: 'P-256', algorithm: 'sha256' } as const;
  const ca = await generate([{ name: 'commonName', value: 'Omnigate test Kafka CA' }], {
    ...ec,
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const broker = await generate([{ name: 'commonName', value: 'localhost' }], {
    ...ec,
    notBeforeDate,
    notAfterDate,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  // Kafka's PEM key store: the private key, then the chain from the broker up to the CA.
  return { ca: ca.cert, keystore: `${broker.private}\n${broker.cert}\n${ca.cert}\n` };
}

/**
 * A second single-node broker (scripts/kafka.sh on ports of its own, never the shared one) with
 * a SASL_SSL listener that takes SCRAM-SHA-256/512 for one user, and a PLAINTEXT listener for the
 * test's own set-up and reading.
 */
export class SecureKafka {
  static readonly USERNAME = 'omnigate';

  private constructor(
    private readonly scriptEnv: NodeJS.ProcessEnv,
    /** host:port of the SASL_SSL listener. */
    readonly secureBroker: string,
    /** host:port of the PLAINTEXT listener. */
    readonly plainBroker: string,
    /** PEM file of the CA that signed the broker's certificate. */
    readonly caFile: string,
    readonly password: string,
  ) {}

  static async start(password: string): Promise<SecureKafka> {
    const [port, controllerPort, securePort] = [
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const dir = join(OUTPUT_DIR, `secure-kafka-${port}`);
    mkdirSync(dir, { recursive: true });
    const { ca, keystore } = await brokerCertificates();
    const caFile = join(dir, 'ca.pem');
    const keystoreFile = join(dir, 'broker-keystore.pem');
    writeFileSync(caFile, ca);
    writeFileSync(keystoreFile, keystore, { mode: 0o600 });
    const scriptEnv = {
      ...process.env,
      KAFKA_PORT: String(port),
      KAFKA_CONTROLLER_PORT: String(controllerPort),
      KAFKA_SASL_SSL_PORT: String(securePort),
      KAFKA_SSL_KEYSTORE_PEM: keystoreFile,
      KAFKA_SCRAM_USER: SecureKafka.USERNAME,
      KAFKA_SCRAM_PASSWORD: password,
      // A second JVM beside the shared broker on a 2-core machine: keep it small.
      KAFKA_HEAP_OPTS: '-Xms128m -Xmx384m',
    };
    const broker = new SecureKafka(
      scriptEnv,
      `127.0.0.1:${securePort}`,
      `127.0.0.1:${port}`,
      caFile,
      password,
    );
    await broker.script('start', 180000);
    return broker;
  }

  /** A client on the PLAINTEXT listener, for creating topics, publishing and reading. */
  plainKafka(): Kafka {
    return new Kafka({
      clientId: 'omnigate-test',
      brokers: [this.plainBroker],
      logLevel: logLevel.NOTHING,
    });
  }

  async stop(): Promise<void> {
    await this.script('stop', 60000);
  }

  private script(command: 'start' | 'stop', timeoutMs: number): Promise<void> {
    return new Promise((resolveRun, reject) => {
      const child = spawn('bash', [join(ROOT, 'scripts', 'kafka.sh'), command], {
        env: this.scriptEnv,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`kafka.sh ${command} took over ${timeoutMs} ms: ${stderr}`));
      }, timeoutMs);
      child.once('exit', (code) => {
        clearTimeout(timer);
        if (code === 0) resolveRun();
        else reject(new Error(`kafka.sh ${command} exited ${code}: ${stderr}`));
      });
    });
  }
}
