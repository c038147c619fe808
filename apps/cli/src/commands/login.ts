import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { AuthenticationError } from '@fx/sdk';
import type { CliContext } from '../cli.context.js';
import { CliError } from '@fx/cli-kit';
import { wantsJson } from '../command.helpers.js';
import { printJson } from '../output.js';

interface LoginOptions {
  url: string;
  tokenFile?: string;
}

export function configureLoginCommand(program: Command, context: CliContext): void {
  program
    .command('login')
    .description('check a token against a server and save both in $FX_HOME/credentials.json (private to you)')
    .requiredOption('--url <url>', 'the FX server, e.g. http://127.0.0.1:8080')
    .option('--token-file <file>', 'read the token from this file (default: stdin when piped, else a prompt)')
    .action(async (options: LoginOptions, command: Command) => {
      const url = checkUrl(options.url);
      const token = await readToken(context, options.tokenFile);
      const client = await context.connect({ url, token });
      let me;
      try {
        me = await client.whoami();
      } catch (error) {
        if (error instanceof AuthenticationError) throw new CliError(`${url} refused this token (${error.message}); nothing was saved`);
        throw error;
      } finally {
        client.close();
      }
      await context.credentials.save({ url, token });
      if (wantsJson(command)) return printJson(context, { url, user: me.user, tokenId: me.tokenId, credentialsFile: context.credentials.path });
      context.out(`Logged in to ${url} as ${me.user.name}${me.user.admin ? ' (admin)' : ''}; credentials saved in ${context.credentials.path}.`);
    });
}

async function readToken(context: CliContext, file: string | undefined): Promise<string> {
  let raw: string;
  if (file !== undefined) {
    try {
      raw = await readFile(file, 'utf8');
    } catch (error) {
      throw new CliError(`cannot read the token file ${file}: ${(error as Error).message}`, 2);
    }
  } else {
    raw = (await context.readStdin()) ?? (await context.promptSecret('Token: '));
  }
  const token = raw.trim();
  if (token === '') throw new CliError(file === undefined ? 'no token was given' : `the token file ${file} is empty`, 2);
  if (/\s/.test(token)) throw new CliError('the token must be one word (the file or input holds more than one line or word)', 2);
  return token;
}

export function checkUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return value.replace(/\/+$/, '');
  } catch {
    // reported below
  }
  throw new CliError(`--url must be an http:// or https:// URL, got "${value}"`, 2);
}
