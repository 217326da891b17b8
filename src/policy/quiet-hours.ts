import { DateTime, FixedOffsetZone, IANAZone, type Zone } from 'luxon';
import type { QuietHours } from './model';

/**
 * Quiet hours are local wall-clock times in the customer's zone. The window is [start, end): a
 * message at exactly `end` goes out. `end` < `start` means the window crosses midnight; `start`
 * equal to `end` is an empty window (never quiet), so a typo cannot silence a customer for good.
 *
 * The end of a window is resolved to an instant with these rules, stricter than luxon's defaults
 * (which move a skipped time forward by the size of the gap and pick the later of two repeated
 * times):
 * - a local time skipped by a spring-forward change resolves to the first instant after it, the
 *   moment the clocks jump (e.g. 02:30 on 2026-03-08 in New York → 03:00 EDT), which is also the
 *   first instant at which the window check says "outside";
 * - a local time that happens twice on a fall-back day resolves to the earlier instant, or to the
 *   later one when `now` is already past the earlier one.
 */

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
const HH_MM = /^([01]\d|2[0-3]):([0-5]\d)$/;

export type QuietHoursCheck =
  /** The stored start or end is not "HH:MM": quiet hours cannot be applied. */
  | { readonly kind: 'unreadable'; readonly window: string }
  | {
      readonly kind: 'outside' | 'inside';
      /** "22:00–07:00", for the trace. */
      readonly window: string;
      /** The zone used: the profile's, or "UTC" when the profile's zone is unknown. */
      readonly zoneName: string;
      /** The profile's zone when it was not a valid IANA zone (then UTC was used). */
      readonly invalidZone?: string;
      /** The customer's local time now, "HH:MM". */
      readonly localTime: string;
      /** When inside: the instant the window ends. */
      readonly until?: Date;
      /** `until` as local time with offset, e.g. "2026-03-29T07:00+02:00". */
      readonly untilText?: string;
    };

function parseClock(value: string): number | undefined {
  const match = HH_MM.exec(value);
  if (match === null) return undefined;
  return Number(match[1]) * 60 + Number(match[2]);
}

interface ZoneChoice {
  readonly zone: Zone;
  readonly name: string;
  readonly invalid?: string;
}

function chooseZone(timeZone: string): ZoneChoice {
  if (IANAZone.isValidZone(timeZone)) return { zone: IANAZone.create(timeZone), name: timeZone };
  return { zone: FixedOffsetZone.utcInstance, name: 'UTC', invalid: timeZone };
}

/**
 * The instant the clocks change between `lo` (old offset) and `hi` (new offset): the smallest ms
 * whose offset differs from `lo`'s. Binary search, because a zone only answers "offset at t".
 */
function transitionBetween(zone: Zone, lo: number, hi: number): number {
  const before = zone.offset(lo);
  let low = lo;
  let high = hi;
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (zone.offset(mid) === before) low = mid;
    else high = mid;
  }
  return high;
}

/**
 * Every instant whose local wall-clock time in `zone` is the given date and minute of day, earliest
 * first: one normally, two on a fall-back overlap. For a time skipped by a spring-forward gap, the
 * instant the gap ends (the first instant after that local time).
 */
export function instantsForLocalTime(
  zone: Zone,
  date: { readonly year: number; readonly month: number; readonly day: number },
  minuteOfDay: number,
): number[] {
  const wallAsUtc = Date.UTC(date.year, date.month - 1, date.day) + minuteOfDay * MINUTE_MS;
  // The offsets a day either side cover both sides of any single change near this time.
  const offsetBefore = zone.offset(wallAsUtc - DAY_MS);
  const offsetAfter = zone.offset(wallAsUtc + DAY_MS);
  // A reading is real when the zone agrees it has that offset at the resulting instant.
  const found = [...new Set([offsetBefore, offsetAfter])]
    .filter((offset) => zone.offset(wallAsUtc - offset * MINUTE_MS) === offset)
    .map((offset) => wallAsUtc - offset * MINUTE_MS)
    .sort((a, b) => a - b);
  if (found.length > 0 || offsetAfter <= offsetBefore) return found;
  // A gap: the new offset starts somewhere between these two readings of the wall time.
  return [
    transitionBetween(
      zone,
      wallAsUtc - offsetAfter * MINUTE_MS,
      wallAsUtc - offsetBefore * MINUTE_MS,
    ),
  ];
}

function clockText(minuteOfDay: number): string {
  const hours = Math.floor(minuteOfDay / 60);
  const minutes = minuteOfDay % 60;
  return `${String(hours).padStart(2, '0')}:${String(minutes).padStart(2, '0')}`;
}

/** An instant as local time with its offset, minutes precision: "2026-03-29T07:00+02:00". */
export function formatLocal(instant: Date, zone: Zone): string {
  return DateTime.fromJSDate(instant, { zone }).toFormat("yyyy-MM-dd'T'HH:mmZZ");
}

/** The first instant after `now` at which the local time is `endMinute` again. */
function nextEnd(zone: Zone, now: Date, endMinute: number): number | undefined {
  const local = DateTime.fromJSDate(now, { zone });
  // Calendar arithmetic in UTC: a local midnight may itself fall in a gap.
  const today = DateTime.utc(local.year, local.month, local.day);
  // Looking up to two days ahead also covers a zone that skipped a whole calendar day.
  for (let dayOffset = 0; dayOffset <= 2; dayOffset += 1) {
    const day = today.plus({ days: dayOffset });
    const next = instantsForLocalTime(zone, day, endMinute).find(
      (instant) => instant > now.getTime(),
    );
    if (next !== undefined) return next;
  }
  return undefined;
}

/** Whether `now` falls in the customer's quiet hours, and if so until when. */
export function checkQuietHours(
  quietHours: QuietHours,
  timeZone: string,
  now: Date,
): QuietHoursCheck {
  const start = parseClock(quietHours.start);
  const end = parseClock(quietHours.end);
  const window = `${quietHours.start}–${quietHours.end}`;
  if (start === undefined || end === undefined) return { kind: 'unreadable', window };

  const { zone, name, invalid } = chooseZone(timeZone);
  const local = DateTime.fromJSDate(now, { zone });
  // Minutes with a fraction, so 06:59:30 still counts as before a 07:00 end.
  const minuteNow =
    local.hour * 60 + local.minute + (local.second * 1000 + local.millisecond) / MINUTE_MS;
  const inside =
    start <= end ? minuteNow >= start && minuteNow < end : minuteNow >= start || minuteNow < end;
  const base = {
    window,
    zoneName: name,
    ...(invalid !== undefined && { invalidZone: invalid }),
    localTime: clockText(local.hour * 60 + local.minute),
  };
  if (!inside) return { kind: 'outside', ...base };

  const untilMs = nextEnd(zone, now, end);
  // Unreachable for real zones; without an end instant the window cannot hold the message.
  if (untilMs === undefined) return { kind: 'outside', ...base };
  const until = new Date(untilMs);
  return { kind: 'inside', ...base, until, untilText: formatLocal(until, zone) };
}
