import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Every series the service exports on GET /metrics, by name: the manifests' alerts and the
 * dashboard are checked against this list. Labels are low-cardinality by design: lanes, channels,
 * providers, statuses, reason codes, partitions; never a customer, a message or a contact.
 */
export const METRIC_NAMES = [
  'omnigate_commands_consumed_total',
  'omnigate_command_wait_seconds',
  'omnigate_dead_letters_total',
  'omnigate_receipts_total',
  'omnigate_provider_request_duration_seconds',
  'omnigate_fallbacks_total',
  'omnigate_caps_hit_total',
  'omnigate_deferrals_total',
  'omnigate_retries_total',
  'omnigate_breaker_state',
  'omnigate_consumer_lag',
  'omnigate_outbox_backlog',
  'omnigate_scheduler_backlog',
  'omnigate_scrape_errors_total',
  'omnigate_spend_guard_refusals_total',
  'omnigate_spend_daily_budget_used_ratio',
  'omnigate_webhook_requests_total',
  'omnigate_webhook_events_published_total',
  'omnigate_webhook_events_skipped_total',
  'omnigate_provider_events_applied_total',
  'omnigate_messages_delivered_total',
  'omnigate_time_to_delivered_seconds',
  'omnigate_storage_call_seconds',
] as const;

/** What became of one webhook request (see ProviderWebhooksService). */
export const WEBHOOK_REQUEST_RESULTS = [
  'accepted',
  'refused_signature',
  'missing_signature',
  'stale',
  'invalid',
  'unknown_message_ref',
  'unavailable',
] as const;
export type WebhookRequestResult = (typeof WEBHOOK_REQUEST_RESULTS)[number];

export type ConsumeOutcome =
  'accepted' | 'rejected' | 'duplicate' | 'conflict' | 'redelivered' | 'set_aside';

/** Breaker states as gauge values, so `== 2` in an alert means open. */
export const BREAKER_STATE_VALUES: Readonly<Record<string, number>> = {
  closed: 0,
  half_open: 1,
  open: 2,
};

/** Values read on each scrape from outside the process (Kafka, the database, the breakers). */
export interface ScrapeSources {
  breakers(): ReadonlyArray<{ channel: string; provider: string; state: string }>;
  consumerLag(): Promise<
    ReadonlyArray<{ group: string; topic: string; partition: number; lag: number }>
  >;
  outboxBacklog(): Promise<number>;
  schedulerBacklog(): Promise<{ due: number; leased: number; total: number }>;
  /** Today's sends against each channel's configured daily budget (channels with one). */
  spendBudgets?(): Promise<ReadonlyArray<{ channel: string; used: number; budget: number }>>;
}

/**
 * The service's Prometheus metrics on a registry of its own (so tests and several app instances
 * in one process do not collide), with Node's process and event-loop metrics.
 */
export class Metrics {
  readonly registry = new Registry();
  private sources: ScrapeSources | undefined;

  readonly commandsConsumed = new Counter({
    name: 'omnigate_commands_consumed_total',
    help: 'Send commands read from Kafka, by lane and what intake made of them',
    labelNames: ['lane', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly commandWait = new Histogram({
    name: 'omnigate_command_wait_seconds',
    help: "From a send command record's Kafka timestamp (its producer's clock) to when the gateway starts on it, by lane: time in Kafka and queued in this process",
    labelNames: ['lane'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly storageCallSeconds = new Histogram({
    name: 'omnigate_storage_call_seconds',
    help: "A message's wait for one batched storage operation (the batch filling, a free slot, the statement or script), by operation: the batcher's name (claim, settle, cap_reserve, …)",
    labelNames: ['operation'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly cancels = new Counter({
    name: 'omnigate_cancels_total',
    help: 'Cancels (Kafka and admin), by what they found: cancelled, too_late, remembered, unknown',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly deadLetters = new Counter({
    name: 'omnigate_dead_letters_total',
    help: 'Records copied to the dead-letter topic, by reason code',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly receipts = new Counter({
    name: 'omnigate_receipts_total',
    help: 'Delivery receipts published, by status, channel and provider ("none" when absent)',
    labelNames: ['status', 'channel', 'provider'] as const,
    registers: [this.registry],
  });
  readonly providerRequests = new Histogram({
    name: 'omnigate_provider_request_duration_seconds',
    help: 'Time of each provider call, by channel, provider and outcome',
    labelNames: ['channel', 'provider', 'outcome'] as const,
    buckets: [0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10],
    registers: [this.registry],
  });
  readonly fallbacks = new Counter({
    name: 'omnigate_fallbacks_total',
    help: 'Messages sent on another channel than the first candidate',
    labelNames: ['from_channel', 'to_channel'] as const,
    registers: [this.registry],
  });
  readonly capsHit = new Counter({
    name: 'omnigate_caps_hit_total',
    help: 'Frequency caps that blocked a channel, by channel and the rule action taken',
    labelNames: ['channel', 'action'] as const,
    registers: [this.registry],
  });
  readonly escalations = new Counter({
    name: 'omnigate_escalations_total',
    help: 'Escalation timers that ran, by the channel escalated from and the result (escalated: tried the next channel; or why nothing was sent)',
    labelNames: ['from_channel', 'result'] as const,
    registers: [this.registry],
  });
  readonly deferrals = new Counter({
    name: 'omnigate_deferrals_total',
    help: 'Messages handed to the scheduler to wait, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: 'omnigate_retries_total',
    help: 'Retries scheduled after every provider failed on its side, by the first failed channel',
    labelNames: ['channel'] as const,
    registers: [this.registry],
  });
  readonly spendRefusals = new Counter({
    name: 'omnigate_spend_guard_refusals_total',
    help: 'SMS and WhatsApp sends the spend guard refused, by channel and reason code',
    labelNames: ['channel', 'reason'] as const,
    registers: [this.registry],
  });
  readonly webhookRequests = new Counter({
    name: 'omnigate_webhook_requests_total',
    help: 'Provider webhook requests, by configured provider, endpoint and result (refused signatures included)',
    labelNames: ['provider', 'endpoint', 'result'] as const,
    registers: [this.registry],
  });
  readonly webhookEventsPublished = new Counter({
    name: 'omnigate_webhook_events_published_total',
    help: 'Provider events written to the provider-events topic, by provider and outcome',
    labelNames: ['provider', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly webhookEventsSkipped = new Counter({
    name: 'omnigate_webhook_events_skipped_total',
    help: 'Events in a verified webhook batch that were not published, by provider and reason (foreign: not our mail; invalid)',
    labelNames: ['provider', 'reason'] as const,
    registers: [this.registry],
  });
  readonly providerEventsApplied = new Counter({
    name: 'omnigate_provider_events_applied_total',
    help: 'Provider events applied to the message log, by channel, provider, outcome and what applying did (advanced, no_regress, duplicate, orphaned, …)',
    labelNames: ['channel', 'provider', 'outcome', 'effect'] as const,
    registers: [this.registry],
  });
  readonly messagesDelivered = new Counter({
    name: 'omnigate_messages_delivered_total',
    help: 'Messages a provider reported delivered (or read, which implies it), by channel and provider',
    labelNames: ['channel', 'provider'] as const,
    registers: [this.registry],
  });
  readonly timeToDelivered = new Histogram({
    name: 'omnigate_time_to_delivered_seconds',
    help: 'From the sent receipt to the moment the provider says the message was delivered',
    labelNames: ['channel', 'provider'] as const,
    buckets: [1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600, 21600, 86400],
    registers: [this.registry],
  });

  readonly scrapeErrors = new Counter({
    name: 'omnigate_scrape_errors_total',
    help: 'Scrape-time reads that failed (the series is left out of that scrape), by source',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });

  constructor(options: { readonly cacheMs?: number } = {}) {
    collectDefaultMetrics({ register: this.registry });
    // A source that fails drops its own series from the scrape and is counted; the rest of the
    // scrape still answers, so one unreachable system cannot blind the whole dashboard.
    const guarded = async <T>(source: string, read: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await read();
      } catch {
        this.scrapeErrors.inc({ source });
        return undefined;
      }
    };
    const cacheMs = options.cacheMs ?? 5000;
    const lag = cached(cacheMs, () => this.sources?.consumerLag() ?? Promise.resolve([]));
    const outbox = cached(cacheMs, () => this.sources?.outboxBacklog() ?? Promise.resolve(0));
    const scheduler = cached(
      cacheMs,
      () => this.sources?.schedulerBacklog() ?? Promise.resolve({ due: 0, leased: 0, total: 0 }),
    );
    const sources = (): ScrapeSources | undefined => this.sources;
    new Gauge({
      name: 'omnigate_breaker_state',
      help: 'Circuit breaker per provider and channel: 0 closed, 1 half-open, 2 open',
      labelNames: ['channel', 'provider'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const b of sources()?.breakers() ?? []) {
          this.set(
            { channel: b.channel, provider: b.provider },
            BREAKER_STATE_VALUES[b.state] ?? 2,
          );
        }
      },
    });
    new Gauge({
      name: 'omnigate_consumer_lag',
      help: "Records on each partition not yet committed by the service's consumer groups",
      labelNames: ['group', 'topic', 'partition'] as const,
      registers: [this.registry],
      async collect() {
        const rows = await guarded('consumer_lag', lag);
        this.reset();
        for (const r of rows ?? []) {
          this.set({ group: r.group, topic: r.topic, partition: String(r.partition) }, r.lag);
        }
      },
    });
    new Gauge({
      name: 'omnigate_outbox_backlog',
      help: 'Receipts written to the outbox and not yet published to Kafka',
      registers: [this.registry],
      async collect() {
        const backlog = await guarded('outbox', outbox);
        this.reset();
        if (backlog !== undefined) this.set(backlog);
      },
    });
    new Gauge({
      name: 'omnigate_scheduler_backlog',
      help: 'Scheduled jobs (deferrals, retries, recoveries): due now, leased by a worker, in total',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        const backlog = await guarded('scheduler', scheduler);
        this.reset();
        if (backlog === undefined) return;
        for (const state of ['due', 'leased', 'total'] as const)
          this.set({ state }, backlog[state]);
      },
    });
    const budgets = cached(cacheMs, () => this.sources?.spendBudgets?.() ?? Promise.resolve([]));
    new Gauge({
      name: 'omnigate_spend_daily_budget_used_ratio',
      help: "Today's (UTC) SMS or WhatsApp sends over the channel's daily budget; 1 or more: non-transactional sends stop",
      labelNames: ['channel'] as const,
      registers: [this.registry],
      async collect() {
        const rows = await guarded('spend_budget', budgets);
        this.reset();
        for (const r of rows ?? []) this.set({ channel: r.channel }, r.used / r.budget);
      },
    });
  }

  /** Wires the scrape-time gauges to the running app's outside systems. */
  attach(sources: ScrapeSources): void {
    this.sources = sources;
  }

  receiptPublished(receipt: {
    status: string;
    channel: string | null;
    provider: string | null;
  }): void {
    this.receipts.inc({
      status: receipt.status,
      channel: receipt.channel ?? 'none',
      provider: receipt.provider ?? 'none',
    });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** At most one read per `ms`; concurrent scrapes share it, and a failed read is not kept. */
function cached<T>(ms: number, read: () => Promise<T>): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    const now = Date.now();
    if (last && now - last.at < ms) return last.value;
    const value = read();
    last = { at: now, value };
    value.catch(() => {
      if (last?.value === value) last = undefined;
    });
    return value;
  };
}
