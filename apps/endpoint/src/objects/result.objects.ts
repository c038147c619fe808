import type { ObjectEncoding, ObjectRef, TaskSpec } from '@fx/protocol';
import { abortFailure, discardFiles, discardResultFile, failure, type ExecutionOutcome } from '../runtimes/task.errors.js';
import { ObjectHttp, ObjectTransferError } from './object.http.js';
import { bufferSource, fileSource, uploadObject, type UploadSource } from './object.upload.js';

/**
 * Results as objects (TaskResult.resultRef): a result the worker wrote to a file (bytes, JSON past the
 * inline limit, any result of a task with outputName), or an inline result whose JSON is larger than
 * `welcome.inlineResultBytes`, is uploaded with the task's id (and outputName as its name) before the
 * result enters the outbox, so the spooled result holds the reference. A result that cannot be stored
 * fails the task: RESULT_TOO_LARGE when the server refuses its size, OBJECT_UNAVAILABLE otherwise.
 */
export class ResultObjects {
  constructor(private readonly http: ObjectHttp) {}

  async settle(task: TaskSpec, outcome: ExecutionOutcome, inlineResultBytes: number, signal: AbortSignal): Promise<ExecutionOutcome> {
    if (outcome.status !== 'success') return outcome;
    const { namedOutputs, ...withoutOutputs } = outcome;
    if (namedOutputs && namedOutputs.length > 0) {
      const refused = await this.storeOutputs(task, outcome, signal);
      if (refused) {
        discardFiles(withoutOutputs);
        return refused;
      }
    }
    return this.settleResult(task, withoutOutputs, inlineResultBytes, signal);
  }

  /**
   * Named outputs (ctx.output, fx_sdk.output), stored with the task's id and their names before the
   * result, so that whoever sees the result can read them. The first that cannot be stored fails the task.
   */
  private async storeOutputs(task: TaskSpec, outcome: ExecutionOutcome & { status: 'success' }, signal: AbortSignal): Promise<ExecutionOutcome | undefined> {
    try {
      for (const output of outcome.namedOutputs ?? []) {
        try {
          await uploadObject(this.http, { taskId: task.taskId, encoding: output.encoding, name: output.name }, fileSource(output.fd, output.size), signal);
        } catch (error) {
          if (signal.aborted) return abortFailure(signal.reason);
          return storeFailure(`the output "${output.name}" (${output.size} bytes)`, error);
        }
      }
      return undefined;
    } finally {
      for (const output of outcome.namedOutputs ?? []) discardResultFile(output);
    }
  }

  private async settleResult(
    task: TaskSpec,
    outcome: ExecutionOutcome & { status: 'success' },
    inlineResultBytes: number,
    signal: AbortSignal,
  ): Promise<ExecutionOutcome> {
    const { resultFile, ...rest } = outcome;
    if (resultFile) {
      try {
        const ref = await this.store(task, resultFile.encoding, fileSource(resultFile.fd, resultFile.size), signal);
        return ref.status === 'success' ? { ...rest, result: undefined, resultRef: ref.ref } : ref.outcome;
      } finally {
        discardResultFile(resultFile);
      }
    }
    if (outcome.resultRef) return outcome;
    // measured without a copy: every plain task's result passes here, and almost all stay inline
    const json = JSON.stringify(outcome.result ?? null);
    if (task.outputName === undefined && Buffer.byteLength(json, 'utf8') <= inlineResultBytes) return outcome;
    const ref = await this.store(task, 'json', bufferSource(Buffer.from(json, 'utf8')), signal);
    return ref.status === 'success' ? { ...rest, result: undefined, resultRef: ref.ref } : ref.outcome;
  }

  private async store(
    task: TaskSpec,
    encoding: ObjectEncoding,
    source: UploadSource,
    signal: AbortSignal,
  ): Promise<{ status: 'success'; ref: ObjectRef } | { status: 'failed'; outcome: ExecutionOutcome }> {
    try {
      const info = await uploadObject(
        this.http,
        { taskId: task.taskId, encoding, ...(task.outputName !== undefined ? { name: task.outputName } : {}) },
        source,
        signal,
      );
      return { status: 'success', ref: info.ref };
    } catch (error) {
      if (signal.aborted) return { status: 'failed', outcome: abortFailure(signal.reason) };
      return { status: 'failed', outcome: storeFailure(`the result (${source.size} bytes)`, error) };
    }
  }
}

/** The failure of a task whose result (or output) could not be stored: RESULT_TOO_LARGE for a size refusal. */
export function storeFailure(what: string, error: unknown): ExecutionOutcome {
  const reason = error instanceof Error ? error.message : String(error);
  if (error instanceof ObjectTransferError && (error.status === 413 || error.code === 'PAYLOAD_TOO_LARGE')) {
    return failure('RESULT_TOO_LARGE', 'ResultTooLarge', `${what} is larger than the server stores: ${reason}`);
  }
  return failure('OBJECT_UNAVAILABLE', 'ObjectUnavailable', `${what} could not be stored as an object: ${reason}`);
}
