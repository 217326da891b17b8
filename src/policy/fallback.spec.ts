import { traceEntrySchema, type Channel, type TraceDecision } from '@omnigate/contracts';
import {
  nextStep,
  startFallback,
  type BlockedCap,
  type CandidateOutcome,
  type CandidateResult,
  type FallbackProgress,
  type FallbackStep,
} from './fallback';
import type { OverCapAction } from './frequency-caps';

const NOW = new Date('2026-06-15T12:00:00.000Z');
const DAY = 86_400_000;
const ms = (offset: number): Date => new Date(NOW.getTime() + offset);

const RETRY = { maxRetries: 3, baseDelayMs: 1000, maxDelayMs: 60_000 };

/** Every step of a case is seen at NOW. */
type Outcome = CandidateResult;

function cap(action: OverCapAction, retryAt: Date): BlockedCap {
  return {
    kind: 'blocked',
    action,
    rule: { id: 'daily', scope: {}, windowSeconds: 86_400, limit: 1, overCap: action },
    count: 1,
    retryAt,
    reason: `capped by rule daily (${action})`,
  };
}

const sent = (calls = 1): Outcome => ({
  kind: 'sent',
  provider: 'prov',
  providerMessageId: 'pm-1',
  calls,
});
const capped = (action: OverCapAction, retryAt = ms(3_600_000)): Outcome => ({
  kind: 'capped',
  cap: cap(action, retryAt),
});
const spendRefused: Outcome = {
  kind: 'spend_refused',
  reason: { code: 'SPEND_COUNTRY_BLOCKED', message: 'country not allowed' },
};
const throttled = (retryAfterMs: number): Outcome => ({
  kind: 'throttled',
  retryAfterMs,
  reason: { code: 'THROTTLED', message: 'every provider is at its send rate' },
});
const failure = (code: string, retryable: boolean, calls = 1, retryAfterMs?: number): Outcome => ({
  kind: 'provider_failure',
  retryable,
  ...(retryAfterMs !== undefined && { retryAfterMs }),
  reason: { code, message: `providers said ${code.toLowerCase()}` },
  calls,
});
const unknown: Outcome = {
  kind: 'outcome_unknown',
  provider: 'prov',
  reason: { code: 'OUTCOME_UNKNOWN', message: 'prov did not answer in time' },
  calls: 1,
};
const contentError: Outcome = {
  kind: 'content_error',
  reason: { code: 'TEMPLATE_NOT_FOUND', message: 'no template welcome' },
};

type Decision = readonly [Channel, TraceDecision, string];

interface Want {
  readonly kind: FallbackStep['kind'];
  readonly status?: 'sent' | 'unknown' | 'capped' | 'failed';
  readonly channel?: Channel;
  readonly attempt?: number;
  /** Checked on every settle: undefined means no fallbackFrom. */
  readonly fallbackFrom?: Channel;
  readonly reasonCode?: string;
  readonly reasonMessage?: string;
  readonly until?: Date;
  readonly why?: string;
  /** Checked on every deferral. */
  readonly deferCode?: 'CAPPED' | 'THROTTLED' | 'PROVIDER_RETRY';
  readonly retries?: number;
  /** Checked on every deferral: undefined means it spends no provider retry. */
  readonly retryOf?: Channel;
  /** Every trace entry of every step, in order. */
  readonly trace?: readonly Decision[];
  readonly details?: readonly string[];
}

interface Case {
  readonly name: string;
  readonly candidates?: readonly Channel[];
  /** One per candidate tried, in order; every one but the last must lead to the next. */
  readonly outcomes: readonly Outcome[];
  readonly progress?: Partial<Pick<FallbackProgress, 'deferrals' | 'retries' | 'retryPolicy'>>;
  readonly expiresAt?: Date;
  /** What the random source answers (0.5 unless given). */
  readonly random?: number;
  /** How often the step may ask for a random number (0 unless given). */
  readonly randomCalls?: number;
  readonly want: Want;
}

const CASES: Case[] = [
  // ---- sent and unknown ----------------------------------------------------------------------
  {
    name: 'sent on the first candidate: no fallbackFrom, no trace of its own',
    outcomes: [sent(1)],
    want: { kind: 'settle', status: 'sent', channel: 'sms', attempt: 1, trace: [] },
  },
  {
    name: 'a provider failure hands over to the next channel, which names where it came from',
    outcomes: [failure('INVALID_RECIPIENT', false, 2), sent(1)],
    want: { kind: 'settle', status: 'sent', channel: 'email', attempt: 3, fallbackFrom: 'sms' },
  },
  {
    name: 'sent on the third candidate: fallbackFrom is the first that failed',
    outcomes: [contentError, failure('PERMANENT', false), sent(2)],
    want: { kind: 'settle', status: 'sent', channel: 'whatsapp', attempt: 3, fallbackFrom: 'sms' },
  },
  {
    name: 'an unknown outcome settles on that channel: another could send it twice',
    outcomes: [unknown],
    want: {
      kind: 'settle',
      status: 'unknown',
      channel: 'sms',
      attempt: 1,
      reasonCode: 'PROVIDER_OUTCOME_UNKNOWN',
      reasonMessage: 'prov did not answer in time',
    },
  },
  {
    name: 'an unknown outcome after a failure keeps fallbackFrom and counts every call',
    outcomes: [failure('TRANSIENT', true, 2), unknown],
    want: {
      kind: 'settle',
      status: 'unknown',
      channel: 'email',
      attempt: 3,
      fallbackFrom: 'sms',
      reasonCode: 'PROVIDER_OUTCOME_UNKNOWN',
    },
  },
  // ---- caps ----------------------------------------------------------------------------------
  {
    name: 'cap next_channel: skipped CAPPED, then sent on the next channel',
    outcomes: [capped('next_channel'), sent()],
    want: {
      kind: 'settle',
      status: 'sent',
      channel: 'email',
      attempt: 1,
      fallbackFrom: 'sms',
      trace: [['sms', 'skipped', 'CAPPED']],
      details: ['capped by rule daily (next_channel)'],
    },
  },
  {
    name: 'cap defer: waits until the rule frees, keeping the retries spent so far',
    outcomes: [capped('defer', ms(3_600_000))],
    progress: { retries: 2 },
    want: {
      kind: 'defer',
      until: ms(3_600_000),
      deferCode: 'CAPPED',
      why: 'cap rule daily',
      retries: 2,
      trace: [['sms', 'skipped', 'CAPPED']],
    },
  },
  {
    name: 'cap defer whose slot frees at the expiry: capped',
    outcomes: [capped('defer', ms(DAY))],
    want: { kind: 'settle', status: 'capped', attempt: 0, reasonCode: 'CAPPED' },
  },
  {
    name: 'cap "cap": capped at once, later candidates untried, calls so far counted',
    outcomes: [failure('PERMANENT', false, 2), capped('cap')],
    want: {
      kind: 'settle',
      status: 'capped',
      attempt: 2,
      reasonCode: 'CAPPED',
      reasonMessage: 'capped by rule daily (cap)',
      trace: [['email', 'skipped', 'CAPPED']],
    },
  },
  {
    name: 'every candidate capped to the next channel: capped, with the last reason',
    candidates: ['sms', 'email'],
    outcomes: [capped('next_channel'), capped('next_channel')],
    want: {
      kind: 'settle',
      status: 'capped',
      attempt: 0,
      reasonCode: 'CAPPED',
      trace: [
        ['sms', 'skipped', 'CAPPED'],
        ['email', 'skipped', 'CAPPED'],
      ],
    },
  },
  {
    name: 'capped then refused by the spend guard: failed, not capped',
    candidates: ['email', 'sms'],
    outcomes: [capped('next_channel'), spendRefused],
    want: { kind: 'settle', status: 'failed', reasonCode: 'SPEND_COUNTRY_BLOCKED' },
  },
  {
    name: 'capped then a permanent failure: failed with the failure',
    candidates: ['sms', 'email'],
    outcomes: [capped('next_channel'), failure('INVALID_RECIPIENT', false)],
    want: { kind: 'settle', status: 'failed', attempt: 1, reasonCode: 'INVALID_RECIPIENT' },
  },
  // ---- spend guard and content ---------------------------------------------------------------
  {
    name: 'spend refused: the next channel is tried',
    outcomes: [spendRefused, sent()],
    want: { kind: 'settle', status: 'sent', channel: 'email', fallbackFrom: 'sms', trace: [] },
  },
  {
    name: 'spend refused on the only candidate: failed with its reason',
    candidates: ['sms'],
    outcomes: [spendRefused],
    want: {
      kind: 'settle',
      status: 'failed',
      attempt: 0,
      reasonCode: 'SPEND_COUNTRY_BLOCKED',
      reasonMessage: 'country not allowed',
    },
  },
  {
    name: 'a content error on the only candidate: failed, never retried',
    candidates: ['email'],
    outcomes: [contentError],
    want: { kind: 'settle', status: 'failed', reasonCode: 'TEMPLATE_NOT_FOUND' },
  },
  // ---- throttling ----------------------------------------------------------------------------
  {
    name: 'throttled: waits for the slot plus a spread, spends no retry',
    outcomes: [throttled(2000)],
    progress: { retries: 1 },
    random: 0.5,
    randomCalls: 1,
    want: {
      kind: 'defer',
      deferCode: 'THROTTLED',
      until: ms(2500),
      why: "the sms sender's configured send rate",
      retries: 1,
      trace: [],
    },
  },
  {
    name: 'throttled after many deferrals: the spread grows to at most 8 s',
    outcomes: [throttled(1000)],
    progress: { deferrals: 20 },
    random: 0.5,
    randomCalls: 1,
    want: { kind: 'defer', deferCode: 'THROTTLED', until: ms(5000), retries: 0 },
  },
  {
    name: 'throttled with the third deferral: spread up to 3 s',
    outcomes: [throttled(1000)],
    progress: { deferrals: 2 },
    random: 0.25,
    randomCalls: 1,
    want: { kind: 'defer', deferCode: 'THROTTLED', until: ms(1750) },
  },
  {
    name: 'throttled past the expiry: the next channel is tried',
    outcomes: [throttled(2000), sent()],
    expiresAt: ms(2000),
    randomCalls: 1,
    want: { kind: 'settle', status: 'sent', channel: 'email', fallbackFrom: 'sms' },
  },
  {
    name: 'throttled past the expiry on the last candidate: failed THROTTLED, not a retry',
    candidates: ['sms'],
    outcomes: [throttled(2000)],
    expiresAt: ms(2000),
    randomCalls: 1,
    want: { kind: 'settle', status: 'failed', attempt: 0, reasonCode: 'THROTTLED' },
  },
  // ---- provider retries ----------------------------------------------------------------------
  {
    name: 'every provider failed on its side: retry 1 with full jitter',
    candidates: ['sms'],
    outcomes: [failure('TRANSIENT', true, 2)],
    random: 0.5,
    randomCalls: 1,
    want: {
      kind: 'defer',
      deferCode: 'PROVIDER_RETRY',
      until: ms(500),
      why: 'retry 1 after provider failures',
      retries: 1,
      retryOf: 'sms',
      trace: [['sms', 'skipped', 'PROVIDER_RETRY']],
      details: ['every provider failed on its side; retry 1 of 3 in 1 s'],
    },
  },
  {
    name: 'a retry honours the longest Retry-After of any failed channel',
    candidates: ['sms', 'email', 'whatsapp'],
    outcomes: [
      failure('RATE_LIMITED', true, 1, 5000),
      failure('RATE_LIMITED', true, 1, 20_000),
      failure('INVALID_RECIPIENT', false),
    ],
    progress: { retries: 1 },
    random: 0.5,
    randomCalls: 1,
    want: {
      kind: 'defer',
      deferCode: 'PROVIDER_RETRY',
      until: ms(20_000),
      retries: 2,
      retryOf: 'sms',
      details: ['retry 2 of 3 in 20 s'],
    },
  },
  {
    name: 'a retry is counted on the first channel that failed, even a capped one',
    candidates: ['sms', 'email'],
    outcomes: [capped('next_channel'), failure('TRANSIENT', true)],
    randomCalls: 1,
    want: {
      kind: 'defer',
      retryOf: 'sms',
      trace: [
        ['sms', 'skipped', 'CAPPED'],
        ['sms', 'skipped', 'PROVIDER_RETRY'],
      ],
    },
  },
  {
    name: 'retries exhausted: failed with the last reason, saying so',
    candidates: ['sms', 'email'],
    outcomes: [failure('TRANSIENT', true), failure('PERMANENT', false)],
    progress: { retries: 3 },
    want: {
      kind: 'settle',
      status: 'failed',
      attempt: 2,
      reasonCode: 'PERMANENT',
      reasonMessage: 'providers said permanent (retries exhausted)',
      trace: [],
    },
  },
  {
    name: 'retries turned off: failed at once',
    candidates: ['sms'],
    outcomes: [failure('TRANSIENT', true)],
    progress: { retryPolicy: { ...RETRY, maxRetries: 0 } },
    want: {
      kind: 'settle',
      status: 'failed',
      reasonMessage: 'providers said transient (retries exhausted)',
    },
  },
  {
    name: 'a retry that would land past the expiry: failed, saying so',
    candidates: ['sms'],
    outcomes: [failure('TRANSIENT', true)],
    expiresAt: ms(400),
    random: 0.5,
    randomCalls: 1,
    want: {
      kind: 'settle',
      status: 'failed',
      reasonMessage: 'providers said transient (no retry before the message expires)',
    },
  },
  {
    name: 'no failure was retryable: failed with the last reason as it was',
    candidates: ['sms', 'email'],
    outcomes: [failure('PERMANENT', false), failure('CONFIGURATION', false)],
    want: {
      kind: 'settle',
      status: 'failed',
      reasonCode: 'CONFIGURATION',
      reasonMessage: 'providers said configuration',
    },
  },
];

const decisions = (step: FallbackStep): Decision[] =>
  step.trace.map((entry) => [entry.channel, entry.decision, entry.reasonCode ?? '']);

function run(c: Case): {
  last: FallbackStep;
  trace: Decision[];
  details: string[];
  randomCalls: number;
} {
  let randomCalls = 0;
  const random = (): number => {
    randomCalls += 1;
    return c.random ?? 0.5;
  };
  let progress = startFallback({
    candidates: c.candidates ?? ['sms', 'email', 'whatsapp'],
    deferrals: 0,
    retries: 0,
    retryPolicy: RETRY,
    ...c.progress,
    expiresAt: c.expiresAt ?? ms(DAY),
    random,
  });
  const trace: Decision[] = [];
  const details: string[] = [];
  let last: FallbackStep | undefined;
  c.outcomes.forEach((outcome, i) => {
    if (last !== undefined) {
      if (last.kind !== 'next') throw new Error(`step ${i} came after a ${last.kind}`);
      progress = last.progress;
    }
    last = nextStep(progress, { at: NOW, ...outcome });
    for (const entry of last.trace) {
      expect(traceEntrySchema.safeParse(entry).success).toBe(true);
      expect(entry.at).toBe(NOW.toISOString());
      details.push(entry.detail ?? '');
    }
    trace.push(...decisions(last));
  });
  if (last === undefined) throw new Error('a case needs an outcome');
  return { last, trace, details, randomCalls };
}

describe('nextStep', () => {
  it('has at least 25 table cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(25);
  });

  it.each(CASES)('$name', (c) => {
    const { last, trace, details, randomCalls } = run(c);
    const { want } = c;
    expect(last.kind).toBe(want.kind);
    // Randomness only for a throttle spread or a retry's jitter, and passed in.
    expect(randomCalls).toBe(c.randomCalls ?? 0);
    if (want.trace !== undefined) expect(trace).toEqual(want.trace);
    for (const fragment of want.details ?? []) expect(details.join('\n')).toContain(fragment);
    switch (last.kind) {
      case 'next':
        break;
      case 'defer':
        if (want.until !== undefined) expect(last.until).toEqual(want.until);
        if (want.why !== undefined) expect(last.why).toBe(want.why);
        if (want.retries !== undefined) expect(last.retries).toBe(want.retries);
        expect(last.retryOf).toBe(want.retryOf);
        if (want.deferCode !== undefined) expect(last.reasonCode).toBe(want.deferCode);
        break;
      case 'settle':
        expect(last.status).toBe(want.status);
        if (want.attempt !== undefined) expect(last.attempt).toBe(want.attempt);
        if (last.status === 'sent' || last.status === 'unknown') {
          expect(last.channel).toBe(want.channel);
          expect(last.fallbackFrom).toBe(want.fallbackFrom);
        }
        if (last.status !== 'sent') {
          if (want.reasonCode !== undefined) expect(last.reason.code).toBe(want.reasonCode);
          if (want.reasonMessage !== undefined)
            expect(last.reason.message).toBe(want.reasonMessage);
        }
        break;
    }
  });

  it('is pure: the same progress and outcome give the same step, and the progress is not changed', () => {
    const progress = startFallback({
      candidates: ['sms', 'email'],
      deferrals: 0,
      retries: 0,
      retryPolicy: RETRY,
      expiresAt: ms(DAY),
      random: () => 0.5,
    });
    const before = JSON.stringify(progress);
    const outcome: CandidateOutcome = { at: NOW, ...failure('TRANSIENT', true) };
    const first = nextStep(progress, outcome);
    expect(nextStep(progress, outcome)).toEqual(first);
    expect(JSON.stringify(progress)).toBe(before);
  });

  it('needs a candidate to start from', () => {
    expect(() =>
      startFallback({
        candidates: [],
        deferrals: 0,
        retries: 0,
        retryPolicy: RETRY,
        expiresAt: ms(DAY),
        random: () => 0.5,
      }),
    ).toThrow('at least one candidate');
  });
});
