import { applyDecorators, Body, Controller, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import type { z } from 'zod';
import { apiQuery, jsonSchema } from './openapi.js';
import { ZodPipe } from './zod.pipe.js';

/** A REST controller under `path` that takes a bearer token, listed in OpenAPI under `tag`. */
export function ApiController(tag: string, path: string): ClassDecorator {
  return applyDecorators(ApiTags(tag), ApiBearerAuth(), Controller(path));
}

/**
 * A method decorator applied from a parameter decorator, so the parameter states both what is
 * validated and what OpenAPI says of it (parameter decorators run before the method's own).
 */
function onMethod(decorator: MethodDecorator): ParameterDecorator {
  return (target, key) => {
    decorator(target, key!, Object.getOwnPropertyDescriptor(target, key!)!);
  };
}

/** A request body validated by a protocol schema and documented by the same schema. */
export function ZodBody(schema: z.ZodType): ParameterDecorator {
  return (target, key, index) => {
    Body(new ZodPipe(schema))(target, key, index);
    onMethod(ApiBody({ schema: jsonSchema(schema) }))(target, key, index);
  };
}

/** A query validated by a protocol schema, each of its fields documented as a query parameter. */
export function ZodQuery(schema: z.ZodObject): ParameterDecorator {
  return (target, key, index) => {
    Query(new ZodPipe(schema, 'query'))(target, key, index);
    onMethod(apiQuery(schema))(target, key, index);
  };
}
