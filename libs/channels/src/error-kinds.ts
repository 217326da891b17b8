/**
 * One error taxonomy for every provider, and what each kind means, in one table. Adapters
 * translate vendor codes into these kinds; the router (fail over or stop), the breaker (count the
 * failure or not), ChannelError.retryable and the dispatch service read the traits here rather
 * than keeping lists of their own.
 */
export const CHANNEL_ERROR_KINDS = [
  'transient',
  'rate_limited',
  'permanent',
  'invalid_recipient',
  'recipient_opted_out',
  'unreachable_token',
  'configuration',
  // The request may have reached the provider (timeout or connection lost after sending): sending
  // again, on any provider or channel, could deliver the message twice.
  'outcome_unknown',
] as const;
export type ChannelErrorKind = (typeof CHANNEL_ERROR_KINDS)[number];

export interface ErrorKindTraits {
  /** The same provider may succeed if asked again later: the message is worth a retry. */
  readonly retryable: boolean;
  /** The provider's problem, not the message's: the router hands it to the channel's next provider. */
  readonly providerSide: boolean;
  /**
   * Counts as a failure in the provider's circuit breaker. A fault of the message never does, or
   * one bad phone number could take a healthy provider out of service.
   */
  readonly countsAgainstBreaker: boolean;
  /** The provider may have taken the message: sending it again anywhere could send it twice. */
  readonly mayHaveSent: boolean;
}

export const ERROR_KIND_TRAITS = {
  // Down, overloaded, a network error before the request left, a breaker that is open.
  transient: {
    retryable: true,
    providerSide: true,
    countsAgainstBreaker: true,
    mayHaveSent: false,
  },
  // The provider said slow down (429) or our send rate for it is full.
  rate_limited: {
    retryable: true,
    providerSide: true,
    countsAgainstBreaker: true,
    mayHaveSent: false,
  },
  // The provider refused this message for good; another provider would too.
  permanent: {
    retryable: false,
    providerSide: false,
    countsAgainstBreaker: false,
    mayHaveSent: false,
  },
  invalid_recipient: {
    retryable: false,
    providerSide: false,
    countsAgainstBreaker: false,
    mayHaveSent: false,
  },
  recipient_opted_out: {
    retryable: false,
    providerSide: false,
    countsAgainstBreaker: false,
    mayHaveSent: false,
  },
  unreachable_token: {
    retryable: false,
    providerSide: false,
    countsAgainstBreaker: false,
    mayHaveSent: false,
  },
  // Bad credentials, a sender this account may not use: another provider may be set up right.
  configuration: {
    retryable: false,
    providerSide: true,
    countsAgainstBreaker: true,
    mayHaveSent: false,
  },
  // A timeout or a lost connection after sending: it counts against the provider, yet trying
  // another one (or again later) could deliver the message twice.
  outcome_unknown: {
    retryable: false,
    providerSide: false,
    countsAgainstBreaker: true,
    mayHaveSent: true,
  },
} as const satisfies Record<ChannelErrorKind, ErrorKindTraits>;

export function traitsOf(kind: ChannelErrorKind): ErrorKindTraits {
  return ERROR_KIND_TRAITS[kind];
}
