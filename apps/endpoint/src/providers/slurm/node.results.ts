import { randomUUID } from 'node:crypto';
import { closeSync, constants, createReadStream, createWriteStream, fstatSync, openSync, unlinkSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ObjectEncoding } from '@fx/protocol';
import { discardFiles, failure, type ExecutionOutcome, type NamedOutput, type ResultFile } from '../../runtimes/task.errors.js';

/**
 * Result files across a block: a node's worker writes a large or bytes result (and named outputs) to its
 * own node-local directory; the node copies each into the endpoint's `objects/incoming` directory, on the
 * filesystem the compute nodes share with the login node (as they share the block scripts and the
 * worker programs), and the agent opens them there to upload them. The agent takes only files of that
 * directory, by the names it expects.
 */
const INCOMING_NAME = /^[0-9a-f-]{36}-[0-9a-f-]{36}\.result$/;

export interface SharedFile {
  path: string;
  size: number;
  encoding: ObjectEncoding;
}

/** An outcome as a node sends it: its files as paths in the incoming directory. */
type SharedOutcome = ExecutionOutcome & { resultPath?: SharedFile; outputPaths?: Array<SharedFile & { name: string }> };

/** Node side: the outcome with its files copied into `incomingDir` (their paths instead of descriptors). */
export async function shareResultFile(outcome: ExecutionOutcome, taskId: string, incomingDir: string | undefined): Promise<ExecutionOutcome> {
  if (outcome.status !== 'success' || (!outcome.resultFile && !outcome.namedOutputs)) return outcome;
  const { resultFile, namedOutputs, ...rest } = outcome;
  const written: string[] = [];
  const share = async (file: ResultFile): Promise<SharedFile> => {
    if (!incomingDir) throw new Error('the block worker was started without --results-dir');
    const path = join(incomingDir, `${taskId}-${randomUUID()}.result`);
    written.push(path);
    await pipeline(
      createReadStream('', { fd: file.fd, start: 0, end: Math.max(0, file.size - 1), autoClose: false }),
      createWriteStream(path, { mode: 0o600 }),
    );
    return { path, size: file.size, encoding: file.encoding };
  };
  try {
    // `result` must travel (the channel requires it): null, the file holds the value
    const shared: SharedOutcome = { ...rest, result: rest.result ?? null };
    if (resultFile) shared.resultPath = await share(resultFile);
    for (const output of namedOutputs ?? []) (shared.outputPaths ??= []).push({ ...(await share(output)), name: output.name });
    return shared;
  } catch (error) {
    await Promise.all(written.map((p) => unlink(p).catch(() => undefined)));
    return failure('OBJECT_UNAVAILABLE', 'ObjectUnavailable', `the result could not be handed to the agent: ${(error as Error).message}`);
  } finally {
    discardFiles(outcome);
  }
}

class Refused extends Error {}

/**
 * Agent side: a node's outcome for task `taskId` with its shared files opened (and unlinked), or a
 * failure saying why not. Only files named for that task are taken: never another task's.
 */
export function takeResultFile(outcome: ExecutionOutcome, incomingDir: string, taskId: string): ExecutionOutcome {
  const { resultPath, outputPaths, ...rest } = outcome as SharedOutcome;
  if (rest.status !== 'success' || (!resultPath && !outputPaths)) return rest;
  const taken: ExecutionOutcome & { status: 'success' } = { ...rest };
  try {
    if (resultPath) taken.resultFile = take(resultPath, incomingDir, taskId);
    for (const output of outputPaths ?? []) (taken.namedOutputs ??= []).push({ ...take(output, incomingDir, taskId), name: output.name } satisfies NamedOutput);
    return taken;
  } catch (error) {
    discardFiles(taken);
    if (!(error instanceof Refused)) throw error;
    return failure('OBJECT_UNAVAILABLE', 'ObjectUnavailable', `a result file of the block worker cannot be taken: ${error.message}`);
  }
}

function take(shared: SharedFile, incomingDir: string, taskId: string): ResultFile {
  const name = basename(shared.path);
  if (join(incomingDir, name) !== shared.path || !INCOMING_NAME.test(name)) throw new Refused(`${shared.path} is not a file of ${incomingDir}`);
  if (!name.startsWith(`${taskId}-`)) throw new Refused(`${shared.path} is not a file of task ${taskId}`);
  let fd: number;
  try {
    fd = openSync(shared.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    throw new Refused((error as Error).message);
  }
  const stat = fstatSync(fd);
  try {
    unlinkSync(shared.path);
  } catch {
    // gone already
  }
  if (!stat.isFile() || stat.size < shared.size) {
    closeSync(fd);
    throw new Refused(`${shared.path} is not the ${shared.size} bytes reported`);
  }
  return { fd, size: shared.size, encoding: shared.encoding };
}
