import type { Channel } from '@omnigate/contracts';
import {
  applicableRules,
  capRuleProblems,
  type CapReservation,
  type CapRule,
  type CapViolation,
  type ReserveResult,
} from '../policy/frequency-caps';

// The result types are pure data owned by the policy (decideOverCap reads them); re-exported so
// callers of the port need one import.
export type { CapReservation, CapRule, CapViolation, ReserveResult };

export interface ReserveRequest {
  readonly customerId: string;
  readonly channel: Channel;
  readonly category: string;
  /** Every configured rule; the store counts only the ones that apply to channel and category. */
  readonly rules: readonly CapRule[];
  readonly now: Date;
  /** Unique per send attempt; reserving the same id again is a no-op that is granted again. */
  readonly reservationId: string;
  /** Transactional: always counted and granted, yet full rules are still reported. */
  readonly force: boolean;
}

/** A reservation id no real send uses, so a peek never finds itself already counted. */
export const PEEK_ID = '\u0000peek';

export type PeekRequest = Omit<ReserveRequest, 'force' | 'reservationId'>;

export type ReleaseRequest = Pick<CapReservation, 'customerId' | 'reservationId' | 'ruleIds'>;

/**
 * Sliding-window send counters per customer and rule. reserve is atomic across all applicable
 * rules: either every rule has room and the send is counted in each window, or nothing is counted.
 */
export interface CapStore {
  reserve(request: ReserveRequest): Promise<ReserveResult>;
  /**
   * The rules that a reserve right now would find full, counting nothing: for a support agent's
   * dry run. Racy by nature; the real send still reserves atomically.
   */
  peek(request: PeekRequest): Promise<readonly CapViolation[]>;
  /** Uncounts a reservation the provider did not accept; unknown ids are ignored. */
  release(reservation: ReleaseRequest): Promise<void>;
  close(): Promise<void>;
}

/** Nest injection token for the configured CapStore. */
export const CAP_STORE = Symbol('CapStore');

export class InvalidCapRequestError extends Error {
  override readonly name = 'InvalidCapRequestError';

  constructor(readonly problems: readonly string[]) {
    super(`invalid cap reservation: ${problems.join('; ')}`);
  }
}

/**
 * `cap:{customerId}:ruleId`. The braces are a Redis Cluster hash tag: all of one customer's keys
 * share a slot, so one script may touch them all. Both parts are URI-encoded so a "{", "}" or ":"
 * inside an id can neither break the tag nor make two (customer, rule) pairs share a key.
 */
export function capKey(customerId: string, ruleId: string): string {
  return `cap:{${encodeURIComponent(customerId)}}:${encodeURIComponent(ruleId)}`;
}

/** Validates a request and returns the rules it must be counted in; shared so stores agree. */
export function rulesToReserve(request: ReserveRequest): CapRule[] {
  const problems: string[] = [];
  // An empty hash tag makes Redis hash the whole key, scattering one customer across slots.
  if (request.customerId === '') problems.push('customerId is empty');
  if (request.reservationId === '') problems.push('reservationId is empty');
  if (Number.isNaN(request.now.getTime())) problems.push('now is not a valid date');
  // All rules, not just the applicable ones: a bad rule should fail on its first use, whatever
  // channel that use is on.
  problems.push(...capRuleProblems(request.rules));
  if (problems.length > 0) throw new InvalidCapRequestError(problems);
  return applicableRules(request.rules, request);
}
