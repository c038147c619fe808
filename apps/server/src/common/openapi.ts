import { z } from 'zod';
import { applyDecorators } from '@nestjs/common';
import { ApiQuery, type ApiBody } from '@nestjs/swagger';
import { ErrorBody, type ErrorCode } from '@fx/protocol';
import { httpStatusOf } from './fx.exception.js';
import { OPERATIONS, commonErrors } from './openapi-operations.js';

type BodySchema = Extract<Parameters<typeof ApiBody>[0], { schema: unknown }>['schema'];

/** The OpenAPI schema of a protocol zod schema, so /openapi.json documents exactly what is validated. */
export function jsonSchema(schema: z.ZodType): BodySchema {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest as BodySchema;
}

/** One OpenAPI query parameter per field of a protocol query schema, from the schema itself. */
export function apiQuery(schema: z.ZodObject) {
  const doc = jsonSchema(schema) as { properties?: Record<string, object>; required?: string[] };
  return applyDecorators(
    ...Object.entries(doc.properties ?? {}).map(([name, s]) =>
      ApiQuery({ name, required: doc.required?.includes(name) ?? false, schema: s as never, description: (s as { description?: string }).description }),
    ),
  );
}

/** JSON Schema of what a protocol schema produces (a response body). */
function outputSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad request',
  401: 'Unauthenticated',
  403: 'Forbidden',
  404: 'Not found',
  409: 'Conflict',
  413: 'Too large',
  429: 'Too many',
  500: 'Internal error',
  503: 'Unavailable',
};
const METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const;

interface OpenApiOperation {
  summary?: string;
  description?: string;
  responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }>;
}

/**
 * Gives every operation of the document its summary, description, success body and one response per
 * error status, each with the `{ code, message, details? }` body narrowed to the codes it may carry.
 * The document is OpenAPI 3.1, whose schemas are JSON Schema 2020-12, what zod emits.
 */
export function documentOperations(doc: { paths: Record<string, Partial<Record<(typeof METHODS)[number], OpenApiOperation>>> }): void {
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      const spec = op && OPERATIONS[`${method.toUpperCase()} ${path}`];
      if (!op || !spec) continue;
      op.summary = spec.summary;
      op.description = spec.description;
      const success = Object.keys(op.responses ?? {}).find((c) => c.startsWith('2')) ?? (spec.response ? '200' : '204');
      const responses: OpenApiOperation['responses'] = {
        [success]: spec.response
          ? {
              description: spec.summary,
              content: { [spec.binary ? 'application/octet-stream' : spec.text ? 'text/plain' : 'application/json']: { schema: outputSchema(spec.response) } },
            }
          : { description: 'Done; no body.' },
      };
      const byStatus = new Map<number, Set<ErrorCode>>();
      for (const code of [...commonErrors(spec), ...(spec.errors ?? [])]) {
        const status = httpStatusOf(code);
        if (!byStatus.has(status)) byStatus.set(status, new Set());
        byStatus.get(status)!.add(code);
      }
      for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
        const schema = outputSchema(ErrorBody) as { properties: Record<string, unknown> };
        schema.properties['code'] = { type: 'string', enum: [...codes] };
        responses[String(status)] = { description: `${STATUS_TEXT[status] ?? 'Error'}: ${[...codes].join(', ')}`, content: { 'application/json': { schema } } };
      }
      op.responses = responses;
    }
  }
}
