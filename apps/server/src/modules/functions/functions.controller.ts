import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import { RegisterFunctionRequest } from '@fx/protocol';
import { UuidPipe, ZodPipe } from '../../common/zod.pipe.js';
import { jsonSchema } from '../../common/openapi.js';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { FunctionsService } from './functions.service.js';

@ApiTags('functions')
@ApiBearerAuth()
@Controller('v1/functions')
export class FunctionsController {
  constructor(private readonly functions: FunctionsService) {}

  @Post()
  @ApiBody({ schema: jsonSchema(RegisterFunctionRequest) })
  register(@CurrentPrincipal() p: Principal, @Body(new ZodPipe(RegisterFunctionRequest)) body: RegisterFunctionRequest) {
    return this.functions.register(p, body);
  }

  @Get()
  async list(@CurrentPrincipal() p: Principal) {
    return { items: await this.functions.list(p) };
  }

  @Get(':id')
  get(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string) {
    return this.functions.get(p, id);
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string) {
    await this.functions.delete(p, id);
  }
}
