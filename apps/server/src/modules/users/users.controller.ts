import { applyDecorators, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiQuery } from '@nestjs/swagger';
import { CreateTokenRequest, CreateUserRequest, ListUsersQuery, type ParsedListUsersQuery } from '@fx/protocol';
import { ApiController, ZodBody } from '../../common/api-decorators.js';
import { UuidPipe, ZodPipe } from '../../common/zod.pipe.js';
import { AdminOnly, CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { UsersService } from './users.service.js';

/** The OpenAPI words on a users-module list's paging (ListUsersQuery). */
const PagedQuery = () =>
  applyDecorators(
    ApiQuery({ name: 'limit', required: false, description: 'at most this many (1-1000, default 1000)' }),
    ApiQuery({ name: 'cursor', required: false, description: "the previous page's nextCursor" }),
  );

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
  @PagedQuery()
  list(@Query(new ZodPipe(ListUsersQuery, 'query')) q: ParsedListUsersQuery) {
    return this.users.list(q);
  }

  @AdminOnly()
  @Post('users/:id/tokens')
  issueToken(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string, @ZodBody(CreateTokenRequest) body: CreateTokenRequest) {
    return this.users.issueToken(p, id, body);
  }

  @AdminOnly()
  @Get('users/:id/tokens')
  @PagedQuery()
  listTokens(@Param('id', UuidPipe) id: string, @Query(new ZodPipe(ListUsersQuery, 'query')) q: ParsedListUsersQuery) {
    return this.users.listTokens(id, q);
  }

  @AdminOnly()
  @Delete('tokens/:id')
  @HttpCode(204)
  async revoke(@CurrentPrincipal() p: Principal, @Param('id', UuidPipe) id: string) {
    await this.users.revokeToken(p, id);
  }
}
