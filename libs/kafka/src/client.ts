import { Kafka, logLevel, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import type { KafkaConnectionOptions, KafkaLogger, KafkaSaslOptions } from './types';

/** Routes kafkajs's own log lines into our structured logger. */
function logCreator(logger: KafkaLogger) {
  return () =>
    ({ level, label, log }: LogEntry): void => {
      const { message, ...fields } = log;
      const entry = { component: 'kafkajs', label, ...fields };
      if (level === logLevel.ERROR) logger.error(entry, message);
      else if (level === logLevel.WARN) logger.warn(entry, message);
      else if (level === logLevel.INFO) logger.info(entry, message);
      else logger.debug(entry, message);
    };
}

function saslOptions({ mechanism, username, password }: KafkaSaslOptions): SASLOptions {
  // One branch per mechanism: kafkajs types each mechanism's options apart.
  return mechanism === 'scram-sha-256'
    ? { mechanism, username, password }
    : { mechanism, username, password };
}

/**
 * The client's settings. TLS never turns off certificate or host name checks (kafkajs hands these
 * options to Node's tls.connect, whose checks are on unless told otherwise); SASL is only ever
 * configured together with TLS by the service's configuration.
 */
export function kafkaClientConfig(
  options: KafkaConnectionOptions,
  logger: KafkaLogger,
): KafkaConfig {
  const { tls, sasl } = options;
  return {
    clientId: options.clientId,
    brokers: [...options.brokers],
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    requestTimeout: options.requestTimeoutMs ?? 30000,
    logLevel: logLevel.WARN,
    logCreator: logCreator(logger),
    // Reconnects at most 5 s apart (kafkajs's default lets the backoff grow to 30 s), so work
    // resumes within seconds of a broker's return rather than up to half a minute later.
    retry: { initialRetryTime: 300, maxRetryTime: 5000, retries: 8 },
    ...(tls && {
      ssl: {
        rejectUnauthorized: true,
        ...(tls.ca !== undefined && { ca: [tls.ca] }),
        ...(tls.cert !== undefined && { cert: tls.cert }),
        ...(tls.key !== undefined && { key: tls.key }),
      },
    }),
    ...(sasl && { sasl: saslOptions(sasl) }),
  };
}

export function createKafkaClient(options: KafkaConnectionOptions, logger: KafkaLogger): Kafka {
  return new Kafka(kafkaClientConfig(options, logger));
}
