import { Controller, Options, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ProviderWebhooksService } from '../../services/provider-webhooks.service';
import { sendAnswer, webhookRequest } from './webhook-http';

/**
 * Acks from the service worker (another origin than the gateway's, hence CORS) and the mobile
 * app. The signed token is the credential, so any origin may post.
 */
@Controller('webhooks/push')
export class PushAckController {
  constructor(private readonly webhooks: ProviderWebhooksService) {}

  @Options('ack')
  preflight(@Res() res: Response): void {
    res
      .status(204)
      .set({
        'access-control-allow-origin': '*',
        'access-control-allow-methods': 'POST',
        'access-control-allow-headers': 'content-type',
        'access-control-max-age': '86400',
      })
      .end();
  }

  @Post('ack')
  async ack(@Req() req: Request, @Res() res: Response): Promise<void> {
    res.set('access-control-allow-origin', '*');
    sendAnswer(res, await this.webhooks.pushAck(webhookRequest(req)));
  }
}
