import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import { CreateTriggerRequest } from '@fx/protocol';
import { UuidPipe, ZodPipe } from '../../common/zod.pipe.js';
import { jsonSchema } from '../../common/openapi.js';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { TriggersService } from './triggers.service.js';

/** Triggers: a named object put under a prefix runs a function with it. */
@ApiTags('triggers')
@ApiBearerAuth()
@Controller('v1/triggers')
export class TriggersController {
  constructor(private readonly triggers: TriggersService) {}

  @Post()
  @ApiBody({ schema: jsonSchema(CreateTriggerRequest) })
  create(@CurrentPrincipal() p: Principal, @Body(new ZodPipe(CreateTriggerRequest)) body: CreateTriggerRequest) {
    return this.triggers.create(p, body);
  }

  @Get()
  async list(@CurrentPrincipal() p: Principal) {
    return { items: await this.triggers.list(p) };
  }

  @Get(':id')
  get(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string) {
    return this.triggers.get(p, id);
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string): Promise<void> {
    await this.triggers.delete(p, id);
  }
}
