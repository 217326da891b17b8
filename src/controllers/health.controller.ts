import { Controller, Get, HttpCode, HttpStatus, Res } from '@nestjs/common';
import type { Response } from 'express';
import { SendCommandConsumer } from './send-command.consumer';

/** Probes for Kubernetes: liveness says the process serves; readiness says it consumes. */
@Controller('health')
export class HealthController {
  constructor(private readonly consumer: SendCommandConsumer) {}

  @Get('live')
  @HttpCode(HttpStatus.OK)
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  ready(@Res({ passthrough: true }) response: Response): { status: string; consumer: string } {
    const ready = this.consumer.ready;
    response.status(ready ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
    return { status: ready ? 'ready' : 'not_ready', consumer: this.consumer.state };
  }
}
