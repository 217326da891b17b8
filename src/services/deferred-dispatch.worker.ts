import { SpanKind } from '@opentelemetry/api';
import { inSpan } from '../observability/tracing';
import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { z } from 'zod';
import type { AppConfig } from '../config/environment';
import { APP_CONFIG } from '../config/app-config.token';
import { LOGGER, type Logger } from '../observability/logger';
import { Clock } from '../repositories/clock';
import { MessageLogRepository } from '../repositories/message-log.repository';
import { SchedulerRepository, type ScheduledJob } from '../repositories/scheduler.repository';
import { DISPATCH_JOB, MessageProcessingService, RECOVER_JOB } from './message-processing.service';
import {
  ESCALATE_JOB,
  escalationJobSchema,
  type EscalationJobPayload,
} from './escalation-scheduler';
import { PROVIDER_EVENT_RETRY_JOB, ProviderEventsService } from './provider-events.service';

/**
 * How long a claimed job is ours. A claimed batch runs at once, and a dispatch is bounded by the
 * providers' timeouts, so the lease outlives the work it covers.
 */
const LEASE_MS = 120_000;
/** Backoff for a job whose run failed on infrastructure (the database or Kafka was unreachable). */
const RETRY_AFTER_FAILURE_MS = 5_000;
/** A message job failing this often ends its message with a FAILED receipt instead of looping. */
const MAX_JOB_ATTEMPTS = 10;

const messageJobSchema = z.object({ messageId: z.string().min(1) });

/**
 * Runs the scheduler's due jobs: dispatches whose wait ended (quiet hours, a cap window, a retry's
 * backoff, a sender's rate), recovery checks on messages another instance was working on, and
 * provider events that came before their message.
 * Jobs are claimed in small batches with SKIP LOCKED and a lease, so any number of replicas share
 * them and a crashed replica's jobs are taken over once its lease runs out. The job is completed
 * in the transaction that settles its message, so a step is never lost or run twice by the
 * scheduler itself.
 */
@Injectable()
export class DeferredDispatchWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  /** When this worker last released the leases of dead instances (monotonic ms). */
  private releasedAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly scheduler: SchedulerRepository,
    private readonly messages: MessageLogRepository,
    private readonly processing: MessageProcessingService,
    private readonly providerEvents: ProviderEventsService,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      if (this.running || this.stopped) return;
      this.running = this.runDue()
        .then(() => undefined)
        .catch((error: unknown) => {
          this.logger.error(
            { error: error instanceof Error ? error.message : String(error) },
            'scheduler poll failed',
          );
        })
        .finally(() => (this.running = undefined));
    }, this.config.scheduler.pollMs);
  }

  /** Stops claiming and lets the job in hand finish; safe to call more than once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  /**
   * Claims and runs the jobs due now, up to SCHEDULER_CONCURRENCY at once (each job is one message,
   * and a message is owned by one runner at a time); returns how many ran. Tests drive it directly.
   */
  async runDue(): Promise<number> {
    await this.releaseLeasesOfDeadInstances();
    let ran = 0;
    const { batchSize, concurrency } = this.config.scheduler;
    while (ran < batchSize && !this.stopped) {
      const jobs = await this.scheduler.claimDue(this.clock.now(), {
        limit: Math.min(concurrency, batchSize - ran),
        workerId: this.workerId,
        leaseMs: LEASE_MS,
      });
      if (jobs.length === 0) break;
      ran += jobs.length;
      await Promise.all(jobs.map((job) => this.runJob(job)));
    }
    return ran;
  }

  /** Leases name this gateway instance, so a peer can tell when their holder has died. */
  private get workerId(): string {
    return this.processing.owner;
  }

  /**
   * The jobs an instance held when it crashed come back once its heartbeat is stale (seconds), not
   * when their lease ends (minutes). Looked at twice per staleness window, since nothing can be
   * released sooner than that.
   */
  private async releaseLeasesOfDeadInstances(): Promise<void> {
    const staleMs = this.config.messageLog.instanceStaleAfterMs;
    if (performance.now() - this.releasedAt < staleMs / 2) return;
    this.releasedAt = performance.now();
    const released = await this.scheduler.releaseLeasesOfDeadInstances(staleMs);
    if (released > 0) {
      this.logger.warn({ jobs: released }, 'released the jobs of a gateway instance that stopped');
    }
  }

  private async runJob(job: ScheduledJob): Promise<void> {
    try {
      if (job.kind === DISPATCH_JOB || job.kind === RECOVER_JOB) {
        await this.runMessageJob(job);
        return;
      }
      if (job.kind === ESCALATE_JOB) {
        await this.runEscalationJob(job);
        return;
      }
      if (job.kind === PROVIDER_EVENT_RETRY_JOB) {
        await this.providerEvents.retry(job, this.workerId);
        return;
      }
      // Nothing can be done with it, and retrying will not change that.
      this.logger.error({ jobId: job.id, kind: job.kind }, 'unknown job kind dropped');
      await this.complete(job);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.logger.error(
        { jobId: job.id, kind: job.kind, attempts: job.attempts, error: message },
        'job failed; retrying later',
      );
      await this.scheduler.reschedule(
        job.id,
        this.workerId,
        new Date(this.clock.now().getTime() + RETRY_AFTER_FAILURE_MS),
        message,
      );
    }
  }

  /**
   * An escalation timer (EscalationScheduler): the message is taken from `sent` through the
   * message log like any deferred run, so of two workers (or a lease that ran out) only one
   * escalates it, and a message that has moved on meanwhile is left alone.
   */
  private async runEscalationJob(job: ScheduledJob): Promise<void> {
    const parsed = escalationJobSchema.safeParse(job.payload);
    if (!parsed.success) {
      this.logger.error(
        { jobId: job.id, kind: job.kind },
        'escalation job with an unreadable payload dropped',
      );
      await this.complete(job);
      return;
    }
    const payload = parsed.data;
    const ran = await this.processing.exclusively(payload.messageId, () =>
      this.runEscalation(job, payload),
    );
    if (!ran) await this.waitABit(job, this.config.scheduler.pollMs);
  }

  private async runEscalation(job: ScheduledJob, payload: EscalationJobPayload): Promise<void> {
    const staleMs = this.config.messageLog.instanceStaleAfterMs;
    const claim = await this.messages.takeForEscalation(
      payload.messageId,
      this.processing.owner,
      staleMs,
      payload.channel,
    );
    const taken = claim?.outcome;
    if (!claim || taken?.kind !== 'taken_over') {
      if (taken?.kind === 'busy') {
        await this.waitABit(job, staleMs);
        return;
      }
      // Purged, or it moved on meanwhile (escalated already, or settled otherwise).
      await this.complete(job);
      return;
    }
    const { message } = taken;
    const command = this.processing.open(message);
    const state = {
      deferrals: message.deferrals,
      retries: message.retries,
      abandoned: taken.abandoned,
      ...(taken.accepted && { accepted: taken.accepted }),
      job: { id: job.id, workerId: this.workerId },
      ...(message.overrides && { overrides: message.overrides }),
    };
    await inSpan(
      'omnigate.escalation',
      message.traceparent,
      { 'omnigate.job_kind': job.kind, 'omnigate.message_id': message.id },
      () =>
        this.processing.escalate(
          command,
          message,
          state,
          { ...payload, used: claim.used, reached: claim.reached },
          job.attempts >= MAX_JOB_ATTEMPTS
            ? { giveUp: `it failed ${job.attempts} times: ${job.lastError ?? 'unknown error'}` }
            : {},
        ),
      SpanKind.INTERNAL,
    );
  }

  /** Releases the job to be looked at again after `ms`, without counting an attempt. */
  private async waitABit(job: ScheduledJob, ms: number): Promise<void> {
    await this.scheduler.reschedule(
      job.id,
      this.workerId,
      new Date(this.clock.now().getTime() + ms),
      undefined,
      { countAttempt: false },
    );
  }

  private async runMessageJob(job: ScheduledJob): Promise<void> {
    const parsed = messageJobSchema.safeParse(job.payload);
    if (!parsed.success) {
      this.logger.error(
        { jobId: job.id, kind: job.kind },
        'message job with an unreadable payload dropped',
      );
      await this.complete(job);
      return;
    }
    const { messageId } = parsed.data;
    const ran = await this.processing.exclusively(messageId, () => this.runMessage(job, messageId));
    if (!ran) {
      // A handler of this instance has the message right now; look again shortly.
      await this.scheduler.reschedule(
        job.id,
        this.workerId,
        new Date(this.clock.now().getTime() + this.config.scheduler.pollMs),
        undefined,
        { countAttempt: false },
      );
    }
  }

  private async runMessage(job: ScheduledJob, messageId: string): Promise<void> {
    const staleMs = this.config.messageLog.instanceStaleAfterMs;
    const taken = await this.messages.takeOver(messageId, this.processing.owner, staleMs, {
      fromDeferred: job.kind === DISPATCH_JOB,
    });
    if (!taken || taken.kind !== 'taken_over') {
      if (taken?.kind === 'busy') {
        // Its instance is alive and working on it; look again once it could have died.
        await this.scheduler.reschedule(
          job.id,
          this.workerId,
          new Date(this.clock.now().getTime() + staleMs),
          undefined,
          { countAttempt: false },
        );
        return;
      }
      // Purged, or settled meanwhile: nothing left for this job.
      await this.complete(job);
      return;
    }
    const { message } = taken;
    const command = this.processing.open(message);
    const state = {
      deferrals: message.deferrals,
      retries: message.retries,
      abandoned: taken.abandoned,
      ...(taken.accepted && { accepted: taken.accepted }),
      job: { id: job.id, workerId: this.workerId },
      ...(message.overrides && { overrides: message.overrides }),
    };
    // The run continues the trace the command arrived with, however long it waited.
    await inSpan(
      'omnigate.scheduled-run',
      message.traceparent,
      { 'omnigate.job_kind': job.kind, 'omnigate.message_id': message.id },
      async () => {
        if (job.attempts >= MAX_JOB_ATTEMPTS) {
          await this.processing.giveUp(command, state, {
            code: 'DEFERRED_DISPATCH_FAILED',
            message: `the deferred dispatch failed ${job.attempts} times: ${(job.lastError ?? 'unknown error').slice(0, 500)}`,
          });
          return;
        }
        await this.processing.run(command, message.receivedAt, state);
      },
      SpanKind.INTERNAL,
    );
  }

  private async complete(job: ScheduledJob): Promise<void> {
    const completed = await this.scheduler.complete(job.id, this.workerId);
    if (!completed) {
      this.logger.warn({ jobId: job.id, kind: job.kind }, 'job lease lost before completion');
    }
  }
}
