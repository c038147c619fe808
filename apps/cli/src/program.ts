import { Command } from 'commander';
import type { CliContext } from './cli.context.js';
import { configureAuditCommand } from './commands/audit.js';
import { configureBatchCommand } from './commands/batch.js';
import { configureCancelCommand } from './commands/cancel.js';
import { configureCacheCommand } from './commands/cache.js';
import { configureEndpointsCommand } from './commands/endpoints.js';
import { configureFunctionsCommand } from './commands/functions.js';
import { configureGetCommand } from './commands/get.js';
import { configureLoginCommand } from './commands/login.js';
import { configureLogsCommand } from './commands/logs.js';
import { configureObjectsCommand } from './commands/objects.js';
import { configureProgressCommand } from './commands/progress.js';
import { configurePutCommand } from './commands/put.js';
import { configureResultCommand } from './commands/result.js';
import { configureRunCommand } from './commands/run.js';
import { configureTaskCommand } from './commands/task.js';
import { configureTasksCommand } from './commands/tasks.js';
import { configureTriggersCommand } from './commands/triggers.js';
import { configureEndpointGroupsCommand } from './commands/endpoint-groups.js';
import { configureUsageCommand } from './commands/usage.js';
import { configureWatchCommand } from './commands/watch.js';
import { configureWhoamiCommand } from './commands/whoami.js';
import { CLI_VERSION } from './version.js';

/** The whole CLI. Usage errors throw (exitOverride) instead of exiting, so the caller picks the exit code. */
export function buildProgram(context: CliContext): Command {
  const program = new Command('fx')
    .description(
      'the FX command line: register functions, run tasks and batches on endpoints, follow and cancel them, store objects and fire functions on them (triggers)',
    )
    .version(CLI_VERSION)
    .option('--json', 'machine-readable output: one JSON document on stdout, nothing else there')
    .showHelpAfterError('(add --help for usage)')
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({ writeOut: (s) => context.out(s.trimEnd()), writeErr: (s) => context.err(s.trimEnd()) })
    .addHelpText(
      'after',
      '\nCredentials: "fx login" saves the url and token in $FX_HOME/credentials.json (FX_HOME defaults to ~/.fx);\nFX_URL and FX_TOKEN override them. Exit codes: 0 ok, 1 the task or request failed, 2 usage, 130 interrupted (Ctrl-C).',
    )
    .exitOverride();
  for (const configure of [
    configureLoginCommand,
    configureWhoamiCommand,
    configureEndpointsCommand,
    configureFunctionsCommand,
    configureRunCommand,
    configureBatchCommand,
    configureWatchCommand,
    configureTasksCommand,
    configureTaskCommand,
    configureResultCommand,
    configureProgressCommand,
    configureLogsCommand,
    configureCancelCommand,
    configureCacheCommand,
    configurePutCommand,
    configureGetCommand,
    configureObjectsCommand,
    configureTriggersCommand,
    configureEndpointGroupsCommand,
    configureAuditCommand,
    configureUsageCommand,
  ]) {
    configure(program, context);
  }
  const override = (command: Command) => {
    command.exitOverride();
    command.configureOutput({ writeOut: (s) => context.out(s.trimEnd()), writeErr: (s) => context.err(s.trimEnd()) });
    command.commands.forEach(override);
  };
  program.commands.forEach(override);
  return program;
}
