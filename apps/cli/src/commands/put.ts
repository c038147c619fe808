import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { NotFoundError, ObjectUploadError, type Client, type ObjectInfo, type PutOptions } from '@fx/sdk';
import { CliError, parsePositiveInt } from '@fx/cli-kit';
import type { CliContext } from '../cli.context.js';
import { wantsJson, withClient } from '../command.helpers.js';
import { objectName } from '../objects.resolve.js';
import { formatBytes, printJson } from '../output.js';
import { isUuid } from '../resolve.js';
import { UploadStateStore, type UploadKey } from '../upload-state.js';

interface PutCommandOptions {
  name?: string;
  ttl?: number;
  encoding: string;
  uploadId?: string;
}

export function configurePutCommand(program: Command, context: CliContext): void {
  program
    .command('put')
    .description(
      'store a file (or stdin) as an immutable object, streamed in parts; prints its id ("fx get <id>" reads it back, tasks take {"$fx":"object","id":"<id>"} as an argument). Run again after a failure, it sends only what the server lacks',
    )
    .argument('<file>', 'the file to store, or - for stdin')
    .option('--name <name>', 'a path-like name such as input/sample-17.fastq (an object of yours with that name gives it up to this one)')
    .option('--ttl <seconds>', 'seconds until it may be collected (default: kept until deleted)', parsePositiveInt)
    .option('--encoding <encoding>', 'bytes, or json: the data is one JSON value, which tasks and "fx get" receive as such', 'bytes')
    .option('--upload-id <id>', 'continue this unfinished upload (a failed put says its id) with the same data, e.g. piped again on stdin')
    .action(async (file: string, options: PutCommandOptions, command: Command) => {
      const json = wantsJson(command);
      if (options.encoding !== 'bytes' && options.encoding !== 'json') throw new CliError(`--encoding must be bytes or json, not ${options.encoding}`, 2);
      if (options.uploadId !== undefined && !isUuid(options.uploadId)) throw new CliError(`--upload-id ${options.uploadId} is not an upload id (a UUID)`, 2);
      const name = options.name === undefined ? undefined : objectName(options.name);
      const key = file === '-' ? undefined : await fileKey(context, file, options, name);
      const info = await withClient(context, (client) => put(context, client, file, key, options, name));
      if (json) return printJson(context, info);
      context.out(info.id);
      context.err(`Stored ${formatBytes(info.size)} as object ${info.id}${info.name ? ` named "${info.name}"` : ''} (sha256 ${info.sha256}).`);
    });
}

/** The identity of this put of a file, for resuming it; a file that cannot be read is a usage error. */
async function fileKey(context: CliContext, file: string, options: PutCommandOptions, name: string | undefined): Promise<UploadKey> {
  let info;
  try {
    info = await stat(file);
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as Error).message}`, 2);
  }
  if (!info.isFile()) throw new CliError(`${file} is not a file`, 2);
  const { url } = await context.credentials.resolve();
  return { url, path: resolve(file), size: info.size, mtimeMs: info.mtimeMs, name, ttlSeconds: options.ttl, encoding: options.encoding };
}

async function put(
  context: CliContext,
  client: Client,
  file: string,
  key: UploadKey | undefined,
  options: PutCommandOptions,
  name: string | undefined,
): Promise<ObjectInfo> {
  const store = new UploadStateStore(context.env);
  const saved = options.uploadId ?? (key ? await store.read(key) : undefined);
  let uploadId: string | undefined;
  let held = 0;
  let saving: Promise<void> = Promise.resolve();
  const live = context.tty;
  const putOptions = (resume: string | undefined): PutOptions => ({
    encoding: options.encoding as 'bytes' | 'json',
    ...(name === undefined ? {} : { name }),
    ...(options.ttl === undefined ? {} : { ttlSeconds: options.ttl }),
    ...(resume === undefined ? {} : { uploadId: resume }),
    onUpload: (u) => {
      uploadId = u.uploadId;
      held = u.offset;
      if (u.offset > 0) context.err(`Resuming upload ${u.uploadId}: the server holds ${formatBytes(u.offset)} already.`);
      if (key) saving = store.save(key, u.uploadId).catch((error: Error) => context.err(`(cannot remember the upload for a resume: ${error.message})`));
    },
    onProgress: ({ bytes, totalBytes }) => {
      held = bytes;
      live?.write(`\rSent ${formatBytes(bytes)}${totalBytes === undefined ? '' : ` of ${formatBytes(totalBytes)}`}\x1b[K`);
    },
  });
  const source = () => (key ? createReadStream(key.path) : context.stdin);
  const off = context.onInterrupt(() => context.err(resumeHint(uploadId, held, key !== undefined)));
  try {
    let info: ObjectInfo;
    try {
      info = await client.objects.putInfo(source(), putOptions(saved));
    } catch (error) {
      // the upload an earlier run left has expired (or was never this server's): start over
      if (!(saved !== undefined && options.uploadId === undefined && error instanceof NotFoundError)) throw error;
      if (key) await store.clear(key);
      context.err('The earlier upload of this file is gone from the server; starting over.');
      info = await client.objects.putInfo(source(), putOptions(undefined));
    }
    await saving;
    if (key) await store.clear(key);
    return info;
  } catch (error) {
    if (error instanceof ObjectUploadError) {
      const why = error.cause instanceof Error ? error.cause.message : error.message;
      throw new CliError(`put failed: ${why}. ${resumeHint(error.uploadId, error.offset, key !== undefined)}`, 1, { cause: error });
    }
    throw error;
  } finally {
    off();
    if (live) live.write('\r\x1b[K');
  }
}

function resumeHint(uploadId: string | undefined, held: number, fromFile: boolean): string {
  if (uploadId === undefined) return 'Nothing was stored.';
  return fromFile
    ? `The server keeps ${formatBytes(held)} of upload ${uploadId} for a while: run the same command again to send the rest.`
    : `The server keeps ${formatBytes(held)} of upload ${uploadId} for a while: pipe the same data to "fx put - --upload-id ${uploadId}" to send the rest.`;
}
