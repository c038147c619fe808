import { Inject, Injectable } from '@nestjs/common';
import { isFinalStatus, type TaskResult } from '@fx/protocol';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import { TasksRepository, type OutcomeRow, type ResultInput } from '../tasks/tasks.repository.js';
import { EventsService } from '../tasks/events.service.js';
import { jsonProblem, storableJson } from '../../common/json-safety.js';

@Injectable()
export class ResultsService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly tasks: TasksRepository,
    private readonly events: EventsService,
  ) {}

  /**
   * Records one frame of results in one statement, then publishes what changed. Returns the ids to
   * acknowledge: all of them, recorded now or before (a duplicate is acknowledged and dropped).
   */
  async record(endpointId: string, results: TaskResult[]): Promise<string[]> {
    const inputs: ResultInput[] = results.map((r) => this.enforceLimit(r));
    const recorded = await this.tasks.recordResults(endpointId, inputs);
    if (recorded.length < inputs.length) {
      // Already final: a resend after a reconnect. The first recording may never have been published
      // (its replica died after the commit, or the broker was down), so publish the stored outcome
      // again; clients drop what they already have.
      const changed = new Set(recorded.map((r) => r.id));
      const again = await this.tasks.findOutcomes(inputs.map((r) => r.taskId).filter((id) => !changed.has(id)));
      recorded.push(...(again.filter((r) => isFinalStatus(r.status) && 'completed_at' in r && r.completed_at) as OutcomeRow[]));
    }
    await this.events.publishOutcomes(recorded);
    return results.map((r) => r.taskId);
  }

  /** The agent checks the limit too; the server does not trust it to. */
  private enforceLimit(r: TaskResult): ResultInput {
    // A result PostgreSQL cannot store must not fail the whole frame: the agent would resend it forever.
    const problem = jsonProblem([r.result, r.error, r.timings], 'the result');
    if (problem?.includes('levels deep')) {
      return { taskId: r.taskId, status: 'failed', timings: r.timings, error: { code: 'RESULT_TOO_LARGE', name: 'ResultTooLarge', message: problem } };
    }
    if (problem) r = storableJson(r);
    if (r.status === 'success') {
      const size = Buffer.byteLength(JSON.stringify(r.result ?? null));
      if (size > this.config.FX_MAX_RESULT_BYTES) {
        return {
          taskId: r.taskId,
          status: 'failed',
          timings: r.timings,
          error: { code: 'RESULT_TOO_LARGE', name: 'ResultTooLarge', message: `the result is ${size} bytes; the limit is ${this.config.FX_MAX_RESULT_BYTES}` },
        };
      }
    }
    return { taskId: r.taskId, status: r.status, result: r.result, error: r.error, timings: r.timings };
  }
}
