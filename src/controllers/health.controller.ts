import { Controller, Get, HttpCode, HttpStatus, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ChannelRouter } from '@omnigate/channels';
import { DependencyHealth, type DependencyStatus } from '../repositories/dependency-health';
import { KafkaConsumers } from './kafka-consumers';

/**
 * Probes for Kubernetes: liveness says the process serves; readiness says it consumes and that
 * PostgreSQL and Redis (when configured) answer, naming any that does not, so no admin traffic is
 * routed to an instance that cannot serve it. Liveness stays up through such an outage: a restart
 * would not bring the dependency back. Readiness also lists each provider's breaker: an open breaker is reported, not a reason to stop consuming,
 * because another provider or channel may still carry the traffic.
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly consumers: KafkaConsumers,
    private readonly router: ChannelRouter,
    private readonly dependencies: DependencyHealth,
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
    dependencies: Readonly<Record<string, DependencyStatus>>;
    providers: ReturnType<ChannelRouter['breakerStates']>;
  } {
    const ready = this.consumers.ready && this.dependencies.allUp;
    response.status(ready ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
    return {
      status: ready ? 'ready' : 'not_ready',
      consumers: this.consumers.states,
      dependencies: this.dependencies.statuses,
      providers: this.router.breakerStates(),
    };
  }
}
