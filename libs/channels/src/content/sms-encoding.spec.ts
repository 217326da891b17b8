import { describeSms } from './sms-encoding';

describe('describeSms', () => {
  it.each([
    ['plain ASCII fits one GSM-7 segment', 'Your code is 123456', 'GSM-7', 1],
    ['160 GSM-7 characters are one segment', 'a'.repeat(160), 'GSM-7', 1],
    ['161 GSM-7 characters need two 153-character segments', 'a'.repeat(161), 'GSM-7', 2],
    ['306 GSM-7 characters are exactly two segments', 'a'.repeat(306), 'GSM-7', 2],
    ['GSM-7 extension characters (€ [ ]) stay GSM-7', 'Total 10€ [paid]', 'GSM-7', 1],
    ['Chinese switches to UCS-2', '您的订单已发货', 'UCS-2', 1],
    ['70 UCS-2 characters are one segment', '好'.repeat(70), 'UCS-2', 1],
    ['71 UCS-2 characters need two 67-character segments', '好'.repeat(71), 'UCS-2', 2],
    ['an emoji switches to UCS-2', 'Shipped 📦', 'UCS-2', 1],
    ['Arabic (right to left) is UCS-2', 'تم شحن طلبك', 'UCS-2', 1],
  ])('%s', (_name, text, encoding, segments) => {
    const envelope = describeSms(text);
    expect(envelope.encoding).toBe(encoding);
    expect(envelope.segments).toBe(segments);
  });
});
