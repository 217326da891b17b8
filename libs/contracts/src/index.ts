export { CHANNELS, channelSchema, isChannel } from './channels';
export type { Channel } from './channels';

export {
  CATEGORY_PATTERN,
  COMMAND_ID_PATTERN,
  E164_PATTERN,
  GROUP_KEY_PATTERN,
  LOCALE_PATTERN,
  MAX_TTL_SECONDS,
  PRIORITIES,
  SEND_COMMAND_SCHEMA_VERSION,
  contentSchema,
  recipientSchema,
  sendCommandSchema,
  templateRefSchema,
  webPushSubscriptionSchema,
} from './send-command';
export type {
  Priority,
  Recipient,
  SendCommand,
  SendCommandContent,
  SendCommandInput,
  TemplateRef,
  WebPushSubscription,
} from './send-command';

export { RECEIPT_STATUSES, TERMINAL_STATUSES, isTerminalStatus } from './receipt-status';
export type { ReceiptStatus, TerminalStatus } from './receipt-status';

export {
  DELIVERY_RECEIPT_SCHEMA_VERSION,
  InvalidReceiptError,
  TRACE_DECISIONS,
  buildReceipt,
  deliveryReceiptSchema,
  receiptReasonSchema,
  traceEntrySchema,
} from './delivery-receipt';
export type {
  BuildReceiptInput,
  DeliveryReceipt,
  ReceiptReason,
  TraceDecision,
  TraceEntry,
} from './delivery-receipt';

export { checkPushEndpoint } from './push-endpoint';
export type { PushEndpointCheck } from './push-endpoint';

export { REJECTION_CODES, decodeSendCommand, validateSendCommand } from './decode';
export type { DecodeOptions, DecodeResult, Rejection, RejectionCode } from './decode';
export type { ValidationProblem } from './problems';
export type { JsonValue } from './primitives';
export { isStorableText } from './primitives';

export { RECEIPT_EVENT_ID_NAMESPACE, receiptEventId } from './event-id';
export type { ReceiptEventIdParts } from './event-id';

export {
  DEAD_LETTER_HEADERS,
  DEFAULT_TOPICS,
  RECEIPT_HEADERS,
  REDRIVE_HEADERS,
  SCHEMA_IDS,
} from './topics';
export type { TopicRole } from './topics';

export { JSON_SCHEMA_DIR, renderJsonSchemas } from './json-schema';

export {
  PROFILE_EVENT_SCHEMA_VERSION,
  profileEventSchema,
  profilePatchSchema,
} from './profile-event';
export type { ProfileEvent, ProfilePatch } from './profile-event';
export { decodeProfileEvent } from './profile-decode';
export type { ProfileDecodeResult } from './profile-decode';

export {
  PROVIDER_EVENT_SCHEMA_VERSION,
  PROVIDER_OUTCOMES,
  SUPPRESSION_REASONS,
  addressConsentEventSchema,
  decodeProviderEvent,
  messageStatusEventSchema,
  providerEventKey,
  providerEventSchema,
} from './provider-event';
export type {
  AddressConsentEvent,
  MessageStatusEvent,
  ProviderEvent,
  ProviderEventDecodeResult,
  ProviderOutcome,
  SuppressionReason,
} from './provider-event';

export {
  CANCEL_COMMAND_SCHEMA_VERSION,
  cancelCommandSchema,
  decodeCancelCommand,
} from './cancel-command';
export type {
  CancelCommand,
  CancelCommandInput,
  CancelDecodeCode,
  CancelDecodeResult,
} from './cancel-command';
