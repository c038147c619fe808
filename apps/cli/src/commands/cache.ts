import type { Command } from 'commander';
import type { CliContext } from '../cli.context.js';
import { serverAction } from '../command.helpers.js';
import { functionRef } from '../resolve.js';

/** `fx cache clear <fn>`: drops a function's memoized results (yours, and the shared ones of a function you own). */
export function configureCacheCommand(program: Command, context: CliContext): void {
  const cache = program.command('cache').description("memoized results: a function's stored results serve identical tasks until they expire");
  cache
    .command('clear')
    .description("drop a function's memoized results: yours, and the shared ones of a function you own (results being computed are stored when they arrive)")
    .argument('<function>', 'function id or name')
    .action(
      serverAction(context, (ref: string) => ({
        ask: (client) => client.clearCache(functionRef(ref)),
        json: (cleared) => ({ function: ref, cleared }),
        show: (cleared) => context.out(`Cleared ${cleared} stored result${cleared === 1 ? '' : 's'} of ${ref}.`),
      })),
    );
}

/** The `--cache` / `--no-cache` pair of `fx run` and `fx batch`: absent, the function's registration decides. */
export function addCacheOptions(command: Command): Command {
  return command
    .option('--cache', "memoize: complete from an identical task's stored result, or store this one's (the function's TTL, else the server's default)")
    .option('--no-cache', 'run even when the function is memoized');
}
