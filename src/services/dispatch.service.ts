import { Inject, Injectable } from '@nestjs/common';
import {
  receiptEventId,
  type Channel,
  type DeliveryReceipt,
  type ReceiptStatus,
  type SendCommand,
  type TraceEntry,
} from '@omnigate/contracts';
import {
  ChannelRouter,
  ChannelUnavailableError,
  type AttemptObserver,
  type ProviderAttempt,
} from '@omnigate/channels';
import type { AppConfig } from '../config/environment';
import { APP_CONFIG } from '../config/app-config.token';
import { policyFor } from '../config/policies';
import { LOGGER, type Logger } from '../observability/logger';
import { Metrics } from '../observability/metrics';
import { CAP_STORE, type CapStore } from '../repositories/cap-store';
import { Clock } from '../repositories/clock';
import { ProfileRepository } from '../repositories/profile.repository';
import {
  SPEND_COUNTERS,
  type SpendCounters,
  type SpendReservation,
} from '../repositories/spend-counters';
import { ContentError, ContentRenderer } from './content/content-renderer';
import { decideOverCap } from '../policy/frequency-caps';
import type { CategoryPolicy, ChannelCandidate, PlanOverrides } from '../policy/model';
import { plan } from '../policy/planner';
import { nextRetry } from '../policy/retry-backoff';
import { scrubContacts } from '../policy/scrub-contacts';
import {
  decideSpend,
  destinationFacts,
  isSpendChannel,
  spendLimits,
  type SpendReasonCode,
} from '../policy/spend-guard';

type ReceiptFields = Partial<
  Pick<
    DeliveryReceipt,
    | 'channel'
    | 'provider'
    | 'providerMessageId'
    | 'reason'
    | 'trace'
    | 'fallbackFrom'
    | 'deferredUntil'
  >
>;

/** The message waits and runs again at `runAt` (quiet hours, a cap, a retry, a sender's rate). */
export interface Deferral {
  readonly runAt: Date;
  /** How many times this message has been deferred, this deferral included. */
  readonly deferrals: number;
  /** How many provider retries were spent so far, this one included if it is one. */
  readonly retries: number;
  readonly reasonCode: string;
}

/** How one dispatch step ended: its receipt, and the deferral when the message waits. */
export interface DispatchOutcome {
  readonly receipt: DeliveryReceipt;
  readonly deferral?: Deferral;
}

export interface DispatchContext {
  /** Deferrals before this run (0 from Kafka); the next one is numbered after it. */
  readonly deferrals: number;
  /** Provider retries spent before this run. */
  readonly retries: number;
  /** Hooks around each provider call on a channel (the message log's attempt rows). */
  readonly observe?: (channel: Channel) => AttemptObserver;
  /** Trace entries that come before the plan's (e.g. why a run was resumed after a crash). */
  readonly notes?: readonly TraceEntry[];
  /** An admin's audited overrides for one resend; absent for every other run. */
  readonly overrides?: PlanOverrides;
}

type SpendGuarded =
  | { readonly kind: 'allowed'; readonly reservation?: SpendReservation }
  | { readonly kind: 'refused'; readonly reason: { code: SpendReasonCode; message: string } };

interface ChannelOutcome {
  readonly sent?: { provider: string; providerMessageId: string };
  /** Every provider failed on its side (down, throttled, breaker open): worth trying later. */
  readonly retryable?: { retryAfterMs?: number };
  /** No provider was asked: each was at its configured send rate (or its breaker was open). */
  readonly throttled?: { retryAfterMs: number };
  readonly outcomeUnknown?: { provider: string };
  readonly attempts: readonly ProviderAttempt[];
  readonly trace: readonly TraceEntry[];
  readonly reason: { code: string; message: string };
}

/**
 * Sends a valid command: loads the customer's profile, lets the pure planner order the channels
 * (preferences, consent, quiet hours, TTL), and for each candidate reserves the frequency caps,
 * renders the content and hands it to the channel router (provider failover, breakers). A channel
 * that cannot take the message passes it to the next candidate. Waiting work (quiet hours, a cap
 * that defers) is answered as a deferral for the scheduler, never a sleep. Answers the receipt
 * that settles this step; only infrastructure failures propagate, so the step is retried.
 */
@Injectable()
export class DispatchService {
  constructor(
    private readonly router: ChannelRouter,
    private readonly renderer: ContentRenderer,
    private readonly profiles: ProfileRepository,
    @Inject(CAP_STORE) private readonly caps: CapStore,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly metrics: Metrics,
    @Inject(SPEND_COUNTERS) private readonly spend: SpendCounters,
  ) {}

  async dispatch(
    command: SendCommand,
    receivedAt: Date,
    context: DispatchContext = { deferrals: 0, retries: 0 },
  ): Promise<DispatchOutcome> {
    const { deferrals, retries } = context;
    const now = this.clock.now();
    const policy = policyFor(this.config.policies.categories, command.category);
    if (!policy) {
      return this.receipt(command, 'failed', 0, {
        reason: {
          code: 'UNKNOWN_CATEGORY',
          message: `no policy is configured for category "${command.category}"`,
        },
      });
    }
    const profile = await this.profiles.get(command.customerId);
    const planned = plan({
      command,
      profile,
      policy,
      now,
      receivedAt,
      capabilities: {
        hasContent: (channel) => this.renderer.hasContentFor(command, channel),
        isSupported: (channel) => this.router.supports(channel),
      },
      ...(context.overrides && { overrides: context.overrides }),
    });
    const trace: TraceEntry[] = [...(context.notes ?? []), ...planned.trace];
    this.logger.info(
      {
        messageId: command.id,
        customerId: command.customerId,
        category: command.category,
        decision: planned.kind,
        candidates: planned.kind === 'send' ? planned.candidates.map((c) => c.channel) : [],
        skipped: planned.trace
          .filter((entry) => entry.decision === 'skipped')
          .map((entry) => `${entry.channel}:${entry.reasonCode ?? 'SKIPPED'}`),
      },
      'dispatch planned',
    );
    switch (planned.kind) {
      case 'expired':
        return this.receipt(command, 'expired', 0, {
          trace,
          reason: {
            code: 'EXPIRED',
            message: `the message expired at ${planned.expiresAt.toISOString()}`,
          },
        });
      case 'suppress':
        return this.receipt(command, 'suppressed', 0, {
          trace,
          reason: { code: planned.reasonCode, message: suppressionWords(planned.reasonCode) },
        });
      case 'undeliverable':
        return this.receipt(command, 'failed', 0, {
          trace,
          reason: {
            code: 'NO_DELIVERABLE_CHANNEL',
            message: 'no channel had a contact, content and a provider',
          },
        });
      case 'defer':
        return this.defer(
          command,
          deferrals,
          planned.until,
          trace,
          'QUIET_HOURS',
          'quiet hours',
          retries,
        );
      case 'send':
        return this.sendThroughCandidates(
          command,
          context,
          policy,
          planned.candidates,
          planned.expiresAt,
          planned.locale,
          trace,
        );
    }
  }

  private async sendThroughCandidates(
    command: SendCommand,
    { deferrals, retries, observe, overrides }: DispatchContext,
    policy: CategoryPolicy,
    candidates: readonly ChannelCandidate[],
    expiresAt: Date,
    locale: string | undefined,
    trace: TraceEntry[],
  ): Promise<DispatchOutcome> {
    let providerCalls = 0;
    let firstFailed: Channel | undefined;
    let lastReason = { code: 'NO_DELIVERABLE_CHANNEL', message: 'no channel took the message' };
    let everyChannelCapped = true;
    let retryable: { retryAfterMs?: number } | undefined;
    for (const candidate of candidates) {
      const now = this.clock.now();
      const reserved = await this.caps.reserve({
        customerId: command.customerId,
        channel: candidate.channel,
        category: command.category,
        rules: this.config.policies.capRules,
        now,
        // Stable per message and channel: a redo after a crash finds its own reservation.
        reservationId: `${command.id}:${candidate.channel}`,
        force: policy.transactional || overrides?.ignoreCaps === true,
      });
      const decision = decideOverCap(
        reserved,
        policy.transactional || overrides?.ignoreCaps === true,
      );
      if (decision.kind === 'blocked') {
        trace.push({
          channel: candidate.channel,
          decision: 'skipped',
          reasonCode: 'CAPPED',
          detail: decision.reason,
          at: now.toISOString(),
        });
        this.logger.info(
          {
            messageId: command.id,
            customerId: command.customerId,
            channel: candidate.channel,
            rule: decision.rule.id,
            action: decision.action,
          },
          'frequency cap reached',
        );
        this.metrics.capsHit.inc({ channel: candidate.channel, action: decision.action });
        if (decision.action === 'next_channel') {
          firstFailed ??= candidate.channel;
          lastReason = { code: 'CAPPED', message: decision.reason };
          continue;
        }
        if (decision.action === 'defer' && decision.retryAt < expiresAt) {
          return this.defer(
            command,
            deferrals,
            decision.retryAt,
            trace,
            'CAPPED',
            `cap rule ${decision.rule.id}`,
            retries,
          );
        }
        return this.receipt(command, 'capped', providerCalls, {
          trace,
          reason: { code: 'CAPPED', message: decision.reason },
        });
      }
      everyChannelCapped = false;
      if (decision.note)
        trace.push({
          channel: candidate.channel,
          decision: 'chosen',
          detail: decision.note,
          at: now.toISOString(),
        });

      const releaseCaps = () =>
        this.caps.release({
          customerId: command.customerId,
          reservationId: decision.reservation.reservationId,
          ruleIds: decision.reservation.ruleIds,
        });
      let guarded: SpendGuarded;
      try {
        guarded = await this.guardSpend(command, candidate, policy.transactional, trace);
      } catch (error) {
        await releaseCaps();
        throw error;
      }
      if (guarded.kind === 'refused') {
        // Nothing reaches a provider: the cap slot goes back, and the next candidate is tried.
        await releaseCaps();
        firstFailed ??= candidate.channel;
        lastReason = guarded.reason;
        continue;
      }
      const spendReservation = guarded.reservation;
      const release = async () => {
        await releaseCaps();
        if (spendReservation) await this.spend.release(spendReservation);
      };
      let outcome: ChannelOutcome;
      try {
        outcome = await this.tryChannel(command, candidate, expiresAt, locale, observe);
      } catch (error) {
        // Nothing was sent (the failure came before or outside the provider call): give the
        // slot back, since the retry of this record may take another path.
        await release();
        throw error;
      }
      providerCalls += outcome.attempts.length;
      trace.push(...outcome.trace);
      if (outcome.sent) {
        this.logger.info(
          {
            messageId: command.id,
            customerId: command.customerId,
            channel: candidate.channel,
            provider: outcome.sent.provider,
            fallbackFrom: firstFailed,
          },
          'message accepted by provider',
        );
        if (firstFailed) {
          this.metrics.fallbacks.inc({ from_channel: firstFailed, to_channel: candidate.channel });
        }
        return this.receipt(command, 'sent', providerCalls, {
          channel: candidate.channel,
          provider: outcome.sent.provider,
          providerMessageId: outcome.sent.providerMessageId,
          trace,
          ...(firstFailed ? { fallbackFrom: firstFailed } : {}),
        });
      }
      if (outcome.outcomeUnknown) {
        // The provider may have delivered it (so the reservation stays), and another provider or
        // channel could send it twice.
        return this.receipt(command, 'unknown', providerCalls, {
          channel: candidate.channel,
          provider: outcome.outcomeUnknown.provider,
          trace,
          reason: { code: 'PROVIDER_OUTCOME_UNKNOWN', message: outcome.reason.message },
          ...(firstFailed ? { fallbackFrom: firstFailed } : {}),
        });
      }
      // Only sends a provider accepted keep their place in the caps.
      await release();
      if (outcome.throttled) {
        // The sender is busy, not broken: the message waits for its slot on this channel rather
        // than falling back, and the wait spends no provider retry. The spread keeps a burst of
        // waiting messages from all waking at the same instant.
        const now = this.clock.now();
        const spreadMs = Math.random() * 1000 * Math.min(8, deferrals + 1);
        const until = new Date(now.getTime() + outcome.throttled.retryAfterMs + spreadMs);
        if (until < expiresAt) {
          return this.defer(
            command,
            deferrals,
            until,
            trace,
            'THROTTLED',
            `the ${candidate.channel} sender's configured send rate`,
            retries,
          );
        }
      }
      if (outcome.retryable) {
        retryable = {
          retryAfterMs: Math.max(retryable?.retryAfterMs ?? 0, outcome.retryable.retryAfterMs ?? 0),
        };
      }
      firstFailed ??= candidate.channel;
      lastReason = outcome.reason;
      this.logger.warn(
        {
          messageId: command.id,
          customerId: command.customerId,
          channel: candidate.channel,
          reasonCode: outcome.reason.code,
        },
        'channel did not take the message',
      );
    }
    if (everyChannelCapped) {
      return this.receipt(command, 'capped', providerCalls, { trace, reason: lastReason });
    }
    if (retryable) {
      const now = this.clock.now();
      const next = nextRetry({
        policy: this.config.retry,
        retriesSoFar: retries,
        now,
        expiresAt,
        retryAfterMs: retryable.retryAfterMs || undefined,
        random: Math.random,
      });
      if (next.retry) {
        this.metrics.retries.inc({ channel: firstFailed ?? candidates[0]!.channel });
        trace.push({
          channel: firstFailed ?? candidates[0]!.channel,
          decision: 'skipped',
          reasonCode: 'PROVIDER_RETRY',
          detail: `every provider failed on its side; retry ${retries + 1} of ${this.config.retry.maxRetries} in ${Math.round(next.delayMs / 1000)} s`,
          at: now.toISOString(),
        });
        return this.defer(
          command,
          deferrals,
          next.at,
          trace,
          'PROVIDER_RETRY',
          `retry ${retries + 1} after provider failures`,
          retries + 1,
        );
      }
      lastReason = {
        ...lastReason,
        message: `${lastReason.message} (${next.why === 'WOULD_EXPIRE' ? 'no retry before the message expires' : 'retries exhausted'})`,
      };
    }
    return this.receipt(command, 'failed', providerCalls, { trace, reason: lastReason });
  }

  /**
   * The spend guard on an SMS or WhatsApp candidate: refuses a destination type or country outright,
   * otherwise counts the send in its velocity and budget counters (released like the caps when no
   * provider takes it). Transactional sends are held to everything but the daily budget.
   */
  private async guardSpend(
    command: SendCommand,
    { channel, address }: ChannelCandidate,
    transactional: boolean,
    trace: TraceEntry[],
  ): Promise<SpendGuarded> {
    if (!isSpendChannel(channel)) return { kind: 'allowed' };
    const config = this.config.spendGuard;
    const facts = destinationFacts(address);
    const now = this.clock.now();
    let decision = decideSpend({ channel, facts, config, full: [] });
    let reservation: SpendReservation | undefined;
    if (decision.kind === 'allow') {
      const limits = spendLimits({ channel, facts, transactional, config, now });
      const reserved = await this.spend.reserve({
        channel,
        limits,
        now,
        // Stable per message and channel, like the caps': a redo finds its own count.
        reservationId: `${command.id}:${channel}`,
      });
      decision = decideSpend({ channel, facts, config, full: reserved.full });
      if (reserved.granted) reservation = reserved.reservation;
      else if (decision.kind === 'allow') {
        // The store and the policy disagree: a bug, never a silent send.
        throw new Error('spend counters refused a send the spend guard allows');
      }
    }
    if (decision.kind === 'allow') {
      if (decision.note) {
        trace.push({ channel, decision: 'chosen', detail: decision.note, at: now.toISOString() });
      }
      return { kind: 'allowed', ...(reservation && { reservation }) };
    }
    trace.push({
      channel,
      decision: 'skipped',
      reasonCode: decision.reasonCode,
      detail: decision.reason,
      at: now.toISOString(),
    });
    this.logger.info(
      {
        messageId: command.id,
        customerId: command.customerId,
        channel,
        reasonCode: decision.reasonCode,
        country: facts.country,
        numberType: facts.kind,
      },
      'spend guard refused the channel',
    );
    this.metrics.spendRefusals.inc({ channel, reason: decision.reasonCode });
    return {
      kind: 'refused',
      reason: { code: decision.reasonCode, message: decision.reason },
    };
  }

  private defer(
    command: SendCommand,
    deferrals: number,
    until: Date,
    trace: readonly TraceEntry[],
    code: string,
    why: string,
    retries = 0,
  ): DispatchOutcome {
    this.logger.info(
      { messageId: command.id, customerId: command.customerId, until: until.toISOString(), code },
      'dispatch deferred',
    );
    this.metrics.deferrals.inc({ reason: code });
    const { receipt } = this.receipt(
      command,
      'deferred',
      0,
      {
        trace: [...trace],
        deferredUntil: until.toISOString(),
        reason: { code, message: `deferred by ${why} until ${until.toISOString()}` },
      },
      until.toISOString(),
    );
    return {
      receipt,
      deferral: { runAt: until, deferrals: deferrals + 1, retries, reasonCode: code },
    };
  }

  private async tryChannel(
    command: SendCommand,
    candidate: ChannelCandidate,
    expiresAt: Date,
    locale: string | undefined,
    observe: DispatchContext['observe'],
  ): Promise<ChannelOutcome> {
    const { channel, address } = candidate;
    const at = (): string => this.clock.now().toISOString();
    let rendered;
    try {
      rendered = this.renderer.render(command, channel, locale);
    } catch (error) {
      if (!(error instanceof ContentError)) throw error;
      const reason = { code: error.code, message: error.message };
      return {
        attempts: [],
        reason,
        trace: [
          { channel, decision: 'failed', reasonCode: error.code, detail: error.message, at: at() },
        ],
      };
    }
    try {
      const ttlSeconds = Math.max(
        1,
        Math.floor((expiresAt.getTime() - this.clock.now().getTime()) / 1000),
      );
      const routed = await this.router.send(
        {
          messageId: command.id,
          customerId: command.customerId,
          channel,
          address,
          content: rendered.content,
          category: command.category,
          priority: command.priority,
          ttlSeconds,
        },
        observe?.(channel),
      );
      const sms = rendered.sms;
      const envelope = sms
        ? ` (${sms.encoding}, ${sms.segments} segment${sms.segments === 1 ? '' : 's'})`
        : '';
      const localeNote = rendered.locale ? ` [template locale ${rendered.locale}]` : '';
      const trace = routed.attempts.map((attempt) => {
        const entry = attemptTrace(channel, attempt, at());
        return attempt.outcome === 'accepted'
          ? { ...entry, detail: `${entry.detail}${envelope}${localeNote}` }
          : entry;
      });
      return {
        sent: {
          provider: routed.acceptance.provider,
          providerMessageId: routed.acceptance.providerMessageId,
        },
        attempts: routed.attempts,
        trace,
        reason: { code: 'SENT', message: 'sent' },
      };
    } catch (error) {
      if (!(error instanceof ChannelUnavailableError)) throw error;
      const trace = error.attempts.map((attempt) => attemptTrace(channel, attempt, at()));
      const code = error.allBreakersOpen ? 'BREAKER_OPEN' : error.lastError.code;
      const reason = { code, message: scrubContacts(error.message) };
      if (error.throttledOnly) {
        return {
          attempts: [],
          trace,
          reason: { code: 'THROTTLED', message: reason.message },
          throttled: { retryAfterMs: error.lastError.retryAfterMs ?? 1000 },
        };
      }
      if (error.lastError.kind === 'outcome_unknown') {
        return {
          attempts: error.attempts,
          trace,
          reason,
          outcomeUnknown: { provider: error.lastError.provider },
        };
      }
      const retryable = error.lastError.retryable
        ? { retryAfterMs: error.lastError.retryAfterMs }
        : undefined;
      return { attempts: error.attempts, trace, reason, ...(retryable ? { retryable } : {}) };
    }
  }

  private receipt(
    command: SendCommand,
    status: ReceiptStatus,
    attempt: number,
    fields: ReceiptFields,
    discriminator?: string,
  ): DispatchOutcome {
    const receipt: DeliveryReceipt = {
      schemaVersion: 1,
      // Only what redoing the step cannot change: a redo after a crash may take another provider
      // path, yet it must publish the same eventId so consumers deduplicate it.
      eventId: receiptEventId({
        messageId: command.id,
        status,
        attempt: 0,
        ...(discriminator ? { discriminator } : {}),
      }),
      messageId: command.id,
      customerId: command.customerId,
      status,
      channel: fields.channel ?? null,
      provider: fields.provider ?? null,
      providerMessageId: fields.providerMessageId ?? null,
      attempt,
      reason: fields.reason ?? null,
      occurredAt: this.clock.now().toISOString(),
      trace: (fields.trace ?? []).slice(0, 100),
      ...(fields.fallbackFrom ? { fallbackFrom: fields.fallbackFrom } : {}),
      ...(fields.deferredUntil ? { deferredUntil: fields.deferredUntil } : {}),
    };
    return { receipt };
  }
}

function attemptTrace(channel: Channel, attempt: ProviderAttempt, at: string): TraceEntry {
  if (attempt.outcome === 'accepted') {
    return { channel, decision: 'sent', detail: `${attempt.provider} ${attempt.detail}`, at };
  }
  const reasonCode =
    attempt.vendorCode === 'BREAKER_OPEN'
      ? 'BREAKER_OPEN'
      : (attempt.errorKind?.toUpperCase() ?? 'FAILED');
  // Adapter messages usually name their provider already.
  const detail = attempt.detail.startsWith(`${attempt.provider}:`)
    ? attempt.detail
    : `${attempt.provider}: ${attempt.detail}`;
  return { channel, decision: 'failed', reasonCode, detail: scrubContacts(detail), at };
}

function suppressionWords(code: string): string {
  if (code === 'QUIET_HOURS') return 'quiet hours drop this category: not sent';
  if (code === 'NO_CONSENT') return 'the customer has not consented to any allowed channel';
  return 'the customer opted out of every allowed channel for this category';
}
