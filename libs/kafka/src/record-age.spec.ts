import { recordAgeMs } from './record-age';

describe('recordAgeMs', () => {
  const now = 1_700_000_010_000;

  it('answers the time since the producer stamped the record', () => {
    expect(recordAgeMs({ timestamp: '1700000000000' }, now)).toBe(10_000);
  });

  it('answers 0 for a producer clock ahead of ours', () => {
    expect(recordAgeMs({ timestamp: String(now + 500) }, now)).toBe(0);
  });

  it.each(['-1', '0', '', 'soon'])('answers nothing for the timestamp %p', (timestamp) => {
    expect(recordAgeMs({ timestamp }, now)).toBeUndefined();
  });
});
