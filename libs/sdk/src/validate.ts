import { ValidationError } from './errors.js';

/**
 * The slice of a zod schema the SDK uses. Typed structurally so the SDK depends on @fx/protocol's
 * schemas without importing zod itself.
 */
export interface Schema<T> {
  safeParse(
    value: unknown,
  ): { success: true; data: T } | { success: false; error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> } };
}

/** Parses an input with a protocol schema; a bad input fails here, without a round trip. */
export function checkInput<T>(schema: Schema<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues
    .slice(0, 5)
    .map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message))
    .join('; ');
  throw new ValidationError('VALIDATION_FAILED', `invalid ${what}: ${issues}`, { details: parsed.error.issues });
}

/** A parsed query as URL parameters: unset ones left out, lists comma-separated. */
export function queryString(query: Record<string, unknown>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    params.set(key, Array.isArray(value) ? value.join(',') : String(value));
  }
  return params.toString();
}
