import type { Command } from 'commander';
import type { Client, SubmitWarning, TaskOutcome } from '@fx/sdk';
import type { CliContext } from './cli.context.js';
import { formatBytes, printJson, printTable, type TableSpec } from './output.js';

/** Whether `--json` was given (it is a global option, so it may come before or after the command). */
export function wantsJson(command: Command): boolean {
  return command.optsWithGlobals<{ json?: boolean }>().json === true;
}

/** A subcommand about one task, named by its first argument (`fx task <task>`, `fx logs <task>`, …). */
export function taskCommand(program: Command, name: string, description: string): Command {
  return program.command(name).description(description).argument('<task>', 'task id');
}

/** A group's `ls` subcommand, also what the group alone runs (`fx triggers` lists the triggers). */
export function listCommand(group: Command, description: string): Command {
  return group.command('ls', { isDefault: true }).description(description);
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

/** What one server command does with its arguments: ask the server, then print the answer. */
export interface ServerCall<T> {
  ask: (client: Client) => Promise<T>;
  /** The answer for people. */
  show: (answer: T) => void;
  /** The answer under --json. @default the answer itself */
  json?: (answer: T) => unknown;
}

/**
 * A command's action that asks the server once and prints the answer, as JSON under --json. `call` gets
 * the command's arguments (and options) and checks them before anything connects, so a bad id fails
 * without a login; commander's trailing Command argument stays out of sight.
 */
export function serverAction<A extends unknown[], T>(context: CliContext, call: (...args: A) => ServerCall<T>): (...received: unknown[]) => Promise<void> {
  return async (...received) => {
    const command = received.at(-1) as Command;
    const { ask, show, json } = call(...(received.slice(0, -1) as A));
    const answer = await withClient(context, ask);
    if (wantsJson(command)) printJson(context, json ? json(answer) : answer);
    else show(answer);
  };
}

/** A command's action that lists: `{ items }` under --json, else a table for people. */
export function listAction<T>(context: CliContext, list: (client: Client) => Promise<T[]>, table: TableSpec<T>): (...received: unknown[]) => Promise<void> {
  return serverAction(context, () => ({ ask: list, json: (items: T[]) => ({ items }), show: (items: T[]) => printTable(context, items, table) }));
}

/** Says on stderr what the server said of an accepted submission (an offline endpoint: its tasks wait). */
export function noticeWarning(context: CliContext, endpointRef: string, warning: SubmitWarning): void {
  if (warning.code === 'ENDPOINT_OFFLINE') {
    context.err(`Endpoint "${endpointRef}" is offline: tasks sent to it will wait until it connects (Ctrl-C stops waiting, not the task).`);
  } else context.err(`Warning: ${warning.message}`);
}

/** A failed or cancelled outcome, for people, on stderr: the remote error's name, message and stack. */
/** What a task printed (python functions, failed strict shell functions), on stderr, each stream under a heading. */
export function reportOutput(context: CliContext, outcome: Pick<TaskOutcome, 'output'>): void {
  const o = outcome.output;
  if (!o) return;
  if (o.truncated) context.err('(the task printed more; only the last lines were kept)');
  for (const [name, text] of [
    ['stdout', o.stdout],
    ['stderr', o.stderr],
  ] as const) {
    if (text !== '') context.err(`--- task ${name} ---\n${text.replace(/\n$/, '')}`);
  }
}

export function reportFailure(context: CliContext, outcome: TaskOutcome): void {
  if (outcome.status === 'cancelled') {
    context.err(`Task ${outcome.taskId} was cancelled.`);
    return;
  }
  const e = outcome.error;
  context.err(`Task ${outcome.taskId} failed: ${e ? `${e.name}: ${e.message} [${e.code}]` : 'no error report'}`);
  if (e?.stack) context.err(`Remote stack:\n${e.stack}`);
}

/**
 * An outcome whose result was stored as an object, made printable: a JSON result is fetched (the value
 * is printed like any other), a bytes result stays its reference, with how to fetch it on stderr.
 */
export async function inlineResult(context: CliContext, client: Client, outcome: TaskOutcome): Promise<TaskOutcome> {
  const ref = outcome.resultRef;
  if (outcome.status !== 'success' || !ref) return outcome;
  if (ref.encoding === 'json') return { ...outcome, result: await client.get(ref) };
  context.err(`The result is ${formatBytes(ref.size)} of bytes, stored as object ${ref.id}: "fx get ${ref.id} -o <file>" writes it.`);
  return { ...outcome, result: ref };
}
