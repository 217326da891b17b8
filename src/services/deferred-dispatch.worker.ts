import { randomUUID } from 'node:crypto';
import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { buildReceipt, deliveryReceiptSchema, sendCommandSchema } from '@omnigate/contracts';
import { z } from 'zod';
import type { AppConfig } from '../config/environment';
import { APP_CONFIG } from '../config/app-config.token';
import { LOGGER, type Logger } from '../observability/logger';
import { Clock } from '../repositories/clock';
import { ReceiptsRepository } from '../repositories/receipts.repository';
import { SchedulerRepository, type ScheduledJob } from '../repositories/scheduler.repository';
import { DEFERRED_DISPATCH, DispatchService } from './dispatch.service';

/** A job that only publishes a receipt whose send already happened. */
export const PENDING_RECEIPT = 'receipt';

/**
 * How long a claimed job is ours. One job is claimed at a time, and a dispatch is bounded by the
 * providers' timeouts, so the lease outlives the work it covers.
 */
const LEASE_MS = 120_000;
/** Backoff for a job whose run failed on infrastructure (the database or Kafka was unreachable). */
const RETRY_AFTER_FAILURE_MS = 5_000;
/** A dispatch job failing this often ends with a FAILED receipt instead of trying forever. */
const MAX_DISPATCH_ATTEMPTS = 10;

const dispatchPayloadSchema = z.object({
  command: sendCommandSchema,
  receivedAt: z.string(),
  deferrals: z.int().nonnegative().default(1),
  retries: z.int().nonnegative().default(0),
});
const receiptPayloadSchema = z.object({ receipt: deliveryReceiptSchema, key: z.string() });

/**
 * Runs deferred work when it is due: dispatches whose quiet hours ended or whose cap window freed,
 * and receipts that could not be published at the time. Jobs are claimed one at a time with
 * SKIP LOCKED and a lease, so any number of replicas share them and a crashed replica's jobs are
 * taken over once its lease runs out. A send that happened is never repeated because its receipt
 * could not be published: the receipt is kept as a job of its own.
 */
@Injectable()
export class DeferredDispatchWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly workerId = `worker-${randomUUID()}`;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly scheduler: SchedulerRepository,
    private readonly dispatcher: DispatchService,
    private readonly receipts: ReceiptsRepository,
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

  /** Stops claiming and lets the job in hand finish; runs before the Kafka producer disconnects. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** Claims and runs the jobs due now, one at a time; returns how many ran. Tests drive it directly. */
  async runDue(): Promise<number> {
    let ran = 0;
    while (ran < this.config.scheduler.batchSize && !this.stopped) {
      const [job] = await this.scheduler.claimDue(this.clock.now(), {
        limit: 1,
        workerId: this.workerId,
        leaseMs: LEASE_MS,
      });
      if (!job) break;
      ran += 1;
      await this.runJob(job);
    }
    return ran;
  }

  private async runJob(job: ScheduledJob): Promise<void> {
    try {
      if (job.kind === PENDING_RECEIPT) {
        const { receipt, key } = receiptPayloadSchema.parse(job.payload);
        await this.receipts.publish(receipt, key);
      } else if (job.kind === DEFERRED_DISPATCH) {
        await this.runDispatch(job);
      } else {
        // Nothing can be done with it, and retrying will not change that.
        this.logger.error({ jobId: job.id, kind: job.kind }, 'unknown job kind dropped');
      }
      const completed = await this.scheduler.complete(job.id, this.workerId);
      if (!completed)
        this.logger.warn({ jobId: job.id, kind: job.kind }, 'job lease lost before completion');
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

  private async runDispatch(job: ScheduledJob): Promise<void> {
    const parsed = dispatchPayloadSchema.safeParse(job.payload);
    if (!parsed.success) {
      this.logger.error({ jobId: job.id }, 'deferred dispatch with an unreadable payload dropped');
      return;
    }
    const { command, receivedAt, deferrals, retries } = parsed.data;
    if (job.attempts >= MAX_DISPATCH_ATTEMPTS) {
      await this.receipts.publish(
        buildReceipt({
          messageId: command.id,
          customerId: command.customerId,
          status: 'failed',
          reason: {
            code: 'DEFERRED_DISPATCH_FAILED',
            message: `the deferred dispatch failed ${job.attempts} times: ${(job.lastError ?? 'unknown error').slice(0, 500)}`,
          },
          occurredAt: this.clock.now(),
          discriminator: `job:${job.id}`,
        }),
        command.customerId,
      );
      return;
    }
    const receipt = await this.dispatcher.dispatch(
      command,
      new Date(receivedAt),
      deferrals,
      retries,
    );
    try {
      await this.receipts.publish(receipt, command.customerId);
    } catch (error) {
      // The provider already has the message: keep the receipt, never dispatch this job again.
      await this.scheduler.schedule({
        kind: PENDING_RECEIPT,
        runAt: new Date(this.clock.now().getTime() + RETRY_AFTER_FAILURE_MS),
        payload: { receipt, key: command.customerId },
        dedupeKey: `${PENDING_RECEIPT}:${receipt.eventId}`,
      });
      this.logger.warn(
        {
          jobId: job.id,
          messageId: command.id,
          error: error instanceof Error ? error.message : String(error),
        },
        'receipt kept for a later publish',
      );
    }
  }
}
