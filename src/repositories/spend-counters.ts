import { createHash } from 'node:crypto';
import type { SpendChannel, SpendLimit } from '../policy/spend-guard';

export type { SpendChannel, SpendLimit };

export interface SpendReserveRequest {
  readonly channel: SpendChannel;
  /** The counters this send must be counted in (spendLimits); each knows if it may refuse. */
  readonly limits: readonly SpendLimit[];
  readonly now: Date;
  /** Unique per send attempt; reserving the same id again is a no-op that is granted again. */
  readonly reservationId: string;
}

export interface SpendReservation {
  readonly channel: SpendChannel;
  readonly reservationId: string;
  readonly limits: readonly SpendLimit[];
}

/**
 * granted: counted in every limit. Refused when an enforced limit had no room: nothing counted.
 * `full` lists every limit without room, the ones that do not refuse included.
 */
export type SpendReserveResult =
  | {
      readonly granted: true;
      readonly reservation: SpendReservation;
      readonly full: readonly SpendLimit[];
    }
  | { readonly granted: false; readonly full: readonly SpendLimit[] };

/** A reservation id no real send uses, so a peek never finds itself already counted. */
export const SPEND_PEEK_ID = '\u0000peek';

/**
 * Counters of the spend guard, shared by every replica: sliding windows per destination number
 * and country, and a per-UTC-day budget per channel. reserve is atomic over all of a send's
 * limits: every enforced one has room and the send is counted in each, or nothing is counted.
 */
export interface SpendCounters {
  reserve(request: SpendReserveRequest): Promise<SpendReserveResult>;
  /** The limits a reserve right now would find full, counting nothing (the admin's dry run). */
  peek(request: Omit<SpendReserveRequest, 'reservationId'>): Promise<readonly SpendLimit[]>;
  /** Uncounts a reservation no provider accepted; unknown ids are ignored. */
  release(reservation: SpendReservation): Promise<void>;
  /** Sends counted in a channel's daily budget for the UTC day named (YYYY-MM-DD). */
  budgetUsed(channel: SpendChannel, day: string): Promise<number>;
  close(): Promise<void>;
}

/** Nest injection token for the configured SpendCounters. */
export const SPEND_COUNTERS = Symbol('SpendCounters');

/**
 * `spend:{channel}:limitId:subject`. One hash tag per channel puts all of a send's counters in one
 * Redis Cluster slot, so one script may check and count them together. A number is stored as a
 * digest: Redis keys are listed by operators and must not read as a list of phone numbers.
 */
export function spendKey(channel: SpendChannel, limit: Pick<SpendLimit, 'id' | 'subject'>): string {
  const subject = limit.id.startsWith('number_')
    ? createHash('sha256').update(limit.subject).digest('hex').slice(0, 32)
    : encodeURIComponent(limit.subject);
  return `spend:{${channel}}:${limit.id}:${subject}`;
}

export function budgetKey(channel: SpendChannel, day: string): string {
  return spendKey(channel, { id: 'daily_budget', subject: day });
}

/** Throws on a request no store should count; shared so both stores agree. */
export function checkSpendRequest(request: Omit<SpendReserveRequest, 'reservationId'>): void {
  const problems: string[] = [];
  if (Number.isNaN(request.now.getTime())) problems.push('now is not a valid date');
  for (const limit of request.limits) {
    if (!Number.isInteger(limit.limit) || limit.limit < 1) {
      problems.push(`limit ${limit.id}: must be a whole number of at least 1`);
    }
    if (!Number.isInteger(limit.windowSeconds) || limit.windowSeconds < 1) {
      problems.push(`limit ${limit.id}: window must be a whole number of seconds`);
    }
  }
  if (problems.length > 0) throw new Error(`invalid spend reservation: ${problems.join('; ')}`);
}
