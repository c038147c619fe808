import { Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { CreateTriggerRequest } from '@fx/protocol';
import { ApiController, ZodBody } from '../../common/api-decorators.js';
import { UuidPipe } from '../../common/zod.pipe.js';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { TriggersService } from './triggers.service.js';

/** Triggers: a named object put under a prefix runs a function with it. */
@ApiController('triggers', 'v1/triggers')
export class TriggersController {
  constructor(private readonly triggers: TriggersService) {}

  @Post()
  create(@CurrentPrincipal() p: Principal, @ZodBody(CreateTriggerRequest) body: CreateTriggerRequest) {
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
