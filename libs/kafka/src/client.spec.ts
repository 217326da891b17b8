import { kafkaClientConfig } from './client';
import type { KafkaConnectionOptions, KafkaLogger } from './types';

const logger: KafkaLogger = { debug() {}, info() {}, warn() {}, error() {} };
const plain: KafkaConnectionOptions = { clientId: 'omnigate', brokers: ['kafka:9093'] };

describe('kafkaClientConfig', () => {
  it('leaves TLS and SASL off for a plaintext listener', () => {
    const config = kafkaClientConfig(plain, logger);
    expect(config.ssl).toBeUndefined();
    expect(config.sasl).toBeUndefined();
  });

  it('verifies the broker with the given CA and offers the client certificate', () => {
    const config = kafkaClientConfig(
      { ...plain, tls: { ca: 'CA PEM', cert: 'CERT PEM', key: 'KEY PEM' } },
      logger,
    );
    expect(config.ssl).toEqual({
      rejectUnauthorized: true,
      ca: ['CA PEM'],
      cert: 'CERT PEM',
      key: 'KEY PEM',
    });
  });

  it("keeps Node's own CAs and host name check when only TLS is asked for", () => {
    const config = kafkaClientConfig({ ...plain, tls: {} }, logger);
    expect(config.ssl).toEqual({ rejectUnauthorized: true });
  });

  it.each(['scram-sha-256', 'scram-sha-512'] as const)('passes %s credentials', (mechanism) => {
    const config = kafkaClientConfig(
      { ...plain, tls: {}, sasl: { mechanism, username: 'omnigate', password: 'pw' } },
      logger,
    );
    expect(config.sasl).toEqual({ mechanism, username: 'omnigate', password: 'pw' });
  });
});
