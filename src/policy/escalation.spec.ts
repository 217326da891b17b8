import { traceEntrySchema, type Channel } from '@omnigate/contracts';
import {
  conditionsMetBy,
  durationWords,
  escalationAtSend,
  escalationFired,
  reachedInTime,
  satisfies,
  satisfyingStatuses,
  type EscalationFiredInput,
} from './escalation';
import type { CategoryPolicy, EscalationCondition, EscalationPolicy } from './model';

const NOW = new Date('2026-06-15T12:00:00.000Z');
const at = (seconds: number): Date => new Date(NOW.getTime() + seconds * 1000);

function policy(escalation?: EscalationPolicy): CategoryPolicy {
  return {
    category: 'appointment_reminders',
    transactional: true,
    optOutAllowed: true,
    requiresConsent: false,
    allowedChannels: ['sms', 'email', 'mobilepush'],
    fallbackChain: ['sms', 'email', 'mobilepush'],
    quietHours: 'defer',
    ttlSeconds: 6 * 3600,
    ...(escalation && { escalation }),
  };
}

const TEN_MINUTES: EscalationPolicy = { unless: 'delivered', afterSeconds: 600 };

describe('escalationAtSend', () => {
  it.each<{
    name: string;
    escalation?: EscalationPolicy;
    candidates: Channel[];
    used: Channel[];
    sentOn: Channel;
    expiresAt: Date;
    expected: { kind: 'schedule'; runAt: Date; detail: RegExp } | { kind: 'none'; detail?: RegExp };
  }>([
    {
      name: 'no escalation in the policy: nothing',
      candidates: ['sms', 'email'],
      used: ['sms'],
      sentOn: 'sms',
      expiresAt: at(86400),
      expected: { kind: 'none' },
    },
    {
      name: 'sent on the first candidate, another left: scheduled after D',
      escalation: TEN_MINUTES,
      candidates: ['sms', 'email', 'mobilepush'],
      used: ['sms'],
      sentOn: 'sms',
      expiresAt: at(86400),
      expected: {
        kind: 'schedule',
        runAt: at(600),
        detail: /^if sms gives no delivery report within 10 minutes, email is tried next$/,
      },
    },
    {
      name: 'the next candidate is the first one not used (sms failed, whatsapp sent)',
      escalation: { unless: 'read', afterSeconds: 3600 },
      candidates: ['sms', 'whatsapp', 'email'],
      used: ['sms', 'whatsapp'],
      sentOn: 'whatsapp',
      expiresAt: at(86400),
      expected: {
        kind: 'schedule',
        runAt: at(3600),
        detail: /^if whatsapp gives no read report within 1 hour, email is tried next$/,
      },
    },
    {
      name: 'sent on the last candidate: nothing left, nothing scheduled',
      escalation: TEN_MINUTES,
      candidates: ['sms', 'email'],
      used: ['sms', 'email'],
      sentOn: 'email',
      expiresAt: at(86400),
      expected: { kind: 'none' },
    },
    {
      name: 'a single candidate: nothing scheduled',
      escalation: TEN_MINUTES,
      candidates: ['sms'],
      used: [],
      sentOn: 'sms',
      expiresAt: at(86400),
      expected: { kind: 'none' },
    },
    {
      name: 'the message expires before D is up: not scheduled, and the trace says so',
      escalation: TEN_MINUTES,
      candidates: ['sms', 'email'],
      used: ['sms'],
      sentOn: 'sms',
      expiresAt: at(600),
      expected: { kind: 'none', detail: /expires at 2026-06-15T12:10:00.000Z, before 10 minutes/ },
    },
  ])('$name', ({ escalation, candidates, used, sentOn, expiresAt, expected }) => {
    const decision = escalationAtSend({
      policy: policy(escalation),
      candidates,
      used,
      sentOn,
      sentAt: NOW,
      expiresAt,
    });
    expect(decision.kind).toBe(expected.kind);
    if (decision.trace) expect(traceEntrySchema.parse(decision.trace)).toEqual(decision.trace);
    if (expected.kind === 'schedule') {
      if (decision.kind !== 'schedule') throw new Error('expected a schedule');
      expect(decision.schedule).toEqual({
        runAt: expected.runAt,
        channel: sentOn,
        unless: escalation!.unless,
        afterSeconds: escalation!.afterSeconds,
      });
      expect(decision.trace).toMatchObject({
        channel: sentOn,
        reasonCode: 'ESCALATION_SCHEDULED',
        at: NOW.toISOString(),
      });
      expect(decision.trace.detail).toMatch(expected.detail);
    } else if (expected.detail) {
      expect(decision.trace?.detail).toMatch(expected.detail);
    } else {
      expect(decision.trace).toBeUndefined();
    }
  });
});

describe('reached conditions', () => {
  it.each<[EscalationCondition | null, EscalationCondition, boolean]>([
    [null, 'delivered', false],
    [null, 'read', false],
    ['delivered', 'delivered', true],
    ['delivered', 'read', false],
    ['read', 'delivered', true],
    ['read', 'read', true],
  ])('a %s receipt satisfies "unless %s": %s', (reached, unless, expected) => {
    expect(satisfies(reached, unless)).toBe(expected);
    if (reached) expect(conditionsMetBy(reached).includes(unless)).toBe(expected);
    expect(reached !== null && satisfyingStatuses(unless).includes(reached)).toBe(expected);
  });

  it('says "delivered in time" for a delivered message, and nothing for one not reached', () => {
    const entry = reachedInTime({
      from: 'sms',
      unless: 'delivered',
      afterSeconds: 600,
      reached: 'delivered',
      now: at(600),
    });
    expect(entry).toEqual({
      channel: 'sms',
      decision: 'sent',
      reasonCode: 'REACHED_IN_TIME',
      detail: 'delivered in time on sms (within 10 minutes); not escalated',
      at: at(600).toISOString(),
    });
    expect(
      reachedInTime({
        from: 'sms',
        unless: 'read',
        afterSeconds: 600,
        reached: 'delivered',
        now: at(600),
      }),
    ).toBeNull();
  });
});

describe('escalationFired', () => {
  const base: Omit<EscalationFiredInput, 'plan' | 'used'> = {
    from: 'sms',
    unless: 'delivered',
    afterSeconds: 600,
    now: at(600),
  };
  it.each<{
    name: string;
    plan: EscalationFiredInput['plan'];
    used: Channel[];
    expected:
      | { kind: 'escalate'; candidates: Channel[]; detail: string }
      | { kind: 'done'; reasonCode: string; detail: RegExp };
  }>([
    {
      name: 'not delivered in time: the next untried candidate, in plan order',
      plan: { kind: 'send', candidates: ['sms', 'email', 'mobilepush'] },
      used: ['sms'],
      expected: {
        kind: 'escalate',
        candidates: ['email', 'mobilepush'],
        detail: 'no delivery report from sms within 10 minutes; trying email, then mobilepush',
      },
    },
    {
      name: 'channels used before (a failed attempt) are not tried again',
      plan: { kind: 'send', candidates: ['sms', 'whatsapp', 'email'] },
      used: ['whatsapp', 'sms'],
      expected: {
        kind: 'escalate',
        candidates: ['email'],
        detail: 'no delivery report from sms within 10 minutes; trying email',
      },
    },
    {
      name: 'the channel escalated from counts as used even without its attempt row',
      plan: { kind: 'send', candidates: ['sms', 'email'] },
      used: [],
      expected: {
        kind: 'escalate',
        candidates: ['email'],
        detail: 'no delivery report from sms within 10 minutes; trying email',
      },
    },
    {
      name: 'no channel left',
      plan: { kind: 'send', candidates: ['sms', 'email'] },
      used: ['sms', 'email'],
      expected: {
        kind: 'done',
        reasonCode: 'NO_CHANNEL_LEFT',
        detail: /^no delivery report from sms within 10 minutes, but no other channel is left/,
      },
    },
    {
      name: 'past the expiry',
      plan: { kind: 'expired', expiresAt: at(300) },
      used: ['sms'],
      expected: {
        kind: 'done',
        reasonCode: 'EXPIRED',
        detail: /the message expired at 2026-06-15T12:05:00.000Z; not escalated$/,
      },
    },
    {
      name: 'the plan cannot send now (the customer opted out meanwhile)',
      plan: { kind: 'not_sendable', why: 'the customer opted out of every allowed channel' },
      used: ['sms'],
      expected: {
        kind: 'done',
        reasonCode: 'NOT_SENDABLE',
        detail: /but the customer opted out of every allowed channel; not escalated$/,
      },
    },
  ])('$name', ({ plan, used, expected }) => {
    const decision = escalationFired({ ...base, plan, used });
    expect(traceEntrySchema.parse(decision.trace)).toEqual(decision.trace);
    expect(decision.trace.at).toBe(at(600).toISOString());
    if (expected.kind === 'escalate') {
      expect(decision).toEqual({
        kind: 'escalate',
        candidates: expected.candidates,
        trace: {
          channel: expected.candidates[0],
          decision: 'chosen',
          reasonCode: 'ESCALATED',
          detail: expected.detail,
          at: at(600).toISOString(),
        },
      });
    } else {
      if (decision.kind !== 'done') throw new Error(`expected done, got ${decision.kind}`);
      expect(decision.reasonCode).toBe(expected.reasonCode);
      expect(decision.trace.channel).toBe('sms');
      expect(decision.trace.detail).toMatch(expected.detail);
    }
  });

  it('words a read condition as a read report', () => {
    const decision = escalationFired({
      ...base,
      unless: 'read',
      afterSeconds: 2 * 86400,
      plan: { kind: 'send', candidates: ['whatsapp', 'email'] },
      used: ['whatsapp'],
      from: 'whatsapp',
    });
    expect(decision.trace.detail).toBe('no read report from whatsapp within 2 days; trying email');
  });
});

describe('durationWords', () => {
  it.each([
    [45, '45 seconds'],
    [60, '1 minute'],
    [90, '90 seconds'],
    [600, '10 minutes'],
    [3600, '1 hour'],
    [5400, '90 minutes'],
    [86400, '1 day'],
  ])('%i s → %s', (seconds, words) => {
    expect(durationWords(seconds)).toBe(words);
  });
});
