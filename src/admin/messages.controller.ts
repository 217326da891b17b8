import {
  Body,
  Controller,
  Get,
  HttpStatus,
  Param,
  Post,
  Query,
  Res,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import type { Response } from 'express';
import { AdminAuthGuard } from './auth/admin-auth.guard';
import { Principal } from './auth/principal.decorator';
import { MinRole, type AdminPrincipal } from './auth/roles';
import { AdminMessagesService, type Timeline } from './messages.service';
import type { MessageSummary } from './admin-messages.repository';
import { AdminProblemFilter } from './problem';
import { ResendService, type DryRunDecision, type ResendAccepted } from './resend.service';
import {
  listMessagesQuerySchema,
  messageIdSchema,
  parseOrRefuse,
  resendBodySchema,
} from './schemas';

/** Support agents' view of messages, and resends. Parsing here, decisions in the services. */
@Controller('admin/v1/messages')
@UseGuards(AdminAuthGuard)
@UseFilters(AdminProblemFilter)
export class AdminMessagesController {
  constructor(
    private readonly messages: AdminMessagesService,
    private readonly resends: ResendService,
  ) {}

  @Get()
  @MinRole('viewer')
  async list(
    @Query() query: unknown,
  ): Promise<{ items: MessageSummary[]; nextCursor: string | null }> {
    return this.messages.list(parseOrRefuse(listMessagesQuerySchema, query, 'query'));
  }

  @Get(':id')
  @MinRole('viewer')
  async timeline(@Param('id') id: string, @Principal() caller: AdminPrincipal): Promise<Timeline> {
    return this.messages.timeline(parseOrRefuse(messageIdSchema, id, 'id'), caller);
  }

  @Post(':id/resend')
  @MinRole('agent')
  async resend(
    @Param('id') id: string,
    @Body() body: unknown,
    @Principal() caller: AdminPrincipal,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ResendAccepted | DryRunDecision> {
    const result = await this.resends.resend(
      parseOrRefuse(messageIdSchema, id, 'id'),
      parseOrRefuse(resendBodySchema, body, 'body'),
      caller,
    );
    // A dry run decides now; a real resend is accepted and runs after the answer.
    response.status('dryRun' in result ? HttpStatus.OK : HttpStatus.ACCEPTED);
    return result;
  }
}
