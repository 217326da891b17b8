export { createKafkaClient } from './client';
export { ConsumerRunner, type ConsumerRunnerOptions, type ConsumerState } from './consumer-runner';
export { ContiguousOffsets } from './contiguous-offsets';
export { DeadLetterPublisher, type DeadLetterReason } from './dead-letter';
export { groupIntoKeyChains } from './key-chains';
export { KafkaPublisher } from './publisher';
export { Semaphore } from './semaphore';
export { ensureTopics, fetchCommittedOffsets, type TopicSpec } from './topics';
export type {
  InboundRecord,
  KafkaConnectionOptions,
  KafkaLogger,
  OutboundRecord,
  RecordHandler,
} from './types';
export type { Kafka } from 'kafkajs';
