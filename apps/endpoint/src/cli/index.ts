#!/usr/bin/env node
import { CommanderError } from 'commander';
import { ConfigError } from '../config/config.errors.js';
import { env } from '../config/env.js';
import type { CliContext } from './cli.context.js';
import { CliError } from '@fx/cli-kit';
import { buildProgram } from './program.js';

const out = (line: string) => void process.stdout.write(line + '\n');
const err = (line: string) => void process.stderr.write(line + '\n');

/** Runs the CLI and returns the exit code: 0 done, 1 the operation failed, 2 bad usage. */
async function main(argv: string[]): Promise<number> {
  try {
    const context: CliContext = { env: env(), out, err, selfCommand: [process.execPath, ...process.execArgv, process.argv[1] as string] };
    await buildProgram(context).parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has printed its message (or the help / version) already.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof CliError) {
      err(`fx-endpoint: ${error.message}`);
      return error.exitCode;
    }
    if (error instanceof ConfigError) {
      err(`fx-endpoint: ${error.message}`);
      return 1;
    }
    err(`fx-endpoint: unexpected error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

// Exit explicitly: a stopped agent has nothing left to do, and a stray handle must not keep it alive.
process.exit(await main(process.argv));
