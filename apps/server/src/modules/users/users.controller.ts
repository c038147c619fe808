import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import { CreateTokenRequest, CreateUserRequest } from '@fx/protocol';
import { ZodPipe, UuidPipe } from '../../common/zod.pipe.js';
import { jsonSchema } from '../../common/openapi.js';
import { AdminOnly, CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { UsersService } from './users.service.js';

@ApiTags('users')
@ApiBearerAuth()
@Controller('v1')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Get('whoami')
  whoami(@CurrentPrincipal() p: Principal) {
    return this.users.whoami(p);
  }

  @AdminOnly()
  @Post('users')
  @ApiBody({ schema: jsonSchema(CreateUserRequest) })
  create(@CurrentPrincipal() p: Principal, @Body(new ZodPipe(CreateUserRequest)) body: CreateUserRequest) {
    return this.users.create(p, body as Required<CreateUserRequest>);
  }

  @AdminOnly()
  @Get('users')
  async list() {
    return { items: await this.users.list() };
  }

  @AdminOnly()
  @Post('users/:id/tokens')
  @ApiBody({ schema: jsonSchema(CreateTokenRequest) })
  issueToken(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string, @Body(new ZodPipe(CreateTokenRequest)) body: CreateTokenRequest) {
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
