export { createKafkaClient, kafkaClientConfig } from './client';
export { ConsumerRunner, type ConsumerRunnerOptions, type ConsumerState } from './consumer-runner';
export { ContiguousOffsets } from './contiguous-offsets';
export { recordAgeMs } from './record-age';
export { DeadLetterPublisher, type DeadLetterReason } from './dead-letter';
export {
  RedriveInputError,
  RedrivePublishError,
  buildRedriveRecord,
  describeEntry,
  formatPosition,
  hasCriteria,
  judgeEntry,
  parseInstant,
  parseOffsetRange,
  parsePosition,
  parseReasonCode,
  planRedrive,
  publishRedrive,
  readDeadLetterTopic,
  redriveMarker,
  toDeadLetterEntry,
  type DeadLetterEntry,
  type DeadLetterSnapshot,
  type LogPosition,
  type OffsetRange,
  type RawDeadLetterRecord,
  type ReadDeadLetterOptions,
  type RedrivePlan,
  type RedriveSelection,
  type RefusedDuplicate,
  type SelectionVerdict,
  type SourcePosition,
} from './dead-letter-redrive';
export { groupIntoKeyChains } from './key-chains';
export { KafkaPublisher } from './publisher';
export { Semaphore } from '@omnigate/common';
export {
  consumerGroupLag,
  ensureTopics,
  fetchCommittedOffsets,
  type PartitionLag,
  type TopicSpec,
} from './topics';
export { KAFKA_SASL_MECHANISMS } from './types';
export type {
  HandlerFailure,
  InboundRecord,
  KafkaConnectionOptions,
  KafkaLogger,
  KafkaSaslMechanism,
  KafkaSaslOptions,
  KafkaTlsOptions,
  OutboundRecord,
  OutagePolicy,
  PoisonRecordPolicy,
  RecordHandler,
} from './types';
export type { Kafka } from 'kafkajs';
