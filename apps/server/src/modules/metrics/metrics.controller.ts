import { Controller, Get, Header, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Public } from '../auth/auth.guard.js';
import { METRICS_CONTENT_TYPE, MetricsService } from './metrics.service.js';

/**
 * GET /metrics in Prometheus' text format. Outside the user-token guard (@Public): who may read it is
 * FX_METRICS and FX_METRICS_TOKEN's business (metrics-access.ts), decided before anything is collected.
 */
@ApiTags('metrics')
@Controller()
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Public()
  @Get('metrics')
  @Header('Cache-Control', 'no-store')
  async scrape(@Req() req: IncomingMessage, @Res({ passthrough: true }) res: ServerResponse): Promise<string> {
    const text = await this.metrics.scrape({ remoteAddress: req.socket.remoteAddress, headers: req.headers });
    // set only on success: a refusal is the usual JSON error body
    res.setHeader('Content-Type', METRICS_CONTENT_TYPE);
    return text;
  }
}
