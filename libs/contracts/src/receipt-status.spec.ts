import { RECEIPT_STATUSES, TERMINAL_STATUSES, isTerminalStatus } from './receipt-status';
import type { ReceiptStatus } from './receipt-status';

describe('receipt statuses', () => {
  const expected: [ReceiptStatus, boolean][] = [
    ['accepted', false],
    ['sent', false],
    ['delivered', true],
    ['read', true],
    ['failed', true],
    ['bounced', true],
    ['suppressed', true],
    ['capped', true],
    ['deferred', false],
    ['expired', true],
    ['rejected', true],
    ['duplicate', true],
    ['unknown', false],
    ['cancelled', true],
  ];

  it('covers every status in the table', () => {
    expect(expected.map(([status]) => status)).toEqual([...RECEIPT_STATUSES]);
  });

  it.each(expected)('%s is terminal: %p', (status, terminal) => {
    expect(isTerminalStatus(status)).toBe(terminal);
  });

  it('lists only known statuses as terminal', () => {
    for (const status of TERMINAL_STATUSES) expect(RECEIPT_STATUSES).toContain(status);
  });
});
