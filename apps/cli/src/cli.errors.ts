import { CommanderError } from 'commander';
import {
  AuthenticationError,
  ConnectionError,
  FxError,
  NotFoundError,
  SerializationError,
  TaskCancelledError,
  TaskFailedError,
  ValidationError,
} from '@fx/sdk';
import { CliError } from '@fx/cli-kit';

/** Exit codes, as documented in the README. */
export const EXIT = Object.freeze({ ok: 0, failed: 1, usage: 2 });

/** The exit code and the sentence for anything a command threw. */
export function describeFailure(error: unknown): { exitCode: number; message?: string } {
  if (error instanceof CommanderError) {
    // commander has printed its message (or the help / version) already.
    return { exitCode: error.exitCode === 0 ? EXIT.ok : EXIT.usage };
  }
  if (error instanceof CliError) return { exitCode: error.exitCode, message: error.message };
  if (error instanceof TaskFailedError) return { exitCode: EXIT.failed, message: `task ${error.taskId} failed: ${error.remoteName}: ${error.remoteMessage}` };
  if (error instanceof TaskCancelledError) return { exitCode: EXIT.failed, message: `task ${error.taskId} was cancelled` };
  if (error instanceof AuthenticationError) {
    return { exitCode: EXIT.failed, message: `the server refused the token (${error.message}); run "fx login" again` };
  }
  if (error instanceof NotFoundError) return { exitCode: EXIT.failed, message: `not found: ${error.message}` };
  if (error instanceof SerializationError) return { exitCode: EXIT.usage, message: error.message };
  if (error instanceof ConnectionError) return { exitCode: EXIT.failed, message: `cannot reach the server: ${error.message}` };
  if (error instanceof ValidationError) return { exitCode: EXIT.failed, message: `the request was refused: ${error.message}` };
  if (error instanceof FxError) return { exitCode: EXIT.failed, message: `${error.code}: ${error.message}` };
  return { exitCode: EXIT.failed, message: `unexpected error: ${error instanceof Error ? error.message : String(error)}` };
}
