import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CliError } from '@fx/cli-kit';

/** How a command that calls the server as the user takes their token. */
export interface TokenOptions {
  token?: string;
  tokenFile?: string;
}

/**
 * Adds --token and --token-file to a command. A token on the command line is visible to every user of
 * the machine in the process list (and stays in the shell's history), so the help says to prefer the
 * file, stdin or $FX_TOKEN.
 */
export function withTokenOptions(command: Command): Command {
  return command
    .option(
      '--token <token>',
      'a user token; "-" reads it from stdin. A token given here is visible to other users of this machine in the process list: prefer --token-file, "-" or $FX_TOKEN',
    )
    .option('--token-file <path>', 'read the user token from this file');
}

/** The token the options give (undefined: neither was passed), read from its file or stdin. */
export function readToken(options: TokenOptions): string | undefined {
  if (options.tokenFile !== undefined && options.token !== undefined) throw new CliError('pass either --token or --token-file, not both', 2);
  let source: string | undefined;
  try {
    if (options.tokenFile !== undefined) source = readFileSync(options.tokenFile, 'utf8');
    else if (options.token === '-') source = readFileSync(0, 'utf8');
    else return options.token;
  } catch (error) {
    throw new CliError(`cannot read the token from ${options.tokenFile ?? 'stdin'}: ${(error as Error).message}`, 2);
  }
  const token = source.trim();
  if (token === '') throw new CliError(`no token in ${options.tokenFile ?? 'stdin'}`, 2);
  return token;
}

/** Said when no token was found anywhere. */
export const NO_TOKEN = 'a user token is needed: pass --token-file, --token - (stdin) or set FX_TOKEN';
