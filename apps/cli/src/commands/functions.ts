import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { LIST_FUNCTIONS_MAX, type FunctionInfo } from '@fx/sdk';
import type { CliContext } from '../cli.context.js';
import { CliError } from '@fx/cli-kit';
import { wantsJson, withClient, listCommand } from '../command.helpers.js';
import { formatTable, formatTime, printJson, printRecord } from '../output.js';
import { parsePositiveInt, parsePositiveNumber } from '@fx/cli-kit';
import { functionRef } from '../resolve.js';
import { addRetryOptions, describeRetry, retryPolicyFrom, type RetryOptions } from '../retry.options.js';

interface RegisterOptions extends RetryOptions {
  name: string;
  shell?: string;
  export?: string;
  entrypoint?: string;
  failOnNonZeroExit?: boolean;
  progressPrefix?: string;
  description?: string;
  walltime?: number;
  public?: boolean;
  cacheTtl?: number;
  cacheShareable?: boolean;
  idempotent?: boolean;
}

export function configureFunctionsCommand(program: Command, context: CliContext): void {
  const functions = program.command('functions').description('list, show, register and delete functions');

  listCommand(
    functions,
    'list the functions you may run (yours and public ones, the oldest --limit of them; without sources: "fx functions show" has one): the newest version of each name, or every version with --versions',
  )
    .option('--versions', 'every version of each name, not only the newest')
    .option('--limit <n>', 'read at most this many functions, the oldest first (stderr says when there are more)', parsePositiveInt, LIST_FUNCTIONS_MAX)
    .action(async (options: { versions?: boolean; limit: number }, command: Command) => {
      const all = await withClient(context, (client) => upTo(context, options.limit, 'functions', (limit) => client.listFunctions({ source: false, limit })));
      printFunctions(context, command, options.versions ? all : newestVersions(all));
    });

  functions
    .command('versions')
    .description('every version of one function name, newest first (a bare name means the newest)')
    .argument('<name>', 'a function name: "name", or "owner/name" for another user\'s public function')
    .option('--limit <n>', 'at most this many versions, the newest first (stderr says when there are more)', parsePositiveInt, LIST_FUNCTIONS_MAX)
    .action(async (name: string, options: { limit: number }, command: Command) => {
      const list = await withClient(context, (client) =>
        upTo(context, options.limit, 'versions', (limit) => client.listFunctionVersions(functionRef(name), { limit })),
      );
      if (list.length === 0 && !wantsJson(command)) throw new CliError(`no function is named "${name}" (see "fx functions ls")`);
      printFunctions(context, command, list);
    });

  functions
    .command('show')
    .description('a function: its settings and source')
    .argument('<function>', 'function id or name')
    .action(async (ref: string, _options: object, command: Command) => {
      const fn = await withClient(context, async (client) => client.getFunction(functionRef(ref)));
      if (wantsJson(command)) return printJson(context, fn);
      for (const [k, v] of [
        ['name', fn.name],
        ['version', String(fn.version)],
        ['id', fn.id],
        ['runtime', fn.runtime],
        ...(fn.entrypoint !== null ? [['entrypoint', fn.entrypoint]] : []),
        ...(fn.failOnNonZeroExit ? [['exit policy', 'a non-zero exit fails the task']] : []),
        ...(fn.progressPrefix !== null ? [['progress', `stdout lines starting with ${JSON.stringify(fn.progressPrefix)}`]] : []),
        ['public', fn.public ? 'yes' : 'no'],
        ['walltime', fn.walltimeSeconds === null ? '-' : `${fn.walltimeSeconds}s`],
        ...(fn.retry ? [['retry', describeRetry(fn.retry)]] : []),
        ...(fn.idempotent ? [['idempotent', 'yes (stragglers may be copied)']] : []),
        ['cache', fn.cache === null ? '-' : `${fn.cache.ttlSeconds}s${fn.cache.shareable ? ', shareable' : ''}`],
        ['content hash', fn.contentHash],
        ['created', formatTime(fn.createdAt)],
        ...(fn.description ? [['description', fn.description]] : []),
      ] as Array<[string, string]>) {
        printRecord(context, [[k, v]], 13);
      }
      // safeText (context.out): another user's source cannot hide its lines from the one reading it
      context.out(`source:\n${fn.source}`);
    });

  const register = functions
    .command('register')
    .description(
      'register the default export of a JS module (or --export <name>), a Python file (.py, with --entrypoint), or a shell command template with --shell',
    )
    .argument('[file]', 'a .js/.mjs module whose export is a self-contained function, or a .py file defining --entrypoint')
    .requiredOption('--name <name>', "the function's name")
    .option('--shell <template>', "register a shell command template instead, e.g. 'echo {msg}' ({name} placeholders come from kwargs)")
    .option('--export <name>', 'the module export to register instead of the default one')
    .option('--entrypoint <name>', 'for a .py file: the function of the file that each task calls')
    .option('--fail-on-non-zero-exit', 'for --shell: a non-zero exit fails the task (with its output) instead of succeeding with the returncode')
    .option('--progress-prefix <prefix>', 'for --shell: a stdout line starting with it is a progress value (the rest of the line, as JSON if it parses)')
    .option('--description <text>', 'a description')
    .option('--walltime <seconds>', 'longest one run may take on the endpoint', parsePositiveNumber)
    .option('--public', 'let other users run it')
    .option('--cache-ttl <seconds>', "memoize: a task's result serves identical later tasks for this long", parsePositiveInt)
    .option('--cache-shareable', "with --public and --cache-ttl: every caller's identical tasks share the stored results")
    .option('--idempotent', 'running it twice does no harm: a batch with --speculate-after may copy its straggling tasks');
  addRetryOptions(register, 'its tasks').action(async (file: string | undefined, options: RegisterOptions, command: Command) => {
    if ((file === undefined) === (options.shell === undefined)) {
      throw new CliError("give either a module file or --shell '<template>' (one of the two)", 2);
    }
    if (options.shell !== undefined && options.export !== undefined) throw new CliError('--export applies to a module file, not to --shell', 2);
    const python = file !== undefined && extname(file).toLowerCase() === '.py';
    if (python !== (options.entrypoint !== undefined)) {
      throw new CliError(python ? `${file} is Python: name the function to call with --entrypoint <name>` : '--entrypoint applies to a .py file', 2);
    }
    if (options.failOnNonZeroExit && options.shell === undefined) throw new CliError('--fail-on-non-zero-exit applies to --shell', 2);
    if (options.progressPrefix !== undefined && options.shell === undefined) throw new CliError('--progress-prefix applies to --shell', 2);
    if (python && options.export !== undefined) throw new CliError('--export applies to a JS module; a .py file takes --entrypoint', 2);
    if (options.cacheShareable && options.cacheTtl === undefined) throw new CliError('--cache-shareable applies with --cache-ttl', 2);
    const retry = retryPolicyFrom(options);
    const source = python ? await readSource(file) : undefined;
    const fn = file === undefined || python ? undefined : await loadExport(file, options.export);
    const settings = {
      name: options.name,
      ...(options.description === undefined ? {} : { description: options.description }),
      ...(options.walltime === undefined ? {} : { walltimeSeconds: options.walltime }),
      ...(options.public ? { public: true } : {}),
      ...(retry ? { retry } : {}),
      ...(options.idempotent ? { idempotent: true } : {}),
      ...(options.cacheTtl === undefined ? {} : { cache: { ttlSeconds: options.cacheTtl, shareable: options.cacheShareable ?? false } }),
    };
    const info: FunctionInfo = await withClient(context, async (client) => {
      const id =
        source !== undefined
          ? await client.registerPythonFunction(source, { ...settings, entrypoint: options.entrypoint! })
          : fn
            ? await client.registerFunction(fn, settings)
            : await client.registerShellFunction(options.shell!, {
                ...settings,
                ...(options.failOnNonZeroExit ? { failOnNonZeroExit: true } : {}),
                ...(options.progressPrefix === undefined ? {} : { progressPrefix: options.progressPrefix }),
              });
      return client.getFunction(id);
    });
    if (wantsJson(command)) return printJson(context, info);
    // Registering the same function again returns the same id; other content under a taken name is its next version.
    context.out(`Registered ${info.runtime} function "${info.name}"${info.version > 1 ? ` (version ${info.version})` : ''}: ${info.id}`);
  });

  functions
    .command('rm')
    .description('delete a function version (its tasks stay, and queued ones fail with FUNCTION_DELETED); a bare name deletes its newest version')
    .argument('<function>', 'function id or name ("name", "name@version")')
    .action(async (ref: string, _options: object, command: Command) => {
      const fn = await withClient(context, async (client) => {
        // Resolved first, then deleted by id: exactly the version shown is the one deleted.
        const fn = await client.getFunction(functionRef(ref));
        await client.deleteFunction(fn.id);
        return fn;
      });
      if (wantsJson(command)) return printJson(context, { id: fn.id, name: fn.name, version: fn.version, deleted: true });
      context.out(`Deleted function "${fn.name}" version ${fn.version} (${fn.id}).`);
    });
}

/** A Python file's source, as it is: the endpoint's python worker runs it as a module. */
async function readSource(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as Error).message}`);
  }
}

/** Imports a module and returns the function it exports under `name` (default: its default export). */
async function loadExport(file: string, name: string | undefined): Promise<(...args: never[]) => unknown> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
  } catch (error) {
    throw new CliError(`cannot load ${file}: ${(error as Error).message}`);
  }
  const key = name ?? 'default';
  const value = mod[key];
  if (typeof value !== 'function') {
    const exported = Object.keys(mod).filter((k) => typeof mod[k] === 'function');
    const hint = exported.length > 0 ? `; its function exports: ${exported.join(', ')} (pass --export <name>)` : '';
    throw new CliError(`${file} has no ${name === undefined ? 'default export that is a function' : `function exported as "${name}"`}${hint}`, 2);
  }
  return value as (...args: never[]) => unknown;
}

/**
 * At most `limit` of a list, read with one more, so that a list cut at the limit says so on stderr
 * (under --json too): a table of the oldest 1,000 must not pass for all of them.
 */
async function upTo(context: CliContext, limit: number, what: string, read: (limit: number) => Promise<FunctionInfo[]>): Promise<FunctionInfo[]> {
  const list = await read(limit + 1);
  if (list.length <= limit) return list;
  context.err(`(only the first ${limit} ${what} are read; there are more: pass --limit to read more)`);
  return list.slice(0, limit);
}

/** The newest version of each (owner, name): what a bare name means. */
function newestVersions(list: readonly FunctionInfo[]): FunctionInfo[] {
  const newest = new Map<string, FunctionInfo>();
  for (const f of list) {
    const key = `${f.ownerId}/${f.name}`;
    const seen = newest.get(key);
    if (!seen || f.version > seen.version) newest.set(key, f);
  }
  return [...newest.values()];
}

function printFunctions(context: CliContext, command: Command, list: readonly FunctionInfo[]): void {
  if (wantsJson(command)) return printJson(context, { items: list });
  if (list.length === 0) return context.out('No functions. Register one with: fx functions register <file.js> --name <name>');
  const rows = [...list]
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.version - a.version)
    .map((f) => [f.name, f.id, f.runtime, f.public ? 'yes' : 'no', String(f.version), formatTime(f.createdAt)]);
  context.out(formatTable(['NAME', 'ID', 'RUNTIME', 'PUBLIC', 'VERSION', 'CREATED'], rows));
}
