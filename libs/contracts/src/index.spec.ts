import * as contracts from './index';

// The public surface is what producers code against; changing it should be a deliberate edit here.
describe('public API', () => {
  it('exports exactly these runtime names', () => {
    expect(Object.keys(contracts).sort()).toEqual(
      [
        'CATEGORY_PATTERN',
        'CHANNELS',
        'COMMAND_ID_PATTERN',
        'DEAD_LETTER_HEADERS',
        'DEFAULT_TOPICS',
        'DELIVERY_RECEIPT_SCHEMA_VERSION',
        'E164_PATTERN',
        'InvalidReceiptError',
        'JSON_SCHEMA_DIR',
        'LOCALE_PATTERN',
        'MAX_TTL_SECONDS',
        'PRIORITIES',
        'PROFILE_EVENT_SCHEMA_VERSION',
        'RECEIPT_EVENT_ID_NAMESPACE',
        'RECEIPT_HEADERS',
        'RECEIPT_STATUSES',
        'REDRIVE_HEADERS',
        'REJECTION_CODES',
        'SCHEMA_IDS',
        'SEND_COMMAND_SCHEMA_VERSION',
        'TERMINAL_STATUSES',
        'TRACE_DECISIONS',
        'buildReceipt',
        'channelSchema',
        'checkPushEndpoint',
        'contentSchema',
        'decodeProfileEvent',
        'decodeSendCommand',
        'deliveryReceiptSchema',
        'isChannel',
        'isStorableText',
        'isTerminalStatus',
        'profileEventSchema',
        'profilePatchSchema',
        'receiptEventId',
        'receiptReasonSchema',
        'recipientSchema',
        'renderJsonSchemas',
        'sendCommandSchema',
        'templateRefSchema',
        'traceEntrySchema',
        'validateSendCommand',
        'webPushSubscriptionSchema',
      ].sort(),
    );
  });
});
