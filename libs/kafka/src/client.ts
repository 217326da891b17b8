import { Kafka, logLevel, type LogEntry } from 'kafkajs';
import type { KafkaConnectionOptions, KafkaLogger } from './types';

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

export function createKafkaClient(options: KafkaConnectionOptions, logger: KafkaLogger): Kafka {
  return new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    requestTimeout: options.requestTimeoutMs ?? 30000,
    logLevel: logLevel.WARN,
    logCreator: logCreator(logger),
    // Reconnects at most 5 s apart (kafkajs's default lets the backoff grow to 30 s), so work
    // resumes within seconds of a broker's return rather than up to half a minute later.
    retry: { initialRetryTime: 300, maxRetryTime: 5000, retries: 8 },
  });
}
