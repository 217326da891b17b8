/** A record read from Kafka, decoupled from the client library's types. */
export interface InboundRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, string>>;
  readonly timestamp: string;
}

/** A record to publish. */
export interface OutboundRecord {
  readonly key: string | null;
  readonly value: string | Buffer;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * Handles one record. It must settle every business outcome itself (dispatch, dead-letter,
 * rejection); a thrown error means infrastructure failed, and the record is retried.
 */
export type RecordHandler = (record: InboundRecord) => Promise<void>;

/** Structured logging used by this library; the service passes its own logger in. */
export interface KafkaLogger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** TLS to the brokers. The broker's certificate and host name are always verified. */
export interface KafkaTlsOptions {
  /** PEM certificates to trust; unset trusts Node's default certificate authorities. */
  readonly ca?: string;
  /** PEM client certificate and its key, for brokers that ask for mutual TLS. */
  readonly cert?: string;
  readonly key?: string;
}

export const KAFKA_SASL_MECHANISMS = ['scram-sha-256', 'scram-sha-512'] as const;
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

export interface KafkaSaslOptions {
  readonly mechanism: KafkaSaslMechanism;
  readonly username: string;
  readonly password: string;
}

export interface KafkaConnectionOptions {
  readonly clientId: string;
  readonly brokers: readonly string[];
  readonly connectionTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  readonly tls?: KafkaTlsOptions;
  readonly sasl?: KafkaSaslOptions;
}
