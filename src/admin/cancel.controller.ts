import {
  Body,
  Controller,
  HttpCode,
  HttpStatus,
  Param,
  Post,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { GROUP_KEY_PATTERN } from '@omnigate/contracts';
import { z } from 'zod';
import type { CancelResult } from '../repositories/cancellation.repository';
import { MessageLogRepository } from '../repositories/message-log.repository';
import { CancelService } from '../services/cancel.service';
import { AdminAuditRepository } from './admin-audit.repository';
import { AdminAuthGuard } from './auth/admin-auth.guard';
import { Principal } from './auth/principal.decorator';
import { MinRole, type AdminPrincipal } from './auth/roles';
import { AdminProblemFilter, notFound } from './problem';
import { messageIdSchema, parseOrRefuse } from './schemas';

export const cancelBodySchema = z.strictObject({
  reason: z
    .string()
    .trim()
    .min(3, { error: 'must say why, in 3 to 500 characters' })
    .max(500, { error: 'must say why, in 3 to 500 characters' }),
  dryRun: z.boolean().optional(),
});
export type CancelBody = z.output<typeof cancelBodySchema>;

const customerIdSchema = z.string().min(1).max(128);
const groupKeySchema = z.string().min(1).max(128).regex(GROUP_KEY_PATTERN, {
  error: 'must be a lowercase slug like "cart-8812"',
});

/**
 * An agent withdraws a pending message, or every pending message of a customer's group key, with
 * a reason. Audited (dry runs too); the cancel itself is the same as one from the cancel topic.
 */
@Controller('admin/v1')
@UseGuards(AdminAuthGuard)
@UseFilters(AdminProblemFilter)
export class AdminCancelController {
  constructor(
    private readonly cancels: CancelService,
    private readonly log: MessageLogRepository,
    private readonly audit: AdminAuditRepository,
  ) {}

  @Post('messages/:id/cancel')
  @MinRole('agent')
  @HttpCode(HttpStatus.OK)
  async cancelMessage(
    @Param('id') id: string,
    @Body() body: unknown,
    @Principal() caller: AdminPrincipal,
  ): Promise<CancelResult> {
    const messageId = parseOrRefuse(messageIdSchema, id, 'id');
    const parsed = parseOrRefuse(cancelBodySchema, body, 'body');
    const message = await this.log.get(messageId);
    if (!message) throw notFound(`no message ${messageId}`);
    return this.cancel({ customerId: message.customerId, messageId }, parsed, caller);
  }

  @Post('customers/:customerId/groups/:groupKey/cancel')
  @MinRole('agent')
  @HttpCode(HttpStatus.OK)
  async cancelGroup(
    @Param('customerId') customerId: string,
    @Param('groupKey') groupKey: string,
    @Body() body: unknown,
    @Principal() caller: AdminPrincipal,
  ): Promise<CancelResult> {
    return this.cancel(
      {
        customerId: parseOrRefuse(customerIdSchema, customerId, 'customerId'),
        groupKey: parseOrRefuse(groupKeySchema, groupKey, 'groupKey'),
      },
      parseOrRefuse(cancelBodySchema, body, 'body'),
      caller,
    );
  }

  private async cancel(
    target: {
      readonly customerId: string;
      readonly messageId?: string;
      readonly groupKey?: string;
    },
    body: CancelBody,
    caller: AdminPrincipal,
  ): Promise<CancelResult> {
    const dryRun = body.dryRun === true;
    const auditId = await this.audit.record({
      actorId: caller.id,
      actorRole: caller.role,
      action: dryRun ? 'cancel_dry_run' : 'cancel',
      messageId: target.messageId ?? null,
      customerId: target.customerId,
      reason: body.reason,
      details: { ...(target.groupKey !== undefined && { groupKey: target.groupKey }) },
    });
    return this.cancels.cancel(
      {
        cancelId: `admin:${auditId}`,
        ...target,
        reason: { code: 'CANCELLED_BY_AGENT', message: body.reason },
        requestedBy: `admin:${caller.id}`,
        requestedAt: new Date(),
      },
      { dryRun },
    );
  }
}
