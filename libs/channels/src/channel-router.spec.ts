import type { Channel } from '@omnigate/contracts';
import type { ChannelAdapter, OutboundMessage, ProviderAcceptance } from './channel-adapter';
import { ChannelError, type ChannelErrorKind } from './channel-error';
import { ChannelRouter, ChannelUnavailableError } from './channel-router';
import { ProtectedAdapter, type BreakerStateChange } from './provider-breaker';

/** A scripted provider: answers each call with the next outcome of its script. */
class ScriptedAdapter implements ChannelAdapter {
  readonly channel: Channel = 'sms';
  calls = 0;
  constructor(
    readonly providerId: string,
    private readonly outcome: () => ChannelErrorKind | 'ok',
  ) {}
  send(): Promise<ProviderAcceptance> {
    this.calls += 1;
    const result = this.outcome();
    if (result === 'ok') {
      return Promise.resolve({
        provider: this.providerId,
        providerMessageId: `${this.providerId}-${this.calls}`,
        acceptedAt: new Date(),
      });
    }
    return Promise.reject(
      new ChannelError(`${this.providerId} says ${result}`, {
        kind: result,
        provider: this.providerId,
        vendorCode: result,
      }),
    );
  }
}

const message: OutboundMessage = {
  messageId: 'm-1',
  customerId: 'c-1',
  channel: 'sms',
  address: '+14155550100',
  content: { text: 'hello' },
  category: 'otp',
  priority: 'high',
};

const settings = {
  timeoutMs: 1000,
  errorThresholdPercentage: 50,
  resetTimeoutMs: 200,
  rollingCountTimeoutMs: 10000,
  volumeThreshold: 4,
};

function router(...adapters: ScriptedAdapter[]): {
  router: ChannelRouter;
  changes: BreakerStateChange[];
  protectedAdapters: ProtectedAdapter[];
} {
  const changes: BreakerStateChange[] = [];
  const protectedAdapters = adapters.map(
    (a) => new ProtectedAdapter(a, settings, (c) => changes.push(c)),
  );
  return {
    router: new ChannelRouter(new Map([['sms', protectedAdapters]])),
    changes,
    protectedAdapters,
  };
}

describe('ChannelRouter', () => {
  it('hands a transient failure to the next provider and names the one that carried it', async () => {
    const primary = new ScriptedAdapter('twilio', () => 'transient');
    const backup = new ScriptedAdapter('twilio-backup', () => 'ok');
    const { router: r, protectedAdapters } = router(primary, backup);
    const routed = await r.send(message);
    expect(routed.acceptance.provider).toBe('twilio-backup');
    expect(routed.attempts.map((a) => [a.provider, a.outcome])).toEqual([
      ['twilio', 'failed'],
      ['twilio-backup', 'accepted'],
    ]);
    await Promise.all(protectedAdapters.map((p) => p.shutdown()));
  });

  it.each(['transient', 'rate_limited', 'configuration'] as const)(
    'fails over on a provider-side %s error',
    async (kind) => {
      const primary = new ScriptedAdapter('twilio', () => kind);
      const backup = new ScriptedAdapter('twilio-backup', () => 'ok');
      const { router: r, protectedAdapters } = router(primary, backup);
      const routed = await r.send(message);
      expect(routed.acceptance.provider).toBe('twilio-backup');
      await Promise.all(protectedAdapters.map((p) => p.shutdown()));
    },
  );

  it('stops at an unknown outcome: the first provider may have sent it already', async () => {
    const primary = new ScriptedAdapter('twilio', () => 'outcome_unknown');
    const backup = new ScriptedAdapter('twilio-backup', () => 'ok');
    const { router: r, protectedAdapters } = router(primary, backup);
    const error = await r.send(message).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChannelUnavailableError);
    expect((error as ChannelUnavailableError).lastError.kind).toBe('outcome_unknown');
    expect(backup.calls).toBe(0);
    await Promise.all(protectedAdapters.map((p) => p.shutdown()));
  });

  it.each(['invalid_recipient', 'recipient_opted_out', 'unreachable_token', 'permanent'] as const)(
    'stops at a %s error: another provider would refuse the message too',
    async (kind) => {
      const primary = new ScriptedAdapter('twilio', () => kind);
      const backup = new ScriptedAdapter('twilio-backup', () => 'ok');
      const { router: r, protectedAdapters } = router(primary, backup);
      await expect(r.send(message)).rejects.toBeInstanceOf(ChannelUnavailableError);
      expect(backup.calls).toBe(0);
      await Promise.all(protectedAdapters.map((p) => p.shutdown()));
    },
  );

  it('opens the breaker after the threshold, skips the provider while open, and closes after a good probe', async () => {
    let healthy = false;
    const primary = new ScriptedAdapter('twilio', () => (healthy ? 'ok' : 'transient'));
    const backup = new ScriptedAdapter('twilio-backup', () => 'ok');
    const { router: r, changes, protectedAdapters } = router(primary, backup);
    for (let i = 0; i < 4; i += 1) await r.send(message);
    expect(protectedAdapters[0]!.state).toBe('open');
    const callsWhenOpened = primary.calls;
    for (let i = 0; i < 5; i += 1) {
      const routed = await r.send(message);
      expect(routed.attempts[0]!.vendorCode).toBe('BREAKER_OPEN');
    }
    expect(primary.calls).toBe(callsWhenOpened);
    healthy = true;
    await new Promise((resolve) => setTimeout(resolve, 250));
    const probe = await r.send(message);
    expect(probe.acceptance.provider).toBe('twilio');
    expect(protectedAdapters[0]!.state).toBe('closed');
    expect(changes.map((c) => `${c.from}->${c.to}`)).toEqual([
      'closed->open',
      'open->half_open',
      'half_open->closed',
    ]);
    await Promise.all(protectedAdapters.map((p) => p.shutdown()));
  });

  it('never opens the breaker on invalid recipients', async () => {
    const primary = new ScriptedAdapter('twilio', () => 'invalid_recipient');
    const { router: r, protectedAdapters } = router(primary);
    for (let i = 0; i < 20; i += 1)
      await expect(r.send(message)).rejects.toBeInstanceOf(ChannelUnavailableError);
    expect(protectedAdapters[0]!.state).toBe('closed');
    expect(primary.calls).toBe(20);
    await Promise.all(protectedAdapters.map((p) => p.shutdown()));
  });

  it('reports when every provider was skipped because its breaker is open', async () => {
    const primary = new ScriptedAdapter('twilio', () => 'transient');
    const { router: r, protectedAdapters } = router(primary);
    for (let i = 0; i < 4; i += 1) await r.send(message).catch(() => undefined);
    const error = await r.send(message).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChannelUnavailableError);
    expect((error as ChannelUnavailableError).allBreakersOpen).toBe(true);
    await Promise.all(protectedAdapters.map((p) => p.shutdown()));
  });
});
