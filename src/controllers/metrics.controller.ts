import { Controller, Get, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Metrics } from '../observability/metrics';

/**
 * Prometheus scrape endpoint, on the same port as the probes (the ServiceMonitor names it). It
 * carries no personal data: labels are channels, providers, statuses and reason codes only.
 */
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: Metrics) {}

  @Get()
  async scrape(@Res() response: Response): Promise<void> {
    const { contentType, body } = await this.metrics.render();
    response.type(contentType).send(body);
  }
}
