import { SegmentedMessage } from 'sms-segments-calculator';
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

describe('describeSms on GSM-7 text (counted without the calculator)', () => {
  // Random texts, a third of them around the single-message boundary, drawn from GSM-7 characters
  // (escaped ones of two septets among them, and CR and LF) with, in a third of the texts, an
  // occasional non-GSM character. The cases after it place escaped characters at part boundaries.
  const alphabet = [
    'a',
    'Z',
    '7',
    ' ',
    '@',
    'é',
    'Ä',
    'ß',
    '\n',
    '\r',
    '€',
    '[',
    '{',
    '^',
    '~',
    '\\',
  ];
  const rare = ['😀', '好', 'ç', '\u0301'];

  function randomText(random: () => number, length: number, withRare: boolean): string {
    let text = '';
    for (let i = 0; i < length; i += 1) {
      const pool = withRare && random() < 0.02 ? rare : alphabet;
      text += pool[Math.floor(random() * pool.length)]!;
    }
    return text;
  }

  function seeded(seed: number): () => number {
    let state = seed;
    return () => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return state / 2147483648;
    };
  }

  it('agrees with sms-segments-calculator on 3,000 texts of 1 to 480 characters', () => {
    const random = seeded(20261205);
    let gsmTexts = 0;
    for (let n = 0; n < 3000; n += 1) {
      const length = n < 1000 ? 150 + (n % 20) : 1 + Math.floor(random() * 480);
      const text = randomText(random, length, n % 3 === 0);
      const message = new SegmentedMessage(text);
      expect(describeSms(text)).toEqual({
        encoding: message.encodingName,
        segments: message.segmentsCount,
        characters: message.numberOfCharacters,
      });
      if (message.encodingName === 'GSM-7') gsmTexts += 1;
    }
    // Most texts must take the count made without the calculator, or this compares nothing new.
    expect(gsmTexts).toBeGreaterThan(2000);
  });

  it.each([
    ['160 characters and an escaped one make two parts', `${'a'.repeat(160)}€`, 2, 162],
    [
      'an escaped character at septets 153-154 moves to the next part',
      `${'a'.repeat(152)}€${'a'.repeat(10)}`,
      2,
      164,
    ],
    ['CR LF is two GSM-7 characters, as the calculator counts it', 'line one\r\nline two', 1, 18],
  ])('%s', (_name, text, segments, characters) => {
    const envelope = describeSms(text);
    const message = new SegmentedMessage(text);
    expect(envelope.segments).toBe(segments);
    expect(envelope.segments).toBe(message.segmentsCount);
    expect(envelope.characters).toBe(characters);
  });
});
