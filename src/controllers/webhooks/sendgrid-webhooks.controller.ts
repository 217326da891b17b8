import { Controller, Param, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ProviderWebhooksService } from '../../services/provider-webhooks.service';
import { sendAnswer, webhookRequest } from './webhook-http';

/** SendGrid's signed Event Webhook. */
@Controller('webhooks/sendgrid/:providerId')
export class SendGridWebhooksController {
  constructor(private readonly webhooks: ProviderWebhooksService) {}

  @Post('events')
  async events(
    @Param('providerId') providerId: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    sendAnswer(res, await this.webhooks.sendGridEvents(providerId, webhookRequest(req)));
  }
}
