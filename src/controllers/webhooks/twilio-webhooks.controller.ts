import { Controller, Param, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ProviderWebhooksService } from '../../services/provider-webhooks.service';
import { sendAnswer, webhookRequest } from './webhook-http';

/** Twilio's status callbacks and inbound messages; Twilio signs each with X-Twilio-Signature. */
@Controller('webhooks/twilio/:providerId')
export class TwilioWebhooksController {
  constructor(private readonly webhooks: ProviderWebhooksService) {}

  @Post('status')
  async status(
    @Param('providerId') providerId: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    sendAnswer(res, await this.webhooks.twilioStatus(providerId, webhookRequest(req)));
  }

  @Post('inbound')
  async inbound(
    @Param('providerId') providerId: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    sendAnswer(res, await this.webhooks.twilioInbound(providerId, webhookRequest(req)));
  }
}
