import { applyDecorators, Delete, Get, HttpCode, Inject, Param, Post, type PipeTransform, type Type } from '@nestjs/common';
import { ApiParam, type ApiParamOptions } from '@nestjs/swagger';
import type { z } from 'zod';
import { CurrentPrincipal } from '../modules/auth/auth.guard.js';
import type { Principal } from '../modules/auth/principal.js';
import { ZodBody } from './api-decorators.js';
import { jsonSchema } from './openapi.js';
import { RefPipe } from './zod.pipe.js';

/** How a controller's `:id` is validated, and described in OpenAPI when it is more than a uuid. */
export interface IdParam {
  pipe: Type<PipeTransform> | PipeTransform;
  param?: ApiParamOptions;
}

/** `:id` as an id or a name of the shape `schema` takes (FunctionRef, EndpointRef), validated and documented by it. */
export function refId(schema: z.ZodType<string>, what: 'function' | 'endpoint', description: string): IdParam {
  return { pipe: new RefPipe(schema, what), param: { name: 'id', description, schema: jsonSchema(schema) as never } };
}

/**
 * The two halves of a route on `:id`, kept together: `ById(Get(':id/x'))` on the method documents the
 * parameter, `@Id()` on the argument validates it.
 */
export function idRoute({ pipe, param }: IdParam) {
  return {
    ById: (method: MethodDecorator) => applyDecorators(method, ...(param ? [ApiParam(param)] : [])),
    Id: () => Param('id', pipe),
  };
}

/** A service that reads one resource by `:id` for a principal. */
export interface ReadableResources {
  get(p: Principal, id: string): Promise<unknown>;
}

/** A service of resources a principal lists, reads and deletes by `:id`. */
export interface OwnedResources extends ReadableResources {
  list(p: Principal): Promise<unknown[]>;
  delete(p: Principal, id: string): Promise<void>;
}

/**
 * `GET /:id` of a controller whose service reads one resource by `:id` (task groups; the base of
 * OwnedRoutes). The controller extends the class this returns and names its service here; Nest and
 * Swagger read the routes of a base class as the controller's own (the controller's routes register
 * first, then these).
 */
export function ReadRoutes<S extends ReadableResources>(service: Type<S>, id: IdParam) {
  const { ById, Id } = idRoute(id);

  abstract class Read {
    constructor(@Inject(service) readonly service: S) {}

    @ById(Get(':id'))
    get(@CurrentPrincipal() p: Principal, @Id() id: string) {
      return this.service.get(p, id);
    }
  }
  return Read;
}

/**
 * As ReadRoutes, with `GET /` and `DELETE /:id`: the routes of a controller whose service lists, reads
 * and deletes what a principal owns, written once for the resources that have them all (triggers,
 * endpoint groups, endpoints).
 */
export function OwnedRoutes<S extends OwnedResources>(service: Type<S>, id: IdParam) {
  const { ById, Id } = idRoute(id);

  abstract class Routes extends ReadRoutes(service, id) {
    @Get()
    async list(@CurrentPrincipal() p: Principal) {
      return { items: await this.service.list(p) };
    }

    @ById(Delete(':id'))
    @HttpCode(204)
    async delete(@CurrentPrincipal() p: Principal, @Id() id: string): Promise<void> {
      await this.service.delete(p, id);
    }
  }
  return Routes;
}

/** As OwnedRoutes, with `POST /`: a body of `request`'s shape that the service creates a resource from. */
export function CreatableRoutes<R extends z.ZodType, S extends OwnedResources & { create(p: Principal, body: z.input<R>): Promise<unknown> }>(
  service: Type<S>,
  id: IdParam,
  request: R,
) {
  abstract class Creatable extends OwnedRoutes(service, id) {
    @Post()
    create(@CurrentPrincipal() p: Principal, @ZodBody(request) body: z.input<R>) {
      return this.service.create(p, body);
    }
  }
  return Creatable;
}
