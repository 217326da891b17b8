import { Inject, Injectable } from '@nestjs/common';
import {
  buildReceipt,
  channelSchema,
  sendCommandSchema,
  type Channel,
  type DeliveryReceipt,
  type SendCommand,
  type TraceEntry,
} from '@omnigate/contracts';
import type { AttemptObserver } from '@omnigate/channels';
import stringify from 'safe-stable-stringify';
import type { AppConfig } from '../config/environment';
import { APP_CONFIG } from '../config/app-config.token';
import { LOGGER, type Logger } from '../observability/logger';
import { Metrics } from '../observability/metrics';
import { activeTraceparent, startChildSpan } from '../observability/tracing';
import { Clock } from '../repositories/clock';
import {
  MessageLogRepository,
  CANCELLED,
  MessageCancelledError,
  OwnershipLostError,
  type AttemptRecord,
  type StoredMessage,
} from '../repositories/message-log.repository';
import { MessageSealer } from '../repositories/message-sealer';
import { PayloadHasher } from '../repositories/payload-hasher';
import { DispatchService, type DispatchOutcome, type EscalationRun } from './dispatch.service';
import type { EscalationCondition, PlanOverrides } from '../policy/model';
import { reachedInTime } from '../policy/escalation';
import { EscalationScheduler, type EscalationJobPayload } from './escalation-scheduler';
import { GatewayInstance } from './gateway-instance';
import { ReceiptRelay } from './receipt-relay.service';

/** Scheduler job kinds this service continues. */
export const DISPATCH_JOB = 'dispatch';
/** Checks on a message another instance was working on, in case that instance died. */
export const RECOVER_JOB = 'recover';

export interface MessageJobPayload {
  readonly messageId: string;
}

/** How far the message had come before this run. */
export interface RunState {
  readonly deferrals: number;
  readonly retries: number;
  /** Calls found in flight after their instance died (now `abandoned`). */
  readonly abandoned?: readonly AttemptRecord[];
  /** A call a provider accepted before the message could be settled. */
  readonly accepted?: AttemptRecord;
  /** The scheduler job this run came from; completed when the run settles. */
  readonly job?: { readonly id: string; readonly workerId: string };
  /** An admin's audited overrides (admin resend), as stored with the message. */
  readonly overrides?: PlanOverrides;
}

/**
 * Runs a message this instance owns (claimed from Kafka, or taken over from the scheduler or from
 * a dead instance) and settles it in the message log: attempts are written around each provider
 * call, and the outcome, its receipt and any follow-up job are written in one transaction.
 *
 * The rule for a crash: a call found in flight is `abandoned`; if a provider had accepted one, the
 * message is settled as sent without another request; otherwise INFLIGHT_ATTEMPTS decides: resend
 * (the default: the provider may get it twice, which only an in-flight call can cause) or unknown
 * (an UNKNOWN receipt, no second request).
 */
@Injectable()
export class MessageProcessingService {
  private readonly sealer: MessageSealer;
  private readonly hasher: PayloadHasher;
  /** Messages a handler of this instance is running, with that run's end. */
  private readonly active = new Map<string, Promise<void>>();

  constructor(
    private readonly dispatcher: DispatchService,
    private readonly log: MessageLogRepository,
    private readonly relay: ReceiptRelay,
    private readonly instance: GatewayInstance,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {
    this.sealer = new MessageSealer(config.messageLog.key, config.messageLog.previousKeys);
    this.hasher = new PayloadHasher(config.messageLog.key, config.messageLog.previousKeys);
  }

  get owner(): string {
    return this.instance.id;
  }

  /**
   * Runs `work` as this instance's only handler of the message, or answers false at once when
   * another handler here has it (a recovery job and a redelivered record may meet). The database
   * claim tells instances apart; this tells apart two handlers of one instance, which share its
   * owner name.
   */
  async exclusively(messageId: string, work: () => Promise<void>): Promise<boolean> {
    if (this.active.has(messageId)) return false;
    let finished!: () => void;
    this.active.set(messageId, new Promise<void>((resolve) => (finished = resolve)));
    try {
      await work();
      return true;
    } finally {
      this.active.delete(messageId);
      finished();
    }
  }

  /** Resolves once no handler of this instance holds the message (at once when none does). */
  async idle(messageId: string): Promise<void> {
    for (let busy = this.active.get(messageId); busy; busy = this.active.get(messageId)) {
      await busy;
    }
  }

  /** The sealed command and the hash that tells a repeat from a conflicting reuse of its id. */
  seal(command: SendCommand): {
    sealedCommand: string;
    payloadHash: string;
    earlierPayloadHashes: string[];
  } {
    const canonical = stringify(command);
    return {
      sealedCommand: this.sealer.seal(canonical, command.id),
      payloadHash: this.hasher.hash(canonical),
      earlierPayloadHashes: this.hasher.earlier(canonical),
    };
  }

  open(message: StoredMessage): SendCommand {
    return sendCommandSchema.parse(JSON.parse(this.sealer.open(message.sealedCommand, message.id)));
  }

  async run(command: SendCommand, receivedAt: Date, state: RunState): Promise<void> {
    if (state.accepted) {
      await this.settleRecoveredSend(command, state, state.accepted);
      return;
    }
    const notes = this.abandonedNotes(state);
    if (notes.length > 0 && this.config.messageLog.inflightAttempts === 'unknown') {
      const last = state.abandoned![state.abandoned!.length - 1]!;
      await this.settle(command, state, {
        receipt: this.plainReceipt(command, 'unknown', {
          channel: last.channel as Channel,
          provider: last.provider,
          trace: notes,
          reason: {
            code: 'PROVIDER_OUTCOME_UNKNOWN',
            message: `a call to ${last.provider} was in flight when its gateway instance stopped, so the provider may or may not have the message; it is not sent again`,
          },
        }),
      });
      return;
    }
    try {
      const outcome = await this.dispatcher.dispatch(command, receivedAt, {
        deferrals: state.deferrals,
        retries: state.retries,
        notes,
        observe: (channel) => this.attemptRecorder(command.id, channel),
        ...(state.overrides && { overrides: state.overrides }),
      });
      await this.settle(command, state, outcome);
    } catch (error) {
      if (await this.withdrawnMeanwhile(command.id, error)) return;
      throw error;
    }
  }

  /**
   * A cancel settled the message while this run worked on it: startAttempt refused the hand-over
   * (no provider was called), or the run's own settlement found the message no longer its own.
   * The cancel wrote its receipt already; the run stops without one.
   */
  private async withdrawnMeanwhile(messageId: string, error: unknown): Promise<boolean> {
    const cancelled =
      error instanceof MessageCancelledError ||
      (error instanceof OwnershipLostError &&
        (await this.log.get(messageId))?.status === CANCELLED);
    if (cancelled) {
      this.logger.info({ messageId }, 'message cancelled before it was handed to a provider');
    }
    return cancelled;
  }

  /**
   * An escalation job's run on a message it took from `sent` (see EscalationScheduler): when the
   * message reached its condition, or nothing can be sent, the message goes back to `sent` with
   * the reason in its trace and no receipt; otherwise it is dispatched on the channels it has not
   * used, and a new `sent` receipt (fallbackFrom the escalated channel) settles it. An escalation
   * that does not go out leaves the message sent where it was; one that must wait (a provider
   * retry) waits in a new escalation job.
   */
  async escalate(
    command: SendCommand,
    stored: StoredMessage,
    state: RunState & { readonly job: { readonly id: string; readonly workerId: string } },
    job: EscalationJobPayload & {
      readonly used: readonly string[];
      readonly reached: EscalationCondition | null;
    },
    options: { readonly giveUp?: string } = {},
  ): Promise<void> {
    const from = job.channel;
    const now = this.clock.now();
    const back = (trace: readonly TraceEntry[], schedule?: Date) =>
      this.log.settle({
        messageId: command.id,
        owner: this.owner,
        status: 'sent',
        reasonCode: stored.reasonCode,
        channel: stored.channel,
        provider: stored.provider,
        providerMessageId: stored.providerMessageId,
        trace,
        appendTrace: true,
        kafkaKey: command.customerId,
        deferrals: state.deferrals,
        retries: state.retries,
        completeJob: state.job,
        ...(schedule && {
          schedule: EscalationScheduler.request(command.id, {
            runAt: schedule,
            channel: from,
            unless: job.unless,
            afterSeconds: job.afterSeconds,
          }),
        }),
      });
    const escalatedSend = state.accepted?.channel !== from ? state.accepted : undefined;
    if (escalatedSend) {
      // This escalation's send was accepted before its instance stopped: it went out, whatever
      // has happened since. Settle it; never send it again.
      await this.settleRecoveredSend(command, state, escalatedSend, from);
      return;
    }
    const reached = reachedInTime({ ...job, from, now });
    if (reached) {
      await back([reached]);
      return;
    }
    if (options.giveUp) {
      await back([
        {
          channel: from,
          decision: 'failed',
          reasonCode: 'ESCALATION_FAILED',
          detail: `the escalation could not be run: ${options.giveUp.slice(0, 500)}; the message stays sent on ${from}`,
          at: now.toISOString(),
        },
      ]);
      return;
    }
    // A call this escalation had in flight when its instance stopped: with INFLIGHT_ATTEMPTS=resend
    // its channel is tried again (as a normal run would), so it does not count as used.
    const inFlight =
      this.config.messageLog.inflightAttempts === 'resend'
        ? new Set((state.abandoned ?? []).map((attempt) => attempt.channel))
        : new Set<string>();
    const escalation: EscalationRun = {
      from,
      unless: job.unless,
      afterSeconds: job.afterSeconds,
      used: job.used.filter(
        (channel): channel is Channel =>
          channelSchema.safeParse(channel).success && !inFlight.has(channel),
      ),
    };
    const ran = await this.dispatcher.escalate(command, stored.receivedAt, {
      deferrals: state.deferrals,
      retries: state.retries,
      notes: this.abandonedNotes(state),
      observe: (channel) => this.attemptRecorder(command.id, channel),
      ...(state.overrides && { overrides: state.overrides }),
      escalation,
    });
    if (ran.kind === 'done') {
      await back(ran.trace);
      return;
    }
    const { receipt, deferral } = ran.outcome;
    if (receipt.status === 'sent') {
      await this.settle(command, state, ran.outcome, { appendTrace: true });
      return;
    }
    const at = this.clock.now().toISOString();
    if (deferral) {
      await back(
        [
          ...receipt.trace,
          {
            channel: from,
            decision: 'skipped',
            reasonCode: 'ESCALATION_DEFERRED',
            detail: `the escalation waits until ${deferral.runAt.toISOString()} (${receipt.reason?.message ?? deferral.reasonCode})`,
            at,
          },
        ],
        deferral.runAt,
      );
      return;
    }
    await back([
      ...receipt.trace,
      {
        channel: from,
        decision: 'failed',
        reasonCode: 'ESCALATION_FAILED',
        detail: `the escalation did not go out (${receipt.status}: ${receipt.reason?.message ?? 'no reason given'}); the message stays sent on ${from}`,
        at,
      },
    ]);
  }

  /** Ends a message whose step keeps failing on infrastructure, with a FAILED receipt. */
  async giveUp(
    command: SendCommand,
    state: RunState,
    reason: { code: string; message: string },
  ): Promise<void> {
    await this.settle(command, state, {
      receipt: this.plainReceipt(command, 'failed', {
        channel: null,
        provider: null,
        trace: [],
        reason,
      }),
    });
  }

  private abandonedNotes(state: RunState): TraceEntry[] {
    const at = this.clock.now().toISOString();
    return (state.abandoned ?? []).map((attempt) => ({
      channel: attempt.channel as Channel,
      decision: 'failed',
      reasonCode: 'IN_FLIGHT_AT_CRASH',
      detail: `a call to ${attempt.provider} was in flight when its gateway instance stopped; INFLIGHT_ATTEMPTS=${this.config.messageLog.inflightAttempts}`,
      at,
    }));
  }

  /**
   * A provider took the message, but the instance died before writing the outcome. `escalatedFrom`:
   * the send was an escalation's, away from that channel.
   */
  private async settleRecoveredSend(
    command: SendCommand,
    state: RunState,
    accepted: AttemptRecord,
    escalatedFrom?: string,
  ): Promise<void> {
    this.logger.info(
      { messageId: command.id, provider: accepted.provider },
      'recovered a send a provider had accepted before a restart',
    );
    await this.settle(
      command,
      state,
      {
        receipt: this.plainReceipt(
          command,
          'sent',
          {
            channel: accepted.channel as Channel,
            provider: accepted.provider,
            providerMessageId: accepted.providerMessageId,
            ...(escalatedFrom && { fallbackFrom: escalatedFrom as Channel }),
            trace: [
              {
                channel: accepted.channel as Channel,
                decision: 'sent',
                detail: `${accepted.provider} had accepted it as ${accepted.providerMessageId ?? 'an unknown id'} before its gateway instance stopped`,
                at: accepted.finishedAt?.toISOString() ?? this.clock.now().toISOString(),
              },
            ],
          },
          // The same eventId the escalation's own run would have given its sent receipt.
          escalatedFrom && `escalation:${escalatedFrom}`,
        ),
      },
      { appendTrace: escalatedFrom !== undefined },
    );
  }

  private async settle(
    command: SendCommand,
    state: RunState,
    outcome: DispatchOutcome,
    options: { readonly appendTrace?: boolean } = {},
  ): Promise<void> {
    const { receipt, deferral, escalation } = outcome;
    const published = await this.log.settle({
      messageId: command.id,
      owner: this.owner,
      status: receipt.status,
      reasonCode: receipt.reason?.code ?? null,
      channel: receipt.channel,
      provider: receipt.provider,
      providerMessageId: receipt.providerMessageId,
      trace: receipt.trace,
      // An escalation continues the message: its trace follows the first send's.
      appendTrace: options.appendTrace === true,
      receipt,
      kafkaKey: command.customerId,
      traceparent: activeTraceparent(),
      deferrals: deferral?.deferrals ?? state.deferrals,
      retries: deferral?.retries ?? state.retries,
      ...(deferral && {
        schedule: {
          kind: DISPATCH_JOB,
          runAt: deferral.runAt,
          payload: { messageId: command.id } satisfies MessageJobPayload,
          // One job per message and deferral: a redo of the same step finds the one it made.
          dedupeKey: `${DISPATCH_JOB}:${command.id}:${deferral.deferrals}`,
        },
      }),
      ...(escalation && { schedule: EscalationScheduler.request(command.id, escalation) }),
      ...(state.job && { completeJob: state.job }),
      // A message still waiting for its sender's rate has nothing new to tell.
      quietIfRepeated: deferral?.reasonCode === 'THROTTLED',
    });
    this.logger.debug(
      {
        messageId: command.id,
        customerId: command.customerId,
        status: receipt.status,
        channel: receipt.channel,
        provider: receipt.provider,
        reasonCode: receipt.reason?.code,
      },
      'message settled',
    );
    if (published) this.relay.kick();
  }

  /** Writes each provider call as an attempt row before it starts, and its outcome after. */
  private attemptRecorder(messageId: string, channel: Channel): AttemptObserver {
    let current: string | undefined;
    let startedAt = 0;
    let span: ReturnType<typeof startChildSpan> | undefined;
    return {
      beforeCall: async (provider) => {
        current = await this.log.startAttempt({
          messageId,
          channel,
          provider,
          owner: this.owner,
          startedAt: this.clock.now(),
        });
        // After the attempt row is written: the histogram times the provider, not our database.
        startedAt = performance.now();
        span = startChildSpan('omnigate.provider.send', {
          'omnigate.channel': channel,
          'omnigate.provider': provider,
          'omnigate.message_id': messageId,
        });
      },
      afterCall: async (provider, attempt, acceptance) => {
        this.metrics.providerRequests.observe(
          { channel, provider, outcome: acceptance ? 'accepted' : 'failed' },
          (performance.now() - startedAt) / 1000,
        );
        span?.setAttribute('omnigate.outcome', attempt.outcome);
        if (attempt.errorKind) span?.setAttribute('omnigate.error_kind', attempt.errorKind);
        span?.end();
        span = undefined;
        if (current === undefined) return;
        const id = current;
        current = undefined;
        await this.log.finishAttempt(id, {
          outcome: attempt.outcome,
          finishedAt: this.clock.now(),
          ...(attempt.errorKind && { errorKind: attempt.errorKind }),
          ...(attempt.vendorCode && { vendorCode: attempt.vendorCode }),
          ...(acceptance && { providerMessageId: acceptance.providerMessageId }),
          detail: attempt.detail,
        });
      },
    };
  }

  private plainReceipt(
    command: SendCommand,
    status: DeliveryReceipt['status'],
    fields: Pick<DeliveryReceipt, 'channel' | 'provider' | 'trace'> &
      Partial<Pick<DeliveryReceipt, 'providerMessageId' | 'reason' | 'fallbackFrom'>>,
    discriminator?: string,
  ): DeliveryReceipt {
    // Attempt 0 (and the discriminator of the step, if any): the eventId a normal run of this step
    // gives, so a recovered step is the same event.
    return buildReceipt({
      messageId: command.id,
      customerId: command.customerId,
      status,
      ...fields,
      ...(discriminator && { discriminator }),
      occurredAt: this.clock.now(),
    });
  }
}
