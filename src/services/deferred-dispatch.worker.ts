import { randomUUID } from 'node:crypto';
import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { sendCommandSchema } from '@omnigate/contracts';
import type { AppConfig } from '../config/environment';
import { APP_CONFIG } from '../config/app-config.token';
import { LOGGER, type Logger } from '../observability/logger';
import { Clock } from '../repositories/clock';
import { ReceiptsRepository } from '../repositories/receipts.repository';
import { SchedulerRepository } from '../repositories/scheduler.repository';
import { DEFERRED_DISPATCH, DispatchService } from './dispatch.service';

/** How long a claimed job is ours before another replica may take it over. */
const LEASE_MS = 60_000;
/** Backoff for a job whose run failed on infrastructure (the database or Kafka was unreachable). */
const RETRY_AFTER_FAILURE_MS = 5_000;

/**
 * Runs deferred dispatches when they are due: quiet hours that ended, cap windows that freed.
 * Jobs are claimed with SKIP LOCKED and a lease, so any number of replicas share the work and a
 * crashed replica's jobs are taken over once its lease runs out.
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

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** Claims and runs every job due now; returns how many ran. Public so tests can drive it. */
  async runDue(): Promise<number> {
    const jobs = await this.scheduler.claimDue(this.clock.now(), {
      limit: this.config.scheduler.batchSize,
      workerId: this.workerId,
      leaseMs: LEASE_MS,
    });
    for (const job of jobs) {
      if (this.stopped) break;
      try {
        if (job.kind !== DEFERRED_DISPATCH) throw new Error(`unknown job kind ${job.kind}`);
        const payload = job.payload as { command: unknown; receivedAt: string };
        const command = sendCommandSchema.parse(payload.command);
        const receipt = await this.dispatcher.dispatch(command, new Date(payload.receivedAt));
        await this.receipts.publish(receipt, command.customerId);
        await this.scheduler.complete(job.id, this.workerId);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        this.logger.error(
          { jobId: job.id, kind: job.kind, error: message },
          'deferred job failed; retrying later',
        );
        await this.scheduler.reschedule(
          job.id,
          this.workerId,
          new Date(this.clock.now().getTime() + RETRY_AFTER_FAILURE_MS),
          message,
        );
      }
    }
    return jobs.length;
  }
}
