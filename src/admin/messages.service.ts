import { Inject, Injectable } from '@nestjs/common';
import { CHANNELS, type SendCommand } from '@omnigate/contracts';
import { LOGGER, type Logger } from '../observability/logger';
import { MessageLogRepository, type AttemptRecord } from '../repositories/message-log.repository';
import { ReceiptOutboxRepository } from '../repositories/receipt-outbox.repository';
import { MessageProcessingService } from '../services/message-processing.service';
import {
  AdminMessagesRepository,
  type MessageDetail,
  type MessageSummary,
  type ProviderEventEntry,
} from './admin-messages.repository';
import { AdminAuditRepository } from './admin-audit.repository';
import type { AdminPrincipal } from './auth/roles';
import { maskRecipient, shouldMask } from './masking';
import { scrubContacts } from '../policy/scrub-contacts';
import { notFound } from './problem';
import type { ListMessagesQuery } from './schemas';

/** What the sealed command said, without its content: which channels, whom, which template. */
export interface CommandSummary {
  readonly priority: string;
  readonly channels: readonly string[] | null;
  readonly recipient: SendCommand['recipient'] | null;
  readonly contentChannels: readonly string[];
  readonly templateId: string | null;
  readonly metadata: Readonly<Record<string, string>> | null;
}

export interface Timeline {
  readonly message: MessageDetail;
  readonly command: CommandSummary | null;
  readonly attempts: readonly AttemptRecord[];
  readonly events: ReadonlyArray<{
    readonly id: string;
    readonly status: string;
    /** On the receipts topic already (when is not recorded since migration 0010). */
    readonly published: boolean;
    readonly receipt: unknown;
  }>;
  readonly resends: readonly MessageSummary[];
  /** What the providers reported after the send, in the order it happened. */
  readonly providerEvents: readonly ProviderEventEntry[];
  /** Receipts and provider events together, by time: the message's whole delivery story. */
  readonly lifecycle: ReadonlyArray<
    | { readonly kind: 'receipt'; readonly at: string; readonly status: string }
    | ({ readonly kind: 'provider-event'; readonly at: string } & ProviderEventEntry)
  >;
}

/** Looking messages up: lists for a customer or a status, and one message's whole story. */
@Injectable()
export class AdminMessagesService {
  constructor(
    private readonly messages: AdminMessagesRepository,
    private readonly log: MessageLogRepository,
    private readonly outbox: ReceiptOutboxRepository,
    private readonly processing: MessageProcessingService,
    private readonly audit: AdminAuditRepository,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async list(
    query: ListMessagesQuery,
  ): Promise<{ items: MessageSummary[]; nextCursor: string | null }> {
    return this.messages.list({
      ...query,
      from: query.from === undefined ? undefined : new Date(query.from),
      to: query.to === undefined ? undefined : new Date(query.to),
    });
  }

  async timeline(messageId: string, caller: AdminPrincipal): Promise<Timeline> {
    const message = await this.messages.get(messageId);
    if (!message) throw notFound(`no message ${messageId}`);
    const [stored, attempts, events, resends, providerEvents] = await Promise.all([
      this.log.get(messageId),
      this.log.attempts(messageId),
      this.outbox.eventsOf(messageId),
      this.messages.resendsOf(messageId),
      this.messages.providerEventsOf(messageId),
    ]);
    let command: CommandSummary | null = null;
    if (stored) {
      try {
        const opened = this.processing.open(stored);
        command = {
          priority: opened.priority,
          channels: opened.channels ?? null,
          recipient: opened.recipient ? maskRecipient(opened.recipient, caller.role) : null,
          contentChannels: CHANNELS.filter((channel) => opened.content?.[channel] !== undefined),
          templateId: opened.template?.id ?? null,
          metadata: opened.metadata ?? null,
        };
      } catch (error) {
        // A command sealed with a key no longer configured: the timeline still shows the rest.
        this.logger.warn(
          { messageId, error: error instanceof Error ? error.message : String(error) },
          'admin timeline: the sealed command could not be opened',
        );
      }
    }
    if (command?.recipient && !shouldMask(caller.role)) {
      // Whole contacts read by a person: audited, like an unmasked profile.
      await this.audit.record({
        actorId: caller.id,
        actorRole: caller.role,
        action: 'read_unmasked',
        messageId,
        customerId: message.customerId,
        reason: "read a message's recipient with contacts unmasked",
        details: { what: 'timeline' },
      });
    }
    return {
      message,
      command,
      // Provider error text sometimes echoes the recipient; only an admin sees it as it came.
      attempts: shouldMask(caller.role)
        ? attempts.map((a) => ({
            ...a,
            detail: a.detail === null ? null : scrubContacts(a.detail),
          }))
        : attempts,
      events: events.map((event) => ({
        id: event.id,
        status: event.receipt.status,
        published: event.published,
        receipt: event.receipt,
      })),
      resends,
      providerEvents,
      lifecycle: [
        ...providerEvents.map((event) => ({
          kind: 'provider-event' as const,
          at: event.occurredAt,
          ...event,
        })),
        ...events.map((event) => ({
          kind: 'receipt' as const,
          at: event.receipt.occurredAt,
          status: event.receipt.status,
        })),
      ]
        // Stable: an event comes before the receipt it caused, which carries the event's time.
        .sort((a, b) => Date.parse(a.at) - Date.parse(b.at)),
    };
  }
}
