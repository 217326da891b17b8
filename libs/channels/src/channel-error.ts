import { traitsOf, type ChannelErrorKind } from './error-kinds';

export { CHANNEL_ERROR_KINDS, type ChannelErrorKind } from './error-kinds';

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
    return traitsOf(this.kind).retryable;
  }

  /** Upper-snake code carried on receipts, e.g. INVALID_RECIPIENT. */
  get code(): string {
    return this.kind.toUpperCase();
  }
}
