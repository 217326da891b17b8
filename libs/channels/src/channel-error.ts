/**
 * One error taxonomy for every provider. Adapters translate vendor codes into these kinds; the
 * dispatch service decides what each kind means (retry, next provider, next channel, stop).
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

const RETRYABLE: ReadonlySet<ChannelErrorKind> = new Set(['transient', 'rate_limited']);

export interface ChannelErrorDetails {
  readonly kind: ChannelErrorKind;
  readonly provider: string;
  readonly vendorCode?: string;
  readonly retryAfterMs?: number;
  readonly cause?: unknown;
}

export class ChannelError extends Error {
  readonly kind: ChannelErrorKind;
  readonly provider: string;
  readonly vendorCode: string | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, details: ChannelErrorDetails) {
    super(message, { cause: details.cause });
    this.name = 'ChannelError';
    this.kind = details.kind;
    this.provider = details.provider;
    this.vendorCode = details.vendorCode;
    this.retryAfterMs = details.retryAfterMs;
  }

  /** Whether the same provider may succeed if asked again later. */
  get retryable(): boolean {
    return RETRYABLE.has(this.kind);
  }

  /** Upper-snake code carried on receipts, e.g. INVALID_RECIPIENT. */
  get code(): string {
    return this.kind.toUpperCase();
  }
}
