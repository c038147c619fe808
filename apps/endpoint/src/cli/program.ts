import { Command } from 'commander';
import { AGENT_VERSION } from '../version.js';
import type { CliContext } from './cli.context.js';
import { configureConfigureCommand } from './commands/configure.js';
import { configureDeleteCommand } from './commands/delete.js';
import { configureListCommand } from './commands/list.js';
import { configureRestartCommand } from './commands/restart.js';
import { configureStartCommand } from './commands/start.js';
import { configureStatusCommand } from './commands/status.js';
import { configureStopCommand } from './commands/stop.js';

/** The whole CLI. Usage errors throw (exitOverride) instead of exiting, so the caller picks the exit code. */
export function buildProgram(context: CliContext): Command {
  const program = new Command('fx-endpoint')
    .description('run an FX endpoint: an agent that executes functions for an FX server on this machine')
    .version(AGENT_VERSION)
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ writeOut: (s) => context.out(s.trimEnd()), writeErr: (s) => context.err(s.trimEnd()) })
    .exitOverride();
  for (const configure of [
    configureConfigureCommand,
    configureStartCommand,
    configureStopCommand,
    configureRestartCommand,
    configureListCommand,
    configureStatusCommand,
    configureDeleteCommand,
  ]) {
    configure(program, context);
  }
  for (const command of program.commands) command.exitOverride();
  return program;
}
