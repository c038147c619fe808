#!/usr/bin/env node
import { Client } from '@fx/sdk';
import type { CliContext } from './cli.context.js';
import { describeFailure } from './cli.errors.js';
import { CredentialsStore } from './config/credentials.js';
import { env } from './config/env.js';
import { safeText } from './output.js';
import { buildProgram } from './program.js';
import { promptSecret, readPipedStdin } from './terminal.js';

// Every line goes through safeText: much of what is printed is other users' text (see output.ts).
const out = (line: string) => void process.stdout.write(safeText(line) + '\n');
const interruptHandlers = new Set<() => void>();
process.once('SIGINT', () => {
  // Waiting stops; the tasks do not. Say how to pick them up again, then leave as Ctrl-C does.
  for (const handler of interruptHandlers) handler();
  process.exit(130);
});
const err = (line: string) => void process.stderr.write(safeText(line) + '\n');

/** Runs the CLI and returns the exit code: 0 ok, 1 the task or request failed, 2 bad usage. */
async function main(argv: string[]): Promise<number> {
  try {
    const cliEnv = env();
    const credentials = new CredentialsStore(cliEnv);
    const context: CliContext = {
      env: cliEnv,
      credentials,
      out,
      err,
      ...(process.stderr.isTTY ? { tty: { write: (text: string) => void process.stderr.write(text), columns: process.stderr.columns || 80 } } : {}),
      stdin: process.stdin,
      stdout: process.stdout,
      stderr: process.stderr,
      readStdin: readPipedStdin,
      promptSecret,
      connect: async (explicit) => new Client(explicit ?? (await credentials.resolve())),
      onInterrupt: (handler) => {
        interruptHandlers.add(handler);
        return () => interruptHandlers.delete(handler);
      },
      now: () => Date.now(),
    };
    await buildProgram(context).parseAsync(argv);
    return 0;
  } catch (error) {
    const { exitCode, message } = describeFailure(error);
    if (message) err(`fx: ${message}`);
    return exitCode;
  }
}

// Exit explicitly: output is flushed by then, and a stray handle must not keep a finished command alive.
const code = await main(process.argv);
process.stdout.write('', () => process.exit(code));
