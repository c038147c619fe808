import { PipeTransform } from '@nestjs/common';
import { z } from 'zod';
import { FxException } from './fx.exception.js';
import { jsonProblem, reservedKeyProblem } from './json-safety.js';

/**
 * Validates a REST body or param with the libs/protocol schema itself, so the wire contract has one
 * source of truth (instead of class-validator DTOs that would copy it).
 */
export class ZodPipe<T extends z.ZodType> implements PipeTransform<unknown, z.infer<T>> {
  constructor(
    private readonly schema: T,
    private readonly what = 'request body',
  ) {}

  transform(value: unknown): z.infer<T> {
    const reserved = reservedKeyProblem(value, this.what);
    if (reserved) throw new FxException('VALIDATION_FAILED', `invalid ${this.what}: ${reserved}`);
    const parsed = this.schema.safeParse(value ?? {});
    if (!parsed.success) {
      throw new FxException('VALIDATION_FAILED', `invalid ${this.what}: ${z.prettifyError(parsed.error)}`, {
        issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      });
    }
    // valid by the schema, yet unstorable: too deep, NUL characters, lone surrogates (a 400, not a 500)
    const problem = jsonProblem(parsed.data, this.what);
    if (problem) throw new FxException('VALIDATION_FAILED', `invalid ${this.what}: ${problem}`);
    return parsed.data;
  }
}

const UuidSchema = z.uuid();
/** A path parameter that must be a UUID: anything else is a clear 400, not a database error. */
export class UuidPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (!UuidSchema.safeParse(value).success) throw new FxException('VALIDATION_FAILED', `"${String(value).slice(0, 64)}" is not a valid UUID`);
    return value;
  }
}

/** A path parameter that names a function or an endpoint: an id or a name (FunctionRef, EndpointRef). */
export class RefPipe implements PipeTransform<string, string> {
  constructor(
    private readonly schema: z.ZodType<string>,
    private readonly what: 'function' | 'endpoint',
  ) {}

  transform(value: string): string {
    const parsed = this.schema.safeParse(value);
    if (!parsed.success)
      throw new FxException(
        'VALIDATION_FAILED',
        `"${String(value).slice(0, 64)}" is not ${this.what === 'function' ? 'a function' : 'an endpoint'} id or name: ${parsed.error.issues.at(-1)?.message ?? 'invalid'}`,
      );
    return parsed.data;
  }
}
