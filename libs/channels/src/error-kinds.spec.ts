import type { Channel } from '@omnigate/contracts';
import type { ChannelAdapter, OutboundMessage, ProviderAcceptance } from './channel-adapter';
import { ChannelError } from './channel-error';
import { ChannelRouter, ChannelUnavailableError } from './channel-router';
import {
  CHANNEL_ERROR_KINDS,
  ERROR_KIND_TRAITS,
  traitsOf,
  type ChannelErrorKind,
  type ErrorKindTraits,
} from './error-kinds';
import { ProtectedAdapter } from './provider-breaker';

// The table restated row by row: changing what a kind means must change this spec too.
const rows: ReadonlyArray<
  [
    ChannelErrorKind,
    retryable: boolean,
    providerSide: boolean,
    countsAgainstBreaker: boolean,
    mayHaveSent: boolean,
  ]
> = [
  ['transient', true, true, true, false],
  ['rate_limited', true, true, true, false],
  ['permanent', false, false, false, false],
  ['invalid_recipient', false, false, false, false],
  ['recipient_opted_out', false, false, false, false],
  ['unreachable_token', false, false, false, false],
  ['configuration', false, true, true, false],
  ['outcome_unknown', false, false, true, true],
];

/** A provider that fails every call with one kind, or accepts every call. */
class OneAnswerAdapter implements ChannelAdapter {
  readonly channel: Channel = 'sms';
  calls = 0;
  constructor(
    readonly providerId: string,
    private readonly kind: ChannelErrorKind | 'ok',
  ) {}
  send(): Promise<ProviderAcceptance> {
    this.calls += 1;
    if (this.kind === 'ok') {
      return Promise.resolve({
        provider: this.providerId,
        providerMessageId: `${this.providerId}-${this.calls}`,
        acceptedAt: new Date(),
      });
    }
    return Promise.reject(
      new ChannelError(`${this.providerId} says ${this.kind}`, {
        kind: this.kind,
        provider: this.providerId,
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

// One counted failure is enough to open these breakers.
const touchy = {
  timeoutMs: 1000,
  errorThresholdPercentage: 1,
  resetTimeoutMs: 60_000,
  rollingCountTimeoutMs: 10_000,
  volumeThreshold: 1,
};

describe('error kind traits', () => {
  it('has one row for every kind and no other', () => {
    expect(Object.keys(ERROR_KIND_TRAITS).sort()).toEqual([...CHANNEL_ERROR_KINDS].sort());
    expect(rows.map(([kind]) => kind).sort()).toEqual([...CHANNEL_ERROR_KINDS].sort());
  });

  it.each(rows)(
    '%s: retryable %s, provider-side %s, counts against the breaker %s, may have sent %s',
    (kind, retryable, providerSide, countsAgainstBreaker, mayHaveSent) => {
      const expected: ErrorKindTraits = {
        retryable,
        providerSide,
        countsAgainstBreaker,
        mayHaveSent,
      };
      expect(traitsOf(kind)).toEqual(expected);
    },
  );
});

describe.each(CHANNEL_ERROR_KINDS)('the consumers of the table read it for %s', (kind) => {
  const traits = traitsOf(kind);

  it(`ChannelError.retryable is ${traits.retryable}`, () => {
    const error = new ChannelError('x', { kind, provider: 'p' });
    expect(error.retryable).toBe(traits.retryable);
  });

  it(`the router ${traits.providerSide ? 'fails over to the next provider' : 'stops at the first provider'}`, async () => {
    const primary = new OneAnswerAdapter('primary', kind);
    const backup = new OneAnswerAdapter('backup', 'ok');
    const adapters = [primary, backup].map((a) => new ProtectedAdapter(a, touchy, () => undefined));
    const router = new ChannelRouter(new Map([['sms', adapters]]));
    try {
      const sent = await router.send(message).then(
        (routed) => routed.acceptance.provider,
        (error: unknown) => error,
      );
      if (traits.providerSide) {
        expect(sent).toBe('backup');
      } else {
        expect(sent).toBeInstanceOf(ChannelUnavailableError);
        expect((sent as ChannelUnavailableError).lastError.kind).toBe(kind);
        expect(backup.calls).toBe(0);
      }
    } finally {
      await Promise.all(adapters.map((a) => a.shutdown()));
    }
  });

  it(`the breaker ${traits.countsAgainstBreaker ? 'counts' : 'does not count'} the failure`, async () => {
    const adapter = new ProtectedAdapter(new OneAnswerAdapter('p', kind), touchy, () => undefined);
    try {
      await expect(adapter.send(message)).rejects.toMatchObject({ kind });
      expect(adapter.state).toBe(traits.countsAgainstBreaker ? 'open' : 'closed');
    } finally {
      await adapter.shutdown();
    }
  });
});
