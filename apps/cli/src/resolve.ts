import { EndpointRef, FunctionRef } from '@fx/protocol';
import { CliError } from '@fx/cli-kit';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/**
 * What the user typed for a function: an id or a name (`add`, `add@2`, `alice/add`), passed to the
 * server as it is; the server resolves names (its rules are the same for the REST API, the SDK and this
 * command line). Only a ref that is neither is refused here, as a usage error.
 */
export function functionRef(ref: string): string {
  if (!FunctionRef.safeParse(ref).success) {
    throw new CliError(`"${ref}" is neither a function id nor a function name ("name", "name@version", "owner/name" or "owner/name@version")`, 2);
  }
  return ref;
}

/**
 * What the user typed for an endpoint: an id or a name (`gpu`, or `owner/gpu` for admins), or an endpoint
 * group's id or name (same shapes), passed to the server as it is.
 */
export function endpointRef(ref: string): string {
  if (!EndpointRef.safeParse(ref).success) throw new CliError(`"${ref}" is neither an endpoint (or endpoint group) id nor a name ("name" or "owner/name")`, 2);
  return ref;
}

/** A task id, which has no name: anything but a UUID is a usage error. */
export function checkTaskId(ref: string, what = 'task id'): string {
  if (!isUuid(ref)) throw new CliError(`"${ref}" is not a ${what} (a UUID such as 0f8fad5b-d9cb-469f-a165-70867728950e)`, 2);
  return ref;
}
