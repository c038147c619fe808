import { Get, HttpCode, Param, Post, Put, Req } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { ApiBody, ApiConsumes, ApiHeader } from '@nestjs/swagger';
import { CreateUploadRequest, UPLOAD_OFFSET_HEADER } from '@fx/protocol';
import { ApiController, ZodBody } from '../../common/api-decorators.js';
import { UuidPipe } from '../../common/zod.pipe.js';
import { LongRequests } from '../../common/long-requests.js';
import { CurrentPrincipal, EndpointsToo } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { UploadsService } from './uploads.service.js';
import { streamUpload } from './upload-request.js';

/** Resumable uploads: open, send parts (each from the offset the server holds), complete. */
@ApiController('objects', 'v1/objects/uploads')
export class UploadsController {
  constructor(
    private readonly uploads: UploadsService,
    private readonly longRequests: LongRequests,
  ) {}

  @Post()
  @EndpointsToo()
  create(@CurrentPrincipal() p: Principal, @ZodBody(CreateUploadRequest) body: CreateUploadRequest) {
    return this.uploads.create(p, body);
  }

  @Put(':id')
  @EndpointsToo()
  @HttpCode(200)
  @ApiHeader({ name: UPLOAD_OFFSET_HEADER, required: true, description: 'the offset this part starts at: the bytes the server holds' })
  @ApiConsumes('application/octet-stream')
  @ApiBody({ schema: { type: 'string', contentMediaType: 'application/octet-stream' } as never })
  put(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string, @Req() req: IncomingMessage) {
    return streamUpload(req, this.longRequests, () => this.uploads.put(p, id, req.headers[UPLOAD_OFFSET_HEADER], req));
  }

  @Get(':id')
  @EndpointsToo()
  info(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string) {
    return this.uploads.info(p, id);
  }

  @Post(':id/complete')
  @EndpointsToo()
  complete(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string) {
    return this.uploads.complete(p, id);
  }
}
