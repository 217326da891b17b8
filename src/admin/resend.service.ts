import { randomUUID } from 'node:crypto';
import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import {
  sendCommandSchema,
  type Channel,
  type Recipient,
  type SendCommand,
  type TraceEntry,
} from '@omnigate/contracts';
import { ChannelRouter } from '@omnigate/channels';
import { z } from 'zod';
import type { AppConfig } from '../config/environment';
import { APP_CONFIG } from '../config/app-config.token';
import { policyFor } from '../config/policies';
import { LOGGER, type Logger } from '../observability/logger';
import {
  AddressSuppressionsService,
  type SuppressionCheck,
} from '../services/address-suppressions.service';
import { inSpan } from '../observability/tracing';
import { SpanKind } from '@opentelemetry/api';
import { Clock } from '../repositories/clock';
import { MessageLogRepository } from '../repositories/message-log.repository';
import { ProfileRepository } from '../repositories/profile.repository';
import { SchedulerRepository } from '../repositories/scheduler.repository';
import { ContentRenderer } from '../services/content/content-renderer';
import {
  MessageProcessingService,
  RECOVER_JOB,
  type MessageJobPayload,
} from '../services/message-processing.service';
import type { CustomerProfile, PlanOverrides, PlanResult } from '../policy/model';
import { plan } from '../policy/planner';
import { predictDispatch, type CandidateView, type Prediction } from '../policy/dry-run';
import { CAP_STORE, type CapStore } from '../repositories/cap-store';
import { SPEND_COUNTERS, type SpendCounters } from '../repositories/spend-counters';
import { decideSpend, destinationFacts, isSpendChannel, spendLimits } from '../policy/spend-guard';
import { AdminAuditRepository } from './admin-audit.repository';
import type { AdminPrincipal } from './auth/roles';
import { maskEmail, maskPhone, maskToken } from './masking';
import { conflict, forbidden, notFound, ProblemError, tooManyRequests } from './problem';
import { ADMIN_RATE_LIMITS, type RateLimitStore } from './rate-limit.repository';
import type { ResendBody } from './schemas';

export interface ResendAccepted {
  readonly messageId: string;
  readonly resendOf: string;
  readonly auditId: string;
}

export interface DryRunDecision {
  readonly dryRun: true;
  readonly resendOf: string;
  /** What a real resend would get first: send, defer, capped, suppress, expired, undeliverable or failed. */
  readonly decision: Prediction['outcome'];
  /** The channel and provider that would carry it, when the decision is send. */
  readonly channel: Channel | null;
  readonly provider: string | null;
  /** When a deferred resend would run again. */
  readonly until: string | null;
  /** Channels the planner would try, in order. */
  readonly channels: readonly Channel[];
  /** Each planned channel until the one that decides: its caps and breakers as they are now. */
  readonly steps: Prediction['steps'];
  readonly skipped: ReadonlyArray<{ channel: Channel; reasonCode: string; detail: string }>;
  readonly trace: readonly TraceEntry[];
  /** The caps were read, not reserved: a real resend still reserves them atomically. */
  readonly capsChecked: true;
}

/**
 * Resends a message as a new one (linked by resend_of) through the normal pipeline: same planner,
 * caps, preferences and breakers. The new command is claimed in the message log under the audit
 * record's id, then run in the background; the caller gets 202 at once. A dry run asks the pure
 * planner and reads the caps and breakers as they are now: no provider request, no message, no
 * count against a cap; it is audited and has its own per-customer limit.
 *
 * The contact is named by its index on the stored profile (the customer view lists them masked),
 * never by a typed value for an agent: otherwise a dry run would tell whether a guessed number or
 * address is the customer's.
 */
@Injectable()
export class ResendService {
  constructor(
    private readonly log: MessageLogRepository,
    private readonly processing: MessageProcessingService,
    private readonly profiles: ProfileRepository,
    private readonly audit: AdminAuditRepository,
    private readonly scheduler: SchedulerRepository,
    private readonly renderer: ContentRenderer,
    private readonly router: ChannelRouter,
    @Inject(CAP_STORE) private readonly caps: CapStore,
    @Inject(ADMIN_RATE_LIMITS) private readonly limits: RateLimitStore,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SPEND_COUNTERS) private readonly spend: SpendCounters,
    private readonly suppressions: AddressSuppressionsService,
  ) {}

  async resend(
    messageId: string,
    body: ResendBody,
    caller: AdminPrincipal,
  ): Promise<ResendAccepted | DryRunDecision> {
    if ((body.overrideCaps === true || body.overrideOptOut === true) && caller.role !== 'admin') {
      throw forbidden('overrideCaps and overrideOptOut need the admin role');
    }
    // Refused before anything is looked up, whatever the value: a typed address must never tell
    // an agent whether it belongs to the customer.
    if (body.contact !== undefined && caller.role !== 'admin') {
      throw forbidden(
        "only an admin may type a contact; choose one of the customer's contacts with contactIndex",
      );
    }
    if (body.contact !== undefined && body.contactIndex !== undefined) {
      throw unprocessable('contact-or-index', 'give contact or contactIndex, not both');
    }
    if ((body.contact !== undefined || body.contactIndex !== undefined) && !body.channel) {
      throw unprocessable('contact-needs-channel', 'a contact needs the channel it is for');
    }
    const original = await this.log.get(messageId);
    if (!original) throw notFound(`no message ${messageId}`);
    const originalCommand = this.processing.open(original);
    const now = this.clock.now();
    if (body.dryRun === true) {
      await this.refuseOverLimit(
        `dry-run:${originalCommand.customerId}`,
        this.config.admin.dryRunsPerCustomerPerHour,
        `customer ${originalCommand.customerId} has had ${this.config.admin.dryRunsPerCustomerPerHour} dry runs this hour already`,
        now,
      );
    }
    const profile = await this.profiles.get(originalCommand.customerId);
    const command = this.buildCommand(originalCommand, body, profile);
    const overrides: PlanOverrides = {
      ...(body.overrideOptOut === true && { ignoreOptOut: true }),
      ...(body.overrideCaps === true && { ignoreCaps: true }),
    };
    const policy = policyFor(this.config.policies.categories, command.category);
    // The preview skips a suppressed address as the send will.
    const suppression = policy
      ? await this.suppressions.checkFor(command, profile, policy)
      : undefined;
    const planned = this.plan(command, profile, now, {}, suppression);
    const optedOut = optOutRefusal(planned, body.channel);
    const refusedOptOut = optedOut !== undefined && body.overrideOptOut !== true;
    if (body.dryRun === true) {
      const decision = refusedOptOut
        ? undefined
        : await this.dryRun(
            messageId,
            command,
            this.plan(command, profile, now, overrides, suppression),
            body,
          );
      // Audited like a resend: a dry run reads caps, breakers and which contact the index names.
      await this.audit.record({
        actorId: caller.id,
        actorRole: caller.role,
        action: 'dry_run',
        messageId,
        customerId: command.customerId,
        reason: body.reason,
        details: {
          ...contactDetails(body),
          overrides: overridesUsed(body),
          decision: decision?.decision ?? 'opted-out',
        },
      });
      if (decision) return decision;
    }
    if (optedOut !== undefined && refusedOptOut) {
      throw conflict('opted-out', optedOut, {
        hint: 'an admin may resend anyway with overrideOptOut: true (audited)',
      });
    }

    const limit = this.config.admin.resendsPerCustomerPerHour;
    await this.refuseOverLimit(
      `resend:${command.customerId}`,
      limit,
      `customer ${command.customerId} has had ${limit} resends this hour already`,
      now,
    );

    const usedOverrides = overridesUsed(body);
    const auditId = await this.audit.record({
      actorId: caller.id,
      actorRole: caller.role,
      action: usedOverrides.length > 0 ? 'resend_with_override' : 'resend',
      messageId,
      customerId: command.customerId,
      reason: body.reason,
      details: {
        newMessageId: command.id,
        ...contactDetails(body),
        overrides: usedOverrides,
        optOutOverridden: optedOut !== undefined && body.overrideOptOut === true,
      },
    });
    const claim = await this.log.claim(
      {
        id: command.id,
        customerId: command.customerId,
        category: command.category,
        ...this.processing.seal(command),
        source: `admin:${auditId}`,
        receivedAt: now,
        resendOf: messageId,
        // A resend belongs to the original's group: a cancel by group key withdraws it too.
        groupKey: command.groupKey ?? null,
        ...(Object.keys(overrides).length > 0 && { overrides }),
      },
      this.processing.owner,
      this.config.messageLog.instanceStaleAfterMs,
    );
    if (claim.kind !== 'claimed') {
      throw new Error(`resend id ${command.id} was already claimed (${claim.kind})`);
    }
    // No Kafka record will ever redeliver a resend, so a recovery job watches it from the start:
    // if this instance dies mid-run, the job takes the message over; once it is settled or
    // waiting in the scheduler, the job ends without doing anything.
    await this.scheduleRecovery(command.id);
    this.logger.info(
      {
        messageId: command.id,
        resendOf: messageId,
        actor: caller.id,
        auditId,
        overrides: usedOverrides,
      },
      'admin resend accepted',
    );
    this.runInBackground(command, now, overrides);
    return { messageId: command.id, resendOf: messageId, auditId };
  }

  private async refuseOverLimit(
    bucket: string,
    limit: number,
    words: string,
    now: Date,
  ): Promise<void> {
    const verdict = await this.limits.hit(bucket, limit, 3600000, now.getTime());
    if (!verdict.allowed) throw tooManyRequests(words, verdict.retryAfterSeconds);
  }

  private plan(
    command: SendCommand,
    profile: CustomerProfile | null,
    now: Date,
    overrides: PlanOverrides,
    suppression: SuppressionCheck | undefined,
  ): PlanResult {
    const policy = policyFor(this.config.policies.categories, command.category);
    if (!policy) {
      throw unprocessable('unknown-category', `no policy is configured for "${command.category}"`);
    }
    return plan({
      command,
      profile,
      policy,
      now,
      receivedAt: now,
      capabilities: {
        hasContent: (channel) => this.renderer.hasContentFor(command, channel),
        isSupported: (channel) => this.router.supports(channel),
        ...(suppression && { suppression }),
      },
      overrides,
    });
  }

  private async dryRun(
    resendOf: string,
    command: SendCommand,
    planned: PlanResult,
    body: ResendBody,
  ): Promise<DryRunDecision> {
    const policy = policyFor(this.config.policies.categories, command.category);
    const candidates = planned.kind === 'send' ? planned.candidates : [];
    const now = this.clock.now();
    const views: CandidateView[] = await Promise.all(
      candidates.map(async ({ channel, address }) => ({
        channel,
        spendRefusal: await this.spendRefusal(
          channel,
          address,
          policy?.transactional === true,
          now,
        ),
        providers: this.router
          .providersFor(channel)
          .map((provider) => ({ id: provider.providerId, breaker: provider.state })),
        fullRules: await this.caps.peek({
          customerId: command.customerId,
          channel,
          category: command.category,
          rules: this.config.policies.capRules,
          now,
        }),
      })),
    );
    const prediction = predictDispatch(
      planned,
      views,
      policy?.transactional === true || body.overrideCaps === true,
    );
    return {
      dryRun: true,
      resendOf,
      decision: prediction.outcome,
      channel: prediction.channel,
      provider: prediction.provider,
      until: prediction.until?.toISOString() ?? null,
      channels: candidates.map((c) => c.channel),
      steps: prediction.steps,
      skipped: planned.trace
        .filter((entry) => entry.decision === 'skipped')
        .map((entry) => ({
          channel: entry.channel,
          reasonCode: entry.reasonCode ?? 'SKIPPED',
          detail: entry.detail ?? '',
        })),
      trace: planned.trace,
      capsChecked: true,
    };
  }

  /** The spend guard's refusal a send to this address would meet now, counting nothing. */
  private async spendRefusal(
    channel: Channel,
    address: string,
    transactional: boolean,
    now: Date,
  ): Promise<CandidateView['spendRefusal']> {
    if (!isSpendChannel(channel)) return undefined;
    const config = this.config.spendGuard;
    const facts = destinationFacts(address);
    let decision = decideSpend({ channel, facts, config, full: [] });
    if (decision.kind === 'allow') {
      const limits = spendLimits({ channel, facts, transactional, config, now });
      const full = await this.spend.peek({ channel, limits, now });
      decision = decideSpend({ channel, facts, config, full });
    }
    return decision.kind === 'refuse'
      ? { reasonCode: decision.reasonCode, reason: decision.reason }
      : undefined;
  }

  /** The original command with a new id, the requested channel and contact, and a fresh TTL. */
  private buildCommand(
    original: SendCommand,
    body: ResendBody,
    profile: CustomerProfile | null,
  ): SendCommand {
    // A fresh lifetime: the resend's TTL runs from now, not from the original's creation.
    const rest: Partial<SendCommand> = { ...original };
    delete rest.expiresAt;
    delete rest.createdAt;
    const recipient: Recipient = { ...(original.recipient ?? {}) };
    if (body.channel !== undefined && body.contactIndex !== undefined) {
      Object.assign(recipient, profileContact(body.channel, body.contactIndex, profile));
    } else if (body.channel !== undefined && body.contact !== undefined) {
      Object.assign(recipient, recipientFor(body.channel, body.contact, original, profile));
    }
    const candidate = {
      ...rest,
      id: `resend-${randomUUID()}`,
      ...(body.channel !== undefined && { channels: [body.channel] }),
      ...(Object.keys(recipient).length > 0 && { recipient }),
      metadata: { ...(original.metadata ?? {}), resendOf: original.id },
    };
    const parsed = sendCommandSchema.safeParse(candidate);
    if (!parsed.success) {
      throw unprocessable(
        'cannot-resend',
        `the resend would not be a valid command: ${z.prettifyError(parsed.error).replace(/\n/g, ' ')}`,
      );
    }
    return parsed.data;
  }

  private runInBackground(command: SendCommand, receivedAt: Date, overrides: PlanOverrides): void {
    // A trace of its own (recorded when an exporter is configured): no command header started it.
    const work = (): Promise<void> =>
      inSpan(
        'omnigate.admin-resend',
        null,
        { 'omnigate.message_id': command.id },
        async () => {
          const handled = await this.processing.exclusively(command.id, () =>
            this.processing.run(command, receivedAt, {
              deferrals: 0,
              retries: 0,
              ...(Object.keys(overrides).length > 0 && { overrides }),
            }),
          );
          if (!handled) this.logger.warn({ messageId: command.id }, 'resend already running');
        },
        SpanKind.INTERNAL,
      );
    work().catch((error: unknown) => {
      // The claim is ours and unsettled: the recovery job scheduled with it takes it over.
      this.logger.error(
        { messageId: command.id, error: error instanceof Error ? error.message : String(error) },
        'admin resend failed; its recovery job will pick it up',
      );
    });
  }

  private async scheduleRecovery(messageId: string): Promise<void> {
    await this.scheduler.schedule({
      kind: RECOVER_JOB,
      runAt: new Date(this.clock.now().getTime() + this.config.messageLog.instanceStaleAfterMs),
      payload: { messageId } satisfies MessageJobPayload,
      dedupeKey: `${RECOVER_JOB}:${messageId}:admin`,
    });
  }
}

function unprocessable(slug: string, detail: string): ProblemError {
  return new ProblemError(HttpStatus.UNPROCESSABLE_ENTITY, slug, 'Cannot resend', detail);
}

/** Words for a 409 when the customer opted out of the channel the resend would use, else undefined. */
function optOutRefusal(planned: PlanResult, channel: Channel | undefined): string | undefined {
  const optedOut = planned.trace.filter(
    (entry) => entry.decision === 'skipped' && entry.reasonCode === 'OPTED_OUT',
  );
  if (channel !== undefined) {
    const entry = optedOut.find((e) => e.channel === channel);
    return entry ? `refused: ${entry.detail ?? `the customer opted out of ${channel}`}` : undefined;
  }
  if (planned.kind === 'suppress' && planned.reasonCode === 'OPTED_OUT') {
    return `refused: ${optedOut.map((e) => e.detail).join('; ')}`;
  }
  return undefined;
}

/**
 * The recipient fields for the profile's contact number `index` on `channel`, in the order the
 * customer view lists them. Only stored contacts can be named, so nothing typed is compared.
 */
function profileContact(
  channel: Channel,
  index: number,
  profile: CustomerProfile | null,
): Recipient {
  const missing = (): ProblemError =>
    unprocessable(
      'no-such-contact',
      `the customer's profile has no ${channel} contact number ${index} (counting from 0)`,
    );
  switch (channel) {
    case 'sms': {
      const phone = profile?.phones[index]?.value;
      if (phone === undefined) throw missing();
      return { phone };
    }
    case 'whatsapp': {
      const whatsapp = profile?.whatsapp[index]?.value;
      if (whatsapp === undefined) throw missing();
      return { whatsapp };
    }
    case 'email': {
      const email = profile?.emails[index]?.value;
      if (email === undefined) throw missing();
      return { email };
    }
    case 'mobilepush': {
      const token = profile?.fcmTokens[index]?.token;
      if (token === undefined) throw missing();
      return { fcmTokens: [token] };
    }
    case 'webpush': {
      const subscription = profile?.webPushSubscriptions[index]?.subscription;
      if (subscription === undefined) throw missing();
      return { webPushSubscriptions: [subscription] };
    }
  }
}

/** The recipient fields that send the resend to `contact` on `channel`. */
function recipientFor(
  channel: Channel,
  contact: string,
  command: SendCommand,
  profile: CustomerProfile | null,
): Recipient {
  switch (channel) {
    case 'sms':
      return { phone: contact };
    case 'whatsapp':
      return { whatsapp: contact };
    case 'email':
      return { email: contact };
    case 'mobilepush':
      return { fcmTokens: [contact] };
    case 'webpush': {
      // A web push contact is named by its endpoint; the keys come from where it is stored.
      const subscription =
        command.recipient?.webPushSubscriptions?.find((s) => s.endpoint === contact) ??
        profile?.webPushSubscriptions.find((s) => s.subscription.endpoint === contact)
          ?.subscription;
      if (!subscription) {
        throw unprocessable(
          'unknown-subscription',
          'a web push contact must be the endpoint of a stored subscription',
        );
      }
      return { webPushSubscriptions: [subscription] };
    }
  }
}

function overridesUsed(body: ResendBody): string[] {
  return [
    ...(body.overrideOptOut === true ? ['optOut'] : []),
    ...(body.overrideCaps === true ? ['caps'] : []),
  ];
}

/** What the audit keeps of the chosen contact: the index, or a typed contact masked. */
function contactDetails(body: ResendBody): Record<string, unknown> {
  return {
    channel: body.channel ?? null,
    contactIndex: body.contactIndex ?? null,
    contact: body.contact === undefined ? null : maskContact(body.channel, body.contact),
  };
}

function maskContact(channel: Channel | undefined, contact: string): string {
  if (channel === 'email') return maskEmail(contact);
  if (channel === 'sms' || channel === 'whatsapp') return maskPhone(contact);
  return maskToken(contact);
}
