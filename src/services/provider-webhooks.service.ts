import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { EventWebhook } from '@sendgrid/eventwebhook';
import twilio from 'twilio';
import { z } from 'zod';
import {
  PROVIDER_EVENT_SCHEMA_VERSION,
  providerEventSchema,
  type ProviderEvent,
} from '@omnigate/contracts';
import {
  MAX_PUSH_ACK_TOKEN_LENGTH,
  parseSendGridEvent,
  parseTwilioInbound,
  parseTwilioStatusCallback,
  PushAckTokens,
  type TwilioParams,
} from '@omnigate/channels';
import type { AppConfig } from '../config/environment';
import { APP_CONFIG } from '../config/app-config.token';
import { LOGGER, type Logger } from '../observability/logger';
import { Metrics, type WebhookRequestResult } from '../observability/metrics';
import { AddressHasher } from '../repositories/address-hasher';
import { Clock } from '../repositories/clock';
import { ProviderEventsRepository } from '../repositories/provider-events.repository';

export type WebhookEndpoint = 'twilio_status' | 'twilio_inbound' | 'sendgrid_events' | 'push_ack';

/** What the controller answers. `result` is undefined for a 404 (no such configured endpoint). */
export interface WebhookAnswer {
  readonly status: number;
  readonly result?: WebhookRequestResult;
  /** Our words on a refusal, for the caller; never what the request held. */
  readonly problem?: string;
  /** A TwiML document (inbound messages), sent as text/xml. */
  readonly twiml?: string;
}

/** What the HTTP layer hands over: the exact bytes, as the provider signed them. */
export interface WebhookRequest {
  /** Path and query as the gateway received them, e.g. /webhooks/twilio/twilio/status?messageId=m1. */
  readonly pathAndQuery: string;
  readonly rawBody: Buffer;
  readonly header: (name: string) => string | undefined;
}

const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';
const TWILIO_SIGNATURE = 'x-twilio-signature';
const SENDGRID_SIGNATURE = 'x-twilio-email-event-webhook-signature';
const SENDGRID_TIMESTAMP = 'x-twilio-email-event-webhook-timestamp';
/** The provider label of push acks: the token names the provider only once it is verified. */
const PUSH_LABEL = 'push';

const pushAckBodySchema = z.strictObject({
  token: z.string().max(MAX_PUSH_ACK_TOKEN_LENGTH),
  event: z.enum(['delivered', 'read']),
});

type SendGridKey = ReturnType<EventWebhook['convertPublicKeyToECDSA']>;

/**
 * The provider webhooks' use case: verify the provider's signature with its own helper, translate
 * the vendor's words (the adapters' parsers), write the events to the provider-events topic and
 * answer 2xx only once the broker acknowledged them. A refusal publishes nothing and is counted.
 * A Kafka failure answers 503, so the provider retries; the applier dedupes on the event id.
 */
@Injectable()
export class ProviderWebhooksService implements OnApplicationBootstrap {
  private readonly twilioAuthTokens = new Map<string, string>();
  private readonly sendGridKeys = new Map<string, SendGridKey>();
  private readonly sendGridVerifier = new EventWebhook();
  private readonly pushAcks: PushAckTokens;
  private readonly addresses: AddressHasher;
  private readonly baseUrl: string | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly providerEvents: ProviderEventsRepository,
    private readonly metrics: Metrics,
    private readonly clock: Clock,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    const { key, previousKeys } = config.messageLog;
    this.baseUrl = config.webhooks.publicBaseUrl;
    this.pushAcks = new PushAckTokens(key, previousKeys, config.webhooks.pushAckTtlSeconds);
    this.addresses = new AddressHasher(key, previousKeys);
    for (const settings of config.channels.providerSettings) {
      if (settings.type === 'twilio') this.twilioAuthTokens.set(settings.id, settings.authToken);
      if (settings.type === 'sendgrid' && settings.webhookPublicKey !== undefined) {
        // SendGrid shows the key as base64 DER; its helper reads PEM.
        const pem = `-----BEGIN PUBLIC KEY-----\n${settings.webhookPublicKey}\n-----END PUBLIC KEY-----`;
        this.sendGridKeys.set(settings.id, this.sendGridVerifier.convertPublicKeyToECDSA(pem));
      }
    }
  }

  onApplicationBootstrap(): void {
    if (this.baseUrl === undefined) {
      this.logger.info(
        { component: 'webhooks' },
        'WEBHOOK_PUBLIC_BASE_URL is unset: provider delivery reports are off (no Twilio status callbacks, no push acks)',
      );
    } else {
      this.logger.info(
        {
          component: 'webhooks',
          twilio: [...this.twilioAuthTokens.keys()],
          sendgrid: [...this.sendGridKeys.keys()],
        },
        'provider webhooks on',
      );
    }
  }

  /** POST /webhooks/twilio/:providerId/status?messageId=… */
  async twilioStatus(providerId: string, request: WebhookRequest): Promise<WebhookAnswer> {
    const endpoint = 'twilio_status';
    const verified = this.verifyTwilio(providerId, endpoint, request);
    if ('answer' in verified) return verified.answer;
    const messageId = new URL(request.pathAndQuery, 'http://gateway').searchParams.get('messageId');
    if (!messageId) {
      return this.refuse(
        providerId,
        endpoint,
        400,
        'unknown_message_ref',
        'no messageId in the URL',
      );
    }
    const parsed = parseTwilioStatusCallback(verified.params);
    if (!parsed.ok) return this.refuse(providerId, endpoint, 400, 'invalid', parsed.problem);
    const report = parsed.value;
    const now = this.clock.now().toISOString();
    const event = this.checked({
      schemaVersion: PROVIDER_EVENT_SCHEMA_VERSION,
      type: 'message-status',
      // Twilio sends no event id; a sid has each status once.
      eventId: `${report.providerMessageId}:${report.providerStatus}`,
      provider: providerId,
      channel: report.channel,
      occurredAt: now,
      receivedAt: now,
      messageId,
      providerMessageId: report.providerMessageId,
      outcome: report.outcome,
      providerStatus: report.providerStatus,
      errorCode: report.errorCode,
      detail: report.detail,
      ...(report.suppressReason && report.recipient
        ? {
            suppress: {
              reason: report.suppressReason,
              addressHash: this.addresses.hash(report.channel, report.recipient),
            },
          }
        : {}),
    });
    if (!event.ok) return this.refuse(providerId, endpoint, 400, 'invalid', event.problem);
    return this.publish(providerId, endpoint, [event.event], { status: 204 });
  }

  /** POST /webhooks/twilio/:providerId/inbound: STOP/START keywords change consent. */
  async twilioInbound(providerId: string, request: WebhookRequest): Promise<WebhookAnswer> {
    const endpoint = 'twilio_inbound';
    const verified = this.verifyTwilio(providerId, endpoint, request);
    if ('answer' in verified) return verified.answer;
    const parsed = parseTwilioInbound(verified.params);
    if (!parsed.ok) return this.refuse(providerId, endpoint, 400, 'invalid', parsed.problem);
    const answer = { status: 200, twiml: EMPTY_TWIML };
    const consent = parsed.value;
    if (consent === null) {
      // Any other message: nothing to apply, and an empty answer sends no reply.
      this.metrics.webhookRequests.inc({ provider: providerId, endpoint, result: 'accepted' });
      return { ...answer, result: 'accepted' };
    }
    const now = this.clock.now().toISOString();
    const event = this.checked({
      schemaVersion: PROVIDER_EVENT_SCHEMA_VERSION,
      type: 'address-consent',
      eventId: consent.providerMessageId,
      provider: providerId,
      channel: consent.channel,
      occurredAt: now,
      receivedAt: now,
      addressHash: this.addresses.hash(consent.channel, consent.sender),
      action: consent.action,
      keyword: consent.keyword,
    });
    if (!event.ok) return this.refuse(providerId, endpoint, 400, 'invalid', event.problem);
    return this.publish(providerId, endpoint, [event.event], answer);
  }

  /** POST /webhooks/sendgrid/:providerId/events: a signed batch of events. */
  async sendGridEvents(providerId: string, request: WebhookRequest): Promise<WebhookAnswer> {
    const endpoint = 'sendgrid_events';
    const key = this.sendGridKeys.get(providerId);
    if (key === undefined) return { status: 404 };
    const signature = request.header(SENDGRID_SIGNATURE);
    const timestamp = request.header(SENDGRID_TIMESTAMP);
    if (!signature || !timestamp) {
      return this.refuse(providerId, endpoint, 401, 'missing_signature', 'unsigned request');
    }
    if (!this.sendGridSignatureHolds(key, request.rawBody, signature, timestamp)) {
      return this.refuse(providerId, endpoint, 403, 'refused_signature', 'signature refused');
    }
    // Checked on a genuine signature, so `stale` means a replay or a very late delivery.
    const signedAt = Number(timestamp);
    const ageSeconds = this.clock.now().getTime() / 1000 - signedAt;
    if (
      !/^\d{1,12}$/.test(timestamp) ||
      Math.abs(ageSeconds) > this.config.webhooks.maxAgeSeconds
    ) {
      return this.refuse(providerId, endpoint, 403, 'stale', 'timestamp outside the replay window');
    }
    let batch: unknown;
    try {
      batch = JSON.parse(request.rawBody.toString('utf8'));
    } catch {
      return this.refuse(providerId, endpoint, 400, 'invalid', 'the body is not JSON');
    }
    if (!Array.isArray(batch)) {
      return this.refuse(
        providerId,
        endpoint,
        400,
        'invalid',
        'the body is not an array of events',
      );
    }
    const receivedAt = this.clock.now().toISOString();
    const events: ProviderEvent[] = [];
    for (const element of batch) {
      const parsed = parseSendGridEvent(element);
      if (parsed.kind === 'foreign') {
        this.metrics.webhookEventsSkipped.inc({ provider: providerId, reason: 'foreign' });
        continue;
      }
      const report = parsed.kind === 'event' ? parsed.report : undefined;
      const event = report
        ? this.checked({
            schemaVersion: PROVIDER_EVENT_SCHEMA_VERSION,
            type: 'message-status',
            eventId: report.eventId,
            provider: providerId,
            channel: 'email',
            occurredAt: report.occurredAt.toISOString(),
            receivedAt,
            messageId: report.messageId,
            providerMessageId: report.providerMessageId,
            outcome: report.outcome,
            providerStatus: report.providerStatus,
            errorCode: report.errorCode,
            detail: report.detail,
            ...(report.suppress
              ? {
                  suppress: {
                    ...report.suppress,
                    addressHash: this.addresses.hash('email', report.recipient),
                  },
                }
              : {}),
          })
        : undefined;
      if (event?.ok) {
        events.push(event.event);
        continue;
      }
      // SendGrid signed it, so refusing the batch would only make it retry the same bytes.
      this.metrics.webhookEventsSkipped.inc({ provider: providerId, reason: 'invalid' });
      this.logger.warn(
        {
          component: 'webhooks',
          provider: providerId,
          endpoint,
          problem: parsed.kind === 'invalid' ? parsed.problem : event?.problem,
        },
        'skipped an event of a signed SendGrid batch that does not read as one',
      );
    }
    return this.publish(providerId, endpoint, events, { status: 204 });
  }

  /** POST /webhooks/push/ack: the app confirms a push it displayed or the user opened. */
  async pushAck(request: WebhookRequest): Promise<WebhookAnswer> {
    const endpoint = 'push_ack';
    // No tokens were issued without a public URL to post them to.
    if (this.baseUrl === undefined) return { status: 404 };
    let body: unknown;
    try {
      body = JSON.parse(request.rawBody.toString('utf8'));
    } catch {
      return this.refuse(PUSH_LABEL, endpoint, 400, 'invalid', 'the body is not JSON');
    }
    if (typeof body === 'object' && body !== null && !('token' in body)) {
      return this.refuse(PUSH_LABEL, endpoint, 401, 'missing_signature', 'no token');
    }
    const parsed = pushAckBodySchema.safeParse(body);
    if (!parsed.success) {
      return this.refuse(
        PUSH_LABEL,
        endpoint,
        400,
        'invalid',
        'expected {"token": "<ack token>", "event": "delivered" | "read"}',
      );
    }
    const { token, event: ack } = parsed.data;
    if (token === '')
      return this.refuse(PUSH_LABEL, endpoint, 401, 'missing_signature', 'no token');
    const verified = this.pushAcks.verify(token, this.clock.now().getTime());
    if (!verified.ok) {
      return verified.reason === 'expired'
        ? this.refuse(PUSH_LABEL, endpoint, 403, 'stale', 'the token has expired')
        : this.refuse(PUSH_LABEL, endpoint, 403, 'refused_signature', 'token refused');
    }
    const claims = verified.claims;
    const now = this.clock.now().toISOString();
    const event = this.checked({
      schemaVersion: PROVIDER_EVENT_SCHEMA_VERSION,
      type: 'message-status',
      eventId: `${claims.tokenId}:${ack}`,
      provider: claims.providerId,
      channel: claims.channel,
      occurredAt: now,
      receivedAt: now,
      messageId: claims.messageId,
      providerMessageId: null,
      outcome: ack,
      providerStatus: ack,
      errorCode: null,
      detail: null,
    });
    if (!event.ok) return this.refuse(PUSH_LABEL, endpoint, 400, 'invalid', event.problem);
    return this.publish(PUSH_LABEL, endpoint, [event.event], { status: 204 });
  }

  private verifyTwilio(
    providerId: string,
    endpoint: WebhookEndpoint,
    request: WebhookRequest,
  ): { readonly params: TwilioParams } | { readonly answer: WebhookAnswer } {
    const authToken = this.twilioAuthTokens.get(providerId);
    // Without the public URL Twilio called, no signature can be checked.
    if (authToken === undefined || this.baseUrl === undefined) return { answer: { status: 404 } };
    const signature = request.header(TWILIO_SIGNATURE);
    if (!signature) {
      return {
        answer: this.refuse(providerId, endpoint, 401, 'missing_signature', 'unsigned request'),
      };
    }
    const params = Object.fromEntries(new URLSearchParams(request.rawBody.toString('utf8')));
    const url = `${this.baseUrl}${request.pathAndQuery}`;
    if (!twilio.validateRequest(authToken, signature, url, params)) {
      return {
        answer: this.refuse(providerId, endpoint, 403, 'refused_signature', 'signature refused'),
      };
    }
    return { params };
  }

  private sendGridSignatureHolds(
    key: SendGridKey,
    body: Buffer,
    signature: string,
    timestamp: string,
  ): boolean {
    try {
      return this.sendGridVerifier.verifySignature(key, body, signature, timestamp);
    } catch {
      // The helper throws on a signature that is not base64 DER at all.
      return false;
    }
  }

  /** The event as the contract reads it (the topic's consumer decodes with the same schema). */
  private checked(
    candidate: ProviderEvent,
  ): { ok: true; event: ProviderEvent } | { ok: false; problem: string } {
    const result = providerEventSchema.safeParse(candidate);
    if (result.success) return { ok: true, event: result.data };
    const issue = result.error.issues[0];
    return {
      ok: false,
      problem: `${issue?.path.map(String).join('.') || 'event'}: ${issue?.message ?? 'invalid'}`,
    };
  }

  private async publish(
    provider: string,
    endpoint: WebhookEndpoint,
    events: readonly ProviderEvent[],
    answer: WebhookAnswer,
  ): Promise<WebhookAnswer> {
    try {
      await this.writeInTime(events);
    } catch (error) {
      this.logger.error(
        {
          component: 'webhooks',
          provider,
          endpoint,
          error: error instanceof Error ? error.message : String(error),
        },
        'could not write provider events to Kafka; answering 503 so the provider retries',
      );
      this.metrics.webhookRequests.inc({ provider, endpoint, result: 'unavailable' });
      return { status: 503, result: 'unavailable', problem: 'try again later' };
    }
    for (const event of events) {
      this.metrics.webhookEventsPublished.inc({
        provider: event.provider,
        outcome: event.type === 'message-status' ? event.outcome : event.action,
      });
    }
    this.metrics.webhookRequests.inc({ provider, endpoint, result: 'accepted' });
    return { ...answer, result: 'accepted' };
  }

  /**
   * The write, or a timeout error once the provider would soon give up waiting. A write that still
   * lands later is harmless: the provider retries after the 503 and the applier dedupes.
   */
  private async writeInTime(events: readonly ProviderEvent[]): Promise<void> {
    const timeoutMs = this.config.webhooks.publishTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no acknowledgement from Kafka within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([this.providerEvents.write(events), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private refuse(
    provider: string,
    endpoint: WebhookEndpoint,
    status: number,
    result: WebhookRequestResult,
    problem: string,
  ): WebhookAnswer {
    this.metrics.webhookRequests.inc({ provider, endpoint, result });
    this.logger.warn(
      { component: 'webhooks', provider, endpoint, result, problem },
      'webhook refused',
    );
    return { status, result, problem };
  }
}
