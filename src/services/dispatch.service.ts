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
  traitsOf,
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
import { AddressSuppressionsService } from './address-suppressions.service';
import {
  SPEND_COUNTERS,
  type SpendCounters,
  type SpendReservation,
} from '../repositories/spend-counters';
import { ContentError, ContentRenderer } from './content/content-renderer';
import { decideOverCap } from '../policy/frequency-caps';
import type {
  CategoryPolicy,
  ChannelCandidate,
  EscalationCondition,
  PlanOverrides,
  PlanResult,
} from '../policy/model';
import { plan } from '../policy/planner';
import {
  escalationAtSend,
  escalationFired,
  type EscalationFired,
  type EscalationSchedule,
} from '../policy/escalation';
import {
  nextStep,
  startFallback,
  type CandidateOutcome,
  type CandidateResult,
  type FallbackStep,
} from '../policy/fallback';
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
  /** A sent message whose category escalates: when to check on it (policy/escalation.ts). */
  readonly escalation?: EscalationSchedule;
}

/** An escalation run: the message was sent on `from` and has not reached `unless` in time. */
export interface EscalationRun {
  readonly from: Channel;
  readonly unless: EscalationCondition;
  readonly afterSeconds: number;
  /** Channels the message was attempted on so far; the escalation tries none of them. */
  readonly used: readonly Channel[];
}

/** What an escalation run came to: nothing to send (and why), or a dispatch of its own. */
export type EscalationOutcome =
  | {
      readonly kind: 'done';
      readonly reasonCode: Extract<EscalationFired, { kind: 'done' }>['reasonCode'];
      readonly trace: readonly TraceEntry[];
    }
  | { readonly kind: 'dispatched'; readonly outcome: DispatchOutcome };

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
  /** Set on an escalation run: the message was sent already, on another channel. */
  readonly escalation?: EscalationRun;
}

type SpendGuarded =
  | { readonly kind: 'allowed'; readonly reservation?: SpendReservation }
  | { readonly kind: 'refused'; readonly reason: { code: SpendReasonCode; message: string } };

/** What trying a channel through the router came to, and the trace of each provider attempt. */
interface ChannelOutcome {
  readonly result: Exclude<CandidateResult, { kind: 'capped' | 'spend_refused' }>;
  readonly trace: readonly TraceEntry[];
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
    private readonly suppressions: AddressSuppressionsService,
  ) {}

  async dispatch(
    command: SendCommand,
    receivedAt: Date,
    context: DispatchContext = { deferrals: 0, retries: 0 },
  ): Promise<DispatchOutcome> {
    const { deferrals, retries } = context;
    const policy = policyFor(this.config.policies.categories, command.category);
    if (!policy) {
      return this.receipt(command, 'failed', 0, {
        reason: {
          code: 'UNKNOWN_CATEGORY',
          message: `no policy is configured for category "${command.category}"`,
        },
      });
    }
    const planned = await this.plan(command, receivedAt, policy, context.overrides);
    const trace: TraceEntry[] = [...(context.notes ?? []), ...planned.trace];
    this.logger.debug(
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

  /**
   * An escalation run (policy/escalation.ts): plans the message again and tries the candidates it
   * has not used yet through the normal path (caps, spend guard, router, fallback). The sent
   * receipt names the channel escalated from as fallbackFrom.
   */
  async escalate(
    command: SendCommand,
    receivedAt: Date,
    context: DispatchContext & { readonly escalation: EscalationRun },
  ): Promise<EscalationOutcome> {
    const { escalation } = context;
    const policy = policyFor(this.config.policies.categories, command.category);
    const planned = policy
      ? await this.plan(command, receivedAt, policy, context.overrides)
      : undefined;
    const decision = escalationFired({
      from: escalation.from,
      unless: escalation.unless,
      afterSeconds: escalation.afterSeconds,
      used: escalation.used,
      now: this.clock.now(),
      plan: escalationPlanView(planned, command.category),
    });
    if (decision.kind === 'done' || !policy || planned?.kind !== 'send') {
      const trace = [
        ...(context.notes ?? []),
        ...(decision.kind === 'done' ? [decision.trace] : []),
      ];
      const reasonCode = decision.kind === 'done' ? decision.reasonCode : 'NOT_SENDABLE';
      this.logger.info(
        { messageId: command.id, customerId: command.customerId, from: escalation.from },
        'escalation sent nothing',
      );
      this.metrics.escalations.inc({
        from_channel: escalation.from,
        result: reasonCode.toLowerCase(),
      });
      return { kind: 'done', reasonCode, trace };
    }
    const candidates = planned.candidates.filter((candidate) =>
      decision.candidates.includes(candidate.channel),
    );
    this.logger.info(
      {
        messageId: command.id,
        customerId: command.customerId,
        from: escalation.from,
        candidates: decision.candidates,
      },
      'escalating',
    );
    this.metrics.escalations.inc({ from_channel: escalation.from, result: 'escalated' });
    // The plan's words about the channels used already would read as if they were chosen again.
    const left = new Set(decision.candidates);
    const planTrace = planned.trace.filter(
      (entry) =>
        left.has(entry.channel) || !planned.candidates.some((c) => c.channel === entry.channel),
    );
    const trace: TraceEntry[] = [...(context.notes ?? []), decision.trace, ...planTrace];
    const outcome = await this.sendThroughCandidates(
      command,
      context,
      policy,
      candidates,
      planned.expiresAt,
      planned.locale,
      trace,
      planned.candidates.map((candidate) => candidate.channel),
    );
    return { kind: 'dispatched', outcome };
  }

  private async plan(
    command: SendCommand,
    receivedAt: Date,
    policy: CategoryPolicy,
    overrides: PlanOverrides | undefined,
  ): Promise<PlanResult> {
    const profile = await this.profiles.get(command.customerId);
    const suppression = await this.suppressions.checkFor(command, profile, policy);
    return plan({
      command,
      profile,
      policy,
      now: this.clock.now(),
      receivedAt,
      capabilities: {
        hasContent: (channel) => this.renderer.hasContentFor(command, channel),
        isSupported: (channel) => this.router.supports(channel),
        suppression,
      },
      ...(overrides && { overrides }),
    });
  }

  /**
   * Tries the candidates in order: each is reserved and tried (I/O), the pure fallback policy says
   * what comes next (policy/fallback.ts), and this acts on it. `planned` are the plan's channels
   * (more than `candidates` on an escalation run), for the escalation decision at send.
   */
  private async sendThroughCandidates(
    command: SendCommand,
    { deferrals, retries, observe, overrides, escalation }: DispatchContext,
    policy: CategoryPolicy,
    candidates: readonly ChannelCandidate[],
    expiresAt: Date,
    locale: string | undefined,
    trace: TraceEntry[],
    planned: readonly Channel[] = candidates.map((candidate) => candidate.channel),
  ): Promise<DispatchOutcome> {
    const force = policy.transactional || overrides?.ignoreCaps === true;
    let progress = startFallback({
      candidates: candidates.map((candidate) => candidate.channel),
      deferrals,
      retries,
      expiresAt,
      retryPolicy: this.config.retry,
      random: Math.random,
    });
    for (;;) {
      const candidate = candidates[progress.position];
      if (candidate === undefined) throw new Error('the fallback went past its last candidate');
      const outcome = await this.tryCandidate(command, candidate, {
        force,
        transactional: policy.transactional,
        expiresAt,
        locale,
        observe,
        trace,
      });
      const step = nextStep(progress, outcome);
      trace.push(...step.trace);
      if (step.kind !== 'defer' || step.reasonCode !== 'THROTTLED') {
        this.channelDidNotTake(command, candidate.channel, outcome);
      }
      switch (step.kind) {
        case 'next':
          progress = step.progress;
          continue;
        case 'defer':
          if (step.retryOf) this.metrics.retries.inc({ channel: step.retryOf });
          return this.defer(
            command,
            deferrals,
            step.until,
            trace,
            step.reasonCode,
            step.why,
            step.retries,
          );
        case 'settle':
          return this.settle(command, step, trace, {
            policy,
            planned,
            // Every candidate the fallback reached was tried (or ruled out by caps or spend).
            used: [
              ...(escalation?.used ?? []),
              ...candidates.slice(0, progress.position + 1).map((c) => c.channel),
            ],
            expiresAt,
            ...(escalation && { escalatedFrom: escalation.from }),
          });
      }
    }
  }

  private settle(
    command: SendCommand,
    step: Extract<FallbackStep, { kind: 'settle' }>,
    trace: TraceEntry[],
    sent: {
      readonly policy: CategoryPolicy;
      readonly planned: readonly Channel[];
      readonly used: readonly Channel[];
      readonly expiresAt: Date;
      /** On an escalation run: the channel the message was sent on before. */
      readonly escalatedFrom?: Channel;
    },
  ): DispatchOutcome {
    switch (step.status) {
      case 'sent': {
        const fallbackFrom = sent.escalatedFrom ?? step.fallbackFrom;
        this.logger.debug(
          {
            messageId: command.id,
            customerId: command.customerId,
            channel: step.channel,
            provider: step.provider,
            fallbackFrom: step.fallbackFrom,
          },
          'message accepted by provider',
        );
        if (fallbackFrom) {
          this.metrics.fallbacks.inc({ from_channel: fallbackFrom, to_channel: step.channel });
        }
        const escalation = escalationAtSend({
          policy: sent.policy,
          candidates: sent.planned,
          used: sent.used,
          sentOn: step.channel,
          sentAt: this.clock.now(),
          expiresAt: sent.expiresAt,
        });
        if (escalation.trace) trace.push(escalation.trace);
        const { receipt } = this.receipt(
          command,
          'sent',
          step.attempt,
          {
            channel: step.channel,
            provider: step.provider,
            providerMessageId: step.providerMessageId,
            trace: [...trace],
            ...(fallbackFrom ? { fallbackFrom } : {}),
          },
          // A second sent receipt of the message, told apart from the first for deduplication.
          sent.escalatedFrom && `escalation:${sent.escalatedFrom}`,
        );
        return {
          receipt,
          ...(escalation.kind === 'schedule' && { escalation: escalation.schedule }),
        };
      }
      case 'unknown':
        return this.receipt(command, 'unknown', step.attempt, {
          channel: step.channel,
          provider: step.provider,
          trace: [...trace],
          reason: step.reason,
          ...(step.fallbackFrom ? { fallbackFrom: step.fallbackFrom } : {}),
        });
      case 'capped':
      case 'failed':
        return this.receipt(command, step.status, step.attempt, {
          trace: [...trace],
          reason: step.reason,
        });
    }
  }

  /**
   * Reserves one candidate's caps and spend, then tries it. The cap slot and the spend count are
   * kept only when a provider took the message or may have (outcome unknown); every other outcome
   * gives them back. Trace entries of what was seen (the spend guard, each provider attempt, a
   * content error) are recorded here; the fallback policy adds those of its own decision.
   */
  private async tryCandidate(
    command: SendCommand,
    candidate: ChannelCandidate,
    options: {
      readonly force: boolean;
      readonly transactional: boolean;
      readonly expiresAt: Date;
      readonly locale: string | undefined;
      readonly observe: DispatchContext['observe'];
      readonly trace: TraceEntry[];
    },
  ): Promise<CandidateOutcome> {
    const { force, trace } = options;
    const now = this.clock.now();
    const reserved = await this.caps.reserve({
      customerId: command.customerId,
      channel: candidate.channel,
      category: command.category,
      rules: this.config.policies.capRules,
      now,
      // Stable per message and channel: a redo after a crash finds its own reservation.
      reservationId: `${command.id}:${candidate.channel}`,
      force,
    });
    const decision = decideOverCap(reserved, force);
    if (decision.kind === 'blocked') {
      // A routine outcome of a blast, like a send: the CAPPED receipt and capsHit carry it.
      this.logger.debug(
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
      return { kind: 'capped', cap: decision, at: now };
    }
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
      guarded = await this.guardSpend(command, candidate, options.transactional, trace);
    } catch (error) {
      await releaseCaps();
      throw error;
    }
    if (guarded.kind === 'refused') {
      // Nothing reaches a provider: the cap slot goes back, and the next candidate is tried.
      await releaseCaps();
      return { kind: 'spend_refused', reason: guarded.reason, at: this.clock.now() };
    }
    const spendReservation = guarded.reservation;
    const release = async () => {
      await releaseCaps();
      if (spendReservation) await this.spend.release(spendReservation);
    };
    let outcome: ChannelOutcome;
    try {
      outcome = await this.tryChannel(
        command,
        candidate,
        options.expiresAt,
        options.locale,
        options.observe,
      );
    } catch (error) {
      // Nothing was sent (the failure came before or outside the provider call): give the
      // slot back, since the retry of this record may take another path.
      await release();
      throw error;
    }
    trace.push(...outcome.trace);
    const { result } = outcome;
    // Only sends a provider accepted (or may have: outcome unknown) keep their place in the caps.
    if (result.kind !== 'sent' && result.kind !== 'outcome_unknown') await release();
    return { ...result, at: this.clock.now() };
  }

  /** Logged for a channel that failed, was throttled past the expiry or refused its content. */
  private channelDidNotTake(
    command: SendCommand,
    channel: Channel,
    outcome: CandidateOutcome,
  ): void {
    if (
      outcome.kind !== 'provider_failure' &&
      outcome.kind !== 'throttled' &&
      outcome.kind !== 'content_error'
    ) {
      return;
    }
    this.logger.warn(
      {
        messageId: command.id,
        customerId: command.customerId,
        channel,
        reasonCode: outcome.reason.code,
      },
      'channel did not take the message',
    );
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
      return {
        result: { kind: 'content_error', reason: { code: error.code, message: error.message } },
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
        result: {
          kind: 'sent',
          provider: routed.acceptance.provider,
          providerMessageId: routed.acceptance.providerMessageId,
          calls: routed.attempts.length,
        },
        trace,
      };
    } catch (error) {
      if (!(error instanceof ChannelUnavailableError)) throw error;
      await this.suppressions.recordRefusal(command, candidate, error.attempts);
      const trace = error.attempts.map((attempt) => attemptTrace(channel, attempt, at()));
      const code = error.allBreakersOpen ? 'BREAKER_OPEN' : error.lastError.code;
      const reason = { code, message: scrubContacts(error.message) };
      const { lastError } = error;
      const calls = error.attempts.length;
      if (error.throttledOnly) {
        // No provider was asked: every one was at its configured send rate (or its breaker open).
        const retryAfterMs = lastError.retryAfterMs ?? 1000;
        const throttled = { code: 'THROTTLED', message: reason.message };
        return { result: { kind: 'throttled', retryAfterMs, reason: throttled }, trace };
      }
      if (traitsOf(lastError.kind).mayHaveSent) {
        return {
          result: { kind: 'outcome_unknown', provider: lastError.provider, reason, calls },
          trace,
        };
      }
      // Retryable when the last provider failed on its side (down, throttled, breaker open).
      const retryAfter =
        lastError.retryAfterMs === undefined ? {} : { retryAfterMs: lastError.retryAfterMs };
      return {
        result: {
          kind: 'provider_failure',
          retryable: lastError.retryable,
          ...retryAfter,
          reason,
          calls,
        },
        trace,
      };
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

/** What the escalation decision needs of a plan made again when its job fires. */
function escalationPlanView(
  planned: PlanResult | undefined,
  category: string,
): Parameters<typeof escalationFired>[0]['plan'] {
  if (!planned) return { kind: 'not_sendable', why: `no policy is configured for ${category}` };
  switch (planned.kind) {
    case 'send':
      return { kind: 'send', candidates: planned.candidates.map((c) => c.channel) };
    case 'expired':
      return { kind: 'expired', expiresAt: planned.expiresAt };
    case 'defer':
      return {
        kind: 'not_sendable',
        why: `quiet hours hold it until ${planned.until.toISOString()}`,
      };
    case 'suppress':
      return { kind: 'not_sendable', why: suppressionWords(planned.reasonCode) };
    case 'undeliverable':
      return { kind: 'not_sendable', why: 'no channel has a contact, content and a provider now' };
  }
}

function suppressionWords(code: string): string {
  if (code === 'QUIET_HOURS') return 'quiet hours drop this category: not sent';
  if (code === 'NO_CONSENT') return 'the customer has not consented to any allowed channel';
  if (code === 'SUPPRESSED') {
    return 'every allowed channel is suppressed for this address (STOP, bounce, spam report, unsubscribe or gone subscription)';
  }
  return 'the customer opted out of every allowed channel for this category';
}
