import { Inject, Injectable } from '@nestjs/common';
import {
  receiptEventId,
  type Channel,
  type DeliveryReceipt,
  type ReceiptStatus,
  type SendCommand,
  type TraceEntry,
} from '@omnigate/contracts';
import { ChannelRouter, ChannelUnavailableError, type ProviderAttempt } from '@omnigate/channels';
import { Clock } from '../repositories/clock';
import { LOGGER, type Logger } from '../observability/logger';
import { ContentError, ContentRenderer } from './content/content-renderer';
import { scrubContacts } from './policy/scrub-contacts';
import { expiryOf, planChannels, type ChannelCandidate } from './policy/channel-selection';

type ReceiptFields = Partial<
  Pick<
    DeliveryReceipt,
    'channel' | 'provider' | 'providerMessageId' | 'reason' | 'trace' | 'fallbackFrom'
  >
>;

/**
 * Sends a valid command: plans the channels, renders each candidate's content, and hands it to the
 * channel router (provider failover and breakers). A channel that cannot take the message passes it
 * to the next candidate. Answers the receipt that settles the command; only infrastructure
 * failures propagate, so the record is retried.
 */
@Injectable()
export class DispatchService {
  constructor(
    private readonly router: ChannelRouter,
    private readonly renderer: ContentRenderer,
    private readonly clock: Clock,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async dispatch(command: SendCommand, receivedAt: Date): Promise<DeliveryReceipt> {
    const now = this.clock.now();
    const expiry = expiryOf(command, receivedAt);
    if (expiry && expiry.getTime() <= now.getTime()) {
      return this.receipt(command, 'expired', 0, {
        reason: {
          code: 'EXPIRED',
          message: `the command expired at ${expiry.toISOString()} before it could be sent`,
        },
      });
    }

    const plan = planChannels(command, {
      hasContent: (channel) => this.renderer.hasContentFor(command, channel),
      isSupported: (channel) => this.router.supports(channel),
    });
    const trace: TraceEntry[] = plan.trace.map((entry) => ({ ...entry, at: now.toISOString() }));
    if (plan.candidates.length === 0) {
      return this.receipt(command, 'failed', 0, {
        trace,
        reason: {
          code: 'NO_DELIVERABLE_CHANNEL',
          message: 'no channel had content, a contact and a provider',
        },
      });
    }

    let providerCalls = 0;
    let firstFailed: Channel | undefined;
    let lastReason = { code: 'NO_DELIVERABLE_CHANNEL', message: 'no channel took the message' };
    for (const candidate of plan.candidates) {
      const outcome = await this.tryChannel(command, candidate, expiry, now);
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
        return this.receipt(command, 'sent', providerCalls, {
          channel: candidate.channel,
          provider: outcome.sent.provider,
          providerMessageId: outcome.sent.providerMessageId,
          trace,
          ...(firstFailed ? { fallbackFrom: firstFailed } : {}),
        });
      }
      if (outcome.outcomeUnknown) {
        // The provider may have delivered it: another provider or channel could send it twice.
        return this.receipt(command, 'unknown', providerCalls, {
          channel: candidate.channel,
          provider: outcome.outcomeUnknown.provider,
          trace,
          reason: { code: 'PROVIDER_OUTCOME_UNKNOWN', message: outcome.reason.message },
          ...(firstFailed ? { fallbackFrom: firstFailed } : {}),
        });
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
    return this.receipt(command, 'failed', providerCalls, { trace, reason: lastReason });
  }

  private async tryChannel(
    command: SendCommand,
    candidate: ChannelCandidate,
    expiry: Date | null,
    now: Date,
  ): Promise<{
    sent?: { provider: string; providerMessageId: string };
    outcomeUnknown?: { provider: string };
    attempts: readonly ProviderAttempt[];
    trace: TraceEntry[];
    reason: { code: string; message: string };
  }> {
    const { channel, address } = candidate;
    const at = (): string => this.clock.now().toISOString();
    let rendered;
    try {
      rendered = this.renderer.render(command, channel);
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
      const routed = await this.router.send({
        messageId: command.id,
        customerId: command.customerId,
        channel,
        address,
        content: rendered.content,
        category: command.category,
        priority: command.priority,
        ...(expiry
          ? { ttlSeconds: Math.max(1, Math.floor((expiry.getTime() - now.getTime()) / 1000)) }
          : {}),
      });
      const envelope = rendered.sms
        ? ` (${rendered.sms.encoding}, ${rendered.sms.segments} segment${rendered.sms.segments === 1 ? '' : 's'})`
        : '';
      const localeNote = rendered.locale ? ` [template locale ${rendered.locale}]` : '';
      const trace: TraceEntry[] = routed.attempts.map((attempt) => {
        const entry = this.attemptTrace(channel, attempt, at());
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
      const trace = error.attempts.map((attempt) => this.attemptTrace(channel, attempt, at()));
      const code = error.allBreakersOpen ? 'BREAKER_OPEN' : error.lastError.code;
      const reason = { code, message: scrubContacts(error.message) };
      if (error.lastError.kind === 'outcome_unknown') {
        return {
          attempts: error.attempts,
          trace,
          reason,
          outcomeUnknown: { provider: error.lastError.provider },
        };
      }
      return { attempts: error.attempts, trace, reason };
    }
  }

  private attemptTrace(channel: Channel, attempt: ProviderAttempt, at: string): TraceEntry {
    return attempt.outcome === 'accepted'
      ? { channel, decision: 'sent', detail: `${attempt.provider} ${attempt.detail}`, at }
      : {
          channel,
          decision: 'failed',
          reasonCode:
            (attempt.vendorCode === 'BREAKER_OPEN'
              ? 'BREAKER_OPEN'
              : attempt.errorKind?.toUpperCase()) ?? 'FAILED',
          // Adapter messages usually name their provider already.
          detail: scrubContacts(
            attempt.detail.startsWith(`${attempt.provider}:`)
              ? attempt.detail
              : `${attempt.provider}: ${attempt.detail}`,
          ),
          at,
        };
  }

  private receipt(
    command: SendCommand,
    status: ReceiptStatus,
    attempt: number,
    fields: ReceiptFields,
  ): DeliveryReceipt {
    return {
      schemaVersion: 1,
      // Only what redoing the command cannot change: a redo after a crash may take another
      // provider path, yet it must publish the same eventId so consumers deduplicate it.
      eventId: receiptEventId({ messageId: command.id, status, attempt: 0 }),
      messageId: command.id,
      customerId: command.customerId,
      status,
      channel: fields.channel ?? null,
      provider: fields.provider ?? null,
      providerMessageId: fields.providerMessageId ?? null,
      attempt,
      reason: fields.reason ?? null,
      occurredAt: this.clock.now().toISOString(),
      trace: fields.trace ?? [],
      ...(fields.fallbackFrom ? { fallbackFrom: fields.fallbackFrom } : {}),
    };
  }
}
