/**
 * What every provider fake in the sandbox shares: a record of each request it received, and a
 * failure plan that tests, the demo and the benchmark use to make the provider misbehave.
 */

/** A latency distribution in milliseconds; each request waits a uniform sample in [minMs, maxMs]. */
export interface LatencyRange {
  readonly minMs: number;
  readonly maxMs: number;
}

/** How a provider fake should misbehave. Every field is optional; the default is a healthy provider. */
export interface FailurePlan {
  readonly latency?: LatencyRange;
  /** Fraction 0..1 of requests answered with a 5xx (503 unless `serverErrorStatus` says otherwise). */
  readonly serverErrorRate?: number;
  readonly serverErrorStatus?: number;
  /** Fraction 0..1 of requests answered 429 with a Retry-After header of `retryAfterSeconds`. */
  readonly rateLimitRate?: number;
  readonly retryAfterSeconds?: number;
  /**
   * Vendor errors for chosen recipients: recipient (phone, email, FCM token or push subscription id)
   * → the vendor's own error code as a string (e.g. Twilio "21211", FCM "UNREGISTERED", HTTP "410").
   */
  readonly recipientErrors?: Readonly<Record<string, string>>;
  /** The next N requests fail with this HTTP status, whatever the recipient (then healthy again). */
  readonly failNext?: {
    readonly count: number;
    readonly status: number;
    readonly retryAfterSeconds?: number;
  };
}

/** One request a fake received, as the provider would have seen it. */
export interface RecordedRequest {
  readonly provider: 'twilio' | 'sendgrid' | 'fcm' | 'webpush';
  readonly receivedAt: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The parsed body: form fields for Twilio, JSON for SendGrid and FCM, the decrypted payload for web push. */
  readonly body: unknown;
  /** What the fake answered. */
  readonly status: number;
  /** The provider's message id when it accepted the request. */
  readonly providerMessageId?: string;
  /** The recipient the fake identified (phone, email, token, subscription id). */
  readonly recipient?: string;
}

/** The control surface shared by every fake. */
export interface ProviderFake {
  readonly name: RecordedRequest['provider'];
  /** Base URL the SDK must be pointed at, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  readonly requests: readonly RecordedRequest[];
  setFailurePlan(plan: FailurePlan): void;
  reset(): void;
  close(): Promise<void>;
}
