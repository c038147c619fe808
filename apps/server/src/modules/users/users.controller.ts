import { Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { CreateTokenRequest, CreateUserRequest } from '@fx/protocol';
import { ApiController, ZodBody } from '../../common/api-decorators.js';
import { UuidPipe } from '../../common/zod.pipe.js';
import { AdminOnly, CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { UsersService } from './users.service.js';

@ApiController('users', 'v1')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Get('whoami')
  whoami(@CurrentPrincipal() p: Principal) {
    return this.users.whoami(p);
  }

  @AdminOnly()
  @Post('users')
  create(@CurrentPrincipal() p: Principal, @ZodBody(CreateUserRequest) body: CreateUserRequest) {
    return this.users.create(p, body as Required<CreateUserRequest>);
  }

  @AdminOnly()
  @Get('users')
  async list() {
    return { items: await this.users.list() };
  }

  @AdminOnly()
  @Post('users/:id/tokens')
  issueToken(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string, @ZodBody(CreateTokenRequest) body: CreateTokenRequest) {
    return this.users.issueToken(p, id, body);
  }

  @AdminOnly()
  @Get('users/:id/tokens')
  async listTokens(@Param('id', UuidPipe) id: string) {
    return { items: await this.users.listTokens(id) };
  }

  @AdminOnly()
  @Delete('tokens/:id')
  @HttpCode(204)
  async revoke(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string) {
    await this.users.revokeToken(p, id);
  }
}
