import { Controller, Get, Query, Res } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { AuditQuery } from '@fx/protocol';
import { ZodPipe } from '../../common/zod.pipe.js';
import { apiQuery } from '../../common/openapi.js';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { AuditService, type ParsedAuditQuery } from './audit.service.js';
import { writeLines } from './jsonl-response.js';

/** The audit log: read only (no route edits or deletes an entry). */
@ApiTags('audit')
@ApiBearerAuth()
@Controller('v1/audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  /** A page of entries (AuditPage), or with `format=jsonl` every matching entry as JSON lines, streamed. */
  @Get()
  @apiQuery(AuditQuery)
  async list(@CurrentPrincipal() p: Principal, @Query(new ZodPipe(AuditQuery, 'query')) q: ParsedAuditQuery, @Res() res: ServerResponse): Promise<void> {
    if (q.format === 'jsonl') return writeLines(res, this.audit.export(p, q), 'fx-audit.jsonl');
    const page = await this.audit.page(p, q);
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.end(JSON.stringify(page));
  }
}
