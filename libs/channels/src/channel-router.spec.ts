import type { Channel } from '@omnigate/contracts';
import { FakeSendGrid } from '@omnigate/sandbox';
import { SendGridEmailAdapter } from './adapters/sendgrid-email.adapter';
import type { ChannelAdapter, OutboundMessage, ProviderAcceptance } from './channel-adapter';
import { ChannelError, type ChannelErrorKind } from './channel-error';
import {
  ChannelRouter,
  ChannelUnavailableError,
  type AttemptObserver,
  type ProviderAttempt,
} from './channel-router';
import { ProtectedAdapter, type BreakerStateChange } from './provider-breaker';
import type { GrantedPermit, SendPermit, SendPermits } from './send-permits';
import { rejectionOf } from '../../../test/support/rejections';

/** A scripted provider: answers each call with the next outcome of its script. */
class ScriptedAdapter implements ChannelAdapter {
  readonly channel: Channel = 'sms';
  calls = 0;
  constructor(
    readonly providerId: string,
    private readonly outcome: () => ChannelErrorKind | 'ok',
    /** Shared with an observer, to check what ran in which order. */
    private readonly events: string[] = [],
  ) {}
  send(): Promise<ProviderAcceptance> {
    this.calls += 1;
    this.events.push(`send ${this.providerId}`);
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
  return limitedRouter(undefined, ...adapters);
}

function limitedRouter(
  permits: SendPermits | undefined,
  ...adapters: ScriptedAdapter[]
): {
  router: ChannelRouter;
  changes: BreakerStateChange[];
  protectedAdapters: ProtectedAdapter[];
} {
  const changes: BreakerStateChange[] = [];
  const protectedAdapters = adapters.map(
    (a) => new ProtectedAdapter(a, settings, (c) => changes.push(c)),
  );
  return {
    router: new ChannelRouter(new Map([['sms', protectedAdapters]]), { permits }),
    changes,
    protectedAdapters,
  };
}

/**
 * Permits answered from tables: a provider listed in `waits` is refused; others are granted, and
 * their renewal is refused when listed in `lapsed`.
 */
class TablePermits implements SendPermits {
  readonly asked: string[] = [];
  constructor(
    private readonly waits: Readonly<Record<string, number>>,
    private readonly events: string[] = [],
    private readonly options: {
      lapsed?: Readonly<Record<string, number>>;
      completion?: () => Promise<void>;
    } = {},
  ) {}
  acquire(providerId: string): Promise<SendPermit> {
    this.asked.push(providerId);
    this.events.push(`permit ${providerId}`);
    return Promise.resolve(answer(providerId, this.waits[providerId]));
  }
  renew(providerId: string, permit: GrantedPermit): Promise<SendPermit> {
    this.events.push(`renew ${permit.id}`);
    return Promise.resolve(answer(providerId, this.options.lapsed?.[providerId]));
  }
  complete(_providerId: string, permit: GrantedPermit): Promise<void> {
    this.events.push(`complete ${permit.id}`);
    return this.options.completion?.() ?? Promise.resolve();
  }
}

function answer(providerId: string, wait: number | undefined): SendPermit {
  if (wait !== undefined) return { granted: false, retryAfterMs: wait };
  return { granted: true, id: `${providerId}-grant`, askedAt: 0 };
}

/** Records every hook call in a shared event list; can be told to fail. */
class RecordingObserver implements AttemptObserver {
  readonly seen: Array<{ providerId: string; attempt: ProviderAttempt; accepted: boolean }> = [];
  constructor(
    private readonly events: string[],
    private readonly failing: { before?: string; after?: string } = {},
  ) {}
  beforeCall(providerId: string): Promise<void> {
    this.events.push(`before ${providerId}`);
    if (this.failing.before === providerId) return Promise.reject(new Error('database is down'));
    return Promise.resolve();
  }
  afterCall(
    providerId: string,
    attempt: ProviderAttempt,
    acceptance?: ProviderAcceptance,
  ): Promise<void> {
    this.events.push(`after ${providerId} ${attempt.outcome}`);
    this.seen.push({ providerId, attempt, accepted: acceptance !== undefined });
    if (this.failing.after === providerId) return Promise.reject(new Error('database is down'));
    return Promise.resolve();
  }
}

const rejection = (promise: Promise<unknown>) => rejectionOf(promise, ChannelUnavailableError);

async function openBreaker(r: ChannelRouter, adapter: ProtectedAdapter): Promise<void> {
  for (let i = 0; i < settings.volumeThreshold && adapter.state !== 'open'; i += 1) {
    await r.send(message).catch(() => undefined);
  }
  if (adapter.state !== 'open') throw new Error('breaker did not open');
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

describe('ChannelRouter with send permits', () => {
  it('skips a provider at its send rate without calling it and fails over to the next', async () => {
    const primary = new ScriptedAdapter('twilio', () => 'ok');
    const backup = new ScriptedAdapter('twilio_backup', () => 'ok');
    const permits = new TablePermits({ twilio: 180 });
    const { router: r, protectedAdapters } = limitedRouter(permits, primary, backup);
    const routed = await r.send(message);
    expect(routed.acceptance.provider).toBe('twilio_backup');
    expect(primary.calls).toBe(0);
    expect(routed.attempts[0]).toEqual({
      provider: 'twilio',
      outcome: 'failed',
      errorKind: 'rate_limited',
      vendorCode: 'LOCAL_RATE_LIMIT',
      detail: 'twilio is at its configured send rate; retry in 180 ms',
    });
    expect(permits.asked).toEqual(['twilio', 'twilio_backup']);
    await Promise.all(protectedAdapters.map((p) => p.shutdown()));
  });

  it('takes a permit only for the providers it calls', async () => {
    const primary = new ScriptedAdapter('twilio', () => 'ok');
    const backup = new ScriptedAdapter('twilio_backup', () => 'ok');
    const permits = new TablePermits({});
    const { router: r, protectedAdapters } = limitedRouter(permits, primary, backup);
    await r.send(message);
    expect(permits.asked).toEqual(['twilio']);
    await Promise.all(protectedAdapters.map((p) => p.shutdown()));
  });

  it('when every provider is throttled: a retryable rate_limited error with the smallest wait, and throttledOnly', async () => {
    const primary = new ScriptedAdapter('twilio', () => 'ok');
    const backup = new ScriptedAdapter('twilio_backup', () => 'ok');
    const permits = new TablePermits({ twilio: 700, twilio_backup: 250 });
    const { router: r, protectedAdapters } = limitedRouter(permits, primary, backup);
    const error = await rejection(r.send(message));
    expect(error.throttledOnly).toBe(true);
    expect(error.allBreakersOpen).toBe(false);
    expect(error.lastError).toBeInstanceOf(ChannelError);
    expect(error.lastError).toMatchObject({
      kind: 'rate_limited',
      provider: 'twilio_backup',
      vendorCode: 'LOCAL_RATE_LIMIT',
      retryAfterMs: 250,
    });
    expect(error.lastError.retryable).toBe(true);
    expect(error.attempts.map((a) => a.vendorCode)).toEqual([
      'LOCAL_RATE_LIMIT',
      'LOCAL_RATE_LIMIT',
    ]);
    expect(primary.calls + backup.calls).toBe(0);
    await Promise.all(protectedAdapters.map((p) => p.shutdown()));
  });

  it('counts an open breaker beside a throttled provider as throttled only, without spending a permit on it', async () => {
    const primary = new ScriptedAdapter('twilio', () => 'transient');
    const backup = new ScriptedAdapter('twilio_backup', () => 'ok');
    // The backup is throttled from the start, so only the primary is ever called.
    const permits = new TablePermits({ twilio_backup: 400 });
    const { router: r, protectedAdapters } = limitedRouter(permits, primary, backup);
    await openBreaker(r, protectedAdapters[0]!);
    permits.asked.length = 0;

    const error = await rejection(r.send(message));
    expect(error.attempts.map((a) => [a.provider, a.vendorCode])).toEqual([
      ['twilio', 'BREAKER_OPEN'],
      ['twilio_backup', 'LOCAL_RATE_LIMIT'],
    ]);
    expect(error.throttledOnly).toBe(true);
    expect(error.allBreakersOpen).toBe(false);
    expect(error.lastError).toMatchObject({ kind: 'rate_limited', retryAfterMs: 400 });
    expect(permits.asked).toEqual(['twilio_backup']);
    await Promise.all(protectedAdapters.map((p) => p.shutdown()));
  });

  it('is not throttled only once a provider was actually asked', async () => {
    const primary = new ScriptedAdapter('twilio', () => 'transient');
    const backup = new ScriptedAdapter('twilio_backup', () => 'ok');
    const permits = new TablePermits({ twilio_backup: 400 });
    const { router: r, protectedAdapters } = limitedRouter(permits, primary, backup);
    const error = await rejection(r.send(message));
    expect(error.throttledOnly).toBe(false);
    // The last word is the local refusal, like any rate-limited provider ending the channel.
    expect(error.lastError).toMatchObject({ kind: 'rate_limited', retryAfterMs: 400 });
    expect(primary.calls).toBe(1);
    await Promise.all(protectedAdapters.map((p) => p.shutdown()));
  });

  it('is not throttled only when a later provider refuses the message itself', async () => {
    const primary = new ScriptedAdapter('twilio', () => 'ok');
    const backup = new ScriptedAdapter('twilio_backup', () => 'invalid_recipient');
    const { router: r, protectedAdapters } = limitedRouter(
      new TablePermits({ twilio: 100 }),
      primary,
      backup,
    );
    const error = await rejection(r.send(message));
    expect(error.throttledOnly).toBe(false);
    expect(error.lastError.kind).toBe('invalid_recipient');
    await Promise.all(protectedAdapters.map((p) => p.shutdown()));
  });

  it('is not throttled only when every breaker is open and nothing was throttled', async () => {
    const primary = new ScriptedAdapter('twilio', () => 'transient');
    const { router: r, protectedAdapters } = limitedRouter(new TablePermits({}), primary);
    await openBreaker(r, protectedAdapters[0]!);
    const error = await rejection(r.send(message));
    expect(error.allBreakersOpen).toBe(true);
    expect(error.throttledOnly).toBe(false);
    await Promise.all(protectedAdapters.map((p) => p.shutdown()));
  });

  it('tells the store when a call ended, whether the provider accepted or failed', async () => {
    const events: string[] = [];
    const primary = new ScriptedAdapter('twilio', () => 'transient', events);
    const backup = new ScriptedAdapter('twilio_backup', () => 'ok', events);
    const permits = new TablePermits({}, events);
    const { router: r, protectedAdapters } = limitedRouter(permits, primary, backup);
    await r.send(message);
    expect(events).toEqual([
      'permit twilio',
      'renew twilio-grant',
      'send twilio',
      'complete twilio-grant',
      'permit twilio_backup',
      'renew twilio_backup-grant',
      'send twilio_backup',
      'complete twilio_backup-grant',
    ]);
    await Promise.all(protectedAdapters.map((p) => p.shutdown()));
  });

  it('keeps an accepted send when recording its completion fails: failing now could send it twice', async () => {
    const primary = new ScriptedAdapter('twilio', () => 'ok');
    const permits = new TablePermits({}, [], {
      completion: () => Promise.reject(new Error('Redis went away')),
    });
    const { router: r, protectedAdapters } = limitedRouter(permits, primary);
    const routed = await r.send(message);
    expect(routed.acceptance.provider).toBe('twilio');
    await Promise.all(protectedAdapters.map((p) => p.shutdown()));
  });

  it('lets a failing permit store fail the send before any provider is called', async () => {
    const primary = new ScriptedAdapter('twilio', () => 'ok');
    const permits: SendPermits = {
      acquire: () => Promise.reject(new Error('Redis is not reachable')),
      renew: () => Promise.reject(new Error('not expected')),
      complete: () => Promise.reject(new Error('not expected')),
    };
    const { router: r, protectedAdapters } = limitedRouter(permits, primary);
    await expect(r.send(message)).rejects.toThrow('Redis is not reachable');
    expect(primary.calls).toBe(0);
    await Promise.all(protectedAdapters.map((p) => p.shutdown()));
  });
});

describe('ChannelRouter attempt observer', () => {
  it('runs beforeCall right before each provider call and afterCall right after, after the permit', async () => {
    const events: string[] = [];
    const primary = new ScriptedAdapter('twilio', () => 'transient', events);
    const backup = new ScriptedAdapter('twilio_backup', () => 'ok', events);
    const observer = new RecordingObserver(events);
    const { router: r, protectedAdapters } = limitedRouter(
      new TablePermits({}, events),
      primary,
      backup,
    );
    const routed = await r.send(message, observer);
    expect(events).toEqual([
      'permit twilio',
      'before twilio',
      'renew twilio-grant',
      'send twilio',
      'complete twilio-grant',
      'after twilio failed',
      'permit twilio_backup',
      'before twilio_backup',
      'renew twilio_backup-grant',
      'send twilio_backup',
      'complete twilio_backup-grant',
      'after twilio_backup accepted',
    ]);
    // afterCall sees the attempts exactly as the result reports them, and the acceptance.
    expect(observer.seen.map((s) => s.attempt)).toEqual(routed.attempts);
    expect(observer.seen.map((s) => s.accepted)).toEqual([false, true]);
    await Promise.all(protectedAdapters.map((p) => p.shutdown()));
  });

  it('is not told about a provider skipped by its send rate', async () => {
    const events: string[] = [];
    const primary = new ScriptedAdapter('twilio', () => 'ok', events);
    const backup = new ScriptedAdapter('twilio_backup', () => 'ok', events);
    const { router: r, protectedAdapters } = limitedRouter(
      new TablePermits({ twilio: 50 }),
      primary,
      backup,
    );
    await r.send(message, new RecordingObserver(events));
    expect(events).toEqual([
      'before twilio_backup',
      'send twilio_backup',
      'after twilio_backup accepted',
    ]);
    await Promise.all(protectedAdapters.map((p) => p.shutdown()));
  });

  it('does not call a provider whose permit lapsed while beforeCall held it up, and says so in afterCall', async () => {
    const events: string[] = [];
    const primary = new ScriptedAdapter('twilio', () => 'ok', events);
    const backup = new ScriptedAdapter('twilio_backup', () => 'ok', events);
    const permits = new TablePermits({}, events, { lapsed: { twilio: 90 } });
    const { router: r, protectedAdapters } = limitedRouter(permits, primary, backup);
    const observer = new RecordingObserver(events);
    const routed = await r.send(message, observer);
    expect(events).toEqual([
      'permit twilio',
      'before twilio',
      'renew twilio-grant',
      'after twilio failed',
      'permit twilio_backup',
      'before twilio_backup',
      'renew twilio_backup-grant',
      'send twilio_backup',
      'complete twilio_backup-grant',
      'after twilio_backup accepted',
    ]);
    expect(primary.calls).toBe(0);
    expect(routed.attempts[0]).toMatchObject({
      provider: 'twilio',
      vendorCode: 'LOCAL_RATE_LIMIT',
      detail: 'twilio is at its configured send rate; retry in 90 ms',
    });
    expect(observer.seen[0]!.attempt).toEqual(routed.attempts[0]);
    await Promise.all(protectedAdapters.map((p) => p.shutdown()));
  });

  it('counts a lapsed permit as throttled only: no provider request was made', async () => {
    const primary = new ScriptedAdapter('twilio', () => 'ok');
    const permits = new TablePermits({}, [], { lapsed: { twilio: 90 } });
    const { router: r, protectedAdapters } = limitedRouter(permits, primary);
    const error = await rejection(r.send(message, new RecordingObserver([])));
    expect(error.throttledOnly).toBe(true);
    expect(error.lastError).toMatchObject({ kind: 'rate_limited', retryAfterMs: 90 });
    expect(primary.calls).toBe(0);
    await Promise.all(protectedAdapters.map((p) => p.shutdown()));
  });

  it('calls no provider when beforeCall throws, and lets the error through', async () => {
    const events: string[] = [];
    const primary = new ScriptedAdapter('twilio', () => 'ok', events);
    const backup = new ScriptedAdapter('twilio_backup', () => 'ok', events);
    const { router: r, protectedAdapters } = router(primary, backup);
    const observer = new RecordingObserver(events, { before: 'twilio' });
    await expect(r.send(message, observer)).rejects.toThrow('database is down');
    expect(events).toEqual(['before twilio']);
    expect(primary.calls + backup.calls).toBe(0);
    await Promise.all(protectedAdapters.map((p) => p.shutdown()));
  });

  it('lets an afterCall error through even after the provider accepted', async () => {
    const events: string[] = [];
    const primary = new ScriptedAdapter('twilio', () => 'ok', events);
    const { router: r, protectedAdapters } = router(primary);
    const observer = new RecordingObserver(events, { after: 'twilio' });
    await expect(r.send(message, observer)).rejects.toThrow('database is down');
    expect(primary.calls).toBe(1);
    await Promise.all(protectedAdapters.map((p) => p.shutdown()));
  });

  it('sees a BREAKER_OPEN refusal as a call, since the breaker answers for the provider', async () => {
    const events: string[] = [];
    const primary = new ScriptedAdapter('twilio', () => 'transient', events);
    const { router: r, protectedAdapters } = router(primary);
    await openBreaker(r, protectedAdapters[0]!);
    events.length = 0;
    const observer = new RecordingObserver(events);
    await rejection(r.send(message, observer));
    expect(events).toEqual(['before twilio', 'after twilio failed']);
    expect(observer.seen[0]!.attempt.vendorCode).toBe('BREAKER_OPEN');
    await Promise.all(protectedAdapters.map((p) => p.shutdown()));
  });
});

describe('ChannelRouter calls in flight (PROVIDER_<ID>_MAX_IN_FLIGHT)', () => {
  const email: OutboundMessage = {
    ...message,
    channel: 'email',
    address: 'ana@example.com',
    content: { subject: 'Shipped', text: 'On its way' },
  };
  let fake: FakeSendGrid;
  const routers: ChannelRouter[] = [];

  beforeAll(async () => {
    fake = await new FakeSendGrid({
      apiKeys: ['SG.test-key.abcdef'],
      failurePlan: { latency: { minMs: 100, maxMs: 100 } },
    }).listen();
  });
  afterEach(async () => {
    fake.reset();
    await Promise.all(routers.splice(0).map((r) => r.shutdown()));
  });
  afterAll(() => fake.close());

  /** A SendGrid provider whose pool alone would let every send through at once. */
  function sendGridRouter(maxInFlight?: ReadonlyMap<string, number>): ChannelRouter {
    const adapter = new SendGridEmailAdapter({
      providerId: 'sendgrid',
      apiKey: 'SG.test-key.abcdef',
      fromEmail: 'noreply@shop.example',
      baseUrl: fake.url,
      requestTimeoutMs: 2_000,
      maxSockets: 256,
    });
    const built = new ChannelRouter(
      new Map([['email', [new ProtectedAdapter(adapter, settings, () => undefined)]]]),
      maxInFlight ? { maxInFlight } : {},
    );
    routers.push(built);
    return built;
  }

  it('with a limit of 2, five concurrent sends to a slow provider have at most 2 requests in flight', async () => {
    const limited = sendGridRouter(new Map([['sendgrid', 2]]));
    let peakSeenByRouter = 0;
    const sends = Array.from({ length: 5 }, async () => {
      const sent = limited.send(email);
      peakSeenByRouter = Math.max(peakSeenByRouter, limited.callsInFlight().sendgrid ?? 0);
      return sent;
    });

    const results = await Promise.all(sends);

    expect(results.map((r) => r.attempts.map((a) => a.outcome))).toEqual(
      Array.from({ length: 5 }, () => ['accepted']),
    );
    expect(fake.requests).toHaveLength(5);
    expect(fake.peakInFlight).toBe(2);
    expect(peakSeenByRouter).toBeLessThanOrEqual(2);
    expect(limited.callsInFlight()).toEqual({ sendgrid: 0 });
  });

  it('without a limit the same five are all in flight at once', async () => {
    const unlimited = sendGridRouter();

    await Promise.all(Array.from({ length: 5 }, () => unlimited.send(email)));

    expect(fake.peakInFlight).toBe(5);
  });

  it('frees the slot of a call that failed', async () => {
    fake.setFailurePlan({ failNext: { count: 1, status: 503 } });
    const limited = sendGridRouter(new Map([['sendgrid', 1]]));

    await expect(limited.send(email)).rejects.toBeInstanceOf(ChannelUnavailableError);
    const after = await limited.send(email);

    expect(after.attempts.map((a) => a.outcome)).toEqual(['accepted']);
    expect(limited.callsInFlight()).toEqual({ sendgrid: 0 });
  });

  it('frees the slot when the renewal finds the window full', async () => {
    const events: string[] = [];
    const twilio = new ScriptedAdapter('twilio', () => 'ok', events);
    const permits = new TablePermits({}, events, { lapsed: { twilio: 90 } });
    const protectedTwilio = new ProtectedAdapter(twilio, settings, () => undefined);
    const limited = new ChannelRouter(new Map([['sms', [protectedTwilio]]]), {
      permits,
      maxInFlight: new Map([['twilio', 1]]),
    });

    for (let i = 0; i < 2; i += 1) {
      const error = await limited.send(message).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ChannelUnavailableError);
      expect((error as ChannelUnavailableError).throttledOnly).toBe(true);
    }

    expect(twilio.calls).toBe(0);
    expect(events).toEqual([
      'permit twilio',
      'renew twilio-grant',
      'permit twilio',
      'renew twilio-grant',
    ]);
    expect(limited.callsInFlight()).toEqual({ twilio: 0 });
    await protectedTwilio.shutdown();
  });
});
