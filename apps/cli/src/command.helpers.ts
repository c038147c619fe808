import type { Command } from 'commander';
import type { Client, TaskOutcome } from '@fx/sdk';
import type { CliContext } from './cli.context.js';

/** Whether `--json` was given (it is a global option, so it may come before or after the command). */
export function wantsJson(command: Command): boolean {
  return command.optsWithGlobals<{ json?: boolean }>().json === true;
}

/** Runs `fn` with a client of the saved server, and closes the client (its socket) afterwards. */
export async function withClient<T>(context: CliContext, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await context.connect();
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** Says on stderr, when the endpoint is offline, that tasks sent to it will wait. Never fails the command. */
export async function noticeIfOffline(context: CliContext, client: Client, endpointId: string): Promise<void> {
  try {
    const endpoint = await client.getEndpoint(endpointId);
    if (endpoint.state === 'offline') {
      context.err(`Endpoint "${endpoint.name}" is offline: tasks sent to it will wait until it connects (Ctrl-C stops waiting, not the task).`);
    }
  } catch {
    // Not ours to read (a public function on someone's endpoint) or a blip: the submission itself will say.
  }
}

/** A failed or cancelled outcome, for people, on stderr: the remote error's name, message and stack. */
export function reportFailure(context: CliContext, outcome: TaskOutcome): void {
  if (outcome.status === 'cancelled') {
    context.err(`Task ${outcome.taskId} was cancelled.`);
    return;
  }
  const e = outcome.error;
  context.err(`Task ${outcome.taskId} failed: ${e ? `${e.name}: ${e.message} [${e.code}]` : 'no error report'}`);
  if (e?.stack) context.err(`Remote stack:\n${e.stack}`);
}
