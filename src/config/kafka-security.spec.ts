import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type AppConfig } from './environment';
import { MINIMAL_TEST_ENVIRONMENT } from './testing';

const PASSWORD = 'correct horse battery staple';
const dir = mkdtempSync(join(tmpdir(), 'omnigate-kafka-security-'));
const pem = (name: string, label: string): string => {
  const path = join(dir, name);
  writeFileSync(path, `-----BEGIN ${label}-----\nAAAA\n-----END ${label}-----\n`);
  return path;
};
const CA = pem('ca.pem', 'CERTIFICATE');
const CERT = pem('client.pem', 'CERTIFICATE');
const KEY = pem('client.key', 'PRIVATE KEY');
const PASSWORD_FILE = join(dir, 'password');
writeFileSync(PASSWORD_FILE, `${PASSWORD}\n`);
const NOT_PEM = join(dir, 'ca.txt');
writeFileSync(NOT_PEM, 'not a certificate');

const base = { ...MINIMAL_TEST_ENVIRONMENT, KAFKA_BROKERS: 'kafka.example:9093' };
const scram = {
  KAFKA_TLS: 'true',
  KAFKA_SASL_MECHANISM: 'scram-sha-512',
  KAFKA_SASL_USERNAME: 'omnigate',
};

function kafkaOf(env: Record<string, string>): AppConfig['kafka'] {
  const loaded = loadConfig({ ...base, ...env });
  if (!loaded.ok) throw new Error(loaded.problems.join('\n'));
  return loaded.config.kafka;
}

function problemsOf(env: Record<string, string>): string {
  const loaded = loadConfig({ ...base, ...env });
  return loaded.ok ? '' : loaded.problems.join('\n');
}

describe('Kafka TLS and SASL settings', () => {
  it('connects in plaintext unless asked otherwise', () => {
    expect(kafkaOf({})).toMatchObject({ tls: undefined, sasl: undefined });
  });

  it('reads TLS with a CA and a client certificate, and SCRAM with a password file', () => {
    const kafka = kafkaOf({
      ...scram,
      KAFKA_TLS_CA_FILE: CA,
      KAFKA_TLS_CERT_FILE: CERT,
      KAFKA_TLS_KEY_FILE: KEY,
      KAFKA_SASL_PASSWORD_FILE: PASSWORD_FILE,
    });
    expect(kafka.tls?.ca).toContain('BEGIN CERTIFICATE');
    expect(kafka.tls?.key).toContain('BEGIN PRIVATE KEY');
    // The file's trailing newline is not part of the password.
    expect(kafka.sasl).toEqual({
      mechanism: 'scram-sha-512',
      username: 'omnigate',
      password: PASSWORD,
    });
  });

  it("takes the password from the environment and trusts Node's CAs without a CA file", () => {
    const kafka = kafkaOf({
      ...scram,
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256',
      KAFKA_SASL_PASSWORD: PASSWORD,
    });
    expect(kafka.tls).toEqual({ ca: undefined, cert: undefined, key: undefined });
    expect(kafka.sasl?.mechanism).toBe('scram-sha-256');
  });

  it.each([
    [
      'SASL without TLS',
      { ...scram, KAFKA_TLS: 'false', KAFKA_SASL_PASSWORD: PASSWORD },
      ['KAFKA_SASL_MECHANISM: needs KAFKA_TLS=true'],
    ],
    [
      'an unknown mechanism',
      { ...scram, KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_PASSWORD: PASSWORD },
      ['KAFKA_SASL_MECHANISM: must be scram-sha-256 or scram-sha-512'],
    ],
    [
      'no user and no password',
      { KAFKA_TLS: 'true', KAFKA_SASL_MECHANISM: 'scram-sha-256' },
      ['KAFKA_SASL_USERNAME: is required', 'KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE'],
    ],
    [
      'two passwords',
      { ...scram, KAFKA_SASL_PASSWORD: PASSWORD, KAFKA_SASL_PASSWORD_FILE: PASSWORD_FILE },
      ['exactly one is required'],
    ],
    [
      'a missing password file',
      { ...scram, KAFKA_SASL_PASSWORD_FILE: join(dir, 'nope') },
      ['KAFKA_SASL_PASSWORD_FILE: cannot read'],
    ],
    [
      'credentials without a mechanism',
      { KAFKA_SASL_USERNAME: 'omnigate', KAFKA_SASL_PASSWORD: PASSWORD },
      ['KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD: only used with KAFKA_SASL_MECHANISM'],
    ],
    [
      'a CA without TLS',
      { KAFKA_TLS_CA_FILE: CA },
      ['KAFKA_TLS_CA_FILE: only used with KAFKA_TLS=true'],
    ],
    [
      'a CA that is not PEM',
      { KAFKA_TLS: 'true', KAFKA_TLS_CA_FILE: NOT_PEM },
      ['KAFKA_TLS_CA_FILE: ', 'is not a PEM file'],
    ],
    [
      'a certificate without its key',
      { KAFKA_TLS: 'true', KAFKA_TLS_CERT_FILE: CERT },
      ['KAFKA_TLS_CERT_FILE, KAFKA_TLS_KEY_FILE: set both'],
    ],
    ['a bad KAFKA_TLS', { KAFKA_TLS: 'sometimes' }, ['KAFKA_TLS: must be true or false']],
  ])('refuses %s, naming the variables and never the password', (_name, env, expected) => {
    const found = problemsOf(env);
    for (const text of expected) expect(found).toContain(text);
    expect(found).not.toContain(PASSWORD);
  });
});
