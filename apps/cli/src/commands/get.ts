import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { NotFoundError } from '@fx/sdk';
import { CliError } from '@fx/cli-kit';
import type { CliContext } from '../cli.context.js';
import { wantsJson, withClient } from '../command.helpers.js';
import { objectRef } from '../objects.resolve.js';
import { formatBytes, isTerminal, printJson } from '../output.js';

export function configureGetCommand(program: Command, context: CliContext): void {
  program
    .command('get')
    .description("write an object's bytes to a file or stdout, streamed and checked against its sha256 (a broken connection resumes where it stopped)")
    .argument('<object>', 'object id or name')
    .option('-o, --output <file>', 'where to write them; - for stdout (the default, except on a terminal)')
    .action(async (ref: string, options: { output?: string }, command: Command) => {
      const json = wantsJson(command);
      const output = options.output ?? '-';
      const toStdout = output === '-';
      if (json && toStdout) throw new CliError("--json prints the object's record on stdout, so the bytes need a file: add -o <file>", 2);
      // as curl does: an object's bytes (anyone's, through a task's output) are not a terminal's to act on
      if (options.output === undefined && isTerminal(context.stdout)) {
        throw new CliError('stdout is a terminal, and the bytes would be written to it as they are: add -o <file>, or -o - to write them there anyway', 2);
      }
      const info = await withClient(context, async (client) => {
        const found = await client.objects.info(objectRef(ref)).catch((error: unknown) => {
          throw error instanceof NotFoundError ? new CliError(`no object ${ref} (or it is not yours to see)`) : error;
        });
        const stream = client.getStream(found.ref);
        if (toStdout) {
          await pipeline(stream, context.stdout, { end: false });
          return found;
        }
        // written aside and renamed once verified, so a failed or corrupt download never takes the file's name;
        // aside under a fresh name, created new (never through a link another user left in a shared directory)
        const part = `${output}.fx-part-${randomBytes(6).toString('hex')}`;
        try {
          await pipeline(stream, createWriteStream(part, { flags: 'wx' }));
          await rename(part, output);
        } catch (error) {
          await rm(part, { force: true });
          throw error;
        }
        return found;
      });
      if (json) return printJson(context, { ...info, path: output });
      if (!toStdout) context.err(`Wrote ${formatBytes(info.size)} of object ${info.id} to ${output} (sha256 verified).`);
    });
}
