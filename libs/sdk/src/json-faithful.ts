import { findJsonInfidelity } from '@fx/protocol';
import { SerializationError } from './errors.js';

/** Throws a SerializationError naming the path of the first value JSON would not carry faithfully. */
export function assertFaithfulJson(value: unknown, path: string): void {
  const problem = findJsonInfidelity(value, path);
  if (problem) throw new SerializationError(problem.path, problem.message);
}
