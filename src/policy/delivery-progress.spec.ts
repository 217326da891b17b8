import type { ProviderOutcome } from '@omnigate/contracts';
import { decideProgress, type DeliveryStatus, type ProgressDecision } from './delivery-progress';

type Row = [
  current: DeliveryStatus | null,
  reported: string[],
  outcome: ProviderOutcome,
  expected: ProgressDecision,
];

const advanced = (next: DeliveryStatus, ...receipts: DeliveryStatus[]): ProgressDecision => ({
  effect: 'advanced',
  next,
  receipts,
});
const stays = (
  current: DeliveryStatus | null,
  effect: ProgressDecision['effect'],
): ProgressDecision => ({ effect, next: current, receipts: [] });

describe('decideProgress', () => {
  const table: Row[] = [
    // the usual path, after the dispatch's sent receipt
    [null, ['sent'], 'sent', advanced('sent')],
    [null, ['sent'], 'delivered', advanced('delivered', 'delivered')],
    ['sent', ['sent'], 'delivered', advanced('delivered', 'delivered')],
    ['delivered', ['sent', 'delivered'], 'read', advanced('read', 'read')],
    // read implies delivered: its receipt first
    [null, ['sent'], 'read', advanced('read', 'delivered', 'read')],
    ['sent', ['sent'], 'read', advanced('read', 'delivered', 'read')],
    // repeats and late reports change nothing
    ['delivered', ['sent', 'delivered'], 'delivered', stays('delivered', 'no_change')],
    ['delivered', ['sent', 'delivered'], 'sent', stays('delivered', 'no_regress')],
    ['read', ['sent', 'delivered', 'read'], 'delivered', stays('read', 'no_regress')],
    ['read', ['sent', 'delivered', 'read'], 'sent', stays('read', 'no_regress')],
    // ends: after sent or delivered (email's late bounce), never after read; the first end stands
    ['sent', ['sent'], 'failed', advanced('failed', 'failed')],
    [null, ['sent'], 'bounced', advanced('bounced', 'bounced')],
    ['delivered', ['sent', 'delivered'], 'bounced', advanced('bounced', 'bounced')],
    ['read', ['sent', 'delivered', 'read'], 'bounced', stays('read', 'no_regress')],
    ['read', ['sent', 'delivered', 'read'], 'failed', stays('read', 'no_regress')],
    ['failed', ['sent', 'failed'], 'bounced', stays('failed', 'no_regress')],
    ['bounced', ['sent', 'bounced'], 'delivered', stays('bounced', 'no_regress')],
    ['bounced', ['sent', 'bounced'], 'read', stays('bounced', 'no_regress')],
    // deferred is timeline only; none changes nothing
    ['sent', ['sent'], 'deferred', stays('sent', 'timeline_only')],
    [null, ['sent'], 'none', stays(null, 'no_status')],
    ['delivered', ['sent', 'delivered'], 'none', stays('delivered', 'no_status')],
    // unknown: relayed once, stored only when there is no status, never success
    [
      null,
      ['sent'],
      'unknown',
      { effect: 'unknown_status', next: 'unknown', receipts: ['unknown'] },
    ],
    [
      'sent',
      ['sent'],
      'unknown',
      { effect: 'unknown_status', next: 'sent', receipts: ['unknown'] },
    ],
    [
      'unknown',
      ['sent', 'unknown'],
      'unknown',
      { effect: 'unknown_status', next: 'unknown', receipts: [] },
    ],
    ['unknown', ['sent', 'unknown'], 'delivered', advanced('delivered', 'delivered')],
    ['unknown', ['sent', 'unknown'], 'failed', advanced('failed', 'failed')],
    // a sent the dispatch never reported (its outcome was unknown) is reported once
    [null, ['unknown'], 'sent', advanced('sent', 'sent')],
    // a receipt already written (a replay after a crash) is not written again
    [null, ['sent', 'delivered'], 'delivered', advanced('delivered')],
  ];

  it.each(table)('from %p (reported %j), %p gives %j', (current, reported, outcome, expected) => {
    expect(
      decideProgress({ current, reported: new Set(reported), outcome, handedToProvider: true }),
    ).toEqual(expected);
  });

  it.each(['sent', 'delivered', 'read', 'failed', 'bounced', 'unknown'] as const)(
    'a message no provider was given gets nothing from a %s report',
    (outcome) => {
      expect(
        decideProgress({
          current: null,
          reported: new Set(['suppressed']),
          outcome,
          handedToProvider: false,
        }),
      ).toEqual({ effect: 'not_sent', next: null, receipts: [] });
    },
  );

  it('never reports success for an unknown status, whatever came before', () => {
    const statuses: Array<DeliveryStatus | null> = [
      null,
      'sent',
      'delivered',
      'read',
      'failed',
      'bounced',
      'unknown',
    ];
    for (const current of statuses) {
      const decision = decideProgress({
        current,
        reported: new Set(),
        outcome: 'unknown',
        handedToProvider: true,
      });
      expect(decision.receipts).toEqual(['unknown']);
      expect(decision.next).toBe(current ?? 'unknown');
    }
  });
});
