import { boundRemoteError, boundTaskOutput } from '@fx/protocol';
import { failure, keepingUsage, type ExecutionOutcome } from '../runtimes/task.errors.js';

/**
 * An outcome as the agent may report it. What a worker reports is task code's word, and a results frame
 * holds several tenants' results: an error is cut to ERROR_LIMITS and what the task printed to
 * MAX_OUTPUT_CHARS a stream (both as the server would cut them), and a result sent inline (not stored
 * as an object) larger than `maxResultBytes` as JSON, the server's limit, fails RESULT_TOO_LARGE here.
 * Otherwise two failures with 20 MB messages and another user's result made one frame past the server's
 * largest: the server closed the socket, and the agent sent that frame again on each reconnect.
 */
export function boundOutcome(outcome: ExecutionOutcome, maxResultBytes: number): ExecutionOutcome {
  let bounded: ExecutionOutcome = outcome.status === 'failed' ? { ...outcome, error: boundRemoteError(outcome.error) } : { ...outcome };
  if (bounded.status === 'success' && bounded.resultRef === undefined && bounded.resultFile === undefined) {
    const bytes = Buffer.byteLength(JSON.stringify(bounded.result ?? null) ?? 'null', 'utf8');
    if (bytes > maxResultBytes) {
      const tooLarge = failure('RESULT_TOO_LARGE', 'ResultTooLarge', `the result is ${bytes} bytes as JSON, more than the ${maxResultBytes} bytes allowed`);
      bounded = { ...keepingUsage(outcome, tooLarge), ...(outcome.held ? { held: outcome.held } : {}) };
    }
  }
  const output = outcome.output && boundTaskOutput(outcome.output);
  delete bounded.output;
  return output ? { ...bounded, output } : bounded;
}
