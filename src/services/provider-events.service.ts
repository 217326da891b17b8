import { EscalationScheduler } from './escalation-scheduler';
import { Inject, Injectable } from '@nestjs/common';
import {
  buildReceipt,
  decodeProviderEvent,
  providerEventSchema,
  type AddressConsentEvent,
  type Channel,
  type MessageStatusEvent,
  type ProviderEvent,
} from '@omnigate/contracts';
import { DeadLetterPublisher, type HandlerFailure, type InboundRecord } from '@omnigate/kafka';
import type { AppConfig } from '../config/environment';
import { APP_CONFIG } from '../config/app-config.token';
import { LOGGER, type Logger } from '../observability/logger';
import { Metrics } from '../observability/metrics';
import { decideProgress, type ProgressReceiptStatus } from '../policy/delivery-progress';
import { scrubContacts } from '../policy/scrub-contacts';
import { ALL_CATEGORIES } from '../repositories/address-suppression.repository';
import { Clock } from '../repositories/clock';
import {
  ProviderEventRepository,
  type JobCompletion,
  type MessageDeliveryState,
  type ProviderEventRecord,
  type StatusApplication,
} from '../repositories/provider-event.repository';
import { SchedulerRepository, type ScheduledJob } from '../repositories/scheduler.repository';
import { ReceiptRelay } from './receipt-relay.service';

/** Scheduler job kind: a status event that came before its message was in the log. */
export const PROVIDER_EVENT_RETRY_JOB = 'provider-event.retry';

const FIRST_RETRY_MS = 1_000;
const LONGEST_RETRY_MS = 5 * 60_000;

/**
 * Every receipt a provider report causes shares this discriminator: one receipt per status per
 * message, whichever event reached it, and the same event id when the event is applied again.
 */
const REPORT_DISCRIMINATOR = 'provider-report';

/** What the applier did with one event. */
export type ApplyOutcome =
  | 'applied'
  | 'duplicate'
  /** The message is not in the log yet: a retry job holds the event. */
  | 'retry_scheduled'
  /** Its message never appeared within PROVIDER_EVENT_RETRY_FOR_MS. */
  | 'orphaned'
  /** A retry job whose payload is not a ProviderEvent (written by something else): dropped. */
  | 'unreadable';

interface StatusDecision extends StatusApplication {
  readonly receiptStatuses: readonly ProgressReceiptStatus[];
}

/**
 * Applies the provider-events topic (status callbacks, event webhooks, push acks, inbound STOP
 * replies) to the message log: each event once, in one transaction with the message's delivery
 * status, its receipts and its suppressions. The rule for status is pure (delivery-progress.ts);
 * an event that overtook its message's commit waits in the scheduler rather than being dropped.
 */
@Injectable()
export class ProviderEventsService {
  constructor(
    private readonly events: ProviderEventRepository,
    private readonly scheduler: SchedulerRepository,
    private readonly deadLetters: DeadLetterPublisher,
    private readonly relay: ReceiptRelay,
    private readonly clock: Clock,
    private readonly metrics: Metrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly escalations: EscalationScheduler,
  ) {}

  async handle(record: InboundRecord): Promise<void> {
    const decoded = decodeProviderEvent(record.key, record.value, {
      maxBytes: this.config.maxCommandBytes,
      maxDepth: this.config.maxCommandDepth,
    });
    if (!decoded.ok) {
      this.logger.warn(
        {
          topic: record.topic,
          partition: record.partition,
          offset: record.offset,
          reasonCode: decoded.code,
        },
        'provider event rejected and dead-lettered',
      );
      await this.deadLetters.publish(
        record,
        { code: decoded.code, message: decoded.message },
        this.clock.now(),
      );
      this.metrics.deadLetters.inc({ reason: decoded.code });
      return;
    }
    await this.apply(decoded.event);
  }

  /** A provider event whose handling kept failing goes to the dead-letter topic, to be re-driven. */
  async setAside(record: InboundRecord, failure: HandlerFailure): Promise<void> {
    const reason = {
      code: 'HANDLER_FAILED',
      message: `applying the provider event failed ${failure.attempts} time${failure.attempts === 1 ? '' : 's'} (${failure.error.name}); it was set aside for an operator`,
    };
    await this.deadLetters.publish(record, reason, this.clock.now());
    this.metrics.deadLetters.inc({ reason: reason.code });
  }

  async apply(
    event: ProviderEvent,
    job?: ScheduledJob & { readonly workerId: string },
  ): Promise<ApplyOutcome> {
    const completion = job && { id: job.id, workerId: job.workerId };
    return event.type === 'message-status'
      ? this.applyStatus(event, job, completion)
      : this.applyConsent(event, completion);
  }

  /** Runs a `provider-event.retry` job (the scheduler worker calls it with the job it leased). */
  async retry(job: ScheduledJob, workerId: string): Promise<ApplyOutcome> {
    const parsed = providerEventSchema.safeParse(job.payload);
    if (!parsed.success) {
      this.logger.error(
        { jobId: job.id },
        'provider event retry with an unreadable payload dropped',
      );
      await this.scheduler.complete(job.id, workerId);
      return 'unreadable';
    }
    return this.apply(parsed.data, { ...job, workerId });
  }

  private async applyStatus(
    event: MessageStatusEvent,
    job: (ScheduledJob & { readonly workerId: string }) | undefined,
    completion: JobCompletion | undefined,
  ): Promise<ApplyOutcome> {
    const result = await this.events.applyToMessage(
      { provider: event.provider, eventId: event.eventId, messageId: event.messageId },
      (state) => this.decide(event, state),
      completion,
      // The delivered/read report ends the escalation timer it satisfies, in the same transaction.
      async (application, trx) => {
        const reached = application.receiptStatuses.includes('read')
          ? 'read'
          : application.receiptStatuses.includes('delivered')
            ? 'delivered'
            : undefined;
        if (reached) await this.escalations.cancel(event.messageId, reached, trx);
      },
    );
    if (result.kind === 'duplicate') {
      this.count(event, 'duplicate');
      return 'duplicate';
    }
    if (result.kind === 'not_yet') return this.waitForMessage(event, job);
    const { application, state } = result;
    this.count(event, application.record.effect);
    if (application.receiptStatuses.includes('delivered')) {
      const labels = { channel: event.channel, provider: event.provider };
      this.metrics.messagesDelivered.inc(labels);
      if (state.sentAt) {
        const seconds = (Date.parse(event.occurredAt) - state.sentAt.getTime()) / 1000;
        this.metrics.timeToDelivered.observe(labels, Math.max(0, seconds));
      }
    }
    this.logger.debug(
      {
        messageId: event.messageId,
        provider: event.provider,
        outcome: event.outcome,
        effect: application.record.effect,
        receipts: application.receiptStatuses,
      },
      'provider event applied',
    );
    if (application.receipts.length > 0) this.relay.kick();
    return 'applied';
  }

  /** What the event writes, from the message as it is now (no I/O: runs in the transaction). */
  private decide(event: MessageStatusEvent, state: MessageDeliveryState): StatusDecision {
    const decision = decideProgress({
      current: state.deliveryStatus,
      reported: state.reported,
      outcome: event.outcome,
      handedToProvider: state.status === 'sent' || state.status === 'unknown',
    });
    const receipts = decision.receipts.map((status) => ({
      receipt: buildReceipt({
        messageId: state.messageId,
        customerId: state.customerId,
        status,
        channel: event.channel,
        provider: event.provider,
        providerMessageId: event.providerMessageId ?? state.providerMessageId,
        reason: reasonFor(status, event),
        occurredAt: event.occurredAt,
        discriminator: REPORT_DISCRIMINATOR,
      }),
      key: state.customerId,
      traceparent: state.traceparent,
    }));
    const suppress = event.suppress;
    return {
      record: toRecord(event, decision.effect),
      deliveryStatus: decision.next,
      receipts,
      receiptStatuses: decision.receipts,
      suppressions: suppress
        ? [
            {
              channel: event.channel,
              addressHash: suppress.addressHash,
              scope: suppress.category ?? ALL_CATEGORIES,
              reason: suppress.reason,
              source: `${event.provider}:${event.eventId}`,
              createdAt: new Date(event.occurredAt),
            },
          ]
        : [],
    };
  }

  /**
   * The event overtook its message (a fast callback before the send's commit) or names one this
   * log never had: it waits in the scheduler with a growing backoff, and after
   * PROVIDER_EVENT_RETRY_FOR_MS from its arrival it is recorded as orphaned.
   */
  private async waitForMessage(
    event: MessageStatusEvent,
    job: (ScheduledJob & { readonly workerId: string }) | undefined,
  ): Promise<ApplyOutcome> {
    const now = this.clock.now();
    const deadline = Date.parse(event.receivedAt) + this.config.providerEvents.retryForMs;
    if (now.getTime() >= deadline) {
      const recorded = await this.events.recordAlone(toRecord(event, 'orphaned'), {
        ...(job && { completeJob: { id: job.id, workerId: job.workerId } }),
      });
      this.count(event, recorded ? 'orphaned' : 'duplicate');
      this.logger.warn(
        { messageId: event.messageId, provider: event.provider, outcome: event.outcome },
        'provider event orphaned: its message never appeared in the log',
      );
      return recorded ? 'orphaned' : 'duplicate';
    }
    const attempts = job?.attempts ?? 0;
    const delayMs = Math.min(LONGEST_RETRY_MS, FIRST_RETRY_MS * 2 ** attempts);
    const runAt = new Date(Math.min(now.getTime() + delayMs, deadline));
    if (job) {
      await this.scheduler.reschedule(
        job.id,
        job.workerId,
        runAt,
        'the message is not in the log yet',
      );
    } else {
      await this.scheduler.schedule({
        kind: PROVIDER_EVENT_RETRY_JOB,
        runAt,
        payload: event,
        dedupeKey: `${PROVIDER_EVENT_RETRY_JOB}:${event.provider}:${event.eventId}`,
      });
    }
    this.logger.info(
      { messageId: event.messageId, provider: event.provider, runAt: runAt.toISOString() },
      'provider event came before its message; retrying later',
    );
    return 'retry_scheduled';
  }

  private async applyConsent(
    event: AddressConsentEvent,
    completion: JobCompletion | undefined,
  ): Promise<ApplyOutcome> {
    const source = `${event.provider}:${event.eventId}`;
    const record = toRecord(event, event.action === 'opt-out' ? 'suppressed' : 'unsuppressed');
    const recorded = await this.events.recordAlone(
      record,
      event.action === 'opt-out'
        ? {
            add: [
              {
                channel: event.channel,
                addressHash: event.addressHash,
                scope: ALL_CATEGORIES,
                reason: 'STOP_KEYWORD',
                source,
                createdAt: new Date(event.occurredAt),
              },
            ],
            ...(completion && { completeJob: completion }),
          }
        : {
            // A START lifts the STOP of that phone on both channels that share it, nothing else
            // (a hard bounce or a gone subscription is not the customer's to undo by text).
            lift: {
              channels: PHONE_CHANNELS,
              addressHash: event.addressHash,
              reason: 'STOP_KEYWORD',
            },
            ...(completion && { completeJob: completion }),
          },
    );
    this.count(event, recorded ? record.effect : 'duplicate');
    this.logger.info(
      { provider: event.provider, channel: event.channel, action: event.action, recorded },
      'address consent applied',
    );
    return recorded ? 'applied' : 'duplicate';
  }

  private count(event: ProviderEvent, effect: string): void {
    this.metrics.providerEventsApplied.inc({
      channel: event.channel,
      provider: event.provider,
      outcome: event.type === 'message-status' ? event.outcome : event.action,
      effect,
    });
  }
}

const PHONE_CHANNELS: readonly Channel[] = ['sms', 'whatsapp'];

function toRecord(event: ProviderEvent, effect: string): ProviderEventRecord {
  const status = event.type === 'message-status';
  return {
    provider: event.provider,
    eventId: event.eventId,
    messageId: status ? event.messageId : null,
    channel: event.channel,
    type: event.type,
    outcome: status ? event.outcome : event.action,
    providerStatus: status ? event.providerStatus : event.keyword,
    errorCode: status ? event.errorCode : null,
    detail: status && event.detail !== null ? scrubContacts(event.detail) : null,
    occurredAt: new Date(event.occurredAt),
    receivedAt: new Date(event.receivedAt),
    effect,
  };
}

/** The reason on a failed, bounced or unknown receipt: the vendor's words, never an address. */
function reasonFor(
  status: ProgressReceiptStatus,
  event: MessageStatusEvent,
): { code: string; message: string } | null {
  if (status !== 'failed' && status !== 'bounced' && status !== 'unknown') return null;
  const code = event.errorCode === null ? '' : ` (error ${event.errorCode})`;
  const detail = event.detail === null ? '' : `: ${event.detail}`;
  const words = scrubContacts(
    `${event.provider} reported "${event.providerStatus}"${code}${detail}`,
  ).slice(0, 2000);
  switch (status) {
    case 'failed':
      return { code: 'PROVIDER_FAILED', message: words };
    case 'bounced':
      return { code: 'PROVIDER_BOUNCED', message: words };
    case 'unknown':
      return {
        code: 'PROVIDER_STATUS_UNKNOWN',
        message: `${words}, a status the gateway cannot map; it is not taken for delivery`,
      };
  }
}
