import {
  DEAD_LETTER_HEADERS,
  DEFAULT_TOPICS,
  RECEIPT_HEADERS,
  REDRIVE_HEADERS,
  SCHEMA_IDS,
} from './topics';

// These strings are wire contract: producers and consumers outside this repo hard-code them.
describe('topic and header names', () => {
  it('keeps the default topics', () => {
    expect(DEFAULT_TOPICS).toEqual({
      send: 'omnigate.send.v1',
      sendPriority: 'omnigate.send.priority',
      receipts: 'omnigate.receipts.v1',
      deadLetter: 'omnigate.send.dlq.v1',
      profiles: 'omnigate.profiles.v1',
      providerEvents: 'omnigate.provider-events.v1',
      cancel: 'omnigate.cancel.v1',
    });
  });

  it('keeps the dead-letter headers', () => {
    expect(DEAD_LETTER_HEADERS).toEqual({
      reasonCode: 'omnigate.dlq.reason-code',
      reason: 'omnigate.dlq.reason',
      sourceTopic: 'omnigate.dlq.source-topic',
      sourcePartition: 'omnigate.dlq.source-partition',
      sourceOffset: 'omnigate.dlq.source-offset',
      failedAt: 'omnigate.dlq.failed-at',
    });
  });

  it('keeps the receipt headers', () => {
    expect(RECEIPT_HEADERS).toEqual({
      eventId: 'omnigate.event-id',
      status: 'omnigate.status',
      schema: 'omnigate.schema',
    });
  });

  it('keeps the re-drive header', () => {
    expect(REDRIVE_HEADERS).toEqual({ redrivenFrom: 'omnigate.redrive.from' });
  });

  it('has no header name used twice', () => {
    const names = [
      ...Object.values(DEAD_LETTER_HEADERS),
      ...Object.values(RECEIPT_HEADERS),
      ...Object.values(REDRIVE_HEADERS),
    ];
    expect(new Set(names).size).toBe(names.length);
  });

  it('versions the schema ids', () => {
    expect(Object.values(SCHEMA_IDS).every((id) => id.endsWith(':v1'))).toBe(true);
  });
});
