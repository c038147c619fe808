import { Get, Res } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { AuditQuery } from '@fx/protocol';
import { ApiController, ZodQuery } from '../../common/api-decorators.js';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { AuditService, type ParsedAuditQuery } from './audit.service.js';
import { writeLines } from './jsonl-response.js';

/** The audit log: read only (no route edits or deletes an entry). */
@ApiController('audit', 'v1/audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  /** A page of entries (AuditPage), or with `format=jsonl` every matching entry as JSON lines, streamed. */
  @Get()
  async list(@CurrentPrincipal() p: Principal, @ZodQuery(AuditQuery) q: ParsedAuditQuery, @Res() res: ServerResponse): Promise<void> {
    if (q.format === 'jsonl') return writeLines(res, this.audit.export(p, q), 'fx-audit.jsonl');
    const page = await this.audit.page(p, q);
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.end(JSON.stringify(page));
  }
}
