import type { Channel } from '@omnigate/contracts';
import { predictDispatch, type CandidateView } from './dry-run';
import type { CapRule, CapViolation } from './frequency-caps';
import type { PlanResult } from './model';

const NOW = new Date('2026-03-02T10:00:00Z');
const EXPIRES = new Date('2026-03-03T10:00:00Z');

function sendPlan(channels: Channel[]): PlanResult {
  return {
    kind: 'send',
    candidates: channels.map((channel) => ({ channel, address: 'x' })),
    expiresAt: EXPIRES,
    trace: [],
  };
}

function full(
  overCap: CapRule['overCap'],
  retryAt = new Date(NOW.getTime() + 3600_000),
): CapViolation {
  return {
    rule: { id: `rule-${overCap}`, scope: {}, windowSeconds: 86400, limit: 3, overCap },
    count: 3,
    retryAt,
  };
}

function view(channel: Channel, breakers: string[], fullRules: CapViolation[] = []): CandidateView {
  return {
    channel,
    providers: breakers.map((breaker, i) => ({ id: `${channel}-${i}`, breaker })),
    fullRules,
  };
}

describe('predictDispatch', () => {
  it('names the first channel with room and its first provider whose breaker is not open', () => {
    const prediction = predictDispatch(
      sendPlan(['sms', 'email']),
      [view('sms', ['open', 'half-open']), view('email', ['closed'])],
      false,
    );
    expect(prediction).toMatchObject({ outcome: 'send', channel: 'sms', provider: 'sms-1' });
  });

  it('moves past a full next_channel rule and a channel whose breakers are all open', () => {
    const prediction = predictDispatch(
      sendPlan(['sms', 'whatsapp', 'email']),
      [
        view('sms', ['closed'], [full('next_channel')]),
        view('whatsapp', ['open']),
        view('email', ['closed']),
      ],
      false,
    );
    expect(prediction.outcome).toBe('send');
    expect(prediction.channel).toBe('email');
    expect(prediction.steps.map((s) => s.step)).toEqual(['capped', 'breakers_open', 'send']);
    const first = prediction.steps[0];
    expect(first?.step === 'capped' && first.detail).toContain('rule-next_channel');
  });

  it('defers or caps by the full rule’s own action', () => {
    const deferred = predictDispatch(
      sendPlan(['sms']),
      [view('sms', ['closed'], [full('defer')])],
      false,
    );
    expect(deferred).toMatchObject({ outcome: 'defer', until: new Date(NOW.getTime() + 3600_000) });
    const late = new Date(EXPIRES.getTime() + 1);
    const pastTtl = predictDispatch(
      sendPlan(['sms']),
      [view('sms', ['closed'], [full('defer', late)])],
      false,
    );
    expect(pastTtl.outcome).toBe('capped');
    const capped = predictDispatch(
      sendPlan(['sms', 'email']),
      [view('sms', ['closed'], [full('cap')]), view('email', ['closed'])],
      false,
    );
    expect(capped).toMatchObject({ outcome: 'capped', channel: null });
  });

  it('ignores full rules when the send is forced (transactional or an admin override)', () => {
    const forced = predictDispatch(
      sendPlan(['sms']),
      [view('sms', ['closed'], [full('cap')])],
      true,
    );
    expect(forced).toMatchObject({ outcome: 'send', channel: 'sms' });
  });

  it('expects a retry when open breakers were on the way, and capped when only caps were', () => {
    const retry = predictDispatch(
      sendPlan(['sms', 'email']),
      [view('sms', ['open']), view('email', ['closed'], [full('next_channel')])],
      false,
    );
    expect(retry.outcome).toBe('defer');
    const capped = predictDispatch(
      sendPlan(['sms']),
      [view('sms', ['closed'], [full('next_channel')])],
      false,
    );
    expect(capped.outcome).toBe('capped');
  });

  it('passes the planner’s own verdicts through', () => {
    const until = new Date(NOW.getTime() + 7200_000);
    expect(predictDispatch({ kind: 'defer', until, trace: [] }, [], false)).toMatchObject({
      outcome: 'defer',
      until,
    });
    expect(
      predictDispatch({ kind: 'suppress', reasonCode: 'OPTED_OUT', trace: [] }, [], false).outcome,
    ).toBe('suppress');
    expect(predictDispatch({ kind: 'undeliverable', trace: [] }, [], false).outcome).toBe(
      'undeliverable',
    );
  });

  it('passes over a channel the spend guard refuses, even when the caps are forced', () => {
    const refusal = {
      reasonCode: 'SPEND_PREMIUM_RATE',
      reason: 'the spend guard refused sms: the destination is a premium-rate number (GB)',
    };
    const prediction = predictDispatch(
      sendPlan(['sms', 'email']),
      [{ ...view('sms', ['closed']), spendRefusal: refusal }, view('email', ['closed'])],
      true,
    );
    expect(prediction).toMatchObject({ outcome: 'send', channel: 'email' });
    expect(prediction.steps[0]).toEqual({
      channel: 'sms',
      step: 'spend_refused',
      reasonCode: 'SPEND_PREMIUM_RATE',
      detail: refusal.reason,
    });
  });

  it('predicts failed when the spend guard refuses every channel the caps left', () => {
    const refusal = { reasonCode: 'SPEND_DAILY_BUDGET', reason: 'budget' };
    const prediction = predictDispatch(
      sendPlan(['sms', 'whatsapp']),
      [
        view('sms', ['closed'], [full('next_channel')]),
        { ...view('whatsapp', ['closed']), spendRefusal: refusal },
      ],
      false,
    );
    expect(prediction.outcome).toBe('failed');
    expect(prediction.steps.map((s) => s.step)).toEqual(['capped', 'spend_refused']);
  });
});
