import { setTimeout as delay } from 'node:timers/promises';

/**
 * The providers' outbound half: status callbacks, event batches, inbound messages and push acks
 * that a fake posts to the gateway after (or apart from) answering it. Each post is retried with
 * backoff while the gateway answers non-2xx or cannot be reached, and every post is recorded with
 * each attempt's answer, so a test can see what was sent and what the gateway said.
 */

/** Maps the URL a provider was given (the gateway's public URL) to the address it connects to. */
export type WebhookRoute = (url: URL) => URL;

export interface WebhookDeliveryOptions {
  /** The ingress in front of the gateway; without one, the URL is called as it is. */
  readonly route?: WebhookRoute;
  /** Attempts per post, the first included; default 4. */
  readonly maxAttempts?: number;
  /** Wait before the second attempt, doubled before each further one; default 200 ms. */
  readonly backoffMs?: number;
  /** One attempt's limit; default 5 s (Twilio gives up after 15 s). */
  readonly timeoutMs?: number;
  /** Oldest posts are forgotten beyond this many; default 10 000. */
  readonly maxRecordedPosts?: number;
}

export type WebhookKind = 'status-callback' | 'inbound-message' | 'event-batch' | 'push-ack';

export interface WebhookAttempt {
  readonly at: string;
  /** The HTTP status the gateway answered; absent when the connection failed. */
  readonly status?: number;
  readonly error?: string;
}

/** One webhook the fake posted, with every attempt it took. */
export interface WebhookPost {
  readonly kind: WebhookKind;
  /** The URL as the provider addressed (and, for Twilio, signed) it. */
  readonly url: string;
  /** Where the request actually went (after the ingress route). */
  readonly deliveredTo: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly attempts: readonly WebhookAttempt[];
  /** The last answer's status; undefined when no attempt got an answer. */
  readonly status: number | undefined;
  readonly responseBody: string;
  /** A 2xx answer arrived. */
  readonly ok: boolean;
}

const DEFAULT_MAX_ATTEMPTS = 4;
const DEFAULT_BACKOFF_MS = 200;
const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_MAX_RECORDED_POSTS = 10_000;

/**
 * An ingress that forwards the gateway's public base URL (e.g. https://omnigate.example.com) to
 * where the gateway listens (e.g. http://127.0.0.1:8080), keeping path and query. Other URLs are
 * called as they are.
 */
export function webhookIngress(publicBaseUrl: string, gatewayUrl: string): WebhookRoute {
  const publicBase = publicBaseUrl.replace(/\/+$/, '');
  const target = gatewayUrl.replace(/\/+$/, '');
  return (url) => {
    const text = url.toString();
    return text === publicBase || text.startsWith(`${publicBase}/`)
      ? new URL(`${target}${text.slice(publicBase.length)}`)
      : url;
  };
}

export class WebhookSender {
  private readonly maxAttempts: number;
  private readonly backoffMs: number;
  private readonly timeoutMs: number;
  private readonly maxRecordedPosts: number;
  private readonly recorded: WebhookPost[] = [];
  private readonly tasks = new Set<Promise<void>>();
  private route: WebhookRoute | undefined;
  private abort = new AbortController();

  constructor(options: WebhookDeliveryOptions = {}) {
    this.route = options.route;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    this.backoffMs = options.backoffMs ?? DEFAULT_BACKOFF_MS;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxRecordedPosts = options.maxRecordedPosts ?? DEFAULT_MAX_RECORDED_POSTS;
  }

  /** Every post so far, oldest first. */
  get posts(): readonly WebhookPost[] {
    return this.recorded;
  }

  /** Posts still waiting for their delay, a retry or an answer. */
  get pending(): number {
    return this.tasks.size;
  }

  setRoute(route: WebhookRoute | undefined): void {
    this.route = route;
  }

  /**
   * Runs `work` in the background after `delayMs`, tracked so idle() can wait for it and reset()
   * or close() can cancel it. A failure other than cancellation is kept as a post-less error.
   */
  later(delayMs: number, work: (signal: AbortSignal) => Promise<void>): void {
    const signal = this.abort.signal;
    const task = (async () => {
      try {
        await delay(delayMs, undefined, { signal });
        await work(signal);
      } catch (error) {
        if (!signal.aborted) throw error;
      }
    })();
    const tracked = task.finally(() => this.tasks.delete(tracked));
    // A fake's bug must not crash the test process as an unhandled rejection; idle() rethrows it.
    tracked.catch(() => undefined);
    this.tasks.add(tracked);
  }

  /** Waits for `ms` unless the sender is reset or closed meanwhile (then it throws AbortError). */
  async pause(ms: number, signal: AbortSignal): Promise<void> {
    await delay(ms, undefined, { signal });
  }

  /** Posts now (retrying as configured) and records the outcome; never throws for the gateway's answers. */
  async post(
    kind: WebhookKind,
    url: string,
    headers: Readonly<Record<string, string>>,
    body: string,
    signal: AbortSignal = this.abort.signal,
  ): Promise<WebhookPost> {
    const addressed = new URL(url);
    const deliveredTo = (this.route?.(addressed) ?? addressed).toString();
    const attempts: WebhookAttempt[] = [];
    let status: number | undefined;
    let responseBody = '';
    for (let attempt = 1; attempt <= this.maxAttempts; attempt += 1) {
      if (attempt > 1) await delay(this.backoffMs * 2 ** (attempt - 2), undefined, { signal });
      const at = new Date().toISOString();
      try {
        const response = await fetch(deliveredTo, {
          method: 'POST',
          headers,
          body,
          redirect: 'manual',
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]),
        });
        status = response.status;
        responseBody = await response.text();
        attempts.push({ at, status });
        if (status >= 200 && status < 300) break;
      } catch (error) {
        if (signal.aborted) throw error;
        status = undefined;
        responseBody = '';
        attempts.push({ at, error: describe(error) });
      }
    }
    const post: WebhookPost = {
      kind,
      url,
      deliveredTo,
      headers,
      body,
      attempts,
      status,
      responseBody,
      ok: status !== undefined && status >= 200 && status < 300,
    };
    this.recorded.push(post);
    if (this.recorded.length > this.maxRecordedPosts) this.recorded.shift();
    return post;
  }

  /** Resolves once nothing is scheduled or in flight (new work scheduled meanwhile included). */
  async idle(): Promise<void> {
    while (this.tasks.size > 0) await Promise.all([...this.tasks]);
  }

  /** Cancels everything scheduled and forgets the posts. */
  reset(): void {
    this.abort.abort();
    this.abort = new AbortController();
    this.recorded.length = 0;
  }

  async close(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled([...this.tasks]);
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // fetch wraps the socket error (ECONNREFUSED, ECONNRESET) in its cause.
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}
