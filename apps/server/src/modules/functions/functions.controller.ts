import { Delete, Get, HttpCode, Param, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiParam, ApiQuery } from '@nestjs/swagger';
import { FunctionRef, ListFunctionsQuery, RegisterFunctionRequest, UpdateFunctionRequest, type ParsedListFunctionsQuery } from '@fx/protocol';
import { ApiController, ZodBody } from '../../common/api-decorators.js';
import { RefPipe, ZodPipe } from '../../common/zod.pipe.js';
import { jsonSchema } from '../../common/openapi.js';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { FunctionsService } from './functions.service.js';

const FUNCTION_PARAM = {
  name: 'id',
  description: 'a function id, or `name`, `name@version`, `owner/name`, `owner/name@version` (URL-encoded)',
  schema: jsonSchema(FunctionRef) as never,
};

@ApiController('functions', 'v1/functions')
export class FunctionsController {
  constructor(private readonly functions: FunctionsService) {}

  /** 201 with a new function (or a new version of its name); 200 with the existing one when the same registration was made before. */
  @Post()
  async register(
    @CurrentPrincipal() p: Principal,
    @ZodBody(RegisterFunctionRequest) body: RegisterFunctionRequest,
    @Res({ passthrough: true }) res: { status(code: number): unknown },
  ) {
    const { info, created } = await this.functions.register(p, body);
    res.status(created ? 201 : 200);
    return info;
  }

  @Get()
  @ApiQuery({ name: 'name', required: false, description: 'only the live versions of this name (`name` or `owner/name`), newest first' })
  @ApiQuery({ name: 'limit', required: false, description: 'at most this many (1-1000, default 100); a page also ends at 8 MiB of source' })
  @ApiQuery({ name: 'cursor', required: false, description: "the previous page's nextCursor" })
  @ApiQuery({ name: 'source', required: false, description: '`false`: every source is the empty string (a list of names), and only `limit` bounds the page' })
  list(@CurrentPrincipal() p: Principal, @Query(new ZodPipe(ListFunctionsQuery, 'query')) q: ParsedListFunctionsQuery) {
    return this.functions.list(p, q);
  }

  @Get(':id')
  @ApiParam(FUNCTION_PARAM)
  get(@CurrentPrincipal() p: Principal, @Param('id', new RefPipe(FunctionRef, 'function')) ref: string) {
    return this.functions.get(p, ref);
  }

  /** Makes a function public (anyone may run it) or private again. */
  @Patch(':id')
  update(
    @CurrentPrincipal() p: Principal,
    @Param('id', new RefPipe(FunctionRef, 'function')) id: string,
    @ZodBody(UpdateFunctionRequest) body: UpdateFunctionRequest,
  ) {
    return this.functions.update(p, id, body);
  }

  /** Drops the function's memoized results: the caller's own, and the shared ones of a function they own. */
  @Delete(':id/cache')
  @ApiParam(FUNCTION_PARAM)
  clearCache(@CurrentPrincipal() p: Principal, @Param('id', new RefPipe(FunctionRef, 'function')) ref: string) {
    return this.functions.clearCache(p, ref);
  }

  @Delete(':id')
  @ApiParam(FUNCTION_PARAM)
  @HttpCode(204)
  async delete(@CurrentPrincipal() p: Principal, @Param('id', new RefPipe(FunctionRef, 'function')) ref: string) {
    await this.functions.delete(p, ref);
  }
}
