import { z } from 'zod';
import type { ApiBody } from '@nestjs/swagger';

type BodySchema = Extract<Parameters<typeof ApiBody>[0], { schema: unknown }>['schema'];

/** The OpenAPI schema of a protocol zod schema, so /openapi.json documents exactly what is validated. */
export function jsonSchema(schema: z.ZodType): BodySchema {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest as BodySchema;
}
