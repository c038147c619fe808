import { ObjectName } from '@fx/protocol';
import { CliError } from '@fx/cli-kit';
import { isUuid } from './resolve.js';

/** What the user typed for an object: its id, or its name (resolved by the SDK through GET /v1/objects?name=). */
export function objectRef(ref: string): string {
  if (isUuid(ref) || ObjectName.safeParse(ref).success) return ref;
  throw new CliError(`"${ref}" is neither an object id nor an object name (a path-like key such as input/sample-17.fastq)`, 2);
}

/** A --name for a new object. */
export function objectName(name: string): string {
  const parsed = ObjectName.safeParse(name);
  if (!parsed.success) throw new CliError(`--name ${name}: ${parsed.error.issues[0]?.message ?? 'not a valid object name'}`, 2);
  return name;
}
