/** Default topic names; deployments may override them, so treat these as defaults only. */
export const DEFAULT_TOPICS = {
  /** SendCommand v1, keyed by customerId: everything, including bulk marketing. */
  send: 'omnigate.send.v1',
  /**
   * The priority lane: the same SendCommand v1 contract, for OTP and transactional commands only.
   * Consumed by its own group with its own concurrency, so a backlog on `send` never delays it.
   * Per-customer order holds within one topic, not across the two.
   */
  sendPriority: 'omnigate.send.priority',
  receipts: 'omnigate.receipts.v1',
  deadLetter: 'omnigate.send.dlq.v1',
  /** Compacted, keyed by customerId: ProfileEvent v1. */
  profiles: 'omnigate.profiles.v1',
  /**
   * ProviderEvent v1, keyed by messageId (`address:<hash>` for address events): what the webhook
   * endpoints verified, waiting to be applied to the message log.
   */
  providerEvents: 'omnigate.provider-events.v1',
  /**
   * CancelCommand v1, keyed by customerId. A topic of its own: the send topics keep one contract,
   * and a cancel is never queued behind a backlog of sends. Order with the customer's sends is not
   * guaranteed across topics, so a cancel that comes first is remembered until its command arrives.
   */
  cancel: 'omnigate.cancel.v1',
} as const;
export type TopicRole = keyof typeof DEFAULT_TOPICS;

/** Headers on a dead-lettered record: where it came from and why it could not be processed. */
export const DEAD_LETTER_HEADERS = {
  /** A RejectionCode or another UPPER_SNAKE reason code. */
  reasonCode: 'omnigate.dlq.reason-code',
  /** The human-readable reason. */
  reason: 'omnigate.dlq.reason',
  sourceTopic: 'omnigate.dlq.source-topic',
  /** Decimal string. */
  sourcePartition: 'omnigate.dlq.source-partition',
  /** Decimal string. */
  sourceOffset: 'omnigate.dlq.source-offset',
  /** ISO 8601 date-time. */
  failedAt: 'omnigate.dlq.failed-at',
} as const;

/**
 * Header on a record that the re-drive command re-published from the dead-letter topic. It replaces
 * the dead-letter headers, so a record that fails again shows, once dead-lettered anew, which
 * dead-letter record it came from.
 */
export const REDRIVE_HEADERS = {
  /** `<dead-letter topic>:<partition>:<offset>` of the dead-letter record that was re-driven. */
  redrivenFrom: 'omnigate.redrive.from',
} as const;

/** Headers on a receipt record, so consumers can filter without parsing the value. */
export const RECEIPT_HEADERS = {
  eventId: 'omnigate.event-id',
  status: 'omnigate.status',
  /** Value: SCHEMA_IDS.deliveryReceipt. */
  schema: 'omnigate.schema',
} as const;

/** Stable identifiers of the contract versions; also the `$id` of the exported JSON Schemas. */
export const SCHEMA_IDS = {
  sendCommand: 'urn:omnigate:schema:send-command:v1',
  deliveryReceipt: 'urn:omnigate:schema:delivery-receipt:v1',
  profileEvent: 'urn:omnigate:schema:profile-event:v1',
  providerEvent: 'urn:omnigate:schema:provider-event:v1',
  cancelCommand: 'urn:omnigate:schema:cancel-command:v1',
} as const;
