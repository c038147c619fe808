import { applyDecorators, Body, Controller, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { EndpointRef, FunctionRef, ListTasksQuery, UpdateFunctionRequest } from '@fx/protocol';
import { RefPipe, ZodPipe } from '../../common/zod.pipe.js';
import { ENDPOINT_PARAM } from '../endpoints/endpoints.controller.js';
import { jsonSchema } from '../../common/openapi.js';
import { CurrentPrincipal } from '../auth/auth.guard.js';
import type { Principal } from '../auth/principal.js';
import { ConsoleService, type ParsedListTasksQuery } from './console.service.js';

/** One OpenAPI query parameter per field of a protocol query schema, from the schema itself. */
function apiQuery(schema: z.ZodObject) {
  const doc = jsonSchema(schema) as { properties?: Record<string, object>; required?: string[] };
  return applyDecorators(
    ...Object.entries(doc.properties ?? {}).map(([name, s]) =>
      ApiQuery({ name, required: doc.required?.includes(name) ?? false, schema: s as never, description: (s as { description?: string }).description }),
    ),
  );
}

// The console adds routes to the existing resources; each controller below is thin and calls one
// ConsoleService method. They live here so the console's whole server side is one module.

@ApiTags('tasks')
@ApiBearerAuth()
@Controller('v1/tasks')
export class TaskListController {
  constructor(private readonly console: ConsoleService) {}

  /** Tasks the caller may see, newest first, filtered, keyset-paged (`nextCursor`). */
  @Get()
  @apiQuery(ListTasksQuery)
  list(@CurrentPrincipal() p: Principal, @Query(new ZodPipe(ListTasksQuery, 'query')) q: ParsedListTasksQuery) {
    return this.console.listTasks(p, q);
  }
}

@ApiTags('endpoints')
@ApiBearerAuth()
@Controller('v1/endpoints')
export class EndpointLockController {
  constructor(private readonly console: ConsoleService) {}

  /** A locked endpoint refuses new tasks with 409 ENDPOINT_LOCKED; tasks already queued still run. */
  @Post(':id/lock')
  @ApiParam(ENDPOINT_PARAM)
  @HttpCode(200)
  lock(@CurrentPrincipal() p: Principal, @Param('id', new RefPipe(EndpointRef, 'endpoint')) id: string) {
    return this.console.lockEndpoint(p, id, true);
  }

  @Post(':id/unlock')
  @ApiParam(ENDPOINT_PARAM)
  @HttpCode(200)
  unlock(@CurrentPrincipal() p: Principal, @Param('id', new RefPipe(EndpointRef, 'endpoint')) id: string) {
    return this.console.lockEndpoint(p, id, false);
  }
}

@ApiTags('functions')
@ApiBearerAuth()
@Controller('v1/functions')
export class FunctionUpdateController {
  constructor(private readonly console: ConsoleService) {}

  /** Makes a function public (anyone may run it) or private again. */
  @Patch(':id')
  @ApiBody({ schema: jsonSchema(UpdateFunctionRequest) })
  update(@CurrentPrincipal() p: Principal, @Param('id', new RefPipe(FunctionRef, 'function')) id: string, @Body(new ZodPipe(UpdateFunctionRequest)) body: UpdateFunctionRequest) {
    return this.console.updateFunction(p, id, body);
  }
}

@ApiTags('console')
@ApiBearerAuth()
@Controller('v1/console')
export class ConsoleController {
  constructor(private readonly console: ConsoleService) {}

  /** Endpoints online/offline/locked, queue depth, and completed/failed tasks per minute over the last hour. */
  @Get('overview')
  overview(@CurrentPrincipal() p: Principal) {
    return this.console.overview(p);
  }

  /** Endpoints with lock state, owner name and queue depth. */
  @Get('endpoints')
  async endpoints(@CurrentPrincipal() p: Principal) {
    return { items: await this.console.listEndpoints(p) };
  }
}
