import { createHash } from 'node:crypto';
import { ResourceName, type RegisterFunctionRequest } from '@fx/protocol';
import type { RegisterFunctionOptions, RegisterPythonFunctionOptions, RegisterShellFunctionOptions } from './client.options.js';
import { ValidationError } from './errors.js';

/**
 * Whether `source` parses as one function expression. `new Function` compiles without running the
 * body, so this only checks syntax; it is the user's own code either way.
 */
function isFunctionExpression(source: string): boolean {
  try {
    new Function(`return (${source}\n);`);
    return true;
  } catch {
    return false;
  }
}

/**
 * The source the `js` runtime receives: one function expression. `fn.toString()` of an arrow or a
 * function is already one; a method (`add(a, b) { ... }`) is turned into a function expression;
 * native, bound and class values have no usable source and are refused here rather than remotely.
 */
export function functionSource(fn: unknown): string {
  if (typeof fn !== 'function') throw new ValidationError('VALIDATION_FAILED', `expected a function, got ${typeof fn}`);
  const source = Function.prototype.toString.call(fn).trim();
  if (/\{\s*\[native code\]\s*\}$/.test(source)) {
    throw new ValidationError('VALIDATION_FAILED', 'native and bound functions have no source to send; pass the original function');
  }
  if (/^class\b/.test(source)) throw new ValidationError('VALIDATION_FAILED', 'a class is not a function the runtime can call');
  if (/^(async\s+)?(get|set)\s+[^(]/.test(source) && !isFunctionExpression(source)) {
    throw new ValidationError('VALIDATION_FAILED', 'getters and setters cannot be sent as functions');
  }
  if (isFunctionExpression(source)) return source;
  const asFunction = source.replace(/^(async\s+)?(\*\s*)?/, (_m, isAsync?: string, star?: string) => `${isAsync ?? ''}function${star ? '*' : ''} `);
  if (isFunctionExpression(asFunction)) return asFunction;
  throw new ValidationError('VALIDATION_FAILED', `could not turn the function's source into a function expression: ${source.slice(0, 80)}`);
}

/** A valid ResourceName made from anything (a function's `name`, say), or `fallback`. */
export function toResourceName(raw: string, fallback: string): string {
  const cleaned = raw
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 128);
  return ResourceName.safeParse(cleaned).success ? cleaned : fallback;
}

/** Short, stable digest of a source, so names derived from it are the same on every run. */
export function sourceDigest(source: string): string {
  return createHash('sha256').update(source).digest('hex').slice(0, 12);
}

/** The registration of a JS function: its source from `toString()`, named after it unless `name` says otherwise. */
export function jsRegistration(fn: (...args: never[]) => unknown, options: RegisterFunctionOptions): RegisterFunctionRequest {
  const source = functionSource(fn);
  return { name: options.name ?? toResourceName(fn.name, 'anonymous'), runtime: 'js', source, ...registrationFields(options) };
}

/** The registration fields a RegisterFunctionOptions sets; unset options are left out, for the server's defaults. */
export function registrationFields(options: RegisterFunctionOptions): Partial<RegisterFunctionRequest> {
  return {
    ...(options.description === undefined ? {} : { description: options.description }),
    ...(options.walltimeSeconds === undefined ? {} : { walltimeSeconds: options.walltimeSeconds }),
    ...(options.public === undefined ? {} : { public: options.public }),
    ...(options.cache === undefined ? {} : { cache: options.cache }),
    ...(options.retry === undefined ? {} : { retry: options.retry }),
    ...(options.idempotent === undefined ? {} : { idempotent: options.idempotent }),
  };
}

/** The registration of a shell command template (or an MPI one: the same template, run under the launcher). */
export function templateRegistration(runtime: 'shell' | 'mpi', template: string, options: RegisterShellFunctionOptions): RegisterFunctionRequest {
  return {
    name: options.name ?? runtime,
    runtime,
    source: template,
    ...(options.failOnNonZeroExit === undefined ? {} : { failOnNonZeroExit: options.failOnNonZeroExit }),
    ...(options.progressPrefix === undefined ? {} : { progressPrefix: options.progressPrefix }),
    ...registrationFields(options),
  };
}

/**
 * The registration of Python source: a module whose top level defines `entrypoint` (it runs once per
 * worker process; each task calls the entry point with the task's args and kwargs). Named after the
 * entry point unless `name` says otherwise.
 */
export function pythonRegistration(source: string, options: RegisterPythonFunctionOptions): RegisterFunctionRequest {
  if (typeof source !== 'string' || source.trim() === '') throw new ValidationError('VALIDATION_FAILED', 'expected Python source code (a non-empty string)');
  if (options?.entrypoint === undefined)
    throw new ValidationError('VALIDATION_FAILED', 'a python function needs an entrypoint: the name of the function to call, e.g. "main"');
  return {
    name: options.name ?? toResourceName(options.entrypoint, 'python'),
    runtime: 'python',
    source,
    entrypoint: options.entrypoint,
    ...registrationFields(options),
  };
}
