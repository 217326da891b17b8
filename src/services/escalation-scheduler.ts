import { Injectable } from '@nestjs/common';
import { channelSchema } from '@omnigate/contracts';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../repositories/database/types';
import { SchedulerRepository, type ScheduleRequest } from '../repositories/scheduler.repository';
import { conditionsMetBy, type EscalationSchedule } from '../policy/escalation';
import type { EscalationCondition } from '../policy/model';

/** The scheduler job kind of an escalation timer. */
export const ESCALATE_JOB = 'dispatch.escalate';

/** One escalation job per message: a later one (after an escalation) replaces the finished one. */
export function escalationDedupeKey(messageId: string): string {
  return `escalation:${messageId}`;
}

export const escalationJobSchema = z.object({
  messageId: z.string().min(1),
  /** The channel the message was sent on, which the escalation moves away from. */
  channel: channelSchema,
  unless: z.enum(['delivered', 'read']),
  afterSeconds: z.int().positive(),
});
export type EscalationJobPayload = z.infer<typeof escalationJobSchema>;

/**
 * Escalation timers in the scheduler: the job a `sent` settlement writes (in its own
 * transaction), and its cancellation when the message reaches the receipt it waited for.
 */
@Injectable()
export class EscalationScheduler {
  constructor(private readonly scheduler: SchedulerRepository) {}

  /** The job that escalates `messageId` when `schedule` is due. */
  static request(messageId: string, schedule: EscalationSchedule): ScheduleRequest {
    return {
      kind: ESCALATE_JOB,
      runAt: schedule.runAt,
      dedupeKey: escalationDedupeKey(messageId),
      payload: {
        messageId,
        channel: schedule.channel,
        unless: schedule.unless,
        afterSeconds: schedule.afterSeconds,
      } satisfies EscalationJobPayload,
    };
  }

  /**
   * Cancels the message's escalation when a `reached` receipt satisfies what it waits for
   * (`read` satisfies both; `delivered` only "unless delivered"). `executor` lets the caller do it
   * in the transaction that records the receipt. Answers whether a job was cancelled.
   */
  async cancel(
    messageId: string,
    reached: EscalationCondition,
    executor?: Kysely<Database>,
  ): Promise<boolean> {
    return this.scheduler.cancel(
      {
        dedupeKey: escalationDedupeKey(messageId),
        kind: ESCALATE_JOB,
        payloadAnyOf: conditionsMetBy(reached).map((unless) => ({ unless })),
      },
      executor,
    );
  }
}
