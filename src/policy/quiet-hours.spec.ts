import { IANAZone } from 'luxon';
import { checkQuietHours, instantsForLocalTime } from './quiet-hours';

const iso = (ms: number): string => new Date(ms).toISOString();

describe('instantsForLocalTime', () => {
  it.each([
    {
      name: 'an ordinary local time has one instant',
      zone: 'Europe/Berlin',
      date: { year: 2026, month: 6, day: 15 },
      time: 7 * 60,
      want: ['2026-06-15T05:00:00.000Z'],
    },
    {
      name: 'a time skipped in New York resolves to the moment the clocks jump',
      zone: 'America/New_York',
      date: { year: 2026, month: 3, day: 8 },
      time: 2 * 60 + 30,
      want: ['2026-03-08T07:00:00.000Z'],
    },
    {
      name: 'a time repeated in New York has two instants, earlier first',
      zone: 'America/New_York',
      date: { year: 2026, month: 11, day: 1 },
      time: 60 + 30,
      want: ['2026-11-01T05:30:00.000Z', '2026-11-01T06:30:00.000Z'],
    },
    {
      name: 'a time repeated in Berlin has two instants, earlier first',
      zone: 'Europe/Berlin',
      date: { year: 2026, month: 10, day: 25 },
      time: 2 * 60 + 30,
      want: ['2026-10-25T00:30:00.000Z', '2026-10-25T01:30:00.000Z'],
    },
    {
      name: 'a half-hour spring-forward gap (Lord Howe Island)',
      zone: 'Australia/Lord_Howe',
      date: { year: 2026, month: 10, day: 4 },
      time: 2 * 60 + 15,
      want: ['2026-10-03T15:30:00.000Z'],
    },
    {
      name: 'a whole skipped day (Samoa, 2011-12-30) resolves to the next local midnight',
      zone: 'Pacific/Apia',
      date: { year: 2011, month: 12, day: 30 },
      time: 7 * 60,
      want: ['2011-12-30T10:00:00.000Z'],
    },
  ])('$name', ({ zone, date, time, want }) => {
    expect(instantsForLocalTime(IANAZone.create(zone), date, time).map(iso)).toEqual(want);
  });
});

describe('checkQuietHours', () => {
  const night = { start: '22:00', end: '07:00' };

  it('counts seconds: 06:59:30 is still inside a window ending at 07:00', () => {
    const check = checkQuietHours(night, 'Europe/Berlin', new Date('2026-06-16T04:59:30Z'));
    expect(check).toMatchObject({ kind: 'inside', localTime: '06:59', zoneName: 'Europe/Berlin' });
    expect(check.kind === 'inside' && check.until?.toISOString()).toBe('2026-06-16T05:00:00.000Z');
  });

  it('reads an unknown zone as UTC and names it', () => {
    expect(checkQuietHours(night, 'Nowhere/Special', new Date('2026-06-16T12:00:00Z'))).toEqual({
      kind: 'outside',
      window: '22:00–07:00',
      zoneName: 'UTC',
      invalidZone: 'Nowhere/Special',
      localTime: '12:00',
    });
  });

  it.each(['7:00', '24:00', '07:60', '', '07:00:00'])('does not read "%s" as a time', (end) => {
    expect(
      checkQuietHours({ start: '22:00', end }, 'UTC', new Date('2026-06-15T12:00:00Z')),
    ).toEqual({
      kind: 'unreadable',
      window: `22:00–${end}`,
    });
  });

  it('a window starting in a skipped hour still starts once the clocks have jumped', () => {
    // 02:30–06:00 in New York on 2026-03-08: 03:00 EDT is already past 02:30.
    const check = checkQuietHours(
      { start: '02:30', end: '06:00' },
      'America/New_York',
      new Date('2026-03-08T07:00:00Z'),
    );
    expect(check).toMatchObject({ kind: 'inside', untilText: '2026-03-08T06:00-04:00' });
  });
});
