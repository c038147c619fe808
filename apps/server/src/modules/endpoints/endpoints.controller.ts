import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import { RegisterEndpointRequest } from '@fx/protocol';
import { UuidPipe, ZodPipe } from '../../common/zod.pipe.js';
import { jsonSchema } from '../../common/openapi.js';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { EndpointsService } from './endpoints.service.js';

@ApiTags('endpoints')
@ApiBearerAuth()
@Controller('v1/endpoints')
export class EndpointsController {
  constructor(private readonly endpoints: EndpointsService) {}

  @Post()
  @ApiBody({ schema: jsonSchema(RegisterEndpointRequest) })
  register(@CurrentPrincipal() p: Principal, @Body(new ZodPipe(RegisterEndpointRequest)) body: RegisterEndpointRequest) {
    return this.endpoints.register(p, body);
  }

  @Get()
  async list(@CurrentPrincipal() p: Principal) {
    return { items: await this.endpoints.list(p) };
  }

  @Get(':id')
  get(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string) {
    return this.endpoints.get(p, id);
  }

  @Get(':id/status')
  status(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string) {
    return this.endpoints.status(p, id);
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string) {
    await this.endpoints.delete(p, id);
  }
}
