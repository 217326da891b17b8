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

/** How a record's handling kept failing before it was set aside. */
export interface HandlerFailure {
  readonly attempts: number;
  readonly elapsedMs: number;
  readonly error: Error;
}

/**
 * What happens to a record whose handler keeps failing. A dependency failure (the database or the
 * broker is down) fails the batch as before, to be retried until the dependency is back; any other
 * error is retried in place a few times and then the record is set aside (dead-lettered and
 * answered by `setAside`), so one bad record never stops its partition or crash-loops the process.
 */
export interface PoisonRecordPolicy {
  /** Handler runs per record, the first included, before it is set aside. */
  readonly maxAttempts: number;
  /** Set aside sooner when the attempts have taken this long. */
  readonly giveUpAfterMs: number;
  readonly isDependencyFailure: (error: unknown) => boolean;
  /** Must be durable when it resolves; if it throws, the batch fails and the record is redone. */
  readonly setAside: (record: InboundRecord, failure: HandlerFailure) => Promise<void>;
}

/**
 * What the consumer does when a handler fails because a dependency is down (see
 * PoisonRecordPolicy.isDependencyFailure): it stops taking records (its topics are paused, the
 * records in hand wait), asks `probe` every `probeIntervalMs`, and when the dependencies answer it
 * resumes and runs the waiting records again. Nothing is skipped, committed early or crash-looped.
 * After `giveUpAfterMs` without any record getting through, it gives up through `onFatal`.
 */
export interface OutagePolicy {
  /** True when every dependency answers; a rejection counts as false. */
  readonly probe: () => Promise<boolean>;
  readonly probeIntervalMs: number;
  readonly giveUpAfterMs: number;
}

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
