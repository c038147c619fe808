import { Delete, Get, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { ApiBody, ApiConsumes, ApiQuery } from '@nestjs/swagger';
import { z } from 'zod';
import { ListObjectsQuery, MAX_OBJECT_TTL_SECONDS, ObjectEncoding, ObjectName } from '@fx/protocol';
import { ApiController, ZodQuery } from '../../common/api-decorators.js';
import { UuidPipe } from '../../common/zod.pipe.js';
import { LongRequests } from '../../common/long-requests.js';
import { CurrentPrincipal, EndpointsToo } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { ObjectsService, type ParsedListObjectsQuery } from './objects.service.js';
import { UploadsService, type PutQuery } from './uploads.service.js';
import { streamUpload } from './upload-request.js';

/** `POST /v1/objects?name=…&ttlSeconds=…&encoding=…`: the query of a one-shot put. */
export const PutObjectQuery = z
  .object({
    name: ObjectName.optional(),
    encoding: ObjectEncoding.default('bytes'),
    ttlSeconds: z.coerce.number().int().min(1).max(MAX_OBJECT_TTL_SECONDS).optional(),
  })
  .strict();

/** Objects: immutable data by reference (the resumable uploads are in uploads.controller.ts). */
@ApiController('objects', 'v1/objects')
export class ObjectsController {
  constructor(
    private readonly objects: ObjectsService,
    private readonly uploads: UploadsService,
    private readonly longRequests: LongRequests,
  ) {}

  @Post()
  @ApiConsumes('application/octet-stream')
  @ApiBody({ schema: { type: 'string', contentMediaType: 'application/octet-stream' } as never })
  put(@CurrentPrincipal() p: Principal, @ZodQuery(PutObjectQuery) q: PutQuery, @Req() req: IncomingMessage) {
    return streamUpload(req, this.longRequests, () => this.uploads.putOnce(p, q, req));
  }

  @Get()
  list(@CurrentPrincipal() p: Principal, @ZodQuery(ListObjectsQuery) q: ParsedListObjectsQuery) {
    return this.objects.list(p, q);
  }

  @Get(':id')
  get(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string) {
    return this.objects.get(p, id);
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string): Promise<void> {
    await this.objects.delete(p, id);
  }

  /** The bytes, with `ETag` (the sha256) and `Range: bytes=N-` for resuming. */
  @Get(':id/content')
  @EndpointsToo()
  @ApiQuery({ name: 'Range', required: false, description: 'header: bytes=N- (or bytes=N-M) for the bytes from N on: 206 Partial Content' })
  async content(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string, @Req() req: IncomingMessage, @Res() res: ServerResponse): Promise<void> {
    const plan = await this.objects.content(p, id, typeof req.headers.range === 'string' ? req.headers.range : undefined);
    const etag = `"${plan.object.sha256}"`;
    res.setHeader('ETag', etag);
    res.setHeader('X-Fx-Sha256', plan.object.sha256);
    res.setHeader('Accept-Ranges', 'bytes');
    // the bytes behind an id never change, but they are the caller's: no shared cache may keep them
    res.setHeader('Cache-Control', 'private, max-age=31536000, immutable');
    if (plan.range === 'unsatisfiable') {
      res.statusCode = 416;
      res.setHeader('Content-Range', `bytes */${plan.size}`);
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.end(JSON.stringify({ code: 'VALIDATION_FAILED', message: `the range starts past the end of object ${id}, which holds ${plan.size} bytes` }));
      return;
    }
    if (!plan.range && req.headers['if-none-match']?.split(',').some((t) => t.trim() === etag)) {
      res.statusCode = 304;
      res.end();
      return;
    }
    const body = req.method === 'HEAD' ? null : await this.objects.open(plan);
    res.setHeader('Content-Type', plan.object.encoding === 'json' ? 'application/json' : 'application/octet-stream');
    if (plan.range) {
      res.statusCode = 206;
      res.setHeader('Content-Range', `bytes ${plan.range.start}-${plan.range.end}/${plan.size}`);
      res.setHeader('Content-Length', String(plan.range.end - plan.range.start + 1));
    } else {
      res.statusCode = 200;
      res.setHeader('Content-Length', String(plan.size));
    }
    if (!body) {
      res.end();
      return;
    }
    // a reader that goes away mid-download ends the stream; that is no error of ours
    await pipeline(body, res).catch(() => undefined);
  }
}
