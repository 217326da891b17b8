import { Controller, Get, HttpCode, HttpStatus, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ChannelRouter } from '@omnigate/channels';
import { KafkaConsumers } from './kafka-consumers';

/**
 * Probes for Kubernetes: liveness says the process serves; readiness says it consumes. Readiness
 * also lists each provider's breaker: an open breaker is reported, not a reason to stop consuming,
 * because another provider or channel may still carry the traffic.
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly consumers: KafkaConsumers,
    private readonly router: ChannelRouter,
  ) {}

  @Get('live')
  @HttpCode(HttpStatus.OK)
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  ready(@Res({ passthrough: true }) response: Response): {
    status: string;
    consumers: Record<string, string>;
    providers: ReturnType<ChannelRouter['breakerStates']>;
  } {
    const ready = this.consumers.ready;
    response.status(ready ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
    return {
      status: ready ? 'ready' : 'not_ready',
      consumers: this.consumers.states,
      providers: this.router.breakerStates(),
    };
  }
}
