import { DEAD_LETTER_HEADERS, REDRIVE_HEADERS } from '@omnigate/contracts';
import {
  RedriveInputError,
  buildRedriveRecord,
  describeEntry,
  hasCriteria,
  parseInstant,
  parseOffsetRange,
  parsePosition,
  parseReasonCode,
  planRedrive,
  publishRedrive,
  toDeadLetterEntry,
  type DeadLetterEntry,
  type RedriveSelection,
} from './dead-letter-redrive';
import type { KafkaPublisher } from './publisher';
import type { OutboundRecord } from './types';

const DLQ = 'omnigate.send.dlq.v1';
const SEND = 'omnigate.send.v1';

interface EntryOptions {
  partition?: number;
  offset?: number;
  reason?: string;
  sourceTopic?: string;
  sourcePartition?: number;
  sourceOffset?: number;
  failedAt?: string;
  redrivenFrom?: string;
  extraHeaders?: Record<string, string>;
}

function entry(options: EntryOptions = {}): DeadLetterEntry {
  const headers: Record<string, string> = {
    'trace-id': 'abc',
    ...options.extraHeaders,
    [DEAD_LETTER_HEADERS.reasonCode]: options.reason ?? 'PAYLOAD_TOO_LARGE',
    [DEAD_LETTER_HEADERS.reason]: 'record is too large',
    [DEAD_LETTER_HEADERS.sourceTopic]: options.sourceTopic ?? SEND,
    [DEAD_LETTER_HEADERS.sourcePartition]: String(options.sourcePartition ?? 0),
    [DEAD_LETTER_HEADERS.sourceOffset]: String(options.sourceOffset ?? options.offset ?? 0),
    [DEAD_LETTER_HEADERS.failedAt]: options.failedAt ?? '2025-03-01T10:00:00.000Z',
  };
  if (options.redrivenFrom) headers[REDRIVE_HEADERS.redrivenFrom] = options.redrivenFrom;
  return toDeadLetterEntry({
    partition: options.partition ?? 0,
    offset: String(options.offset ?? 0),
    key: 'cust-1',
    value: Buffer.from('{"secret":"personal data"}'),
    headers,
  });
}

function selection(overrides: Partial<RedriveSelection> = {}): RedriveSelection {
  return {
    sourceTopic: SEND,
    reasonCodes: new Set(),
    sourcePartitions: new Set(),
    sourceOffsets: null,
    failedFrom: null,
    failedBefore: null,
    positions: new Set(),
    ...overrides,
  };
}

const positions = (entries: readonly DeadLetterEntry[]): string[] =>
  entries.map((e) => `${e.position.partition}:${e.position.offset}`);

describe('selector parsing', () => {
  it('parses dead-letter positions and normalises the offset', () => {
    expect(parsePosition('2:0017')).toEqual({ partition: 2, offset: '17' });
    expect(parsePosition(' 0:9223372036854775807 ')).toEqual({
      partition: 0,
      offset: '9223372036854775807',
    });
  });

  it.each(['17', '0:', ':5', '0:-1', 'a:1', '0:1:2', '0:1.5', '0:12345678901234567890'])(
    'rejects the position %p',
    (text) => {
      expect(() => parsePosition(text)).toThrow(RedriveInputError);
    },
  );

  it('parses offset ranges, open at either end, and single offsets', () => {
    expect(parseOffsetRange('10-20')).toEqual({ from: 10n, to: 20n });
    expect(parseOffsetRange('10-')).toEqual({ from: 10n, to: null });
    expect(parseOffsetRange('-20')).toEqual({ from: null, to: 20n });
    expect(parseOffsetRange('7')).toEqual({ from: 7n, to: 7n });
  });

  it.each(['-', '20-10', 'x-1', '1-2-3', ''])('rejects the offset range %p', (text) => {
    expect(() => parseOffsetRange(text)).toThrow(RedriveInputError);
  });

  it('accepts date-times with a zone only', () => {
    expect(parseInstant('2025-03-01T10:00:00Z', '--failed-from').toISOString()).toBe(
      '2025-03-01T10:00:00.000Z',
    );
    expect(parseInstant('2025-03-01T11:00+01:00', '--failed-from').toISOString()).toBe(
      '2025-03-01T10:00:00.000Z',
    );
    for (const text of ['2025-03-01', '2025-03-01T10:00:00', 'yesterday', '2025-13-01T00:00Z']) {
      expect(() => parseInstant(text, '--failed-from')).toThrow(/--failed-from/);
    }
  });

  it('accepts UPPER_SNAKE reason codes only', () => {
    expect(parseReasonCode('SCHEMA_VIOLATION')).toBe('SCHEMA_VIOLATION');
    expect(() => parseReasonCode('schema_violation')).toThrow(RedriveInputError);
    expect(() => parseReasonCode('')).toThrow(RedriveInputError);
  });
});

describe('reading dead-letter headers', () => {
  it('decodes reason, source, time and an earlier re-drive', () => {
    const e = entry({
      offset: 4,
      sourcePartition: 2,
      sourceOffset: 40,
      redrivenFrom: `${DLQ}:0:1`,
    });
    expect(e).toMatchObject({
      position: { partition: 0, offset: '4' },
      reasonCode: 'PAYLOAD_TOO_LARGE',
      source: { topic: SEND, partition: 2, offset: '40' },
      redrivenFrom: `${DLQ}:0:1`,
    });
    expect(e.failedAt?.toISOString()).toBe('2025-03-01T10:00:00.000Z');
  });

  it('tolerates a record without dead-letter headers', () => {
    const e = toDeadLetterEntry({ partition: 1, offset: '3', key: null, value: null, headers: {} });
    expect(e).toMatchObject({ reasonCode: null, source: null, failedAt: null, redrivenFrom: null });
    expect(e.value).toEqual(Buffer.alloc(0));
  });

  it('treats malformed source and time headers as unknown', () => {
    const e = entry({ extraHeaders: {} });
    const broken = toDeadLetterEntry({
      partition: 0,
      offset: '0',
      key: null,
      value: null,
      headers: {
        ...e.headers,
        [DEAD_LETTER_HEADERS.sourceOffset]: 'twelve',
        [DEAD_LETTER_HEADERS.failedAt]: 'not a time',
      },
    });
    expect(broken.source).toBeNull();
    expect(broken.failedAt).toBeNull();
  });
});

describe('selection', () => {
  const records = [
    entry({ offset: 0, reason: 'PAYLOAD_TOO_LARGE', sourceOffset: 10 }),
    entry({ offset: 1, reason: 'INVALID_JSON', sourceOffset: 11 }),
    entry({ offset: 2, reason: 'SCHEMA_VIOLATION', sourceOffset: 12, sourcePartition: 1 }),
    entry({
      offset: 3,
      reason: 'PAYLOAD_TOO_LARGE',
      sourceOffset: 13,
      failedAt: '2025-03-02T00:00:00Z',
    }),
    entry({ offset: 4, reason: 'INVALID_JSON', sourceTopic: 'omnigate.profiles.v1' }),
    entry({ partition: 1, offset: 0, reason: 'PAYLOAD_TOO_LARGE', sourceOffset: 20 }),
  ];

  it('by default selects every record from the source topic, and no other topic', () => {
    const plan = planRedrive(records, selection(), DLQ);
    expect(positions(plan.selected)).toEqual(['0:0', '0:1', '0:2', '0:3', '1:0']);
    expect(plan.otherSourceTopic).toBe(1);
    expect(plan.notMatching).toBe(0);
    expect(plan.scanned).toBe(6);
    expect(hasCriteria(selection())).toBe(false);
  });

  it('by reason code (any of several)', () => {
    const one = planRedrive(
      records,
      selection({ reasonCodes: new Set(['PAYLOAD_TOO_LARGE']) }),
      DLQ,
    );
    expect(positions(one.selected)).toEqual(['0:0', '0:3', '1:0']);
    expect(one.countsByReason).toEqual(new Map([['PAYLOAD_TOO_LARGE', 3]]));
    expect(one.notMatching).toBe(2);
    const two = planRedrive(
      records,
      selection({ reasonCodes: new Set(['INVALID_JSON', 'SCHEMA_VIOLATION']) }),
      DLQ,
    );
    expect(positions(two.selected)).toEqual(['0:1', '0:2']);
    expect(two.countsByReason).toEqual(
      new Map([
        ['INVALID_JSON', 1],
        ['SCHEMA_VIOLATION', 1],
      ]),
    );
  });

  it('by source partition and inclusive source offset range', () => {
    const plan = planRedrive(
      records,
      selection({ sourcePartitions: new Set([0]), sourceOffsets: { from: 11n, to: 20n } }),
      DLQ,
    );
    expect(positions(plan.selected)).toEqual(['0:1', '0:3', '1:0']);
    const open = planRedrive(records, selection({ sourceOffsets: { from: null, to: 11n } }), DLQ);
    expect(positions(open.selected)).toEqual(['0:0', '0:1']);
  });

  it('by failed-at window, from inclusive and before exclusive', () => {
    const plan = planRedrive(
      records,
      selection({
        failedFrom: new Date('2025-03-01T10:00:00Z'),
        failedBefore: new Date('2025-03-02T00:00:00Z'),
      }),
      DLQ,
    );
    expect(positions(plan.selected)).toEqual(['0:0', '0:1', '0:2', '1:0']);
    const noTime = toDeadLetterEntry({
      partition: 2,
      offset: '0',
      key: null,
      value: null,
      headers: { ...records[0]!.headers, [DEAD_LETTER_HEADERS.failedAt]: '' },
    });
    const after = planRedrive([noTime], selection({ failedFrom: new Date(0) }), DLQ);
    expect(after.selected).toHaveLength(0);
  });

  it('by dead-letter position list', () => {
    const plan = planRedrive(
      records,
      selection({ positions: new Set(['0:2', '1:0', '9:9']) }),
      DLQ,
    );
    expect(positions(plan.selected)).toEqual(['0:2', '1:0']);
  });

  it('combines criteria with AND', () => {
    const plan = planRedrive(
      records,
      selection({
        reasonCodes: new Set(['PAYLOAD_TOO_LARGE']),
        positions: new Set(['0:1', '0:3']),
      }),
      DLQ,
    );
    expect(positions(plan.selected)).toEqual(['0:3']);
    expect(hasCriteria(selection({ positions: new Set(['0:1']) }))).toBe(true);
  });

  it('never selects a record whose source is unknown', () => {
    const unknown = toDeadLetterEntry({
      partition: 0,
      offset: '9',
      key: null,
      value: null,
      headers: {},
    });
    expect(planRedrive([unknown], selection(), DLQ).otherSourceTopic).toBe(1);
  });
});

describe('refusing to re-drive one original record twice in a run', () => {
  it('keeps one of the same dead-letter position read twice (a rebalance re-delivers)', () => {
    const plan = planRedrive([entry({ offset: 5 }), entry({ offset: 5 })], selection(), DLQ);
    expect(positions(plan.selected)).toEqual(['0:5']);
    expect(plan.scanned).toBe(1);
  });

  it('refuses a second dead-letter record of the same source record', () => {
    const plan = planRedrive(
      [entry({ offset: 8, sourceOffset: 3 }), entry({ offset: 2, sourceOffset: 3 })],
      selection(),
      DLQ,
    );
    expect(positions(plan.selected)).toEqual(['0:2']);
    expect(plan.duplicates.map((d) => [d.entry.position.offset, d.duplicateOf.offset])).toEqual([
      ['8', '2'],
    ]);
  });

  it('refuses the dead-lettered copy of an earlier re-drive, across partitions and chains', () => {
    const first = entry({ partition: 2, offset: 0, sourceOffset: 3 });
    // Re-driven, failed again (new source offset), re-driven again, failed again.
    const second = entry({ partition: 0, offset: 1, sourceOffset: 50, redrivenFrom: `${DLQ}:2:0` });
    const third = entry({ partition: 1, offset: 7, sourceOffset: 90, redrivenFrom: `${DLQ}:0:1` });
    const plan = planRedrive([third, second, first], selection(), DLQ);
    expect(positions(plan.selected)).toEqual(['0:1']);
    expect(
      plan.duplicates.map((d) => `${d.entry.position.partition}:${d.entry.position.offset}`),
    ).toEqual(['1:7', '2:0']);
  });

  it('collapses copies whose common ancestor is no longer in the topic', () => {
    const a = entry({ offset: 1, sourceOffset: 50, redrivenFrom: `${DLQ}:0:0` });
    const b = entry({ offset: 2, sourceOffset: 51, redrivenFrom: `${DLQ}:0:0` });
    expect(positions(planRedrive([a, b], selection(), DLQ).selected)).toEqual(['0:1']);
  });

  it('survives a cycle of forged re-drive headers', () => {
    const a = entry({ offset: 1, sourceOffset: 50, redrivenFrom: `${DLQ}:0:2` });
    const b = entry({ offset: 2, sourceOffset: 51, redrivenFrom: `${DLQ}:0:1` });
    expect(planRedrive([a, b], selection(), DLQ).selected).toHaveLength(1);
  });

  it('does not count a refused record in the per-reason counts', () => {
    const plan = planRedrive(
      [entry({ offset: 1, sourceOffset: 3 }), entry({ offset: 2, sourceOffset: 3 })],
      selection(),
      DLQ,
    );
    expect(plan.countsByReason).toEqual(new Map([['PAYLOAD_TOO_LARGE', 1]]));
  });
});

describe('the re-driven record', () => {
  it('has the original key, value and headers, no dead-letter headers, and the re-drive marker', () => {
    const e = entry({ partition: 1, offset: 42, redrivenFrom: `${DLQ}:0:1` });
    const record = buildRedriveRecord(e, DLQ);
    expect(record.key).toBe('cust-1');
    expect(record.value).toEqual(Buffer.from('{"secret":"personal data"}'));
    expect(record.headers).toEqual({
      'trace-id': 'abc',
      [REDRIVE_HEADERS.redrivenFrom]: `${DLQ}:1:42`,
    });
  });

  it('is described without its key or value', () => {
    const line = describeEntry(entry({ partition: 1, offset: 42, sourceOffset: 7 }));
    expect(line).toBe(
      `dead-letter 1:42  reason PAYLOAD_TOO_LARGE  source ${SEND}:0:7  failed-at 2025-03-01T10:00:00.000Z`,
    );
    expect(line).not.toMatch(/cust-1|secret/);
  });
});

describe('publishing', () => {
  class FakePublisher {
    readonly sent: Array<{ topic: string; records: readonly OutboundRecord[] }> = [];
    failOnCall: number | null = null;
    publish(topic: string, records: readonly OutboundRecord[]): Promise<void> {
      if (this.failOnCall === this.sent.length) return Promise.reject(new Error('broker down'));
      this.sent.push({ topic, records });
      return Promise.resolve();
    }
  }

  const three = [entry({ offset: 0 }), entry({ offset: 1 }), entry({ offset: 2 })];

  it('publishes in batches, in order, and counts', async () => {
    const fake = new FakePublisher();
    const count = await publishRedrive(fake as unknown as KafkaPublisher, SEND, DLQ, three, 2);
    expect(count).toBe(3);
    expect(fake.sent.map((s) => s.records.length)).toEqual([2, 1]);
    expect(fake.sent.every((s) => s.topic === SEND)).toBe(true);
    expect(
      fake.sent.flatMap((s) => s.records.map((r) => r.headers?.[REDRIVE_HEADERS.redrivenFrom])),
    ).toEqual([`${DLQ}:0:0`, `${DLQ}:0:1`, `${DLQ}:0:2`]);
  });

  it('says how far it got when the broker fails part way', async () => {
    const fake = new FakePublisher();
    fake.failOnCall = 1;
    await expect(
      publishRedrive(fake as unknown as KafkaPublisher, SEND, DLQ, three, 2),
    ).rejects.toThrow(/after 2 record\(s\); dead-letter 0:2 .*broker down/);
  });

  it('refuses a list naming one dead-letter record twice, before publishing anything', async () => {
    const fake = new FakePublisher();
    await expect(
      publishRedrive(fake as unknown as KafkaPublisher, SEND, DLQ, [three[0]!, three[0]!]),
    ).rejects.toThrow(/refusing to re-drive it twice/);
    expect(fake.sent).toHaveLength(0);
  });
});
