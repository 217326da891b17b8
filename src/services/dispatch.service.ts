import { Inject, Injectable } from '@nestjs/common';
import {
  receiptEventId,
  type DeliveryReceipt,
  type ReceiptStatus,
  type SendCommand,
} from '@omnigate/contracts';
import { ChannelError, ChannelRegistry, type ChannelContent } from '@omnigate/channels';
import { Clock } from '../repositories/clock';
import { LOGGER, type Logger } from '../observability/logger';
import { expiryOf, selectChannel, type ChannelConsideration } from './policy/channel-selection';

type TraceEntry = DeliveryReceipt['trace'][number];

/**
 * Decides the channel for a valid command, hands it to that channel's provider, and answers the
 * receipt that settles it. Provider errors become FAILED receipts with the error's code; anything
 * else is an infrastructure failure and propagates so the record is retried.
 */
@Injectable()
export class DispatchService {
  constructor(
    private readonly channels: ChannelRegistry,
    private readonly clock: Clock,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async dispatch(command: SendCommand, receivedAt: Date): Promise<DeliveryReceipt> {
    const now = this.clock.now();
    const expiry = expiryOf(command, receivedAt);
    if (expiry && expiry.getTime() <= now.getTime()) {
      return this.receipt(command, 'expired', {
        reason: {
          code: 'EXPIRED',
          message: `the command expired at ${expiry.toISOString()} before it could be sent`,
        },
      });
    }
    if (!command.content) {
      return this.receipt(command, 'failed', {
        reason: {
          code: 'TEMPLATES_NOT_CONFIGURED',
          message: `template "${command.template?.id ?? ''}" cannot be rendered: no template store is configured`,
        },
      });
    }

    const selection = selectChannel(command, (channel) => this.channels.supports(channel));
    const trace = selection.trace.map((entry) => this.traceEntry(entry, now));
    if (!selection.chosen) {
      return this.receipt(command, 'failed', {
        trace,
        reason: {
          code: 'NO_DELIVERABLE_CHANNEL',
          message: 'no channel had content, a contact and a provider',
        },
      });
    }

    const { channel, address } = selection.chosen;
    const [adapter] = this.channels.providersFor(channel);
    const content = command.content[channel] as ChannelContent;
    try {
      const accepted = await adapter!.send({
        messageId: command.id,
        customerId: command.customerId,
        channel,
        address,
        content,
        category: command.category,
        priority: command.priority,
        ...(expiry
          ? { ttlSeconds: Math.max(1, Math.floor((expiry.getTime() - now.getTime()) / 1000)) }
          : {}),
      });
      this.logger.info(
        {
          messageId: command.id,
          customerId: command.customerId,
          channel,
          provider: accepted.provider,
        },
        'message accepted by provider',
      );
      return this.receipt(command, 'sent', {
        channel,
        provider: accepted.provider,
        providerMessageId: accepted.providerMessageId,
        trace: [
          ...trace,
          {
            channel,
            decision: 'sent',
            detail: `${accepted.provider} accepted the message`,
            at: accepted.acceptedAt.toISOString(),
          },
        ],
      });
    } catch (error) {
      if (!(error instanceof ChannelError)) throw error;
      this.logger.warn(
        {
          messageId: command.id,
          customerId: command.customerId,
          channel,
          provider: error.provider,
          kind: error.kind,
          vendorCode: error.vendorCode,
        },
        'provider refused the message',
      );
      return this.receipt(command, 'failed', {
        channel,
        provider: error.provider,
        reason: { code: error.code, message: error.message },
        trace: [
          ...trace,
          {
            channel,
            decision: 'failed',
            reasonCode: error.code,
            detail: error.message,
            at: now.toISOString(),
          },
        ],
      });
    }
  }

  private traceEntry(entry: ChannelConsideration, at: Date): TraceEntry {
    return { ...entry, at: at.toISOString() };
  }

  private receipt(
    command: SendCommand,
    status: ReceiptStatus,
    fields: Partial<
      Pick<DeliveryReceipt, 'channel' | 'provider' | 'providerMessageId' | 'reason' | 'trace'>
    >,
  ): DeliveryReceipt {
    const attempt = status === 'sent' || status === 'failed' ? 1 : 0;
    return {
      schemaVersion: 1,
      eventId: receiptEventId({ messageId: command.id, status, attempt }),
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
    };
  }
}
